/* nn_avx512.c — an AVX-512 single-precision GEMM for the convolution paths of nn.c (C = A B, row-major, no
 * transposes, beta 0), used instead of cblas_sgemm by layers whose nn_conv.isa is NN_ISA_AVX512.
 *
 * Why our own: OpenBLAS runs the kernels that OPENBLAS_CORETYPE selects (the environment sets Haswell: AVX2), and the
 * layers of the networks we run are small GEMMs (M = 32..256 output channels, N = 9..500 pixels or Winograd tiles)
 * where its packing and per-call set-up are a large share. This kernel keeps 12 accumulators of 16 floats in
 * registers (6 rows x 32 columns, or 12 rows x 16 columns for narrow blocks), streams A's rows once per column
 * block and masks the column tail. Every output value is the sum over k in increasing order, one FMA per term, so
 * results do not depend on the thread split (threads take rows of C).
 *
 * Compiled for AVX-512F with a target pragma (the rest of the library stays baseline x86-64); nn.c calls it only
 * after nn_cpu_has_avx512() (CPU and OS support for the ZMM state). */
#include "nn_priv.h"

#if NN_HAVE_AVX2_KERNELS

#include <immintrin.h>

int nn_cpu_has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

/* R rows x V vectors of 16 columns of C over the full K */
static inline __attribute__((always_inline)) void kern(const int R, const int V, int K, const float *A, int lda,
                                                       const float *B, int ldb, float *C, int ldc, __mmask16 m0,
                                                       __mmask16 m1)
{
    __m512 acc[12][2];
NN_UNROLL
    for (int r = 0; r < R; r++) {
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        const float *b = B + (size_t)k * (size_t)ldb;
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
        const __m512 b1 = V == 2 ? _mm512_maskz_loadu_ps(m1, b + 16) : b0;
NN_UNROLL
        for (int r = 0; r < R; r++) {
            const __m512 a = _mm512_set1_ps(A[(size_t)r * (size_t)lda + (size_t)k]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            if (V == 2)
                acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
NN_UNROLL
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(C + (size_t)r * (size_t)ldc, m0, acc[r][0]);
        if (V == 2)
            _mm512_mask_storeu_ps(C + (size_t)r * (size_t)ldc + 16, m1, acc[r][1]);
    }
}

#define KERN_CASE(R, V)                                                                                              \
    case R:                                                                                                          \
        kern(R, V, K, a, lda, b, ldb, c, ldc, m0, m1);                                                               \
        break

static void rows2(int rows, int K, const float *a, int lda, const float *b, int ldb, float *c, int ldc, __mmask16 m0,
                  __mmask16 m1)
{
    switch (rows) {
        KERN_CASE(1, 2);
        KERN_CASE(2, 2);
        KERN_CASE(3, 2);
        KERN_CASE(4, 2);
        KERN_CASE(5, 2);
        KERN_CASE(6, 2);
    default:
        break;
    }
}

static void rows1(int rows, int K, const float *a, int lda, const float *b, int ldb, float *c, int ldc, __mmask16 m0,
                  __mmask16 m1)
{
    switch (rows) {
        KERN_CASE(1, 1);
        KERN_CASE(2, 1);
        KERN_CASE(3, 1);
        KERN_CASE(4, 1);
        KERN_CASE(5, 1);
        KERN_CASE(6, 1);
        KERN_CASE(7, 1);
        KERN_CASE(8, 1);
        KERN_CASE(9, 1);
        KERN_CASE(10, 1);
        KERN_CASE(11, 1);
        KERN_CASE(12, 1);
    default:
        break;
    }
}

void nn_sgemm_avx512(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int n0 = 0; n0 < N; n0 += 32) {
        const int w = N - n0 < 32 ? N - n0 : 32;
        const float *b = B + n0;
        if (w > 16) {
            const __mmask16 m0 = 0xFFFF, m1 = (__mmask16)(w == 32 ? 0xFFFF : (1u << (w - 16)) - 1);
            for (int r0 = 0; r0 < M; r0 += 6)
                rows2(M - r0 < 6 ? M - r0 : 6, K, A + (size_t)r0 * (size_t)lda, lda, b, ldb,
                      C + (size_t)r0 * (size_t)ldc + n0, ldc, m0, m1);
        } else {
            const __mmask16 m0 = (__mmask16)(w == 16 ? 0xFFFF : (1u << w) - 1);
            for (int r0 = 0; r0 < M; r0 += 12)
                rows1(M - r0 < 12 ? M - r0 : 12, K, A + (size_t)r0 * (size_t)lda, lda, b, ldb,
                      C + (size_t)r0 * (size_t)ldc + n0, ldc, m0, 0);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else

int nn_cpu_has_avx512(void) { return 0; }

#endif
