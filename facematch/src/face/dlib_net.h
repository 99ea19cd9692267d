/* dlib DNN networks (dlib/dnn: add_layer, tags, skips, con_, affine_/bn_, relu_, max/avg_pool_, add_prev_, fc_)
 * loaded from dlib's serialization into facematch's nn kernels. The expected architecture is given as a spec
 * (from the output down to the input, as dlib nests its types) and the file must match it layer by layer.
 * Not installed. */
#ifndef FM_DLIB_NET_H
#define FM_DLIB_NET_H

#include "dlib_ser.h"
#include "nn/nn.h"

typedef enum dnet_kind {
    DN_INPUT_RGB_SIZED = 1, /* input_rgb_image_sized<N> (a = N) */
    DN_INPUT_PYRAMID,       /* input_rgb_image_pyramid<pyramid_down<a>> */
    DN_CON,                 /* con<a filters, kh, kw, sy, sx> */
    DN_AFFINE,
    DN_RELU,
    DN_MAXPOOL,             /* max_pool<kh,kw,sy,sx> */
    DN_AVGPOOL,             /* avg_pool<kh,kw,sy,sx>; 0 sizes = avg_pool_everything */
    DN_ADD_PREV,            /* add_prev<tag a> */
    DN_TAG,                 /* tag a */
    DN_SKIP,                /* skip<tag a> */
    DN_FC_NOBIAS            /* fc_no_bias<a outputs> */
} dnet_kind;

typedef struct dnet_spec {
    dnet_kind kind;
    int a, kh, kw, sy, sx;
} dnet_spec;

/* One executable step (bottom-up), after folding affine layers into the convolution below them and relus into
 * the step they follow where possible. */
typedef struct dnet_step {
    dnet_kind kind;
    int tag;             /* DN_TAG / DN_SKIP / DN_ADD_PREV */
    nn_conv conv;        /* DN_CON (affine and relu folded in) */
    int has_conv;
    nn_pool pool;        /* DN_MAXPOOL / DN_AVGPOOL (global when kh == 0) */
    float *scale, *shift;/* DN_AFFINE left standalone */
    int relu_after;      /* DN_ADD_PREV / DN_AFFINE / pools: ReLU fused after */
    float *fc_w;         /* DN_FC_NOBIAS: [out][in] */
    int fc_in, fc_out;
} dnet_step;

typedef struct dnet {
    dnet_step *steps;
    int nsteps;
    float avg[3];        /* input layer's per-channel means (R, G, B) */
    int input_size;      /* DN_INPUT_RGB_SIZED: N */
    int pyramid_down;    /* DN_INPUT_PYRAMID: the pyramid_down<N> factor */
    double pyr_padding, pyr_outer_padding; /* DN_INPUT_PYRAMID */
} dnet;

/* Parses the network part of a dlib model (the bytes after the loss layer's own fields are positioned by the
 * caller: r must point at the add_layer just below the loss). Returns 0 or -1 (r->err). */
int dnet_load(dser *r, const dnet_spec *spec, int nspec, dnet *net, fm_ctx *ctx);
void dnet_free(dnet *net);

/* Runs the steps on an input tensor (c x h x w already mean-subtracted). *out points into `arena` memory that the
 * function allocates (free with free(*arena)). Returns FM_OK or an error recorded on ctx. */
fm_status dnet_forward(const dnet *net, fm_ctx *ctx, const nn_tensor *in, nn_tensor *out, float **arena,
                       int threads);
/* The same with a caller-owned arena that is grown as needed and can be kept between calls (so that a call
 * allocates nothing after the first). The first `keep` floats of the arena are preserved (the caller may build the
 * input there: `in` then points into it, and must be re-pointed at a->base if the arena grew — use
 * dnet_forward_in only after reserving). *out points into the arena. */
fm_status dnet_forward_in(const dnet *net, fm_ctx *ctx, const nn_tensor *in, nn_tensor *out, nn_arena *a,
                          size_t keep, int threads);

#endif
