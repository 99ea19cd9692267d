/* nn_priv.h — what nn.c shares with its CPU-specific kernel files (nn_avx2.c). Internal to facematch/src/nn. */
#ifndef FM_NN_PRIV_H
#define FM_NN_PRIV_H

#include "nn.h"

#include <stddef.h>

/* 1 when the AVX2 + FMA kernels are compiled in and this CPU (and OS) runs them. */
int nn_cpu_has_avx2(void);
/* 1 when the AVX-512F GEMM is compiled in and this CPU (and OS) runs it (and AVX2 + FMA). */
int nn_cpu_has_avx512(void);

/* ---- Winograd F(m x m, 3x3) band job (nn.c) ---- */
#define WG_CHUNK 32                   /* tiles per horizontal chunk of a tile row (stack temporaries) */
#define WG_ROWBUF (WG_CHUNK * 4 + 16) /* floats per staged input row: chunk + halo + the lanes of the last group */

typedef struct wg_job {
    const nn_conv *cv;
    const nn_tensor *in;
    nn_tensor *out;
    int m, n, TW, tr0, nb; /* band: tile rows [tr0, tr0 + nb) */
    size_t tb;             /* columns per transform position: the band's nb * TW tiles + the lanes of a partial
                            * last group (wg_cols), so that every transform reads and writes whole vectors */
    float *V, *M;          /* [C][n*n][tb], [K][n*n][tb] */
} wg_job;

/* Copies the n = m + 2 input rows of tile row tr, chunk [tx0, tx0 + nt) of channel plane src into rbuf, zero-padded
 * (the conv's padding) to span floats per row. */
void nn_wg_stage_rows(const wg_job *j, const float *src, int tr, int tx0, int nt, int span, float (*rbuf)[WG_ROWBUF]);

/* the row loops of the GEMM kernels must be unrolled completely so that the accumulators live in registers */
#if defined(__clang__)
#define NN_UNROLL _Pragma("clang loop unroll(full)")
#else
#define NN_UNROLL _Pragma("GCC unroll 12")
#endif

#if defined(__x86_64__) || defined(__i386__)
#define NN_HAVE_AVX2_KERNELS 1
/* 8-lane AVX2/FMA input / output transforms (nn_avx2.c); same contract as nn.c's wg_input_m / wg_output_m, with
 * partial groups of 8 tiles (wg_cols rounds to 8). Only called when nn_cpu_has_avx2(). */
void nn_wg_input_avx2(const wg_job *j, int begin, int end);
void nn_wg_output_avx2(const wg_job *j, int begin, int end);
/* C[M x N] = A[M x K] B[K x N], row-major with leading dimensions; AVX2 + FMA (nn_avx2.c) and AVX-512F
 * (nn_avx512.c; only after nn_cpu_has_avx512()). */
void nn_sgemm_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
void nn_sgemm_avx512(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* nn.c's bias_act with 8 lanes (identical per-lane operations) */
void nn_bias_act_avx2(float *x, size_t n, float bias, const nn_act *a, int ch);
/* Depthwise conv: the vector interior of one output row, outputs [ox, xr) (every tap of those inside the row);
 * rows / wrows: the nr input rows and their kernel rows that are inside the image. Returns the first output not
 * written (the caller finishes the row with scalar code). */
int nn_dw_row_avx2(const nn_conv_desc *d, const float *const *rows, const float *const *wrows, int nr, int W, int ox,
                   int xr, float *drow);
#else
#define NN_HAVE_AVX2_KERNELS 0
#endif

#endif
