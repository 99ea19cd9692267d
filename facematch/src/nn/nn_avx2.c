/* nn_avx2.c — AVX2 + FMA variants of the Winograd tile transforms of nn.c (8 tiles per vector instead of 4).
 *
 * The library is built for baseline x86-64; only the functions of this file are compiled for AVX2 + FMA (a target
 * pragma, no per-file build flags), and nn.c calls them only for layers whose nn_conv.isa was set to NN_ISA_AVX2 at
 * initialisation, which nn_isa_best() does only when the CPU and the OS support AVX2 and FMA. Results differ from
 * the SSE path by float rounding only (FMA contractions in the transforms); tests/unit/test_nn.c checks both paths
 * against naive double code.
 *
 * Lane order: the 8 tiles of a group are gathered with in-lane (128-bit) shuffles only, which puts them in the
 * order (0,2,4,6,1,3,5,7) for F(4x4) and (0,1,4,5,2,3,6,7) for F(2x2). The input transform writes full groups in
 * that order, the GEMMs do not care about column order, and the output transform's in-lane shuffles undo it. A
 * partial group at the end of a chunk is permuted to natural tile order before it is stored (and back when it is
 * read), so that its lanes past the chunk spill only into columns that are overwritten or ignored, as in nn.c. */
#include "nn_priv.h"

#if NN_HAVE_AVX2_KERNELS

#include <immintrin.h>
#include <math.h>
#include <string.h>

int nn_cpu_has_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

typedef __m256 vf;
#define LANES 8

/* y = B^T x over n = m + 2 vectors */
static inline __attribute__((always_inline)) void bt8(const int m, const vf *x, int xs, vf *y, int ys)
{
    if (m == 4) {
        const vf d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs], d4 = x[4 * xs], d5 = x[5 * xs];
        const vf c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f);
        const vf p = _mm256_fnmadd_ps(c4, d2, d4), q = _mm256_fnmadd_ps(c4, d1, d3);
        const vf r = _mm256_sub_ps(d4, d2), s = _mm256_mul_ps(c2, _mm256_sub_ps(d3, d1));
        y[0] = _mm256_fmadd_ps(c4, d0, _mm256_fnmadd_ps(c5, d2, d4));
        y[ys] = _mm256_add_ps(p, q);
        y[2 * ys] = _mm256_sub_ps(p, q);
        y[3 * ys] = _mm256_add_ps(r, s);
        y[4 * ys] = _mm256_sub_ps(r, s);
        y[5 * ys] = _mm256_fmadd_ps(c4, d1, _mm256_fnmadd_ps(c5, d3, d5));
    } else {
        const vf d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs];
        y[0] = _mm256_sub_ps(d0, d2);
        y[ys] = _mm256_add_ps(d1, d2);
        y[2 * ys] = _mm256_sub_ps(d2, d1);
        y[3 * ys] = _mm256_sub_ps(d1, d3);
    }
}

/* y = A^T x: n vectors in, m out */
static inline __attribute__((always_inline)) void at8(const int m, const vf *x, int xs, vf *y, int ys)
{
    if (m == 4) {
        const vf m0 = x[0], m1 = x[xs], m2 = x[2 * xs], m3 = x[3 * xs], m4 = x[4 * xs], m5 = x[5 * xs];
        const vf a = _mm256_add_ps(m1, m2), b = _mm256_sub_ps(m1, m2), c = _mm256_add_ps(m3, m4),
                 e = _mm256_sub_ps(m3, m4);
        y[0] = _mm256_add_ps(_mm256_add_ps(m0, a), c);
        y[ys] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), e, b);
        y[2 * ys] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), c, a);
        y[3 * ys] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), e, b), m5);
    } else {
        const vf m0 = x[0], m1 = x[xs], m2 = x[2 * xs], m3 = x[3 * xs];
        y[0] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        y[ys] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
}

/* d[k] = value k (< m + 2) of 8 consecutive tiles of a staged row, in the in-lane order described above
 * (reads p[0 .. 8m + 3]) */
static inline __attribute__((always_inline)) void gather8(const int m, const float *p, vf *d)
{
    if (m == 4) {
        const vf x0 = _mm256_loadu_ps(p), x1 = _mm256_loadu_ps(p + 8), x2 = _mm256_loadu_ps(p + 16),
                 x3 = _mm256_loadu_ps(p + 24);
        const vf t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpacklo_ps(x2, x3);
        const vf t2 = _mm256_unpackhi_ps(x0, x1), t3 = _mm256_unpackhi_ps(x2, x3);
        d[0] = _mm256_shuffle_ps(t0, t1, 0x44);
        d[1] = _mm256_shuffle_ps(t0, t1, 0xEE);
        d[2] = _mm256_shuffle_ps(t2, t3, 0x44);
        d[3] = _mm256_shuffle_ps(t2, t3, 0xEE);
        const vf y0 = _mm256_loadu_ps(p + 4), y1 = _mm256_loadu_ps(p + 12), y2 = _mm256_loadu_ps(p + 20),
                 y3 = _mm256_loadu_ps(p + 28);
        const vf u0 = _mm256_unpacklo_ps(y0, y1), u1 = _mm256_unpacklo_ps(y2, y3);
        d[4] = _mm256_shuffle_ps(u0, u1, 0x44);
        d[5] = _mm256_shuffle_ps(u0, u1, 0xEE);
    } else {
        const vf a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + 8);
        const vf b0 = _mm256_loadu_ps(p + 2), b1 = _mm256_loadu_ps(p + 10);
        d[0] = _mm256_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0));
        d[1] = _mm256_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1));
        d[2] = _mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0));
        d[3] = _mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

/* permutations between the gather order and natural tile order: to_nat[t] = lane holding tile t,
 * to_perm[j] = tile held by lane j */
static inline __m256i to_nat(const int m)
{
    return m == 4 ? _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7) : _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
}
static inline __m256i to_perm(const int m)
{
    return m == 4 ? _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7) : _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
}

static inline __attribute__((always_inline)) void wg_input8(const int m, const wg_job *j, int begin, int end)
{
    const int n = m + 2, H = j->in->h, W = j->in->w;
    const size_t ps = j->tb;
    const __m256i nat = to_nat(m);
    float rbuf[6][WG_ROWBUF];
    vf t[6][6], y[6];
    for (int c = begin; c < end; c++) {
        const float *src = j->in->data + (size_t)c * (size_t)H * (size_t)W;
        for (int r = 0; r < j->nb; r++) {
            const int tr = j->tr0 + r;
            for (int tx0 = 0; tx0 < j->TW; tx0 += WG_CHUNK) {
                const int nt = j->TW - tx0 < WG_CHUNK ? j->TW - tx0 : WG_CHUNK;
                const int ngrp = (nt + LANES - 1) / LANES, span = ngrp * LANES * m + LANES;
                nn_wg_stage_rows(j, src, tr, tx0, nt, span, rbuf);
                float *vbase = j->V + (size_t)c * (size_t)(n * n) * j->tb + (size_t)r * (size_t)j->TW + (size_t)tx0;
                for (int q = 0; q < nt; q += LANES) {
                    const int tail = q + LANES > nt;
                    for (int i = 0; i < n; i++) {
                        vf dv[6];
                        gather8(m, rbuf[i] + q * m, dv);
                        bt8(m, dv, 1, t[i], 1);
                    }
                    for (int k = 0; k < n; k++) {
                        bt8(m, &t[0][k], 6, y, 1);
                        for (int a = 0; a < n; a++) {
                            const vf v = tail ? _mm256_permutevar8x32_ps(y[a], nat) : y[a];
                            _mm256_storeu_ps(vbase + (size_t)(a * n + k) * ps + (size_t)q, v);
                        }
                    }
                }
            }
        }
    }
}

void nn_wg_input_avx2(const wg_job *j, int begin, int end)
{
    if (j->m == 4)
        wg_input8(4, j, begin, end);
    else
        wg_input8(2, j, begin, end);
}

/* bias + activation, lane by lane exactly as nn.c's bias_act computes it */
static inline vf act_v(vf v, float bias, const nn_act *a, int ch)
{
    const vf z = _mm256_setzero_ps();
    v = _mm256_add_ps(v, _mm256_set1_ps(bias));
    switch (a->kind) {
    case NN_ACT_NONE:
        return v;
    case NN_ACT_RELU:
        return _mm256_blendv_ps(z, v, _mm256_cmp_ps(v, z, _CMP_GT_OQ));
    case NN_ACT_CLIP: {
        const vf l8 = _mm256_set1_ps(a->lo), h8 = _mm256_set1_ps(a->hi);
        v = _mm256_blendv_ps(v, l8, _mm256_cmp_ps(v, l8, _CMP_LT_OQ));
        return _mm256_blendv_ps(v, h8, _mm256_cmp_ps(v, h8, _CMP_GT_OQ));
    }
    case NN_ACT_PRELU:
    case NN_ACT_LEAKY: {
        const float sl = a->kind == NN_ACT_LEAKY ? a->alpha : (a->slope ? a->slope[a->slope_n == 1 ? 0 : ch] : 0.0f);
        return _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(sl)), v, _mm256_cmp_ps(v, z, _CMP_GE_OQ));
    }
    case NN_ACT_SIGMOID: {
        float l[LANES];
        _mm256_storeu_ps(l, v);
        for (int i = 0; i < LANES; i++)
            l[i] = 1.0f / (1.0f + expf(-l[i]));
        return _mm256_loadu_ps(l);
    }
    }
    return v;
}

static inline __attribute__((always_inline)) void wg_output8(const int m, const wg_job *j, int begin, int end)
{
    const int n = m + 2, OH = j->out->h, OW = j->out->w;
    const size_t ps = j->tb;
    const __m256i perm = to_perm(m);
    float obuf[4][LANES * 4];
    vf mm[6][6], s[4][6], o[4];
    for (int k = begin; k < end; k++) {
        float *dst = j->out->data + (size_t)k * (size_t)OH * (size_t)OW;
        const float bias = j->cv->b[k];
        for (int r = 0; r < j->nb; r++) {
            const int tr = j->tr0 + r, rows = OH - tr * m < m ? OH - tr * m : m;
            for (int tx0 = 0; tx0 < j->TW; tx0 += WG_CHUNK) {
                const int nt = j->TW - tx0 < WG_CHUNK ? j->TW - tx0 : WG_CHUNK;
                const float *mbase = j->M + (size_t)k * (size_t)(n * n) * j->tb + (size_t)r * (size_t)j->TW +
                                     (size_t)tx0;
                for (int q = 0; q < nt; q += LANES) {
                    const int tail = q + LANES > nt;
                    for (int i = 0; i < n; i++)
                        for (int c = 0; c < n; c++) {
                            const vf v = _mm256_loadu_ps(mbase + (size_t)(i * n + c) * ps + (size_t)q);
                            mm[i][c] = tail ? _mm256_permutevar8x32_ps(v, perm) : v;
                        }
                    for (int c = 0; c < n; c++)
                        at8(m, &mm[0][c], 6, &s[0][c], 6);
                    const int ox = (tx0 + q) * m, cols = OW - ox < LANES * m ? OW - ox : LANES * m;
                    const int direct = cols == LANES * m && rows == m;
                    for (int a = 0; a < rows; a++) {
                        at8(m, s[a], 1, o, 1);
                        for (int b = 0; b < m; b++)
                            o[b] = act_v(o[b], bias, &j->cv->act, k);
                        float *ob = direct ? dst + (size_t)(tr * m + a) * (size_t)OW + (size_t)ox : obuf[a];
                        if (m == 4) {
                            const vf t0 = _mm256_unpacklo_ps(o[0], o[1]), t1 = _mm256_unpacklo_ps(o[2], o[3]);
                            const vf t2 = _mm256_unpackhi_ps(o[0], o[1]), t3 = _mm256_unpackhi_ps(o[2], o[3]);
                            _mm256_storeu_ps(ob, _mm256_shuffle_ps(t0, t1, 0x44));
                            _mm256_storeu_ps(ob + 8, _mm256_shuffle_ps(t0, t1, 0xEE));
                            _mm256_storeu_ps(ob + 16, _mm256_shuffle_ps(t2, t3, 0x44));
                            _mm256_storeu_ps(ob + 24, _mm256_shuffle_ps(t2, t3, 0xEE));
                        } else {
                            _mm256_storeu_ps(ob, _mm256_unpacklo_ps(o[0], o[1]));
                            _mm256_storeu_ps(ob + 8, _mm256_unpackhi_ps(o[0], o[1]));
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

void nn_wg_output_avx2(const wg_job *j, int begin, int end)
{
    if (j->m == 4)
        wg_output8(4, j, begin, end);
    else
        wg_output8(2, j, begin, end);
}

/* ---- bias + activation over a plane (nn.c's bias_act, 8 lanes) ---- */

void nn_bias_act_avx2(float *x, size_t n, float bias, const nn_act *a, int ch)
{
    size_t i = 0;
    if (a->kind == NN_ACT_NONE && bias == 0.0f)
        return;
    if (a->kind == NN_ACT_SIGMOID) {
        for (; i < n; i++)
            x[i] = 1.0f / (1.0f + expf(-(x[i] + bias)));
        return;
    }
    for (; i + LANES <= n; i += LANES)
        _mm256_storeu_ps(x + i, act_v(_mm256_loadu_ps(x + i), bias, a, ch));
    if (i < n) { /* the last few lanes through a zero-padded vector: same per-lane operations */
        float l[LANES] = {0};
        memcpy(l, x + i, (n - i) * sizeof(float));
        _mm256_storeu_ps(l, act_v(_mm256_loadu_ps(l), bias, a, ch));
        memcpy(x + i, l, (n - i) * sizeof(float));
    }
}

/* ---- depthwise convolution: the vector interior of one output row ---- */

/* even elements of the 16 floats at q: q[0], q[2], ..., q[14] */
static inline vf even8(const float *q)
{
    const vf s = _mm256_shuffle_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(q + 8), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* one vector of 8 outputs starting at ox (the caller checked that every read is inside the rows) */
static inline vf dw_vec(const nn_conv_desc *d, const float *const *rows, const float *const *wrows, int nr, int ox)
{
    const int sw = d->stride_w, kw = d->kw, dw = d->dil_w;
    vf acc = _mm256_setzero_ps();
    for (int r = 0; r < nr; r++) {
        const float *rp = rows[r] + ((ptrdiff_t)ox * sw - d->pad_l);
        for (int kx = 0; kx < kw; kx++) {
            const float *q = rp + kx * dw;
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wrows[r][kx]), sw == 1 ? _mm256_loadu_ps(q) : even8(q), acc);
        }
    }
    return acc;
}

/* the same for a 3x3 kernel with all three rows inside, weights in registers */
#define DW3(LD)                                                                                                      \
    do {                                                                                                             \
        const float *a = rows[0] + ((ptrdiff_t)ox * sw - pl), *b = rows[1] + ((ptrdiff_t)ox * sw - pl),              \
                    *c = rows[2] + ((ptrdiff_t)ox * sw - pl);                                                        \
        vf acc = _mm256_mul_ps(w0, LD(a));                                                                           \
        acc = _mm256_fmadd_ps(w1, LD(a + dw), acc);                                                                  \
        acc = _mm256_fmadd_ps(w2, LD(a + 2 * dw), acc);                                                              \
        acc = _mm256_fmadd_ps(w3, LD(b), acc);                                                                       \
        acc = _mm256_fmadd_ps(w4, LD(b + dw), acc);                                                                  \
        acc = _mm256_fmadd_ps(w5, LD(b + 2 * dw), acc);                                                              \
        acc = _mm256_fmadd_ps(w6, LD(c), acc);                                                                       \
        acc = _mm256_fmadd_ps(w7, LD(c + dw), acc);                                                                  \
        acc = _mm256_fmadd_ps(w8, LD(c + 2 * dw), acc);                                                              \
        _mm256_storeu_ps(drow + ox, acc);                                                                            \
    } while (0)

int nn_dw_row_avx2(const nn_conv_desc *d, const float *const *rows, const float *const *wrows, int nr, int W, int ox,
                   int xr, float *drow)
{
    const int sw = d->stride_w, kw = d->kw, dw = d->dil_w, pl = d->pad_l;
    if (sw != 1 && sw != 2)
        return ox;
    /* last start whose reads stay inside the row: sw = 1 reads [ox - pl, ox - pl + (kw-1) dw + 7] (inside for every
     * ox + 8 <= xr); sw = 2 reads 16 floats per tap from 2 ox - pl + kx dw */
    int last = xr - LANES;
    if (sw == 2) {
        const int lim = (W - 16 - (kw - 1) * dw + pl) / 2; /* 2 ox - pl + (kw-1) dw + 15 <= W - 1 */
        if (W - 16 - (kw - 1) * dw + pl < 0)
            return ox;
        if (lim < last)
            last = lim;
    }
    const int ox0 = ox;
    if (last < ox0)
        return ox;
    if (kw == 3 && nr == 3) {
        const vf w0 = _mm256_set1_ps(wrows[0][0]), w1 = _mm256_set1_ps(wrows[0][1]), w2 = _mm256_set1_ps(wrows[0][2]);
        const vf w3 = _mm256_set1_ps(wrows[1][0]), w4 = _mm256_set1_ps(wrows[1][1]), w5 = _mm256_set1_ps(wrows[1][2]);
        const vf w6 = _mm256_set1_ps(wrows[2][0]), w7 = _mm256_set1_ps(wrows[2][1]), w8 = _mm256_set1_ps(wrows[2][2]);
        if (sw == 1) {
            for (; ox <= last; ox += LANES)
                DW3(_mm256_loadu_ps);
            if (ox < last + LANES) { /* one more vector ending at the last output: recomputes a few, same values */
                ox = last;
                DW3(_mm256_loadu_ps);
                ox += LANES;
            }
        } else {
            for (; ox <= last; ox += LANES)
                DW3(even8);
            if (ox < last + LANES) {
                ox = last;
                DW3(even8);
                ox += LANES;
            }
        }
        return ox;
    }
    for (; ox <= last; ox += LANES)
        _mm256_storeu_ps(drow + ox, dw_vec(d, rows, wrows, nr, ox));
    if (ox < last + LANES) {
        _mm256_storeu_ps(drow + last, dw_vec(d, rows, wrows, nr, last));
        ox = last + LANES;
    }
    return ox;
}
#undef DW3

/* ---- GEMM: C[M x N] = A[M x K] B[K x N], row-major, beta 0 (see nn_avx512.c for the reasons; same scheme with
 * 8-float vectors: 6 rows x 16 columns or 12 rows x 8 columns of accumulators; k in increasing order, one FMA per
 * term) ---- */

static inline __attribute__((always_inline)) void gk(const int R, const int V, const int MASKED, int K, const float *A,
                                                     int lda, const float *B, int ldb, float *C, int ldc, __m256i mk)
{
    vf acc[12][2];
NN_UNROLL
    for (int r = 0; r < R; r++) {
        acc[r][0] = _mm256_setzero_ps();
        acc[r][1] = _mm256_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        const float *b = B + (size_t)k * (size_t)ldb;
        const vf b0 = MASKED ? _mm256_maskload_ps(b, mk) : _mm256_loadu_ps(b);
        const vf b1 = V == 2 ? _mm256_loadu_ps(b + 8) : b0;
NN_UNROLL
        for (int r = 0; r < R; r++) {
            const vf a = _mm256_broadcast_ss(A + (size_t)r * (size_t)lda + (size_t)k);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            if (V == 2)
                acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
NN_UNROLL
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(C + (size_t)r * (size_t)ldc, acc[r][0]);
        if (V == 2)
            _mm256_storeu_ps(C + (size_t)r * (size_t)ldc + 8, acc[r][1]);
    }
}

#define GK_CASE(R, V)                                                                                                \
    case R:                                                                                                          \
        gk(R, V, masked, K, a, lda, b, ldb, c, ldc, mk);                                                             \
        break

static void g_rows2(int rows, int K, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    const int masked = 0;
    const __m256i mk = _mm256_setzero_si256();
    switch (rows) {
        GK_CASE(1, 2);
        GK_CASE(2, 2);
        GK_CASE(3, 2);
        GK_CASE(4, 2);
        GK_CASE(5, 2);
        GK_CASE(6, 2);
    default:
        break;
    }
}

/* masked: only the lanes of mk are read from B (the column tail) */
static inline __attribute__((always_inline)) void g_rows1_m(const int masked, int rows, int K, const float *a,
                                                            int lda, const float *b, int ldb, float *c, int ldc,
                                                            __m256i mk)
{
    switch (rows) {
        GK_CASE(1, 1);
        GK_CASE(2, 1);
        GK_CASE(3, 1);
        GK_CASE(4, 1);
        GK_CASE(5, 1);
        GK_CASE(6, 1);
        GK_CASE(7, 1);
        GK_CASE(8, 1);
        GK_CASE(9, 1);
        GK_CASE(10, 1);
        GK_CASE(11, 1);
        GK_CASE(12, 1);
    default:
        break;
    }
}

static void g_rows1(int rows, int K, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    g_rows1_m(0, rows, K, a, lda, b, ldb, c, ldc, _mm256_setzero_si256());
}

static void g_rows1_tail(int rows, int K, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                         __m256i mk)
{
    g_rows1_m(1, rows, K, a, lda, b, ldb, c, ldc, mk);
}

void nn_sgemm_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int n0 = 0;
    for (; n0 + 16 <= N; n0 += 16)
        for (int r0 = 0; r0 < M; r0 += 6)
            g_rows2(M - r0 < 6 ? M - r0 : 6, K, A + (size_t)r0 * (size_t)lda, lda, B + n0, ldb,
                    C + (size_t)r0 * (size_t)ldc + n0, ldc);
    for (; n0 + 8 <= N; n0 += 8)
        for (int r0 = 0; r0 < M; r0 += 12)
            g_rows1(M - r0 < 12 ? M - r0 : 12, K, A + (size_t)r0 * (size_t)lda, lda, B + n0, ldb,
                    C + (size_t)r0 * (size_t)ldc + n0, ldc);
    if (n0 < N) {
        /* the last 1..7 columns: masked loads of B (nothing past the row is read), products of a 12-row block
         * stored in a 12 x 8 buffer and copied out */
        const int w = N - n0;
        const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(w), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        float cb[12 * 8];
        for (int r0 = 0; r0 < M; r0 += 12) {
            const int rows = M - r0 < 12 ? M - r0 : 12;
            g_rows1_tail(rows, K, A + (size_t)r0 * (size_t)lda, lda, B + n0, ldb, cb, 8, mk);
            for (int r = 0; r < rows; r++)
                memcpy(C + (size_t)(r0 + r) * (size_t)ldc + n0, cb + r * 8, (size_t)w * sizeof(float));
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else /* no AVX2 kernels on this architecture */

int nn_cpu_has_avx2(void) { return 0; }

#endif
