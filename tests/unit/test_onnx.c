/* Tests of the ONNX loader/executor (facematch/src/nn/onnx.h) and the model wrappers (face/onnx_models.h).
 * - hand-encoded small models (a protobuf writer below) checked against naive double-precision code:
 *   Conv -> BatchNormalization (folded) -> PRelu (fused) -> MaxPool -> Add (broadcast) -> GlobalAveragePool ->
 *   Flatten -> Gemm -> Softmax, plus the PyTorch Shape/Gather/Unsqueeze/Concat/Reshape chain (constant folding);
 *   tolerance |got - ref| <= 1e-5 * (1 + |ref|);
 * - malformed files (every truncation of a valid model, bit flips, garbage, unknown ops, bad shapes) give
 *   FM_ERR_MODEL_INVALID / FM_ERR_LIMIT with a message, never a crash;
 * - the real model files (skipped when ~/.cache/facematch/models is absent): op inventory equal to the one an
 *   independent Python protobuf dump gives, input/output shapes, thread-count invariance, repeat-run determinism;
 * - wrappers: BlazeFace anchors, faceplugin crop rectangles, detections on a real photograph (skipped without
 *   ../shared/data). */
#include "face/onnx_models.h"
#include "nn/onnx.h"
#include "test.h"

#include <stdint.h>

/* ---- a tiny protobuf writer ------------------------------------------------------------------------------------ */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void varint(buf *b, uint64_t v)
{
    uint8_t t[10];
    int n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, t, (size_t)n);
}
static void key(buf *b, int field, int wt) { varint(b, (uint64_t)field << 3 | (uint64_t)wt); }
static void f_int(buf *b, int field, int64_t v)
{
    key(b, field, 0);
    varint(b, (uint64_t)v);
}
static void f_bytes(buf *b, int field, const void *d, size_t n)
{
    key(b, field, 2);
    varint(b, n);
    put(b, d, n);
}
static void f_str(buf *b, int field, const char *s) { f_bytes(b, field, s, strlen(s)); }
static void f_msg(buf *b, int field, buf *m)
{
    f_bytes(b, field, m->p, m->n);
    free(m->p);
    memset(m, 0, sizeof *m);
}
static void f_float(buf *b, int field, float f)
{
    key(b, field, 5);
    put(b, &f, 4);
}

/* TensorProto with raw data */
static void tensor_f(buf *g, const char *name, int rank, const int64_t *dims, const float *data)
{
    buf t = {0};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        f_int(&t, 1, dims[i]);
        n *= (size_t)dims[i];
    }
    f_int(&t, 2, 1);
    f_str(&t, 8, name);
    f_bytes(&t, 9, data, n * 4);
    f_msg(g, 5, &t);
}
static void tensor_i64(buf *g, const char *name, int rank, const int64_t *dims, const int64_t *data, int packed)
{
    buf t = {0};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        f_int(&t, 1, dims[i]);
        n *= (size_t)dims[i];
    }
    f_int(&t, 2, 7);
    f_str(&t, 8, name);
    if (packed) {
        buf p = {0};
        for (size_t i = 0; i < n; i++)
            varint(&p, (uint64_t)data[i]);
        f_msg(&t, 7, &p);
    } else {
        for (size_t i = 0; i < n; i++)
            f_int(&t, 7, data[i]);
    }
    f_msg(g, 5, &t);
}

typedef struct nattr {
    const char *name;
    int type; /* 1 float, 2 int, 3 string, 7 ints */
    float f;
    int64_t i;
    const char *s;
    int nints;
    int64_t ints[8];
} nattr;

static void node(buf *g, const char *op, const char *const *ins, int nin, const char *out, const nattr *attrs,
                 int nattrs)
{
    buf n = {0};
    for (int i = 0; i < nin; i++)
        f_str(&n, 1, ins[i]);
    f_str(&n, 2, out);
    f_str(&n, 3, out);
    f_str(&n, 4, op);
    for (int a = 0; a < nattrs; a++) {
        buf at = {0};
        f_str(&at, 1, attrs[a].name);
        switch (attrs[a].type) {
        case 1: f_float(&at, 2, attrs[a].f); break;
        case 2: f_int(&at, 3, attrs[a].i); break;
        case 3: f_str(&at, 4, attrs[a].s); break;
        case 7: {
            buf p = {0};
            for (int k = 0; k < attrs[a].nints; k++)
                varint(&p, (uint64_t)attrs[a].ints[k]);
            f_msg(&at, 8, &p);
            break;
        }
        }
        f_int(&at, 20, attrs[a].type);
        f_msg(&n, 5, &at);
    }
    f_msg(g, 1, &n);
}

static void value_info(buf *g, int field, const char *name, int rank, const int64_t *dims)
{
    buf vi = {0}, tp = {0}, tt = {0}, sh = {0};
    for (int i = 0; i < rank; i++) {
        buf d = {0};
        f_int(&d, 1, dims[i]);
        f_msg(&sh, 1, &d);
    }
    f_int(&tt, 1, 1);
    if (rank >= 0)
        f_msg(&tt, 2, &sh);
    else
        free(sh.p);
    f_msg(&tp, 1, &tt);
    f_str(&vi, 1, name);
    f_msg(&vi, 2, &tp);
    f_msg(g, field, &vi);
}

static buf model_of(buf *graph, int opset)
{
    buf m = {0}, os = {0};
    f_int(&m, 1, 7);
    f_str(&m, 2, "facematch-test");
    f_int(&os, 2, opset);
    f_msg(&m, 8, &os);
    f_msg(&m, 7, graph);
    return m;
}

static uint64_t rs = 88172645463325252ull;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ---- the composite test network ---------------------------------------------------------------------------------- */

enum { C_IN = 3, H = 9, W = 8, C1 = 6, NCLS = 4 };

typedef struct net_params {
    float w[C1 * C_IN * 3 * 3], b[C1];
    float gamma[C1], beta[C1], mean[C1], var[C1];
    float slope[C1];
    float addc[C1];
    float fc[NCLS * C1], fcb[NCLS];
} net_params;

static buf build_net(const net_params *p, int opset)
{
    buf g = {0};
    const int64_t wd[4] = {C1, C_IN, 3, 3}, cd[1] = {C1}, sd[3] = {C1, 1, 1}, fd[2] = {NCLS, C1}, nd[1] = {NCLS};
    tensor_f(&g, "w", 4, wd, p->w);
    tensor_f(&g, "b", 1, cd, p->b);
    tensor_f(&g, "gamma", 1, cd, p->gamma);
    tensor_f(&g, "beta", 1, cd, p->beta);
    tensor_f(&g, "mean", 1, cd, p->mean);
    tensor_f(&g, "var", 1, cd, p->var);
    tensor_f(&g, "slope", 3, sd, p->slope);
    tensor_f(&g, "addc", 3, sd, p->addc);
    tensor_f(&g, "fc", 2, fd, p->fc);
    tensor_f(&g, "fcb", 1, nd, p->fcb);
    const int64_t one = 1, idx0 = 0, minus1[1] = {-1};
    tensor_i64(&g, "idx", 0, NULL, &idx0, 0);
    tensor_i64(&g, "minus1", 1, &one, minus1, 1);
    const char *in1[3] = {"x", "w", "b"};
    nattr conv_a[4] = {{"kernel_shape", 7, 0, 0, NULL, 2, {3, 3}},
                       {"pads", 7, 0, 0, NULL, 4, {1, 0, 1, 2}},
                       {"strides", 7, 0, 0, NULL, 2, {1, 2}},
                       {"group", 2, 0, 1, NULL, 0, {0}}};
    node(&g, "Conv", in1, 3, "c1", conv_a, 4);
    const char *in2[5] = {"c1", "gamma", "beta", "mean", "var"};
    nattr bn_a[1] = {{"epsilon", 1, 1e-3f, 0, NULL, 0, {0}}};
    node(&g, "BatchNormalization", in2, 5, "bn", bn_a, 1);
    const char *in3[2] = {"bn", "slope"};
    node(&g, "PRelu", in3, 2, "pr", NULL, 0);
    const char *in4[1] = {"pr"};
    nattr mp_a[3] = {{"kernel_shape", 7, 0, 0, NULL, 2, {3, 2}},
                     {"strides", 7, 0, 0, NULL, 2, {2, 1}},
                     {"pads", 7, 0, 0, NULL, 4, {1, 0, 1, 1}}};
    node(&g, "MaxPool", in4, 1, "mp", mp_a, 3);
    const char *in5[2] = {"mp", "addc"};
    node(&g, "Add", in5, 2, "ad", NULL, 0);
    const char *in6[1] = {"ad"};
    node(&g, "GlobalAveragePool", in6, 1, "gp", NULL, 0);
    /* PyTorch-style flatten: Reshape(gp, Concat(Unsqueeze(Gather(Shape(gp), 0)), [-1])) */
    node(&g, "Shape", (const char *[]){"gp"}, 1, "shp", NULL, 0);
    nattr ga[1] = {{"axis", 2, 0, 0, NULL, 0, {0}}};
    node(&g, "Gather", (const char *[]){"shp", "idx"}, 2, "n0", ga, 1);
    nattr ua[1] = {{"axes", 7, 0, 0, NULL, 1, {0}}};
    node(&g, "Unsqueeze", (const char *[]){"n0"}, 1, "n1", ua, 1);
    node(&g, "Concat", (const char *[]){"n1", "minus1"}, 2, "newshape", ga, 1);
    node(&g, "Reshape", (const char *[]){"gp", "newshape"}, 2, "flat", NULL, 0);
    nattr gemm_a[1] = {{"transB", 2, 0, 1, NULL, 0, {0}}};
    node(&g, "Gemm", (const char *[]){"flat", "fc", "fcb"}, 3, "logits", gemm_a, 1);
    nattr sm_a[1] = {{"axis", 2, 0, 1, NULL, 0, {0}}};
    node(&g, "Softmax", (const char *[]){"logits"}, 1, "prob", sm_a, 1);
    const int64_t xd[4] = {1, C_IN, H, W}, od[2] = {1, NCLS};
    value_info(&g, 11, "x", 4, xd);
    value_info(&g, 12, "prob", 2, od);
    value_info(&g, 12, "logits", 2, od);
    return model_of(&g, opset);
}

static void ref_net(const net_params *p, const float *x, double prob[NCLS], double logits[NCLS])
{
    /* conv: pads t=1 l=0 b=1 r=2, strides (1, 2) */
    const int OH = (H + 2 - 3) / 1 + 1, OW = (W + 0 + 2 - 3) / 2 + 1;
    static double c[C1][32][32];
    for (int o = 0; o < C1; o++)
        for (int y = 0; y < OH; y++)
            for (int xx = 0; xx < OW; xx++) {
                double s = p->b[o];
                for (int ci = 0; ci < C_IN; ci++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = y - 1 + ky, ix = xx * 2 + kx;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                s += (double)p->w[((o * C_IN + ci) * 3 + ky) * 3 + kx] * x[(ci * H + iy) * W + ix];
                        }
                s = (s - p->mean[o]) / sqrt((double)p->var[o] + 1e-3) * p->gamma[o] + p->beta[o];
                c[o][y][xx] = s >= 0 ? s : s * p->slope[o];
            }
    /* maxpool k (3, 2), strides (2, 1), pads t=1 l=0 b=1 r=1 */
    const int PH = (OH + 2 - 3) / 2 + 1, PW = (OW + 1 - 2) / 1 + 1;
    double gp[C1];
    for (int o = 0; o < C1; o++) {
        double acc = 0;
        for (int y = 0; y < PH; y++)
            for (int xx = 0; xx < PW; xx++) {
                double m = -INFINITY;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 2; kx++) {
                        int iy = y * 2 - 1 + ky, ix = xx + kx;
                        if (iy >= 0 && iy < OH && ix >= 0 && ix < OW && c[o][iy][ix] > m)
                            m = c[o][iy][ix];
                    }
                acc += m + p->addc[o];
            }
        gp[o] = acc / (PH * PW);
    }
    double mx = -INFINITY;
    for (int k = 0; k < NCLS; k++) {
        double s = p->fcb[k];
        for (int o = 0; o < C1; o++)
            s += (double)p->fc[k * C1 + o] * gp[o];
        logits[k] = s;
        mx = s > mx ? s : mx;
    }
    double den = 0;
    for (int k = 0; k < NCLS; k++)
        den += exp(logits[k] - mx);
    for (int k = 0; k < NCLS; k++)
        prob[k] = exp(logits[k] - mx) / den;
}

static void random_params(net_params *p)
{
    float *all = (float *)p;
    for (size_t i = 0; i < sizeof *p / sizeof(float); i++)
        all[i] = frand();
    for (int i = 0; i < C1; i++)
        p->var[i] = fabsf(p->var[i]) + 0.05f;
}

static void test_composite_network(void)
{
    for (int rep = 0; rep < 5; rep++) {
        net_params p;
        random_params(&p);
        buf m = build_net(&p, rep % 2 ? 9 : 11);
        fm_ctx *ctx = fm_ctx_create();
        onnx_model *om = NULL;
        CHECK_STATUS(onnx_model_load(ctx, m.p, m.n, &om), FM_OK);
        if (!om) {
            fprintf(stderr, "load: %s\n", fm_ctx_errmsg(ctx));
            free(m.p);
            fm_ctx_destroy(ctx);
            return;
        }
        /* folded: the 5 shape nodes vanish, BN and PRelu fuse into the conv */
        CHECK_MSG(onnx_model_num_steps(om) == 6, "steps %d", onnx_model_num_steps(om));
        CHECK(onnx_model_num_outputs(om) == 2 && onnx_model_output_size(om, 0) == NCLS);
        float x[C_IN * H * W];
        for (int i = 0; i < C_IN * H * W; i++)
            x[i] = frand() * 2;
        float prob[NCLS], logits[NCLS];
        float *outs[2] = {prob, logits};
        nn_arena a = {0};
        for (int th = 1; th <= 2; th++) {
            CHECK_STATUS(onnx_run(ctx, om, &a, x, outs, th), FM_OK);
            double rp[NCLS], rl[NCLS];
            ref_net(&p, x, rp, rl);
            for (int k = 0; k < NCLS; k++) {
                CHECK_NEAR(prob[k], rp[k], 1e-5 * (1 + fabs(rp[k])));
                CHECK_NEAR(logits[k], rl[k], 1e-5 * (1 + fabs(rl[k])));
            }
        }
        nn_arena_free(&a);
        onnx_model_free(om);
        fm_ctx_destroy(ctx);
        free(m.p);
    }
}

/* ---- malformed inputs ------------------------------------------------------------------------------------------ */

static void expect_invalid(const void *d, size_t n, const char *what)
{
    fm_ctx *ctx = fm_ctx_create();
    onnx_model *m = (onnx_model *)(uintptr_t)1;
    fm_status st = onnx_model_load(ctx, d, n, &m);
    CHECK_MSG(st == FM_ERR_MODEL_INVALID && m == NULL && fm_ctx_errmsg(ctx)[0], "%s: %s (%s)", what,
              fm_status_name(st), fm_ctx_errmsg(ctx));
    fm_ctx_destroy(ctx);
}

static void test_malformed(void)
{
    net_params p;
    random_params(&p);
    buf m = build_net(&p, 9);
    /* every truncation: either rejected, or (when it cuts at a field boundary) still a consistent model */
    int accepted = 0;
    for (size_t n = 0; n < m.n; n++) {
        fm_ctx *ctx = fm_ctx_create();
        onnx_model *om = NULL;
        fm_status st = onnx_model_load(ctx, m.p, n, &om);
        CHECK(st == FM_OK || st == FM_ERR_MODEL_INVALID);
        if (st == FM_OK) {
            accepted++;
            onnx_model_free(om);
        } else {
            CHECK(fm_ctx_errmsg(ctx)[0] != 0);
        }
        fm_ctx_destroy(ctx);
    }
    CHECK(accepted < 3);
    /* single-bit flips anywhere: never crash (ASan/UBSan builds check the memory side) */
    uint8_t *c = malloc(m.n);
    for (size_t i = 0; i < m.n; i += 3) {
        memcpy(c, m.p, m.n);
        c[i] ^= (uint8_t)(1u << (i % 8));
        fm_ctx *ctx = fm_ctx_create();
        onnx_model *om = NULL;
        fm_status st = onnx_model_load(ctx, c, m.n, &om);
        if (st == FM_OK) { /* a flip inside float data is still a valid model: it must run */
            float x[C_IN * H * W] = {0}, pr[NCLS], lg[NCLS];
            float *outs[2] = {pr, lg};
            nn_arena a = {0};
            if (onnx_model_input_size(om) == C_IN * H * W && onnx_model_num_outputs(om) == 2 &&
                onnx_model_output_size(om, 0) <= NCLS && onnx_model_output_size(om, 1) <= NCLS)
                CHECK_STATUS(onnx_run(ctx, om, &a, x, outs, 1), FM_OK);
            nn_arena_free(&a);
            onnx_model_free(om);
        } else {
            CHECK(st == FM_ERR_MODEL_INVALID || st == FM_ERR_NO_MEMORY);
        }
        fm_ctx_destroy(ctx);
    }
    free(c);
    free(m.p);
    /* garbage and empty */
    uint8_t junk[64];
    for (int i = 0; i < 64; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    expect_invalid(junk, sizeof junk, "garbage");
    expect_invalid(junk, 0, "empty");
    const uint8_t overlong[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}; /* length far beyond the buffer */
    expect_invalid(overlong, sizeof overlong, "overlong length");
    const uint8_t badvarint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_invalid(badvarint, sizeof badvarint, "11-byte varint");
    const uint8_t group[] = {0x0b, 0x0c}; /* wire type 3 (group) */
    expect_invalid(group, sizeof group, "group wire type");
    /* unknown op, named in the message */
    {
        buf g = {0};
        const int64_t d[2] = {1, 4};
        node(&g, "FancyOp", (const char *[]){"x"}, 1, "y", NULL, 0);
        value_info(&g, 11, "x", 2, d);
        value_info(&g, 12, "y", 2, d);
        buf mm = model_of(&g, 13);
        fm_ctx *ctx = fm_ctx_create();
        onnx_model *om = NULL;
        CHECK_STATUS(onnx_model_load(ctx, mm.p, mm.n, &om), FM_ERR_MODEL_INVALID);
        CHECK_MSG(strstr(fm_ctx_errmsg(ctx), "FancyOp") != NULL, "message: %s", fm_ctx_errmsg(ctx));
        fm_ctx_destroy(ctx);
        free(mm.p);
    }
    /* use before definition, shape mismatch, input without shape */
    {
        buf g = {0};
        const int64_t d[2] = {1, 4}, d3[2] = {1, 3};
        node(&g, "Relu", (const char *[]){"later"}, 1, "y", NULL, 0);
        node(&g, "Relu", (const char *[]){"x"}, 1, "later", NULL, 0);
        value_info(&g, 11, "x", 2, d);
        value_info(&g, 12, "y", 2, d);
        buf mm = model_of(&g, 13);
        expect_invalid(mm.p, mm.n, "use before definition");
        free(mm.p);
        buf g2 = {0};
        tensor_f(&g2, "k", 2, d3, (const float[]){1, 2, 3});
        node(&g2, "Add", (const char *[]){"x", "k"}, 2, "y", NULL, 0);
        value_info(&g2, 11, "x", 2, d);
        value_info(&g2, 12, "y", 2, d);
        mm = model_of(&g2, 13);
        expect_invalid(mm.p, mm.n, "broadcast mismatch");
        free(mm.p);
        buf g3 = {0};
        node(&g3, "Relu", (const char *[]){"x"}, 1, "y", NULL, 0);
        value_info(&g3, 11, "x", -1, NULL);
        value_info(&g3, 12, "y", 2, d);
        mm = model_of(&g3, 13);
        expect_invalid(mm.p, mm.n, "input without shape");
        free(mm.p);
    }
    /* raw_data of the wrong length */
    {
        buf g = {0}, t = {0};
        const int64_t d[2] = {1, 4};
        f_int(&t, 1, 4);
        f_int(&t, 2, 1);
        f_str(&t, 8, "k");
        f_bytes(&t, 9, "abcdefg", 7);
        f_msg(&g, 5, &t);
        node(&g, "Add", (const char *[]){"x", "k"}, 2, "y", NULL, 0);
        value_info(&g, 11, "x", 2, d);
        value_info(&g, 12, "y", 2, d);
        buf mm = model_of(&g, 13);
        expect_invalid(mm.p, mm.n, "raw_data length");
        free(mm.p);
    }
    /* byte limit */
    {
        fm_ctx *ctx = fm_ctx_create();
        fm_ctx_set(ctx, FM_PARAM_MAX_MODEL_BYTES, 16);
        onnx_model *om = NULL;
        CHECK_STATUS(onnx_model_load(ctx, junk, sizeof junk, &om), FM_ERR_LIMIT);
        CHECK_STATUS(onnx_model_load_file(ctx, "/nonexistent/model.onnx", &om), FM_ERR_IO);
        fm_ctx_destroy(ctx);
    }
}

/* ---- real model files -------------------------------------------------------------------------------------------- */

static const char *models_dir(void)
{
    static char d[4096];
    if (fm_models_default_dir(d, sizeof d) != FM_OK)
        return NULL;
    return d;
}

static onnx_model *load_real(fm_ctx *ctx, const char *file)
{
    char path[4200];
    const char *d = models_dir();
    if (!d)
        return NULL;
    snprintf(path, sizeof path, "%s/%s", d, file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fclose(f);
    onnx_model *m = NULL;
    if (onnx_model_load_file(ctx, path, &m) != FM_OK) {
        CHECK_MSG(0, "%s: %s", file, fm_ctx_errmsg(ctx));
        return NULL;
    }
    return m;
}

static int have_models;

static void test_real_models(void)
{
    /* op inventories from an independent Python protobuf dump of the same files */
    static const struct {
        const char *file;
        onnx_model_kind kind;
        const char *ops;
    } want[] = {
        {"fr_detect.onnx", ONNX_ULTRAFACE,
         "Add:3,Concat:13,Constant:14,Conv:52,Div:2,Exp:1,Gather:8,Mul:5,Relu:37,Reshape:8,Shape:8,Slice:6,"
         "Softmax:1,Sub:1,Transpose:8,Unsqueeze:8"},
        {"fr_landmark.onnx", ONNX_LANDMARK68, "Add:9,BatchNormalization:1,Conv:40,Flatten:1,Gemm:1,Relu:27"},
        {"fr_feature.onnx", ONNX_FEATURE512, "Add:12,Conv:50,PRelu:33,Reshape:1"},
        {"fr_liveness.onnx", ONNX_LIVENESS,
         "Add:12,BatchNormalization:1,Concat:1,Constant:1,Conv:55,Gather:1,GlobalAveragePool:3,MatMul:2,Mul:3,"
         "PRelu:33,Relu:3,Reshape:1,Shape:1,Sigmoid:3,Unsqueeze:1"},
        {"fr_eye.onnx", ONNX_EYE,
         "Add:4,Concat:1,Constant:1,Conv:23,Gather:1,GlobalAveragePool:1,MaxPool:4,Relu:6,Reshape:1,Shape:1,"
         "Unsqueeze:1"},
        {"face_detection_front_128x128_barracuda.onnx", ONNX_BLAZEFACE,
         "Add:16,Concat:11,ConstantOfShape:11,Conv:37,MaxPool:3,Relu:17,Reshape:4,Transpose:5"},
    };
    fm_ctx *ctx = fm_ctx_create();
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        onnx_model *m = load_real(ctx, want[i].file);
        if (!m)
            continue;
        have_models++;
        CHECK_MSG(strcmp(onnx_model_op_summary(m), want[i].ops) == 0, "%s ops %s", want[i].file,
                  onnx_model_op_summary(m));
        CHECK_STATUS(onnx_model_check(ctx, m, want[i].kind), FM_OK);
        CHECK_STATUS(onnx_model_check(ctx, m, (onnx_model_kind)((want[i].kind + 1) % 6)), FM_ERR_MODEL_INVALID);
        /* threads 1 vs 2 and a repeated run: same outputs */
        size_t n = onnx_model_input_size(m);
        float *x = malloc(n * sizeof(float));
        for (size_t k = 0; k < n; k++)
            x[k] = frand();
        int no = onnx_model_num_outputs(m);
        float *o[3][4];
        nn_arena a = {0};
        for (int r = 0; r < 3; r++) {
            for (int k = 0; k < no; k++)
                o[r][k] = malloc(onnx_model_output_size(m, k) * sizeof(float));
            CHECK_STATUS(onnx_run(ctx, m, &a, x, o[r], r == 1 ? 2 : 1), FM_OK);
        }
        for (int k = 0; k < no; k++) {
            size_t sz = onnx_model_output_size(m, k);
            CHECK_MSG(memcmp(o[0][k], o[2][k], sz * sizeof(float)) == 0, "%s: repeat run differs", want[i].file);
            double worst = 0;
            for (size_t j = 0; j < sz; j++) {
                double d = fabs((double)o[0][k][j] - o[1][k][j]) / (1 + fabs((double)o[0][k][j]));
                worst = d > worst ? d : worst;
            }
            /* kernels are split-invariant to 1e-6 (test_nn); through a whole deep network, single-ulp sgemm
             * differences between row-block sizes grow (BlazeFace is the worst: ~1e-5), so whole models get the
             * oracle tolerance */
            CHECK_MSG(worst <= 1e-4, "%s: threads 1 vs 2 differ by %g", want[i].file, worst);
        }
        /* every instruction set this CPU runs (baseline SSE + OpenBLAS, AVX2, AVX-512; nn.h) against the default
         * one, which oracle_cv_onnx compares with OpenCV: the oracle's tolerance (1e-3 for BlazeFace, whose
         * regression outputs are small differences of large activations, see README) */
        const double tol = want[i].kind == ONNX_BLAZEFACE ? 1e-3 : 1e-4;
        for (int isa = NN_ISA_BASE; isa <= nn_isa_best(); isa++) {
            onnx_model_set_isa(m, isa);
            CHECK_STATUS(onnx_run(ctx, m, &a, x, o[1], 1), FM_OK);
            for (int k = 0; k < no; k++) {
                size_t sz = onnx_model_output_size(m, k);
                double worst = 0;
                for (size_t j = 0; j < sz; j++) {
                    double d = fabs((double)o[0][k][j] - o[1][k][j]) / (1 + fabs((double)o[0][k][j]));
                    worst = d > worst ? d : worst;
                }
                CHECK_MSG(worst <= tol, "%s: instruction set %d differs from the default by %g", want[i].file, isa,
                          worst);
            }
        }
        for (int k = 0; k < no; k++)
            for (int r = 0; r < 3; r++)
                free(o[r][k]);
        nn_arena_free(&a);
        free(x);
        onnx_model_free(m);
    }
    /* models with ops we do not implement are rejected by name */
    if (have_models) {
        char path[4200];
        snprintf(path, sizeof path, "%s/fr_pose.onnx", models_dir());
        onnx_model *m = NULL;
        fm_status st = onnx_model_load_file(ctx, path, &m);
        CHECK(st == FM_ERR_MODEL_INVALID || st == FM_ERR_IO);
        CHECK(m == NULL);
    }
    fm_ctx_destroy(ctx);
    if (!have_models)
        fprintf(stderr, "note: model files not found; real-model checks skipped\n");
}

static void test_blazeface_anchors(void)
{
    float a[896 * 2];
    CHECK(onnx_blazeface_anchors(a, 896) == 896);
    CHECK(onnx_blazeface_anchors(a, 895) == -1);
    /* stride 8: 16x16 cells, 2 anchors each; stride 16: 8x8 cells, 6 anchors each */
    CHECK_NEAR(a[0], 0.5 / 16, 1e-7);
    CHECK_NEAR(a[1], 0.5 / 16, 1e-7);
    CHECK_NEAR(a[2], a[0], 0);
    CHECK_NEAR(a[4], 1.5 / 16, 1e-7);
    CHECK_NEAR(a[511 * 2], 15.5 / 16, 1e-7);
    CHECK_NEAR(a[512 * 2], 0.5 / 8, 1e-7);
    CHECK_NEAR(a[517 * 2], 0.5 / 8, 1e-7);
    CHECK_NEAR(a[518 * 2], 1.5 / 8, 1e-7);
    CHECK_NEAR(a[895 * 2 + 1], 7.5 / 8, 1e-7);
}

static void test_crop_rect(void)
{
    uint8_t px[3 * 100 * 80];
    memset(px, 0, sizeof px);
    onnx_rgb_view v = {px, 100, 80, 300};
    int r[4];
    /* fully inside, scale 1: the integer box itself */
    float b1[4] = {10.7f, 20.2f, 40.9f, 60.5f};
    CHECK(onnx_face_crop_rect(&v, b1, 1.0f, r) == 0);
    CHECK(r[0] == 10 && r[1] == 20 && r[2] == 30 && r[3] == 40);
    /* scale 2.7 limited by (H - 1) / h = 79 / 40, shifted back inside the image */
    CHECK(onnx_face_crop_rect(&v, b1, 2.7f, r) == 0);
    double s = 79.0 / 40.0, nw = 30 * s, nh = 40 * s, cx = 25, cy = 40;
    double ltx = cx - nw / 2, lty = cy - nh / 2, rby = cy + nh / 2;
    if (ltx < 0)
        ltx = 0;
    if (lty < 0) {
        rby -= lty;
        lty = 0;
    }
    CHECK_MSG(r[0] == (int)ltx && r[1] == (int)lty && r[2] == (int)nw && r[3] == (int)(rby - lty) - 0 &&
                  r[1] + r[3] <= 80 && r[0] + r[2] <= 100,
              "rect %d %d %d %d", r[0], r[1], r[2], r[3]);
    float bad[4] = {10, 10, 10, 30};
    CHECK(onnx_face_crop_rect(&v, bad, 1.0f, r) == -1);
    float nan_box[4] = {NAN, 0, 10, 10};
    CHECK(onnx_face_crop_rect(&v, nan_box, 1.0f, r) == -1);
}

static void test_detect_real_image(void)
{
    const char *data = test_data_dir();
    if (!data || !have_models) {
        fprintf(stderr, "note: shared data or models absent; detection checks skipped\n");
        return;
    }
    /* the first image of faces/identities.csv, decoded with the library's image API */
    char path[5200], csv[4200], line[1024];
    path[0] = 0;
    snprintf(csv, sizeof csv, "%s/faces/identities.csv", data);
    FILE *c = fopen(csv, "r");
    if (c && fgets(line, sizeof line, c) && fgets(line, sizeof line, c)) {
        char *comma = strchr(line, ',');
        if (comma)
            *comma = 0;
        if (strlen(data) + strlen(line) + 2 <= sizeof path)
            snprintf(path, sizeof path, "%.4000s/%.1023s", data, line);
    }
    if (c)
        fclose(c);
    fm_ctx *ctx = fm_ctx_create();
    fm_image *img = NULL;
    fm_status st = fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL);
    if (st != FM_OK) {
        fprintf(stderr, "note: cannot decode %s (%s); detection checks skipped\n", path, fm_ctx_errmsg(ctx));
        fm_ctx_destroy(ctx);
        return;
    }
    int stride = 0;
    const uint8_t *px = fm_image_plane(img, 0, &stride);
    REQUIRE(px != NULL);
    onnx_rgb_view v = {px, fm_image_width(img), fm_image_height(img), (size_t)stride};
    onnx_model *uf = load_real(ctx, "fr_detect.onnx"), *bf = load_real(ctx, "face_detection_front_128x128_barracuda.onnx");
    onnx_model *lm = load_real(ctx, "fr_landmark.onnx");
    nn_arena a = {0};
    onnx_face fu[8], fb[8];
    int nu = 0, nb = 0;
    if (uf && bf && lm) {
        CHECK_STATUS(onnx_ultraface_detect(ctx, uf, &a, &v, NULL, fu, 8, &nu), FM_OK);
        CHECK_STATUS(onnx_blazeface_detect(ctx, bf, &a, &v, NULL, fb, 8, &nb), FM_OK);
        CHECK_MSG(nu >= 1, "UltraFace found %d faces in %s", nu, path);
        for (int k = 1; k < nu && k < 8; k++)
            CHECK(fu[k].score <= fu[0].score); /* sorted by score */
        CHECK_MSG(nb >= 1, "BlazeFace found %d faces in %s", nb, path);
        if (nu >= 1 && nb >= 1) {
            /* the two detectors must agree on where the face is (different box conventions: loose IoU) */
            float ix = fminf(fu[0].x2, fb[0].x2) - fmaxf(fu[0].x1, fb[0].x1);
            float iy = fminf(fu[0].y2, fb[0].y2) - fmaxf(fu[0].y1, fb[0].y1);
            float inter = ix > 0 && iy > 0 ? ix * iy : 0;
            float ua = (fu[0].x2 - fu[0].x1) * (fu[0].y2 - fu[0].y1) + (fb[0].x2 - fb[0].x1) * (fb[0].y2 - fb[0].y1) - inter;
            CHECK_MSG(inter / ua > 0.3f, "UltraFace and BlazeFace boxes disagree (IoU %.2f)", inter / ua);
            CHECK(fu[0].score >= 0.65f && fu[0].score <= 1.0f && fb[0].score >= 0.75f);
            /* BlazeFace eyes lie inside its box, above its nose */
            CHECK(fb[0].kp[0][0] > fb[0].x1 && fb[0].kp[0][0] < fb[0].x2 && fb[0].kp[2][1] > fb[0].kp[0][1]);
            float box[4] = {fu[0].x1, fu[0].y1, fu[0].x2, fu[0].y2}, pts[136];
            CHECK_STATUS(onnx_landmark68(ctx, lm, &a, &v, box, 1, pts), FM_OK);
            /* anatomy: eyes (36-47) above the mouth (48-67), left eye left of the right eye, points near the box */
            double ey = 0, my = 0;
            for (int k = 36; k < 48; k++)
                ey += pts[k * 2 + 1] / 12;
            for (int k = 48; k < 68; k++)
                my += pts[k * 2 + 1] / 20;
            CHECK(ey < my);
            CHECK(pts[36 * 2] < pts[45 * 2]);
            for (int k = 0; k < 68; k++)
                CHECK(pts[k * 2] > box[0] - 0.2f * (box[2] - box[0]) && pts[k * 2] < box[2] + 0.2f * (box[2] - box[0]));
        }
        /* a black image has no face */
        uint8_t *black = calloc((size_t)320 * 240 * 3, 1);
        onnx_rgb_view bv = {black, 320, 240, 960};
        CHECK_STATUS(onnx_ultraface_detect(ctx, uf, &a, &bv, NULL, fu, 8, &nu), FM_OK);
        CHECK(nu == 0);
        free(black);
        /* wrong model for the wrapper */
        CHECK_STATUS(onnx_ultraface_detect(ctx, lm, &a, &v, NULL, fu, 8, &nu), FM_ERR_MODEL_INVALID);
    }
    nn_arena_free(&a);
    onnx_model_free(uf);
    onnx_model_free(bf);
    onnx_model_free(lm);
    fm_image_destroy(img);
    fm_ctx_destroy(ctx);
}

/* FM_ONNX_SEED_DIR=dir: also write the hand-encoded network as a fuzzing seed (tests/fuzz/fuzz_onnx.c) */
static void write_seed(void)
{
    const char *dir = getenv("FM_ONNX_SEED_DIR");
    if (!dir)
        return;
    for (int opset = 9; opset <= 11; opset += 2) {
        net_params p;
        random_params(&p);
        buf m = build_net(&p, opset);
        char path[4200];
        snprintf(path, sizeof path, "%s/composite_opset%d.onnx", dir, opset);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(m.p, 1, m.n, f);
            fclose(f);
        }
        free(m.p);
    }
}

int main(void)
{
    write_seed();
    RUN(test_composite_network);
    RUN(test_malformed);
    RUN(test_real_models);
    RUN(test_blazeface_anchors);
    RUN(test_crop_rect);
    RUN(test_detect_real_image);
    return test_finish();
}
