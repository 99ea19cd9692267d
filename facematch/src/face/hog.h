/* dlib's HOG frontal face detector (dlib::get_frontal_face_detector(): object_detector<scan_fhog_pyramid<
 * pyramid_down<6>>> with 5 fHOG filters), reimplemented so that boxes and scores match dlib 19.24 on RGB images:
 * the same fHOG features (extract_fhog_features), the same pyramid (pyramid_down<6> with dlib's bilinear RGB
 * resize), the same separable filter bank (build_fhog_filterbank: SVD of each 10x10 plane filter, singular values
 * below max(1e-4, 0.001 * largest) dropped), the same float summation order, window-to-image mapping and NMS.
 * The model is dlib's own serialization of that detector (models/tools/extract_dlib_hog.cpp). Not installed. */
#ifndef FM_FACE_HOG_H
#define FM_FACE_HOG_H

#include "internal.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#define FM_HOG_PLANES 31
#define FM_HOG_MAX_DETECTORS 64
#define FM_HOG_MAX_FILTER 64 /* filter side in cells */

typedef struct fm_hog_filter {
    double thresh;          /* the learned threshold (last element of w) */
    int nterms[FM_HOG_PLANES];
    int total_terms;
    float *row, *col;       /* total_terms separable terms: row (fw floats) and col (fh floats) each, in plane order */
} fm_hog_filter;

typedef struct fm_hog {
    int cell_size;
    int padding;
    int window_w, window_h;             /* detection window in image pixels (80x80) */
    int fw, fh;                         /* filter size in cells (10x10) */
    long max_levels, min_level_w, min_level_h;
    double nuclear_norm;
    double iou_thresh, covered_thresh;  /* test_box_overlap */
    int ndet;
    fm_hog_filter det[FM_HOG_MAX_DETECTORS];
} fm_hog;

typedef struct fm_hog_det {
    long l, t, r, b;    /* inclusive dlib rectangle, image pixels */
    double score;       /* detection_confidence: filter response minus the detector's threshold */
    int weight_index;   /* which of the filters fired */
} fm_hog_det;

/* Parses dlib's serialization of the detector. Malformed input -> FM_ERR_MODEL_INVALID with a message. */
fm_status fm_hog_load(fm_ctx *ctx, const void *data, size_t len, fm_hog **out);
void fm_hog_free(fm_hog *h);

/* Detects faces in an upright packed RGB image. *dets is malloc'd (free()), in dlib's order (by score, best first,
 * after NMS). adjust_threshold as dlib's. arena: reusable scratch (grown as needed; may start empty). */
fm_status fm_hog_detect(const fm_hog *h, fm_ctx *ctx, nn_arena *arena, const uint8_t *rgb, int w, int h_, int stride,
                        double adjust_threshold, fm_hog_det **dets, size_t *n);

/* dlib's extract_fhog_features for an RGB image (cell_size >= 2): 31 planes of rows x cols floats, each
 * (hog_rows + pad_rows - 1) x (hog_cols + pad_cols - 1) with zero borders, written to out (capacity cap floats).
 * Returns the number of floats needed (0 when the image is too small to give any cell), writing only if it fits.
 * Exposed for the unit test. */
size_t fm_fhog_extract(const uint8_t *rgb, int w, int h, int stride, int cell, int pad_rows, int pad_cols,
                       float *out, size_t cap, float *work, size_t work_cap, int *rows, int *cols);
/* Work floats fm_fhog_extract needs for an image of w x h. */
size_t fm_fhog_work_size(int w, int h, int cell);

#endif
