/* Shared pieces of the bench/ programs: clocks, medians, pinning to one core, reading a peer's JSON figure, and the
 * photo-compare step (decode, detect, largest face, 5 points, chip, ResNet) the face benches time.
 * Header-only (static inline), so each bench_*.c stays one self-contained program. */
#ifndef FM_BENCH_COMMON_H
#define FM_BENCH_COMMON_H

#include "facematch.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double bench_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* wall time and this thread's CPU time, in ms */
static inline double bench_wall_ms(void) { return bench_clock_ms(CLOCK_MONOTONIC); }
static inline double bench_cpu_ms(void) { return bench_clock_ms(CLOCK_THREAD_CPUTIME_ID); }

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of v[0..n) (sorts v in place); NAN when n < 1 */
static inline double bench_median(double *v, int n)
{
    if (n < 1)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Re-executes the program under `taskset -c 0` with one OpenBLAS/OpenMP thread, once (FM_BENCH_PINNED marks the
 * second run). Returns only when already pinned or when taskset is missing (then the run is unpinned). */
static inline void bench_pin_to_one_core(int argc, char **argv)
{
    if (getenv("FM_BENCH_PINNED"))
        return;
    setenv("FM_BENCH_PINNED", "1", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    char **nargv = (char **)calloc((size_t)argc + 4, sizeof(char *));
    if (!nargv)
        return;
    nargv[0] = "taskset";
    nargv[1] = "-c";
    nargv[2] = "0";
    for (int i = 0; i < argc; i++)
        nargv[3 + i] = argv[i];
    execvp("taskset", nargv);
    free(nargv);
}

/* path of a program that sits next to argv0 (the peers are built into the same directory) */
static inline void bench_sibling(const char *argv0, const char *name, char *out, size_t cap)
{
    const char *sl = strrchr(argv0, '/');
    if (sl)
        snprintf(out, cap, "%.*s/%s", (int)(sl - argv0), argv0, name);
    else
        snprintf(out, cap, "%s", name);
}

/* runs cmd and returns the number after "key": in its JSON output (NAN when absent) */
static inline double bench_peer_value(const char *cmd, const char *key)
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
    const char *s = strstr(buf, pat);
    return s ? strtod(s + strlen(pat), NULL) : NAN;
}

static inline _Noreturn void bench_die(const char *prog, fm_ctx *ctx, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, ctx ? fm_ctx_errmsg(ctx) : "");
    exit(1);
}

/* src -> (its centre square when square) resized to w x h (area filter), written as PNG at dst */
static inline void bench_make_png(const char *prog, fm_ctx *ctx, const char *src, const char *dst, int w, int h,
                                  int square)
{
    fm_image *img, *crop = NULL, *res;
    if (fm_image_load(ctx, src, FM_PIX_RGB24, &img, NULL) != FM_OK)
        bench_die(prog, ctx, src);
    const fm_image *from = img;
    if (square) {
        int iw = fm_image_width(img), ih = fm_image_height(img), s = iw < ih ? iw : ih;
        if (fm_image_crop(ctx, img, (iw - s) / 2, (ih - s) / 2, s, s, &crop) != FM_OK)
            bench_die(prog, ctx, "crop");
        from = crop;
    }
    if (fm_image_resize(ctx, from, w, h, FM_RESIZE_AREA, &res) != FM_OK)
        bench_die(prog, ctx, "resize");
    size_t len = 0;
    fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, NULL, 0, &len);
    uint8_t *buf = (uint8_t *)malloc(len ? len : 1);
    if (!buf || fm_image_encode(ctx, res, FM_FORMAT_PNG, 0, buf, len, &len) != FM_OK)
        bench_die(prog, ctx, "encode");
    FILE *f = fopen(dst, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write %s\n", prog, dst);
        exit(1);
    }
    free(buf);
    fm_image_destroy(img);
    fm_image_destroy(crop);
    fm_image_destroy(res);
}

/* index of the largest box (area), -1 when n == 0 */
static inline int bench_largest(const fm_face_box *f, size_t n)
{
    int b = -1;
    double ba = -1;
    for (size_t i = 0; i < n; i++) {
        double a = (double)(f[i].right - f[i].left + 1) * (double)(f[i].bottom - f[i].top + 1);
        if (a > ba) {
            ba = a;
            b = (int)i;
        }
    }
    return b;
}

/* One photo compare as a caller does it: for each of a and b, decode, detect with det, take the largest face, 5 points,
 * chip, dlib ResNet descriptor; then the distance. Exits on any failure (a bench has nothing to fall back on). */
static inline double bench_compare_photos(const char *prog, fm_ctx *ctx, fm_engine *e, const char *a, const char *b,
                                          fm_detector det)
{
    float d[2][128];
    const char *p[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        fm_image *img;
        if (fm_image_load(ctx, p[k], FM_PIX_RGB24, &img, NULL) != FM_OK)
            bench_die(prog, ctx, p[k]);
        fm_detect_options o;
        fm_detect_options_init(&o);
        o.detector = det;
        fm_face_box f[16];
        size_t n;
        if (fm_detect(ctx, e, img, &o, f, 16, &n) != FM_OK)
            bench_die(prog, ctx, "detect");
        if (n == 0) {
            fprintf(stderr, "%s: no face in %s\n", prog, p[k]);
            exit(1);
        }
        if (fm_embed_face(ctx, e, FM_EMBED_DLIB, img, &f[bench_largest(f, n < 16 ? n : 16)], d[k], 128) != FM_OK)
            bench_die(prog, ctx, "embed");
        fm_image_destroy(img);
    }
    fm_compare_result r;
    if (fm_compare(ctx, FM_EMBED_DLIB, d[0], d[1], 128, 0, &r) != FM_OK)
        bench_die(prog, ctx, "compare");
    fm_wipe(d, sizeof d);
    return r.distance;
}

/* The command line shared by the face benches against dlib_face_peer:
 *   PROG [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]
 * Defaults: ../shared/data, the library's default models dir, `iters`, dlib_face_peer next to the program.
 * Returns 0, or the exit code to return (2 usage, 1 no models dir). */
typedef struct {
    const char *data, *models, *peer;
    int iters, json;
    char models_buf[4096], peer_buf[4200];
} bench_face_args;

static inline int bench_face_args_parse(const char *prog, int argc, char **argv, int iters, bench_face_args *o)
{
    o->data = "../shared/data";
    o->models = o->peer = NULL;
    o->iters = iters;
    o->json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            o->data = argv[++i];
        else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc)
            o->models = argv[++i];
        else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc)
            o->peer = argv[++i];
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            o->iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            o->json = 1;
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]\n", prog);
            return 2;
        }
    }
    if (o->iters < 1)
        o->iters = 1;
    if (!o->models) {
        if (fm_models_default_dir(o->models_buf, sizeof o->models_buf) != FM_OK)
            return 1;
        o->models = o->models_buf;
    }
    if (!o->peer) {
        bench_sibling(argv[0], "dlib_face_peer", o->peer_buf, sizeof o->peer_buf);
        o->peer = o->peer_buf;
    }
    return 0;
}

/* The face benches' test images, written as PNG under /tmp (bench_photos_remove deletes them): a and b are 250x250
 * centre crops of deepface img1 / img2, frame is img1 resized to 640x480. */
typedef struct {
    char a[4200], b[4200], frame[4200];
} bench_photos;

static inline void bench_photos_make(const char *prog, fm_ctx *ctx, const char *data, bench_photos *ph)
{
    char src[2][4200];
    snprintf(src[0], sizeof src[0], "%s/faces/deepface/tests/unit/dataset/img1.jpg", data);
    snprintf(src[1], sizeof src[1], "%s/faces/deepface/tests/unit/dataset/img2.jpg", data);
    snprintf(ph->a, sizeof ph->a, "/tmp/fm_%s_a_%d.png", prog, (int)getpid());
    snprintf(ph->b, sizeof ph->b, "/tmp/fm_%s_b_%d.png", prog, (int)getpid());
    snprintf(ph->frame, sizeof ph->frame, "/tmp/fm_%s_f_%d.png", prog, (int)getpid());
    bench_make_png(prog, ctx, src[0], ph->a, 250, 250, 1);
    bench_make_png(prog, ctx, src[1], ph->b, 250, 250, 1);
    bench_make_png(prog, ctx, src[0], ph->frame, 640, 480, 0);
}

static inline void bench_photos_remove(const bench_photos *ph)
{
    unlink(ph->a);
    unlink(ph->b);
    unlink(ph->frame);
}

#endif
