/* Live session: state machine over camera frames (detect -> landmarks -> liveness signals -> quality -> challenge
 * steps -> continuity -> best-frame match). Decision rules: README "session" and finish() below. */
#include "internal.h"
#include "session_signals.h"
#include "liveness/liveness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DIM 128
#define MAX_CAND 16
#define DT_KEEP 4096

typedef struct cand {
    fm_session_frame f;
    float desc[DIM];
} cand;

struct fm_session {
    fm_ctx *ctx;
    const fm_engine *eng;
    sess_liveness *live;
    fm_session_policy pol;
    double pad_thr;
    int pad_own; /* the policy set pad_threshold: per-frame rule instead of the liveness module's video rule */
    fm_challenge ch;
    int fixed;
    float ref[DIM];

    fm_session_state state;
    int finished;
    char fail_reason[48];

    /* time */
    int nframes;
    int64_t t0_us, last_us;
    double *dts;
    int n_dts;
    int gaps;
    int ts_bad;
    double t_last;

    /* faces */
    int face_frames, multi_frames, lost_frames;
    int have_prev;
    fm_face_box prev_box;
    double prev_t;
    int jumps;
    double max_jump_seen;

    /* settle */
    double settle_start;

    /* identity */
    int have_first;
    float first[DIM];
    double last_embed_t, last_id_t;
    int id_samples;
    double id_max;

    /* passive */
    double *pads;
    int n_pads, cap_pads;
    double last_pad_t;

    /* challenge */
    int cur;
    fm_session_step steps[FM_CHALLENGE_MAX_STEPS];
    lv_blink_detector blink;   /* fed every frame (NaN without a single face) */
    lv_motion_detector motion;

    /* every detected event, asked for or not */
    fm_session_event events[FM_SESSION_MAX_EVENTS];
    int n_events, n_events_total;

    /* match candidates */
    cand cands[MAX_CAND];
    int ncand;
    double last_cand_t;
};

/* ---- instructions ------------------------------------------------------------------------------------------- */

static const struct {
    const char *code, *en, *ja;
} instr_text[] = {
    {"none", "", ""},
    {"look_at_camera", "Look at the camera", "カメラを見てください"},
    {"one_face_only", "Only one face, please", "顔が一人だけ映るようにしてください"},
    {"move_closer", "Move closer", "もう少し近づいてください"},
    {"move_back", "Move back a little", "少し離れてください"},
    {"center_face", "Center your face", "顔を画面の中央に合わせてください"},
    {"too_dark", "Too dark: find more light", "暗すぎます。明るい場所に移動してください"},
    {"too_bright", "Too bright: avoid direct light", "明るすぎます。直接の光を避けてください"},
    {"hold_still", "Hold still", "動かないでください"},
    {"look_straight", "Look straight at the camera", "まっすぐカメラを見てください"},
    {"blink_now", "Blink now", "まばたきをしてください"},
    {"turn_left", "Turn your head to your left", "顔をご自身の左に向けてください"},
    {"turn_right", "Turn your head to your right", "顔をご自身の右に向けてください"},
    {"nod", "Nod your head", "うなずいてください"},
    {"done", "Done", "完了しました"},
    {"failed", "Could not verify: please try again", "確認できませんでした。もう一度お試しください"},
};

const char *fm_instruction_code(fm_instruction i)
{
    if ((int)i < 0 || (int)i > FM_INSTR_FAILED)
        return NULL;
    return instr_text[i].code;
}

const char *fm_instruction_text(fm_instruction i, const char *lang)
{
    if ((int)i < 0 || (int)i > FM_INSTR_FAILED)
        return NULL;
    if (lang && strcmp(lang, "ja") == 0)
        return instr_text[i].ja;
    return instr_text[i].en;
}

static fm_instruction instr_for_action(int a)
{
    switch (a) {
    case FM_ACTION_BLINK:
        return FM_INSTR_BLINK;
    case FM_ACTION_TURN_LEFT:
        return FM_INSTR_TURN_LEFT;
    case FM_ACTION_TURN_RIGHT:
        return FM_INSTR_TURN_RIGHT;
    default:
        return FM_INSTR_NOD;
    }
}

/* ---- policy ------------------------------------------------------------------------------------------------- */

void fm_session_policy_init(fm_session_policy *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    /* measured with `facematch eval --identities faces/identities.csv` (all 18,561 impostor pairs of
       ../shared/data/faces, dlib embedder, 2026-11-23): FAR 1e-3 at 0.5225 (TAR 0.909); dlib's usual 0.6 gives FAR
       2.0e-3 there */
    p->match_threshold = 0.52;
    p->match_fmr = 1e-3;
    p->match_frames = 5;
    p->min_match_frames = 3;
    p->max_duration = 40;
    p->settle_time = 0.5;
    p->require_challenge = 1;
    p->require_passive = 1;
    p->require_continuity = 1;
    p->pad_threshold = NAN;
    p->pad_max_spoof_fraction = 0.5; /* see README "session": attacks 97-100 %, live real2 35 % */
    p->turn_degrees = NAN; /* the liveness module's detector defaults (15 / 12 degrees) */
    p->nod_degrees = NAN;
    p->verify_models = 1;
    p->identity_threshold = 0.6;
    p->max_jump = 0.5;
    p->min_fps = 5;
    p->max_fps = 120;
    p->max_gap = 1.0;
    p->min_face_px = 80;
    p->min_sharpness = 20;
    p->min_brightness = 30; /* CNN real.mp4 (dim office) reads 44-48 and matches at 0.13-0.16; the same frames
                               darkened to 27 / 22 / 18 drift by +0.02 / +0.05 / +0.11, at ~14 no face is found */
    p->max_brightness = 215;
    p->max_pose_degrees = 15;
    p->max_pitch_degrees = 35; /* fitted pitch of frontal faces on the live clips: -9..-14 (CNN real), -15..-25
                                  (real2), -19 (franck), -28 (cap12): camera elevation + the generic 3D model */
}

static fm_status check_policy(fm_ctx *ctx, const fm_session_policy *p)
{
#define BAD(cond, what)                                                                                            \
    if (cond)                                                                                                      \
    return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "session policy: %s", what)
    BAD(!(p->match_threshold > 0 && p->match_threshold < 10), "match_threshold must be in (0, 10)");
    BAD(p->match_frames < 1 || p->match_frames > MAX_CAND, "match_frames must be 1..16");
    BAD(p->min_match_frames < 1 || p->min_match_frames > p->match_frames, "min_match_frames must be 1..match_frames");
    BAD(!(p->max_duration > 0 && p->max_duration <= 600), "max_duration must be in (0, 600]");
    BAD(!(p->settle_time >= 0 && p->settle_time <= 10), "settle_time must be in [0, 10]");
    BAD(!isnan(p->pad_threshold) && !(p->pad_threshold >= 0 && p->pad_threshold <= 1), "pad_threshold in [0, 1]");
    BAD(!(p->pad_max_spoof_fraction >= 0 && p->pad_max_spoof_fraction < 1), "pad_max_spoof_fraction in [0, 1)");
    BAD(!isnan(p->turn_degrees) && !(p->turn_degrees >= 5 && p->turn_degrees <= 60), "turn_degrees must be 5..60");
    BAD(!isnan(p->nod_degrees) && !(p->nod_degrees >= 3 && p->nod_degrees <= 45), "nod_degrees must be 3..45");
    BAD((p->liveness_model != NULL) != (p->liveness_model_len > 0), "liveness_model and its length go together");
    BAD((p->eye_model != NULL) != (p->eye_model_len > 0), "eye_model and its length go together");
    BAD(!(p->identity_threshold > 0 && p->identity_threshold < 10), "identity_threshold must be in (0, 10)");
    BAD(!(p->max_jump > 0 && p->max_jump <= 10), "max_jump must be in (0, 10]");
    BAD(!(p->min_fps > 0 && p->max_fps > p->min_fps && p->max_fps <= 1000), "need 0 < min_fps < max_fps <= 1000");
    BAD(!(p->max_gap > 0 && p->max_gap <= 60), "max_gap must be in (0, 60]");
    BAD(!(p->min_face_px >= 16 && p->min_face_px <= 4096), "min_face_px must be 16..4096");
    BAD(!(p->min_sharpness >= 0), "min_sharpness must be >= 0");
    BAD(!(p->min_brightness >= 0 && p->max_brightness > p->min_brightness && p->max_brightness <= 255),
        "need 0 <= min_brightness < max_brightness <= 255");
    BAD(!(p->max_pose_degrees > 0 && p->max_pose_degrees <= 90), "max_pose_degrees must be in (0, 90]");
    BAD(!(p->max_pitch_degrees > 0 && p->max_pitch_degrees <= 90), "max_pitch_degrees must be in (0, 90]");
    BAD(p->test_n_steps < 0 || p->test_n_steps > FM_CHALLENGE_MAX_STEPS, "test_n_steps must be 0..3");
    BAD(p->observe && p->test_n_steps, "observe and test_actions exclude each other");
    for (int i = 0; i < p->test_n_steps; i++)
        BAD(!fm_challenge_action_name((fm_challenge_action)p->test_actions[i]), "test_actions: unknown action");
#undef BAD
    return FM_OK;
}

/* ---- creation ----------------------------------------------------------------------------------------------- */

static fm_status session_new(fm_ctx *ctx, const fm_engine *engine, const uint8_t *nonce, size_t nonce_len,
                             const fm_session_policy *policy, fm_session **out)
{
    fm_session_policy pol;
    if (policy)
        pol = *policy;
    else
        fm_session_policy_init(&pol);
    fm_status st = check_policy(ctx, &pol);
    if (st != FM_OK)
        return st;
    static const fm_model_id need[] = {FM_MODEL_DLIB_RESNET, FM_MODEL_DLIB_SP5, FM_MODEL_DLIB_SP68,
                                       FM_MODEL_FP_DETECT};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!fm_engine_has_model(engine, need[i])) {
            fm_model_desc d;
            fm_model_describe(need[i], &d);
            return fm_fail(ctx, FM_ERR_MODEL_MISSING, "the session needs model %s (%s) in the engine", d.name,
                           d.file);
        }
    }
    fm_challenge ch;
    st = fm_challenge_derive(ctx, nonce, nonce_len, &ch);
    if (st != FM_OK)
        return st;
    fm_session *s = (fm_session *)calloc(1, sizeof *s);
    if (!s)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    s->dts = (double *)malloc(DT_KEEP * sizeof *s->dts);
    if (!s->dts) {
        free(s);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    sess_liveness_config lcfg = {pol.models_dir,  pol.liveness_model,   pol.liveness_model_len,
                                 pol.eye_model,   pol.eye_model_len,    pol.verify_models};
    st = sess_liveness_create(ctx, engine, &lcfg, &s->live);
    if (st != FM_OK) {
        free(s->dts);
        free(s);
        return st;
    }
    s->ctx = ctx;
    s->eng = engine;
    s->pol = pol;
    /* the model pointers were only needed to create the liveness part */
    s->pol.models_dir = NULL;
    s->pol.liveness_model = s->pol.eye_model = NULL;
    s->pad_own = !isnan(pol.pad_threshold);
    s->pad_thr = s->pad_own ? pol.pad_threshold : sess_liveness_default_pad_threshold(s->live);
    s->ch = ch;
    if (pol.test_n_steps > 0) {
        s->fixed = 1;
        s->ch.n_steps = pol.test_n_steps;
        for (int i = 0; i < pol.test_n_steps; i++) {
            s->ch.action[i] = pol.test_actions[i]; /* the windows stay the nonce-derived ones */
            if (s->ch.window_ms[i] <= 0)
                s->ch.window_ms[i] = 4000; /* more steps than derived: the middle of the 3..5 s range */
        }
        for (int i = pol.test_n_steps; i < FM_CHALLENGE_MAX_STEPS; i++)
            s->ch.action[i] = 0, s->ch.window_ms[i] = 0;
    }
    if (pol.observe) { /* nothing is asked */
        s->ch.n_steps = 0;
        for (int i = 0; i < FM_CHALLENGE_MAX_STEPS; i++)
            s->ch.action[i] = 0, s->ch.window_ms[i] = 0;
    }
    for (int i = 0; i < FM_CHALLENGE_MAX_STEPS; i++) {
        s->steps[i].action = i < s->ch.n_steps ? s->ch.action[i] : 0;
        s->steps[i].asked_at = s->steps[i].deadline = s->steps[i].met_at = s->steps[i].evidence = NAN;
    }
    s->state = FM_SESSION_SEARCHING;
    s->settle_start = NAN;
    s->last_embed_t = s->last_id_t = s->last_pad_t = s->last_cand_t = -1e9;
    lv_blink_init(&s->blink, NULL);
    lv_motion_params mp;
    lv_motion_params_init(&mp); /* one threshold for the session and the liveness module's evaluations */
    if (!isnan(pol.turn_degrees))
        mp.turn_deg = pol.turn_degrees;
    if (!isnan(pol.nod_degrees)) {
        mp.nod_deg = pol.nod_degrees;
        mp.nod_return = 0.5 * pol.nod_degrees;
    }
    s->pol.turn_degrees = mp.turn_deg;
    s->pol.nod_degrees = mp.nod_deg;
    lv_motion_init(&s->motion, &mp);
    *out = s;
    return FM_OK;
}

static fm_status portrait_descriptor(fm_ctx *ctx, const fm_engine *engine, const fm_image *portrait, float *desc)
{
    fm_detect_options o;
    fm_detect_options_init(&o);
    fm_face_box faces[4];
    size_t n = 0;
    fm_status st = fm_detect(ctx, engine, portrait, &o, faces, 4, &n);
    if (st != FM_OK)
        return st;
    if (n == 0 && fm_engine_has_model(engine, FM_MODEL_DLIB_MMOD)) {
        o.detector = FM_DETECTOR_MMOD;
        o.upsample = fm_image_width(portrait) < 400;
        st = fm_detect(ctx, engine, portrait, &o, faces, 4, &n);
        if (st != FM_OK)
            return st;
    }
    if (n == 0)
        return fm_fail(ctx, FM_ERR_NO_FACE, "no face found in the reference portrait");
    if (n > 1)
        return fm_fail(ctx, FM_ERR_MULTIPLE_FACES, "%zu faces in the reference portrait (exactly one expected)", n);
    return fm_embed_face(ctx, engine, FM_EMBED_DLIB, portrait, &faces[0], desc, DIM);
}

fm_status fm_session_create(fm_ctx *ctx, const fm_engine *engine, const fm_image *portrait, const uint8_t *nonce,
                            size_t nonce_len, const fm_session_policy *policy, fm_session **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_create: out is NULL");
    *out = NULL;
    if (!engine || !portrait || !nonce)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_create: NULL argument");
    fm_session *s = NULL;
    fm_status st = session_new(ctx, engine, nonce, nonce_len, policy, &s);
    if (st != FM_OK)
        return st;
    st = portrait_descriptor(ctx, engine, portrait, s->ref);
    if (st != FM_OK) {
        fm_session_destroy(s);
        return st;
    }
    *out = s;
    return FM_OK;
}

fm_status fm_session_create_with_reference(fm_ctx *ctx, const fm_engine *engine, const float *reference, size_t dim,
                                           const uint8_t *nonce, size_t nonce_len, const fm_session_policy *policy,
                                           fm_session **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_create_with_reference: out is NULL");
    *out = NULL;
    if (!engine || !reference || !nonce)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_create_with_reference: NULL argument");
    if (dim != DIM)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "reference descriptor of %zu floats (128 expected)", dim);
    for (size_t i = 0; i < dim; i++)
        if (!isfinite(reference[i]))
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "reference descriptor value %zu is not finite", i);
    fm_session *s = NULL;
    fm_status st = session_new(ctx, engine, nonce, nonce_len, policy, &s);
    if (st != FM_OK)
        return st;
    memcpy(s->ref, reference, sizeof s->ref);
    *out = s;
    return FM_OK;
}

void fm_session_destroy(fm_session *s)
{
    if (!s)
        return;
    sess_liveness_destroy(s->live);
    free(s->dts);
    free(s->pads);
    fm_wipe(s, sizeof *s);
    free(s);
}

void fm_session_challenge(const fm_session *s, fm_challenge *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (s)
        *out = s->ch;
}

/* ---- per-frame measures ---------------------------------------------------------------------------------------- */

static double l2(const float *a, const float *b)
{
    double d = 0;
    for (int i = 0; i < DIM; i++) {
        double t = (double)a[i] - b[i];
        d += t * t;
    }
    return sqrt(d);
}

/* Sharpness (variance of the 4-neighbour Laplacian) and brightness (mean grey) of the face box, resampled to
 * 112x112 so that the numbers do not depend on the face's size. */
static fm_status face_crop_stats(fm_ctx *ctx, const fm_image *rgb, const fm_face_box *b, double *sharp, double *bright)
{
    int W = fm_image_width(rgb), H = fm_image_height(rgb);
    int x0 = (int)floorf(b->left), y0 = (int)floorf(b->top), x1 = (int)ceilf(b->right), y1 = (int)ceilf(b->bottom);
    if (x0 < 0)
        x0 = 0;
    if (y0 < 0)
        y0 = 0;
    if (x1 > W - 1)
        x1 = W - 1;
    if (y1 > H - 1)
        y1 = H - 1;
    *sharp = *bright = NAN;
    if (x1 - x0 < 8 || y1 - y0 < 8)
        return FM_OK;
    fm_image *crop = NULL, *small = NULL;
    fm_status st = fm_image_crop(ctx, rgb, x0, y0, x1 - x0 + 1, y1 - y0 + 1, &crop);
    if (st == FM_OK)
        st = fm_image_resize(ctx, crop, 112, 112, FM_RESIZE_AREA, &small);
    if (st == FM_OK) {
        int stride;
        const uint8_t *p = fm_image_plane(small, 0, &stride);
        const size_t gsz = 112 * 112 * sizeof(float);
        float *gp = (float *)malloc(gsz);
        if (!gp) {
            st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
        } else {
            double sum = 0;
            for (int y = 0; y < 112; y++)
                for (int x = 0; x < 112; x++) {
                    const uint8_t *q = p + (size_t)y * stride + 3 * x;
                    float v = 0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2];
                    gp[y * 112 + x] = v;
                    sum += v;
                }
            double m = 0, m2 = 0;
            int n = 0;
            for (int y = 1; y < 111; y++)
                for (int x = 1; x < 111; x++) {
                    double l = gp[(y - 1) * 112 + x] + gp[(y + 1) * 112 + x] + gp[y * 112 + x - 1] +
                               gp[y * 112 + x + 1] - 4.0 * gp[y * 112 + x];
                    m += l;
                    m2 += l * l;
                    n++;
                }
            m /= n;
            *sharp = m2 / n - m * m;
            *bright = sum / (112.0 * 112.0);
            fm_wipe(gp, gsz);
            free(gp);
        }
    }
    if (crop)
        fm_wipe(fm_image_pixels(crop, 0, NULL), (size_t)fm_image_width(crop) * fm_image_height(crop) * 3);
    if (small)
        fm_wipe(fm_image_pixels(small, 0, NULL), 112 * 112 * 3);
    fm_image_destroy(crop);
    fm_image_destroy(small);
    return st;
}

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Overall quality 0..1: each measure scored between its gate and a comfortable value, multiplied. */
static double quality_score(const fm_session_policy *p, double face_px, double sharp, double bright, double yaw,
                            double pitch)
{
    if (!isfinite(sharp) || !isfinite(bright) || !isfinite(yaw) || !isfinite(pitch))
        return 0;
    double qs = clamp01((face_px - p->min_face_px * 0.5) / (p->min_face_px * 1.5));
    double qh = clamp01(log(1 + sharp / (p->min_sharpness > 0 ? p->min_sharpness : 1)) / log(6.0));
    double mid = (p->min_brightness + p->max_brightness) / 2, half = (p->max_brightness - p->min_brightness) / 2;
    double qb = clamp01(1.2 - fabs(bright - mid) / half);
    double pose = fmax(fabs(yaw), fabs(pitch) * p->max_pose_degrees / p->max_pitch_degrees);
    double qp = clamp01(1 - pose / (2 * p->max_pose_degrees));
    return qs * qh * qb * qp;
}

static void add_pad(fm_session *s, double v)
{
    if (s->n_pads == s->cap_pads) {
        int nc = s->cap_pads ? 2 * s->cap_pads : 64;
        if (nc > 100000)
            return;
        double *np = (double *)realloc(s->pads, (size_t)nc * sizeof *np);
        if (!np)
            return;
        s->pads = np;
        s->cap_pads = nc;
    }
    s->pads[s->n_pads++] = v;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Inserts a match candidate if it ranks among the best; keeps cands sorted by quality, best first. */
static void add_cand(fm_session *s, const fm_session_frame *f, const float *desc)
{
    int cap = s->pol.match_frames;
    int pos = s->ncand;
    while (pos > 0 && s->cands[pos - 1].f.quality < f->quality)
        pos--;
    if (pos >= cap)
        return;
    int last = s->ncand < cap ? s->ncand : cap - 1;
    for (int i = last; i > pos; i--)
        s->cands[i] = s->cands[i - 1];
    s->cands[pos].f = *f;
    memcpy(s->cands[pos].desc, desc, sizeof s->cands[pos].desc);
    if (s->ncand < cap)
        s->ncand++;
}

static int cand_would_enter(const fm_session *s, double q)
{
    return s->ncand < s->pol.match_frames || q > s->cands[s->ncand - 1].f.quality;
}

/* ---- challenge step detectors ---------------------------------------------------------------------------------- */

static void start_step(fm_session *s, int k, double t)
{
    s->cur = k;
    s->steps[k].asked_at = t;
    s->steps[k].deadline = t + s->ch.window_ms[k] / 1000.0;
}

/* A motion may have started at most this long before its instruction was shown (frame latency); a motion that
 * began earlier was not a response to the instruction. */
#define STEP_LEAD 0.2

static void log_event(fm_session *s, int action, double t0, double t1, double value)
{
    s->n_events_total++;
    if (s->n_events >= FM_SESSION_MAX_EVENTS)
        return;
    fm_session_event *e = &s->events[s->n_events++];
    e->action = action;
    e->t_start = t0;
    e->t_end = t1;
    e->value = value;
}

/* Feeds the liveness module's event detectors (every frame; NaN when there is no single tracked face). Returns 1
 * when the current challenge step is met on this frame (s->steps[cur].evidence set). */
static int detectors_update(fm_session *s, const sess_signals *g, double t, int asking)
{
    lv_blink_event bev;
    lv_motion_event mev;
    int blink = lv_blink_push(&s->blink, t, g->ear, g->closed, &bev);
    int mot = lv_motion_push(&s->motion, t, g->yaw, g->pitch, &mev);
    if (blink)
        log_event(s, FM_ACTION_BLINK, bev.t_start, bev.t_end, bev.duration);
    if (mot) {
        int a = mev.motion == LV_MOTION_NOD ? FM_ACTION_NOD
                : (mev.motion == LV_MOTION_TURN_LEFT) != !!s->pol.mirrored ? FM_ACTION_TURN_LEFT
                                                                            : FM_ACTION_TURN_RIGHT;
        log_event(s, a, mev.t_start, mev.t_end, mev.peak_deg);
    }
    if (!asking)
        return 0;
    fm_session_step *st = &s->steps[s->cur];
    if (st->action == FM_ACTION_BLINK) {
        if (blink && bev.t_start >= st->asked_at - STEP_LEAD) {
            st->evidence = bev.duration;
            return 1;
        }
        return 0;
    }
    if (!mot || mev.t_start < st->asked_at - STEP_LEAD)
        return 0;
    int want;
    if (st->action == FM_ACTION_NOD)
        want = LV_MOTION_NOD;
    else {
        int left = st->action == FM_ACTION_TURN_LEFT;
        if (s->pol.mirrored)
            left = !left;
        want = left ? LV_MOTION_TURN_LEFT : LV_MOTION_TURN_RIGHT;
    }
    if ((int)mev.motion != want)
        return 0;
    st->evidence = mev.peak_deg;
    return 1;
}

/* ---- push_frame ----------------------------------------------------------------------------------------------- */

static void fill_fb(const fm_session *s, fm_session_feedback *fb, fm_instruction in, double t)
{
    if (!fb)
        return;
    fb->state = s->state;
    fb->instruction = in;
    fb->code = fm_instruction_code(in);
    fb->text_en = fm_instruction_text(in, "en");
    fb->text_ja = fm_instruction_text(in, "ja");
    fb->n_steps = s->ch.n_steps;
    fb->step = s->state == FM_SESSION_CHALLENGE ? s->cur : -1;
    fb->t = t;
    fb->step_time_left = s->state == FM_SESSION_CHALLENGE ? s->steps[s->cur].deadline - t : NAN;
}

static void fail_session(fm_session *s, const char *reason)
{
    s->state = FM_SESSION_FAILED;
    if (!s->fail_reason[0])
        snprintf(s->fail_reason, sizeof s->fail_reason, "%s", reason);
}

fm_status fm_session_push_frame(fm_session *s, const fm_image *frame, int64_t ts, fm_session_feedback *fb)
{
    if (fb) {
        memset(fb, 0, sizeof *fb);
        fb->step = -1;
        fb->step_time_left = NAN;
        fb->yaw = fb->pitch = fb->ear = fb->pad = fb->brightness = fb->sharpness = NAN;
    }
    if (!s)
        return FM_ERR_INVALID_ARGUMENT;
    fm_ctx *ctx = s->ctx;
    if (!frame)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_session_push_frame: frame is NULL");
    if (s->finished || s->state == FM_SESSION_DONE || s->state == FM_SESSION_FAILED) {
        fill_fb(s, fb, s->state == FM_SESSION_DONE ? FM_INSTR_DONE : FM_INSTR_FAILED, s->t_last);
        return fm_fail(ctx, FM_ERR_STATE, "the session is %s: no more frames accepted",
                       s->finished ? "finished" : s->state == FM_SESSION_DONE ? "done" : "failed");
    }
    /* timestamps */
    if (s->nframes > 0 && ts <= s->last_us) {
        s->ts_bad = 1;
        fail_session(s, "timestamps_not_monotonic");
        fill_fb(s, fb, FM_INSTR_FAILED, s->t_last);
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT,
                       "frame timestamp %lld us is not after the previous one (%lld us): session failed",
                       (long long)ts, (long long)s->last_us);
    }
    if (s->nframes == 0)
        s->t0_us = ts;
    else {
        double dt = (double)(ts - s->last_us) / 1e6;
        if (s->n_dts < DT_KEEP)
            s->dts[s->n_dts++] = dt;
        if (dt > s->pol.max_gap)
            s->gaps++;
    }
    s->nframes++;
    s->last_us = ts;
    double t = (double)(ts - s->t0_us) / 1e6;
    s->t_last = t;
    if (t > s->pol.max_duration && !s->pol.observe) {
        fail_session(s, "session_timeout");
        fill_fb(s, fb, FM_INSTR_FAILED, t);
        return FM_OK;
    }
    if (s->state == FM_SESSION_CHALLENGE && t > s->steps[s->cur].deadline) {
        fail_session(s, "challenge_step_missed");
        fill_fb(s, fb, FM_INSTR_FAILED, t);
        return FM_OK;
    }

    /* one upright RGB copy shared by every stage */
    fm_image *rgb = NULL;
    fm_status st = fm_image_convert(ctx, frame, FM_PIX_RGB24, &rgb);
    if (st != FM_OK)
        return st;
    int W = fm_image_width(rgb), H = fm_image_height(rgb);
    fm_instruction in = FM_INSTR_NONE;
    const fm_session_policy *p = &s->pol;
    sess_signals g = {0, NAN, NAN, NAN, NAN, NAN};
    int frontal = 0;
    fm_face_box faces[8];
    size_t nf = 0;
    fm_detect_options dopt;
    fm_detect_options_init(&dopt);
    dopt.min_size = 24;
    st = fm_detect(ctx, s->eng, rgb, &dopt, faces, 8, &nf);
    if (st != FM_OK)
        goto out;
    if (fb)
        fb->faces = (int)nf;
    if (nf == 0) {
        s->lost_frames++;
        s->have_prev = 0;
        s->settle_start = NAN;
        in = FM_INSTR_LOOK_AT_CAMERA;
        goto state;
    }
    s->face_frames++;
    if (nf > 1) {
        s->multi_frames++;
        s->settle_start = NAN;
        in = FM_INSTR_ONE_FACE_ONLY;
        goto state;
    }
    const fm_face_box *b = &faces[0];
    double fw = (double)b->right - b->left + 1, cx = ((double)b->left + b->right) / 2,
           cy = ((double)b->top + b->bottom) / 2;
    if (fb)
        fb->box = *b;
    /* continuity: jumps between consecutive frames, normalised to a 30 fps frame interval */
    if (s->have_prev) {
        double pw = (double)s->prev_box.right - s->prev_box.left + 1;
        double pcx = ((double)s->prev_box.left + s->prev_box.right) / 2,
               pcy = ((double)s->prev_box.top + s->prev_box.bottom) / 2;
        double frames = (t - s->prev_t) * 30;
        if (frames < 1)
            frames = 1;
        double move = hypot(cx - pcx, cy - pcy) / pw / frames;
        double scale = fabs(log(fw / pw)) / frames;
        double j = fmax(move, scale / log(1.5) * s->pol.max_jump);
        if (j > s->max_jump_seen)
            s->max_jump_seen = j;
        if (j > s->pol.max_jump)
            s->jumps++;
    }
    s->have_prev = 1;
    s->prev_box = *b;
    s->prev_t = t;

    fm_point pts[68];
    st = fm_landmarks(ctx, s->eng, rgb, b, 68, pts);
    if (st != FM_OK)
        goto out;
    int want_pad = t - s->last_pad_t >= 0.1; /* passive model at most 10 times a second */
    st = sess_liveness_measure(ctx, s->live, rgb, b, pts, want_pad, &g);
    if (st != FM_OK)
        goto out;
    if (isfinite(g.pad)) {
        add_pad(s, g.pad);
        s->last_pad_t = t;
    }
    double sharp, bright;
    st = face_crop_stats(ctx, rgb, b, &sharp, &bright);
    if (st != FM_OK)
        goto out;
    double q = quality_score(&s->pol, fw, sharp, bright, g.yaw, g.pitch);
    if (fb) {
        fb->quality = q;
        fb->yaw = g.yaw;
        fb->pitch = g.pitch;
        fb->ear = g.ear;
        fb->pad = g.pad;
        fb->brightness = bright;
        fb->sharpness = sharp;
    }

    /* gates, in the order a user can fix them */
    int centred = cx > 0.15 * W && cx < 0.85 * W && cy > 0.1 * H && cy < 0.9 * H;
    if (fw < p->min_face_px)
        in = FM_INSTR_MOVE_CLOSER;
    else if (fw > 0.9 * (W < H ? W : H))
        in = FM_INSTR_MOVE_BACK;
    else if (!centred)
        in = FM_INSTR_CENTER_FACE;
    else if (!(bright >= p->min_brightness))
        in = FM_INSTR_TOO_DARK;
    else if (!(bright <= p->max_brightness))
        in = FM_INSTR_TOO_BRIGHT;
    else if (!(sharp >= p->min_sharpness))
        in = FM_INSTR_HOLD_STILL;
    else if (!g.ok)
        in = FM_INSTR_LOOK_AT_CAMERA;
    int gates_ok = in == FM_INSTR_NONE;
    /* pitch has its own, wider allowance: the fitted pitch carries the camera's elevation (a phone held low, a
       webcam on top of a screen) and the generic model's bias as a constant offset */
    frontal = fabs(g.yaw) < p->max_pose_degrees && fabs(g.pitch) < p->max_pitch_degrees;
    /* matching frames have open eyes: EAR near the blink detector's open-eye baseline, eye model not "closed" */
    double pb = s->blink.p_base; /* the eye model counts as the blink detector counts it: a rise over its own
                                    open-eye level, ignored while that level is high (it reads "closed" on some faces) */
    int model_closed = isfinite(g.closed) && !(isfinite(pb) && pb > s->blink.p.p_max_base) &&
                       g.closed > fmax(s->blink.p.p_closed, isfinite(pb) ? pb + s->blink.p.p_rise : 0);
    int eyes_open = (!isfinite(s->blink.baseline) || !isfinite(g.ear) || g.ear > 0.8 * s->blink.baseline) &&
                    !model_closed;

    /* identity and match candidates: embed when the frame would be a candidate, or for the periodic identity
       sample (every 0.5 s); at most one embedding per 0.1 s */
    int cand_ok = gates_ok && frontal && eyes_open && t - s->last_cand_t >= 0.1 && cand_would_enter(s, q);
    /* identity samples only at moderate poses: the descriptor of a strongly turned face drifts even for the same
       person (measured: up to 0.72 at ~30 degrees on anit-spoofing/real.mov) */
    int id_due = g.ok && fw >= 0.6 * p->min_face_px && t - s->last_id_t >= 0.5 && fabs(g.yaw) < 20 &&
                 fabs(g.pitch) < 30;
    if ((cand_ok || id_due || (!s->have_first && gates_ok && frontal)) && t - s->last_embed_t >= 0.1) {
        float desc[DIM];
        st = fm_embed_face(ctx, s->eng, FM_EMBED_DLIB, rgb, b, desc, DIM);
        if (st != FM_OK)
            goto out;
        s->last_embed_t = t;
        if (!s->have_first) {
            memcpy(s->first, desc, sizeof desc);
            s->have_first = 1;
        } else {
            double d = l2(desc, s->first);
            s->id_samples++;
            if (d > s->id_max)
                s->id_max = d;
        }
        s->last_id_t = t;
        if (cand_ok) {
            fm_session_frame f = {t, q, fw, sharp, bright, g.yaw, g.pitch, l2(desc, s->ref)};
            add_cand(s, &f, desc);
            s->last_cand_t = t;
        }
        fm_wipe(desc, sizeof desc);
    }

state:;
    /* the event detectors see every frame; NaN signals when there is not exactly one face */
    int met = detectors_update(s, &g, t, s->state == FM_SESSION_CHALLENGE);
    switch (s->state) {
    case FM_SESSION_SEARCHING:
        if (in == FM_INSTR_NONE && nf == 1) {
            if (!frontal) {
                in = FM_INSTR_LOOK_STRAIGHT;
                s->settle_start = NAN;
                break;
            }
            if (isnan(s->settle_start))
                s->settle_start = t;
            if (t - s->settle_start >= p->settle_time && s->have_first && p->observe) {
                s->state = FM_SESSION_COLLECTING; /* observe: no challenge */
            } else if (t - s->settle_start >= p->settle_time && s->have_first) {
                s->state = FM_SESSION_CHALLENGE;
                start_step(s, 0, t);
                in = instr_for_action(s->steps[0].action);
            } else {
                in = FM_INSTR_HOLD_STILL;
            }
        }
        break;
    case FM_SESSION_CHALLENGE:
        if (met) {
            s->steps[s->cur].met = 1;
            s->steps[s->cur].met_at = t;
            if (s->cur + 1 < s->ch.n_steps)
                start_step(s, s->cur + 1, t);
            else
                s->state = FM_SESSION_COLLECTING;
        }
        /* while a step is asked, its instruction wins over quality hints (a turn is not frontal, etc.) */
        if (s->state == FM_SESSION_CHALLENGE && nf == 1)
            in = instr_for_action(s->steps[s->cur].action);
        if (s->state != FM_SESSION_COLLECTING)
            break;
        /* fall through */
    case FM_SESSION_COLLECTING:
        if (s->ncand >= p->match_frames && s->id_samples >= 2 && !p->observe)
            s->state = FM_SESSION_DONE;
        else if (in == FM_INSTR_NONE)
            in = frontal ? FM_INSTR_HOLD_STILL : FM_INSTR_LOOK_STRAIGHT;
        break;
    default:
        break;
    }
    if (s->state == FM_SESSION_DONE)
        in = FM_INSTR_DONE;
    st = FM_OK;
out:
    if (rgb) {
        fm_wipe(fm_image_pixels(rgb, 0, NULL), (size_t)W * H * 3);
        fm_image_destroy(rgb);
    }
    fill_fb(s, fb, in, t);
    return st;
}

/* ---- finish ------------------------------------------------------------------------------------------------- */

static void add_reason(fm_session_result *r, const char *code)
{
    for (int i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i], code) == 0)
            return;
    if (r->n_reasons < FM_SESSION_MAX_REASONS)
        snprintf(r->reasons[r->n_reasons++], sizeof r->reasons[0], "%s", code);
}

static fm_session_check *add_check(fm_session_result *r, const char *name, double score, double thr, int evaluated,
                                   int pass, const char *detail)
{
    if (r->n_checks >= FM_SESSION_MAX_CHECKS)
        return NULL;
    fm_session_check *c = &r->checks[r->n_checks++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->score = score;
    c->threshold = thr;
    c->evaluated = evaluated;
    c->pass = evaluated && pass;
    snprintf(c->detail, sizeof c->detail, "%s", detail ? detail : "");
    return c;
}

fm_status fm_session_finish(fm_session *s, fm_session_result *out)
{
    if (!s || !out)
        return fm_fail(s ? s->ctx : NULL, FM_ERR_INVALID_ARGUMENT, "fm_session_finish: NULL argument");
    if (s->finished)
        return fm_fail(s->ctx, FM_ERR_STATE, "fm_session_finish: already finished");
    s->finished = 1;
    const fm_session_policy *p = &s->pol;
    fm_session_result r;
    memset(&r, 0, sizeof r);
    r.distance = r.similarity = NAN;
    r.threshold = p->match_threshold;
    r.fmr = p->match_fmr;
    r.pad_score = NAN;
    r.frames_total = s->nframes;
    r.frames_with_face = s->face_frames;
    r.frames_multi_face = s->multi_frames;
    r.duration = s->t_last;
    r.challenge_fixed = s->fixed;
    memcpy(r.events, s->events, sizeof r.events);
    r.n_events = s->n_events;
    r.n_events_total = s->n_events_total;
    r.n_steps = s->ch.n_steps;
    for (int i = 0; i < r.n_steps; i++)
        r.steps[i] = s->steps[i];
    char det[96];

    /* challenge */
    int met = 0;
    for (int i = 0; i < s->ch.n_steps; i++)
        met += s->steps[i].met;
    int chal_ok = met == s->ch.n_steps;
    snprintf(det, sizeof det, "%d of %d steps met%s", met, s->ch.n_steps, s->fixed ? " (challenge fixed for testing)" : "");
    add_check(&r, "challenge", met, s->ch.n_steps, !p->observe, chal_ok, p->observe ? "observe only: nothing asked" : det);

    /* passive: the liveness module's video-level rule over the per-frame scores (time order), unless the policy
       sets its own per-frame threshold (then: fraction of frames below it <= pad_max_spoof_fraction) */
    int np = s->n_pads, pad_eval, pad_ok;
    if (!s->pad_own) {
        sess_pad_video pv;
        sess_liveness_pad_video(s->live, s->pads, np, &pv);
        pad_eval = pv.evaluated;
        pad_ok = pv.evaluated && pv.pass;
        if (np > 0)
            r.pad_score = median(s->pads, np); /* sorts: after the rule */
        snprintf(det, sizeof det, "%d frames, %s: %.3f vs %.3f, median %.3f", np, pv.rule,
                 pv.statistic, pv.threshold, r.pad_score);
        add_check(&r, "passive", pv.statistic, pv.threshold, pad_eval, pad_ok, det);
    } else {
        int nbad = 0;
        double frac = NAN;
        if (np > 0) {
            for (int i = 0; i < np; i++)
                nbad += s->pads[i] < s->pad_thr;
            frac = (double)nbad / np;
            r.pad_score = median(s->pads, np);
        }
        pad_eval = np >= 3;
        pad_ok = pad_eval && frac <= p->pad_max_spoof_fraction;
        snprintf(det, sizeof det, "%d scored frames, %d below %.3f, median %.3f", np, nbad, s->pad_thr, r.pad_score);
        add_check(&r, "passive", pad_eval ? 1 - frac : NAN, 1 - p->pad_max_spoof_fraction, pad_eval, pad_ok, det);
    }

    /* continuity */
    snprintf(det, sizeof det, "%d of %d frames with more than one face", s->multi_frames, s->nframes);
    int one_ok = s->multi_frames < 2;
    add_check(&r, "one_face", s->multi_frames, 2, s->nframes > 0, one_ok, det);
    int id_eval = s->id_samples >= 2;
    int id_ok = id_eval && s->id_max < p->identity_threshold;
    snprintf(det, sizeof det, "%d samples, largest distance to the first face %.3f", s->id_samples, s->id_max);
    add_check(&r, "identity", id_eval ? s->id_max : NAN, p->identity_threshold, id_eval, id_ok, det);
    int jump_ok = s->jumps <= 2;
    snprintf(det, sizeof det, "%d jumps (largest %.2f face widths/frame)", s->jumps, s->max_jump_seen);
    add_check(&r, "motion", s->jumps, 2, s->face_frames > 1, jump_ok, det);
    add_check(&r, "timestamps", s->ts_bad, 0, s->nframes > 0, !s->ts_bad,
              s->ts_bad ? "a timestamp did not increase" : "strictly increasing");
    double mdt = NAN;
    if (s->n_dts > 0) {
        double *tmp = (double *)malloc((size_t)s->n_dts * sizeof *tmp);
        if (tmp) {
            memcpy(tmp, s->dts, (size_t)s->n_dts * sizeof *tmp);
            mdt = median(tmp, s->n_dts);
            free(tmp);
        }
    }
    double fps = mdt > 0 ? 1 / mdt : NAN;
    int fps_eval = s->n_dts >= 2;
    int fps_ok = fps_eval && fps >= p->min_fps && fps <= p->max_fps && s->gaps == 0;
    snprintf(det, sizeof det, "median %.1f fps, %d gaps over %.1f s", fps, s->gaps, p->max_gap);
    add_check(&r, "frame_rate", fps, p->min_fps, fps_eval, fps_ok, det);

    /* quality + match */
    int nq = s->ncand;
    int q_ok = nq >= p->min_match_frames;
    snprintf(det, sizeof det, "%d frames passed the quality gates (need %d)", nq, p->min_match_frames);
    add_check(&r, "quality", nq, p->min_match_frames, 1, q_ok, det);
    if (nq > 0) {
        double ds[MAX_CAND];
        for (int i = 0; i < nq; i++) {
            ds[i] = s->cands[i].f.distance;
            if (r.n_frames < FM_SESSION_MAX_FRAMES)
                r.frames[r.n_frames++] = s->cands[i].f;
        }
        r.distance = median(ds, nq);
        r.match_frames = nq;
        fm_compare_result cr;
        float a[DIM] = {0}, bvec[DIM] = {0};
        /* similarity on the same logistic scale fm_compare uses: compare two synthetic vectors at that distance */
        bvec[0] = (float)r.distance;
        if (fm_compare(s->ctx, FM_EMBED_DLIB, a, bvec, DIM, p->match_threshold, &cr) == FM_OK)
            r.similarity = cr.similarity;
    }

    if (nq == 0 && s->have_first) {
        /* no frame passed the gates: report the distance of the session's first face (match_frames stays 0, and
           the decision cannot be match: "too_few_quality_frames") */
        r.distance = l2(s->first, s->ref);
        fm_compare_result cr;
        float a[DIM] = {0}, bvec[DIM] = {0};
        bvec[0] = (float)r.distance;
        if (fm_compare(s->ctx, FM_EMBED_DLIB, a, bvec, DIM, p->match_threshold, &cr) == FM_OK)
            r.similarity = cr.similarity;
    }
    /* decision: spoof evidence first, then anything missing or failed, then the match itself */
    int spoof = 0, incon = 0;
    if (pad_eval && !pad_ok) {
        spoof = 1;
        add_reason(&r, "passive_spoof");
    }
    if (id_eval && !id_ok) {
        spoof = 1;
        add_reason(&r, "identity_changed");
    }
    if (s->fail_reason[0] && strcmp(s->fail_reason, "challenge_step_missed") != 0)
        add_reason(&r, s->fail_reason), incon = 1;
    if (!chal_ok) {
        add_reason(&r, s->state == FM_SESSION_FAILED && strcmp(s->fail_reason, "challenge_step_missed") == 0
                           ? "challenge_step_missed"
                           : "challenge_incomplete");
        if (p->require_challenge)
            incon = 1;
    }
    if (!pad_eval) {
        add_reason(&r, "passive_not_evaluated");
        if (p->require_passive)
            incon = 1;
    }
    if (p->require_continuity) {
        if (!one_ok)
            add_reason(&r, "multiple_faces"), incon = 1;
        if (!id_eval)
            add_reason(&r, "identity_not_evaluated"), incon = 1;
        if (!jump_ok)
            add_reason(&r, "face_jump"), incon = 1;
        if (s->ts_bad)
            add_reason(&r, "timestamps_not_monotonic"), incon = 1;
        if (!fps_ok)
            add_reason(&r, s->gaps ? "frame_gap" : "implausible_frame_rate"), incon = 1;
    }
    if (!q_ok)
        add_reason(&r, "too_few_quality_frames"), incon = 1;
    if (s->fixed)
        add_reason(&r, "challenge_fixed_for_testing");
    if (p->observe)
        add_reason(&r, "observe_only"), incon = 1;
    if (spoof)
        r.decision = FM_VERDICT_SPOOF_SUSPECTED;
    else if (incon)
        r.decision = FM_VERDICT_INCONCLUSIVE;
    else if (r.distance < p->match_threshold)
        r.decision = FM_VERDICT_MATCH;
    else {
        r.decision = FM_VERDICT_NO_MATCH;
        add_reason(&r, "distance_above_threshold");
    }
    /* the templates are no longer needed */
    fm_wipe(s->cands, sizeof s->cands);
    fm_wipe(s->first, sizeof s->first);
    fm_wipe(s->ref, sizeof s->ref);
    *out = r;
    return FM_OK;
}
