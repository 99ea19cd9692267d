/* Public passive anti-spoof scorer (facematch.h, issue 5 "liveness signals"): lv_models + the caller thread's
 * scratch over lv_pad_score. */
#include "liveness/liveness_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fm_pad {
    lv_models *models;
    nn_arena arena;
};

fm_status fm_pad_create(fm_ctx *ctx, const char *models_dir, fm_pad **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_create: out is NULL");
    *out = NULL;
    fm_pad *p = (fm_pad *)calloc(1, sizeof *p);
    if (!p)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    lv_models_config cfg;
    lv_models_config_init(&cfg);
    cfg.models_dir = models_dir;
    cfg.need_eye = 0;
    fm_status st = lv_models_create(ctx, &cfg, &p->models);
    if (st != FM_OK) {
        free(p);
        return st;
    }
    *out = p;
    return FM_OK;
}

void fm_pad_destroy(fm_pad *pad)
{
    if (!pad)
        return;
    lv_models_destroy(pad->models);
    nn_arena_free(&pad->arena);
    free(pad);
}

double fm_pad_default_threshold(void) { return lv_pad_default_threshold(); }

fm_status fm_pad_score(fm_ctx *ctx, fm_pad *pad, const fm_image *img, const fm_face_box *box, fm_pad_result *out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_score: out is NULL");
    out->live = out->model_live = out->moire = out->specular = out->colour = NAN;
    if (!pad)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_score: pad is NULL");
    lv_pad_result r;
    fm_status st = lv_pad_score(ctx, pad->models, &pad->arena, img, box, &r);
    if (st != FM_OK)
        return st;
    out->live = r.fused;
    out->model_live = r.model_live;
    out->moire = r.moire;
    out->specular = r.specular;
    out->colour = r.colour;
    return FM_OK;
}
