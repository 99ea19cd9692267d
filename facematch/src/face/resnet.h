/* dlib_face_recognition_resnet_model_v1: 150x150 RGB chip -> 128-d descriptor (dlib's anet_type). Not installed. */
#ifndef FM_FACE_RESNET_H
#define FM_FACE_RESNET_H

#include "dlib_net.h"

typedef struct fm_resnet {
    dnet net;
} fm_resnet;

/* Parses the model bytes; FM_ERR_MODEL_INVALID with the parser's message on failure. */
fm_status fm_resnet_load(fm_ctx *ctx, const void *data, size_t len, fm_resnet **out);
void fm_resnet_free(fm_resnet *rn);
/* chip: 150x150 packed RGB (3 bytes per pixel, rows of `stride` bytes). desc: 128 floats. */
fm_status fm_resnet_embed(const fm_resnet *rn, fm_ctx *ctx, const uint8_t *chip, int stride, float *desc,
                          int threads);

#endif
