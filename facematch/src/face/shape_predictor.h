/* dlib shape predictor (ensemble of regression trees, Kazemi & Sullivan) loaded from dlib's .dat format.
 * Not installed. */
#ifndef FM_SHAPE_PREDICTOR_H
#define FM_SHAPE_PREDICTOR_H

#include "dlib_ser.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fm_sp_cascade {
    int ntrees;
    int depth;              /* every tree of a cascade has 2^depth leaves (checked) */
    int nfeat;              /* feature pixels of this cascade */
    uint32_t *split_idx;    /* ntrees * (2^depth - 1) * 2 (idx1, idx2) */
    float *split_thresh;    /* ntrees * (2^depth - 1) */
    float *leaves;          /* ntrees * 2^depth * 2*nparts */
    uint32_t *anchor;       /* nfeat */
    float *deltas;          /* nfeat * 2 */
} fm_sp_cascade;

typedef struct fm_shape_predictor {
    int nparts;
    float *initial;         /* 2*nparts */
    int ncascades;
    fm_sp_cascade *cascades;
} fm_shape_predictor;

/* Parses a shape predictor; on failure returns -1 with r->err set. *out is NULL on failure. */
int fm_sp_load(dser *r, fm_shape_predictor **out);
void fm_sp_free(fm_shape_predictor *sp);

/* Image accessor for prediction: packed upright 8-bit pixels (bpp 1 = grey, 3/4 = colour: intensity is
 * (c0+c1+c2)/3 as dlib computes for rgb pixels). */
typedef struct fm_sp_image {
    const uint8_t *data;
    int width, height, stride, bpp;
} fm_sp_image;

/* Runs the predictor on the inclusive integer box (l, t, r, b); writes nparts points (x, y), rounded to integer
 * positions exactly as dlib's full_object_detection parts are. Returns 0, or -1 if scratch memory fails. */
int fm_sp_predict(const fm_shape_predictor *sp, const fm_sp_image *img, long l, long t, long r, long b,
                  float *pts_xy);

#endif
