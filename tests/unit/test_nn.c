/* Unit tests of the CNN runtime kernels (facematch/src/nn/nn.h) against naive double-precision reference code on
 * random inputs.
 * Tolerance for every accumulating kernel: |got - ref| <= 1e-5 * (1 + sum of |terms|) where the sum runs over the
 * products that make up the output value (float32 accumulation error is bounded by ~K * 2^-24 * sum|terms|; the
 * kernels sum at most a few thousand terms). Element-wise kernels: 1e-6 relative. Thread-count invariance: outputs
 * with threads = 2 and 3 equal threads = 1 within 1e-6 * (1 + sum|terms|). */
#include "face/resnet.h"
#include "internal.h"
#include "nn/nn.h"
#include "test.h"

#include <float.h>
#include <stdint.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static int irand(int lo, int hi) { return lo + (int)((frand() + 1.0f) * 0.5f * (float)(hi - lo + 1)) % (hi - lo + 1); }
static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
}

static double ref_act(double v, const nn_act *a, int c)
{
    switch (a->kind) {
    case NN_ACT_RELU: return v > 0 ? v : 0;
    case NN_ACT_CLIP: return v < a->lo ? a->lo : (v > a->hi ? a->hi : v);
    case NN_ACT_PRELU: return v >= 0 ? v : v * a->slope[a->slope_n == 1 ? 0 : c];
    case NN_ACT_LEAKY: return v >= 0 ? v : v * a->alpha;
    case NN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    default: return v;
    }
}

/* naive conv: out[o][y][x] = b[o] + sum_{ci in group, ky, kx} w * in (zero padding) */
static void ref_conv(const nn_conv_desc *d, const float *w, const float *b, const nn_act *act, const float *in, int H,
                     int W, int OH, int OW, double *out, double *mag)
{
    int icg = d->in_c / d->groups, ocg = d->out_c / d->groups;
    for (int o = 0; o < d->out_c; o++) {
        int g = o / ocg;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double s = b ? b[o] : 0, m = b ? fabs(b[o]) : 0;
                for (int ci = 0; ci < icg; ci++)
                    for (int ky = 0; ky < d->kh; ky++)
                        for (int kx = 0; kx < d->kw; kx++) {
                            int iy = oy * d->stride_h - d->pad_t + ky * d->dil_h;
                            int ix = ox * d->stride_w - d->pad_l + kx * d->dil_w;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            double t = (double)w[((o * icg + ci) * d->kh + ky) * d->kw + kx] *
                                       in[((size_t)(g * icg + ci) * H + iy) * W + ix];
                            s += t;
                            m += fabs(t);
                        }
                size_t idx = ((size_t)o * OH + oy) * OW + ox;
                out[idx] = ref_act(s, act, o);
                mag[idx] = m;
            }
    }
}

static double g_worst_wino[5]; /* worst scaled error seen per Winograd tile size (reported by test_winograd) */
static int g_isa = NN_ISA_BASE; /* kernels under test (main runs the conv tests once per instruction set) */
static int g_plan_input;        /* conv_case_w: plan the conv for its input size (nn_conv_plan_input) first */
static int g_subs;              /* convs that nn_conv_plan_input cut down to their live taps */

/* One convolution against ref_conv (double), with 1, 2 and 3 threads. wino = 2 / 4 runs it as Winograd F(wino, 3)
 * (set before the affine fold when fold is set, so that the re-transform on folding is exercised). */
static int conv_case_w(const nn_conv_desc *d, int H, int W, nn_act_kind ak, int fold, int wino)
{
    int icg = d->in_c / d->groups;
    size_t wn = (size_t)d->out_c * icg * d->kh * d->kw;
    float *w = malloc(wn * sizeof(float)), *b = malloc((size_t)d->out_c * sizeof(float));
    float *slope = malloc((size_t)d->out_c * sizeof(float));
    float *scale = malloc((size_t)d->out_c * sizeof(float)), *shift = malloc((size_t)d->out_c * sizeof(float));
    float *in = malloc((size_t)d->in_c * H * W * sizeof(float));
    fill(w, wn);
    fill(b, (size_t)d->out_c);
    fill(slope, (size_t)d->out_c);
    fill(scale, (size_t)d->out_c);
    fill(shift, (size_t)d->out_c);
    fill(in, (size_t)d->in_c * H * W);
    nn_act act = {ak, -0.3f, 0.4f, 0.1f, slope, d->out_c};
    nn_conv cv;
    int fails_before = t_failures;
    CHECK_STATUS(nn_conv_init(&cv, d, w, b, NULL), FM_OK);
    CHECK(cv.isa == nn_isa_best());
    nn_conv_set_isa(&cv, g_isa);
    CHECK(cv.isa == g_isa);
    CHECK_STATUS(nn_conv_set_act(&cv, &act, NULL), FM_OK);
    float *bref = b;
    float *wf = NULL, *bf = NULL;
    if (wino)
        CHECK_STATUS(nn_conv_set_winograd(&cv, wino, NULL), FM_OK);
    if (g_plan_input) { /* before the fold, so that the fold must reach the reduced copy too */
        CHECK_STATUS(nn_conv_plan_input(&cv, H, W, NULL), FM_OK);
        if (cv.sub) {
            g_subs++;
            CHECK(cv.sub->isa == cv.isa && cv.sub_h == H && cv.sub_w == W);
            CHECK(cv.sub->d.kh * cv.sub->d.kw < d->kh * d->kw);
        }
    }
    if (fold) { /* reference: weights scaled explicitly */
        nn_conv_fold_affine(&cv, scale, shift);
        size_t per = wn / (size_t)d->out_c;
        wf = malloc(wn * sizeof(float));
        bf = malloc((size_t)d->out_c * sizeof(float));
        for (int o = 0; o < d->out_c; o++) {
            for (size_t i = 0; i < per; i++)
                wf[o * per + i] = w[o * per + i] * scale[o];
            bf[o] = b[o] * scale[o] + shift[o];
        }
        bref = bf;
    }
    int OH, OW;
    if (nn_conv_out_hw(&cv, H, W, &OH, &OW) != 0) {
        CHECK_MSG(0, "conv_case called with an invalid geometry");
        OH = OW = 1;
    }
    size_t on = (size_t)d->out_c * OH * OW;
    double *ref = malloc(on * sizeof(double)), *mag = malloc(on * sizeof(double));
    ref_conv(d, wf ? wf : w, bref, &act, in, H, W, OH, OW, ref, mag);
    float *outs[3];
    for (int t = 0; t < 3; t++) {
        size_t sn = nn_conv_scratch(&cv, H, W, t + 1);
        float *scratch = malloc((sn ? sn : 1) * sizeof(float));
        outs[t] = malloc(on * sizeof(float));
        nn_tensor ti = nn_tensor_make(in, d->in_c, H, W), to = nn_tensor_make(outs[t], d->out_c, OH, OW);
        nn_conv_forward(&cv, &ti, &to, scratch, t + 1);
        free(scratch);
    }
    double worst = 0;
    for (size_t i = 0; i < on; i++) {
        double err = fabs(outs[0][i] - ref[i]) / (1 + mag[i]);
        worst = err > worst ? err : worst;
        double e2 = fabs((double)outs[1][i] - outs[0][i]) / (1 + mag[i]);
        double e3 = fabs((double)outs[2][i] - outs[0][i]) / (1 + mag[i]);
        if (e2 > 1e-6 || e3 > 1e-6) {
            CHECK_MSG(0, "thread-count dependence at %zu: %g %g %g", i, outs[0][i], outs[1][i], outs[2][i]);
            break;
        }
    }
    /* error / (1 + sum |w x|): im2col and F(2x2) round like a dot product (<= K * 2^-24, K <= 600 here); F(4x4)
     * multiplies by transform entries up to 8 (A^T) and 4 (B^T) and 1/6, 1/24 (G), which costs ~1.5 decimal digits */
    const double tol = wino == 4 ? 1e-4 : 1e-5;
    if (wino && worst > g_worst_wino[wino])
        g_worst_wino[wino] = worst;
    CHECK_MSG(worst <= tol, "conv in=%d out=%d k=%dx%d s=%d,%d pad=%d,%d,%d,%d dil=%d,%d g=%d act=%d fold=%d wino=%d: "
              "worst scaled error %g", d->in_c, d->out_c, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_t, d->pad_l,
              d->pad_b, d->pad_r, d->dil_h, d->dil_w, d->groups, (int)ak, fold, wino, worst);
    for (int t = 0; t < 3; t++)
        free(outs[t]);
    free(ref);
    free(mag);
    free(wf);
    free(bf);
    nn_conv_free(&cv);
    free(w);
    free(b);
    free(slope);
    free(scale);
    free(shift);
    free(in);
    return t_failures == fails_before;
}

static int conv_case(const nn_conv_desc *d, int H, int W, nn_act_kind ak, int fold)
{
    return conv_case_w(d, H, W, ak, fold, 0);
}

static void test_conv_fixed_cases(void)
{
    /* in, out, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups */
    const nn_conv_desc cases[] = {
        {3, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},     /* stem conv */
        {16, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* pointwise (direct sgemm path) */
        {32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32},   /* depthwise s1 */
        {32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 32},   /* depthwise s2 */
        {24, 24, 5, 5, 2, 2, 1, 1, 1, 1, 2, 2, 24},   /* depthwise 5x5 asymmetric pad (BlazeFace) */
        {8, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 8},      /* depthwise dilated */
        {16, 16, 3, 3, 1, 1, 3, 3, 3, 3, 3, 3, 1},    /* dilated (RFB branches) */
        {12, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},    /* grouped */
        {6, 10, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},     /* 1x1 stride 2 (im2col path) */
        {4, 6, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1},      /* 3x1 */
        {4, 6, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1},      /* 1x3 */
        {5, 7, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1},      /* kernel covering the whole input */
        {3, 4, 4, 2, 3, 2, 1, 2, 0, 3, 2, 0, 1},      /* odd mix: asymmetric everything */
    };
    const nn_act_kind acts[] = {NN_ACT_NONE, NN_ACT_RELU, NN_ACT_CLIP, NN_ACT_PRELU, NN_ACT_LEAKY, NN_ACT_SIGMOID};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
            conv_case(&cases[i], 9 + (int)i % 5, 11 + (int)a, acts[a], (int)((i + a) % 2));
    /* bigger ones so that the threaded path really splits */
    const nn_conv_desc big[] = {{32, 64, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1}, {16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                                {64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 64}};
    for (size_t i = 0; i < 3; i++)
        conv_case(&big[i], 40, 48, NN_ACT_RELU, 0);
    /* depthwise rows wide enough for several 8-lane vectors and a scalar tail: 3x3 s1 / s2 (register kernel),
     * 5x5 s2 and dilated 3x3 s1 (generic loops), odd widths, every activation */
    const nn_conv_desc dwc[] = {{12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 12}, {12, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 12},
                                {8, 8, 5, 5, 2, 2, 1, 1, 1, 1, 2, 2, 8},     {8, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 8},
                                {6, 6, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 6},     {6, 6, 4, 2, 1, 2, 1, 1, 1, 0, 2, 1, 6}};
    for (size_t i = 0; i < sizeof dwc / sizeof dwc[0]; i++)
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
            conv_case(&dwc[i], 21 + (int)a, 37 + 13 * (int)i + (int)a, acts[a], (int)(a % 2));
}

/* a random conv geometry: groups 1..max_groups (or depthwise, 1..9 channels), kernels 1..5, strides 1..3,
 * dilations 1..2, paddings 0..max_pad */
static nn_conv_desc random_geometry(int max_groups, int depthwise, int max_pad)
{
    nn_conv_desc d;
    d.groups = irand(1, max_groups);
    if (depthwise) {
        d.in_c = d.out_c = d.groups = irand(1, 9);
    } else {
        d.in_c = d.groups * irand(1, 4);
        d.out_c = d.groups * irand(1, 4);
    }
    d.kh = irand(1, 5);
    d.kw = irand(1, 5);
    d.stride_h = irand(1, 3);
    d.stride_w = irand(1, 3);
    d.dil_h = irand(1, 2);
    d.dil_w = irand(1, 2);
    d.pad_t = irand(0, max_pad);
    d.pad_l = irand(0, max_pad);
    d.pad_b = irand(0, max_pad);
    d.pad_r = irand(0, max_pad);
    return d;
}

static void test_conv_random(void)
{
    for (int it = 0; it < 150; it++) {
        nn_conv_desc d = random_geometry(3, irand(0, 3) == 0, 3);
        int H = irand(1, 14), W = irand(1, 14);
        nn_conv cv;
        float dummy = 0;
        (void)dummy;
        size_t wn = (size_t)d.out_c * (d.in_c / d.groups) * d.kh * d.kw;
        float *w = calloc(wn, sizeof(float));
        int ok = nn_conv_init(&cv, &d, w, NULL, NULL) == FM_OK;
        CHECK(ok);
        int oh, ow, valid = ok && nn_conv_out_hw(&cv, H, W, &oh, &ow) == 0;
        /* independent check of the output size rule */
        int eh = (H + d.pad_t + d.pad_b - (d.dil_h * (d.kh - 1) + 1));
        int ew = (W + d.pad_l + d.pad_r - (d.dil_w * (d.kw - 1) + 1));
        CHECK(valid == (eh >= 0 && ew >= 0));
        if (ok)
            nn_conv_free(&cv);
        free(w);
        if (valid && !conv_case(&d, H, W, (nn_act_kind)irand(0, 5), irand(0, 1)))
            break;
    }
}

/* Winograd F(2x2,3x3) and F(4x4,3x3) against the naive double convolution: odd sizes (partial tiles and partial
 * 4-tile vector groups), rows wider than one 32-tile chunk, inputs smaller than a tile, paddings 0..2 (asymmetric),
 * channel counts that are not multiples of 4 or 8, every activation, folding after the transform, 1/2/3 threads
 * (conv_case_w requires equal results). Also big enough layers that the band loop takes several bands. */
static void test_winograd(void)
{
    const nn_act_kind acts[] = {NN_ACT_NONE, NN_ACT_RELU, NN_ACT_CLIP, NN_ACT_PRELU, NN_ACT_LEAKY, NN_ACT_SIGMOID};
    for (int wino = 2; wino <= 4; wino += 2) {
        for (int it = 0; it < 60; it++) {
            nn_conv_desc d = {irand(1, 13), irand(1, 13), 3, 3, 1, 1, 1, 1, irand(0, 2), irand(0, 2), irand(0, 2),
                              irand(0, 2), 1};
            int H = irand(1, 23), W = irand(1, it % 7 == 0 ? 150 : 23);
            if (H + d.pad_t + d.pad_b < 3 || W + d.pad_l + d.pad_r < 3)
                continue;
            if (!conv_case_w(&d, H, W, acts[it % 6], it % 2, wino))
                break;
        }
        /* the ResNet's shapes (35x35x32, 18x18x64, 9x9x128 outputs) and a multi-band UltraFace-like layer */
        const nn_conv_desc rn[] = {{32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                                   {128, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}};
        const int hw[][2] = {{35, 35}, {18, 18}, {9, 9}, {120, 160}};
        for (int i = 0; i < 4; i++)
            conv_case_w(&rn[i], hw[i][0], hw[i][1], NN_ACT_RELU, i % 2, wino);
    }
    /* ineligible geometries are refused and leave the conv usable */
    const nn_conv_desc bad[] = {{4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1}, {4, 4, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},
                                {4, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1}, {4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},
                                {4, 4, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1}};
    float w[4 * 4 * 25] = {0}; /* the largest of the geometries above */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_conv cv;
        REQUIRE(nn_conv_init(&cv, &bad[i], w, NULL, NULL) == FM_OK);
        CHECK(nn_conv_set_winograd(&cv, 4, NULL) == FM_ERR_INVALID_ARGUMENT);
        CHECK(cv.wino_m == 0);
        CHECK(nn_conv_plan_input(&cv, 40, 40, NULL) == FM_OK && cv.wino_m == 0);
        nn_conv_free(&cv);
    }
    nn_conv cv;
    const nn_conv_desc ok = {4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    REQUIRE(nn_conv_init(&cv, &ok, w, NULL, NULL) == FM_OK);
    CHECK(nn_conv_set_winograd(&cv, 3, NULL) == FM_ERR_INVALID_ARGUMENT);
    CHECK(nn_conv_set_winograd(&cv, 2, NULL) == FM_OK && cv.wino_m == 2 && cv.wu);
    CHECK(nn_conv_set_winograd(&cv, 0, NULL) == FM_OK && cv.wino_m == 0 && !cv.wu);
    nn_conv_free(&cv);
    fprintf(stderr, "winograd (%s kernels): worst scaled error F(2x2) %.3g, F(4x4) %.3g\n",
            g_isa == NN_ISA_AVX512 ? "AVX-512" : g_isa == NN_ISA_AVX2 ? "AVX2" : "baseline", g_worst_wino[2],
            g_worst_wino[4]);
    g_worst_wino[2] = g_worst_wino[4] = 0;
}

/* nn_conv_plan_input on inputs so small that kernel taps only ever meet padding: the conv keeps a copy cut down to the
 * live taps; results must still match the naive convolution (with the dropped taps), and other input sizes must
 * still use the full kernel. */
static void test_plan_input_taps(void)
{
    const nn_act_kind acts[] = {NN_ACT_NONE, NN_ACT_RELU, NN_ACT_CLIP, NN_ACT_PRELU, NN_ACT_LEAKY, NN_ACT_SIGMOID};
    g_plan_input = 1;
    g_subs = 0;
    /* the dlib ResNet's last conv: 3x3 pad 1 on a 1x1 input (only the centre tap is live) */
    const nn_conv_desc last = {24, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    conv_case_w(&last, 1, 1, NN_ACT_RELU, 1, 0);
    CHECK(g_subs == 1);
    for (int it = 0; it < 200; it++) {
        nn_conv_desc d = random_geometry(2, 0, 4);
        int H = irand(1, 4), W = irand(1, 4);
        if (H + d.pad_t + d.pad_b < d.dil_h * (d.kh - 1) + 1 || W + d.pad_l + d.pad_r < d.dil_w * (d.kw - 1) + 1)
            continue;
        if (!conv_case_w(&d, H, W, acts[it % 6], it % 2, 0))
            break;
    }
    g_plan_input = 0;
    CHECK_MSG(g_subs > 20, "only %d convs were cut down", g_subs);
    /* planned for 1x1, then run on 5x5: the full kernel */
    float w[20 * 24 * 9], b[20];
    fill(w, sizeof w / sizeof w[0]);
    fill(b, 20);
    nn_conv cv;
    REQUIRE(nn_conv_init(&cv, &last, w, b, NULL) == FM_OK);
    nn_conv_set_isa(&cv, g_isa);
    CHECK_STATUS(nn_conv_plan_input(&cv, 1, 1, NULL), FM_OK);
    CHECK(cv.sub != NULL);
    float in[24 * 25], out[20 * 25];
    double ref[20 * 25], mag[20 * 25];
    fill(in, 24 * 25);
    nn_act none = {NN_ACT_NONE, 0, 0, 0, NULL, 0};
    size_t sn = nn_conv_scratch(&cv, 5, 5, 1);
    float *scratch = malloc((sn ? sn : 1) * sizeof(float));
    nn_tensor ti = nn_tensor_make(in, 24, 5, 5), to = nn_tensor_make(out, 20, 5, 5);
    nn_conv_forward(&cv, &ti, &to, scratch, 1);
    ref_conv(&last, w, b, &none, in, 5, 5, 5, 5, ref, mag);
    double worst = 0;
    for (int i = 0; i < 20 * 25; i++) {
        double e = fabs(out[i] - ref[i]) / (1 + mag[i]);
        worst = e > worst ? e : worst;
    }
    CHECK_MSG(worst <= 1e-5, "planned for 1x1, run on 5x5: worst %g", worst);
    free(scratch);
    nn_conv_free(&cv);
}

/* The real dlib ResNet on a real 150x150 face chip with every instruction set this CPU runs: the descriptors must agree
 * with the default one (which test_face_oracle compares with dlib's, L2 <= 1e-3) to 1e-5, so every path is within
 * the oracle's tolerance of dlib. Skips (with a note) without the model or the data. */
static void test_resnet_isa(void)
{
    char dir[4096], path[8300];
    const char *data = test_data_dir();
    if (fm_models_default_dir(dir, sizeof dir) != FM_OK || !data) {
        fprintf(stderr, "note: models or ../shared/data not found; ResNet instruction-set check skipped\n");
        return;
    }
    snprintf(path, sizeof path, "%s/dlib_face_recognition_resnet_model_v1.dat", dir);
    fm_ctx *ctx = fm_ctx_create();
    uint8_t *buf = NULL;
    size_t len = 0;
    fm_resnet *rn = NULL;
    fm_image *img = NULL;
    if (fm_read_file(ctx, path, (int64_t)1 << 30, &buf, &len) != FM_OK) {
        fprintf(stderr, "note: %s not found; ResNet instruction-set check skipped\n", path);
        fm_ctx_destroy(ctx);
        return;
    }
    REQUIRE(fm_resnet_load(ctx, buf, len, &rn) == FM_OK);
    snprintf(path, sizeof path, "%s/faces/dlib-johns/examples/johns/John_Salley/000197_02159322.jpg", data);
    REQUIRE(fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL) == FM_OK);
    REQUIRE(fm_image_width(img) == 150 && fm_image_height(img) == 150);
    int stride;
    const uint8_t *px = fm_image_plane(img, 0, &stride);
    float ref[128], d[128];
    CHECK_STATUS(fm_resnet_embed(rn, ctx, px, stride, ref, 1), FM_OK);
    for (int isa = NN_ISA_BASE; isa <= nn_isa_best(); isa++) {
        for (int i = 0; i < rn->net.nsteps; i++)
            if (rn->net.steps[i].kind == DN_CON) {
                nn_conv_set_isa(&rn->net.steps[i].conv, isa);
                CHECK(rn->net.steps[i].conv.isa == isa);
            }
        CHECK_STATUS(fm_resnet_embed(rn, ctx, px, stride, d, 1), FM_OK);
        double e = 0;
        for (int i = 0; i < 128; i++)
            e += ((double)d[i] - ref[i]) * ((double)d[i] - ref[i]);
        CHECK_MSG(sqrt(e) <= 1e-5, "instruction set %d: descriptor L2 %.3g from the default", isa, sqrt(e));
        fprintf(stderr, "resnet: instruction set %d: descriptor L2 to the default (%d) %.3g\n", isa, nn_isa_best(),
                sqrt(e));
    }
    fm_image_destroy(img);
    fm_resnet_free(rn);
    free(buf);
    fm_ctx_destroy(ctx);
}

static void test_conv_invalid(void)
{
    float w[16] = {0};
    nn_conv cv;
    nn_conv_desc bad[] = {
        {0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},  {3, 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2},
        {2, 2, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1},  {2, 2, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1},
        {2, 2, 1, 1, 1, 1, 1, 1, -1, 0, 0, 0, 1}, {2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_STATUS(nn_conv_init(&cv, &bad[i], w, NULL, NULL), FM_ERR_MODEL_INVALID);
    nn_conv_desc d = {1, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1};
    REQUIRE(nn_conv_init(&cv, &d, w, NULL, NULL) == FM_OK);
    int oh, ow;
    CHECK(nn_conv_out_hw(&cv, 2, 5, &oh, &ow) == -1);
    CHECK(nn_conv_out_hw(&cv, 0, 5, &oh, &ow) == -1);
    nn_act a = {NN_ACT_PRELU, 0, 0, 0, w, 3};
    CHECK_STATUS(nn_conv_set_act(&cv, &a, NULL), FM_ERR_MODEL_INVALID);
    nn_conv_free(&cv);
}

static void test_bn_fold(void)
{
    float g[4], be[4], m[4], v[4], s[4], sh[4];
    fill(g, 4);
    fill(be, 4);
    fill(m, 4);
    fill(v, 4);
    for (int i = 0; i < 4; i++)
        v[i] = fabsf(v[i]) + 0.1f;
    nn_bn_to_affine(4, g, be, m, v, 1e-5f, s, sh);
    for (int i = 0; i < 4; i++) {
        double x = 0.37;
        double ref = (x - m[i]) / sqrt((double)v[i] + 1e-5) * g[i] + be[i];
        CHECK_NEAR(x * s[i] + sh[i], ref, 1e-5);
    }
    float x[4 * 6];
    fill(x, 24);
    float y[24];
    memcpy(y, x, sizeof y);
    nn_affine(y, 4, 6, s, sh);
    for (int i = 0; i < 24; i++)
        CHECK_NEAR(y[i], (double)x[i] * s[i / 6] + sh[i / 6], 1e-6);
}

static void ref_pool(const nn_pool *p, const float *in, int C, int H, int W, int OH, int OW, double *out)
{
    for (int c = 0; c < C; c++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double mx = -INFINITY, s = 0;
                int n = 0, npad = 0;
                for (int ky = 0; ky < p->kh; ky++)
                    for (int kx = 0; kx < p->kw; kx++) {
                        int y = oy * p->stride_h - p->pad_t + ky, x = ox * p->stride_w - p->pad_l + kx;
                        if (y < H + p->pad_b && x < W + p->pad_r)
                            npad++; /* inside the padded area */
                        if (y < 0 || y >= H || x < 0 || x >= W)
                            continue;
                        double v = in[((size_t)c * H + y) * W + x];
                        mx = v > mx ? v : mx;
                        s += v;
                        n++;
                    }
                double r = p->kind == NN_POOL_MAX ? mx : s / (p->count_include_pad ? npad : n);
                out[((size_t)c * OH + oy) * OW + ox] = r;
            }
}

static void test_pool(void)
{
    for (int it = 0; it < 200; it++) {
        nn_pool p;
        p.kind = irand(0, 1) ? NN_POOL_AVG : NN_POOL_MAX;
        p.kh = irand(1, 4);
        p.kw = irand(1, 4);
        p.stride_h = irand(1, 3);
        p.stride_w = irand(1, 3);
        p.pad_t = irand(0, p.kh - 1);
        p.pad_b = irand(0, p.kh - 1);
        p.pad_l = irand(0, p.kw - 1);
        p.pad_r = irand(0, p.kw - 1);
        p.ceil_mode = irand(0, 1);
        p.count_include_pad = irand(0, 1);
        int C = irand(1, 3), H = irand(1, 12), W = irand(1, it % 2 ? 12 : 40), OH, OW; /* 40: vector max path */
        if (nn_pool_out_hw(&p, H, W, &OH, &OW))
            continue;
        /* independent size rule (PyTorch/ONNX): floor or ceil, last window must start inside input + left pad */
        int eh = (H + p.pad_t + p.pad_b - p.kh), ew = (W + p.pad_l + p.pad_r - p.kw);
        int rh = p.ceil_mode ? (int)ceil((double)eh / p.stride_h) + 1 : eh / p.stride_h + 1;
        int rw = p.ceil_mode ? (int)ceil((double)ew / p.stride_w) + 1 : ew / p.stride_w + 1;
        if (p.ceil_mode && (rh - 1) * p.stride_h >= H + p.pad_t)
            rh--;
        if (p.ceil_mode && (rw - 1) * p.stride_w >= W + p.pad_l)
            rw--;
        CHECK(OH == rh && OW == rw);
        float *in = malloc((size_t)C * H * W * sizeof(float)), *out = malloc((size_t)C * OH * OW * sizeof(float));
        double *ref = malloc((size_t)C * OH * OW * sizeof(double));
        fill(in, (size_t)C * H * W);
        nn_tensor ti = nn_tensor_make(in, C, H, W), to = nn_tensor_make(out, C, OH, OW);
        nn_pool_forward(&p, &ti, &to);
        ref_pool(&p, in, C, H, W, OH, OW, ref);
        for (int i = 0; i < C * OH * OW; i++)
            if (!(fabs(out[i] - ref[i]) <= 1e-6)) {
                CHECK_MSG(0, "pool kind=%d k=%dx%d s=%d,%d pads=%d,%d,%d,%d ceil=%d cip=%d: %g vs %g", p.kind, p.kh,
                          p.kw, p.stride_h, p.stride_w, p.pad_t, p.pad_l, p.pad_b, p.pad_r, p.ceil_mode,
                          p.count_include_pad, out[i], ref[i]);
                break;
            }
        free(in);
        free(out);
        free(ref);
    }
    float in[2 * 3 * 5];
    fill(in, 30);
    float out[2];
    nn_tensor ti = nn_tensor_make(in, 2, 3, 5), to = nn_tensor_make(out, 2, 1, 1);
    for (int k = 0; k < 2; k++) {
        nn_global_pool(k ? NN_POOL_AVG : NN_POOL_MAX, &ti, &to);
        for (int c = 0; c < 2; c++) {
            double mx = -INFINITY, s = 0;
            for (int i = 0; i < 15; i++) {
                mx = in[c * 15 + i] > mx ? in[c * 15 + i] : mx;
                s += in[c * 15 + i];
            }
            CHECK_NEAR(out[c], k ? s / 15 : mx, 1e-6);
        }
    }
}

static void test_elementwise(void)
{
    enum { N = 1000 };
    float a[N], b[N], o[N];
    fill(a, N);
    fill(b, N);
    nn_add(a, b, o, N);
    for (int i = 0; i < N; i++)
        CHECK_NEAR(o[i], (double)a[i] + b[i], 1e-6);
    nn_mul(a, b, o, N);
    for (int i = 0; i < N; i++)
        CHECK_NEAR(o[i], (double)a[i] * b[i], 1e-6);
    float slope[4] = {0.25f, -0.5f, 2.0f, 0.0f};
    const nn_act acts[] = {{NN_ACT_RELU, 0, 0, 0, NULL, 0}, {NN_ACT_CLIP, 0, 6, 0, NULL, 0},
                           {NN_ACT_PRELU, 0, 0, 0, slope, 4}, {NN_ACT_PRELU, 0, 0, 0, slope, 1},
                           {NN_ACT_LEAKY, 0, 0, 0.2f, NULL, 0}, {NN_ACT_SIGMOID, 0, 0, 0, NULL, 0}};
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        float x[4 * 250];
        for (int i = 0; i < N; i++)
            x[i] = a[i] * 8.0f;
        nn_act_apply(x, 4, 250, &acts[k]);
        for (int i = 0; i < N; i++)
            if (!(fabs(x[i] - ref_act((double)a[i] * 8.0, &acts[k], i / 250)) <= 1e-6 * (1 + fabs(x[i])))) {
                CHECK_MSG(0, "activation %d at %d", (int)acts[k].kind, i);
                break;
            }
    }
    /* concat */
    float c1[2 * 6], c2[3 * 6], cat[5 * 6];
    fill(c1, 12);
    fill(c2, 18);
    nn_tensor t1 = nn_tensor_make(c1, 2, 2, 3), t2 = nn_tensor_make(c2, 3, 2, 3), to = nn_tensor_make(cat, 5, 2, 3);
    const nn_tensor *ins[2] = {&t1, &t2};
    nn_concat_c(ins, 2, &to);
    CHECK(memcmp(cat, c1, sizeof c1) == 0 && memcmp(cat + 12, c2, sizeof c2) == 0);
}

static void test_dense(void)
{
    int no = 37, ni = 129;
    float *w = malloc((size_t)no * ni * sizeof(float)), b[37], x[129], y[37];
    fill(w, (size_t)no * ni);
    fill(b, 37);
    fill(x, 129);
    for (int pass = 0; pass < 2; pass++) {
        nn_fc(w, pass ? b : NULL, no, ni, x, y);
        for (int o = 0; o < no; o++) {
            double s = pass ? b[o] : 0, m = 1;
            for (int i = 0; i < ni; i++) {
                s += (double)w[o * ni + i] * x[i];
                m += fabs((double)w[o * ni + i] * x[i]);
            }
            CHECK_NEAR(y[o], s, 1e-5 * m);
        }
    }
    free(w);
    /* gemm, with and without accumulate, 1 and 2 threads */
    int M = 70, Nn = 90, K = 50;
    float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * Nn * sizeof(float));
    float *C = malloc((size_t)M * Nn * sizeof(float)), *C0 = malloc((size_t)M * Nn * sizeof(float));
    fill(A, (size_t)M * K);
    fill(B, (size_t)K * Nn);
    fill(C0, (size_t)M * Nn);
    for (int acc = 0; acc < 2; acc++)
        for (int th = 1; th <= 2; th++) {
            memcpy(C, C0, (size_t)M * Nn * sizeof(float));
            nn_gemm(M, Nn, K, A, B, C, acc, th);
            double worst = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < Nn; j++) {
                    double s = acc ? C0[i * Nn + j] : 0, m = 1;
                    for (int k = 0; k < K; k++) {
                        s += (double)A[i * K + k] * B[k * Nn + j];
                        m += fabs((double)A[i * K + k] * B[k * Nn + j]);
                    }
                    double e = fabs(C[i * Nn + j] - s) / m;
                    worst = e > worst ? e : worst;
                }
            CHECK_MSG(worst <= 1e-5, "gemm acc=%d threads=%d worst %g", acc, th, worst);
        }
    free(A);
    free(B);
    free(C);
    free(C0);
}

static void test_softmax_transpose(void)
{
    /* softmax over the middle axis of [3][5][4] */
    float x[60], y[60];
    for (int i = 0; i < 60; i++)
        x[i] = frand() * 20.0f;
    memcpy(y, x, sizeof x);
    nn_softmax(y, 3, 5, 4);
    for (int o = 0; o < 3; o++)
        for (int in = 0; in < 4; in++) {
            double den = 0;
            for (int i = 0; i < 5; i++)
                den += exp((double)x[(o * 5 + i) * 4 + in]);
            for (int i = 0; i < 5; i++)
                CHECK_NEAR(y[(o * 5 + i) * 4 + in], exp((double)x[(o * 5 + i) * 4 + in]) / den, 1e-6);
        }
    /* transpose of a [2][3][4][5] tensor with perm (0, 2, 3, 1) and (3, 1, 0, 2) */
    float t[120], u[120];
    for (int i = 0; i < 120; i++)
        t[i] = (float)i;
    const int64_t dims[4] = {2, 3, 4, 5};
    const int perms[2][4] = {{0, 2, 3, 1}, {3, 1, 0, 2}};
    for (int p = 0; p < 2; p++) {
        nn_transpose(t, u, 4, dims, perms[p]);
        int64_t od[4];
        for (int i = 0; i < 4; i++)
            od[i] = dims[perms[p][i]];
        int bad = 0;
        for (int a = 0; a < od[0]; a++)
            for (int b2 = 0; b2 < od[1]; b2++)
                for (int c = 0; c < od[2]; c++)
                    for (int d = 0; d < od[3]; d++) {
                        int64_t idx[4] = {0};
                        idx[perms[p][0]] = a;
                        idx[perms[p][1]] = b2;
                        idx[perms[p][2]] = c;
                        idx[perms[p][3]] = d;
                        int64_t src = ((idx[0] * 3 + idx[1]) * 4 + idx[2]) * 5 + idx[3];
                        if (u[((a * od[1] + b2) * od[2] + c) * od[3] + d] != (float)src)
                            bad++;
                    }
        CHECK_MSG(bad == 0, "transpose perm %d: %d wrong", p, bad);
    }
}

static void test_resize(void)
{
    float in[2 * 4 * 5], out[2 * 7 * 3];
    fill(in, 40);
    nn_tensor ti = nn_tensor_make(in, 2, 4, 5), to = nn_tensor_make(out, 2, 7, 3);
    nn_resize(&ti, &to, NN_RESIZE_BILINEAR);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 3; x++) {
                /* half-pixel mapping, clamped at the borders */
                double fy = (y + 0.5) * 4.0 / 7.0 - 0.5, fx = (x + 0.5) * 5.0 / 3.0 - 0.5;
                if (fy < 0) fy = 0;
                if (fx < 0) fx = 0;
                int y0 = (int)fy, x0 = (int)fx;
                int y1 = y0 + 1 < 4 ? y0 + 1 : 3, x1 = x0 + 1 < 5 ? x0 + 1 : 4;
                double ay = fy - y0, ax = fx - x0;
                const float *p = in + c * 20;
                double r = (1 - ay) * ((1 - ax) * p[y0 * 5 + x0] + ax * p[y0 * 5 + x1]) +
                           ay * ((1 - ax) * p[y1 * 5 + x0] + ax * p[y1 * 5 + x1]);
                CHECK_NEAR(out[(c * 7 + y) * 3 + x], r, 1e-5);
            }
    nn_resize(&ti, &to, NN_RESIZE_NEAREST);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 3; x++)
                CHECK(out[(c * 7 + y) * 3 + x] == in[c * 20 + (y * 4 / 7) * 5 + (x * 5 / 3)]);
}

static void test_plan(void)
{
    for (int it = 0; it < 50; it++) {
        nn_plan p;
        nn_plan_init(&p);
        int n = irand(1, 40);
        for (int i = 0; i < n; i++) {
            int a = irand(0, 20), b = irand(0, 20);
            CHECK(nn_plan_add(&p, (size_t)irand(0, 5000), a < b ? a : b, a < b ? b : a) == i);
        }
        CHECK_STATUS(nn_plan_finish(&p, NULL), FM_OK);
        size_t sum = 0;
        for (int i = 0; i < n; i++) {
            const nn_plan_buf *x = &p.bufs[i];
            sum += x->floats;
            CHECK(x->offset % NN_ALIGN == 0 && x->offset + x->floats <= p.total);
            for (int j = i + 1; j < n; j++) {
                const nn_plan_buf *y = &p.bufs[j];
                int live = !(x->last < y->first || y->last < x->first);
                int mem = x->offset < y->offset + y->floats && y->offset < x->offset + x->floats;
                CHECK(!(live && mem));
            }
        }
        CHECK(p.total <= sum);
        nn_plan_free(&p);
    }
    nn_plan p;
    nn_plan_init(&p);
    CHECK(nn_plan_add(&p, NN_MAX_ELEMS + 1, 0, 1) == -1);
    CHECK_STATUS(nn_plan_finish(&p, NULL), FM_ERR_NO_MEMORY);
    nn_plan_free(&p);
    nn_arena a = {0};
    CHECK_STATUS(nn_arena_reserve(&a, 1000, NULL), FM_OK);
    float *base = a.base;
    CHECK(((uintptr_t)base & 63) == 0);
    CHECK_STATUS(nn_arena_reserve(&a, 500, NULL), FM_OK);
    CHECK(a.base == base); /* no reallocation when it fits */
    CHECK_STATUS(nn_arena_reserve(&a, SIZE_MAX / 2, NULL), FM_ERR_LIMIT);
    nn_arena_free(&a);
}

static void parallel_fill(void *arg, int b, int e)
{
    int *v = arg;
    for (int i = b; i < e; i++)
        v[i] += i + 1;
}

static void test_parallel_for(void)
{
    int v[1000];
    for (int t = 1; t <= 5; t++) {
        memset(v, 0, sizeof v);
        nn_parallel_for(t, 1000, parallel_fill, v);
        int ok = 1;
        for (int i = 0; i < 1000; i++)
            ok &= v[i] == i + 1;
        CHECK_MSG(ok, "threads=%d", t);
    }
}

int main(void)
{
    /* the convolution kernels once per instruction set: the portable baseline, AVX2 + FMA and AVX-512 where this CPU
     * has them (nn_conv_set_isa forces a layer's choice; the library picks nn_isa_best() by itself) */
    for (g_isa = NN_ISA_BASE; g_isa <= NN_ISA_AVX512; g_isa++) {
        if (g_isa > nn_isa_best()) {
            fprintf(stderr, "test_nn: this CPU lacks %s; those kernels were not tested\n",
                    g_isa == NN_ISA_AVX2 ? "AVX2 + FMA" : "AVX-512F");
            break;
        }
        RUN(test_conv_fixed_cases);
        RUN(test_conv_random);
        RUN(test_winograd);
        RUN(test_plan_input_taps);
    }
    RUN(test_resnet_isa);
    RUN(test_conv_invalid);
    RUN(test_bn_fold);
    RUN(test_pool);
    RUN(test_elementwise);
    RUN(test_dense);
    RUN(test_softmax_transpose);
    RUN(test_resize);
    RUN(test_plan);
    RUN(test_parallel_for);
    return test_finish();
}
