/* Internal view of the face engine. Not installed. */
#ifndef FM_FACE_INTERNAL_H
#define FM_FACE_INTERNAL_H

#include "internal.h"

#include "chip.h"
#include "hog.h"
#include "mmod.h"
#include "onnx_models.h"
#include "resnet.h"
#include "shape_predictor.h"

struct fm_engine {
    fm_resnet *resnet;
    fm_shape_predictor *sp5, *sp68;
    fm_mmod *mmod;
    fm_hog *hog;       /* dlib's HOG frontal face detector (FM_MODEL_DLIB_HOG), NULL if not loaded */
    onnx_model *fast;  /* UltraFace RFB-320 (fr_detect.onnx), NULL if not loaded */
    onnx_model *fr512; /* fr_feature.onnx, NULL if not loaded */
    onnx_model *lm68;  /* fr_landmark.onnx, NULL if not loaded */
    uint32_t loaded;   /* FM_ENGINE_MODEL_BIT set */
    char *models_dir;  /* copy of the resolved models directory (config's, else the default at create time) */
};

/* The engine's resolved models directory (never NULL for a created engine; NULL for NULL): the live session loads
 * its own models (fr_liveness, fr_eye) from it when its policy names none. Valid while the engine lives. */
const char *fm_engine_models_dir(const fm_engine *e);

/* An upright packed RGB24 view of img: *view is img itself when it already is one, else a converted copy kept in
 * *tmp (destroy it after use). */
fm_status fm_face_rgb_view(fm_ctx *ctx, const fm_image *img, const uint8_t **rgb, int *w, int *h, int *stride,
                           fm_image **tmp);

/* Maps an UltraFace box (x1, y1, x2, y2; continuous, x2/y2 exclusive) to the calibrated dlib-style box. */
void fm_fast_box_to_dlib(float x1, float y1, float x2, float y2, fm_face_box *b);

/* dlib's HOG-detector box estimated from 5 dlib landmarks (left/top/right/bottom of *b; score untouched). Returns 0,
 * or -1 (b untouched) when the points are degenerate. */
int fm_box_from_five(const fm_point p[5], fm_face_box *b);

/* FM_DETECTOR_HOG for fm_detect (hog.c; engine.c's detect_fn signature): *out malloc'd, dlib's order. */
fm_status fm_hog_detect_boxes(fm_ctx *ctx, const fm_engine *e, const uint8_t *rgb, int w, int h, int stride,
                              const fm_detect_options *opt, int threads, fm_face_box **out, size_t *n);

#endif
