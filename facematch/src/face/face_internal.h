/* Internal view of the face engine. Not installed. */
#ifndef FM_FACE_INTERNAL_H
#define FM_FACE_INTERNAL_H

#include "internal.h"

#include "chip.h"
#include "mmod.h"
#include "resnet.h"
#include "shape_predictor.h"

struct fm_engine {
    fm_resnet *resnet;
    fm_shape_predictor *sp5, *sp68;
    fm_mmod *mmod;
    void *fast;        /* UltraFace detector (nn helper's wrapper), NULL if not loaded */
    void *fr512;       /* fr_feature embedder, NULL if not loaded */
    uint32_t loaded;   /* FM_ENGINE_MODEL_BIT set */
};

/* An upright packed RGB24 view of img: *view is img itself when it already is one, else a converted copy kept in
 * *tmp (destroy it after use). */
fm_status fm_face_rgb_view(fm_ctx *ctx, const fm_image *img, const uint8_t **rgb, int *w, int *h, int *stride,
                           fm_image **tmp);

#endif
