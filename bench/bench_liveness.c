/* bench_liveness: per-frame cost of the liveness signals, and the frame-stream tool the liveness tests use.
 *
 * usage:
 *   bench_liveness [--image FILE] [--models DIR] [--iterations N] [--json]
 *       Per-frame cost at 640x480 on one thread (the image is resized to 640x480; default: the first live NUAA frame
 *       of ../shared/data, which is 640x480): fast detector, dlib 68 landmarks, EAR, fr_eye (both eyes), head pose,
 *       passive PAD (fr_liveness + cues); medians of N runs (default 30) in ms.
 *   bench_liveness --stream [--pad-every N] [--models DIR]
 *       Reads frames from stdin, each "FRAME <t_seconds> <width> <height>\n" followed by width*height*3 RGB bytes,
 *       and prints one line per frame
 *         F <t> <faces> <ear> <p_closed> <yaw> <pitch> <roll> <pad|nan> <box_w> <x36> <y36> <x39> <y39> <x42> <y42> <x45> <y45>
 *       (the last 8: the eye corners, for aligning a clip with per-frame annotations that carry eye positions)
 *       followed, on frames with a PAD score, by "P <model_live> <moire> <specular> <colour> <x1> <y1> <x2> <y2> <cx> <cy>
 *       <cw> <ch>" (the fused score's inputs, the detector-style box they were taken from, fr_liveness's crop x y w h)
 *       and a line per detected event
 *         E blink <t_start> <t_end> <duration>      E turn_left|turn_right|nod <t_start> <t_end> <peak_deg>
 *       using the largest face, lv_blink_* and lv_motion_* with default parameters.
 *   bench_liveness --replay [--close-ratio R] [--open-ratio R] [--p-closed P] [--min-dur S] [--turn-deg D]
 *       Reads the F lines of an earlier --stream run from stdin and reruns only the event detectors (tuning).
 */
#include "facematch.h"
#include "liveness/liveness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fm_ctx *ctx;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_liveness: %s: %s\n", what, fm_ctx_errmsg(ctx));
    exit(1);
}

static fm_engine *make_engine(const char *models)
{
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68);
    fm_engine *e;
    if (fm_engine_create(ctx, &cfg, &e) != FM_OK)
        die("engine");
    return e;
}

static lv_models *make_lv(const char *models)
{
    lv_models_config cfg;
    lv_models_config_init(&cfg);
    cfg.models_dir = models;
    lv_models *m;
    if (lv_models_create(ctx, &cfg, &m) != FM_OK)
        die("liveness models");
    return m;
}

static int largest(const fm_face_box *f, size_t n)
{
    int best = -1;
    double a = 0;
    for (size_t i = 0; i < n; i++) {
        double s = (double)(f[i].right - f[i].left + 1) * (f[i].bottom - f[i].top + 1);
        if (s > a) {
            a = s;
            best = (int)i;
        }
    }
    return best;
}

static int replay(const lv_blink_params *bp, const lv_motion_params *mp)
{
    lv_blink_detector bd;
    lv_motion_detector md;
    lv_blink_init(&bd, bp);
    lv_motion_init(&md, mp);
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        double t, ear, pc, yaw, pitch;
        int nf;
        char se[32], sp[32], sy[32], spi[32];
        if (sscanf(line, "F %lf %d %31s %31s %31s %31s", &t, &nf, se, sp, sy, spi) != 6)
            continue;
        ear = strtod(se, NULL);
        pc = strtod(sp, NULL);
        yaw = strtod(sy, NULL);
        pitch = strtod(spi, NULL);
        lv_blink_event be;
        if (lv_blink_push(&bd, t, ear, pc, &be))
            printf("E blink %.4f %.4f %.4f\n", be.t_start, be.t_end, be.duration);
        lv_motion_event me;
        if (lv_motion_push(&md, t, yaw, pitch, &me))
            printf("E %s %.4f %.4f %.2f\n", lv_motion_name(me.motion), me.t_start, me.t_end, me.peak_deg);
    }
    return 0;
}

static int stream(const char *models, int pad_every)
{
    fm_engine *e = make_engine(models);
    lv_models *m = make_lv(models);
    nn_arena arena = {0};
    lv_blink_detector bd;
    lv_motion_detector md;
    lv_blink_init(&bd, NULL);
    lv_motion_init(&md, NULL);
    char line[256];
    uint8_t *buf = NULL;
    size_t cap = 0;
    long frame = 0;
    while (fgets(line, sizeof line, stdin)) {
        double t;
        int w, h;
        if (sscanf(line, "FRAME %lf %d %d", &t, &w, &h) != 3 || w < 1 || h < 1 || w > 8192 || h > 8192) {
            fprintf(stderr, "bench_liveness: bad frame header\n");
            return 1;
        }
        size_t n = (size_t)w * h * 3;
        if (n > cap) {
            free(buf);
            buf = malloc(n);
            cap = n;
            if (!buf)
                return 1;
        }
        if (fread(buf, 1, n, stdin) != n) {
            fprintf(stderr, "bench_liveness: truncated frame\n");
            return 1;
        }
        const uint8_t *planes[1] = {buf};
        int strides[1] = {w * 3};
        fm_image *img;
        if (fm_image_wrap(ctx, FM_PIX_RGB24, w, h, planes, strides, 0, &img) != FM_OK)
            die("wrap");
        fm_face_box faces[8];
        size_t nf = 0;
        double ear = NAN, pc = NAN, yaw = NAN, pitch = NAN, roll = NAN, pad = NAN, bw = 0;
        double corners[8];
        lv_pad_result padr;
        int have_pad = 0;
        for (int k = 0; k < 8; k++)
            corners[k] = NAN;
        if (fm_detect(ctx, e, img, NULL, faces, 8, &nf) != FM_OK)
            die("detect");
        int bi = largest(faces, nf < 8 ? nf : 8);
        if (bi >= 0) {
            fm_point pts[68];
            bw = faces[bi].right - faces[bi].left + 1;
            if (fm_landmarks(ctx, e, img, &faces[bi], 68, pts) == FM_OK) {
                ear = lv_ear_mean(pts);
                static const int ci[4] = {36, 39, 42, 45};
                for (int k = 0; k < 4; k++) {
                    corners[2 * k] = pts[ci[k]].x;
                    corners[2 * k + 1] = pts[ci[k]].y;
                }
                if (lv_eye_closed(ctx, m, &arena, img, pts, &pc) != FM_OK)
                    die("eye");
                lv_pose p;
                if (lv_head_pose68(pts, w, h, &p) == 0) {
                    yaw = p.yaw;
                    pitch = p.pitch;
                    roll = p.roll;
                }
            }
            if (pad_every > 0 && frame % pad_every == 0) {
                if (lv_pad_score(ctx, m, &arena, img, &faces[bi], &padr) == FM_OK) {
                    pad = padr.fused;
                    have_pad = 1;
                }
            }
        }
        printf("F %.4f %zu %.4f %.4f %.2f %.2f %.2f %.4f %.0f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f\n", t, nf, ear, pc,
               yaw, pitch, roll, pad, bw, corners[0], corners[1], corners[2], corners[3], corners[4], corners[5],
               corners[6], corners[7]);
        if (have_pad)
            printf("P %.6f %.6f %.6f %.6f %.1f %.1f %.1f %.1f %d %d %d %d\n", padr.model_live, padr.moire, padr.specular,
                   padr.colour, padr.box[0], padr.box[1], padr.box[2], padr.box[3], padr.crop[0], padr.crop[1],
                   padr.crop[2], padr.crop[3]);
        lv_blink_event be;
        if (lv_blink_push(&bd, t, ear, pc, &be))
            printf("E blink %.4f %.4f %.4f\n", be.t_start, be.t_end, be.duration);
        lv_motion_event me;
        if (lv_motion_push(&md, t, yaw, pitch, &me))
            printf("E %s %.4f %.4f %.2f\n", lv_motion_name(me.motion), me.t_start, me.t_end, me.peak_deg);
        fflush(stdout);
        fm_image_destroy(img);
        frame++;
    }
    free(buf);
    nn_arena_free(&arena);
    lv_models_destroy(m);
    fm_engine_destroy(e);
    return 0;
}

int main(int argc, char **argv)
{
    const char *image = NULL, *models = NULL;
    int iters = 30, json = 0, do_stream = 0, pad_every = 0, do_replay = 0;
    lv_blink_params bp;
    lv_motion_params mop;
    lv_blink_params_init(&bp);
    lv_motion_params_init(&mop);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--image") && i + 1 < argc)
            image = argv[++i];
        else if (!strcmp(argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pad-every") && i + 1 < argc)
            pad_every = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--stream"))
            do_stream = 1;
        else if (!strcmp(argv[i], "--replay"))
            do_replay = 1;
        else if (!strcmp(argv[i], "--close-ratio") && i + 1 < argc)
            bp.close_ratio = atof(argv[++i]);
        else if (!strcmp(argv[i], "--open-ratio") && i + 1 < argc)
            bp.open_ratio = atof(argv[++i]);
        else if (!strcmp(argv[i], "--p-closed") && i + 1 < argc)
            bp.p_closed = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-dur") && i + 1 < argc)
            bp.min_dur = atof(argv[++i]);
        else if (!strcmp(argv[i], "--short-ratio") && i + 1 < argc)
            bp.short_ratio = atof(argv[++i]);
        else if (!strcmp(argv[i], "--p-rise") && i + 1 < argc)
            bp.p_rise = atof(argv[++i]);
        else if (!strcmp(argv[i], "--baseline-q") && i + 1 < argc)
            bp.baseline_q = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-dur") && i + 1 < argc)
            bp.max_dur = atof(argv[++i]);
        else if (!strcmp(argv[i], "--neutral-max-yaw") && i + 1 < argc)
            mop.neutral_max_yaw = atof(argv[++i]);
        else if (!strcmp(argv[i], "--nod-deg") && i + 1 < argc)
            mop.nod_deg = atof(argv[++i]), mop.nod_return = 0.5 * mop.nod_deg;
        else if (!strcmp(argv[i], "--turn-deg") && i + 1 < argc)
            mop.turn_deg = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_liveness [--image FILE] [--models DIR] [--iterations N] [--json]\n"
                            "       bench_liveness --stream [--pad-every N] [--models DIR]\n");
            return 2;
        }
    }
    if (iters < 1)
        iters = 1;
    if (!(ctx = fm_ctx_create()))
        return 1;
    if (do_replay)
        return replay(&bp, &mop);
    if (do_stream)
        return stream(models, pad_every);

    char def[4096];
    if (!image) {
        /* $FM_DATA_DIR, else <repo>/../shared/data (the repo found from this file's path) */
        const char *d = getenv("FM_DATA_DIR");
        char repo[2048];
        snprintf(repo, sizeof repo, "%s", __FILE__);
        for (int k = 0; k < 2; k++) {
            char *sl = strrchr(repo, '/');
            if (sl)
                *sl = 0;
            else
                snprintf(repo, sizeof repo, ".");
        }
        snprintf(def, sizeof def, "%s%s/liveness/nuaa-train/db/ClientRaw/0001/0001_00_00_01_0.jpg",
                 d && *d ? d : repo, d && *d ? "" : "/../shared/data");
        image = def;
    }
    fm_image *src, *img;
    if (fm_image_load(ctx, image, FM_PIX_RGB24, &src, NULL) != FM_OK)
        die(image);
    if (fm_image_resize(ctx, src, 640, 480, FM_RESIZE_BILINEAR, &img) != FM_OK)
        die("resize");
    fm_engine *e = make_engine(models);
    lv_models *m = make_lv(models);
    nn_arena arena = {0};
    double *td = calloc((size_t)iters, sizeof(double)), *tl = calloc((size_t)iters, sizeof(double)),
           *te = calloc((size_t)iters, sizeof(double)), *tp = calloc((size_t)iters, sizeof(double)),
           *tpad = calloc((size_t)iters, sizeof(double)), *tall = calloc((size_t)iters, sizeof(double));
    double *cd = calloc((size_t)iters, sizeof(double)), *cl = calloc((size_t)iters, sizeof(double)),
           *cpad = calloc((size_t)iters, sizeof(double)), *call = calloc((size_t)iters, sizeof(double));
    if (!td || !tl || !te || !tp || !tpad || !tall || !cd || !cl || !cpad || !call)
        return 1;
    for (int it = -1; it < iters; it++) { /* it = -1: warm-up (arena reservation) */
        double t0 = now_ms(), c0 = cpu_ms();
        fm_face_box faces[4];
        size_t nf = 0;
        if (fm_detect(ctx, e, img, NULL, faces, 4, &nf) != FM_OK || nf == 0)
            die("no face in the bench image");
        double t1 = now_ms(), c1 = cpu_ms();
        fm_point pts[68];
        if (fm_landmarks(ctx, e, img, &faces[0], 68, pts) != FM_OK)
            die("landmarks");
        double t2 = now_ms(), c2 = cpu_ms();
        double pc;
        volatile double ear = lv_ear_mean(pts);
        (void)ear;
        if (lv_eye_closed(ctx, m, &arena, img, pts, &pc) != FM_OK)
            die("eye");
        double t3 = now_ms();
        lv_pose p;
        lv_head_pose68(pts, 640, 480, &p);
        double t4 = now_ms(), c4 = cpu_ms();
        lv_pad_result r;
        if (lv_pad_score(ctx, m, &arena, img, &faces[0], &r) != FM_OK)
            die("pad");
        double t5 = now_ms(), c5 = cpu_ms();
        if (it >= 0) {
            cd[it] = c1 - c0;
            cl[it] = c2 - c1;
            cpad[it] = c5 - c4;
            call[it] = c5 - c0;
            td[it] = t1 - t0;
            tl[it] = t2 - t1;
            te[it] = t3 - t2;
            tp[it] = t4 - t3;
            tpad[it] = t5 - t4;
            tall[it] = t5 - t0;
        }
    }
    double md = median(td, iters), ml = median(tl, iters), me = median(te, iters), mp = median(tp, iters),
           mpad = median(tpad, iters), mall = median(tall, iters);
    double ccd = median(cd, iters), ccl = median(cl, iters), ccpad = median(cpad, iters), ccall = median(call, iters);
    if (json)
        printf("{\"frame\":\"640x480\",\"iterations\":%d,\"threads\":1,\"detect_ms\":%.3f,\"landmarks68_ms\":%.3f,"
               "\"ear_eye_model_ms\":%.3f,\"pose_ms\":%.3f,\"pad_ms\":%.3f,\"total_ms\":%.3f,"
               "\"cpu_detect_ms\":%.3f,\"cpu_landmarks68_ms\":%.3f,\"cpu_pad_ms\":%.3f,\"cpu_total_ms\":%.3f}\n",
               iters, md, ml, me, mp, mpad, mall, ccd, ccl, ccpad, ccall);
    else
        printf("640x480, 1 thread, median of %d:\n  detect (fast)      %8.3f ms\n  landmarks 68 (dlib)%8.3f ms\n"
               "  EAR + fr_eye x2    %8.3f ms\n  head pose          %8.3f ms\n  PAD (model+cues)   %8.3f ms\n"
               "  total              %8.3f ms\n"
               "thread CPU time (less sensitive to a loaded machine): detect %.3f, landmarks %.3f, PAD %.3f, "
               "total %.3f ms\n",
               iters, md, ml, me, mp, mpad, mall, ccd, ccl, ccpad, ccall);
    nn_arena_free(&arena);
    lv_models_destroy(m);
    fm_engine_destroy(e);
    fm_image_destroy(img);
    fm_image_destroy(src);
    fm_ctx_destroy(ctx);
    return 0;
}
