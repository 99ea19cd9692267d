/* bench_face: face pipeline speed against dlib 19.24 in the same run.
 *
 * usage: bench_face [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]
 * Measures, pinned to one core (the program re-executes itself under `taskset -c 0` with OPENBLAS_NUM_THREADS=1
 * unless FM_BENCH_PINNED is set), and runs bench/dlib_face_peer the same way:
 *   desc:    ResNet descriptor of a 150x150 chip (dlib-johns image), median of N   (ours vs dlib)
 *   compare: two 250x250 photos (centre crops of deepface img1/img2, written as PNG once): decode, detect
 *            (ours: fast detector; dlib: HOG), largest face, 5 points, chip, descriptor, distance  (ours vs dlib)
 *   detect:  fast detector and MMOD on a 640x480 frame (ours only; dlib's MMOD timing is not run: minutes)
 *   peak RSS after loading the default models and running the above.
 * Ratios are dlib time / our time (> 1 means we are faster). */
#include "facematch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static fm_ctx *ctx;

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "bench_face: %s: %s\n", what, fm_ctx_errmsg(ctx));
    exit(1);
}

/* centre square crop, resized to size x size, written as PNG */
static void make_square_png(const char *src, const char *dst, int size)
{
    fm_image *img, *crop, *res;
    if (fm_image_load(ctx, src, FM_PIX_RGB24, &img, NULL) != FM_OK)
        die(src);
    int w = fm_image_width(img), h = fm_image_height(img), s = w < h ? w : h;
    if (fm_image_crop(ctx, img, (w - s) / 2, (h - s) / 2, s, s, &crop) != FM_OK ||
        fm_image_resize(ctx, crop, size, size, FM_RESIZE_AREA, &res) != FM_OK)
        die("crop/resize");
    size_t len = 0;
    fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, NULL, 0, &len);
    uint8_t *buf = (uint8_t *)malloc(len);
    if (!buf || fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, buf, len, &len) != FM_OK)
        die("encode");
    FILE *f = fopen(dst, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "bench_face: cannot write %s\n", dst);
        exit(1);
    }
    free(buf);
    fm_image_destroy(img);
    fm_image_destroy(crop);
    fm_image_destroy(res);
}

static int largest(const fm_face_box *f, size_t n)
{
    int b = -1;
    double ba = -1;
    for (size_t i = 0; i < n; i++) {
        double a = (double)(f[i].right - f[i].left + 1) * (f[i].bottom - f[i].top + 1);
        if (a > ba) {
            ba = a;
            b = (int)i;
        }
    }
    return b;
}

static double compare_once(fm_engine *e, const char *a, const char *b, fm_detector det)
{
    float d[2][128];
    const char *p[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        fm_image *img;
        if (fm_image_load(ctx, p[k], FM_PIX_RGB24, &img, NULL) != FM_OK)
            die(p[k]);
        fm_detect_options o;
        fm_detect_options_init(&o);
        o.detector = det;
        fm_face_box f[16];
        size_t n;
        if (fm_detect(ctx, e, img, &o, f, 16, &n) != FM_OK)
            die("detect");
        if (n == 0) {
            fprintf(stderr, "bench_face: no face in %s\n", p[k]);
            exit(1);
        }
        if (fm_embed_face(ctx, e, FM_EMBED_DLIB, img, &f[largest(f, n < 16 ? n : 16)], d[k], 128) != FM_OK)
            die("embed");
        fm_image_destroy(img);
    }
    fm_compare_result r;
    if (fm_compare(ctx, FM_EMBED_DLIB, d[0], d[1], 128, 0, &r) != FM_OK)
        die("compare");
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
    int iters = 10, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc)
            models = argv[++i];
        else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc)
            peer = argv[++i];
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: bench_face [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]\n");
            return 2;
        }
    }
    if (iters < 1)
        iters = 1;
    char mdir[4096], chip[4200], a[4200], b[4200], src[2][4200], frame[4200], peerbuf[4200];
    if (!models) {
        if (fm_models_default_dir(mdir, sizeof mdir) != FM_OK)
            return 1;
        models = mdir;
    }
    if (!peer) {
        /* next to this program */
        snprintf(peerbuf, sizeof peerbuf, "%s", argv[0]);
        char *sl = strrchr(peerbuf, '/');
        if (sl)
            snprintf(sl + 1, sizeof peerbuf - (size_t)(sl + 1 - peerbuf), "dlib_face_peer");
        else
            snprintf(peerbuf, sizeof peerbuf, "dlib_face_peer");
        peer = peerbuf;
    }
    snprintf(chip, sizeof chip, "%s/faces/dlib-johns/examples/johns/John_Salley/000197_02159322.jpg", data);
    snprintf(src[0], sizeof src[0], "%s/faces/deepface/tests/unit/dataset/img1.jpg", data);
    snprintf(src[1], sizeof src[1], "%s/faces/deepface/tests/unit/dataset/img2.jpg", data);
    ctx = fm_ctx_create();
    fm_ctx_set(ctx, FM_PARAM_THREADS, 1);
    snprintf(a, sizeof a, "/tmp/fm_bench_face_a_%d.png", (int)getpid());
    snprintf(b, sizeof b, "/tmp/fm_bench_face_b_%d.png", (int)getpid());
    snprintf(frame, sizeof frame, "/tmp/fm_bench_face_f_%d.png", (int)getpid());
    make_square_png(src[0], a, 250);
    make_square_png(src[1], b, 250);
    {
        fm_image *img, *res;
        if (fm_image_load(ctx, src[0], FM_PIX_RGB24, &img, NULL) != FM_OK ||
            fm_image_resize(ctx, img, 640, 480, FM_RESIZE_AREA, &res) != FM_OK)
            die("frame");
        size_t len = 0;
        fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, NULL, 0, &len);
        uint8_t *buf = (uint8_t *)malloc(len);
        fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, buf, len, &len);
        FILE *f = fopen(frame, "wb");
        if (f) {
            fwrite(buf, 1, len, f);
            fclose(f);
        }
        free(buf);
        fm_image_destroy(img);
        fm_image_destroy(res);
    }
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    fm_engine *e;
    double t0 = now_ms();
    if (fm_engine_create(ctx, &cfg, &e) != FM_OK)
        die("engine (default models)");
    double load_ms = now_ms() - t0;
    double *t = (double *)calloc((size_t)iters, sizeof(double));
    /* descriptor */
    fm_image *cimg;
    float d[128];
    if (fm_image_load(ctx, chip, FM_PIX_RGB24, &cimg, NULL) != FM_OK)
        die(chip);
    fm_embed_chip(ctx, e, FM_EMBED_DLIB, cimg, d, 128);
    for (int i = 0; i < iters; i++) {
        t0 = now_ms();
        if (fm_embed_chip(ctx, e, FM_EMBED_DLIB, cimg, d, 128) != FM_OK)
            die("embed_chip");
        t[i] = now_ms() - t0;
    }
    double our_desc = median(t, iters);
    /* compare with the fast detector */
    double dist = compare_once(e, a, b, FM_DETECTOR_FAST);
    for (int i = 0; i < iters; i++) {
        t0 = now_ms();
        compare_once(e, a, b, FM_DETECTOR_FAST);
        t[i] = now_ms() - t0;
    }
    double our_cmp = median(t, iters);
    /* detection on 640x480 */
    fm_image *fimg;
    if (fm_image_load(ctx, frame, FM_PIX_RGB24, &fimg, NULL) != FM_OK)
        die(frame);
    fm_detect_options o;
    fm_detect_options_init(&o);
    fm_face_box fb[16];
    size_t nf;
    fm_detect(ctx, e, fimg, &o, fb, 16, &nf);
    for (int i = 0; i < iters; i++) {
        t0 = now_ms();
        fm_detect(ctx, e, fimg, &o, fb, 16, &nf);
        t[i] = now_ms() - t0;
    }
    double our_fast = median(t, iters);
    o.detector = FM_DETECTOR_MMOD;
    int mi = iters < 3 ? iters : 3;
    for (int i = 0; i < mi; i++) {
        t0 = now_ms();
        fm_detect(ctx, e, fimg, &o, fb, 16, &nf);
        t[i] = now_ms() - t0;
    }
    double our_mmod = median(t, mi);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    /* dlib peer, same pinning and environment */
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' desc '%s' %d", peer, models, chip, iters);
    double dlib_desc = peer_value(cmd, "desc_median_ms");
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' compare '%s' '%s' %d", peer, models, a, b, iters);
    double dlib_cmp = peer_value(cmd, "compare_median_ms");
    double dlib_dist = peer_value(cmd, "distance");
    if (json) {
        printf("{\"iterations\":%d,\"model_load_ms\":%.1f,\"desc_ms\":%.3f,\"dlib_desc_ms\":%.3f,\"desc_ratio\":%.3f,"
               "\"compare_ms\":%.3f,\"dlib_compare_ms\":%.3f,\"compare_ratio\":%.3f,\"distance\":%.4f,"
               "\"dlib_distance\":%.4f,\"fast_detect_640x480_ms\":%.3f,\"mmod_detect_640x480_ms\":%.1f,"
               "\"peak_rss_mb\":%.1f}\n",
               iters, load_ms, our_desc, dlib_desc, dlib_desc / our_desc, our_cmp, dlib_cmp, dlib_cmp / our_cmp, dist,
               dlib_dist, our_fast, our_mmod, rss_mb);
    } else {
        printf("face bench (1 core pinned, OPENBLAS_NUM_THREADS=1, %d iterations, medians)\n", iters);
        printf("  descriptor 150x150:       ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx\n", our_desc, dlib_desc,
               dlib_desc / our_desc);
        printf("  compare two 250x250:      ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx (ours: fast detector;"
               " dlib: HOG)\n", our_cmp, dlib_cmp, dlib_cmp / our_cmp);
        printf("  distance of that pair:    ours %.4f   dlib %.4f\n", dist, dlib_dist);
        printf("  detect 640x480:           fast %8.2f ms   MMOD %8.1f ms\n", our_fast, our_mmod);
        printf("  model load %.0f ms, peak RSS %.1f MB (default models)\n", load_ms, rss_mb);
    }
    unlink(a);
    unlink(b);
    unlink(frame);
    free(t);
    fm_image_destroy(cimg);
    fm_image_destroy(fimg);
    fm_engine_destroy(e);
    fm_ctx_destroy(ctx);
    return 0;
}
