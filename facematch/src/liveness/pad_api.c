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

/* ---- video-level decision ------------------------------------------------------------------------------------ */

_Static_assert(FM_PAD_VIDEO_MIN_FRAMES == LV_PAD_VIDEO_MIN_FRAMES, "public and internal minimum frame counts differ");

struct fm_pad_video {
    double *scores; /* finite scores, in push order */
    int n, cap;
    int pushed;
};

double fm_pad_video_threshold(void) { return lv_pad_video_threshold(); }

fm_status fm_pad_video_create(fm_ctx *ctx, fm_pad_video **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_video_create: out is NULL");
    *out = (fm_pad_video *)calloc(1, sizeof **out);
    if (!*out)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    return FM_OK;
}

void fm_pad_video_destroy(fm_pad_video *v)
{
    if (!v)
        return;
    free(v->scores);
    free(v);
}

void fm_pad_video_reset(fm_pad_video *v)
{
    if (v)
        v->n = v->pushed = 0;
}

fm_status fm_pad_video_push(fm_ctx *ctx, fm_pad_video *v, double score)
{
    if (!v)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_video_push: v is NULL");
    if (!isnan(score) && !(score >= 0 && score <= 1))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_video_push: score %g is neither in [0, 1] nor NaN",
                       score);
    if (v->pushed >= FM_PAD_VIDEO_MAX_FRAMES)
        return fm_fail(ctx, FM_ERR_LIMIT, "fm_pad_video_push: more than %d scores", FM_PAD_VIDEO_MAX_FRAMES);
    if (!isnan(score)) {
        if (v->n == v->cap) {
            int nc = v->cap ? 2 * v->cap : 64;
            if (nc > FM_PAD_VIDEO_MAX_FRAMES)
                nc = FM_PAD_VIDEO_MAX_FRAMES;
            double *p = (double *)realloc(v->scores, (size_t)nc * sizeof *p);
            if (!p)
                return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
            v->scores = p;
            v->cap = nc;
        }
        v->scores[v->n++] = score;
    }
    v->pushed++;
    return FM_OK;
}

fm_status fm_pad_video_result_get(fm_ctx *ctx, const fm_pad_video *v, fm_pad_video_result *out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_video_result_get: out is NULL");
    memset(out, 0, sizeof *out);
    out->median = NAN;
    out->threshold = lv_pad_video_threshold();
    if (!v)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pad_video_result_get: v is NULL");
    lv_pad_video_result r;
    lv_pad_video(v->scores, v->n, &r); /* the session's rule (sess_liveness_pad_video) */
    out->evaluated = r.evaluated;
    out->pass = r.pass;
    out->scored = r.scored;
    out->pushed = v->pushed;
    out->median = r.median;
    out->threshold = r.threshold;
    return FM_OK;
}
