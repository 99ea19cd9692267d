/* Live session: challenge derivation (determinism, unpredictability, distribution), policy validation, and
 * sessions on real photographs (../shared/data/faces): non-monotonic timestamps, a second face, a static photo
 * presented as a jittered sequence. Clip-based sessions are in tests/python/test_session.py (they need capture/). */
#include "test.h"

#include <stdint.h>
#include <unistd.h>

/* ---- challenge ---------------------------------------------------------------------------------------------- */

static void nonce_of(uint32_t i, uint8_t n[16])
{
    /* distinct nonces: a counter spread by a simple LCG (the derivation's HMAC does the mixing) */
    uint32_t x = i * 2654435761u + 12345u;
    for (int k = 0; k < 16; k++) {
        x = x * 1664525u + 1013904223u;
        n[k] = (uint8_t)(x >> 24);
    }
    n[0] = (uint8_t)i;
    n[1] = (uint8_t)(i >> 8);
    n[2] = (uint8_t)(i >> 16);
}

static void test_challenge_rules(void)
{
    uint8_t n[64] = {0};
    fm_challenge c;
    CHECK_STATUS(fm_challenge_derive(NULL, n, 7, &c), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_challenge_derive(NULL, n, 65, &c), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_challenge_derive(NULL, NULL, 16, &c), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_challenge_derive(NULL, n, 16, NULL), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_challenge_derive(NULL, n, 8, &c), FM_OK);
    CHECK_STATUS(fm_challenge_derive(NULL, n, 64, &c), FM_OK);
    /* names */
    CHECK(strcmp(fm_challenge_action_name(FM_ACTION_TURN_LEFT), "turn_left") == 0);
    CHECK(fm_challenge_action_parse("nod") == FM_ACTION_NOD);
    CHECK(fm_challenge_action_parse("Nod") == 0);
    CHECK(fm_challenge_action_name((fm_challenge_action)0) == NULL);
    CHECK(fm_instruction_code(FM_INSTR_BLINK) && strcmp(fm_instruction_code(FM_INSTR_BLINK), "blink_now") == 0);
    CHECK(strcmp(fm_instruction_text(FM_INSTR_TURN_LEFT, "en"), "Turn your head to your left") == 0);
    CHECK(strlen(fm_instruction_text(FM_INSTR_TOO_DARK, "ja")) > 0);
}

static void test_challenge_determinism_and_distribution(void)
{
    enum { N = 20000 };
    int nsteps[4] = {0}, first[5] = {0}, pos_count[3][5] = {{0}}, windows[9] = {0};
    int same_as_prev = 0, bad = 0;
    fm_challenge prev;
    memset(&prev, 0, sizeof prev);
    int seq_seen[5][5][5] = {{{0}}};
    for (uint32_t i = 0; i < N; i++) {
        uint8_t n[16];
        nonce_of(i, n);
        fm_challenge a, b;
        if (fm_challenge_derive(NULL, n, 16, &a) != FM_OK || fm_challenge_derive(NULL, n, 16, &b) != FM_OK) {
            bad++;
            continue;
        }
        if (memcmp(&a, &b, sizeof a) != 0)
            bad++; /* not deterministic */
        if (a.n_steps < 2 || a.n_steps > 3) {
            bad++;
            continue;
        }
        nsteps[a.n_steps]++;
        for (int k = 0; k < a.n_steps; k++) {
            if (a.action[k] < 1 || a.action[k] > 4 || a.window_ms[k] < 3000 || a.window_ms[k] > 5000 ||
                a.window_ms[k] % 250)
                bad++;
            for (int m = 0; m < k; m++)
                if (a.action[m] == a.action[k])
                    bad++; /* actions are distinct */
            pos_count[k][a.action[k]]++;
            windows[(a.window_ms[k] - 3000) / 250]++;
        }
        first[a.action[0]]++;
        seq_seen[a.action[0]][a.action[1]][a.n_steps == 3 ? a.action[2] : 0]++;
        if (i > 0 && memcmp(&a, &prev, sizeof a) == 0)
            same_as_prev++;
        prev = a;
    }
    CHECK_MSG(bad == 0, "%d rule violations", bad);
    /* 2 or 3 steps, each about half the time (binomial sd ~ 71 on 20000) */
    CHECK_MSG(abs(nsteps[2] - N / 2) < 500, "2 steps: %d of %d", nsteps[2], N);
    /* each action first about a quarter of the time (sd ~ 61) */
    for (int a = 1; a <= 4; a++)
        CHECK_MSG(abs(first[a] - N / 4) < 400, "action %d first %d times", a, first[a]);
    for (int k = 0; k < 2; k++)
        for (int a = 1; a <= 4; a++)
            CHECK_MSG(abs(pos_count[k][a] - N / 4) < 400, "position %d action %d: %d", k, a, pos_count[k][a]);
    /* every one of the 12 two-step and 24 three-step sequences occurs */
    int distinct = 0;
    for (int x = 1; x <= 4; x++)
        for (int y = 1; y <= 4; y++)
            for (int z = 0; z <= 4; z++)
                distinct += seq_seen[x][y][z] > 0;
    CHECK_MSG(distinct == 36, "%d distinct sequences (36 possible)", distinct);
    /* windows: 9 values, each ~1/9 */
    int total_w = 0;
    for (int w = 0; w < 9; w++)
        total_w += windows[w];
    for (int w = 0; w < 9; w++)
        CHECK_MSG(fabs(windows[w] - total_w / 9.0) < 0.1 * total_w / 9.0, "window %d: %d of %d", w, windows[w],
                  total_w);
    /* consecutive nonces give the same full challenge rarely (36 orders x 9^n windows: well under 1%) */
    CHECK_MSG(same_as_prev < N / 100, "%d consecutive repeats", same_as_prev);
    /* one bit of nonce changes the challenge in most cases */
    int changed = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        uint8_t n[16];
        nonce_of(i, n);
        fm_challenge a, b;
        fm_challenge_derive(NULL, n, 16, &a);
        n[15] ^= 1;
        fm_challenge_derive(NULL, n, 16, &b);
        changed += memcmp(&a, &b, sizeof a) != 0;
    }
    CHECK_MSG(changed > 990, "a flipped bit changed %d of 1000 challenges", changed);
}

static void test_policy(void)
{
    fm_session_policy p;
    fm_session_policy_init(&p);
    CHECK(p.match_threshold == 0.52 && p.match_fmr == 1e-3 && p.match_frames == 5 && p.require_challenge && p.require_passive &&
          p.require_continuity && p.test_n_steps == 0 && isnan(p.pad_threshold));
}

/* ---- sessions on real photographs --------------------------------------------------------------------------- */

static fm_ctx *g_ctx;
static fm_engine *g_eng;
static char g_data[4096];

static fm_image *load(const char *rel)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", g_data, rel);
    fm_image *img = NULL;
    if (fm_image_load(g_ctx, path, FM_PIX_RGB24, &img, NULL) != FM_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, fm_ctx_errmsg(g_ctx));
        return NULL;
    }
    return img;
}

/* Pastes src scaled to (w, h) at (x, y) into dst (RGB24), nearest neighbour. */
static void paste(fm_image *dst, const fm_image *src, int x, int y, int w, int h, int dbright)
{
    int ds, ss;
    uint8_t *d = fm_image_pixels(dst, 0, &ds);
    const uint8_t *s = fm_image_plane(src, 0, &ss);
    int sw = fm_image_width(src), sh = fm_image_height(src), W = fm_image_width(dst), H = fm_image_height(dst);
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            int X = x + i, Y = y + j;
            if (X < 0 || Y < 0 || X >= W || Y >= H)
                continue;
            const uint8_t *q = s + (size_t)(j * sh / h) * ss + 3 * (size_t)(i * sw / w);
            for (int c = 0; c < 3; c++) {
                int v = q[c] + dbright;
                d[(size_t)Y * ds + 3 * (size_t)X + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

static const uint8_t nonce16[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static int has_reason(const fm_session_result *r, const char *code)
{
    for (int i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i], code) == 0)
            return 1;
    return 0;
}

static void print_result(const char *what, const fm_session_result *r)
{
    fprintf(stderr, "  %s: decision %s, distance %.3f, reasons:", what,
            fm_verdict_decision_name((fm_verdict_decision)r->decision), r->distance);
    for (int i = 0; i < r->n_reasons; i++)
        fprintf(stderr, " %s", r->reasons[i]);
    fputc('\n', stderr);
    for (int i = 0; i < r->n_checks; i++)
        fprintf(stderr, "    %-10s %s %s\n", r->checks[i].name,
                !r->checks[i].evaluated ? "n/a " : r->checks[i].pass ? "pass" : "FAIL", r->checks[i].detail);
}

static void test_timestamps(void)
{
    fm_image *face = load("faces/deepface/tests/unit/dataset/img1.jpg");
    REQUIRE(face);
    fm_image *frame = NULL;
    REQUIRE(fm_image_create(g_ctx, FM_PIX_RGB24, 640, 480, &frame) == FM_OK);
    paste(frame, face, 200, 120, 240, 240 * fm_image_height(face) / fm_image_width(face), 0);
    fm_session *s = NULL;
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, NULL, &s), FM_OK);
    REQUIRE(s);
    fm_session_feedback fb;
    CHECK_STATUS(fm_session_push_frame(s, frame, 1000000, &fb), FM_OK);
    CHECK_STATUS(fm_session_push_frame(s, frame, 1033000, &fb), FM_OK);
    /* equal timestamp: rejected, the session fails for good */
    CHECK_STATUS(fm_session_push_frame(s, frame, 1033000, &fb), FM_ERR_INVALID_ARGUMENT);
    CHECK(fb.state == FM_SESSION_FAILED && fb.instruction == FM_INSTR_FAILED);
    CHECK_STATUS(fm_session_push_frame(s, frame, 2000000, &fb), FM_ERR_STATE);
    fm_session_result r;
    CHECK_STATUS(fm_session_finish(s, &r), FM_OK);
    CHECK(r.decision != FM_VERDICT_MATCH);
    CHECK(has_reason(&r, "timestamps_not_monotonic"));
    CHECK_STATUS(fm_session_finish(s, &r), FM_ERR_STATE);
    fm_session_destroy(s);

    /* going backwards */
    REQUIRE(fm_session_create(g_ctx, g_eng, face, nonce16, 16, NULL, &s) == FM_OK);
    CHECK_STATUS(fm_session_push_frame(s, frame, 5000000, &fb), FM_OK);
    CHECK_STATUS(fm_session_push_frame(s, frame, 4000000, &fb), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_session_finish(s, &r), FM_OK);
    CHECK(r.decision == FM_VERDICT_INCONCLUSIVE && has_reason(&r, "timestamps_not_monotonic"));
    fm_session_destroy(s);

    /* bad arguments */
    fm_session_policy p;
    fm_session_policy_init(&p);
    p.match_frames = 0;
    s = (fm_session *)1;
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &p, &s), FM_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    fm_session_policy_init(&p);
    p.test_n_steps = 1;
    p.test_actions[0] = 9;
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &p, &s), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 4, NULL, &s), FM_ERR_INVALID_ARGUMENT);
    /* a portrait without a face */
    fm_image *blank = NULL;
    REQUIRE(fm_image_create(g_ctx, FM_PIX_RGB24, 200, 200, &blank) == FM_OK);
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, blank, nonce16, 16, NULL, &s), FM_ERR_NO_FACE);
    fm_image_destroy(blank);
    fm_image_destroy(frame);
    fm_image_destroy(face);
}

static void test_second_face(void)
{
    fm_image *a = load("faces/deepface/tests/unit/dataset/img1.jpg");
    fm_image *b = load("faces/deepface/tests/unit/dataset/img12.jpg");
    REQUIRE(a && b);
    fm_image *frame = NULL;
    REQUIRE(fm_image_create(g_ctx, FM_PIX_RGB24, 640, 480, &frame) == FM_OK);
    paste(frame, a, 20, 100, 280, 280 * fm_image_height(a) / fm_image_width(a), 0);
    paste(frame, b, 340, 100, 280, 280 * fm_image_height(b) / fm_image_width(b), 0);
    fm_session *s = NULL;
    REQUIRE(fm_session_create(g_ctx, g_eng, a, nonce16, 16, NULL, &s) == FM_OK);
    fm_session_feedback fb;
    int two = 0, told = 0;
    for (int i = 0; i < 10; i++) {
        CHECK_STATUS(fm_session_push_frame(s, frame, 1000000 + 33333 * i, &fb), FM_OK);
        two += fb.faces == 2;
        told += fb.instruction == FM_INSTR_ONE_FACE_ONLY && strcmp(fb.code, "one_face_only") == 0;
    }
    CHECK_MSG(two == 10, "two faces seen in %d of 10 frames", two);
    CHECK(told == 10);
    fm_session_result r;
    CHECK_STATUS(fm_session_finish(s, &r), FM_OK);
    CHECK(r.frames_multi_face == 10);
    CHECK(has_reason(&r, "multiple_faces"));
    CHECK(r.decision != FM_VERDICT_MATCH);
    print_result("second face", &r);
    fm_session_destroy(s);
    fm_image_destroy(frame);
    fm_image_destroy(a);
    fm_image_destroy(b);
}

/* A still photo shown as a jittered sequence (shifts of a few pixels, small brightness changes, 30 fps, 8 s),
 * with the photo itself as the reference portrait: the strongest possible face match, so only liveness can stop
 * it. With the nonce-derived challenge and with every single-step challenge fixed, it must never end in match. */
static void run_static(const char *what, const fm_session_policy *pol)
{
    fm_image *face = load("faces/deepface/tests/unit/dataset/img1.jpg");
    REQUIRE(face);
    fm_session *s = NULL;
    REQUIRE(fm_session_create(g_ctx, g_eng, face, nonce16, 16, pol, &s) == FM_OK);
    fm_image *frame = NULL;
    REQUIRE(fm_image_create(g_ctx, FM_PIX_RGB24, 640, 480, &frame) == FM_OK);
    uint32_t x = 7;
    fm_session_feedback fb;
    int frames = 0;
    for (int i = 0; i < 240; i++) {
        x = x * 1664525u + 1013904223u;
        int dx = (int)(x >> 28) % 7 - 3, dy = (int)((x >> 24) & 15) % 7 - 3, db = (int)((x >> 20) & 7) - 3;
        int ps, w = 260, h = 260 * fm_image_height(face) / fm_image_width(face);
        uint8_t *px = fm_image_pixels(frame, 0, &ps); /* ps is set by this call: use it afterwards */
        memset(px, 90, (size_t)ps * 480);
        paste(frame, face, 190 + dx, 240 - h / 2 + dy, w, h, db);
        fm_status st = fm_session_push_frame(s, frame, 500000 + (int64_t)i * 33333, &fb);
        if (st == FM_ERR_STATE)
            break;
        CHECK_STATUS(st, FM_OK);
        frames++;
        if (fb.state == FM_SESSION_DONE || fb.state == FM_SESSION_FAILED)
            break;
    }
    fm_session_result r;
    CHECK_STATUS(fm_session_finish(s, &r), FM_OK);
    CHECK_MSG(r.decision != FM_VERDICT_MATCH, "%s: a jittered still ended in match", what);
    CHECK(r.frames_with_face > 0);
    print_result(what, &r);
    fm_session_destroy(s);
    fm_image_destroy(frame);
    fm_image_destroy(face);
}

/* The liveness models come from the policy (the engine does not hold them): a wrong directory fails, the same
 * models given as bytes in memory work with that wrong directory; malformed policy combinations are refused. */
static void test_models_and_policy(void)
{
    fm_image *face = load("faces/deepface/tests/unit/dataset/img1.jpg");
    REQUIRE(face);
    fm_session_policy pol;
    fm_session_policy_init(&pol);
    CHECK(isnan(pol.turn_degrees) && isnan(pol.nod_degrees) && pol.verify_models == 1 && pol.models_dir == NULL &&
          pol.observe == 0 && pol.max_pitch_degrees > pol.max_pose_degrees);
    fm_session *s = NULL;
    pol.models_dir = "/nonexistent/facematch-models";
    fm_status st = fm_session_create(g_ctx, g_eng, face, nonce16, 16, &pol, &s);
    CHECK_MSG(st != FM_OK && s == NULL, "a missing liveness models_dir was not noticed (%s)", fm_status_name(st));
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "fr_liveness") != NULL || strstr(fm_ctx_errmsg(g_ctx), "nonexistent"));
    /* the same models from memory */
    char path[8192];
    void *buf[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    const char *files[2] = {"fr_liveness.onnx", "fr_eye.onnx"};
    char mdir[4096];
    for (int i = 0; i < 2 && fm_models_default_dir(mdir, sizeof mdir) == FM_OK; i++) {
        snprintf(path, sizeof path, "%s/%s", mdir, files[i]);
        FILE *f = fopen(path, "rb");
        if (!f)
            break;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf[i] = n > 0 ? malloc((size_t)n) : NULL;
        if (buf[i] && fread(buf[i], 1, (size_t)n, f) == (size_t)n)
            len[i] = (size_t)n;
        fclose(f);
    }
    if (len[0] && len[1]) {
        pol.liveness_model = buf[0], pol.liveness_model_len = len[0];
        pol.eye_model = buf[1], pol.eye_model_len = len[1];
        CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &pol, &s), FM_OK);
        fm_session_destroy(s);
        s = NULL;
        /* a corrupted model byte is caught by the manifest hash */
        ((uint8_t *)buf[0])[len[0] / 2] ^= 0x55;
        CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &pol, &s), FM_ERR_MODEL_HASH);
    }
    free(buf[0]);
    free(buf[1]);
    fm_session_policy_init(&pol);
    pol.liveness_model = face; /* bytes without a length */
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &pol, &s), FM_ERR_INVALID_ARGUMENT);
    fm_session_policy_init(&pol);
    pol.observe = 1;
    pol.test_n_steps = 1;
    pol.test_actions[0] = FM_ACTION_BLINK;
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &pol, &s), FM_ERR_INVALID_ARGUMENT);
    fm_session_policy_init(&pol);
    pol.turn_degrees = 2;
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &pol, &s), FM_ERR_INVALID_ARGUMENT);
    fm_session_policy_init(&pol);
    pol.max_pitch_degrees = 0;
    CHECK_STATUS(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &pol, &s), FM_ERR_INVALID_ARGUMENT);
    fm_image_destroy(face);
}

/* An engine created with a custom models directory hands it to the session: the liveness models (fr_liveness,
 * fr_eye) load from there when the policy names no directory, even with the library's default directory
 * (FACEMATCH_MODELS, core/models.c) pointing nowhere. The directory is a fresh temp dir of symlinks. */
static void test_engine_models_dir(void)
{
    char mdir[4096];
    REQUIRE(fm_models_default_dir(mdir, sizeof mdir) == FM_OK);
    char tmpl[] = "/tmp/fm_models_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != NULL);
    static const fm_model_id ids[] = {FM_MODEL_DLIB_RESNET, FM_MODEL_DLIB_SP5, FM_MODEL_DLIB_SP68,
                                      FM_MODEL_FP_DETECT,   FM_MODEL_FP_LIVENESS, FM_MODEL_FP_EYE};
    enum { NIDS = (int)(sizeof ids / sizeof ids[0]) };
    char links[NIDS][8192];
    int nl = 0, ok = 1;
    for (int i = 0; i < NIDS; i++) {
        fm_model_desc d;
        char src[8192];
        if (fm_model_describe(ids[i], &d) != FM_OK) {
            ok = 0;
            break;
        }
        snprintf(src, sizeof src, "%s/%s", mdir, d.file);
        snprintf(links[nl], sizeof links[nl], "%s/%s", tmpl, d.file);
        if (symlink(src, links[nl]) != 0) {
            ok = 0;
            break;
        }
        nl++;
    }
    char empty[4200];
    snprintf(empty, sizeof empty, "%s/no-such-dir", tmpl);
    const char *old = getenv("FACEMATCH_MODELS");
    char *saved = old ? strdup(old) : NULL;
    fm_image *face = load("faces/deepface/tests/unit/dataset/img1.jpg");
    fm_engine *eng = NULL;
    if (ok && face && setenv("FACEMATCH_MODELS", empty, 1) == 0) {
        /* the default directory is really unavailable now */
        fm_pad *pad = NULL;
        CHECK_MSG(fm_pad_create(g_ctx, NULL, &pad) != FM_OK, "the default models dir still holds fr_liveness");
        fm_pad_destroy(pad);
        fm_engine_config cfg;
        fm_engine_config_init(&cfg);
        cfg.models_dir = tmpl;
        cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5) |
                     FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68) | FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT);
        CHECK_STATUS(fm_engine_create(g_ctx, &cfg, &eng), FM_OK);
    } else {
        CHECK_MSG(0, "cannot set up the temp models dir %s", tmpl);
    }
    if (eng) {
        fm_session *s = NULL;
        fm_status st = fm_session_create(g_ctx, eng, face, nonce16, 16, NULL, &s);
        CHECK_MSG(st == FM_OK, "session on an engine with a custom models dir: %s", fm_ctx_errmsg(g_ctx));
        if (s) {
            /* the passive model runs: a frame with the face gets a finite PAD score */
            fm_image *frame = NULL;
            if (fm_image_create(g_ctx, FM_PIX_RGB24, 640, 480, &frame) == FM_OK) {
                paste(frame, face, 200, 120, 240, 240 * fm_image_height(face) / fm_image_width(face), 0);
                fm_session_feedback fb;
                int scored = 0;
                for (int k = 0; k < 5; k++)
                    if (fm_session_push_frame(s, frame, 1000000 + 200000 * (int64_t)k, &fb) == FM_OK &&
                        isfinite(fb.pad))
                        scored++;
                CHECK_MSG(scored > 0, "no frame got a passive score");
                fm_image_destroy(frame);
            }
            fm_session_destroy(s);
        }
        /* an explicit policy directory still wins over the engine's */
        fm_session_policy pol;
        fm_session_policy_init(&pol);
        pol.models_dir = empty;
        s = NULL;
        CHECK(fm_session_create(g_ctx, eng, face, nonce16, 16, &pol, &s) != FM_OK && s == NULL);
        fm_engine_destroy(eng);
    }
    if (saved) {
        setenv("FACEMATCH_MODELS", saved, 1);
        free(saved);
    } else {
        unsetenv("FACEMATCH_MODELS");
    }
    fm_image_destroy(face);
    for (int i = 0; i < nl; i++)
        unlink(links[i]);
    rmdir(tmpl);
}

/* A finished session's result signs into a verdict that verifies and states what the session found. */
static void test_verdict_from_session(void)
{
    fm_image *face = load("faces/deepface/tests/unit/dataset/img1.jpg");
    REQUIRE(face);
    fm_session_policy p;
    fm_session_policy_init(&p);
    p.test_n_steps = 1;
    p.test_actions[0] = FM_ACTION_NOD;
    fm_session *s = NULL;
    REQUIRE(fm_session_create(g_ctx, g_eng, face, nonce16, 16, &p, &s) == FM_OK);
    fm_image *frame = NULL;
    REQUIRE(fm_image_create(g_ctx, FM_PIX_RGB24, 640, 480, &frame) == FM_OK);
    paste(frame, face, 190, 100, 260, 260 * fm_image_height(face) / fm_image_width(face), 0);
    fm_session_feedback fb;
    for (int i = 0; i < 30; i++)
        CHECK_STATUS(fm_session_push_frame(s, frame, 100000 + i * 40000, &fb), FM_OK);
    fm_session_result r;
    REQUIRE(fm_session_finish(s, &r) == FM_OK);
    fm_session_destroy(s);
    uint8_t sha[32];
    fm_sha256("portrait", 8, sha, NULL);
    fm_verdict_input in;
    CHECK_STATUS(fm_session_verdict_input(g_ctx, &r, "svc", "00112233445566778899aabbccddeeff", sha, 99, NULL, 0,
                                          &in),
                 FM_ERR_INVALID_ARGUMENT);
    REQUIRE(fm_session_verdict_input(g_ctx, &r, "svc", "00112233445566778899aabbccddeeff", sha,
                                     FM_PORTRAIT_UNVERIFIABLE, NULL, 0, &in) == FM_OK);
    CHECK(in.decision == (fm_verdict_decision)r.decision && in.decision != FM_VERDICT_MATCH);
    CHECK(in.n_steps == 1 && strcmp(in.steps[0].action, "nod") == 0 && !in.steps[0].met);
    CHECK(in.n_checks == r.n_checks && in.n_reasons == r.n_reasons);
    int fixed = 0;
    for (int i = 0; i < in.n_reasons; i++)
        fixed += strcmp(in.reasons[i], "challenge_fixed_for_testing") == 0;
    CHECK(fixed == 1);
    fm_verdict_key *k = NULL;
    REQUIRE(fm_verdict_key_generate(g_ctx, FM_JWS_ES256, &k) == FM_OK);
    static char token[FM_VERDICT_TOKEN_MAX];
    size_t tlen = 0;
    CHECK_STATUS(fm_verdict_sign(g_ctx, k, &in, NULL, NULL, token, sizeof token, &tlen), FM_OK);
    fm_verdict_verifier *v = NULL;
    REQUIRE(fm_verdict_verifier_create(g_ctx, k, &v) == FM_OK);
    fm_verdict_verifier_set(g_ctx, v, FM_VSET_REQUIRE_CARD, 0);
    fm_verdict_result vr;
    static char payload[FM_VERDICT_TOKEN_MAX];
    size_t plen = 0;
    CHECK_STATUS(fm_verdict_verify(g_ctx, v, token, tlen, "00112233445566778899aabbccddeeff", "svc", 0, &vr, payload,
                                   sizeof payload, &plen),
                 FM_OK);
    CHECK(vr.valid && vr.decision == in.decision);
    CHECK_NEAR(vr.distance, r.distance, 1e-6);
    CHECK(strstr(payload, "challenge_fixed_for_testing") != NULL);
    fm_verdict_verifier_destroy(v);
    fm_verdict_key_destroy(k);
    fm_image_destroy(frame);
    fm_image_destroy(face);
}

static void test_static_photo(void)
{
    run_static("static photo, derived challenge", NULL);
    fm_session_policy p;
    for (int a = FM_ACTION_BLINK; a <= FM_ACTION_NOD; a++) {
        fm_session_policy_init(&p);
        p.test_n_steps = 1;
        p.test_actions[0] = a;
        char what[64];
        snprintf(what, sizeof what, "static photo, fixed %s", fm_challenge_action_name((fm_challenge_action)a));
        run_static(what, &p);
    }
    fm_session_policy_init(&p);
    p.observe = 1; /* nothing asked, never ends early: still never a match */
    run_static("static photo, observe only", &p);
}

int main(void)
{
    RUN(test_challenge_rules);
    RUN(test_challenge_determinism_and_distribution);
    RUN(test_policy);
    const char *data = test_data_dir();
    if (!data) {
        fprintf(stderr, "SKIP (sessions): shared test data not found (set FM_DATA_DIR)\n");
        return test_finish();
    }
    snprintf(g_data, sizeof g_data, "%s", data);
    g_ctx = fm_ctx_create();
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68) | FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT);
    if (fm_engine_create(g_ctx, &cfg, &g_eng) != FM_OK) {
        fprintf(stderr, "SKIP (sessions): models not available: %s\n", fm_ctx_errmsg(g_ctx));
        fm_ctx_destroy(g_ctx);
        return test_finish();
    }
    RUN(test_models_and_policy);
    RUN(test_engine_models_dir);
    RUN(test_timestamps);
    RUN(test_second_face);
    RUN(test_verdict_from_session);
    RUN(test_static_photo);
    fm_engine_destroy(g_eng);
    fm_ctx_destroy(g_ctx);
    return test_finish();
}
