/* dlib's face recognition ResNet (dnn_face_recognition_ex.cpp's anet_type):
 *   loss_metric<fc_no_bias<128, avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<
 *     max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>>>>>
 *   ares<N>      = relu<add_prev1<affine<con<N,3,3,1,1, relu<affine<con<N,3,3,1,1, tag1<SUBNET>>>>>>>>
 *   ares_down<N> = relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<affine<con<N,3,3,1,1, relu<affine<
 *                    con<N,3,3,2,2, tag1<SUBNET>>>>>>>>>>>
 *   alevel0 = ares_down<256>; alevel1 = ares<256> x2 + ares_down<256>; alevel2 = ares<128> x2 + ares_down<128>;
 *   alevel3 = ares<64> x3 + ares_down<64>; alevel4 = ares<32> x3. */
#include "resnet.h"

#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define SPEC_CAP 256

static void rn_push(dnet_spec *s, int *n, dnet_kind k, int a, int kh, int kw, int sy, int sx)
{
    if (*n < SPEC_CAP) {
        dnet_spec e = {k, a, kh, kw, sy, sx};
        s[(*n)++] = e;
    }
}

static void ares(dnet_spec *s, int *n, int N)
{
    rn_push(s, n, DN_RELU, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_ADD_PREV, 1, 0, 0, 0, 0);
    rn_push(s, n, DN_AFFINE, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_CON, N, 3, 3, 1, 1);
    rn_push(s, n, DN_RELU, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_AFFINE, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_CON, N, 3, 3, 1, 1);
    rn_push(s, n, DN_TAG, 1, 0, 0, 0, 0);
}

static void ares_down(dnet_spec *s, int *n, int N)
{
    rn_push(s, n, DN_RELU, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_ADD_PREV, 2, 0, 0, 0, 0);
    rn_push(s, n, DN_AVGPOOL, 0, 2, 2, 2, 2);
    rn_push(s, n, DN_SKIP, 1, 0, 0, 0, 0);
    rn_push(s, n, DN_TAG, 2, 0, 0, 0, 0);
    rn_push(s, n, DN_AFFINE, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_CON, N, 3, 3, 1, 1);
    rn_push(s, n, DN_RELU, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_AFFINE, 0, 0, 0, 0, 0);
    rn_push(s, n, DN_CON, N, 3, 3, 2, 2);
    rn_push(s, n, DN_TAG, 1, 0, 0, 0, 0);
}

static int resnet_spec(dnet_spec *s)
{
    int n = 0;
    rn_push(s, &n, DN_FC_NOBIAS, 128, 0, 0, 0, 0);
    rn_push(s, &n, DN_AVGPOOL, 0, 0, 0, 1, 1); /* avg_pool_everything = avg_pool<0,0,1,1> */
    ares_down(s, &n, 256);
    ares(s, &n, 256);
    ares(s, &n, 256);
    ares_down(s, &n, 256);
    ares(s, &n, 128);
    ares(s, &n, 128);
    ares_down(s, &n, 128);
    ares(s, &n, 64);
    ares(s, &n, 64);
    ares(s, &n, 64);
    ares_down(s, &n, 64);
    ares(s, &n, 32);
    ares(s, &n, 32);
    ares(s, &n, 32);
    rn_push(s, &n, DN_MAXPOOL, 0, 3, 3, 2, 2);
    rn_push(s, &n, DN_RELU, 0, 0, 0, 0, 0);
    rn_push(s, &n, DN_AFFINE, 0, 0, 0, 0, 0);
    rn_push(s, &n, DN_CON, 32, 7, 7, 2, 2);
    rn_push(s, &n, DN_INPUT_RGB_SIZED, 150, 0, 0, 0, 0);
    return n;
}

void fm_resnet_free(fm_resnet *rn)
{
    if (!rn)
        return;
    dnet_free(&rn->net);
    free(rn);
}

fm_status fm_resnet_load(fm_ctx *ctx, const void *data, size_t len, fm_resnet **out)
{
    *out = NULL;
    dnet_spec spec[SPEC_CAP];
    int n = resnet_spec(spec);
    dser r;
    dser_init(&r, data, len, "dlib_face_recognition_resnet_model_v1");
    static const char *const loss_names[] = {"loss_metric_2", "loss_metric_", NULL};
    int v;
    if (dser_expect_int(&r, 1, "add_loss_layer version") == 0 && (v = dser_expect_name(&r, "loss layer", loss_names)) >= 0) {
        if (v == 0) {
            float margin, thresh;
            if (dser_float(&r, &margin, 0) == 0)
                dser_float(&r, &thresh, 0);
        }
    }
    fm_resnet *rn = (fm_resnet *)calloc(1, sizeof *rn);
    if (!rn)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    if (!r.failed && dnet_load(&r, spec, n, &rn->net, ctx) == 0 && r.pos != r.len)
        dser_fail(&r, "%zu unexpected bytes after the network", r.len - r.pos);
    if (r.failed) {
        fm_resnet_free(rn);
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "%s", r.err);
    }
    if (rn->net.input_size != 150) {
        fm_resnet_free(rn);
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "face recognition model: input is not 150x150");
    }
    *out = rn;
    return FM_OK;
}

fm_status fm_resnet_embed(const fm_resnet *rn, fm_ctx *ctx, const uint8_t *chip, int stride, float *desc,
                          int threads)
{
    const int S = 150;
    const size_t in_n = (size_t)3 * S * S;
    /* The input and every activation live in one arena: the ctx's network scratch when there is a ctx (kept between
     * calls, so an embed allocates nothing after the first; fm_ctx_destroy wipes it), else a temporary one that is
     * wiped here. The input is built at its start and kept while the network runs. */
    nn_arena a = {ctx ? ctx->nn_scratch : NULL, ctx ? ctx->nn_scratch_cap : 0};
    fm_status st = nn_arena_reserve(&a, in_n + NN_ALIGN, ctx);
    if (st != FM_OK)
        goto out;
    float *in = a.base;
    for (int y = 0; y < S; y++) {
        const uint8_t *p = chip + (size_t)y * (size_t)stride;
        for (int x = 0; x < S; x++)
            for (int c = 0; c < 3; c++)
                in[((size_t)c * S + y) * S + x] = (float)((p[3 * x + c] - rn->net.avg[c]) / 256.0);
    }
    nn_tensor t = nn_tensor_make(in, 3, S, S), o;
    st = dnet_forward_in(&rn->net, ctx, &t, &o, &a, in_n, threads < 1 ? 1 : threads);
    if (st == FM_OK) {
        if (nn_tensor_size(&o) != 128)
            st = fm_fail(ctx, FM_ERR_INTERNAL, "descriptor has %zu values", nn_tensor_size(&o));
        else
            memcpy(desc, o.data, 128 * sizeof(float));
        fm_wipe(o.data, nn_tensor_size(&o) * sizeof(float)); /* the descriptor is a biometric template */
    }
out:
    if (ctx) {
        ctx->nn_scratch = a.base;
        ctx->nn_scratch_cap = a.cap;
    } else if (a.base) {
        fm_wipe(a.base, a.cap * sizeof(float)); /* the face image and its features */
        nn_arena_free(&a);
    }
    return st;
}
