/* nn.c — kernels of the CNN runtime (see nn.h). */
#include "nn.h"

#include "internal.h"
#include "nn_priv.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { PATH_GEMM = 0, PATH_1X1 = 1, PATH_DW = 2 };

static void wg_filters(nn_conv *cv);
static size_t wg_scratch(const nn_conv *cv, int oh, int ow);
static void wg_forward(const nn_conv *cv, const nn_tensor *in, nn_tensor *out, float *scratch, int threads);

/* ---- SIMD via GCC/clang vector extensions --------------------------------------------------------------------
 * At -O2 GCC vectorises almost nothing (its "very cheap" cost model), and a scalar `x > 0 ? x : 0` on random data
 * mispredicts half its branches; these 4-float vectors are plain SSE on baseline x86-64 (NEON on arm64). No
 * fast-math: every lane computes exactly what the scalar code computes, in the same order. */
typedef float v8f __attribute__((vector_size(16))); /* 4 lanes: SSE, no ABI change without AVX */
typedef int v8i __attribute__((vector_size(16)));
#define VL 4
static inline v8f ld8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st8(float *p, v8f v) { memcpy(p, &v, sizeof v); }
static inline v8f splat8(float x)
{
    v8f v = {x, x, x, x};
    return v;
}
static inline v8f sel8(v8i m, v8f a, v8f b) { return (v8f)((m & (v8i)a) | (~m & (v8i)b)); }
/* lanes 0, 2, 4, 6 of the 8 floats a:b (stride-2 gather of contiguous data) */
#if defined(__clang__)
#define EVEN8(a, b) __builtin_shufflevector((a), (b), 0, 2, 4, 6)
#else
#define EVEN8(a, b) __builtin_shuffle((a), (b), (v8i){0, 2, 4, 6})
#endif

/* ---- threads ------------------------------------------------------------------------------------------------ */

typedef struct par_job {
    nn_range_fn fn;
    void *arg;
    int begin, end;
} par_job;

static void *par_main(void *p)
{
    par_job *j = p;
    j->fn(j->arg, j->begin, j->end);
    return NULL;
}

#define NN_MAX_THREADS 64

void nn_parallel_for(int threads, int n, nn_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (threads > NN_MAX_THREADS)
        threads = NN_MAX_THREADS;
    if (threads > n)
        threads = n;
    if (threads <= 1) {
        fn(arg, 0, n);
        return;
    }
    par_job jobs[NN_MAX_THREADS];
    pthread_t tid[NN_MAX_THREADS];
    int started[NN_MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        jobs[t].fn = fn;
        jobs[t].arg = arg;
        jobs[t].begin = (int)((int64_t)n * t / threads);
        jobs[t].end = (int)((int64_t)n * (t + 1) / threads);
        started[t] = 0;
    }
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, par_main, &jobs[t]) == 0;
    fn(arg, jobs[0].begin, jobs[0].end);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            fn(arg, jobs[t].begin, jobs[t].end); /* creation failed: run it here */
    }
}

/* ---- plan and arena ------------------------------------------------------------------------------------------ */

void nn_plan_init(nn_plan *p) { memset(p, 0, sizeof *p); }

void nn_plan_free(nn_plan *p)
{
    free(p->bufs);
    memset(p, 0, sizeof *p);
}

int nn_plan_add(nn_plan *p, size_t floats, int first, int last)
{
    if (p->n < 0 || floats > NN_MAX_ELEMS || first > last) {
        p->n = -1;
        return -1;
    }
    if (p->n == p->cap) {
        int nc = p->cap ? p->cap * 2 : 32;
        nn_plan_buf *nb = realloc(p->bufs, (size_t)nc * sizeof *nb);
        if (!nb) {
            p->n = -1;
            return -1;
        }
        p->bufs = nb;
        p->cap = nc;
    }
    nn_plan_buf *b = &p->bufs[p->n];
    b->floats = (floats + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
    if (b->floats == 0)
        b->floats = NN_ALIGN;
    b->first = first;
    b->last = last;
    b->offset = 0;
    p->finished = 0;
    return p->n++;
}

fm_status nn_plan_finish(nn_plan *p, fm_ctx *ctx)
{
    if (p->n < 0)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "nn: scratch plan failed (out of memory or buffer too large)");
    int n = p->n;
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    char *placed = calloc((size_t)(n ? n : 1), 1);
    if (!order || !placed) {
        free(order);
        free(placed);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "nn: out of memory planning scratch");
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    /* largest first (insertion sort; plans have at most a few hundred buffers) */
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && p->bufs[order[j]].floats < p->bufs[v].floats) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    size_t total = 0;
    for (int oi = 0; oi < n; oi++) {
        nn_plan_buf *b = &p->bufs[order[oi]];
        size_t off = 0;
        /* first fit: bump past every placed buffer that overlaps in time and in [off, off+size) until stable */
        for (int again = 1; again;) {
            again = 0;
            for (int k = 0; k < n; k++) {
                if (!placed[k])
                    continue;
                const nn_plan_buf *o = &p->bufs[k];
                if (o->last < b->first || o->first > b->last)
                    continue;
                if (off < o->offset + o->floats && o->offset < off + b->floats) {
                    off = o->offset + o->floats;
                    again = 1;
                }
            }
        }
        b->offset = off;
        placed[order[oi]] = 1;
        if (off + b->floats > total)
            total = off + b->floats;
        if (total > NN_MAX_ELEMS * 4) {
            free(order);
            free(placed);
            return fm_fail(ctx, FM_ERR_LIMIT, "nn: scratch plan needs %zu floats, over the limit", total);
        }
    }
    free(order);
    free(placed);
    p->total = total;
    p->finished = 1;
    return FM_OK;
}

fm_status nn_arena_reserve(nn_arena *a, size_t floats, fm_ctx *ctx)
{
    if (floats <= a->cap && a->base)
        return FM_OK;
    size_t bytes;
    if (fm_mul_size(floats ? floats : 1, sizeof(float), &bytes) || bytes > (SIZE_MAX - 63))
        return fm_fail(ctx, FM_ERR_LIMIT, "nn: arena of %zu floats is too large", floats);
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (!p)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "nn: cannot allocate %zu bytes of scratch", bytes);
    free(a->base);
    a->base = p;
    a->cap = floats;
    return FM_OK;
}

void nn_arena_free(nn_arena *a)
{
    free(a->base);
    a->base = NULL;
    a->cap = 0;
}

/* ---- activations ------------------------------------------------------------------------------------------------ */

/* y = act(x + bias) over n floats (bias 0 for plain activation) */
static void bias_act(float *x, size_t n, float bias, const nn_act *a, int ch)
{
    const v8f b8 = splat8(bias), z8 = splat8(0.0f);
    size_t i = 0;
    switch (a->kind) {
    case NN_ACT_NONE:
        if (bias == 0.0f)
            return;
        for (; i + VL <= n; i += VL)
            st8(x + i, ld8(x + i) + b8);
        for (; i < n; i++)
            x[i] += bias;
        return;
    case NN_ACT_RELU:
        for (; i + VL <= n; i += VL) {
            v8f v = ld8(x + i) + b8;
            st8(x + i, sel8(v > z8, v, z8));
        }
        for (; i < n; i++) {
            float v = x[i] + bias;
            x[i] = v > 0.0f ? v : 0.0f;
        }
        return;
    case NN_ACT_CLIP: {
        const float lo = a->lo, hi = a->hi;
        const v8f l8 = splat8(lo), h8 = splat8(hi);
        for (; i + VL <= n; i += VL) {
            v8f v = ld8(x + i) + b8;
            v = sel8(v < l8, l8, v);
            st8(x + i, sel8(v > h8, h8, v));
        }
        for (; i < n; i++) {
            float v = x[i] + bias;
            v = v < lo ? lo : v;
            x[i] = v > hi ? hi : v;
        }
        return;
    }
    case NN_ACT_PRELU:
    case NN_ACT_LEAKY: {
        const float sl = a->kind == NN_ACT_LEAKY ? a->alpha : (a->slope ? a->slope[a->slope_n == 1 ? 0 : ch] : 0.0f);
        const v8f s8 = splat8(sl);
        for (; i + VL <= n; i += VL) {
            v8f v = ld8(x + i) + b8;
            st8(x + i, sel8(v >= z8, v, v * s8));
        }
        for (; i < n; i++) {
            float v = x[i] + bias;
            x[i] = v >= 0.0f ? v : v * sl;
        }
        return;
    }
    case NN_ACT_SIGMOID:
        for (; i < n; i++)
            x[i] = 1.0f / (1.0f + expf(-(x[i] + bias)));
        return;
    }
}

static void act_plane(float *x, size_t n, const nn_act *a, int ch) { bias_act(x, n, 0.0f, a, ch); }

void nn_act_apply(float *x, int c, size_t plane, const nn_act *a)
{
    if (a->kind == NN_ACT_NONE)
        return;
    for (int ch = 0; ch < c; ch++)
        act_plane(x + (size_t)ch * plane, plane, a, ch);
}

/* bias + activation on one output plane (one pass), with the conv's instruction set */
static void epilogue_isa(float *x, size_t n, float bias, const nn_act *a, int ch, int isa)
{
#if NN_HAVE_AVX2_KERNELS
    if (isa >= NN_ISA_AVX2) {
        nn_bias_act_avx2(x, n, bias, a, ch);
        return;
    }
#else
    (void)isa;
#endif
    bias_act(x, n, bias, a, ch);
}

/* ---- conv2d ------------------------------------------------------------------------------------------------------ */

static int conv_desc_ok(const nn_conv_desc *d)
{
    if (d->in_c < 1 || d->out_c < 1 || d->kh < 1 || d->kw < 1 || d->stride_h < 1 || d->stride_w < 1 ||
        d->dil_h < 1 || d->dil_w < 1 || d->pad_t < 0 || d->pad_l < 0 || d->pad_b < 0 || d->pad_r < 0 ||
        d->groups < 1)
        return 0;
    if (d->in_c > NN_MAX_DIM || d->out_c > NN_MAX_DIM || d->kh > 1024 || d->kw > 1024 || d->stride_h > 1024 ||
        d->stride_w > 1024 || d->dil_h > 1024 || d->dil_w > 1024 || d->pad_t > 4096 || d->pad_l > 4096 ||
        d->pad_b > 4096 || d->pad_r > 4096 || d->groups > NN_MAX_DIM)
        return 0;
    if (d->in_c % d->groups || d->out_c % d->groups)
        return 0;
    size_t wsz = (size_t)d->out_c * (size_t)(d->in_c / d->groups) * (size_t)d->kh * (size_t)d->kw;
    return wsz <= NN_MAX_ELEMS;
}

fm_status nn_conv_init(nn_conv *cv, const nn_conv_desc *d, const float *weights, const float *bias, fm_ctx *ctx)
{
    memset(cv, 0, sizeof *cv);
    if (!d || !weights || !conv_desc_ok(d))
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "nn: invalid convolution geometry");
    cv->d = *d;
    size_t wsz = (size_t)d->out_c * (size_t)(d->in_c / d->groups) * (size_t)d->kh * (size_t)d->kw;
    cv->w = malloc(wsz * sizeof(float));
    cv->b = calloc((size_t)d->out_c, sizeof(float));
    if (!cv->w || !cv->b) {
        nn_conv_free(cv);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "nn: out of memory for convolution weights");
    }
    memcpy(cv->w, weights, wsz * sizeof(float));
    if (bias)
        memcpy(cv->b, bias, (size_t)d->out_c * sizeof(float));
    if (d->groups == 1 && d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_t == 0 &&
        d->pad_l == 0 && d->pad_b == 0 && d->pad_r == 0)
        cv->path = PATH_1X1;
    else if (d->groups == d->in_c && d->groups == d->out_c && d->kh <= 64)
        cv->path = PATH_DW;
    else
        cv->path = PATH_GEMM;
    cv->act.kind = NN_ACT_NONE;
    cv->isa = nn_isa_best();
    return FM_OK;
}

int nn_isa_best(void)
{
    return nn_cpu_has_avx512() ? NN_ISA_AVX512 : nn_cpu_has_avx2() ? NN_ISA_AVX2 : NN_ISA_BASE;
}

void nn_conv_set_isa(nn_conv *cv, int isa)
{
    const int best = nn_isa_best();
    cv->isa = isa < NN_ISA_BASE ? NN_ISA_BASE : isa > best ? best : isa;
    if (cv->sub)
        nn_conv_set_isa(cv->sub, isa);
}

void nn_conv_free(nn_conv *cv)
{
    if (!cv)
        return;
    if (cv->sub) {
        nn_conv_free(cv->sub);
        free(cv->sub);
    }
    free(cv->w);
    free(cv->b);
    free(cv->slope);
    free(cv->wu);
    memset(cv, 0, sizeof *cv);
}

fm_status nn_conv_set_act(nn_conv *cv, const nn_act *a, fm_ctx *ctx)
{
    free(cv->slope);
    cv->slope = NULL;
    cv->act = *a;
    if (a->kind == NN_ACT_PRELU) {
        if (!a->slope || (a->slope_n != 1 && a->slope_n != cv->d.out_c))
            return fm_fail(ctx, FM_ERR_MODEL_INVALID, "nn: PReLU slope count %d does not match %d channels",
                           a->slope_n, cv->d.out_c);
        cv->slope = malloc((size_t)a->slope_n * sizeof(float));
        if (!cv->slope)
            return fm_fail(ctx, FM_ERR_NO_MEMORY, "nn: out of memory");
        memcpy(cv->slope, a->slope, (size_t)a->slope_n * sizeof(float));
        cv->act.slope = cv->slope;
    } else {
        cv->act.slope = NULL;
    }
    return cv->sub ? nn_conv_set_act(cv->sub, a, ctx) : FM_OK;
}

void nn_conv_fold_affine(nn_conv *cv, const float *scale, const float *shift)
{
    size_t per = (size_t)(cv->d.in_c / cv->d.groups) * (size_t)cv->d.kh * (size_t)cv->d.kw;
    for (int o = 0; o < cv->d.out_c; o++) {
        float s = scale ? scale[o] : 1.0f;
        float *w = cv->w + (size_t)o * per;
        for (size_t i = 0; i < per; i++)
            w[i] *= s;
        cv->b[o] = cv->b[o] * s + (shift ? shift[o] : 0.0f);
    }
    if (cv->wino_m)
        wg_filters(cv);
    if (cv->sub)
        nn_conv_fold_affine(cv->sub, scale, shift);
}

void nn_bn_to_affine(int c, const float *gamma, const float *beta, const float *mean, const float *var, float eps,
                     float *scale, float *shift)
{
    for (int i = 0; i < c; i++) {
        float s = gamma[i] / sqrtf(var[i] + eps);
        scale[i] = s;
        shift[i] = beta[i] - mean[i] * s;
    }
}

static int out_dim(int in, int pad0, int pad1, int k, int dil, int stride, int ceil_mode, int *out)
{
    int64_t eff = (int64_t)dil * (k - 1) + 1;
    int64_t span = (int64_t)in + pad0 + pad1 - eff;
    if (span < 0)
        return -1;
    int64_t o = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
    if (ceil_mode && (o - 1) * stride >= (int64_t)in + pad0)
        o--; /* the last window must start inside the input or the leading padding */
    if (o < 1 || o > NN_MAX_DIM)
        return -1;
    *out = (int)o;
    return 0;
}

int nn_conv_out_hw(const nn_conv *cv, int in_h, int in_w, int *out_h, int *out_w)
{
    const nn_conv_desc *d = &cv->d;
    if (in_h < 1 || in_w < 1 || in_h > NN_MAX_DIM || in_w > NN_MAX_DIM)
        return -1;
    int oh, ow;
    if (out_dim(in_h, d->pad_t, d->pad_b, d->kh, d->dil_h, d->stride_h, 0, &oh) ||
        out_dim(in_w, d->pad_l, d->pad_r, d->kw, d->dil_w, d->stride_w, 0, &ow))
        return -1;
    if ((size_t)oh * (size_t)ow * (size_t)d->out_c > NN_MAX_ELEMS)
        return -1;
    *out_h = oh;
    *out_w = ow;
    return 0;
}

/* Output rows per im2col block: the block of the column matrix (K x rows*ow) is kept near 256 KB so that it is still
 * in cache when sgemm reads it. */
static int im2col_rows(const nn_conv_desc *d, int oh, int ow)
{
    size_t k = (size_t)(d->in_c / d->groups) * (size_t)d->kh * (size_t)d->kw;
    size_t per_row = k * (size_t)ow;
    size_t rb = per_row ? 65536 / per_row : 1;
    if (rb < 1)
        rb = 1;
    if (rb > (size_t)oh)
        rb = (size_t)oh;
    return (int)rb;
}

size_t nn_conv_scratch(const nn_conv *cv, int in_h, int in_w, int threads)
{
    (void)threads;
    if (cv->sub && in_h == cv->sub_h && in_w == cv->sub_w)
        return nn_conv_scratch(cv->sub, in_h, in_w, threads);
    if (cv->path != PATH_GEMM)
        return 0;
    int oh, ow;
    if (nn_conv_out_hw(cv, in_h, in_w, &oh, &ow))
        return 0;
    if (cv->wino_m)
        return wg_scratch(cv, oh, ow);
    const nn_conv_desc *d = &cv->d;
    return (size_t)(d->in_c / d->groups) * (size_t)d->kh * (size_t)d->kw * (size_t)im2col_rows(d, oh, ow) *
           (size_t)ow;
}

/* im2col for channels [c0, c0 + nc) of `in` and output rows [oy0, oy1):
 * col[(c*kh + ky)*kw + kx][(oy - oy0)*ow + ox] */
static void im2col(const nn_conv_desc *d, const nn_tensor *in, int c0, int nc, int oy0, int oy1, int ow, float *col)
{
    const int H = in->h, W = in->w;
    const int oh = oy1 - oy0;
    size_t opl = (size_t)oh * (size_t)ow;
    for (int c = 0; c < nc; c++) {
        const float *src = in->data + (size_t)(c0 + c) * (size_t)H * (size_t)W;
        for (int ky = 0; ky < d->kh; ky++) {
            for (int kx = 0; kx < d->kw; kx++) {
                float *dst = col + ((size_t)(c * d->kh + ky) * (size_t)d->kw + (size_t)kx) * opl;
                const int xoff = kx * d->dil_w - d->pad_l;
                /* valid ox: 0 <= ox*s + xoff < W */
                int ox_lo = 0, ox_hi = ow; /* [lo, hi) */
                if (xoff < 0)
                    ox_lo = (-xoff + d->stride_w - 1) / d->stride_w;
                if (ox_lo > ow)
                    ox_lo = ow;
                {
                    int64_t lim = (int64_t)W - 1 - xoff; /* ox*s <= lim */
                    int hi = lim < 0 ? 0 : (int)(lim / d->stride_w) + 1;
                    if (hi < ox_hi)
                        ox_hi = hi;
                    if (ox_hi < ox_lo)
                        ox_hi = ox_lo;
                }
                for (int oy = oy0; oy < oy1; oy++) {
                    float *drow = dst + (size_t)(oy - oy0) * (size_t)ow;
                    int iy = oy * d->stride_h + ky * d->dil_h - d->pad_t;
                    if (iy < 0 || iy >= H) {
                        memset(drow, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *srow = src + (size_t)iy * (size_t)W;
                    for (int ox = 0; ox < ox_lo; ox++)
                        drow[ox] = 0.0f;
                    if (d->stride_w == 1) {
                        memcpy(drow + ox_lo, srow + ox_lo + xoff, (size_t)(ox_hi - ox_lo) * sizeof(float));
                    } else {
                        const int s = d->stride_w;
                        int ox = ox_lo;
                        if (s == 2) /* vector gather of the even elements while 2 * VL reads stay in the row */
                            for (; ox + VL <= ox_hi && 2 * (ox + VL - 1) + xoff + 1 < W; ox += VL) {
                                const float *q = srow + (2 * ox + xoff);
                                st8(drow + ox, EVEN8(ld8(q), ld8(q + VL)));
                            }
                        for (; ox < ox_hi; ox++)
                            drow[ox] = srow[ox * s + xoff];
                    }
                    for (int ox = ox_hi; ox < ow; ox++)
                        drow[ox] = 0.0f;
                }
            }
        }
    }
}

/* C = A B (row-major, beta 0) with the conv's instruction set: our AVX-512 kernel, else OpenBLAS */
static void sgemm_isa(int isa, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
#if NN_HAVE_AVX2_KERNELS
    if (isa >= NN_ISA_AVX512) {
        nn_sgemm_avx512(m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
    if (isa >= NN_ISA_AVX2) {
        nn_sgemm_avx2(m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
#else
    (void)isa;
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

typedef struct gemm_job {
    const nn_conv *cv;
    const float *w;   /* rows of the current group */
    const float *col; /* K x n, row stride ldb */
    float *out;       /* rows x n, row stride ldc */
    int k, n;
    int ch0;          /* first output channel of the group */
    int ldb, ldc;
} gemm_job;

static void gemm_rows(void *arg, int begin, int end)
{
    gemm_job *j = arg;
    int m = end - begin;
    if (m <= 0)
        return;
    /* column blocks small enough that the block of C is still in cache for the bias/activation pass */
    int nb = 65536 / m;
    nb = nb < 512 ? 512 : (nb + 15) / 16 * 16;
    for (int c0 = 0; c0 < j->n; c0 += nb) {
        int nc = j->n - c0 < nb ? j->n - c0 : nb;
        float *cblk = j->out + (size_t)begin * (size_t)j->ldc + (size_t)c0;
        sgemm_isa(j->cv->isa, m, nc, j->k, j->w + (size_t)begin * (size_t)j->k, j->k, j->col + c0, j->ldb, cblk,
                  j->ldc);
        for (int r = 0; r < m; r++)
            epilogue_isa(cblk + (size_t)r * (size_t)j->ldc, (size_t)nc, j->cv->b[j->ch0 + begin + r], &j->cv->act,
                         j->ch0 + begin + r, j->cv->isa);
    }
}

/* rows per thread chunk must be big enough to be worth a thread */
static int gemm_threads(int threads, int m, int n, int k)
{
    if (threads <= 1)
        return 1;
    double flops = 2.0 * m * (double)n * k;
    if (flops < 2e6)
        return 1;
    return threads;
}

/* ---- Winograd F(m x m, 3x3) --------------------------------------------------------------------------------------
 * Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): for every n x n input tile d
 * (n = m + 2, tiles step by m) and every 3x3 filter g, Y = A^T [ (G g G^T) . (B^T d B) ] A gives the m x m outputs of
 * the correlation. Summed over input channels the element-wise products become (m+2)^2 independent GEMMs
 * M_p[K x T] = U_p[K x C] * V_p[C x T] (T tiles), each one GEMM (sgemm_isa). Matrices (points 0, -1, 1 for m = 2;
 * 0, 1, -1, 2, -2 and infinity for m = 4):
 *   m = 2: B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *          A^T = [1 1 1 0; 0 1 -1 -1]
 *   m = 4: B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
 *          G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
 *          A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * Filters are transformed once (in double). Input and output transforms work on 4 tiles at a time (one vector lane
 * per tile; 8 in nn_avx2.c for AVX2 layers) on a tile row; the image is processed in bands of tile rows so that the transformed input V and the GEMM
 * output M stay in cache. Each value is computed by the same operations whatever the thread split (threads take
 * channels in the transforms and whole GEMMs). */

#define WG_BAND_FLOATS ((size_t)1 << 18) /* V + M of one band: 1 MB */

static int wg_eligible(const nn_conv_desc *d)
{
    return d->groups == 1 && d->kh == 3 && d->kw == 3 && d->stride_h == 1 && d->stride_w == 1 && d->dil_h == 1 &&
           d->dil_w == 1 && d->pad_t <= 2 && d->pad_l <= 2 && d->pad_b <= 2 && d->pad_r <= 2;
}

/* y = B^T x over n = m + 2 vectors (x and y with strides in vectors) */
static inline void wg_bt(int m, const v8f *x, int xs, v8f *y, int ys)
{
    if (m == 4) {
        const v8f d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs], d4 = x[4 * xs], d5 = x[5 * xs];
        const v8f c2 = splat8(2.0f), c4 = splat8(4.0f), c5 = splat8(5.0f);
        const v8f p = d4 - c4 * d2, q = d3 - c4 * d1, r = d4 - d2, s = c2 * (d3 - d1);
        y[0] = c4 * d0 - c5 * d2 + d4;
        y[ys] = p + q;
        y[2 * ys] = p - q;
        y[3 * ys] = r + s;
        y[4 * ys] = r - s;
        y[5 * ys] = c4 * d1 - c5 * d3 + d5;
    } else {
        const v8f d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs];
        y[0] = d0 - d2;
        y[ys] = d1 + d2;
        y[2 * ys] = d2 - d1;
        y[3 * ys] = d1 - d3;
    }
}

/* y = A^T x: n vectors in, m out */
static inline void wg_at(int m, const v8f *x, int xs, v8f *y, int ys)
{
    if (m == 4) {
        const v8f m0 = x[0], m1 = x[xs], m2 = x[2 * xs], m3 = x[3 * xs], m4 = x[4 * xs], m5 = x[5 * xs];
        const v8f a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
        y[0] = m0 + a + c;
        y[ys] = b + splat8(2.0f) * e;
        y[2 * ys] = a + splat8(4.0f) * c;
        y[3 * ys] = b + splat8(8.0f) * e + m5;
    } else {
        const v8f m0 = x[0], m1 = x[xs], m2 = x[2 * xs], m3 = x[3 * xs];
        y[0] = m0 + m1 + m2;
        y[ys] = m1 - m2 - m3;
    }
}

/* U[p][k][c] = (G g_kc G^T)[p] */
static void wg_filters(nn_conv *cv)
{
    static const double G2[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
    static const double G4[6][3] = {{1. / 4, 0, 0},          {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                    {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
    const int m = cv->wino_m, n = m + 2, C = cv->d.in_c, K = cv->d.out_c;
    const double(*G)[3] = m == 2 ? G2 : G4;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            const float *g = cv->w + ((size_t)k * (size_t)C + (size_t)c) * 9;
            double t[6][3];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    cv->wu[(((size_t)(i * n + j)) * (size_t)K + (size_t)k) * (size_t)C + (size_t)c] =
                        (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
}

fm_status nn_conv_set_winograd(nn_conv *cv, int m, fm_ctx *ctx)
{
    if (m == 0) {
        free(cv->wu);
        cv->wu = NULL;
        cv->wino_m = 0;
        return FM_OK;
    }
    if ((m != 2 && m != 4) || !wg_eligible(&cv->d))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "nn: Winograd F(%d,3) needs a dense 3x3 stride-1 convolution",
                       m);
    size_t n2 = (size_t)(m + 2) * (size_t)(m + 2), sz;
    if (fm_mul_size(n2 * (size_t)cv->d.in_c, (size_t)cv->d.out_c, &sz) || sz > NN_MAX_ELEMS)
        return fm_fail(ctx, FM_ERR_LIMIT, "nn: Winograd filters too large");
    float *u = malloc(sz * sizeof(float));
    if (!u)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "nn: out of memory for Winograd filters");
    free(cv->wu);
    cv->wu = u;
    cv->wino_m = m;
    if (cv->sub) { /* Winograd runs every input size itself */
        nn_conv_free(cv->sub);
        free(cv->sub);
        cv->sub = NULL;
    }
    wg_filters(cv);
    return FM_OK;
}

#if defined(__clang__)
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shufflevector((a), (b), i0, i1, i2, i3)
#else
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shuffle((a), (b), (v8i){i0, i1, i2, i3})
#endif

/* 4x4 transpose: r[k] lane l = a[l] lane k */
static inline void tr4(v8f a0, v8f a1, v8f a2, v8f a3, v8f *r)
{
    const v8f t0 = SHUF4(a0, a1, 0, 4, 1, 5), t1 = SHUF4(a2, a3, 0, 4, 1, 5);
    const v8f t2 = SHUF4(a0, a1, 2, 6, 3, 7), t3 = SHUF4(a2, a3, 2, 6, 3, 7);
    r[0] = SHUF4(t0, t1, 0, 1, 4, 5);
    r[1] = SHUF4(t0, t1, 2, 3, 6, 7);
    r[2] = SHUF4(t2, t3, 0, 1, 4, 5);
    r[3] = SHUF4(t2, t3, 2, 3, 6, 7);
}

/* d[k] lane l = p[l * m + k], k < m + 2: the n values of 4 consecutive tiles of one staged row, one lane per tile
 * (reads p[0 .. 4m + 3]) */
static inline __attribute__((always_inline)) void wg_gather(const int m, const float *p, v8f *d)
{
    if (m == 4) {
        const v8f a0 = ld8(p), a1 = ld8(p + 4), a2 = ld8(p + 8), a3 = ld8(p + 12), a4 = ld8(p + 16);
        tr4(a0, a1, a2, a3, d);
        const v8f t0 = SHUF4(a1, a2, 0, 4, 1, 5), t1 = SHUF4(a3, a4, 0, 4, 1, 5);
        d[4] = SHUF4(t0, t1, 0, 1, 4, 5);
        d[5] = SHUF4(t0, t1, 2, 3, 6, 7);
    } else {
        const v8f a0 = ld8(p), a1 = ld8(p + 4), b0 = ld8(p + 2), b1 = ld8(p + 6);
        d[0] = SHUF4(a0, a1, 0, 2, 4, 6);
        d[1] = SHUF4(a0, a1, 1, 3, 5, 7);
        d[2] = SHUF4(b0, b1, 0, 2, 4, 6);
        d[3] = SHUF4(b0, b1, 1, 3, 5, 7);
    }
}

void nn_wg_stage_rows(const wg_job *j, const float *src, int tr, int tx0, int nt, int span, float (*rbuf)[WG_ROWBUF])
{
    const nn_conv_desc *d = &j->cv->d;
    const int m = j->m, n = m + 2, H = j->in->h, W = j->in->w;
    const int x0 = tx0 * m - d->pad_l; /* input column of rbuf[.][0] */
    for (int i = 0; i < n; i++) {
        float *row = rbuf[i];
        const int iy = tr * m - d->pad_t + i;
        int lo = x0 < 0 ? -x0 : 0, hi = nt * m + 2; /* rbuf indices [lo, hi) that map into the row */
        if (x0 + hi > W)
            hi = W - x0;
        if (iy < 0 || iy >= H || hi <= lo) {
            memset(row, 0, (size_t)span * sizeof(float));
            continue;
        }
        memset(row, 0, (size_t)lo * sizeof(float));
        memcpy(row + lo, src + (size_t)iy * (size_t)W + (x0 + lo), (size_t)(hi - lo) * sizeof(float));
        if (span > hi)
            memset(row + hi, 0, (size_t)(span - hi) * sizeof(float));
    }
}

/* input transform of channels [begin, end) for the band */
static inline __attribute__((always_inline)) void wg_input_m(const int m, const wg_job *j, int begin, int end)
{
    const nn_conv_desc *d = &j->cv->d;
    const int n = m + 2, H = j->in->h, W = j->in->w, C = d->in_c;
    const size_t ps = j->tb; /* V is [C][n*n][tb]: stride between transform positions */
    (void)C;
    float rbuf[6][WG_ROWBUF];
    v8f t[6][6], y[6];
    for (int c = begin; c < end; c++) {
        const float *src = j->in->data + (size_t)c * (size_t)H * (size_t)W;
        for (int r = 0; r < j->nb; r++) {
            const int tr = j->tr0 + r;
            for (int tx0 = 0; tx0 < j->TW; tx0 += WG_CHUNK) {
                const int nt = j->TW - tx0 < WG_CHUNK ? j->TW - tx0 : WG_CHUNK;
                const int ngrp = (nt + VL - 1) / VL, span = ngrp * VL * m + VL; /* floats read per row */
                nn_wg_stage_rows(j, src, tr, tx0, nt, span, rbuf);
                float *vbase = j->V + (size_t)c * (size_t)(n * n) * j->tb + (size_t)r * (size_t)j->TW + (size_t)tx0;
                for (int q = 0; q < nt; q += VL) {
                    for (int i = 0; i < n; i++) {
                        v8f dv[6];
                        wg_gather(m, rbuf[i] + q * m, dv);
                        wg_bt(m, dv, 1, t[i], 1);
                    }
                    /* a partial group spills into the next tile row (written after this one) or into the
                     * columns past the band's tiles: every column < tb is written, whole vectors only */
                    for (int k = 0; k < n; k++) {
                        wg_bt(m, &t[0][k], 6, y, 1);
                        for (int a = 0; a < n; a++)
                            st8(vbase + (size_t)(a * n + k) * ps + (size_t)q, y[a]);
                    }
                }
            }
        }
    }
}

static void wg_input2(void *arg, int begin, int end) { wg_input_m(2, arg, begin, end); }
static void wg_input4(void *arg, int begin, int end) { wg_input_m(4, arg, begin, end); }

static void wg_gemms(void *arg, int begin, int end)
{
    const wg_job *j = arg;
    const int C = j->cv->d.in_c, K = j->cv->d.out_c, T = (int)j->tb;
    const int ld = j->n * j->n * T; /* V is [C][n*n][tb], M is [K][n*n][tb] */
    for (int p = begin; p < end; p++)
        sgemm_isa(j->cv->isa, K, T, C, j->cv->wu + (size_t)p * K * C, C, j->V + (size_t)p * j->tb, ld,
                  j->M + (size_t)p * j->tb, ld);
}

/* output transform + bias + activation of output channels [begin, end) for the band */
/* bias + activation on one vector, exactly as bias_act computes each lane */
static inline v8f act8(v8f v, float bias, const nn_act *a, int ch)
{
    const v8f z = splat8(0.0f);
    v = v + splat8(bias);
    switch (a->kind) {
    case NN_ACT_NONE:
        return v;
    case NN_ACT_RELU:
        return sel8(v > z, v, z);
    case NN_ACT_CLIP: {
        const v8f l8 = splat8(a->lo), h8 = splat8(a->hi);
        v = sel8(v < l8, l8, v);
        return sel8(v > h8, h8, v);
    }
    case NN_ACT_PRELU:
    case NN_ACT_LEAKY: {
        const float sl = a->kind == NN_ACT_LEAKY ? a->alpha : (a->slope ? a->slope[a->slope_n == 1 ? 0 : ch] : 0.0f);
        return sel8(v >= z, v, v * splat8(sl));
    }
    case NN_ACT_SIGMOID:
        for (int l = 0; l < VL; l++)
            v[l] = 1.0f / (1.0f + expf(-v[l]));
        return v;
    }
    return v;
}

/* output transform + bias + activation of output channels [begin, end) for the band: whole 4-tile groups are
 * stored straight into the output, the group at the right edge and the tile row at the bottom go through obuf */
static inline __attribute__((always_inline)) void wg_output_m(const int m, const wg_job *j, int begin, int end)
{
    const int n = m + 2, OH = j->out->h, OW = j->out->w;
    const size_t ps = j->tb; /* M is [K][n*n][tb] */
    float obuf[4][4 * 4];
    v8f mm[6][6], s[4][6], o[4];
    for (int k = begin; k < end; k++) {
        float *dst = j->out->data + (size_t)k * (size_t)OH * (size_t)OW;
        const float bias = j->cv->b[k];
        for (int r = 0; r < j->nb; r++) {
            const int tr = j->tr0 + r, rows = OH - tr * m < m ? OH - tr * m : m;
            for (int tx0 = 0; tx0 < j->TW; tx0 += WG_CHUNK) {
                const int nt = j->TW - tx0 < WG_CHUNK ? j->TW - tx0 : WG_CHUNK;
                const float *mbase = j->M + (size_t)k * (size_t)(n * n) * j->tb + (size_t)r * (size_t)j->TW +
                                     (size_t)tx0;
                for (int q = 0; q < nt; q += VL) {
                    /* lanes past nt read finite values of the next row / the padding columns; dropped below */
                    for (int i = 0; i < n; i++)
                        for (int c = 0; c < n; c++)
                            mm[i][c] = ld8(mbase + (size_t)(i * n + c) * ps + (size_t)q);
                    for (int c = 0; c < n; c++)
                        wg_at(m, &mm[0][c], 6, &s[0][c], 6);
                    const int ox = (tx0 + q) * m, cols = OW - ox < VL * m ? OW - ox : VL * m;
                    const int direct = cols == VL * m && rows == m;
                    for (int a = 0; a < rows; a++) {
                        wg_at(m, s[a], 1, o, 1);
                        for (int b = 0; b < m; b++)
                            o[b] = act8(o[b], bias, &j->cv->act, k);
                        float *ob = direct ? dst + (size_t)(tr * m + a) * (size_t)OW + (size_t)ox : obuf[a];
                        if (m == 4) {
                            v8f tt[4];
                            tr4(o[0], o[1], o[2], o[3], tt);
                            st8(ob, tt[0]);
                            st8(ob + 4, tt[1]);
                            st8(ob + 8, tt[2]);
                            st8(ob + 12, tt[3]);
                        } else {
                            st8(ob, SHUF4(o[0], o[1], 0, 4, 1, 5));
                            st8(ob + 4, SHUF4(o[0], o[1], 2, 6, 3, 7));
                        }
                    }
                    if (!direct)
                        for (int a = 0; a < rows; a++)
                            memcpy(dst + (size_t)(tr * m + a) * (size_t)OW + (size_t)ox, obuf[a],
                                   (size_t)cols * sizeof(float));
                }
            }
        }
    }
}

static void wg_output2(void *arg, int begin, int end) { wg_output_m(2, arg, begin, end); }
static void wg_output4(void *arg, int begin, int end) { wg_output_m(4, arg, begin, end); }
#if NN_HAVE_AVX2_KERNELS
static void wg_input_v8(void *arg, int begin, int end) { nn_wg_input_avx2(arg, begin, end); }
static void wg_output_v8(void *arg, int begin, int end) { nn_wg_output_avx2(arg, begin, end); }
#else
#define wg_input_v8 wg_input4 /* never chosen: nn_conv.isa is NN_ISA_BASE without the AVX2 kernels */
#define wg_output_v8 wg_output4
#endif

/* tiles per vector of the transforms a conv runs */
static int wg_lanes(const nn_conv *cv) { return cv->isa >= NN_ISA_AVX2 ? 8 : VL; }

/* columns of a band of nb tile rows (see wg_job.tb) */
static size_t wg_cols(int nb, int TW, int lanes)
{
    const int last = (TW - 1) / WG_CHUNK * WG_CHUNK, ntl = TW - last;
    return (size_t)(nb - 1) * (size_t)TW + (size_t)last + (size_t)((ntl + lanes - 1) / lanes * lanes);
}

/* tile rows per band */
static int wg_band(const nn_conv *cv, int TH, int TW)
{
    const size_t n2 = (size_t)(cv->wino_m + 2) * (size_t)(cv->wino_m + 2);
    size_t per_row = n2 * (size_t)(cv->d.in_c + cv->d.out_c) * (size_t)TW;
    size_t tb = WG_BAND_FLOATS / per_row;
    if (tb < 1)
        tb = 1;
    if (tb > (size_t)TH)
        tb = (size_t)TH;
    return (int)tb;
}

static size_t wg_scratch(const nn_conv *cv, int oh, int ow)
{
    const int m = cv->wino_m, TH = (oh + m - 1) / m, TW = (ow + m - 1) / m;
    const size_t n2 = (size_t)(m + 2) * (size_t)(m + 2);
    return n2 * (size_t)(cv->d.in_c + cv->d.out_c) * wg_cols(wg_band(cv, TH, TW), TW, wg_lanes(cv));
}

static void wg_forward(const nn_conv *cv, const nn_tensor *in, nn_tensor *out, float *scratch, int threads)
{
    const int m = cv->wino_m, n = m + 2, C = cv->d.in_c, K = cv->d.out_c;
    const int TH = (out->h + m - 1) / m, TW = (out->w + m - 1) / m;
    const int tb = wg_band(cv, TH, TW);
    for (int tr0 = 0; tr0 < TH; tr0 += tb) {
        const int nb = TH - tr0 < tb ? TH - tr0 : tb;
        wg_job j = {cv, in, out, m, n, TW, tr0, nb, wg_cols(nb, TW, wg_lanes(cv)), NULL, NULL};
        j.V = scratch;
        j.M = scratch + (size_t)n * (size_t)n * (size_t)C * j.tb;
        const double work = (double)n * n * (double)j.tb * (double)(C > K ? C : K);
        const int tt = threads > 1 && work >= 2e5 ? threads : 1;
        const int avx2 = NN_HAVE_AVX2_KERNELS && cv->isa >= NN_ISA_AVX2;
        nn_parallel_for(tt, C, avx2 ? wg_input_v8 : m == 4 ? wg_input4 : wg_input2, &j);
        nn_parallel_for(gemm_threads(threads, K, (int)j.tb * n * n, C), n * n, wg_gemms, &j);
        nn_parallel_for(tt, K, avx2 ? wg_output_v8 : m == 4 ? wg_output4 : wg_output2, &j);
    }
}

/* Kernel choice for an oh x ow output (see nn_conv_plan_input). */
static int wg_choose(const nn_conv_desc *d, int oh, int ow)
{
    (void)d;
    long t4 = (long)((oh + 3) / 4) * ((ow + 3) / 4), t2 = (long)((oh + 1) / 2) * ((ow + 1) / 2);
    if (t4 >= 16)
        return 4;
    if (t2 >= 16)
        return 2;
    return 0;
}

/* [lo, hi] = the kernel taps along one axis that meet the input for some output position (lo > hi: none) */
static void live_taps(int in, int out, int k, int stride, int dil, int pad, int *lo, int *hi)
{
    *lo = k;
    *hi = -1;
    for (int t = 0; t < k; t++) {
        /* some o in [0, out) with 0 <= o * stride + t * dil - pad < in */
        int64_t first = (int64_t)t * dil - pad, last = first + (int64_t)(out - 1) * stride;
        int live = 0;
        if (last >= 0 && first < in) {
            int64_t o = first >= 0 ? 0 : (-first + stride - 1) / stride; /* first o with a non-negative index */
            live = o < out && first + o * stride < in;
        }
        if (live) {
            if (t < *lo)
                *lo = t;
            *hi = t;
        }
    }
}

/* Sets up cv->sub: cv restricted to its live taps for an in_h x in_w input (see nn_conv_plan_input). */
static fm_status plan_sub(nn_conv *cv, int in_h, int in_w, int oh, int ow, fm_ctx *ctx)
{
    const nn_conv_desc *d = &cv->d;
    int y0, y1, x0, x1;
    live_taps(in_h, oh, d->kh, d->stride_h, d->dil_h, d->pad_t, &y0, &y1);
    live_taps(in_w, ow, d->kw, d->stride_w, d->dil_w, d->pad_l, &x0, &x1);
    if (y0 > y1 || x0 > x1 || (y0 == 0 && y1 == d->kh - 1 && x0 == 0 && x1 == d->kw - 1))
        return FM_OK; /* nothing to cut */
    nn_conv_desc s = *d;
    s.kh = y1 - y0 + 1;
    s.kw = x1 - x0 + 1;
    s.pad_t = d->pad_t - y0 * d->dil_h;
    s.pad_b = d->pad_b - (d->kh - 1 - y1) * d->dil_h;
    s.pad_l = d->pad_l - x0 * d->dil_w;
    s.pad_r = d->pad_r - (d->kw - 1 - x1) * d->dil_w;
    if (s.pad_t < 0 || s.pad_b < 0 || s.pad_l < 0 || s.pad_r < 0)
        return FM_OK; /* would need an input offset: keep the full kernel */
    const int icg = d->in_c / d->groups;
    const size_t per = (size_t)s.kh * (size_t)s.kw;
    float *w = malloc((size_t)d->out_c * (size_t)icg * per * sizeof(float));
    nn_conv *sub = calloc(1, sizeof *sub);
    fm_status st = w && sub ? FM_OK : fm_fail(ctx, FM_ERR_NO_MEMORY, "nn: out of memory for a reduced convolution");
    if (st == FM_OK) {
        for (size_t oc = 0; oc < (size_t)d->out_c * (size_t)icg; oc++)
            for (int ky = 0; ky < s.kh; ky++)
                for (int kx = 0; kx < s.kw; kx++)
                    w[oc * per + (size_t)ky * (size_t)s.kw + (size_t)kx] =
                        cv->w[(oc * (size_t)d->kh + (size_t)(y0 + ky)) * (size_t)d->kw + (size_t)(x0 + kx)];
        st = nn_conv_init(sub, &s, w, cv->b, ctx);
    }
    if (st == FM_OK)
        st = nn_conv_set_act(sub, &cv->act, ctx);
    int sh, sw;
    if (st == FM_OK && (nn_conv_out_hw(sub, in_h, in_w, &sh, &sw) || sh != oh || sw != ow))
        st = fm_fail(ctx, FM_ERR_INTERNAL, "nn: reduced convolution changes the output size");
    free(w);
    if (st != FM_OK) {
        if (sub)
            nn_conv_free(sub);
        free(sub);
        return st;
    }
    sub->isa = cv->isa;
    cv->sub = sub;
    cv->sub_h = in_h;
    cv->sub_w = in_w;
    return FM_OK;
}

fm_status nn_conv_plan_input(nn_conv *cv, int in_h, int in_w, fm_ctx *ctx)
{
    int oh, ow;
    if (nn_conv_out_hw(cv, in_h, in_w, &oh, &ow))
        return FM_OK;
    if (cv->sub) {
        nn_conv_free(cv->sub);
        free(cv->sub);
        cv->sub = NULL;
    }
    int m = wg_eligible(&cv->d) ? wg_choose(&cv->d, oh, ow) : 0;
    if (m != cv->wino_m) {
        fm_status st = nn_conv_set_winograd(cv, m, ctx);
        if (st != FM_OK)
            return st;
    }
    if (cv->path == PATH_GEMM && !cv->wino_m)
        return plan_sub(cv, in_h, in_w, oh, ow, ctx);
    return FM_OK;
}

typedef struct dw_job {
    const nn_conv *cv;
    const nn_tensor *in;
    nn_tensor *out;
} dw_job;

#define DW_MAX_TAPS 64

/* One output channel of a depthwise convolution. Every output value is the sum over the valid taps in (ky, kx) order,
 * accumulated in a register from 0, then bias + activation: the vector interior, the scalar interior and the
 * bounds-checked border compute exactly the same sums. */
static void dw_plane(const nn_conv_desc *d, const float *src, int H, int W, const float *wk, float *dst, int OH, int OW,
                     int isa)
{
    const int sh = d->stride_h, sw = d->stride_w, kh = d->kh, kw = d->kw, dh = d->dil_h, dw = d->dil_w;
    /* interior columns: every kx tap inside [0, W) */
    int xl = d->pad_l > 0 ? (d->pad_l + sw - 1) / sw : 0;
    int64_t lim = (int64_t)W - 1 + d->pad_l - (int64_t)(kw - 1) * dw; /* ox * sw <= lim */
    int xr = lim < 0 ? 0 : (int)(lim / sw) + 1;
    if (xr > OW)
        xr = OW;
    if (xl > xr)
        xl = xr;
    const float *rows[DW_MAX_TAPS];
    const float *wrows[DW_MAX_TAPS];
    for (int oy = 0; oy < OH; oy++) {
        float *drow = dst + (size_t)oy * (size_t)OW;
        int nr = 0;
        for (int ky = 0; ky < kh; ky++) {
            int iy = oy * sh + ky * dh - d->pad_t;
            if (iy < 0 || iy >= H)
                continue;
            rows[nr] = src + (size_t)iy * (size_t)W;
            wrows[nr] = wk + (size_t)ky * (size_t)kw;
            nr++;
        }
        /* borders, with per-tap bounds checks */
        for (int pass = 0; pass < 2; pass++) {
            int b0 = pass ? xr : 0, b1 = pass ? OW : xl;
            for (int ox = b0; ox < b1; ox++) {
                float acc = 0.0f;
                for (int r = 0; r < nr; r++)
                    for (int kx = 0; kx < kw; kx++) {
                        int ix = ox * sw - d->pad_l + kx * dw;
                        if (ix >= 0 && ix < W)
                            acc += wrows[r][kx] * rows[r][ix];
                    }
                drow[ox] = acc;
            }
        }
        int ox = xl;
        if (NN_HAVE_AVX2_KERNELS && isa >= NN_ISA_AVX2) {
#if NN_HAVE_AVX2_KERNELS
            ox = nn_dw_row_avx2(d, rows, wrows, nr, W, ox, xr, drow);
#endif
        } else if (kw == 3 && nr == 3 && (sw == 1 || sw == 2)) {
            /* the common 3x3 case with all three rows inside: weights held in registers, same summation order */
            const v8f z = splat8(0.0f);
            const v8f w0 = splat8(wrows[0][0]), w1 = splat8(wrows[0][1]), w2 = splat8(wrows[0][2]);
            const v8f w3 = splat8(wrows[1][0]), w4 = splat8(wrows[1][1]), w5 = splat8(wrows[1][2]);
            const v8f w6 = splat8(wrows[2][0]), w7 = splat8(wrows[2][1]), w8 = splat8(wrows[2][2]);
            if (sw == 1) {
                const float *a = rows[0] + (xl - d->pad_l), *b = rows[1] + (xl - d->pad_l),
                            *c = rows[2] + (xl - d->pad_l);
                for (; ox + VL <= xr; ox += VL, a += VL, b += VL, c += VL) {
                    v8f acc = z;
                    acc += w0 * ld8(a);
                    acc += w1 * ld8(a + dw);
                    acc += w2 * ld8(a + 2 * dw);
                    acc += w3 * ld8(b);
                    acc += w4 * ld8(b + dw);
                    acc += w5 * ld8(b + 2 * dw);
                    acc += w6 * ld8(c);
                    acc += w7 * ld8(c + dw);
                    acc += w8 * ld8(c + 2 * dw);
                    st8(drow + ox, acc);
                }
            } else {
                for (; ox + VL <= xr && 2 * (ox + VL - 1) - d->pad_l + 2 * dw + 1 < W; ox += VL) {
                    const float *a = rows[0] + (2 * ox - d->pad_l), *b = rows[1] + (2 * ox - d->pad_l),
                                *c = rows[2] + (2 * ox - d->pad_l);
                    v8f acc = z;
                    acc += w0 * EVEN8(ld8(a), ld8(a + VL));
                    acc += w1 * EVEN8(ld8(a + dw), ld8(a + dw + VL));
                    acc += w2 * EVEN8(ld8(a + 2 * dw), ld8(a + 2 * dw + VL));
                    acc += w3 * EVEN8(ld8(b), ld8(b + VL));
                    acc += w4 * EVEN8(ld8(b + dw), ld8(b + dw + VL));
                    acc += w5 * EVEN8(ld8(b + 2 * dw), ld8(b + 2 * dw + VL));
                    acc += w6 * EVEN8(ld8(c), ld8(c + VL));
                    acc += w7 * EVEN8(ld8(c + dw), ld8(c + dw + VL));
                    acc += w8 * EVEN8(ld8(c + 2 * dw), ld8(c + 2 * dw + VL));
                    st8(drow + ox, acc);
                }
            }
        } else if (sw == 1) {
            for (; ox + VL <= xr; ox += VL) {
                v8f acc = splat8(0.0f);
                for (int r = 0; r < nr; r++) {
                    const float *rp = rows[r] + (ox - d->pad_l); /* ox >= xl = pad_l: in bounds */
                    for (int kx = 0; kx < kw; kx++)
                        acc += splat8(wrows[r][kx]) * ld8(rp + kx * dw);
                }
                st8(drow + ox, acc);
            }
        } else if (sw == 2) {
            /* reads 2 * VL floats per tap: the last one is one past the last needed, so stay inside the row */
            for (; ox + VL <= xr && 2 * (ox + VL - 1) - d->pad_l + (kw - 1) * dw + 1 < W; ox += VL) {
                v8f acc = splat8(0.0f);
                for (int r = 0; r < nr; r++) {
                    const float *rp = rows[r] + (2 * ox - d->pad_l);
                    for (int kx = 0; kx < kw; kx++) {
                        const float *q = rp + kx * dw;
                        acc += splat8(wrows[r][kx]) * EVEN8(ld8(q), ld8(q + VL));
                    }
                }
                st8(drow + ox, acc);
            }
        }
        for (; ox < xr; ox++) {
            float acc = 0.0f;
            for (int r = 0; r < nr; r++) {
                const float *rp = rows[r] + ((ptrdiff_t)ox * sw - d->pad_l); /* >= 0 since ox >= xl */
                for (int kx = 0; kx < kw; kx++)
                    acc += wrows[r][kx] * rp[kx * dw];
            }
            drow[ox] = acc;
        }
    }
}

static void dw_channels(void *arg, int begin, int end)
{
    const dw_job *j = arg;
    const nn_conv_desc *d = &j->cv->d;
    const int H = j->in->h, W = j->in->w, OH = j->out->h, OW = j->out->w;
    for (int c = begin; c < end; c++) {
        const float *src = j->in->data + (size_t)c * (size_t)H * (size_t)W;
        float *dst = j->out->data + (size_t)c * (size_t)OH * (size_t)OW;
        dw_plane(d, src, H, W, j->cv->w + (size_t)c * (size_t)d->kh * (size_t)d->kw, dst, OH, OW, j->cv->isa);
        epilogue_isa(dst, (size_t)OH * (size_t)OW, j->cv->b[c], &j->cv->act, c, j->cv->isa);
    }
}

void nn_conv_forward(const nn_conv *cv, const nn_tensor *in, nn_tensor *out, float *scratch, int threads)
{
    if (cv->sub && in->h == cv->sub_h && in->w == cv->sub_w) {
        nn_conv_forward(cv->sub, in, out, scratch, threads);
        return;
    }
    const nn_conv_desc *d = &cv->d;
    const size_t n = (size_t)out->h * (size_t)out->w;
    if (cv->path == PATH_DW) {
        dw_job j = {cv, in, out};
        int t = threads;
        if ((double)n * d->kh * d->kw * d->out_c < 1e6)
            t = 1;
        nn_parallel_for(t, d->out_c, dw_channels, &j);
        return;
    }
    if (cv->path == PATH_1X1) {
        gemm_job j = {cv, cv->w, in->data, out->data, d->in_c, (int)n, 0, (int)n, (int)n};
        nn_parallel_for(gemm_threads(threads, d->out_c, (int)n, d->in_c), d->out_c, gemm_rows, &j);
        return;
    }
    if (cv->wino_m) {
        wg_forward(cv, in, out, scratch, threads);
        return;
    }
    const int icg = d->in_c / d->groups, ocg = d->out_c / d->groups;
    const int k = icg * d->kh * d->kw;
    const int rb = im2col_rows(d, out->h, out->w);
    for (int g = 0; g < d->groups; g++) {
        for (int oy0 = 0; oy0 < out->h; oy0 += rb) {
            int oy1 = oy0 + rb < out->h ? oy0 + rb : out->h;
            int nb = (oy1 - oy0) * out->w;
            im2col(d, in, g * icg, icg, oy0, oy1, out->w, scratch);
            gemm_job j = {cv, cv->w + (size_t)g * (size_t)ocg * (size_t)k, scratch,
                          out->data + (size_t)g * (size_t)ocg * n + (size_t)oy0 * (size_t)out->w, k, nb, g * ocg,
                          nb, (int)n};
            nn_parallel_for(gemm_threads(threads, ocg, nb, k), ocg, gemm_rows, &j);
        }
    }
}

/* ---- pooling ------------------------------------------------------------------------------------------------------- */

int nn_pool_out_hw(const nn_pool *p, int in_h, int in_w, int *out_h, int *out_w)
{
    if (p->kh < 1 || p->kw < 1 || p->stride_h < 1 || p->stride_w < 1 || p->pad_t < 0 || p->pad_l < 0 ||
        p->pad_b < 0 || p->pad_r < 0 || p->kh > 4096 || p->kw > 4096 || p->stride_h > 4096 || p->stride_w > 4096 ||
        p->pad_t >= p->kh || p->pad_b >= p->kh || p->pad_l >= p->kw || p->pad_r >= p->kw)
        return -1;
    if (in_h < 1 || in_w < 1 || in_h > NN_MAX_DIM || in_w > NN_MAX_DIM)
        return -1;
    int oh, ow;
    if (out_dim(in_h, p->pad_t, p->pad_b, p->kh, 1, p->stride_h, p->ceil_mode, &oh) ||
        out_dim(in_w, p->pad_l, p->pad_r, p->kw, 1, p->stride_w, p->ceil_mode, &ow))
        return -1;
    *out_h = oh;
    *out_w = ow;
    return 0;
}

/* one max-pool output (rows [cy0, cy1) already clipped), as the generic loop computes it */
static float pool_max1(const nn_pool *p, const float *src, int W, int cy0, int cy1, int ox)
{
    int x0 = ox * p->stride_w - p->pad_l, x1 = x0 + p->kw;
    int cx0 = x0 < 0 ? 0 : x0, cx1 = x1 < W ? x1 : W;
    float r = -FLT_MAX;
    for (int y = cy0; y < cy1; y++)
        for (int x = cx0; x < cx1; x++) {
            float v = src[(size_t)y * (size_t)W + (size_t)x];
            r = v > r ? v : r;
        }
    return cx0 < cx1 ? r : 0.0f;
}

void nn_pool_forward(const nn_pool *p, const nn_tensor *in, nn_tensor *out)
{
    const int H = in->h, W = in->w, OH = out->h, OW = out->w;
    for (int c = 0; c < in->c; c++) {
        const float *src = in->data + (size_t)c * (size_t)H * (size_t)W;
        float *dst = out->data + (size_t)c * (size_t)OH * (size_t)OW;
        for (int oy = 0; oy < OH; oy++) {
            int y0 = oy * p->stride_h - p->pad_t, y1 = y0 + p->kh; /* [y0, y1) */
            int py1 = y1 < H + p->pad_b ? y1 : H + p->pad_b;
            int cy0 = y0 < 0 ? 0 : y0, cy1 = y1 < H ? y1 : H;
            int ox = 0;
            if (p->kind == NN_POOL_MAX && p->stride_w == 2 && cy0 < cy1) {
                /* scalar up to the first window inside the row, then 4 outputs at a time while every read (two
                 * vectors per tap, stride-2 gather) stays inside the row; same max order as the scalar code */
                for (; ox < OW && ox * 2 - p->pad_l < 0; ox++)
                    dst[(size_t)oy * (size_t)OW + (size_t)ox] = pool_max1(p, src, W, cy0, cy1, ox);
                for (; ox + VL <= OW && 2 * (ox + VL - 1) - p->pad_l + p->kw + 1 <= W - 1; ox += VL) {
                    v8f r = splat8(-FLT_MAX);
                    for (int y = cy0; y < cy1; y++) {
                        const float *q = src + (size_t)y * (size_t)W + (2 * ox - p->pad_l);
                        for (int kx = 0; kx < p->kw; kx++) {
                            const v8f v = EVEN8(ld8(q + kx), ld8(q + kx + VL));
                            r = sel8(v > r, v, r);
                        }
                    }
                    st8(dst + (size_t)oy * (size_t)OW + (size_t)ox, r);
                }
            }
            for (; ox < OW; ox++) {
                int x0 = ox * p->stride_w - p->pad_l, x1 = x0 + p->kw;
                int px1 = x1 < W + p->pad_r ? x1 : W + p->pad_r;
                int cx0 = x0 < 0 ? 0 : x0, cx1 = x1 < W ? x1 : W;
                float r;
                if (p->kind == NN_POOL_MAX) {
                    r = -FLT_MAX;
                    for (int y = cy0; y < cy1; y++)
                        for (int x = cx0; x < cx1; x++) {
                            float v = src[(size_t)y * (size_t)W + (size_t)x];
                            r = v > r ? v : r;
                        }
                    if (cy0 >= cy1 || cx0 >= cx1)
                        r = 0.0f;
                } else {
                    float s = 0.0f;
                    for (int y = cy0; y < cy1; y++)
                        for (int x = cx0; x < cx1; x++)
                            s += src[(size_t)y * (size_t)W + (size_t)x];
                    int cnt = p->count_include_pad ? (py1 - y0) * (px1 - x0)
                                                   : (cy1 - cy0) * (cx1 - cx0);
                    r = cnt > 0 ? s / (float)cnt : 0.0f;
                }
                dst[(size_t)oy * (size_t)OW + (size_t)ox] = r;
            }
        }
    }
}

void nn_global_pool(nn_pool_kind kind, const nn_tensor *in, nn_tensor *out)
{
    size_t n = (size_t)in->h * (size_t)in->w;
    for (int c = 0; c < in->c; c++) {
        const float *src = in->data + (size_t)c * n;
        if (kind == NN_POOL_MAX) {
            float r = -FLT_MAX;
            for (size_t i = 0; i < n; i++)
                r = src[i] > r ? src[i] : r;
            out->data[c] = r;
        } else {
            double s = 0.0;
            for (size_t i = 0; i < n; i++)
                s += src[i];
            out->data[c] = (float)(s / (double)n);
        }
    }
}

/* ---- element-wise -------------------------------------------------------------------------------------------------- */

void nn_affine(float *x, int c, size_t plane, const float *scale, const float *shift)
{
    for (int ch = 0; ch < c; ch++) {
        float s = scale ? scale[ch] : 1.0f, b = shift ? shift[ch] : 0.0f;
        float *p = x + (size_t)ch * plane;
        for (size_t i = 0; i < plane; i++)
            p[i] = p[i] * s + b;
    }
}

void nn_add(const float *a, const float *b, float *out, size_t n)
{
    size_t i = 0;
    for (; i + VL <= n; i += VL)
        st8(out + i, ld8(a + i) + ld8(b + i));
    for (; i < n; i++)
        out[i] = a[i] + b[i];
}

void nn_add_relu(const float *a, const float *b, float *out, size_t n)
{
    const v8f z = splat8(0.0f);
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        const v8f v = ld8(a + i) + ld8(b + i);
        st8(out + i, sel8(v > z, v, z));
    }
    for (; i < n; i++) {
        const float v = a[i] + b[i];
        out[i] = v > 0.0f ? v : 0.0f;
    }
}

void nn_mul(const float *a, const float *b, float *out, size_t n)
{
    size_t i = 0;
    for (; i + VL <= n; i += VL)
        st8(out + i, ld8(a + i) * ld8(b + i));
    for (; i < n; i++)
        out[i] = a[i] * b[i];
}

void nn_concat_c(const nn_tensor *const *ins, int n, nn_tensor *out)
{
    float *dst = out->data;
    for (int i = 0; i < n; i++) {
        size_t sz = nn_tensor_size(ins[i]);
        memmove(dst, ins[i]->data, sz * sizeof(float));
        dst += sz;
    }
}

/* ---- dense --------------------------------------------------------------------------------------------------------- */

void nn_fc(const float *w, const float *b, int n_out, int n_in, const float *x, float *y)
{
    if (b)
        memcpy(y, b, (size_t)n_out * sizeof(float));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, n_in, 1.0f, w, n_in, x, 1, b ? 1.0f : 0.0f, y, 1);
}

typedef struct mm_job {
    const float *a, *b;
    float *c;
    int n, k;
    float beta;
} mm_job;

static void mm_rows(void *arg, int begin, int end)
{
    const mm_job *j = arg;
    if (end <= begin)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, end - begin, j->n, j->k, 1.0f,
                j->a + (size_t)begin * (size_t)j->k, j->k, j->b, j->n, j->beta, j->c + (size_t)begin * (size_t)j->n,
                j->n);
}

void nn_gemm(int m, int n, int k, const float *a, const float *b, float *c, int accumulate, int threads)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        if (!accumulate)
            memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
        return;
    }
    mm_job j = {a, b, c, n, k, accumulate ? 1.0f : 0.0f};
    nn_parallel_for(gemm_threads(threads, m, n, k), m, mm_rows, &j);
}

void nn_softmax(float *x, size_t outer, size_t n, size_t inner)
{
    for (size_t o = 0; o < outer; o++) {
        for (size_t in = 0; in < inner; in++) {
            float *p = x + o * n * inner + in;
            float mx = -FLT_MAX;
            for (size_t i = 0; i < n; i++)
                mx = p[i * inner] > mx ? p[i * inner] : mx;
            float s = 0.0f;
            for (size_t i = 0; i < n; i++) {
                p[i * inner] = expf(p[i * inner] - mx);
                s += p[i * inner];
            }
            float inv = 1.0f / s;
            for (size_t i = 0; i < n; i++)
                p[i * inner] *= inv;
        }
    }
}

/* ---- layout -------------------------------------------------------------------------------------------------------- */

void nn_transpose(const float *in, float *out, int rank, const int64_t *in_dims, const int *perm)
{
    int64_t in_stride[NN_MAX_RANK] = {0}, odim[NN_MAX_RANK] = {0}, ostr[NN_MAX_RANK] = {0}, idx[NN_MAX_RANK] = {0};
    int64_t s = 1;
    if (rank < 1 || rank > NN_MAX_RANK) {
        if (rank == 0)
            out[0] = in[0];
        return;
    }
    for (int i = rank - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= in_dims[i];
    }
    const int64_t total = s;
    for (int i = 0; i < rank; i++) {
        odim[i] = in_dims[perm[i]];
        ostr[i] = in_stride[perm[i]]; /* input stride for output axis i */
        idx[i] = 0;
    }
    if (total == 0)
        return;
    const int64_t inner_n = odim[rank - 1], inner_s = ostr[rank - 1];
    int64_t o = 0;
    while (o < total) {
        int64_t base = 0;
        for (int i = 0; i < rank - 1; i++)
            base += idx[i] * ostr[i];
        for (int64_t t = 0; t < inner_n; t++)
            out[o++] = in[base + t * inner_s];
        for (int i = rank - 2; i >= 0; i--) {
            if (++idx[i] < odim[i])
                break;
            idx[i] = 0;
        }
    }
}

void nn_resize(const nn_tensor *in, nn_tensor *out, nn_resize_mode mode)
{
    const int H = in->h, W = in->w, OH = out->h, OW = out->w;
    const float sy = (float)H / (float)OH, sx = (float)W / (float)OW;
    for (int c = 0; c < in->c; c++) {
        const float *src = in->data + (size_t)c * (size_t)H * (size_t)W;
        float *dst = out->data + (size_t)c * (size_t)OH * (size_t)OW;
        for (int oy = 0; oy < OH; oy++) {
            for (int ox = 0; ox < OW; ox++) {
                float v;
                if (mode == NN_RESIZE_NEAREST) {
                    int iy = (int)floorf((float)oy * sy), ix = (int)floorf((float)ox * sx);
                    iy = iy < H ? iy : H - 1;
                    ix = ix < W ? ix : W - 1;
                    v = src[(size_t)iy * (size_t)W + (size_t)ix];
                } else {
                    float fy = ((float)oy + 0.5f) * sy - 0.5f, fx = ((float)ox + 0.5f) * sx - 0.5f;
                    fy = fy < 0 ? 0 : fy;
                    fx = fx < 0 ? 0 : fx;
                    int y0 = (int)fy, x0 = (int)fx;
                    y0 = y0 < H - 1 ? y0 : H - 1;
                    x0 = x0 < W - 1 ? x0 : W - 1;
                    int y1 = y0 + 1 < H ? y0 + 1 : H - 1, x1 = x0 + 1 < W ? x0 + 1 : W - 1;
                    float ay = fy - (float)y0, ax = fx - (float)x0;
                    ay = ay > 1 ? 1 : ay;
                    ax = ax > 1 ? 1 : ax;
                    const float *r0 = src + (size_t)y0 * (size_t)W, *r1 = src + (size_t)y1 * (size_t)W;
                    v = (1 - ay) * ((1 - ax) * r0[x0] + ax * r0[x1]) + ay * ((1 - ax) * r1[x0] + ax * r1[x1]);
                }
                dst[(size_t)oy * (size_t)OW + (size_t)ox] = v;
            }
        }
    }
}
