/* bench_decode — image decoding speed per format, plus the per-frame camera operations.
 *
 *   bench_decode [--data DIR] [--repeat N] [--max-files N] [--json]
 *
 * Image set: every JPEG/PNG under DIR/faces (DIR: --data, else $FM_DATA_DIR, else ../shared/data), read into memory
 * first (files that are not images by their bytes are skipped), plus JPEG 2000 files generated in memory from the
 * first 30 decodable photos: a card-like portrait (centre crop 3:4, 480x640, JP2 at 46:1, about 20 KB; colour and
 * grey) and the same portrait as a lossless J2K codestream. Each file is decoded --repeat times (default 3); its
 * time is the median of those; a format's figure is the median over its files. Times are wall clock and thread CPU
 * (the CPU figure is steadier on a shared machine). Camera operations run on a generated 640x480 NV21 frame.
 * Progress goes to stderr; the results to stdout (text, or one JSON object with --json). Peak RSS via getrusage. */
#include "bench_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static double wall_ms(void) { return bench_wall_ms(); }
static double cpu_ms(void) { return bench_cpu_ms(); }
/* 0 for an empty set (keeps the JSON numeric) */
static double median(double *v, int n) { return n > 0 ? bench_median(v, n) : 0; }

static int cmp_s(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    uint8_t *data;
    size_t len;
    int set; /* index into SETS */
    int pixels;
} item;

enum { SET_JPEG, SET_PNG, SET_JP2_CARD, SET_JP2_CARD_GREY, SET_J2K_LOSSLESS, SET_COUNT };
static const char *const SETS[SET_COUNT] = {"jpeg", "png", "jp2_card_480x640", "jp2_card_480x640_grey",
                                            "j2k_lossless_480x640"};

static item *items;
static int nitems, capitems;

static void add_item(uint8_t *data, size_t len, int set, int pixels)
{
    if (nitems == capitems) {
        capitems = capitems ? capitems * 2 : 256;
        items = realloc(items, sizeof *items * (size_t)capitems);
        if (!items)
            exit(1);
    }
    items[nitems++] = (item){data, len, set, pixels};
}

static void collect(const char *dir, char ***out, int *n, int *cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            collect(path, out, n, cap);
            continue;
        }
        const char *x = strrchr(e->d_name, '.');
        if (!x || (strcmp(x, ".jpg") && strcmp(x, ".jpeg") && strcmp(x, ".png")))
            continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *out = realloc(*out, sizeof **out * (size_t)*cap);
        }
        (*out)[(*n)++] = strdup(path);
    }
    closedir(d);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static uint8_t *encode(fm_ctx *ctx, const fm_image *im, fm_format f, int q, size_t *len)
{
    size_t need = 0;
    if (fm_image_encode(ctx, im, f, q, NULL, 0, &need) != FM_ERR_BUFFER_TOO_SMALL)
        return NULL;
    uint8_t *b = malloc(need);
    if (b && fm_image_encode(ctx, im, f, q, b, need, len) != FM_OK) {
        free(b);
        return NULL;
    }
    return b;
}

/* A 3:4 centre crop of a photo, resized to 480x640 (the card portrait's shape). */
static fm_image *portrait(fm_ctx *ctx, const fm_image *photo)
{
    int w = fm_image_width(photo), h = fm_image_height(photo), cw = w, ch = h;
    if (cw * 4 > ch * 3)
        cw = ch * 3 / 4;
    else
        ch = cw * 4 / 3;
    fm_image *c = NULL, *r = NULL;
    if (cw < 1 || ch < 1 || fm_image_crop(ctx, photo, (w - cw) / 2, (h - ch) / 2, cw, ch, &c) != FM_OK)
        return NULL;
    fm_image_resize(ctx, c, 480, 640, FM_RESIZE_AREA, &r);
    fm_image_destroy(c);
    return r;
}

/* Median wall and CPU ms of `reps` runs of an operation on a camera frame. */
#define TIME_OP(reps, wall_out, cpu_out, ...)                                                                     \
    do {                                                                                                           \
        double w_[64], c_[64];                                                                                     \
        int r_ = (reps) > 64 ? 64 : (reps);                                                                        \
        for (int i_ = 0; i_ < r_; i_++) {                                                                          \
            double w0_ = wall_ms(), c0_ = cpu_ms();                                                                \
            __VA_ARGS__;                                                                                           \
            w_[i_] = wall_ms() - w0_;                                                                              \
            c_[i_] = cpu_ms() - c0_;                                                                               \
        }                                                                                                          \
        wall_out = median(w_, r_);                                                                                 \
        cpu_out = median(c_, r_);                                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    const char *data = getenv("FM_DATA_DIR");
    if (!data || !*data)
        data = "../shared/data";
    int repeat = 3, json = 0, max_files = 100000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-files") == 0 && i + 1 < argc)
            max_files = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: bench_decode [--data DIR] [--repeat N] [--max-files N] [--json]\n");
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return 1;

    /* ---- the image set ---- */
    char faces[4200];
    snprintf(faces, sizeof faces, "%s/faces", data);
    char **files = NULL;
    int nfiles = 0, capf = 0;
    collect(faces, &files, &nfiles, &capf);
    if (nfiles == 0)
        fprintf(stderr, "bench_decode: no images under %s (set --data or FM_DATA_DIR): only generated images\n", faces);
    if (files)
        qsort(files, (size_t)nfiles, sizeof *files, cmp_s);
    if (nfiles > max_files)
        nfiles = max_files;
    int skipped = 0, card_made = 0;
    size_t card_bytes[64];
    for (int k = 0; k < nfiles; k++) {
        if ((k + 1) % 20 == 0 || k + 1 == nfiles)
            fprintf(stderr, "\rbench_decode: reading %d/%d", k + 1, nfiles);
        size_t len = 0;
        uint8_t *b = read_file(files[k], &len);
        fm_image_info info;
        fm_format f = b ? fm_image_detect_format(b, len) : FM_FORMAT_UNKNOWN;
        if (!b || (f != FM_FORMAT_JPEG && f != FM_FORMAT_PNG) || fm_image_probe(ctx, b, len, &info) != FM_OK) {
            skipped++;
            free(b);
            continue;
        }
        add_item(b, len, f == FM_FORMAT_JPEG ? SET_JPEG : SET_PNG, info.width * info.height);
        if (card_made < 30 && f == FM_FORMAT_JPEG && info.width >= 240) {
            fm_image *photo = NULL, *p = NULL, *g = NULL;
            if (fm_image_decode(ctx, b, len, FM_PIX_RGB24, &photo, NULL) == FM_OK && (p = portrait(ctx, photo)) &&
                fm_image_convert(ctx, p, FM_PIX_GRAY8, &g) == FM_OK) {
                size_t l1 = 0, l2 = 0, l3 = 0;
                uint8_t *e1 = encode(ctx, p, FM_FORMAT_JP2, 46, &l1);   /* 921600 / 46 = 20 KB */
                uint8_t *e2 = encode(ctx, g, FM_FORMAT_JP2, 15, &l2);   /* 307200 / 15 = 20 KB */
                uint8_t *e3 = encode(ctx, p, FM_FORMAT_J2K, 0, &l3);
                if (e1 && e2 && e3) {
                    add_item(e1, l1, SET_JP2_CARD, 480 * 640);
                    add_item(e2, l2, SET_JP2_CARD_GREY, 480 * 640);
                    add_item(e3, l3, SET_J2K_LOSSLESS, 480 * 640);
                    card_bytes[card_made++] = l1;
                } else {
                    free(e1), free(e2), free(e3);
                }
            }
            fm_image_destroy(photo), fm_image_destroy(p), fm_image_destroy(g);
        }
    }
    if (nfiles)
        fprintf(stderr, "\n");
    for (int k = 0; k < capf && k < nfiles; k++)
        free(files[k]);
    free(files);

    /* ---- decoding ---- */
    double *per_wall[SET_COUNT], *per_cpu[SET_COUNT], *per_mpix[SET_COUNT];
    int count[SET_COUNT] = {0}, failures = 0;
    for (int s = 0; s < SET_COUNT; s++) {
        per_wall[s] = malloc(sizeof(double) * (size_t)(nitems + 1));
        per_cpu[s] = malloc(sizeof(double) * (size_t)(nitems + 1));
        per_mpix[s] = malloc(sizeof(double) * (size_t)(nitems + 1));
    }
    double *rw = malloc(sizeof(double) * (size_t)repeat), *rc = malloc(sizeof(double) * (size_t)repeat);
    for (int k = 0; k < nitems; k++) {
        if ((k + 1) % 20 == 0 || k + 1 == nitems)
            fprintf(stderr, "\rbench_decode: decoding %d/%d", k + 1, nitems);
        int ok = 1;
        for (int r = 0; r < repeat; r++) {
            fm_image *im = NULL;
            double w0 = wall_ms(), c0 = cpu_ms();
            fm_status st = fm_image_decode(ctx, items[k].data, items[k].len, FM_PIX_NONE, &im, NULL);
            rw[r] = wall_ms() - w0;
            rc[r] = cpu_ms() - c0;
            fm_image_destroy(im);
            if (st != FM_OK) {
                ok = 0;
                break;
            }
        }
        if (!ok) {
            failures++;
            continue;
        }
        int s = items[k].set;
        per_wall[s][count[s]] = median(rw, repeat);
        per_cpu[s][count[s]] = median(rc, repeat);
        per_mpix[s][count[s]] = items[k].pixels / 1e6;
        count[s]++;
    }
    fprintf(stderr, "\n");

    /* ---- camera operations on a 640x480 NV21 frame ---- */
    fprintf(stderr, "bench_decode: camera operations\n");
    const int W = 640, H = 480;
    uint8_t *y = malloc((size_t)W * H), *uv = malloc((size_t)W * H / 2);
    for (int i = 0; i < W * H; i++)
        y[i] = (uint8_t)((i % W) * 255 / W ^ (i / W));
    for (int i = 0; i < W * H / 2; i++)
        uv[i] = (uint8_t)(96 + (i * 7) % 64);
    const uint8_t *planes[2] = {y, uv};
    int strides[2] = {W, W};
    fm_image *nv = NULL, *nv90 = NULL, *rgb = NULL;
    fm_image_wrap(ctx, FM_PIX_NV21, W, H, planes, strides, 0, &nv);
    fm_image_wrap(ctx, FM_PIX_NV21, W, H, planes, strides, 90, &nv90);
    fm_image_convert(ctx, nv, FM_PIX_RGB24, &rgb);
    uint8_t *out = malloc((size_t)W * H * 4);
    const int reps = 31;
    struct {
        const char *name;
        double wall, cpu;
    } ops[8];
    int nops = 0;
#define OP(NAME, ...)                                                                                              \
    do {                                                                                                           \
        ops[nops].name = NAME;                                                                                     \
        TIME_OP(reps, ops[nops].wall, ops[nops].cpu, __VA_ARGS__);                                                 \
        nops++;                                                                                                    \
    } while (0)
    OP("nv21_to_rgb24_640x480", fm_image_copy_to(ctx, nv, FM_PIX_RGB24, out, (size_t)W * H * 4, 0));
    OP("nv21_rot90_to_rgb24_640x480", fm_image_copy_to(ctx, nv90, FM_PIX_RGB24, out, (size_t)W * H * 4, 0));
    OP("nv21_to_gray8_640x480", fm_image_copy_to(ctx, nv, FM_PIX_GRAY8, out, (size_t)W * H * 4, 0));
    OP("rgb24_resize_bilinear_640x480_to_320x240", {
        fm_image *t = NULL;
        fm_image_resize(ctx, rgb, 320, 240, FM_RESIZE_BILINEAR, &t);
        fm_image_destroy(t);
    });
    OP("rgb24_resize_area_640x480_to_320x240", {
        fm_image *t = NULL;
        fm_image_resize(ctx, rgb, 320, 240, FM_RESIZE_AREA, &t);
        fm_image_destroy(t);
    });
    OP("rgb24_resize_area_640x480_to_128x128", {
        fm_image *t = NULL;
        fm_image_resize(ctx, rgb, 128, 128, FM_RESIZE_AREA, &t);
        fm_image_destroy(t);
    });
    OP("rgb24_warp_affine_to_150x150", {
        const double m[6] = {0.9, -0.2, 250, 0.2, 0.9, 150};
        fm_image *t = NULL;
        fm_image_warp_affine(ctx, rgb, m, 150, 150, &t);
        fm_image_destroy(t);
    });
    free(y), free(uv), free(out);
    fm_image_destroy(nv), fm_image_destroy(nv90), fm_image_destroy(rgb);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    double cardmed = 0;
    {
        double cb[64];
        for (int i = 0; i < card_made; i++)
            cb[i] = (double)card_bytes[i];
        cardmed = median(cb, card_made);
    }

    if (json) {
        printf("{\"bench\":\"decode\",\"data_dir\":\"%s\",\"repeat\":%d,\"files_skipped\":%d,\"decode_failures\":%d,"
               "\"card_jp2_median_bytes\":%.0f,\"formats\":{",
               data, repeat, skipped, failures, cardmed);
        int first = 1;
        for (int s = 0; s < SET_COUNT; s++) {
            if (!count[s])
                continue;
            double mp = median(per_mpix[s], count[s]), mw = median(per_wall[s], count[s]),
                   mc = median(per_cpu[s], count[s]);
            printf("%s\"%s\":{\"images\":%d,\"median_mpix\":%.3f,\"median_ms\":%.3f,\"cpu_median_ms\":%.3f,"
                   "\"images_per_s\":%.1f}",
                   first ? "" : ",", SETS[s], count[s], mp, mw, mc, mw > 0 ? 1000.0 / mw : 0.0);
            first = 0;
        }
        printf("},\"camera_ops\":{");
        for (int i = 0; i < nops; i++)
            printf("%s\"%s\":{\"median_ms\":%.3f,\"cpu_median_ms\":%.3f}", i ? "," : "", ops[i].name, ops[i].wall,
                   ops[i].cpu);
        printf("},\"peak_rss_mb\":%.1f}\n", rss_mb);
    } else {
        printf("decode bench (%d runs per file, medians; data %s)\n", repeat, data);
        printf("  %-24s %6s %10s %10s %10s %10s\n", "format", "images", "med Mpix", "med ms", "cpu ms", "images/s");
        for (int s = 0; s < SET_COUNT; s++) {
            if (!count[s])
                continue;
            double mp = median(per_mpix[s], count[s]), mw = median(per_wall[s], count[s]),
                   mc = median(per_cpu[s], count[s]);
            printf("  %-24s %6d %10.3f %10.3f %10.3f %10.1f\n", SETS[s], count[s], mp, mw, mc,
                   mw > 0 ? 1000.0 / mw : 0.0);
        }
        if (card_made)
            printf("  card-like JP2: median %.0f bytes\n", cardmed);
        printf("camera operations (%d runs, medians)\n", reps);
        for (int i = 0; i < nops; i++)
            printf("  %-42s %8.3f ms  (cpu %.3f ms)\n", ops[i].name, ops[i].wall, ops[i].cpu);
        printf("peak RSS %.1f MB; %d files skipped (not JPEG/PNG by their bytes), %d decode failures\n", rss_mb,
               skipped, failures);
    }
    for (int s = 0; s < SET_COUNT; s++)
        free(per_wall[s]), free(per_cpu[s]), free(per_mpix[s]);
    for (int k = 0; k < nitems; k++)
        free(items[k].data);
    free(items), free(rw), free(rc);
    fm_ctx_destroy(ctx);
    return failures ? 1 : 0;
}
