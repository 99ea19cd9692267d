/* dlib DNN loader and executor. The byte layout follows dlib 19.24's serialize() functions (dnn/core.h add_layer
 * versions 1-3, add_tag_layer / add_skip_layer version 1, dnn/layers.h con_4/con_5, affine_/affine_2 and
 * bn_con2 (converted to an affine transform with the running statistics, as dlib's affine_ does), relu_,
 * max_pool_2, avg_pool_2, add_prev_, fc_2/fc_3, dnn/input.h input_rgb_image_sized / input_rgb_image_pyramid(2),
 * dnn/tensor.h tensors). */
#include "dlib_net.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DN_MAX_VALUES ((size_t)1 << 26) /* 64 Mi floats per tensor */

typedef struct raw_layer {
    /* con */
    float *w, *b;
    int n, k, kh, kw, sy, sx, py, px;
    /* affine */
    float *gamma, *beta;
    int ch;
    /* fc */
    float *fcw;
    int fin, fout;
    /* pool */
    int pkh, pkw, psy, psx, ppy, ppx;
} raw_layer;

typedef struct parser {
    dser *r;
    const dnet_spec *spec;
    int n;
    raw_layer *raw;
    dnet *net;
    int depth;
} parser;

static const char *kind_name(dnet_kind k)
{
    switch (k) {
    case DN_INPUT_RGB_SIZED: return "input_rgb_image_sized";
    case DN_INPUT_PYRAMID: return "input_rgb_image_pyramid";
    case DN_CON: return "con";
    case DN_AFFINE: return "affine";
    case DN_RELU: return "relu";
    case DN_MAXPOOL: return "max_pool";
    case DN_AVGPOOL: return "avg_pool";
    case DN_ADD_PREV: return "add_prev";
    case DN_TAG: return "tag";
    case DN_SKIP: return "skip";
    case DN_FC_NOBIAS: return "fc_no_bias";
    }
    return "?";
}

static int read_lr_mults(dser *r, int n)
{
    for (int i = 0; i < n; i++) {
        double d;
        if (dser_double(r, &d))
            return -1;
    }
    return 0;
}

static int parse_input(parser *P, int i)
{
    dser *r = P->r;
    const dnet_spec *s = &P->spec[i];
    dnet *net = P->net;
    if (s->kind == DN_INPUT_RGB_SIZED) {
        static const char *const names[] = {"input_rgb_image_sized", NULL};
        if (dser_expect_name(r, "input layer", names) < 0)
            return -1;
        for (int c = 0; c < 3; c++)
            if (dser_float(r, &net->avg[c], 0))
                return -1;
        uint64_t nr, nc;
        if (dser_u64(r, &nr, 8) || dser_u64(r, &nc, 8))
            return -1;
        if (nr != (uint64_t)s->a || nc != (uint64_t)s->a)
            return dser_fail(r, "input_rgb_image_sized is %llux%llu, expected %dx%d", (unsigned long long)nr,
                             (unsigned long long)nc, s->a, s->a);
        net->input_size = s->a;
        return 0;
    }
    if (s->kind == DN_INPUT_PYRAMID) {
        static const char *const names[] = {"input_rgb_image_pyramid2", "input_rgb_image_pyramid", NULL};
        int v = dser_expect_name(r, "input layer", names);
        if (v < 0)
            return -1;
        for (int c = 0; c < 3; c++)
            if (dser_float(r, &net->avg[c], 0))
                return -1;
        if (v == 0) {
            uint64_t a, b;
            if (dser_u64(r, &a, 8) || dser_u64(r, &b, 8))
                return -1;
            if (a > 1000 || b > 1000)
                return dser_fail(r, "implausible pyramid padding %llu/%llu", (unsigned long long)a,
                                 (unsigned long long)b);
            net->pyr_padding = (double)a;
            net->pyr_outer_padding = (double)b;
        } else {
            net->pyr_padding = 10;
            net->pyr_outer_padding = 11;
        }
        net->pyramid_down = s->a;
        return 0;
    }
    return dser_fail(r, "layer %d: %s is not an input layer", i, kind_name(s->kind));
}

static int parse_details(parser *P, int i)
{
    dser *r = P->r;
    const dnet_spec *s = &P->spec[i];
    raw_layer *L = &P->raw[i];
    char where[64];
    snprintf(where, sizeof where, "layer %d (%s)", i, kind_name(s->kind));
    switch (s->kind) {
    case DN_CON: {
        static const char *const names[] = {"con_5", "con_4", NULL};
        int v = dser_expect_name(r, where, names);
        if (v < 0)
            return -1;
        int64_t dims[4], nf, nr, nc, sy, sx, py, px, fd[4], bd[4];
        size_t count;
        float *params = NULL;
        if (dser_tensor(r, dims, &params, &count, DN_MAX_VALUES))
            return -1;
        L->w = params; /* owns params; split below */
        if (dser_int_range(r, &nf, 1, 100000, "num_filters") || dser_i64(r, &nr, 8) || dser_i64(r, &nc, 8) ||
            dser_i64(r, &sy, 4) || dser_i64(r, &sx, 4) || dser_i64(r, &py, 4) || dser_i64(r, &px, 4))
            return -1;
        if (nf != s->a || nr != s->kh || nc != s->kw || sy != s->sy || sx != s->sx)
            return dser_fail(r, "%s: found con<%lld,%lld,%lld,%lld,%lld>, expected con<%d,%d,%d,%d,%d>", where,
                             (long long)nf, (long long)nr, (long long)nc, (long long)sy, (long long)sx, s->a, s->kh,
                             s->kw, s->sy, s->sx);
        /* dlib's default padding: stride 1 -> kernel/2, else 0 */
        int64_t epy = s->sy == 1 ? s->kh / 2 : 0, epx = s->sx == 1 ? s->kw / 2 : 0;
        if (py != epy || px != epx)
            return dser_fail(r, "%s: padding %lldx%lld, expected %lldx%lld", where, (long long)py, (long long)px,
                             (long long)epy, (long long)epx);
        if (dser_alias_tensor(r, fd) || dser_alias_tensor(r, bd) || read_lr_mults(r, 4))
            return -1;
        int use_bias = 1;
        if (v == 0 && dser_bool(r, &use_bias))
            return -1;
        if (fd[0] != nf || fd[2] != nr || fd[3] != nc || fd[1] < 1 || fd[1] > 100000)
            return dser_fail(r, "%s: filter tensor shape does not match the layer", where);
        size_t wsize = (size_t)(fd[0] * fd[1] * fd[2] * fd[3]);
        if (count != wsize + (use_bias ? (size_t)nf : 0))
            return dser_fail(r, "%s: %zu parameters, expected %zu", where, count,
                             wsize + (use_bias ? (size_t)nf : 0));
        L->n = (int)nf;
        L->k = (int)fd[1];
        L->kh = (int)nr;
        L->kw = (int)nc;
        L->sy = (int)sy;
        L->sx = (int)sx;
        L->py = (int)py;
        L->px = (int)px;
        L->b = use_bias ? params + wsize : NULL;
        return 0;
    }
    case DN_AFFINE: {
        static const char *const names[] = {"affine_2", "affine_", "bn_con2", NULL};
        int v = dser_expect_name(r, where, names);
        if (v < 0)
            return -1;
        int64_t dims[4], gd[4], bd[4];
        size_t count;
        float *params = NULL;
        if (dser_tensor(r, dims, &params, &count, DN_MAX_VALUES))
            return -1;
        L->gamma = params;
        if (dser_alias_tensor(r, gd) || dser_alias_tensor(r, bd))
            return -1;
        size_t ch = (size_t)(gd[0] * gd[1] * gd[2] * gd[3]);
        if (ch == 0 || count != 2 * ch || (size_t)(bd[0] * bd[1] * bd[2] * bd[3]) != ch)
            return dser_fail(r, "%s: %zu parameters for %zu channels", where, count, ch);
        L->ch = (int)ch;
        L->beta = params + ch;
        if (v == 2) {
            /* bn_con2: means, invstds, running_means, running_variances, num_updates, window, 4 mults, eps */
            float *rm = NULL, *rv = NULL;
            size_t c1, c2;
            int64_t d1[4];
            if (dser_skip_tensor(r) || dser_skip_tensor(r) || dser_tensor(r, d1, &rm, &c1, DN_MAX_VALUES) ||
                dser_tensor(r, d1, &rv, &c2, DN_MAX_VALUES)) {
                free(rm);
                return -1;
            }
            uint64_t u;
            double eps;
            int bad = c1 != ch || c2 != ch || dser_u64(r, &u, 8) || dser_u64(r, &u, 8) || read_lr_mults(r, 4) ||
                      dser_double(r, &eps);
            if (!bad && !(eps > 0))
                bad = dser_fail(r, "%s: batch norm eps must be positive", where) != 0;
            if (bad) {
                free(rm);
                free(rv);
                return c1 != ch || c2 != ch ? dser_fail(r, "%s: running statistics size mismatch", where) : -1;
            }
            for (size_t c = 0; c < ch; c++) {
                if (!(rv[c] + eps > 0)) {
                    free(rm);
                    free(rv);
                    return dser_fail(r, "%s: negative running variance", where);
                }
                float g = (float)(L->gamma[c] / sqrt(rv[c] + eps));
                L->beta[c] = L->beta[c] - g * rm[c];
                L->gamma[c] = g;
            }
            free(rm);
            free(rv);
        } else {
            int64_t mode;
            if (dser_i64(r, &mode, 4))
                return -1;
            if (mode != 0) /* CONV_MODE */
                return dser_fail(r, "%s: affine mode %lld, expected CONV_MODE (0)", where, (long long)mode);
            if (v == 0) {
                int disabled;
                if (dser_bool(r, &disabled))
                    return -1;
                if (disabled)
                    return dser_fail(r, "%s: disabled affine layers are not supported", where);
            }
        }
        return 0;
    }
    case DN_RELU: {
        static const char *const names[] = {"relu_", NULL};
        return dser_expect_name(r, where, names) < 0 ? -1 : 0;
    }
    case DN_ADD_PREV: {
        static const char *const names[] = {"add_prev_", NULL};
        return dser_expect_name(r, where, names) < 0 ? -1 : 0;
    }
    case DN_MAXPOOL:
    case DN_AVGPOOL: {
        static const char *const mnames[] = {"max_pool_2", NULL};
        static const char *const anames[] = {"avg_pool_2", NULL};
        if (dser_expect_name(r, where, s->kind == DN_MAXPOOL ? mnames : anames) < 0)
            return -1;
        int64_t nr, nc, sy, sx, py, px;
        if (dser_i64(r, &nr, 8) || dser_i64(r, &nc, 8) || dser_i64(r, &sy, 4) || dser_i64(r, &sx, 4) ||
            dser_i64(r, &py, 4) || dser_i64(r, &px, 4))
            return -1;
        if (nr != s->kh || nc != s->kw || sy != s->sy || sx != s->sx)
            return dser_fail(r, "%s: found pool<%lld,%lld,%lld,%lld>, expected <%d,%d,%d,%d>", where, (long long)nr,
                             (long long)nc, (long long)sy, (long long)sx, s->kh, s->kw, s->sy, s->sx);
        int64_t epy = (s->sy != 1) ? 0 : s->kh / 2, epx = (s->sx != 1) ? 0 : s->kw / 2;
        if (s->kh == 0)
            epy = epx = 0;
        if (py != epy || px != epx)
            return dser_fail(r, "%s: padding %lldx%lld, expected %lldx%lld", where, (long long)py, (long long)px,
                             (long long)epy, (long long)epx);
        L->pkh = (int)nr;
        L->pkw = (int)nc;
        L->psy = (int)sy;
        L->psx = (int)sx;
        L->ppy = (int)py;
        L->ppx = (int)px;
        return 0;
    }
    case DN_FC_NOBIAS: {
        static const char *const names[] = {"fc_3", "fc_2", NULL};
        int v = dser_expect_name(r, where, names);
        if (v < 0)
            return -1;
        uint64_t nout, nin;
        if (dser_u64(r, &nout, 8) || dser_u64(r, &nin, 8))
            return -1;
        if (nout != (uint64_t)s->a || nin == 0 || nin > 1000000)
            return dser_fail(r, "%s: fc with %llu outputs and %llu inputs, expected %d outputs", where,
                             (unsigned long long)nout, (unsigned long long)nin, s->a);
        int64_t dims[4], wd[4], bd[4], bmode;
        size_t count;
        float *params = NULL;
        if (dser_tensor(r, dims, &params, &count, DN_MAX_VALUES))
            return -1;
        L->fcw = params;
        if (count != nin * nout)
            return dser_fail(r, "%s: %zu parameters, expected %llu", where, count, (unsigned long long)(nin * nout));
        if (dser_alias_tensor(r, wd) || dser_alias_tensor(r, bd) || dser_i64(r, &bmode, 4))
            return -1;
        if (bmode != 1)
            return dser_fail(r, "%s: fc bias mode %lld, expected FC_NO_BIAS (1)", where, (long long)bmode);
        if (read_lr_mults(r, 4))
            return -1;
        if (v == 0) {
            int ub;
            if (dser_bool(r, &ub))
                return -1;
        }
        L->fin = (int)nin;
        L->fout = (int)nout;
        return 0;
    }
    default:
        return dser_fail(r, "%s: unexpected layer kind", where);
    }
}

static int parse_layer(parser *P, int i)
{
    dser *r = P->r;
    if (i >= P->n)
        return dser_fail(r, "network specification ends before the input layer");
    if (++P->depth > 4096)
        return dser_fail(r, "network too deep");
    const dnet_spec *s = &P->spec[i];
    if (s->kind == DN_TAG || s->kind == DN_SKIP) {
        char f[96];
        snprintf(f, sizeof f, "layer %d (%s%d) version", i, kind_name(s->kind), s->a);
        if (dser_expect_int(r, 1, f))
            return -1;
        return parse_layer(P, i + 1);
    }
    if (i + 1 >= P->n)
        return dser_fail(r, "layer %d: missing input layer", i);
    int64_t v;
    const int on_input = P->spec[i + 1].kind == DN_INPUT_RGB_SIZED || P->spec[i + 1].kind == DN_INPUT_PYRAMID;
    char f[96];
    snprintf(f, sizeof f, "layer %d (%s) add_layer version", i, kind_name(s->kind));
    if (dser_int_range(r, &v, on_input ? 2 : 1, on_input ? 3 : 2, f))
        return -1;
    if (on_input) {
        if (parse_input(P, i + 1))
            return -1;
    } else if (parse_layer(P, i + 1)) {
        return -1;
    }
    if (parse_details(P, i))
        return -1;
    int b;
    for (int k = 0; k < 3; k++)
        if (dser_bool(r, &b))
            return -1;
    if (dser_skip_tensor(r) || dser_skip_tensor(r)) /* x_grad, cached_output */
        return -1;
    if (on_input) {
        if (dser_skip_tensor(r)) /* grad_final */
            return -1;
        if (v >= 3) {
            uint64_t sef;
            if (dser_u64(r, &sef, 4))
                return -1;
        }
    } else if (v == 2 && dser_skip_tensor(r)) { /* params_grad */
        return -1;
    }
    return 0;
}

void dnet_free(dnet *net)
{
    if (!net)
        return;
    for (int i = 0; i < net->nsteps; i++) {
        dnet_step *s = &net->steps[i];
        if (s->has_conv)
            nn_conv_free(&s->conv);
        free(s->scale);
        free(s->shift);
        free(s->fc_w);
    }
    free(net->steps);
    memset(net, 0, sizeof *net);
}

static void free_raw(raw_layer *raw, int n)
{
    if (!raw)
        return;
    for (int i = 0; i < n; i++) {
        free(raw[i].w);
        free(raw[i].gamma);
        free(raw[i].fcw);
    }
    free(raw);
}

/* Builds executable steps bottom-up (spec index n-2 down to 0), folding con+affine(+relu). */
static int build(parser *P, fm_ctx *ctx)
{
    dnet *net = P->net;
    dser *r = P->r;
    net->steps = (dnet_step *)calloc((size_t)P->n, sizeof(dnet_step));
    if (!net->steps)
        return dser_fail(r, "out of memory");
    int ns = 0;
    int cur_c = 3;
    int tag_c[16];
    for (int t = 0; t < 16; t++)
        tag_c[t] = -1;
    for (int i = P->n - 2; i >= 0; i--) {
        const dnet_spec *s = &P->spec[i];
        raw_layer *L = &P->raw[i];
        dnet_step *st = &net->steps[ns];
        switch (s->kind) {
        case DN_CON: {
            if (L->k != cur_c)
                return dser_fail(r, "layer %d (con): %d input channels, but the layer below gives %d", i, L->k,
                                 cur_c);
            nn_conv_desc d = {0};
            d.in_c = L->k;
            d.out_c = L->n;
            d.kh = L->kh;
            d.kw = L->kw;
            d.stride_h = L->sy;
            d.stride_w = L->sx;
            d.dil_h = d.dil_w = 1;
            d.pad_t = d.pad_b = L->py;
            d.pad_l = d.pad_r = L->px;
            d.groups = 1;
            if (nn_conv_init(&st->conv, &d, L->w, L->b, ctx) != FM_OK)
                return dser_fail(r, "layer %d (con): %s", i, fm_ctx_errmsg(ctx));
            st->has_conv = 1;
            st->kind = DN_CON;
            ns++;
            cur_c = L->n;
            /* fold a following affine and relu */
            if (i - 1 >= 0 && P->spec[i - 1].kind == DN_AFFINE) {
                raw_layer *A = &P->raw[i - 1];
                if (A->ch != cur_c)
                    return dser_fail(r, "layer %d (affine): %d channels after a %d-filter con", i - 1, A->ch, cur_c);
                nn_conv_fold_affine(&st->conv, A->gamma, A->beta);
                i--;
                if (i - 1 >= 0 && P->spec[i - 1].kind == DN_RELU) {
                    nn_act a = {0};
                    a.kind = NN_ACT_RELU;
                    if (nn_conv_set_act(&st->conv, &a, ctx) != FM_OK)
                        return dser_fail(r, "relu: %s", fm_ctx_errmsg(ctx));
                    i--;
                }
            } else if (i - 1 >= 0 && P->spec[i - 1].kind == DN_RELU) {
                nn_act a = {0};
                a.kind = NN_ACT_RELU;
                if (nn_conv_set_act(&st->conv, &a, ctx) != FM_OK)
                    return dser_fail(r, "relu: %s", fm_ctx_errmsg(ctx));
                i--;
            }
            break;
        }
        case DN_AFFINE: {
            if (P->raw[i].ch != cur_c)
                return dser_fail(r, "layer %d (affine): %d channels, input has %d", i, P->raw[i].ch, cur_c);
            st->kind = DN_AFFINE;
            st->scale = (float *)malloc((size_t)cur_c * sizeof(float));
            st->shift = (float *)malloc((size_t)cur_c * sizeof(float));
            if (!st->scale || !st->shift)
                return dser_fail(r, "out of memory");
            memcpy(st->scale, L->gamma, (size_t)cur_c * sizeof(float));
            memcpy(st->shift, L->beta, (size_t)cur_c * sizeof(float));
            ns++;
            break;
        }
        case DN_RELU:
        case DN_ADD_PREV:
        case DN_MAXPOOL:
        case DN_AVGPOOL:
        case DN_TAG:
        case DN_SKIP:
            st->kind = s->kind;
            st->tag = s->a;
            if (s->kind == DN_TAG || s->kind == DN_SKIP || s->kind == DN_ADD_PREV) {
                if (s->a < 0 || s->a >= 16)
                    return dser_fail(r, "tag id out of range");
                if (s->kind == DN_TAG)
                    tag_c[s->a] = cur_c;
                else if (tag_c[s->a] < 0)
                    return dser_fail(r, "layer %d uses tag %d before it is set", i, s->a);
                else if (s->kind == DN_SKIP)
                    cur_c = tag_c[s->a];
                else if (tag_c[s->a] > cur_c)
                    cur_c = tag_c[s->a];
            }
            if (s->kind == DN_MAXPOOL || s->kind == DN_AVGPOOL) {
                st->pool.kind = s->kind == DN_MAXPOOL ? NN_POOL_MAX : NN_POOL_AVG;
                st->pool.kh = L->pkh;
                st->pool.kw = L->pkw;
                st->pool.stride_h = L->psy;
                st->pool.stride_w = L->psx;
                st->pool.pad_t = st->pool.pad_b = L->ppy;
                st->pool.pad_l = st->pool.pad_r = L->ppx;
                st->pool.count_include_pad = 0;
            }
            if (s->kind == DN_RELU && ns > 0 &&
                (net->steps[ns - 1].kind == DN_ADD_PREV || net->steps[ns - 1].kind == DN_AFFINE ||
                 net->steps[ns - 1].kind == DN_MAXPOOL || net->steps[ns - 1].kind == DN_AVGPOOL) &&
                !net->steps[ns - 1].relu_after) {
                net->steps[ns - 1].relu_after = 1;
                break;
            }
            ns++;
            break;
        case DN_FC_NOBIAS: {
            st->kind = DN_FC_NOBIAS;
            st->fc_in = L->fin;
            st->fc_out = L->fout;
            size_t nw = (size_t)L->fin * (size_t)L->fout;
            st->fc_w = (float *)malloc(nw * sizeof(float));
            if (!st->fc_w)
                return dser_fail(r, "out of memory");
            /* dlib stores W as [in][out]; nn_fc wants [out][in] */
            for (int o = 0; o < L->fout; o++)
                for (int k = 0; k < L->fin; k++)
                    st->fc_w[(size_t)o * (size_t)L->fin + (size_t)k] = L->fcw[(size_t)k * (size_t)L->fout + (size_t)o];
            ns++;
            cur_c = L->fout;
            break;
        }
        default:
            return dser_fail(r, "layer %d: unexpected %s", i, kind_name(s->kind));
        }
    }
    net->nsteps = ns;
    return 0;
}

/* For a fixed-size input (input_rgb_image_sized<N>), lets every convolution pick its kernel for the size it will see
 * (nn_conv_plan_input: Winograd for the 3x3 stride-1 convs where it is faster). Shapes as in dnet_forward. */
static int plan_convs(dser *r, dnet *net, int size, fm_ctx *ctx)
{
    int tag_hw[16][2], h = size, w = size;
    for (int t = 0; t < 16; t++)
        tag_hw[t][0] = tag_hw[t][1] = -1;
    for (int i = 0; i < net->nsteps; i++) {
        dnet_step *s = &net->steps[i];
        switch (s->kind) {
        case DN_CON:
            if (nn_conv_plan_input(&s->conv, h, w, ctx) != FM_OK)
                return dser_fail(r, "layer %d (con): %s", i, fm_ctx_errmsg(ctx));
            if (nn_conv_out_hw(&s->conv, h, w, &h, &w))
                return 0; /* dnet_forward reports inputs too small for the network */
            break;
        case DN_MAXPOOL:
        case DN_AVGPOOL:
            if (s->pool.kh == 0)
                h = w = 1;
            else if (nn_pool_out_hw(&s->pool, h, w, &h, &w))
                return 0;
            break;
        case DN_TAG:
            tag_hw[s->tag][0] = h;
            tag_hw[s->tag][1] = w;
            break;
        case DN_SKIP:
            h = tag_hw[s->tag][0];
            w = tag_hw[s->tag][1];
            break;
        case DN_ADD_PREV:
            h = tag_hw[s->tag][0] > h ? tag_hw[s->tag][0] : h;
            w = tag_hw[s->tag][1] > w ? tag_hw[s->tag][1] : w;
            break;
        default:
            break;
        }
        if (h < 1 || w < 1)
            return 0;
    }
    return 0;
}

int dnet_load(dser *r, const dnet_spec *spec, int nspec, dnet *net, fm_ctx *ctx)
{
    memset(net, 0, sizeof *net);
    parser P = {r, spec, nspec, NULL, net, 0};
    P.raw = (raw_layer *)calloc((size_t)nspec, sizeof(raw_layer));
    if (!P.raw)
        return dser_fail(r, "out of memory");
    int rc = parse_layer(&P, 0);
    if (rc == 0)
        rc = build(&P, ctx);
    if (rc == 0 && net->input_size > 0)
        rc = plan_convs(r, net, net->input_size, ctx);
    free_raw(P.raw, nspec);
    if (rc)
        dnet_free(net);
    return rc;
}

/* dlib add_prev: output has the larger of each dimension; values missing from one input count as 0. */
static void add_mismatched(const nn_tensor *a, const nn_tensor *b, nn_tensor *o)
{
    memset(o->data, 0, nn_tensor_size(o) * sizeof(float));
    const nn_tensor *src[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        const nn_tensor *t = src[s];
        for (int c = 0; c < t->c; c++)
            for (int y = 0; y < t->h; y++) {
                const float *ip = t->data + ((size_t)c * t->h + y) * t->w;
                float *op = o->data + ((size_t)c * o->h + y) * o->w;
                for (int x = 0; x < t->w; x++)
                    op[x] += ip[x];
            }
    }
}

/* Grows `a` to at least `floats`, keeping its first `keep` floats. */
static fm_status arena_grow_keep(nn_arena *a, size_t floats, size_t keep, fm_ctx *ctx)
{
    if (a->base && a->cap >= floats)
        return FM_OK;
    nn_arena n = {0};
    fm_status st = nn_arena_reserve(&n, floats, ctx);
    if (st != FM_OK)
        return st;
    if (a->base) {
        if (keep)
            memcpy(n.base, a->base, keep * sizeof(float));
        fm_wipe(a->base, a->cap * sizeof(float));
        nn_arena_free(a);
    }
    *a = n;
    return FM_OK;
}

fm_status dnet_forward(const dnet *net, fm_ctx *ctx, const nn_tensor *in, nn_tensor *out, float **arena_out,
                       int threads)
{
    *arena_out = NULL;
    nn_arena a = {0};
    fm_status st = dnet_forward_in(net, ctx, in, out, &a, 0, threads);
    if (st == FM_OK)
        *arena_out = a.base;
    else
        nn_arena_free(&a);
    return st;
}

fm_status dnet_forward_in(const dnet *net, fm_ctx *ctx, const nn_tensor *in, nn_tensor *out, nn_arena *a,
                          size_t keep, int threads)
{
    /* pass 1: shapes and sizes */
    int n = net->nsteps;
    nn_tensor *outs = (nn_tensor *)calloc((size_t)n + 1, sizeof(nn_tensor));
    size_t *off = (size_t *)calloc((size_t)n + 1, sizeof(size_t));
    if (!outs || !off) {
        free(outs);
        free(off);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    int tag_src[16];
    for (int t = 0; t < 16; t++)
        tag_src[t] = -2;
    nn_tensor cur = *in;
    int cur_id = -1; /* -1 = input */
    size_t total = 0, scratch = 0;
    fm_status st = FM_OK;
    for (int i = 0; i < n; i++) {
        const dnet_step *s = &net->steps[i];
        nn_tensor o = {NULL, cur.c, cur.h, cur.w};
        int id = i;
        switch (s->kind) {
        case DN_CON: {
            int oh, ow;
            if (nn_conv_out_hw(&s->conv, cur.h, cur.w, &oh, &ow)) {
                st = fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "input too small for the network (%dx%d at step %d)",
                             cur.w, cur.h, i);
                goto done;
            }
            o.c = s->conv.d.out_c;
            o.h = oh;
            o.w = ow;
            size_t sc = nn_conv_scratch(&s->conv, cur.h, cur.w, threads);
            if (sc > scratch)
                scratch = sc;
            break;
        }
        case DN_MAXPOOL:
        case DN_AVGPOOL:
            if (s->pool.kh == 0) {
                o.h = o.w = 1;
            } else if (nn_pool_out_hw(&s->pool, cur.h, cur.w, &o.h, &o.w)) {
                st = fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "input too small for the network (pool at step %d)", i);
                goto done;
            }
            break;
        case DN_TAG:
            tag_src[s->tag] = cur_id;
            outs[i] = cur;
            continue;
        case DN_SKIP: {
            int src = tag_src[s->tag];
            cur_id = src;
            cur = src < 0 ? *in : outs[src];
            outs[i] = cur;
            continue;
        }
        case DN_ADD_PREV: {
            int src = tag_src[s->tag];
            nn_tensor t = src < 0 ? *in : outs[src];
            o.c = t.c > cur.c ? t.c : cur.c;
            o.h = t.h > cur.h ? t.h : cur.h;
            o.w = t.w > cur.w ? t.w : cur.w;
            break;
        }
        case DN_FC_NOBIAS:
            if ((size_t)s->fc_in != nn_tensor_size(&cur)) {
                st = fm_fail(ctx, FM_ERR_INTERNAL, "fc expects %d inputs, got %zu", s->fc_in, nn_tensor_size(&cur));
                goto done;
            }
            o.c = s->fc_out;
            o.h = o.w = 1;
            break;
        default:
            break;
        }
        off[i] = total;
        size_t sz = nn_tensor_size(&o);
        total += (sz + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
        outs[i] = o;
        cur = o;
        cur_id = id;
    }
    keep = (keep + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
    size_t all = keep + total + scratch + NN_ALIGN;
    /* an input built in the kept part of the arena follows it if the arena moves */
    nn_tensor inl = *in;
    const int in_kept = a->base && in->data >= a->base && in->data < a->base + keep;
    const size_t in_off = in_kept ? (size_t)(in->data - a->base) : 0;
    if ((st = arena_grow_keep(a, all, keep, ctx)) != FM_OK)
        goto done;
    if (in_kept)
        inl.data = a->base + in_off;
    float *arena = a->base + keep;
    float *scr = arena + total;
    /* pass 2: run */
    for (int t = 0; t < 16; t++)
        tag_src[t] = -2;
    cur = inl;
    cur_id = -1;
    for (int i = 0; i < n; i++) {
        const dnet_step *s = &net->steps[i];
        if (s->kind == DN_TAG) {
            tag_src[s->tag] = cur_id;
            continue;
        }
        if (s->kind == DN_SKIP) {
            cur_id = tag_src[s->tag];
            cur = cur_id < 0 ? inl : outs[cur_id];
            continue;
        }
        nn_tensor o = outs[i];
        o.data = arena + off[i];
        outs[i].data = o.data;
        size_t plane = (size_t)o.h * (size_t)o.w;
        switch (s->kind) {
        case DN_CON:
            nn_conv_forward(&s->conv, &cur, &o, scr, threads);
            break;
        case DN_AFFINE:
            memcpy(o.data, cur.data, nn_tensor_size(&cur) * sizeof(float));
            nn_affine(o.data, o.c, plane, s->scale, s->shift);
            break;
        case DN_RELU: {
            nn_act relu = {NN_ACT_RELU, 0, 0, 0, NULL, 0};
            memcpy(o.data, cur.data, nn_tensor_size(&cur) * sizeof(float));
            nn_act_apply(o.data, 1, nn_tensor_size(&o), &relu);
            break;
        }
        case DN_MAXPOOL:
        case DN_AVGPOOL:
            if (s->pool.kh == 0)
                nn_global_pool(s->pool.kind, &cur, &o);
            else
                nn_pool_forward(&s->pool, &cur, &o);
            break;
        case DN_ADD_PREV: {
            int src = tag_src[s->tag];
            nn_tensor t = src < 0 ? inl : outs[src];
            if (t.c == cur.c && t.h == cur.h && t.w == cur.w && s->relu_after) {
                /* fused add + ReLU (the residual join): one vector pass, no data-dependent branches */
                nn_add_relu(cur.data, t.data, o.data, nn_tensor_size(&o));
                cur = o;
                cur_id = i;
                continue;
            } else if (t.c == cur.c && t.h == cur.h && t.w == cur.w)
                nn_add(cur.data, t.data, o.data, nn_tensor_size(&o));
            else
                add_mismatched(&cur, &t, &o);
            break;
        }
        case DN_FC_NOBIAS:
            nn_fc(s->fc_w, NULL, s->fc_out, s->fc_in, cur.data, o.data);
            break;
        default:
            break;
        }
        if (s->relu_after) {
            nn_act relu = {NN_ACT_RELU, 0, 0, 0, NULL, 0};
            nn_act_apply(o.data, 1, nn_tensor_size(&o), &relu);
        }
        cur = o;
        cur_id = i;
    }
    *out = cur;
done:
    free(outs);
    free(off);
    return st;
}
