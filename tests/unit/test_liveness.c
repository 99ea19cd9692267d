/* Liveness signals: EAR formula, head-pose fit and sign conventions (synthetic projections of a known head, plus a
 * real frontal photo), blink and head-motion detectors on synthetic signal traces (durations, gaps, jumps), model
 * loading errors, and the passive scorer's argument checks / score ranges on real images.
 * Video-based evaluations (ZJU blinks, turn clips, pad.csv) are in tests/python/test_liveness_*.py. */
#include "test.h"

#include "liveness/liveness.h"

#include <math.h>
#include <string.h>

/* A head that differs from the fitter's model (wider eyes, deeper nose, longer face): the fit must recover the
 * rotation's sign and rough size, not merely invert its own projection. Indices as in iBUG 68. */
static const int H_IDX[12] = {27, 30, 31, 35, 33, 36, 45, 39, 42, 48, 54, 8};
static const double H_PTS[12][3] = {
    {0, -52, 26}, {0, 0, 0},    {-13, 9, 14},  {13, 9, 14},  {0, 13, 14}, {-48, -38, 40},
    {48, -38, 40}, {-17, -38, 30}, {17, -38, 30}, {-27, 33, 27}, {27, 33, 27}, {0, 74, 28},
};

/* rotation: yaw about the camera's y axis (nose to image-right for yaw > 0), then pitch about x (nose down > 0) */
static void project(double yaw_deg, double pitch_deg, double roll_deg, double dist, int W, int H, fm_point pts[68])
{
    double y = yaw_deg * M_PI / 180, p = pitch_deg * M_PI / 180, r = roll_deg * M_PI / 180;
    for (int i = 0; i < 68; i++) {
        pts[i].x = (float)(W / 2.0);
        pts[i].y = (float)(H / 2.0);
    }
    for (int k = 0; k < 12; k++) {
        double X = H_PTS[k][0], Y = H_PTS[k][1], Z = H_PTS[k][2];
        /* roll about z: positive lowers the image-right side (x -> y positive) */
        double x1 = X * cos(r) - Y * sin(r), y1 = X * sin(r) + Y * cos(r), z1 = Z;
        /* pitch about x: nose (0,0,-1) goes to +y (down) for p > 0 */
        double y2 = y1 * cos(p) - z1 * sin(p), z2 = y1 * sin(p) + z1 * cos(p), x2 = x1;
        /* yaw about y: nose (0,0,-1) goes to +x (image-right) for yaw > 0 */
        double x3 = x2 * cos(y) - z2 * sin(y), z3 = x2 * sin(y) + z2 * cos(y), y3 = y2;
        double f = W, zc = z3 + dist;
        pts[H_IDX[k]].x = (float)(f * x3 / zc + (W - 1) / 2.0);
        pts[H_IDX[k]].y = (float)(f * y3 / zc + (H - 1) / 2.0);
    }
}

static void test_ear(void)
{
    fm_point pts[68];
    memset(pts, 0, sizeof pts);
    /* right-hand eye 42..47: corners 10 px apart, lids 2 and 4 px apart -> (2 + 4) / (2 * 10) = 0.3 */
    fm_point e[6] = {{0, 0}, {3, -1}, {7, -2}, {10, 0}, {7, 2}, {3, 1}};
    for (int i = 0; i < 6; i++) {
        pts[42 + i] = e[i];
        pts[36 + i] = (fm_point){e[i].x + 40, e[i].y * 0.5f};
    }
    CHECK_NEAR(lv_ear(pts, 1), 0.3, 1e-9);
    CHECK_NEAR(lv_ear(pts, 0), 0.15, 1e-9);
    CHECK_NEAR(lv_ear_mean(pts), 0.225, 1e-9);
    CHECK(isnan(lv_ear(pts, 2)));
    pts[45] = pts[42]; /* degenerate: zero width */
    CHECK(isnan(lv_ear(pts, 1)));
    CHECK(isnan(lv_ear_mean(pts)));
}

static void test_pose_synthetic(void)
{
    fm_point pts[68];
    lv_pose p;
    const double cases[][3] = {{0, 0, 0}, {25, 0, 0}, {-25, 0, 0}, {0, 15, 0}, {0, -15, 0}, {0, 0, 10}, {35, 10, -5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        project(cases[i][0], cases[i][1], cases[i][2], 600, 640, 480, pts);
        REQUIRE(lv_head_pose68(pts, 640, 480, &p) == 0);
        CHECK_MSG(fabs(p.yaw - cases[i][0]) < 4 + 0.1 * fabs(cases[i][0]), "yaw %g vs %g", p.yaw, cases[i][0]);
        CHECK_MSG(fabs(p.pitch - cases[i][1]) < 5 + 0.15 * fabs(cases[i][1]), "pitch %g vs %g", p.pitch, cases[i][1]);
        CHECK_MSG(fabs(p.roll - cases[i][2]) < 3, "roll %g vs %g", p.roll, cases[i][2]);
        if (cases[i][0] != 0)
            CHECK((p.yaw > 0) == (cases[i][0] > 0));
        if (cases[i][1] != 0)
            CHECK((p.pitch > 0) == (cases[i][1] > 0));
        CHECK(p.rms_rel < 0.1);
    }
    /* roll sign: image-left eye higher (smaller y) than the image-right eye -> roll > 0 */
    project(0, 0, 12, 600, 640, 480, pts);
    REQUIRE(lv_head_pose68(pts, 640, 480, &p) == 0);
    CHECK(pts[36].y < pts[45].y);
    CHECK(p.roll > 6);
    /* bad input */
    pts[30].x = NAN;
    CHECK(lv_head_pose68(pts, 640, 480, &p) == -1);
    CHECK(lv_head_pose68(NULL, 640, 480, &p) == -1);
    project(0, 0, 0, 600, 640, 480, pts);
    CHECK(lv_head_pose68(pts, 0, 480, &p) == -1);
}

/* EAR trace: open 0.30 with +-0.01 ripple; closures of given duration at 30 fps drop to 0.08 */
static int run_blinks(const double *starts, const double *durs, int n, double fps, double total, int drop_every,
                      lv_blink_event *evs, int cap)
{
    lv_blink_detector d;
    lv_blink_init(&d, NULL);
    int found = 0;
    int frame = 0;
    for (double t = 0; t < total; t += 1.0 / fps, frame++) {
        double ear = 0.30 + 0.01 * sin(frame * 1.3);
        for (int i = 0; i < n; i++)
            if (t >= starts[i] && t < starts[i] + durs[i])
                ear = 0.08;
        if (drop_every && frame % drop_every == 0)
            ear = NAN; /* missing frame */
        lv_blink_event ev;
        if (lv_blink_push(&d, t, ear, NAN, &ev) && found < cap)
            evs[found++] = ev;
    }
    return found;
}

static void test_blink(void)
{
    lv_blink_event ev[8];
    double s1[] = {1.0}, d1[] = {0.2};
    int n = run_blinks(s1, d1, 1, 30, 3, 0, ev, 8);
    CHECK(n == 1);
    if (n == 1) {
        CHECK(fabs(ev[0].t_start - 1.0) < 0.05);
        CHECK(ev[0].duration > 0.15 && ev[0].duration < 0.3);
    }
    /* too long: an eye closure of 1.2 s is not a blink */
    double d2[] = {1.2};
    CHECK(run_blinks(s1, d2, 1, 30, 4, 0, ev, 8) == 0);
    /* a single-frame dip at 60 fps (17 ms) is noise, not a blink */
    double d3[] = {0.012};
    CHECK(run_blinks(s1, d3, 1, 60, 3, 0, ev, 8) == 0);
    /* three blinks, every 7th frame missing: all three still found */
    double s4[] = {1.0, 2.0, 3.0}, d4[] = {0.15, 0.3, 0.2};
    CHECK(run_blinks(s4, d4, 3, 30, 4, 7, ev, 8) == 3);
    /* missing frames alone never make blinks */
    CHECK(run_blinks(s4, d4, 0, 30, 4, 3, ev, 8) == 0);
    /* baseline adapts: the person's open EAR is 0.22 (not 0.30): a dip to 0.10 for 0.2 s is still found */
    lv_blink_detector d;
    lv_blink_init(&d, NULL);
    int found = 0;
    for (double t = 0; t < 3; t += 1.0 / 30) {
        double ear = (t >= 1.5 && t < 1.7) ? 0.10 : 0.22;
        found += lv_blink_push(&d, t, ear, NAN, NULL);
    }
    CHECK(found == 1);
    /* a long gap during a closure cancels it */
    lv_blink_init(&d, NULL);
    found = 0;
    for (double t = 0; t < 1; t += 1.0 / 30)
        found += lv_blink_push(&d, t, 0.3, NAN, NULL);
    found += lv_blink_push(&d, 1.0, 0.05, NAN, NULL);
    found += lv_blink_push(&d, 1.8, 0.3, NAN, NULL); /* 0.8 s later: no blink */
    CHECK(found == 0);
    /* timestamps that do not increase are ignored */
    CHECK(lv_blink_push(&d, 1.0, 0.3, NAN, NULL) == 0);
    /* at 30 fps a blink can show as one deeply closed frame (the whole closing-opening event ~0.07-0.1 s) */
    double s5[] = {0.99}, d5[] = {0.03}; /* exactly one frame (t = 1.0) inside */
    CHECK(run_blinks(s5, d5, 1, 30, 3, 0, ev, 8) == 1);
    /* ... but one frame only slightly below the close ratio (landmark jitter) is not */
    lv_blink_init(&d, NULL);
    found = 0;
    int fi = 0;
    for (double t = 0; t < 3; t += 1.0 / 30, fi++)
        found += lv_blink_push(&d, t, fi == 45 ? 0.30 * 0.75 : 0.30, NAN, NULL);
    CHECK(found == 0);
    /* a closed span of 0.7 s is too long even though the eyes reopen */
    double d6[] = {0.7};
    CHECK(run_blinks(s1, d6, 1, 30, 3, 0, ev, 8) == 0);
    /* eye model only (the EAR does not drop, e.g. glasses): its closed-probability rising well above its own
     * open-eye level (0.45 here, not the nominal 0.5 threshold) counts as a closure; a model stuck "closed" does not */
    lv_blink_init(&d, NULL);
    found = 0;
    for (double t = 0; t < 3; t += 1.0 / 30)
        found += lv_blink_push(&d, t, 0.30, (t >= 1.5 && t < 1.7) ? 0.98 : 0.45, NULL);
    CHECK(found == 1);
    lv_blink_init(&d, NULL);
    found = 0;
    for (double t = 0; t < 3; t += 1.0 / 30)
        found += lv_blink_push(&d, t, 0.30, (t >= 1.5 && t < 1.7) ? 1.0 : 0.99, NULL);
    CHECK(found == 0);
}

static int run_motion(double (*yaw)(double), double (*pitch)(double), double fps, double total, lv_motion_event *evs,
                      int cap)
{
    lv_motion_detector d;
    lv_motion_init(&d, NULL);
    int n = 0;
    for (double t = 0; t < total; t += 1.0 / fps) {
        lv_motion_event ev;
        if (lv_motion_push(&d, t, yaw(t), pitch(t), &ev) && n < cap)
            evs[n++] = ev;
    }
    return n;
}

static double zero(double t) { (void)t; return 0.5 * sin(t * 7); }
static double smooth_left(double t) { return t < 1 ? 0 : t < 2 ? 30 * sin((t - 1) * M_PI) : 0; }
static double smooth_right(double t) { return -smooth_left(t); }
static double jump_left(double t) { return t >= 1.0 && t < 1.5 ? 30 : 0; }
/* pose-fit flip: the head turns right to -30, the fit flips to +30 for a while, then back: no turn_left */
static double flip(double t)
{
    if (t < 1)
        return 0;
    if (t < 2)
        return -30 * sin((t - 1) * M_PI / 2);
    if (t < 2.6)
        return 30 + 3 * sin(t * 40);
    return -30 + 30 * fmin(1, (t - 2.6) / 0.5);
}
/* the clip starts mid-turn (+25) and the head then settles frontal and sways: no turn from a far first frame */
static double start_turned(double t) { return t < 0.5 ? 25 : t < 1.0 ? 25 - 50 * (t - 0.5) : 0.5 * sin(t * 7); }
static double nod(double t) { return t < 1 ? 2 : t < 2 ? 2 + 18 * sin((t - 1) * M_PI) : 2; }

static void test_motion(void)
{
    lv_motion_event ev[8];
    int n = run_motion(smooth_left, zero, 30, 3, ev, 8);
    CHECK(n == 1 && ev[0].motion == LV_MOTION_TURN_LEFT);
    n = run_motion(smooth_right, zero, 30, 3, ev, 8);
    CHECK(n == 1 && ev[0].motion == LV_MOTION_TURN_RIGHT);
    /* 15 fps still works */
    n = run_motion(smooth_left, zero, 15, 3, ev, 8);
    CHECK(n == 1 && ev[0].motion == LV_MOTION_TURN_LEFT);
    /* an instantaneous jump (a cut between two pictures) is not a turn */
    CHECK(run_motion(jump_left, zero, 30, 3, ev, 8) == 0);
    /* nod: pitch down and back up */
    n = run_motion(zero, nod, 30, 3, ev, 8);
    CHECK(n == 1 && ev[0].motion == LV_MOTION_NOD);
    /* small sway only */
    CHECK(run_motion(zero, zero, 30, 5, ev, 8) == 0);
    /* a pose-fit flip to the other side is not a turn that way */
    n = run_motion(flip, zero, 30, 4, ev, 8);
    CHECK(n >= 1);
    for (int i = 0; i < n; i++)
        CHECK_MSG(ev[i].motion != LV_MOTION_TURN_LEFT, "event %d: %s at %g", i, lv_motion_name(ev[i].motion),
                  ev[i].t_end);
    /* first frame mid-turn: the neutral estimate is bounded near frontal, so the return to frontal is seen as the
     * end of a left turn at most, never as a right turn */
    n = run_motion(start_turned, zero, 30, 3, ev, 8);
    for (int i = 0; i < n; i++)
        CHECK(ev[i].motion != LV_MOTION_TURN_RIGHT);
}

static void test_pad_video_rule(void)
{
    lv_pad_video_result r;
    double thr = lv_pad_video_threshold();
    CHECK(thr > 0 && thr < 1);
    /* too few scored frames: not evaluated, never a pass */
    double two[2] = {0.99, 0.99};
    lv_pad_video(two, 2, &r);
    CHECK(!r.evaluated && !r.pass && r.scored == 2);
    lv_pad_video(NULL, 5, &r);
    CHECK(!r.evaluated && !r.pass && isnan(r.median));
    /* the median decides: a minority of high frames (e.g. a real face passing behind a screen) does not pass */
    double mix[7] = {0.99, 0.99, 0.99, NAN, 0.0, 0.0, 0.0};
    mix[4] = mix[5] = mix[6] = thr * 0.5;
    double extra_low = thr * 0.1;
    double mix2[8];
    memcpy(mix2, mix, sizeof mix);
    mix2[7] = extra_low;
    lv_pad_video(mix2, 8, &r);
    CHECK(r.evaluated && r.scored == 7 && !r.pass && r.median == thr * 0.5);
    /* ... while a minority of low frames does not fail a live clip */
    double mostly[5] = {thr * 0.2, thr + 0.01, thr + 0.02, 0.99, NAN};
    lv_pad_video(mostly, 5, &r);
    CHECK(r.evaluated && r.pass && fabs(r.median - (thr + 0.015)) < 1e-12);
    /* more scores than the internal buffer: still decided */
    static double many[3000];
    for (int i = 0; i < 3000; i++)
        many[i] = (i % 4 == 0) ? 0.0 : 0.9;
    lv_pad_video(many, 3000, &r);
    CHECK(r.evaluated && r.pass == (0.9 >= thr) && r.scored <= 1024);
}

/* The public accumulator (fm_pad_video_*) applies the same rule: medians worked out by hand, NaN frames counted but
 * not used, bad scores refused without being added, the frame limit, reset. */
static void test_pad_video_public(void)
{
    fm_ctx *ctx = fm_ctx_create();
    REQUIRE(ctx);
    double thr = fm_pad_video_threshold();
    CHECK(thr == lv_pad_video_threshold() && thr > 0 && thr < 1);
    CHECK(FM_PAD_VIDEO_MIN_FRAMES == LV_PAD_VIDEO_MIN_FRAMES);
    fm_pad_video *v = NULL;
    CHECK_STATUS(fm_pad_video_create(ctx, NULL), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_pad_video_create(ctx, &v), FM_OK);
    REQUIRE(v);
    fm_pad_video_result r;
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(!r.evaluated && !r.pass && r.scored == 0 && r.pushed == 0 && isnan(r.median) && r.threshold == thr);
    /* two live-looking frames and a frame without a face: not enough to decide */
    CHECK_STATUS(fm_pad_video_push(ctx, v, 0.9), FM_OK);
    CHECK_STATUS(fm_pad_video_push(ctx, v, NAN), FM_OK);
    CHECK_STATUS(fm_pad_video_push(ctx, v, 0.8), FM_OK);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(!r.evaluated && !r.pass && r.scored == 2 && r.pushed == 3 && fabs(r.median - 0.85) < 1e-12);
    /* out-of-range and infinite scores are refused and not added */
    CHECK_STATUS(fm_pad_video_push(ctx, v, 1.5), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_pad_video_push(ctx, v, -0.01), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_pad_video_push(ctx, v, INFINITY), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_pad_video_push(NULL, NULL, 0.5), FM_ERR_INVALID_ARGUMENT);
    /* scores 0.9, 0.8, 0.0 -> median 0.8: pass (0.8 is above any calibrated threshold < 0.8) */
    CHECK_STATUS(fm_pad_video_push(ctx, v, 0.0), FM_OK);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(r.evaluated && r.scored == 3 && r.pushed == 4 && fabs(r.median - 0.8) < 1e-12);
    CHECK(r.pass == (0.8 >= thr));
    /* two more low frames: 0.9, 0.8, 0.0, 0.0, 0.0 -> median 0.0: the majority of spoof-like frames decides */
    CHECK_STATUS(fm_pad_video_push(ctx, v, 0.0), FM_OK);
    CHECK_STATUS(fm_pad_video_push(ctx, v, 0.0), FM_OK);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(r.evaluated && !r.pass && r.scored == 5 && r.median == 0.0);
    /* just below / at the threshold */
    fm_pad_video_reset(v);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(r.pushed == 0 && r.scored == 0);
    for (int i = 0; i < 3; i++)
        CHECK_STATUS(fm_pad_video_push(ctx, v, thr), FM_OK);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(r.evaluated && r.pass);
    fm_pad_video_reset(v);
    for (int i = 0; i < 3; i++)
        CHECK_STATUS(fm_pad_video_push(ctx, v, nextafter(thr, 0)), FM_OK);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(r.evaluated && !r.pass);
    /* the frame limit counts NaN frames too */
    fm_pad_video_reset(v);
    fm_status st = FM_OK;
    for (int i = 0; i < FM_PAD_VIDEO_MAX_FRAMES && st == FM_OK; i++)
        st = fm_pad_video_push(ctx, v, (i % 3 == 0) ? NAN : 0.9);
    CHECK(st == FM_OK);
    CHECK_STATUS(fm_pad_video_push(ctx, v, 0.9), FM_ERR_LIMIT);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, &r), FM_OK);
    CHECK(r.pushed == FM_PAD_VIDEO_MAX_FRAMES && r.evaluated && r.pass == (0.9 >= thr) && fabs(r.median - 0.9) < 1e-12);
    CHECK_STATUS(fm_pad_video_result_get(ctx, NULL, &r), FM_ERR_INVALID_ARGUMENT);
    CHECK(!r.evaluated && !r.pass);
    CHECK_STATUS(fm_pad_video_result_get(ctx, v, NULL), FM_ERR_INVALID_ARGUMENT);
    fm_pad_video_destroy(v);
    fm_pad_video_destroy(NULL);
    fm_pad_video_reset(NULL);
    fm_ctx_destroy(ctx);
}

static void test_models_and_pad(void)
{
    fm_ctx *ctx = fm_ctx_create();
    lv_models_config cfg;
    lv_models_config_init(&cfg);
    cfg.models_dir = "/nonexistent/facematch-models";
    lv_models *m = NULL;
    CHECK_STATUS(lv_models_create(ctx, &cfg, &m), FM_ERR_MODEL_MISSING);
    CHECK(m == NULL);
    static const uint8_t junk[64] = {1, 2, 3};
    lv_models_config_init(&cfg);
    cfg.liveness_buf = junk;
    cfg.liveness_len = sizeof junk;
    CHECK_STATUS(lv_models_create(ctx, &cfg, &m), FM_ERR_MODEL_HASH);
    cfg.verify_sha256 = 0;
    fm_status st = lv_models_create(ctx, &cfg, &m);
    CHECK(st != FM_OK && m == NULL);

    fm_pad_result r;
    CHECK_STATUS(fm_pad_score(ctx, NULL, NULL, NULL, &r), FM_ERR_INVALID_ARGUMENT);
    CHECK(isnan(r.live));

    const char *data = test_data_dir();
    fm_pad *pad = NULL;
    if (!data || fm_pad_create(ctx, NULL, &pad) != FM_OK) {
        fprintf(stderr, "note: shared data or liveness models absent: real-image PAD checks skipped\n");
        fm_ctx_destroy(ctx);
        return;
    }
    fm_engine_config ec;
    fm_engine_config_init(&ec);
    ec.models = FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68);
    fm_engine *e = NULL;
    if (fm_engine_create(ctx, &ec, &e) != FM_OK) {
        fprintf(stderr, "note: engine models absent: real-image checks skipped (%s)\n", fm_ctx_errmsg(ctx));
        fm_pad_destroy(pad);
        fm_ctx_destroy(ctx);
        return;
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/liveness/nuaa-train/db/ClientRaw/0001/0001_00_00_01_0.jpg", data);
    fm_image *img = NULL;
    if (fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL) == FM_OK) {
        fm_face_box b[4];
        size_t n = 0;
        CHECK_STATUS(fm_detect(ctx, e, img, NULL, b, 4, &n), FM_OK);
        REQUIRE(n >= 1);
        CHECK_STATUS(fm_pad_score(ctx, pad, img, &b[0], &r), FM_OK);
        CHECK(r.live >= 0 && r.live <= 1 && r.model_live >= 0 && r.model_live <= 1);
        CHECK(r.specular >= 0 && r.specular <= 1 && r.colour >= 0);
        /* a box far outside the image or non-finite is refused, not scored */
        fm_face_box bad = b[0];
        bad.left = NAN;
        CHECK_STATUS(fm_pad_score(ctx, pad, img, &bad, &r), FM_ERR_INVALID_ARGUMENT);
        /* frontal photo: the pose is near frontal and the signs agree with the eye layout */
        fm_point pts[68];
        CHECK_STATUS(fm_landmarks(ctx, e, img, &b[0], 68, pts), FM_OK);
        lv_pose p;
        CHECK(lv_head_pose68(pts, fm_image_width(img), fm_image_height(img), &p) == 0);
        CHECK_MSG(fabs(p.yaw) < 20 && fabs(p.pitch) < 25 && fabs(p.roll) < 15, "pose %g %g %g", p.yaw, p.pitch,
                  p.roll);
        double ear = lv_ear_mean(pts);
        CHECK_MSG(ear > 0.15 && ear < 0.45, "open-eye EAR %g", ear);
        fm_image_destroy(img);
    } else {
        fprintf(stderr, "note: %s unreadable: %s\n", path, fm_ctx_errmsg(ctx));
    }
    fm_engine_destroy(e);
    fm_pad_destroy(pad);
    fm_ctx_destroy(ctx);
}

int main(void)
{
    RUN(test_ear);
    RUN(test_pose_synthetic);
    RUN(test_blink);
    RUN(test_motion);
    RUN(test_pad_video_rule);
    RUN(test_pad_video_public);
    RUN(test_models_and_pad);
    return test_finish();
}
