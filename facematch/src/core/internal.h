/* Internal helpers shared by every stage of libfacematch. Not installed. */
#ifndef FM_INTERNAL_H
#define FM_INTERNAL_H

#include "facematch.h"

#include <stdarg.h>
#include <stdio.h>

#define FM_ERRMSG_CAP 512

struct fm_ctx {
    fm_status last_status;
    char errmsg[FM_ERRMSG_CAP];
    int64_t max_input_bytes;
    int64_t max_pixels;
    int64_t max_dimension;
    int64_t threads;
    int64_t max_model_bytes;
    int64_t exif_orientation; /* FM_PARAM_EXIF_ORIENTATION: 1 apply (default), 0 ignore */
    /* Scratch owned by the ctx (so by one thread at a time), grown on demand by the face stage for its network
     * arenas so that a detect/embed call allocates nothing after the first; 64-byte aligned, capacity in floats.
     * It holds face crops and features: fm_ctx_destroy wipes it before freeing. */
    float *nn_scratch;
    size_t nn_scratch_cap;
};

/* Records an error on ctx (ctx may be NULL) and returns status, so callers can `return fm_fail(ctx, ...)`. */
fm_status fm_fail(fm_ctx *ctx, fm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Reads a whole file, refusing files larger than max_bytes (FM_ERR_LIMIT). *data is malloc'd; free() it. */
fm_status fm_read_file(fm_ctx *ctx, const char *path, int64_t max_bytes, uint8_t **data, size_t *len);

/* Overflow-checked size arithmetic: returns 0 and sets *out, or 1 on overflow. */
int fm_mul_size(size_t a, size_t b, size_t *out);

#define FM_UNUSED(x) ((void)(x))

#endif
