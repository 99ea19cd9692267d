/*
 * nn.h — facematch's small CNN inference runtime (internal, not installed).
 *
 * Float32 tensors in NCHW layout with batch 1 (nn_tensor: C x H x W, contiguous, row-major). Kernels for everything
 * the bundled models use: conv2d (any kernel / stride / asymmetric padding / dilation / groups; im2col + GEMM, 1x1
 * stride-1 straight to the GEMM, Winograd F(2x2)/F(4x4) for 3x3, direct loops for depthwise; fused bias and
 * activation; the GEMM is OpenBLAS's cblas_sgemm on the baseline path and our own AVX2 / AVX-512 kernel on CPUs that
 * have them, see "Instruction sets" below), pooling (max / avg, global),
 * affine and batch-norm folding, ReLU / PReLU / Clip / Sigmoid / LeakyReLU, element-wise add / mul, channel concat,
 * fully connected, softmax, transpose, resize.
 *
 * Memory: a network describes the buffers it needs with an nn_plan (size + first/last step that uses each buffer),
 * nn_plan_finish() packs them into one arena (buffers whose lifetimes do not overlap share memory), and the network
 * keeps one nn_arena per fm_ctx/thread, reserved once. Kernels never allocate: every kernel that needs scratch memory
 * has an *_scratch() function giving the float count, and takes the scratch pointer as an argument.
 *
 * Threads: kernels take `threads` (>= 1, normally fm_ctx's FM_PARAM_THREADS). With threads > 1 the work is split
 * over short-lived pthreads created for the call (output channels / rows); no global state is touched (we never call
 * openblas_set_num_threads). The BLAS is the system's libopenblas.so.0: with Debian's single-threaded variant
 * (libopenblas0-serial selected by update-alternatives) FM_PARAM_THREADS is the only knob; with the default threaded
 * variant OpenBLAS may add its own threads inside large sgemm calls (process-wide, OPENBLAS_NUM_THREADS / CPU
 * affinity). Linking the serial variant directly is NOT safe: its libopenblas.so.0 shares the SONAME of the threaded
 * one that OpenCV/dlib/numpy pull in through libblas.so.3, and mixing them aborts with undefined internal symbols.
 * Results do not depend on `threads` beyond float rounding (each output value is computed by the same sequence of
 * operations whatever the split; tests/unit/test_nn.c checks 1, 2 and 3 threads).
 *
 * Instruction sets: the library is compiled for baseline x86-64; nn_avx2.c / nn_avx512.c hold AVX2+FMA / AVX-512F
 * variants compiled for those targets by a pragma. Each conv picks the best set the CPU runs when it is initialised
 * (nn_conv.isa = nn_isa_best(), __builtin_cpu_supports: read-only CPU data, no global mutable state); tests force a
 * set with nn_conv_set_isa / onnx_model_set_isa. Results of the sets differ by float rounding only (the AVX2 and
 * AVX-512 GEMMs are bit-identical to each other).
 *
 * Thread safety: layer objects (nn_conv, ...) are immutable after init and may be shared by threads; tensors,
 * scratch and arenas belong to the calling thread.
 *
 * Errors: init functions return fm_status and record a message on ctx (may be NULL). Forward functions cannot fail:
 * callers validate shapes first with the nn_*_out_hw() helpers (they return 0 when the geometry is valid).
 */
#ifndef FM_NN_H
#define FM_NN_H

#include "facematch.h"

#include <stddef.h>
#include <stdint.h>

/* ---- tensors ------------------------------------------------------------------------------------------------ */

/* Batch-1 NCHW tensor view; data is borrowed (usually a slice of an nn_arena). */
typedef struct nn_tensor {
    float *data;
    int c, h, w;
} nn_tensor;

static inline size_t nn_tensor_size(const nn_tensor *t) { return (size_t)t->c * (size_t)t->h * (size_t)t->w; }
static inline nn_tensor nn_tensor_make(float *data, int c, int h, int w)
{
    nn_tensor t = {data, c, h, w};
    return t;
}

/* Largest tensor dimension and element count accepted by init/plan functions (models are untrusted input). */
#define NN_MAX_DIM 65536
#define NN_MAX_ELEMS ((size_t)1 << 30)

/* ---- scratch planning ------------------------------------------------------------------------------------------ */

/* Buffers are aligned to NN_ALIGN floats (64 bytes). */
#define NN_ALIGN 16

typedef struct nn_plan_buf {
    size_t floats;   /* requested size */
    int first, last; /* first and last step (layer index) using the buffer, inclusive */
    size_t offset;   /* set by nn_plan_finish, in floats from the arena base */
} nn_plan_buf;

typedef struct nn_plan {
    nn_plan_buf *bufs;
    int n, cap;
    size_t total; /* arena floats needed; set by nn_plan_finish */
    int finished;
} nn_plan;

void nn_plan_init(nn_plan *p);
void nn_plan_free(nn_plan *p);
/* Declares a buffer live from step `first` to step `last`; returns its id (>= 0), or -1 when out of memory or the
 * size exceeds NN_MAX_ELEMS (the plan is then unusable: nn_plan_finish fails). */
int nn_plan_add(nn_plan *p, size_t floats, int first, int last);
/* Assigns offsets so that buffers whose step ranges overlap never overlap in memory (greedy, largest first). */
fm_status nn_plan_finish(nn_plan *p, fm_ctx *ctx);
static inline float *nn_plan_ptr(const nn_plan *p, float *base, int id) { return base + p->bufs[id].offset; }

/* One 64-byte aligned block; reserve() only allocates when the block is too small (so after the first call with a
 * given input size, per-call allocation is zero). Contents are not preserved across growth. */
typedef struct nn_arena {
    float *base;
    size_t cap; /* floats */
} nn_arena;

fm_status nn_arena_reserve(nn_arena *a, size_t floats, fm_ctx *ctx);
void nn_arena_free(nn_arena *a);

/* ---- activations ------------------------------------------------------------------------------------------------ */

typedef enum nn_act_kind {
    NN_ACT_NONE = 0,
    NN_ACT_RELU,    /* max(x, 0) */
    NN_ACT_CLIP,    /* min(max(x, lo), hi); ReLU6 = CLIP(0, 6) */
    NN_ACT_PRELU,   /* x >= 0 ? x : slope[c] * x; slope has 1 or C entries */
    NN_ACT_LEAKY,   /* x >= 0 ? x : alpha * x */
    NN_ACT_SIGMOID  /* 1 / (1 + exp(-x)) */
} nn_act_kind;

typedef struct nn_act {
    nn_act_kind kind;
    float lo, hi;       /* CLIP */
    float alpha;        /* LEAKY */
    const float *slope; /* PRELU: borrowed (nn_conv keeps its own copy) */
    int slope_n;        /* PRELU: 1 or number of channels */
} nn_act;

/* Applies an activation in place to c planes of `plane` floats each. */
void nn_act_apply(float *x, int c, size_t plane, const nn_act *a);

/* ---- conv2d ------------------------------------------------------------------------------------------------------ */

typedef struct nn_conv_desc {
    int in_c, out_c;
    int kh, kw;
    int stride_h, stride_w;      /* >= 1 */
    int dil_h, dil_w;            /* >= 1 */
    int pad_t, pad_l, pad_b, pad_r;  /* >= 0, may be asymmetric */
    int groups;                  /* >= 1, divides in_c and out_c */
} nn_conv_desc;

typedef struct nn_conv {
    nn_conv_desc d;
    nn_act act;      /* fused activation applied after bias (set with nn_conv_set_act) */
    float *w;        /* owned, [out_c][in_c/groups][kh][kw] */
    float *b;        /* owned, [out_c] (zeros when the model has no bias) */
    float *slope;    /* owned copy of a PReLU slope */
    int path;        /* internal: which kernel runs (see nn.c) */
    int wino_m;      /* 0, or 2 / 4: this 3x3 stride-1 conv runs as Winograd F(m x m, 3x3) (nn_conv_set_winograd) */
    float *wu;       /* owned, Winograd-domain filters [(m+2)^2][out_c][in_c] (G g G^T, computed in double) */
    int isa;         /* NN_ISA_*: instruction set of the kernels this conv runs (nn_isa_best() at init) */
    struct nn_conv *sub; /* owned, or NULL: the same conv cut down to the kernel taps that touch an sub_h x sub_w
                          * input (nn_conv_plan_input; used only for inputs of exactly that size) */
    int sub_h, sub_w;
} nn_conv;

/* Instruction sets of the kernels. The library is built for baseline x86-64; a few kernels also exist as AVX2 + FMA
 * code (nn_avx2.c, compiled for that target by a pragma) and run only where the CPU supports them. The choice is
 * made per layer when it is initialised and kept in the immutable layer (no global switch). */
enum { NN_ISA_BASE = 0, NN_ISA_AVX2 = 1, NN_ISA_AVX512 = 2 /* AVX2 kernels + an AVX-512F GEMM */ };
/* The best instruction set this CPU runs (NN_ISA_AVX2 needs AVX2 and FMA, NN_ISA_AVX512 also AVX-512F, both the
 * OS's support for the wider register state). */
int nn_isa_best(void);
/* Forces a conv's kernels to an instruction set (tests compare each against naive code); a set the CPU lacks falls
 * back to nn_isa_best(). Call before nn_conv_scratch / planning: scratch sizes depend on it. */
void nn_conv_set_isa(nn_conv *cv, int isa);

/* Validates the geometry and copies weights ([out_c][in_c/groups][kh][kw]) and bias ([out_c], may be NULL). */
fm_status nn_conv_init(nn_conv *cv, const nn_conv_desc *d, const float *weights, const float *bias, fm_ctx *ctx);
void nn_conv_free(nn_conv *cv);
/* Sets the fused activation (PReLU slopes are copied). */
fm_status nn_conv_set_act(nn_conv *cv, const nn_act *a, fm_ctx *ctx);
/* Folds y = scale[c] * x + shift[c] (per output channel) into the weights and bias. */
void nn_conv_fold_affine(nn_conv *cv, const float *scale, const float *shift);
/* Batch-norm parameters -> affine: scale = gamma / sqrt(var + eps), shift = beta - mean * scale. */
void nn_bn_to_affine(int c, const float *gamma, const float *beta, const float *mean, const float *var, float eps,
                     float *scale, float *shift);
/* Winograd F(m x m, 3x3) for a dense (groups 1) 3x3, stride 1, dilation 1 convolution (pads <= 2): m = 2 or 4, or
 * 0 to go back to im2col. Transforms the current weights (call it after nn_conv_fold_affine; folding later
 * re-transforms them), (m+2)^2 / 9 times the weight memory. Any input size still works once set. Accuracy: F(2x2) is
 * within a few float ulps of im2col; F(4x4) uses interpolation points 0, +-1, +-2 and loses ~1-2 more decimal digits
 * (tests/unit/test_nn.c measures both against double). FM_ERR_INVALID_ARGUMENT when the conv is not eligible. */
fm_status nn_conv_set_winograd(nn_conv *cv, int m, fm_ctx *ctx);
/* Picks the faster kernel for the input size the conv will see (Winograd F(4x4) / F(2x2) / im2col, from the
 * geometry: spatial size, channels; per-layer timings of the dlib ResNet) and sets it up. For an im2col conv whose
 * input is so small that some kernel rows / columns only ever meet padding (e.g. a 3x3 pad-1 conv on a 1x1 input),
 * it also keeps a copy cut down to the live taps, used for inputs of exactly that size (the dropped taps multiply
 * zeros: same sums up to float rounding, 1/9 of the weights to stream in that example). Other sizes still work. */
fm_status nn_conv_plan_input(nn_conv *cv, int in_h, int in_w, fm_ctx *ctx);
/* Output size for an in_h x in_w input; returns 0, or -1 when the output would be empty or too large. */
int nn_conv_out_hw(const nn_conv *cv, int in_h, int in_w, int *out_h, int *out_w);
/* Scratch floats nn_conv_forward needs for this input size (0 for 1x1/stride-1 and depthwise paths); does not depend
 * on `threads` (per-thread temporaries of the Winograd path live on the stack, < 16 KB). */
size_t nn_conv_scratch(const nn_conv *cv, int in_h, int in_w, int threads);
/* out must be out_c x out_h x out_w (from nn_conv_out_hw); in and out must not overlap. */
void nn_conv_forward(const nn_conv *cv, const nn_tensor *in, nn_tensor *out, float *scratch, int threads);

/* ---- pooling ------------------------------------------------------------------------------------------------------- */

typedef enum nn_pool_kind { NN_POOL_MAX = 0, NN_POOL_AVG = 1 } nn_pool_kind;

typedef struct nn_pool {
    nn_pool_kind kind;
    int kh, kw, stride_h, stride_w;
    int pad_t, pad_l, pad_b, pad_r;
    int ceil_mode;          /* ONNX ceil_mode */
    int count_include_pad;  /* AVG: divide by kh*kw (1) or by the number of real input pixels (0) */
} nn_pool;

int nn_pool_out_hw(const nn_pool *p, int in_h, int in_w, int *out_h, int *out_w);
void nn_pool_forward(const nn_pool *p, const nn_tensor *in, nn_tensor *out);
/* Global pooling: out is c x 1 x 1. */
void nn_global_pool(nn_pool_kind kind, const nn_tensor *in, nn_tensor *out);

/* ---- element-wise and per-channel ---------------------------------------------------------------------------------- */

/* x[c][i] = x[c][i] * scale[c] + shift[c] (either may be NULL = 1 / 0), in place. */
void nn_affine(float *x, int c, size_t plane, const float *scale, const float *shift);
void nn_add(const float *a, const float *b, float *out, size_t n);  /* out may alias a or b */
/* out = max(a + b, 0) (the residual join of a ResNet block); out may alias a or b */
void nn_add_relu(const float *a, const float *b, float *out, size_t n);
void nn_mul(const float *a, const float *b, float *out, size_t n);
/* Concatenates along channels (all inputs h x w equal to out's). */
void nn_concat_c(const nn_tensor *const *ins, int n, nn_tensor *out);

/* ---- dense --------------------------------------------------------------------------------------------------------- */

/* y[o] = sum_i w[o * n_in + i] * x[i] + (b ? b[o] : 0). */
void nn_fc(const float *w, const float *b, int n_out, int n_in, const float *x, float *y);
/* General row-major C[M x N] = A[M x K] * B[K x N] (+ C when accumulate); split over threads by rows of C. */
void nn_gemm(int m, int n, int k, const float *a, const float *b, float *c, int accumulate, int threads);
/* Softmax in place along one axis: x viewed as [outer][n][inner], normalised over n. */
void nn_softmax(float *x, size_t outer, size_t n, size_t inner);

/* ---- layout -------------------------------------------------------------------------------------------------------- */

#define NN_MAX_RANK 6
/* out = transpose(in) with out dim i = in dim perm[i]; rank <= NN_MAX_RANK. */
void nn_transpose(const float *in, float *out, int rank, const int64_t *in_dims, const int *perm);

typedef enum nn_resize_mode { NN_RESIZE_NEAREST = 0, NN_RESIZE_BILINEAR = 1 } nn_resize_mode;
/* Resizes each channel plane; half-pixel (align_corners = 0) coordinate mapping as in OpenCV / ONNX "half_pixel"
 * (bilinear) and "asymmetric" + floor (nearest, ONNX Upsample-9 semantics). */
void nn_resize(const nn_tensor *in, nn_tensor *out, nn_resize_mode mode);

/* ---- threads ------------------------------------------------------------------------------------------------------- */

/* Runs fn(arg, begin, end) over [0, n) split into at most `threads` contiguous chunks (the calling thread runs the
 * first chunk; the others run on pthreads created for this call). Falls back to one thread if creation fails. */
typedef void (*nn_range_fn)(void *arg, int begin, int end);
void nn_parallel_for(int threads, int n, nn_range_fn fn, void *arg);

#endif
