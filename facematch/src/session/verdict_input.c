/* fm_session_verdict_input: a finished session's result -> fm_verdict_input (section [issue 6]). */
#include "internal.h"

#include <math.h>
#include <string.h>

fm_status fm_session_verdict_input(fm_ctx *ctx, const fm_session_result *r, const char *aud, const char *nonce_hex,
                                   const uint8_t portrait_sha256[32], int portrait_auth, const uint8_t *card_cert_der,
                                   size_t card_cert_len, fm_verdict_input *in)
{
    if (!r || !in || !aud || !nonce_hex || !portrait_sha256)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_verdict_input: NULL argument");
    if (!fm_verdict_decision_name((fm_verdict_decision)r->decision))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_verdict_input: result has no decision (finish it)");
    if (!fm_portrait_auth_name((fm_portrait_auth)portrait_auth))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_verdict_input: unknown portrait_auth %d",
                       portrait_auth);
    if (r->n_reasons < 0 || r->n_reasons > FM_SESSION_MAX_REASONS || r->n_checks < 0 ||
        r->n_checks > FM_SESSION_MAX_CHECKS || r->n_steps < 0 || r->n_steps > FM_CHALLENGE_MAX_STEPS ||
        r->n_frames < 0 || r->n_frames > FM_SESSION_MAX_FRAMES)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_verdict_input: result counts out of range");
    if (!isfinite(r->distance) || !isfinite(r->threshold))
        return fm_fail(ctx, FM_ERR_STATE, "fm_session_verdict_input: the session saw no usable face, so there is no "
                                          "match distance to state in a verdict");
    fm_verdict_input v;
    fm_verdict_input_init(&v);
    v.aud = aud;
    v.nonce_hex = nonce_hex;
    v.decision = (fm_verdict_decision)r->decision;
    for (int i = 0; i < r->n_reasons && v.n_reasons < FM_VERDICT_MAX_REASONS; i++)
        v.reasons[v.n_reasons++] = r->reasons[i];
    v.distance = r->distance;
    v.similarity = r->similarity;
    v.threshold = r->threshold;
    v.fmr = r->fmr;
    v.metric = "l2";
    for (int i = 0; i < r->n_checks && v.n_checks < FM_VERDICT_MAX_CHECKS; i++) {
        fm_verdict_check *c = &v.checks[v.n_checks++];
        c->name = r->checks[i].name;
        c->score = r->checks[i].score;
        c->threshold = r->checks[i].threshold;
        c->pass = r->checks[i].pass;
    }
    for (int i = 0; i < r->n_steps && v.n_steps < FM_VERDICT_MAX_STEPS; i++) {
        const fm_session_step *s = &r->steps[i];
        const char *name = fm_challenge_action_name((fm_challenge_action)s->action);
        if (!name)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_verdict_input: step %d has no action", i);
        fm_verdict_step *d = &v.steps[v.n_steps++];
        d->action = name;
        d->asked_at = s->asked_at;
        d->deadline = s->deadline;
        d->met = s->met;
        d->met_at = s->met ? s->met_at : NAN;
    }
    for (int i = 0; i < r->n_frames && v.n_frames < FM_VERDICT_MAX_FRAMES; i++) {
        const fm_session_frame *f = &r->frames[i];
        fm_verdict_frame *d = &v.frames[v.n_frames++];
        d->t = f->t;
        d->quality = f->quality;
        d->face_px = f->face_px;
        d->sharpness = f->sharpness;
        d->brightness = f->brightness;
        d->yaw = f->yaw;
        d->pitch = f->pitch;
    }
    memcpy(v.portrait_sha256, portrait_sha256, 32);
    v.portrait_auth = (fm_portrait_auth)portrait_auth;
    v.card_cert_der = card_cert_der;
    v.card_cert_len = card_cert_len;
    /* the models the session ran: their manifest hashes (the engine checks files against them when created with
       verify_sha256, the default) */
    static const fm_model_id used[] = {FM_MODEL_FP_DETECT, FM_MODEL_DLIB_SP68, FM_MODEL_DLIB_SP5, FM_MODEL_DLIB_RESNET,
                                       FM_MODEL_FP_LIVENESS, FM_MODEL_FP_EYE};
    for (size_t i = 0; i < sizeof used / sizeof used[0] && v.n_models < FM_VERDICT_MAX_MODELS; i++) {
        fm_model_desc d;
        if (fm_model_describe(used[i], &d) != FM_OK)
            continue;
        v.models[v.n_models].name = d.name;
        v.models[v.n_models].sha256_hex = d.sha256;
        v.n_models++;
    }
    *in = v;
    return FM_OK;
}
