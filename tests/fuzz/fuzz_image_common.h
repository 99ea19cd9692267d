/* Shared body of the image decoder fuzz targets (fuzz_image_jpeg/jp2/png/pnm.c).
 *
 * The image module comes from the FM_FUZZ-instrumented library. The codec libraries themselves (libjpeg-turbo, OpenJPEG,
 * libpng) are Debian's and uninstrumented: what is fuzzed is our glue, our structure walkers and our PNM parser,
 * plus the libraries' behaviour as seen through them (ASan still sees out-of-bounds accesses to our buffers).
 *
 * Seeds: run a target with FM_FUZZ_SEEDS_OUT=DIR and it writes its seed files (images generated here and encoded
 * with the library's encoders) into DIR and exits; tests/fuzz/make_seeds_image.sh does that for every image target.
 * Each input is decoded (probe, then decode); a decoded image is also converted, resized and warped, so the
 * operations see every shape a hostile file can produce. Crashes, leaks, UB and hangs are findings; rejections are not.
 */
#ifndef FUZZ_IMAGE_COMMON_H
#define FUZZ_IMAGE_COMMON_H

#include "facematch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* each target uses a part of these helpers */
#define FUZZ_HELPER __attribute__((unused))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

FUZZ_HELPER static void fuzz_image_input(const uint8_t *data, size_t size)
{
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return;
    /* keep each run small and fast: at most 4 Mpixel, 4096 per side */
    fm_ctx_set(ctx, FM_PARAM_MAX_PIXELS, 1 << 22);
    fm_ctx_set(ctx, FM_PARAM_MAX_DIMENSION, 4096);
    fm_image_info info;
    fm_status pst = fm_image_probe(ctx, data, size, &info);
    fm_image *im = NULL;
    fm_status st = fm_image_decode(ctx, data, size, FM_PIX_NONE, &im, &info);
    if (st == FM_OK) {
        if (!im || pst != FM_OK || fm_image_width(im) != info.width || fm_image_height(im) != info.height)
            __builtin_trap(); /* a decoded image must agree with its probe */
        fm_image *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        fm_image_convert(ctx, im, FM_PIX_BGRA, &a);
        fm_image_resize(ctx, im, 7, 5, FM_RESIZE_BILINEAR, &b);
        fm_image_resize(ctx, im, 3, 9, FM_RESIZE_AREA, &c);
        const double m[6] = {0.7, 0.2, 1.5, -0.2, 0.7, 2.5};
        fm_image_warp_affine(ctx, im, m, 9, 9, &d);
        fm_image_destroy(a), fm_image_destroy(b), fm_image_destroy(c), fm_image_destroy(d);
        fm_image_destroy(im);
    } else if (im) {
        __builtin_trap(); /* a failure must not hand out an image */
    }
    fm_ctx_destroy(ctx);
}

/* ---- seeds ---------------------------------------------------------------------------------------------------- */

static int seed_count;

FUZZ_HELPER static void seed_write(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
    seed_count++;
}

/* A generated test image: gradients, edges and noise, grey or RGB. */
FUZZ_HELPER static fm_image *seed_image(fm_ctx *ctx, int w, int h, int gray, unsigned seed)
{
    fm_image *im = NULL;
    if (fm_image_create(ctx, gray ? FM_PIX_GRAY8 : FM_PIX_RGB24, w, h, &im) != FM_OK)
        exit(1);
    int stride;
    uint8_t *p = fm_image_pixels(im, 0, &stride);
    unsigned s = seed * 2654435761u + 1;
    int ch = gray ? 1 : 3;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                s = s * 1103515245u + 12345u;
                int v = (x * 255) / w * (c != 1) + (y * 255) / h * (c != 0) / 2 + (int)((s >> 16) & 7) +
                        (((x / 4 + y / 3) & 1) ? 40 : 0);
                p[(size_t)y * stride + (size_t)x * ch + c] = (uint8_t)(v & 255);
            }
    return im;
}

FUZZ_HELPER static void seed_encode(fm_ctx *ctx, const char *dir, const fm_image *im, fm_format f, int q, const char *name)
{
    size_t need = 0;
    if (fm_image_encode(ctx, im, f, q, NULL, 0, &need) != FM_ERR_BUFFER_TOO_SMALL)
        exit(1);
    uint8_t *buf = malloc(need);
    if (!buf || fm_image_encode(ctx, im, f, q, buf, need, &need) != FM_OK)
        exit(1);
    seed_write(dir, name, buf, need);
    free(buf);
}

/* A TIFF block as a phone's Exif APP1 segment carries it (after "Exif\0\0"): header in either byte order, IFD0 with
 * Make (ASCII at an offset) and Orientation v (one SHORT), no IFD1. Returns its length (buf holds 64 bytes). */
FUZZ_HELPER static size_t seed_exif_tiff(uint8_t *b, int be, unsigned v)
{
    memset(b, 0, 64);
#define P16(at, x) (be ? (b[(at)] = (uint8_t)((x) >> 8), b[(at) + 1] = (uint8_t)(x)) : (b[(at)] = (uint8_t)(x), b[(at) + 1] = (uint8_t)((x) >> 8)))
#define P32(at, x) (be ? (P16((at), (x) >> 16), P16((at) + 2, (x)&0xFFFF)) : (P16((at), (x)&0xFFFF), P16((at) + 2, (x) >> 16)))
    b[0] = b[1] = be ? 'M' : 'I';
    P16(2, 42u);
    P32(4, 8u);
    P16(8, 2u);
    P16(10, 0x010Fu), P16(12, 2u), P32(14, 10u), P32(18, 38u); /* Make, 10 bytes at 38 */
    P16(22, 0x0112u), P16(24, 3u), P32(26, 1u), P16(30, v);    /* Orientation */
    P32(34, 0u);
    memcpy(b + 38, "facematch", 10);
#undef P16
#undef P32
    return 48;
}

/* jpg with an APP1 Exif segment holding tiff (tn bytes) after SOI, into out (cap bytes); returns the length or 0. */
FUZZ_HELPER static size_t seed_with_exif(const uint8_t *jpg, size_t jn, const uint8_t *tiff, size_t tn, uint8_t *out, size_t cap)
{
    size_t seg = 2 + 6 + tn;
    if (jn < 2 || seg > 0xFFFF || jn + 2 + seg > cap)
        return 0;
    memcpy(out, jpg, 2);
    out[2] = 0xFF, out[3] = 0xE1, out[4] = (uint8_t)(seg >> 8), out[5] = (uint8_t)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tiff, tn);
    memcpy(out + 12 + tn, jpg + 2, jn - 2);
    return jn + 2 + seg;
}

/* Writes the seeds of one format (FM_FORMAT_JP2 covers J2K too). */
FUZZ_HELPER static void seeds_for(const char *dir, fm_format fmt)
{
    fm_ctx *ctx = fm_ctx_create();
    static const int sizes[][2] = {{1, 1}, {7, 5}, {16, 16}, {33, 17}, {64, 48}};
    char name[64];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int gray = 0; gray < 2; gray++) {
            fm_image *im = seed_image(ctx, sizes[k][0], sizes[k][1], gray, (unsigned)k);
            const char *g = gray ? "grey" : "rgb";
            int w = sizes[k][0], h = sizes[k][1];
            switch (fmt) {
            case FM_FORMAT_JPEG:
                snprintf(name, sizeof name, "%dx%d-%s-q50.jpg", w, h, g);
                seed_encode(ctx, dir, im, FM_FORMAT_JPEG, 50, name);
                snprintf(name, sizeof name, "%dx%d-%s-q95.jpg", w, h, g);
                seed_encode(ctx, dir, im, FM_FORMAT_JPEG, 95, name);
                if (k == 3) { /* phone-style files: Exif orientation 6 (MM) and 3 (II) */
                    size_t need = 0;
                    fm_image_encode(ctx, im, FM_FORMAT_JPEG, 80, NULL, 0, &need);
                    uint8_t *j = malloc(need), *o = malloc(need + 128), t[64];
                    if (j && o && fm_image_encode(ctx, im, FM_FORMAT_JPEG, 80, j, need, &need) == FM_OK)
                        for (int be = 0; be < 2; be++) {
                            size_t on = seed_with_exif(j, need, t, seed_exif_tiff(t, be, be ? 6 : 3), o, need + 128);
                            snprintf(name, sizeof name, "%dx%d-%s-exif%d.jpg", w, h, g, be ? 6 : 3);
                            seed_write(dir, name, o, on);
                        }
                    free(j), free(o);
                }
                break;
            case FM_FORMAT_JP2:
            case FM_FORMAT_J2K:
                snprintf(name, sizeof name, "%dx%d-%s-lossless.jp2", w, h, g);
                seed_encode(ctx, dir, im, FM_FORMAT_JP2, 0, name);
                snprintf(name, sizeof name, "%dx%d-%s-20.jp2", w, h, g);
                seed_encode(ctx, dir, im, FM_FORMAT_JP2, 20, name);
                snprintf(name, sizeof name, "%dx%d-%s-10.j2k", w, h, g);
                seed_encode(ctx, dir, im, FM_FORMAT_J2K, 10, name);
                break;
            case FM_FORMAT_PNG: {
                snprintf(name, sizeof name, "%dx%d-%s.png", w, h, g);
                seed_encode(ctx, dir, im, FM_FORMAT_PNG, 0, name);
                fm_image *rgba = NULL;
                if (!gray && fm_image_convert(ctx, im, FM_PIX_RGBA, &rgba) == FM_OK) {
                    snprintf(name, sizeof name, "%dx%d-rgba.png", w, h);
                    seed_encode(ctx, dir, rgba, FM_FORMAT_PNG, 0, name);
                }
                fm_image_destroy(rgba);
                break;
            }
            default: {
                snprintf(name, sizeof name, "%dx%d-%s.pnm", w, h, g);
                seed_encode(ctx, dir, im, FM_FORMAT_PNM, 0, name);
                /* the ASCII variant, with comments, and a 16-bit binary one */
                int stride;
                const uint8_t *p = fm_image_plane(im, 0, &stride);
                size_t cap = (size_t)w * h * 3 * 12 + 64, n = 0;
                char *a = malloc(cap);
                uint8_t *b = malloc((size_t)w * h * 6 + 64);
                n = (size_t)snprintf(a, cap, "P%c\n# seed\n%d %d\n1000\n", gray ? '2' : '3', w, h);
                size_t bn = (size_t)sprintf((char *)b, "P%c %d %d 65535\n", gray ? '5' : '6', w, h);
                for (int y = 0; y < h; y++)
                    for (int i = 0; i < w * (gray ? 1 : 3); i++) {
                        unsigned v = p[(size_t)y * stride + i];
                        n += (size_t)snprintf(a + n, cap - n, "%u%c", v * 1000 / 255, i % 9 == 8 ? '\n' : ' ');
                        b[bn++] = (uint8_t)v, b[bn++] = (uint8_t)(v * 7);
                    }
                snprintf(name, sizeof name, "%dx%d-%s-ascii.pnm", w, h, g);
                seed_write(dir, name, (const uint8_t *)a, n);
                snprintf(name, sizeof name, "%dx%d-%s-16bit.pnm", w, h, g);
                seed_write(dir, name, b, bn);
                free(a), free(b);
                break;
            }
            }
            fm_image_destroy(im);
        }
    fm_ctx_destroy(ctx);
}

FUZZ_HELPER static void seeds_maybe(int *argc, char ***argv, fm_format fmt)
{
    (void)argc, (void)argv;
    const char *out = getenv("FM_FUZZ_SEEDS_OUT");
    if (!out || !*out)
        return;
    seeds_for(out, fmt);
    fprintf(stderr, "%d seeds written to %s\n", seed_count, out);
    exit(0);
}

#endif
