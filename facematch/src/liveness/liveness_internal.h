/* Private parts of the liveness module. */
#ifndef FM_LIVENESS_INTERNAL_H
#define FM_LIVENESS_INTERNAL_H

#include "internal.h"
#include "face/onnx_models.h"
#include "liveness/liveness.h"

/* fr_eye.onnx: index of the softmax output that means "closed" (measured on open-eye frames of the shared data:
 * see tests/unit/test_liveness.c, which checks it on ZJU frames annotated open/closed). */
#define LV_EYE_CLOSED_INDEX 0

struct lv_models {
    onnx_model *live; /* fr_liveness.onnx */
    onnx_model *eye;  /* fr_eye.onnx, NULL when not loaded */
};

/* Upright RGB view of any image (*tmp holds a converted copy to destroy afterwards, or NULL). */
fm_status lv_rgb_view(fm_ctx *ctx, const fm_image *img, onnx_rgb_view *v, fm_image **tmp);

#endif
