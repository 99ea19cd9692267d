/* dlib MMOD CNN face detector. */
#include "mmod.h"

#include "internal.h"

#include <stdlib.h>

void fm_mmod_free(fm_mmod *m)
{
    if (!m)
        return;
    dnet_free(&m->net);
    free(m);
}

fm_status fm_mmod_load(fm_ctx *ctx, const void *data, size_t len, fm_mmod **out)
{
    FM_UNUSED(data);
    FM_UNUSED(len);
    *out = NULL;
    return fm_fail(ctx, FM_ERR_UNSUPPORTED, "the MMOD detector is not implemented yet");
}

fm_status fm_mmod_detect(const fm_mmod *m, fm_ctx *ctx, const uint8_t *rgb, int w, int h, int stride,
                         double adjust_threshold, int upsample, fm_mmod_det **dets, size_t *n, int threads)
{
    FM_UNUSED(m);
    FM_UNUSED(rgb);
    FM_UNUSED(w);
    FM_UNUSED(h);
    FM_UNUSED(stride);
    FM_UNUSED(adjust_threshold);
    FM_UNUSED(upsample);
    FM_UNUSED(threads);
    *dets = NULL;
    *n = 0;
    return fm_fail(ctx, FM_ERR_UNSUPPORTED, "the MMOD detector is not implemented yet");
}
