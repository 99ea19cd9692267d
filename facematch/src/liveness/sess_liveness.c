/* The session's seam to the liveness module (session/session_signals.h, declared by the session). */
#include "liveness/liveness_internal.h"

/* The session's header may land after this file (helpers commit separately): compile to nothing without it. */
#if defined(__has_include)
#if __has_include("session/session_signals.h")
#define LV_HAVE_SESSION 1
#endif
#endif
#ifdef LV_HAVE_SESSION
#include "face/face_internal.h"
#include "session/session_signals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sess_liveness {
    lv_models *models;
    nn_arena arena; /* the session's own scratch (a session belongs to one thread) */
};

fm_status sess_liveness_create(fm_ctx *ctx, const fm_engine *engine, const sess_liveness_config *scfg,
                               sess_liveness **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "sess_liveness_create: out is NULL");
    *out = NULL;
    sess_liveness *l = (sess_liveness *)calloc(1, sizeof *l);
    if (!l)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    lv_models_config cfg;
    lv_models_config_init(&cfg);
    if (scfg) { /* the session's models fields (session_signals.h) */
        cfg.models_dir = scfg->models_dir;
        cfg.liveness_buf = scfg->liveness_buf;
        cfg.liveness_len = scfg->liveness_len;
        cfg.eye_buf = scfg->eye_buf;
        cfg.eye_len = scfg->eye_len;
        cfg.verify_sha256 = scfg->verify_sha256;
    }
    /* no directory from the policy: the engine's (its config's, or the default it resolved when created), so that an
     * engine created with a custom models directory gets its liveness models from there too */
    if (!cfg.models_dir)
        cfg.models_dir = fm_engine_models_dir(engine);
    fm_status st = lv_models_create(ctx, &cfg, &l->models);
    if (st != FM_OK) {
        free(l);
        return st;
    }
    *out = l;
    return FM_OK;
}

void sess_liveness_destroy(sess_liveness *l)
{
    if (!l)
        return;
    lv_models_destroy(l->models);
    nn_arena_free(&l->arena);
    free(l);
}

double sess_liveness_default_pad_threshold(const sess_liveness *l)
{
    FM_UNUSED(l);
    return lv_pad_default_threshold();
}

fm_status sess_liveness_measure(fm_ctx *ctx, sess_liveness *l, const fm_image *rgb, const fm_face_box *box,
                                const fm_point pts[68], int want_pad, sess_signals *out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "sess_liveness_measure: out is NULL");
    out->ok = 0;
    out->ear = out->closed = out->yaw = out->pitch = out->pad = NAN;
    if (!l || !rgb || !box || !pts)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "sess_liveness_measure: NULL argument");
    out->ear = lv_ear_mean(pts);
    lv_pose pose;
    if (lv_head_pose68(pts, fm_image_width(rgb), fm_image_height(rgb), &pose) == 0) {
        out->yaw = pose.yaw;
        out->pitch = pose.pitch;
    }
    fm_status st = lv_eye_closed(ctx, l->models, &l->arena, rgb, pts, &out->closed);
    if (st != FM_OK)
        return st;
    if (want_pad) {
        lv_pad_result r;
        st = lv_pad_score(ctx, l->models, &l->arena, rgb, box, &r);
        if (st != FM_OK)
            return st;
        out->pad = r.fused;
    }
    out->ok = isfinite(out->ear) && isfinite(out->yaw);
    return FM_OK;
}

void sess_liveness_pad_video(const sess_liveness *l, const double *scores, int n, sess_pad_video *out)
{
    /* the liveness module's video-level rule (lv_pad_video, calibrated on clips and stills; README) */
    FM_UNUSED(l);
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    lv_pad_video_result r;
    lv_pad_video(scores, n, &r);
    out->evaluated = r.evaluated;
    out->pass = r.pass;
    out->statistic = r.median;
    out->threshold = r.threshold;
    snprintf(out->rule, sizeof out->rule, "median_of_%d>=%.3f", r.scored, r.threshold);
}

int sess_liveness_models(const sess_liveness *l, const char **names, const char **sha_hex, int cap)
{
    fm_model_id ids[2] = {FM_MODEL_FP_LIVENESS, FM_MODEL_FP_EYE};
    int n = 0;
    for (int i = 0; i < 2 && n < cap; i++) {
        if (i == 1 && !lv_models_has_eye(l ? l->models : NULL))
            continue;
        fm_model_desc d;
        if (fm_model_describe(ids[i], &d) != FM_OK)
            continue;
        if (names)
            names[n] = d.name;
        if (sha_hex)
            sha_hex[n] = d.sha256;
        n++;
    }
    return n;
}

#endif /* LV_HAVE_SESSION */
