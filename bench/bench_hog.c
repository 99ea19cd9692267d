/* bench_hog: our HOG frontal face detector (FM_DETECTOR_HOG) against dlib's own (bench/dlib_face_peer hog), same
 * run, same core, one thread.
 *
 * usage: bench_hog [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]
 *
 * Re-executes itself under `taskset -c 0` (unless FM_BENCH_PINNED is set) and runs the peer the same way.
 *   detect 250x250: centre crop of deepface img1 resized to 250x250 (PNG, decoded once): median thread-CPU ms
 *   detect 640x480: deepface img1 resized to 640x480: median thread-CPU ms
 *   compare 250x250 x2 (img1 and img2 crops), --detector hog: decode, HOG, largest face, 5 points, chip, ResNet,
 *   distance, both images; median wall ms; dlib's pipeline = dlib_face_peer compare (HOG + sp5 + ResNet).
 * Boxes of ours and dlib's are not compared here (tests/unit/test_face_hog does that). */
#include "facematch.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static fm_ctx *ctx;

static void die(const char *what)
{
    fprintf(stderr, "bench_hog: %s: %s\n", what, fm_ctx_errmsg(ctx));
    exit(1);
}

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
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

/* src -> (centre square crop when square) resized to w x h, written as PNG at dst */
static void make_png(const char *src, const char *dst, int w, int h, int square)
{
    fm_image *img, *crop = NULL, *res;
    if (fm_image_load(ctx, src, FM_PIX_RGB24, &img, NULL) != FM_OK)
        die(src);
    const fm_image *from = img;
    if (square) {
        int iw = fm_image_width(img), ih = fm_image_height(img), s = iw < ih ? iw : ih;
        if (fm_image_crop(ctx, img, (iw - s) / 2, (ih - s) / 2, s, s, &crop) != FM_OK)
            die("crop");
        from = crop;
    }
    if (fm_image_resize(ctx, from, w, h, FM_RESIZE_AREA, &res) != FM_OK)
        die("resize");
    size_t len = 0;
    fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, NULL, 0, &len);
    uint8_t *buf = (uint8_t *)malloc(len);
    if (!buf || fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, buf, len, &len) != FM_OK)
        die("encode");
    FILE *f = fopen(dst, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "bench_hog: cannot write %s\n", dst);
        exit(1);
    }
    free(buf);
    fm_image_destroy(img);
    fm_image_destroy(crop);
    fm_image_destroy(res);
}

static double detect_cpu(fm_engine *e, const char *path, int iters, size_t *faces)
{
    fm_image *img;
    if (fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL) != FM_OK)
        die(path);
    fm_detect_options o;
    fm_detect_options_init(&o);
    o.detector = FM_DETECTOR_HOG;
    fm_face_box f[16];
    if (fm_detect(ctx, e, img, &o, f, 16, faces) != FM_OK) /* warm-up (scratch allocated once) */
        die("detect");
    double *t = (double *)calloc((size_t)iters, sizeof(double));
    for (int i = 0; i < iters; i++) {
        double t0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        if (fm_detect(ctx, e, img, &o, f, 16, faces) != FM_OK)
            die("detect");
        t[i] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - t0;
    }
    double m = median(t, iters);
    free(t);
    fm_image_destroy(img);
    return m;
}

static double compare_once(fm_engine *e, const char *a, const char *b)
{
    float d[2][128];
    const char *p[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        fm_image *img;
        if (fm_image_load(ctx, p[k], FM_PIX_RGB24, &img, NULL) != FM_OK)
            die(p[k]);
        fm_detect_options o;
        fm_detect_options_init(&o);
        o.detector = FM_DETECTOR_HOG;
        fm_face_box f[16];
        size_t n;
        if (fm_detect(ctx, e, img, &o, f, 16, &n) != FM_OK)
            die("detect");
        if (n == 0) {
            fprintf(stderr, "bench_hog: no face in %s\n", p[k]);
            exit(1);
        }
        size_t best = 0;
        for (size_t i = 1; i < n && i < 16; i++)
            if ((f[i].right - f[i].left + 1) * (f[i].bottom - f[i].top + 1) >
                (f[best].right - f[best].left + 1) * (f[best].bottom - f[best].top + 1))
                best = i;
        if (fm_embed_face(ctx, e, FM_EMBED_DLIB, img, &f[best], d[k], 128) != FM_OK)
            die("embed");
        fm_image_destroy(img);
    }
    fm_compare_result r;
    if (fm_compare(ctx, FM_EMBED_DLIB, d[0], d[1], 128, 0, &r) != FM_OK)
        die("compare");
    fm_wipe(d, sizeof d);
    return r.distance;
}

static double peer_value(const char *cmd, const char *key)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NAN;
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    pclose(p);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *s = strstr(buf, pat);
    return s ? strtod(s + strlen(pat), NULL) : NAN;
}

int main(int argc, char **argv)
{
    if (!getenv("FM_BENCH_PINNED")) {
        setenv("FM_BENCH_PINNED", "1", 1);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        char **nargv = (char **)calloc((size_t)argc + 4, sizeof(char *));
        nargv[0] = "taskset";
        nargv[1] = "-c";
        nargv[2] = "0";
        for (int i = 0; i < argc; i++)
            nargv[3 + i] = argv[i];
        execvp("taskset", nargv);
        /* no taskset: run unpinned */
    }
    const char *data = "../shared/data", *models = NULL, *peer = NULL;
    int iters = 20, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc)
            models = argv[++i];
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc)
            peer = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: bench_hog [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]\n");
            return 2;
        }
    }
    if (iters < 1)
        iters = 1;
    char mdir[4096], peerbuf[4200], src[2][4200], a[4200], b[4200], frame[4200], cmd[20000];
    if (!models) {
        if (fm_models_default_dir(mdir, sizeof mdir) != FM_OK)
            return 1;
        models = mdir;
    }
    if (!peer) {
        snprintf(peerbuf, sizeof peerbuf, "%s", argv[0]);
        char *sl = strrchr(peerbuf, '/');
        if (sl)
            snprintf(sl + 1, sizeof peerbuf - (size_t)(sl + 1 - peerbuf), "dlib_face_peer");
        else
            snprintf(peerbuf, sizeof peerbuf, "dlib_face_peer");
        peer = peerbuf;
    }
    snprintf(src[0], sizeof src[0], "%s/faces/deepface/tests/unit/dataset/img1.jpg", data);
    snprintf(src[1], sizeof src[1], "%s/faces/deepface/tests/unit/dataset/img2.jpg", data);
    ctx = fm_ctx_create();
    fm_ctx_set(ctx, FM_PARAM_THREADS, 1);
    snprintf(a, sizeof a, "/tmp/fm_bench_hog_a_%d.png", (int)getpid());
    snprintf(b, sizeof b, "/tmp/fm_bench_hog_b_%d.png", (int)getpid());
    snprintf(frame, sizeof frame, "/tmp/fm_bench_hog_f_%d.png", (int)getpid());
    make_png(src[0], a, 250, 250, 1);
    make_png(src[1], b, 250, 250, 1);
    make_png(src[0], frame, 640, 480, 0);
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_HOG) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5);
    fm_engine *e;
    if (fm_engine_create(ctx, &cfg, &e) != FM_OK)
        die("engine (dlib_hog, dlib_resnet, dlib_sp5)");
    size_t f250 = 0, f640 = 0;
    double ours250 = detect_cpu(e, a, iters, &f250), ours640 = detect_cpu(e, frame, iters, &f640);
    double dist = compare_once(e, a, b); /* warm-up */
    double *t = (double *)calloc((size_t)iters, sizeof(double));
    for (int i = 0; i < iters; i++) {
        double t0 = clock_ms(CLOCK_MONOTONIC);
        compare_once(e, a, b);
        t[i] = clock_ms(CLOCK_MONOTONIC) - t0;
    }
    double ours_cmp = median(t, iters);
    free(t);
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' hog '%s' %d", peer, models, a, iters);
    double dlib250 = peer_value(cmd, "hog_median_ms"), dlibf250 = peer_value(cmd, "hog_faces");
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' hog '%s' %d", peer, models, frame, iters);
    double dlib640 = peer_value(cmd, "hog_median_ms"), dlibf640 = peer_value(cmd, "hog_faces");
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' compare '%s' '%s' %d", peer, models, a, b, iters);
    double dlib_cmp = peer_value(cmd, "compare_median_ms"), dlib_dist = peer_value(cmd, "distance");
    if (json) {
        printf("{\"iterations\":%d,\"hog250_ms\":%.3f,\"dlib_hog250_ms\":%.3f,\"hog250_faces\":%zu,"
               "\"dlib_hog250_faces\":%.0f,\"hog640_ms\":%.3f,\"dlib_hog640_ms\":%.3f,\"hog640_faces\":%zu,"
               "\"dlib_hog640_faces\":%.0f,\"compare_hog_ms\":%.3f,\"dlib_compare_ms\":%.3f,\"distance\":%.4f,"
               "\"dlib_distance\":%.4f}\n",
               iters, ours250, dlib250, f250, dlibf250, ours640, dlib640, f640, dlibf640, ours_cmp, dlib_cmp, dist,
               dlib_dist);
    } else {
        printf("bench_hog (%d iterations, one core, thread CPU time for detection, wall time for compare)\n", iters);
        printf("  HOG detect 250x250:   ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx   faces %zu / %.0f\n", ours250,
               dlib250, dlib250 / ours250, f250, dlibf250);
        printf("  HOG detect 640x480:   ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx   faces %zu / %.0f\n", ours640,
               dlib640, dlib640 / ours640, f640, dlibf640);
        printf("  compare 2x 250x250:   ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx   (--detector hog; distance "
               "%.4f / dlib %.4f)\n",
               ours_cmp, dlib_cmp, dlib_cmp / ours_cmp, dist, dlib_dist);
    }
    unlink(a);
    unlink(b);
    unlink(frame);
    fm_engine_destroy(e);
    fm_ctx_destroy(ctx);
    return 0;
}
