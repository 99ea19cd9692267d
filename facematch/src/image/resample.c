/* Resize (bilinear, area), crop and affine warp. Sources with a pending rotation or a planar layout are first made
 * upright and packed (planar sources become RGB24).
 *
 * Bilinear resize follows OpenCV's INTER_LINEAR: destination pixel x samples source coordinate
 * (x + 0.5) * sw/dw - 0.5, clamped to [0, sw-1] (edge pixels replicate); weights are 11-bit fixed point and the
 * result is rounded.
 * Area resize averages, for destination pixel x, the source interval [x * sw/dw, (x+1) * sw/dw) weighted by
 * overlap (a box filter; exact for any ratio, rounded to nearest). Meant for downscaling; when upscaling it blends
 * the one or two source pixels each destination pixel overlaps.
 * Warp: dlib's transform_image with interpolate_bilinear: destination (x, y) samples the source at
 * (xs, ys) = (m0 x + m1 y + m2, m3 x + m4 y + m5), pixel centres at integer coordinates; the 2x2 neighbours
 * floor(xs)..floor(xs)+1, floor(ys)..floor(ys)+1 must all lie inside the source, otherwise every channel is 0;
 * the interpolated value is computed in double and truncated towards zero, as dlib does.
 */
#include "image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RBITS 11
#define RONE (1 << RBITS)

/* ---- bilinear ---------------------------------------------------------------------------------------------- */

static void linear_coeffs(int sn, int dn, int32_t *idx, int32_t *wt)
{
    double scale = (double)sn / dn;
    for (int i = 0; i < dn; i++) {
        double f = (i + 0.5) * scale - 0.5;
        int k = (int)floor(f);
        f -= k;
        if (k < 0)
            k = 0, f = 0;
        if (k >= sn - 1)
            k = sn - 1, f = 0;
        idx[i] = k;
        wt[i] = (int32_t)lrint(f * RONE);
    }
}

/* Horizontal pass of one source row into hrow (dw * ch ints, scaled by RONE). */
static void hpass_linear(const uint8_t *restrict s, int sw, int ch, const int32_t *xi, const int32_t *xw, int dw,
                         int32_t *restrict h)
{
    const int last = sw - 1;
    switch (ch) {
    case 1:
        for (int x = 0; x < dw; x++) {
            int k = xi[x], k1 = k < last ? k + 1 : k;
            int32_t a = xw[x];
            h[x] = s[k] * (RONE - a) + s[k1] * a;
        }
        break;
    case 3:
        for (int x = 0; x < dw; x++) {
            int k = xi[x] * 3, k1 = (xi[x] < last ? xi[x] + 1 : xi[x]) * 3;
            int32_t a = xw[x], b = RONE - a;
            h[3 * x] = s[k] * b + s[k1] * a;
            h[3 * x + 1] = s[k + 1] * b + s[k1 + 1] * a;
            h[3 * x + 2] = s[k + 2] * b + s[k1 + 2] * a;
        }
        break;
    default:
        for (int x = 0; x < dw; x++) {
            int k = xi[x] * 4, k1 = (xi[x] < last ? xi[x] + 1 : xi[x]) * 4;
            int32_t a = xw[x], b = RONE - a;
            h[4 * x] = s[k] * b + s[k1] * a;
            h[4 * x + 1] = s[k + 1] * b + s[k1 + 1] * a;
            h[4 * x + 2] = s[k + 2] * b + s[k1 + 2] * a;
            h[4 * x + 3] = s[k + 3] * b + s[k1 + 3] * a;
        }
        break;
    }
}

static fm_status resize_linear(fm_ctx *ctx, const fm_image *s, fm_image *d)
{
    const int sw = s->width, sh = s->height, dw = d->width, dh = d->height, ch = fm_pixfmt_bpp(s->fmt);
    const size_t rowv = (size_t)dw * (size_t)ch;
    int32_t *xi = malloc(sizeof(int32_t) * (size_t)dw), *xw = malloc(sizeof(int32_t) * (size_t)dw);
    int32_t *yi = malloc(sizeof(int32_t) * (size_t)dh), *yw = malloc(sizeof(int32_t) * (size_t)dh);
    int32_t *h0 = malloc(sizeof(int32_t) * rowv), *h1 = malloc(sizeof(int32_t) * rowv);
    fm_status st = FM_OK;
    if (!xi || !xw || !yi || !yw || !h0 || !h1) {
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory resizing to %dx%d", dw, dh);
        goto done;
    }
    linear_coeffs(sw, dw, xi, xw);
    linear_coeffs(sh, dh, yi, yw);
    int r0 = -1, r1 = -1; /* source rows currently in h0, h1 */
    for (int y = 0; y < dh; y++) {
        int k = yi[y], k1 = k < sh - 1 ? k + 1 : k;
        if (r0 != k) {
            if (r1 == k) { /* slide down one row */
                int32_t *t = h0;
                h0 = h1, h1 = t;
                r0 = k, r1 = -1;
            } else {
                hpass_linear(s->planes[0] + (size_t)k * (size_t)s->strides[0], sw, ch, xi, xw, dw, h0);
                r0 = k;
            }
        }
        if (r1 != k1) {
            hpass_linear(s->planes[0] + (size_t)k1 * (size_t)s->strides[0], sw, ch, xi, xw, dw, h1);
            r1 = k1;
        }
        const int32_t b = yw[y], a = RONE - b;
        uint8_t *o = d->owned + (size_t)y * (size_t)d->strides[0];
        const int32_t *p0 = h0, *p1 = h1;
        for (size_t i = 0; i < rowv; i++)
            o[i] = (uint8_t)((p0[i] * a + p1[i] * b + (1 << (2 * RBITS - 1))) >> (2 * RBITS));
    }
done:
    free(xi), free(xw), free(yi), free(yw), free(h0), free(h1);
    return st;
}

/* ---- area -------------------------------------------------------------------------------------------------- */

typedef struct {
    int *start, *count; /* per destination index */
    float *w;           /* count weights per destination index, at offset off[i] */
    int *off;
} area_tab;

static void area_free(area_tab *t) { free(t->start), free(t->count), free(t->w), free(t->off); }

static int area_coeffs(int sn, int dn, area_tab *t)
{
    double scale = (double)sn / dn;
    int maxc = (int)ceil(scale) + 2;
    t->start = malloc(sizeof(int) * (size_t)dn);
    t->count = malloc(sizeof(int) * (size_t)dn);
    t->off = malloc(sizeof(int) * (size_t)dn);
    t->w = malloc(sizeof(float) * (size_t)dn * (size_t)maxc);
    if (!t->start || !t->count || !t->off || !t->w)
        return 0;
    int off = 0;
    for (int i = 0; i < dn; i++) {
        double a = i * scale, b = (i + 1) * scale;
        if (b > sn)
            b = sn;
        int j0 = (int)floor(a), j1 = (int)ceil(b);
        if (j1 > sn)
            j1 = sn;
        if (j1 <= j0)
            j1 = j0 + 1;
        t->start[i] = j0;
        t->off[i] = off;
        int n = 0;
        double sum = 0;
        for (int j = j0; j < j1 && n < maxc; j++) {
            double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1, ov = hi - lo;
            if (ov <= 1e-12 && j > j0 && j == j1 - 1)
                break; /* numerically empty tail */
            if (ov < 0)
                ov = 0;
            t->w[off + n++] = (float)ov;
            sum += ov;
        }
        for (int k = 0; k < n; k++)
            t->w[off + k] = sum > 0 ? (float)(t->w[off + k] / sum) : 1.0f / (float)n;
        t->count[i] = n;
        off += n;
    }
    return 1;
}

/* Integer downscale factors (640x480 -> 320x240, 160x120, ...): exact integer block means, rounded half up. */
static fm_status resize_area_int(fm_ctx *ctx, const fm_image *s, fm_image *d)
{
    const int fx = s->width / d->width, fy = s->height / d->height, dw = d->width, dh = d->height;
    const int ch = fm_pixfmt_bpp(s->fmt);
    const size_t rowv = (size_t)dw * (size_t)ch;
    const uint32_t n = (uint32_t)fx * (uint32_t)fy;
    uint32_t *acc = malloc(sizeof(uint32_t) * rowv);
    if (!acc)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory resizing to %dx%d", dw, dh);
    for (int y = 0; y < dh; y++) {
        memset(acc, 0, sizeof(uint32_t) * rowv);
        for (int r = 0; r < fy; r++) {
            const uint8_t *sr = s->planes[0] + (size_t)(y * fy + r) * (size_t)s->strides[0];
            if (ch == 3 && fx == 2) {
                for (int x = 0; x < dw; x++, sr += 6) {
                    acc[3 * x] += (uint32_t)sr[0] + sr[3];
                    acc[3 * x + 1] += (uint32_t)sr[1] + sr[4];
                    acc[3 * x + 2] += (uint32_t)sr[2] + sr[5];
                }
            } else {
                for (int x = 0; x < dw; x++)
                    for (int k = 0; k < fx; k++, sr += ch)
                        for (int c = 0; c < ch; c++)
                            acc[(size_t)x * (size_t)ch + (size_t)c] += sr[c];
            }
        }
        uint8_t *o = d->owned + (size_t)y * (size_t)d->strides[0];
        for (size_t i = 0; i < rowv; i++)
            o[i] = (uint8_t)((acc[i] + n / 2) / n);
    }
    free(acc);
    return FM_OK;
}

static fm_status resize_area(fm_ctx *ctx, const fm_image *s, fm_image *d)
{
    const int sw = s->width, sh = s->height, dw = d->width, dh = d->height, ch = fm_pixfmt_bpp(s->fmt);
    const size_t rowv = (size_t)dw * (size_t)ch;
    if (sw % dw == 0 && sh % dh == 0 && (sw / dw) * (sh / dh) <= 65536)
        return resize_area_int(ctx, s, d);
    area_tab tx = {0}, ty = {0};
    float *hrow = malloc(sizeof(float) * rowv), *acc = malloc(sizeof(float) * rowv);
    fm_status st = FM_OK;
    if (!hrow || !acc || !area_coeffs(sw, dw, &tx) || !area_coeffs(sh, dh, &ty)) {
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory resizing to %dx%d", dw, dh);
        goto done;
    }
    for (int y = 0; y < dh; y++) {
        memset(acc, 0, sizeof(float) * rowv);
        for (int r = 0; r < ty.count[y]; r++) {
            const uint8_t *sr = s->planes[0] + (size_t)(ty.start[y] + r) * (size_t)s->strides[0];
            const float wy = ty.w[ty.off[y] + r];
            /* horizontal pass of this source row */
            for (int x = 0; x < dw; x++) {
                const float *wx = tx.w + tx.off[x];
                const uint8_t *p = sr + (size_t)tx.start[x] * (size_t)ch;
                const int n = tx.count[x];
                for (int c = 0; c < ch; c++) {
                    float v = 0;
                    for (int k = 0; k < n; k++)
                        v += wx[k] * p[k * ch + c];
                    hrow[(size_t)x * (size_t)ch + (size_t)c] = v;
                }
            }
            for (size_t i = 0; i < rowv; i++)
                acc[i] += wy * hrow[i];
        }
        uint8_t *o = d->owned + (size_t)y * (size_t)d->strides[0];
        for (size_t i = 0; i < rowv; i++) {
            float v = acc[i] + 0.5f;
            o[i] = (uint8_t)(v < 0 ? 0 : v >= 255.0f ? 255 : (int)v);
        }
    }
done:
    area_free(&tx), area_free(&ty);
    free(hrow), free(acc);
    return st;
}

fm_status fm_image_resize(fm_ctx *ctx, const fm_image *src, int width, int height, fm_resize_mode mode,
                          fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_resize: out is NULL");
    *out = NULL;
    if (!src)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_resize: src is NULL");
    if (mode != FM_RESIZE_BILINEAR && mode != FM_RESIZE_AREA)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_resize: unknown mode %d", (int)mode);
    if (width < 1 || height < 1)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_resize: target size %dx%d must be at least 1x1", width,
                       height);
    const fm_image *s;
    fm_image *tmp = NULL, *d = NULL;
    fm_status st = fmi_upright_packed(ctx, src, FM_PIX_RGB24, &s, &tmp);
    if (st == FM_OK)
        st = fmi_alloc(ctx, s->fmt, width, height, 0, &d);
    if (st == FM_OK)
        st = mode == FM_RESIZE_BILINEAR ? resize_linear(ctx, s, d) : resize_area(ctx, s, d);
    fm_image_destroy(tmp);
    if (st != FM_OK) {
        fm_image_destroy(d);
        return st;
    }
    *out = d;
    return FM_OK;
}

/* ---- crop -------------------------------------------------------------------------------------------------- */

fm_status fm_image_crop(fm_ctx *ctx, const fm_image *src, int x, int y, int width, int height, fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_crop: out is NULL");
    *out = NULL;
    if (!src)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_crop: src is NULL");
    int uw = fmi_up_w(src), uh = fmi_up_h(src);
    if (width < 1 || height < 1 || x < 0 || y < 0 || x > uw - width || y > uh - height)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_crop: rectangle %dx%d at (%d,%d) is not inside the %dx%d image",
                       width, height, x, y, uw, uh);
    const fm_image *s;
    fm_image *tmp = NULL, *d = NULL;
    fm_status st = fmi_upright_packed(ctx, src, FM_PIX_RGB24, &s, &tmp);
    if (st == FM_OK)
        st = fmi_alloc(ctx, s->fmt, width, height, 0, &d);
    if (st == FM_OK) {
        size_t bpp = (size_t)fm_pixfmt_bpp(s->fmt), row = (size_t)width * bpp;
        for (int r = 0; r < height; r++)
            memcpy(d->owned + (size_t)r * (size_t)d->strides[0],
                   s->planes[0] + (size_t)(y + r) * (size_t)s->strides[0] + (size_t)x * bpp, row);
        *out = d;
    }
    fm_image_destroy(tmp);
    return st;
}

/* ---- affine warp ------------------------------------------------------------------------------------------- */

#define DEFINE_WARP(NAME, CH)                                                                                      \
    static void NAME(const fm_image *s, const double m[6], fm_image *d)                                            \
    {                                                                                                              \
        const int sw = s->width, sh = s->height, dw = d->width, dh = d->height;                                    \
        const size_t ss = (size_t)s->strides[0];                                                                   \
        for (int y = 0; y < dh; y++) {                                                                             \
            uint8_t *o = d->owned + (size_t)y * (size_t)d->strides[0];                                             \
            const double by = m[1] * y, cy = m[4] * y;                                                             \
            for (int x = 0; x < dw; x++, o += CH) {                                                                \
                const double xs = m[0] * x + by + m[2], ys = m[3] * x + cy + m[5];                                 \
                const double fl = floor(xs), ft = floor(ys);                                                       \
                if (!(fl >= 0 && ft >= 0 && fl < sw - 1 && ft < sh - 1)) { /* NaN fails too */                     \
                    memset(o, 0, CH);                                                                              \
                    continue;                                                                                      \
                }                                                                                                  \
                const long l = (long)fl, t = (long)ft;                                                             \
                const double lr = xs - (double)l, tb = ys - (double)t;                                             \
                const uint8_t *p0 = s->planes[0] + (size_t)t * ss + (size_t)l * CH, *p1 = p0 + ss;                 \
                for (int c = 0; c < CH; c++) {                                                                     \
                    double v = (1 - tb) * ((1 - lr) * p0[c] + lr * p0[CH + c]) +                                   \
                               tb * ((1 - lr) * p1[c] + lr * p1[CH + c]);                                          \
                    o[c] = (uint8_t)v;                                                                             \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }
DEFINE_WARP(warp1, 1)
DEFINE_WARP(warp3, 3)
DEFINE_WARP(warp4, 4)

fm_status fm_image_warp_affine(fm_ctx *ctx, const fm_image *src, const double m[6], int width, int height,
                               fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_warp_affine: out is NULL");
    *out = NULL;
    if (!src || !m)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_warp_affine: src or m is NULL");
    if (width < 1 || height < 1)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_warp_affine: size %dx%d must be at least 1x1", width,
                       height);
    for (int i = 0; i < 6; i++)
        if (!isfinite(m[i]))
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_warp_affine: m[%d] is not finite", i);
    const fm_image *s;
    fm_image *tmp = NULL, *d = NULL;
    fm_status st = fmi_upright_packed(ctx, src, FM_PIX_RGB24, &s, &tmp);
    if (st == FM_OK)
        st = fmi_alloc(ctx, s->fmt, width, height, 0, &d);
    if (st == FM_OK) {
        int ch = fm_pixfmt_bpp(s->fmt);
        if (ch == 1)
            warp1(s, m, d);
        else if (ch == 3)
            warp3(s, m, d);
        else
            warp4(s, m, d);
        *out = d;
    }
    fm_image_destroy(tmp);
    return st;
}
