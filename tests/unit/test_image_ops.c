/* Image operations against naive reference code written from the documented conventions:
 * wrap + convert for every pixel format and rotation, YUV 4:2:0 (BT.601 full range), bilinear (OpenCV
 * INTER_LINEAR) and area resize, crop, and the dlib-style affine warp. */
#include "test.h"
#include "test_image_util.h"

#include <stdint.h>

static fm_ctx *ctx;

static int clampi(double v) { return v < 0 ? 0 : v > 255 ? 255 : (int)floor(v + 0.5); }

/* ---- packed formats --------------------------------------------------------------------------------------- */

/* Reference: the value of channel (r,g,b,a) of a pixel in layout fmt. */
static void ref_pixel(fm_pixfmt fmt, const uint8_t rgb[3], uint8_t *out)
{
    int y = clampi(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]);
    switch (fmt) {
    case FM_PIX_GRAY8: out[0] = (uint8_t)y; break;
    case FM_PIX_RGB24: out[0] = rgb[0], out[1] = rgb[1], out[2] = rgb[2]; break;
    case FM_PIX_BGR24: out[0] = rgb[2], out[1] = rgb[1], out[2] = rgb[0]; break;
    case FM_PIX_RGBA: out[0] = rgb[0], out[1] = rgb[1], out[2] = rgb[2], out[3] = 255; break;
    case FM_PIX_BGRA: out[0] = rgb[2], out[1] = rgb[1], out[2] = rgb[0], out[3] = 255; break;
    default: break;
    }
}

/* Upright coordinates (x, y) -> stored coordinates for a W x H stored image rotated clockwise by rot. */
static void unrotate(int rot, int W, int H, int x, int y, int *sx, int *sy)
{
    switch (rot) {
    case 90: *sx = y, *sy = H - 1 - x; break;
    case 180: *sx = W - 1 - x, *sy = H - 1 - y; break;
    case 270: *sx = W - 1 - y, *sy = x; break;
    default: *sx = x, *sy = y; break;
    }
}

static void test_rotation_meaning(void)
{
    /* 3x2 grey buffer, values = index; rotating clockwise by 90 puts the stored bottom-left at the upright
     * top-left and the stored top-left at the upright top-right. */
    const uint8_t px[6] = {1, 2, 3, 4, 5, 6};
    const uint8_t *planes[1] = {px};
    int strides[1] = {3};
    fm_image *im;
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 3, 2, planes, strides, 90, &im), FM_OK);
    REQUIRE(im);
    CHECK(fm_image_width(im) == 2 && fm_image_height(im) == 3);
    uint8_t out[6];
    CHECK_STATUS(fm_image_copy_to(ctx, im, FM_PIX_GRAY8, out, sizeof out, 0), FM_OK);
    /* stored:  1 2 3      upright (90 cw):  4 1
     *          4 5 6                        5 2
     *                                       6 3 */
    const uint8_t want90[6] = {4, 1, 5, 2, 6, 3};
    CHECK(memcmp(out, want90, 6) == 0);
    fm_image_destroy(im);
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 3, 2, planes, strides, 270, &im), FM_OK);
    CHECK_STATUS(fm_image_copy_to(ctx, im, FM_PIX_GRAY8, out, sizeof out, 0), FM_OK);
    const uint8_t want270[6] = {3, 6, 2, 5, 1, 4};
    CHECK(memcmp(out, want270, 6) == 0);
    fm_image_destroy(im);
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 3, 2, planes, strides, 180, &im), FM_OK);
    CHECK_STATUS(fm_image_copy_to(ctx, im, FM_PIX_GRAY8, out, sizeof out, 0), FM_OK);
    const uint8_t want180[6] = {6, 5, 4, 3, 2, 1};
    CHECK(memcmp(out, want180, 6) == 0);
    fm_image_destroy(im);
}

static void test_packed_all_pairs(void)
{
    const fm_pixfmt fmts[] = {FM_PIX_GRAY8, FM_PIX_RGB24, FM_PIX_BGR24, FM_PIX_RGBA, FM_PIX_BGRA};
    const int rots[] = {0, 90, 180, 270};
    const int W = 37, H = 23; /* odd sizes, not multiples of the rotation tile */
    uint8_t *rgb = make_rgb(W, H, 1);
    for (size_t si = 0; si < 5; si++) {
        fm_pixfmt sf = fmts[si];
        int sb = fm_pixfmt_bpp(sf), stride = W * sb + 5; /* padded rows */
        uint8_t *buf = malloc((size_t)stride * H);
        memset(buf, 0xEE, (size_t)stride * H);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                ref_pixel(sf, rgb + ((size_t)y * W + x) * 3, buf + (size_t)y * stride + (size_t)x * sb);
        for (size_t ri = 0; ri < 4; ri++) {
            const uint8_t *planes[1] = {buf};
            int strides[1] = {stride};
            fm_image *im = NULL;
            CHECK_STATUS(fm_image_wrap(ctx, sf, W, H, planes, strides, rots[ri], &im), FM_OK);
            if (!im)
                continue;
            for (size_t di = 0; di < 5; di++) {
                fm_pixfmt df = fmts[di];
                fm_image *out = NULL;
                CHECK_STATUS(fm_image_convert(ctx, im, df, &out), FM_OK);
                if (!out)
                    continue;
                int uw = fm_image_width(out), uh = fm_image_height(out), ds;
                const uint8_t *d = fm_image_plane(out, 0, &ds);
                int db = fm_pixfmt_bpp(df), bad = 0;
                for (int y = 0; y < uh && !bad; y++)
                    for (int x = 0; x < uw && !bad; x++) {
                        int sx, sy;
                        unrotate(rots[ri], W, H, x, y, &sx, &sy);
                        /* reference: the source pixel converted by the formulas */
                        const uint8_t *sp = buf + (size_t)sy * stride + (size_t)sx * sb;
                        uint8_t src_rgb[3];
                        if (sf == FM_PIX_GRAY8)
                            src_rgb[0] = src_rgb[1] = src_rgb[2] = sp[0];
                        else if (sf == FM_PIX_BGR24 || sf == FM_PIX_BGRA)
                            src_rgb[0] = sp[2], src_rgb[1] = sp[1], src_rgb[2] = sp[0];
                        else
                            src_rgb[0] = sp[0], src_rgb[1] = sp[1], src_rgb[2] = sp[2];
                        uint8_t want[4];
                        ref_pixel(df, src_rgb, want);
                        const uint8_t *got = d + (size_t)y * ds + (size_t)x * db;
                        for (int c = 0; c < db; c++) {
                            int tol = (df == FM_PIX_GRAY8 && sf != FM_PIX_GRAY8) ? 1 : 0;
                            if (abs(got[c] - want[c]) > tol)
                                bad = 1;
                        }
                    }
                CHECK_MSG(!bad, "%s rot %d -> %s", fm_pixfmt_name(sf), rots[ri], fm_pixfmt_name(df));
                /* copy_to with a padded stride gives the same rows */
                int ostride = uw * db + 3;
                size_t need = (size_t)ostride * (uh - 1) + (size_t)uw * db;
                uint8_t *cb = malloc(need);
                CHECK_STATUS(fm_image_copy_to(ctx, im, df, cb, need - 1, ostride), FM_ERR_BUFFER_TOO_SMALL);
                CHECK_STATUS(fm_image_copy_to(ctx, im, df, cb, need, ostride), FM_OK);
                int same = 1;
                for (int y = 0; y < uh; y++)
                    same &= memcmp(cb + (size_t)y * ostride, d + (size_t)y * ds, (size_t)uw * db) == 0;
                CHECK(same);
                free(cb);
                fm_image_destroy(out);
            }
            fm_image_destroy(im);
        }
        free(buf);
    }
    free(rgb);
}

/* ---- YUV 4:2:0 --------------------------------------------------------------------------------------------- */

/* Independent YUV -> RGB: BT.601 full range (JFIF) in double precision. */
static void ref_yuv2rgb(int Y, int U, int V, uint8_t out[3])
{
    out[0] = (uint8_t)clampi(Y + 1.402 * (V - 128));
    out[1] = (uint8_t)clampi(Y - 0.344136 * (U - 128) - 0.714136 * (V - 128));
    out[2] = (uint8_t)clampi(Y + 1.772 * (U - 128));
}

static void test_yuv(void)
{
    const fm_pixfmt fmts[] = {FM_PIX_NV21, FM_PIX_NV12, FM_PIX_I420};
    const int sizes[][2] = {{64, 48}, {33, 17}};
    for (size_t zi = 0; zi < 2; zi++) {
        const int W = sizes[zi][0], H = sizes[zi][1], CW = (W + 1) / 2, CH = (H + 1) / 2;
        uint8_t *rgb = make_rgb(W, H, 7);
        /* RGB -> YUV (JFIF forward matrix), chroma averaged over each 2x2 block */
        uint8_t *Yp = malloc((size_t)W * H), *Up = malloc((size_t)CW * CH), *Vp = malloc((size_t)CW * CH);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t *p = rgb + ((size_t)y * W + x) * 3;
                Yp[y * W + x] = (uint8_t)clampi(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
            }
        for (int cy = 0; cy < CH; cy++)
            for (int cx = 0; cx < CW; cx++) {
                double u = 0, v = 0;
                int n = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int x = 2 * cx + dx, y = 2 * cy + dy;
                        if (x >= W || y >= H)
                            continue;
                        const uint8_t *p = rgb + ((size_t)y * W + x) * 3;
                        u += -0.168736 * p[0] - 0.331264 * p[1] + 0.5 * p[2] + 128;
                        v += 0.5 * p[0] - 0.418688 * p[1] - 0.081312 * p[2] + 128;
                        n++;
                    }
                Up[cy * CW + cx] = (uint8_t)clampi(u / n);
                Vp[cy * CW + cx] = (uint8_t)clampi(v / n);
            }
        for (size_t fi = 0; fi < 3; fi++) {
            fm_pixfmt f = fmts[fi];
            int ys = W + 3, cs = f == FM_PIX_I420 ? CW + 1 : 2 * CW + 2; /* padded strides */
            uint8_t *yb = malloc((size_t)ys * H), *c1 = malloc((size_t)cs * CH), *c2 = malloc((size_t)cs * CH);
            for (int y = 0; y < H; y++)
                memcpy(yb + (size_t)y * ys, Yp + (size_t)y * W, (size_t)W);
            for (int cy = 0; cy < CH; cy++)
                for (int cx = 0; cx < CW; cx++) {
                    uint8_t u = Up[cy * CW + cx], v = Vp[cy * CW + cx];
                    if (f == FM_PIX_I420) {
                        c1[cy * cs + cx] = u;
                        c2[cy * cs + cx] = v;
                    } else if (f == FM_PIX_NV12) {
                        c1[cy * cs + 2 * cx] = u;
                        c1[cy * cs + 2 * cx + 1] = v;
                    } else {
                        c1[cy * cs + 2 * cx] = v;
                        c1[cy * cs + 2 * cx + 1] = u;
                    }
                }
            const uint8_t *planes[3] = {yb, c1, c2};
            int strides[3] = {ys, cs, cs};
            for (int rot = 0; rot < 360; rot += 90) {
                fm_image *im = NULL, *out = NULL, *gray = NULL;
                CHECK_STATUS(fm_image_wrap(ctx, f, W, H, planes, strides, rot, &im), FM_OK);
                CHECK_STATUS(fm_image_convert(ctx, im, FM_PIX_RGB24, &out), FM_OK);
                CHECK_STATUS(fm_image_convert(ctx, im, FM_PIX_GRAY8, &gray), FM_OK);
                if (!out || !gray) {
                    fm_image_destroy(im), fm_image_destroy(out), fm_image_destroy(gray);
                    continue;
                }
                int uw = fm_image_width(out), uh = fm_image_height(out), os, gs;
                const uint8_t *o = fm_image_plane(out, 0, &os), *g = fm_image_plane(gray, 0, &gs);
                int maxerr = 0, maxerr_orig = 0, gray_bad = 0;
                for (int y = 0; y < uh; y++)
                    for (int x = 0; x < uw; x++) {
                        int sx, sy;
                        unrotate(rot, W, H, x, y, &sx, &sy);
                        uint8_t want[3];
                        ref_yuv2rgb(Yp[sy * W + sx], Up[(sy / 2) * CW + sx / 2], Vp[(sy / 2) * CW + sx / 2], want);
                        const uint8_t *got = o + (size_t)y * os + (size_t)x * 3;
                        const uint8_t *orig = rgb + ((size_t)sy * W + sx) * 3;
                        for (int c = 0; c < 3; c++) {
                            int e = abs(got[c] - want[c]), e2 = abs(got[c] - orig[c]);
                            maxerr = e > maxerr ? e : maxerr;
                            maxerr_orig = e2 > maxerr_orig ? e2 : maxerr_orig;
                        }
                        gray_bad |= g[(size_t)y * gs + x] != Yp[sy * W + sx];
                    }
                CHECK_MSG(maxerr <= 1, "%s %dx%d rot %d: max error %d vs the BT.601 formula", fm_pixfmt_name(f), W, H,
                          rot, maxerr);
                /* the round trip through 4:2:0 loses chroma detail; the image must still be recognisably the same */
                CHECK_MSG(maxerr_orig < 120, "%s rot %d: max error %d vs the original RGB", fm_pixfmt_name(f), rot,
                          maxerr_orig);
                CHECK_MSG(!gray_bad, "%s rot %d: grey is not the Y plane", fm_pixfmt_name(f), rot);
                fm_image_destroy(im), fm_image_destroy(out), fm_image_destroy(gray);
            }
            free(yb), free(c1), free(c2);
        }
        free(rgb), free(Yp), free(Up), free(Vp);
    }
    /* a flat grey frame (U = V = 128) converts to exactly that grey */
    uint8_t y[16], c[8];
    memset(y, 77, sizeof y);
    memset(c, 128, sizeof c);
    const uint8_t *planes[2] = {y, c};
    int strides[2] = {4, 4};
    fm_image *im, *out;
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_NV21, 4, 4, planes, strides, 0, &im), FM_OK);
    CHECK_STATUS(fm_image_convert(ctx, im, FM_PIX_BGR24, &out), FM_OK);
    const uint8_t *p = fm_image_plane(out, 0, NULL);
    int flat = 1;
    for (int i = 0; i < 48; i++)
        flat &= p[i] == 77;
    CHECK(flat);
    fm_image_destroy(im), fm_image_destroy(out);
}

static void test_wrap_errors(void)
{
    uint8_t px[64] = {0};
    const uint8_t *planes[3] = {px, px, NULL};
    int strides[3] = {8, 8, 8};
    fm_image *im = (fm_image *)1;
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_RGB24, 4, 4, planes, strides, 0, &im), FM_ERR_INVALID_ARGUMENT);
    CHECK(im == NULL);
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 4, 4, planes, strides, 45, &im), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_I420, 4, 4, planes, strides, 0, &im), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 0, 4, planes, strides, 0, &im), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_wrap(ctx, (fm_pixfmt)42, 4, 4, planes, strides, 0, &im), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 4, 4, planes, strides, 0, &im), FM_OK);
    CHECK(fm_image_pixels(im, 0, NULL) == NULL); /* wrapped: read-only */
    int s = 0;
    CHECK(fm_image_plane(im, 0, &s) == px && s == 8);
    CHECK(fm_image_plane(im, 1, &s) == NULL);
    fm_image *out = (fm_image *)1;
    CHECK_STATUS(fm_image_convert(ctx, im, FM_PIX_NV21, &out), FM_ERR_INVALID_ARGUMENT);
    CHECK(out == NULL);
    fm_image_destroy(im);
    /* limits apply to wrapped frames too */
    fm_ctx *small = fm_ctx_create();
    fm_ctx_set(small, FM_PARAM_MAX_DIMENSION, 3);
    CHECK_STATUS(fm_image_wrap(small, FM_PIX_GRAY8, 4, 4, planes, strides, 0, &im), FM_ERR_LIMIT);
    fm_ctx_destroy(small);
    /* owned images are writable and zeroed */
    CHECK_STATUS(fm_image_create(ctx, FM_PIX_I420, 5, 3, &im), FM_OK);
    int s1, s2;
    uint8_t *u = fm_image_pixels(im, 1, &s1), *v = fm_image_pixels(im, 2, &s2);
    CHECK(u && v && s1 == 3 && s2 == 3 && v == u + 3 * 2);
    fm_image_destroy(im);
}

/* ---- resize ---------------------------------------------------------------------------------------------- */

static double ref_linear(const uint8_t *s, int sw, int sh, int ch, int dw, int dh, int x, int y, int c)
{
    double fx = (x + 0.5) * sw / dw - 0.5, fy = (y + 0.5) * sh / dh - 0.5;
    int ix = (int)floor(fx), iy = (int)floor(fy);
    double ax = fx - ix, ay = fy - iy;
    if (ix < 0)
        ix = 0, ax = 0;
    if (ix >= sw - 1)
        ix = sw - 1, ax = 0;
    if (iy < 0)
        iy = 0, ay = 0;
    if (iy >= sh - 1)
        iy = sh - 1, ay = 0;
    int ix1 = ix + 1 < sw ? ix + 1 : ix, iy1 = iy + 1 < sh ? iy + 1 : iy;
#define P(X, Y) s[((size_t)(Y) * sw + (X)) * ch + c]
    return (1 - ay) * ((1 - ax) * P(ix, iy) + ax * P(ix1, iy)) + ay * ((1 - ax) * P(ix, iy1) + ax * P(ix1, iy1));
}

static double ref_area(const uint8_t *s, int sw, int sh, int ch, int dw, int dh, int x, int y, int c)
{
    double sx = (double)sw / dw, sy = (double)sh / dh;
    double x0 = x * sx, x1 = (x + 1) * sx, y0 = y * sy, y1 = (y + 1) * sy, sum = 0, wsum = 0;
    for (int j = (int)floor(y0); j < sh && j < y1; j++)
        for (int i = (int)floor(x0); i < sw && i < x1; i++) {
            double ox = fmin(x1, i + 1) - fmax(x0, i), oy = fmin(y1, j + 1) - fmax(y0, j);
            if (ox <= 0 || oy <= 0)
                continue;
            sum += ox * oy * P(i, j);
            wsum += ox * oy;
        }
#undef P
    return sum / wsum;
}

static void test_resize(void)
{
    const int cases[][4] = {{64, 48, 32, 24}, {64, 48, 150, 150}, {37, 23, 13, 7}, {100, 80, 33, 61},
                            {5, 5, 1, 1},     {1, 1, 7, 3},        {640, 480, 320, 240}, {17, 9, 17, 9}};
    const fm_pixfmt fmts[] = {FM_PIX_GRAY8, FM_PIX_RGB24, FM_PIX_BGRA};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int sw = cases[k][0], sh = cases[k][1], dw = cases[k][2], dh = cases[k][3];
        uint8_t *rgb = make_rgb(sw, sh, (unsigned)k);
        fm_image *base;
        const uint8_t *planes[1] = {rgb};
        int strides[1] = {sw * 3};
        CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_RGB24, sw, sh, planes, strides, 0, &base), FM_OK);
        for (size_t fi = 0; fi < 3; fi++) {
            fm_image *src;
            CHECK_STATUS(fm_image_convert(ctx, base, fmts[fi], &src), FM_OK);
            int ch = fm_pixfmt_bpp(fmts[fi]), ss;
            const uint8_t *sp = fm_image_plane(src, 0, &ss);
            for (int mode = 0; mode < 2; mode++) {
                fm_image *d = NULL;
                CHECK_STATUS(fm_image_resize(ctx, src, dw, dh, (fm_resize_mode)mode, &d), FM_OK);
                if (!d)
                    continue;
                CHECK(fm_image_width(d) == dw && fm_image_height(d) == dh && fm_image_pixfmt(d) == fmts[fi]);
                int ds;
                const uint8_t *dp = fm_image_plane(d, 0, &ds);
                double maxe = 0;
                for (int y = 0; y < dh; y++)
                    for (int x = 0; x < dw; x++)
                        for (int c = 0; c < ch; c++) {
                            double want = mode == 0 ? ref_linear(sp, sw, sh, ch, dw, dh, x, y, c)
                                                    : ref_area(sp, sw, sh, ch, dw, dh, x, y, c);
                            double e = fabs(dp[(size_t)y * ds + (size_t)x * ch + c] - want);
                            maxe = e > maxe ? e : maxe;
                        }
                /* fixed-point weights and rounding: within one grey level of the exact value */
                CHECK_MSG(maxe <= 1.0, "%s %s %dx%d -> %dx%d: max error %.3f", mode ? "area" : "bilinear",
                          fm_pixfmt_name(fmts[fi]), sw, sh, dw, dh, maxe);
                fm_image_destroy(d);
            }
            fm_image_destroy(src);
        }
        fm_image_destroy(base);
        free(rgb);
    }
    /* an exact 2x area downscale is the rounded mean of each 2x2 block */
    uint8_t g[16] = {0, 2, 10, 20, 4, 6, 30, 40, 255, 255, 1, 1, 255, 254, 1, 2};
    const uint8_t *planes[1] = {g};
    int strides[1] = {4};
    fm_image *im, *d;
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 4, 4, planes, strides, 0, &im), FM_OK);
    CHECK_STATUS(fm_image_resize(ctx, im, 2, 2, FM_RESIZE_AREA, &d), FM_OK);
    const uint8_t *p = fm_image_plane(d, 0, NULL);
    CHECK(p[0] == 3 && p[1] == 25 && p[2] == 255 && p[3] == 1); /* 254.75 -> 255, 1.25 -> 1 */
    fm_image_destroy(d);
    /* planar and rotated sources are resized upright, as RGB24 */
    fm_image_destroy(im);
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_GRAY8, 4, 4, planes, strides, 90, &im), FM_OK);
    CHECK_STATUS(fm_image_resize(ctx, im, 4, 4, FM_RESIZE_BILINEAR, &d), FM_OK);
    p = fm_image_plane(d, 0, NULL);
    CHECK(p[0] == 255 && p[3] == 0); /* upright top row = stored left column, bottom to top */
    fm_image_destroy(d);
    fm_image_destroy(im);
    fm_image *o = (fm_image *)1;
    CHECK_STATUS(fm_image_resize(ctx, NULL, 4, 4, FM_RESIZE_AREA, &o), FM_ERR_INVALID_ARGUMENT);
    CHECK(o == NULL);
}

static void test_crop(void)
{
    const int W = 20, H = 10;
    uint8_t *rgb = make_rgb(W, H, 3);
    const uint8_t *planes[1] = {rgb};
    int strides[1] = {W * 3};
    for (int rot = 0; rot < 360; rot += 90) {
        fm_image *im, *full, *c = NULL;
        CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_RGB24, W, H, planes, strides, rot, &im), FM_OK);
        CHECK_STATUS(fm_image_convert(ctx, im, FM_PIX_RGB24, &full), FM_OK);
        int uw = fm_image_width(im), uh = fm_image_height(im), fs, cs;
        CHECK_STATUS(fm_image_crop(ctx, im, 2, 3, uw - 4, uh - 5, &c), FM_OK);
        if (c) {
            const uint8_t *f = fm_image_plane(full, 0, &fs), *cp = fm_image_plane(c, 0, &cs);
            int same = 1;
            for (int y = 0; y < uh - 5; y++)
                same &= memcmp(cp + (size_t)y * cs, f + (size_t)(y + 3) * fs + 2 * 3, (size_t)(uw - 4) * 3) == 0;
            CHECK_MSG(same, "crop rot %d", rot);
            fm_image_destroy(c);
        }
        c = (fm_image *)1;
        CHECK_STATUS(fm_image_crop(ctx, im, 1, 0, uw, uh, &c), FM_ERR_INVALID_ARGUMENT);
        CHECK(c == NULL);
        CHECK_STATUS(fm_image_crop(ctx, im, -1, 0, 2, 2, &c), FM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(fm_image_crop(ctx, im, 0, 0, 0, 2, &c), FM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(fm_image_crop(ctx, im, 0, 0, uw, uh, &c), FM_OK);
        fm_image_destroy(c);
        fm_image_destroy(full);
        fm_image_destroy(im);
    }
    free(rgb);
}

/* ---- warp ------------------------------------------------------------------------------------------------ */

/* dlib transform_image + interpolate_bilinear, written from its documented behaviour. */
static int ref_warp(const uint8_t *s, int sw, int sh, int ch, const double m[6], int x, int y, int c)
{
    double xs = m[0] * x + m[1] * y + m[2], ys = m[3] * x + m[4] * y + m[5];
    long l = (long)floor(xs), t = (long)floor(ys);
    if (!(l >= 0 && t >= 0 && l + 1 < sw && t + 1 < sh))
        return 0;
    double a = xs - l, b = ys - t;
#define Q(X, Y) (double)s[((size_t)(Y) * sw + (size_t)(X)) * ch + c]
    double v = (1 - b) * ((1 - a) * Q(l, t) + a * Q(l + 1, t)) + b * ((1 - a) * Q(l, t + 1) + a * Q(l + 1, t + 1));
#undef Q
    return (int)v; /* truncation, like static_cast<unsigned char> */
}

static void test_warp(void)
{
    const int W = 90, H = 70;
    uint8_t *rgb = make_rgb(W, H, 5);
    const uint8_t *planes[1] = {rgb};
    int strides[1] = {W * 3};
    fm_image *im;
    CHECK_STATUS(fm_image_wrap(ctx, FM_PIX_RGB24, W, H, planes, strides, 0, &im), FM_OK);
    const double pi = 3.14159265358979;
    for (int k = 0; k < 6; k++) {
        /* rotate by k*pi/7 and scale about the destination centre (75, 75) -> source point near (45, 35) */
        double ang = k * pi / 7, sc = 0.3 + 0.1 * k, a = sc * cos(ang), b = sc * sin(ang);
        double cx = 45.3 + k, cy = 34.7 - k;
        double m[6] = {a, -b, cx - 75 * a + 75 * b, b, a, cy - 75 * b - 75 * a};
        if (k == 0) { /* identity: the image itself, except the last row and column (dlib needs 2x2 inside) */
            m[0] = 1, m[1] = 0, m[2] = 0, m[3] = 0, m[4] = 1, m[5] = 0;
        }
        fm_image *d = NULL;
        CHECK_STATUS(fm_image_warp_affine(ctx, im, m, 150, 150, &d), FM_OK);
        if (!d)
            continue;
        int ds, bad = 0, inside = 0;
        const uint8_t *dp = fm_image_plane(d, 0, &ds);
        for (int y = 0; y < 150; y++)
            for (int x = 0; x < 150; x++)
                for (int c = 0; c < 3; c++) {
                    int want = ref_warp(rgb, W, H, 3, m, x, y, c);
                    bad += dp[(size_t)y * ds + (size_t)x * 3 + c] != want;
                    inside += want != 0;
                }
        CHECK_MSG(bad == 0, "warp %d: %d samples differ from the dlib rule", k, bad);
        CHECK(inside > 1000);
        if (k == 0) {
            CHECK(memcmp(dp, rgb, (W - 1) * 3) == 0);
            CHECK(dp[(W - 1) * 3] == 0 && dp[(size_t)(H - 1) * ds] == 0);
        }
        fm_image_destroy(d);
    }
    fm_image *d = (fm_image *)1;
    double bad[6] = {1, 0, NAN, 0, 1, 0};
    CHECK_STATUS(fm_image_warp_affine(ctx, im, bad, 10, 10, &d), FM_ERR_INVALID_ARGUMENT);
    CHECK(d == NULL);
    fm_image_destroy(im);
    free(rgb);
}

int main(void)
{
    ctx = fm_ctx_create();
    RUN(test_rotation_meaning);
    RUN(test_packed_all_pairs);
    RUN(test_yuv);
    RUN(test_wrap_errors);
    RUN(test_resize);
    RUN(test_crop);
    RUN(test_warp);
    fm_ctx_destroy(ctx);
    return test_finish();
}
