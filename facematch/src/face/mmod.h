/* dlib's MMOD CNN face detector (mmod_human_face_detector.dat, dnn_mmod_face_detection_ex.cpp's net_type).
 * Not installed. */
#ifndef FM_FACE_MMOD_H
#define FM_FACE_MMOD_H

#include "dlib_net.h"

typedef struct fm_mmod_window {
    int width, height;  /* detector window in the network's input pixels */
    char label[32];
} fm_mmod_window;

typedef struct fm_mmod {
    dnet net;
    fm_mmod_window windows[8];
    int nwindows;
    double overlap_iou, overlap_percent;  /* options.overlaps_nms */
    double loss_per_false_alarm, loss_per_missed_target, truth_match_iou_threshold;
    int assume_image_pyramid;            /* use_image_pyramid::yes */
} fm_mmod;

typedef struct fm_mmod_det {
    double l, t, r, b;   /* inclusive dlib rectangle in image pixels */
    double score;
} fm_mmod_det;

fm_status fm_mmod_load(fm_ctx *ctx, const void *data, size_t len, fm_mmod **out);
void fm_mmod_free(fm_mmod *m);
/* Detects faces in an upright packed RGB image; *dets is malloc'd (free()), sorted by score. adjust_threshold is
 * added to dlib's default threshold of 0. upsample: 0 or 1 (pyramid_up once before detecting). */
fm_status fm_mmod_detect(const fm_mmod *m, fm_ctx *ctx, const uint8_t *rgb, int w, int h, int stride,
                         double adjust_threshold, int upsample, fm_mmod_det **dets, size_t *n, int threads);

#endif
