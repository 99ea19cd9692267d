/*
 * onnx_models.h — wrappers around the ONNX face models (internal, not installed): each builds its input tensor
 * exactly the way the model's distributor does (faceplugin 1.0.3 lib/fr_*.js; MediaPipe for BlazeFace), runs it with
 * onnx_run (nn/onnx.h) and decodes the output into image coordinates.
 *
 * Images are interleaved 8-bit RGB (onnx_rgb_view: R, G, B per pixel, `stride` bytes per row). Resizes use
 * bilinear interpolation with OpenCV's INTER_LINEAR (half-pixel) mapping, as cv.resize in faceplugin.
 *
 * faceplugin reads the canvas with cv.imread, which yields RGBA, and then calls cvtColor(..., COLOR_BGR2RGB /
 * COLOR_BGR2GRAY) on it; OpenCV takes the first channel as blue, so what the models effectively receive is:
 *   fr_detect   channels (B, G, R), (v - 127) / 128, stretched to 320x240
 *   fr_landmark grey = 0.299 B + 0.587 G + 0.114 R (weights swapped by the same quirk), v / 256, 64x64
 *   fr_liveness channels (R, G, B) (no cvtColor there), raw 0..255, 128x128
 *   fr_eye      grey as fr_landmark, v / 255, 24x24
 *   fr_feature  channels (R, G, B), (v - 127) / 128, 112x112 aligned crop
 * We reproduce that effective input so results match the published pipeline.
 * fr_detect.onnx decodes its boxes itself (priors and variances 0.1 / 0.2 are baked into the graph: its "boxes"
 * output is already (x1, y1, x2, y2) normalised), so no prior generation is needed on our side.
 *
 * Thread rules: models are immutable and shared; each thread passes its own nn_arena (per fm_ctx).
 */
#ifndef FM_ONNX_MODELS_H
#define FM_ONNX_MODELS_H

#include "facematch.h"
#include "nn/onnx.h"

#include <stdint.h>

typedef struct onnx_rgb_view {
    const uint8_t *rgb;
    int width, height;
    size_t stride; /* bytes per row, >= 3 * width */
} onnx_rgb_view;

typedef struct onnx_face {
    float x1, y1, x2, y2; /* box in image pixels (continuous coordinates, x2/y2 exclusive edge) */
    float score;          /* detector confidence in [0, 1] */
    float kp[6][2];       /* BlazeFace keypoints (right eye, left eye, nose, mouth, right ear, left ear); zero for
                             UltraFace */
} onnx_face;

typedef struct onnx_detect_opts {
    float score_threshold; /* <= 0: model default (UltraFace 0.65 as faceplugin; BlazeFace 0.75 as the classic front-model
                              decoders — MediaPipe's newer short-range graph uses 0.5 with the same anchors) */
    float nms_threshold;   /* <= 0: model default (UltraFace 0.4; BlazeFace 0.3) */
    int threads;           /* >= 1 */
} onnx_detect_opts;

/* Checks that a loaded model has the expected input/output shapes (FM_ERR_MODEL_INVALID otherwise). */
typedef enum onnx_model_kind {
    ONNX_ULTRAFACE = 0, /* fr_detect.onnx: input 1x3x240x320, outputs scores 1x4420x2, boxes 1x4420x4 */
    ONNX_LANDMARK68,    /* fr_landmark.onnx: 1x1x64x64 -> 1x136 */
    ONNX_FEATURE512,    /* fr_feature.onnx: 1x3x112x112 -> 1x512 */
    ONNX_LIVENESS,      /* fr_liveness.onnx: 1x3x128x128 -> 1x3 */
    ONNX_EYE,           /* fr_eye.onnx: 1x1x24x24 -> 1x2 */
    ONNX_BLAZEFACE      /* face_detection_front_128x128_barracuda.onnx: 1x128x128x3 -> 512/384 scores, boxes */
} onnx_model_kind;
fm_status onnx_model_check(fm_ctx *ctx, const onnx_model *m, onnx_model_kind kind);

/* ---- input tensors (exposed so tests/oracles feed both implementations the same tensor) ---------------------- */

/* Bilinear resize of the RGB region [x0, x0+w) x [y0, y0+h) (integer rectangle inside the image) to ow x oh,
 * writing interleaved float RGB (ow * oh * 3) — OpenCV INTER_LINEAR mapping, computed in float. */
void onnx_resize_rgb(const onnx_rgb_view *img, int x0, int y0, int w, int h, int ow, int oh, float *out);

/* UltraFace input (1x3x240x320) for a whole image (stretched). */
void onnx_ultraface_input(const onnx_rgb_view *img, float *tensor);
/* fr_landmark / fr_liveness crop rectangle (faceplugin alignLandmarkImage / alignLivenessImage) for a box and a
 * scale (1.0 landmark, 2.7 liveness). Returns 0, or -1 when the rectangle is empty. */
int onnx_face_crop_rect(const onnx_rgb_view *img, const float box[4], float scale, int rect[4]);
int onnx_landmark_input(const onnx_rgb_view *img, const float box[4], float *tensor);   /* 1x1x64x64 */
int onnx_liveness_input(const onnx_rgb_view *img, const float box[4], float *tensor);   /* 1x3x128x128 */
/* eye crops from 68 landmarks (faceplugin getEyeBBox); which = 0 left eye (points 36-41), 1 right eye (42-47) */
int onnx_eye_input(const onnx_rgb_view *img, const float pts[136], int which, float *tensor); /* 1x1x24x24 */
/* fr_feature input from a 112x112 RGB crop */
void onnx_feature_input(const uint8_t *chip112, size_t stride, float *tensor);
/* BlazeFace input (1x128x128x3, NHWC, x / 127.5 - 1) letterboxed (aspect kept, padding -1); *scale and *pad_x,
 * *pad_y map tensor pixels back to the image: image = (tensor - pad) / scale. */
void onnx_blazeface_input(const onnx_rgb_view *img, float *tensor, float *scale, float *pad_x, float *pad_y);
/* The 896 SSD anchors (cx, cy) of MediaPipe's face_detection_front options. */
int onnx_blazeface_anchors(float *anchors, int cap);

/* ---- models --------------------------------------------------------------------------------------------------- */

/* Face detection with UltraFace RFB-320: scores >= threshold, greedy NMS by score, every face returned (at most
 * cap; *count is the number found, which may exceed cap). Boxes in image pixels. */
fm_status onnx_ultraface_detect(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                                const onnx_detect_opts *opts, onnx_face *faces, int cap, int *count);
/* BlazeFace front: anchors decode, sigmoid scores, weighted NMS (MediaPipe), boxes and 6 keypoints in image pixels. */
fm_status onnx_blazeface_detect(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                                const onnx_detect_opts *opts, onnx_face *faces, int cap, int *count);
/* 68 landmarks (x, y pairs in image pixels) for a face box (x1, y1, x2, y2), faceplugin's convention. */
fm_status onnx_landmark68(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                          const float box[4], int threads, float pts[136]);
/* 512-d feature of a 112x112 aligned RGB crop (raw model output; *norm receives its L2 norm, may be NULL). */
fm_status onnx_feature512(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const uint8_t *chip112, size_t stride,
                          int threads, float feat[512], float *norm);
/* Liveness (MiniFASNet-style): softmax of the 3 logits; faceplugin reports probs[0] as its liveness score. */
fm_status onnx_liveness(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                        const float box[4], int threads, float probs[3]);
/* Eye state: softmax of the 2 logits for one eye (which = 0 left, 1 right); faceplugin reports
 * probs[0] > probs[1] as its per-eye flag. */
fm_status onnx_eye(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img, const float pts[136],
                   int which, int threads, float probs[2]);

#endif
