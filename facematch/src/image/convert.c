/* Colour conversion and rotation.
 *
 * YUV (NV21, NV12, I420) to RGB uses BT.601 full range (JFIF), which is what Android cameras deliver for NV21 and
 * YUV_420_888 (Y, Cb, Cr all in 0..255, chroma centred on 128):
 *     R = Y + 1.402 (V-128)      G = Y - 0.344136 (U-128) - 0.714136 (V-128)      B = Y + 1.772 (U-128)
 * computed in 16.16 fixed point, rounded, clamped to 0..255. Chroma is 4:2:0, sampled at even luma pixels (nearest,
 * no interpolation): pixel (x, y) uses chroma sample (x/2, y/2).
 * Colour to grey uses BT.601 luma  Y = 0.299 R + 0.587 G + 0.114 B  (14-bit fixed point, rounded); YUV to grey
 * takes the Y plane as is. Alpha is dropped when the target has none and set to 255 when the source has none.
 * Rotation r (clockwise) turns the stored buffer upright: for r = 90, upright pixel (x, y) is stored pixel
 * (y, H-1-x); r = 180: (W-1-x, H-1-y); r = 270: (W-1-y, x), where W x H is the stored size.
 */
#include "image_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FIX16(x) ((int32_t)((x) * 65536.0 + 0.5))
#define YUV_RV FIX16(1.402)
#define YUV_GU FIX16(0.344136)
#define YUV_GV FIX16(0.714136)
#define YUV_BU FIX16(1.772)

#define LUMA_R 4899 /* 0.299 * 16384 */
#define LUMA_G 9617 /* 0.587 * 16384 */
#define LUMA_B 1868 /* 0.114 * 16384 */

static inline uint8_t clamp255(int32_t v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Channel layout of a packed format: offsets of R, G, B, A (-1 when absent); gray has r=g=b=0. */
typedef struct {
    int bpp, r, g, b, a, gray;
} layout;

static layout layout_of(fm_pixfmt f)
{
    switch (f) {
    case FM_PIX_GRAY8: return (layout){1, 0, 0, 0, -1, 1};
    case FM_PIX_RGB24: return (layout){3, 0, 1, 2, -1, 0};
    case FM_PIX_BGR24: return (layout){3, 2, 1, 0, -1, 0};
    case FM_PIX_RGBA: return (layout){4, 0, 1, 2, 3, 0};
    case FM_PIX_BGRA: return (layout){4, 2, 1, 0, 3, 0};
    default: return (layout){0, 0, 0, 0, -1, 0};
    }
}

/* ---- packed -> packed, one row ---------------------------------------------------------------------------------- */

static void row_packed(const uint8_t *restrict s, layout sl, uint8_t *restrict d, layout dl, int w)
{
    if (sl.bpp == dl.bpp && sl.r == dl.r && sl.gray == dl.gray) { /* same format */
        memcpy(d, s, (size_t)w * (size_t)sl.bpp);
        return;
    }
    if (dl.gray) { /* colour -> grey */
        const int sr = sl.r, sg = sl.g, sb = sl.b, sp = sl.bpp;
        for (int x = 0; x < w; x++, s += sp)
            d[x] = (uint8_t)((s[sr] * LUMA_R + s[sg] * LUMA_G + s[sb] * LUMA_B + 8192) >> 14);
        return;
    }
    if (sl.gray) { /* grey -> colour */
        if (dl.bpp == 3) {
            for (int x = 0; x < w; x++, d += 3)
                d[0] = d[1] = d[2] = s[x];
        } else {
            for (int x = 0; x < w; x++, d += 4) {
                d[0] = d[1] = d[2] = s[x];
                d[3] = 255;
            }
        }
        return;
    }
    const int sr = sl.r, sg = sl.g, sb = sl.b, sa = sl.a, sp = sl.bpp;
    const int dr = dl.r, dg = dl.g, db = dl.b, da = dl.a, dp = dl.bpp;
    if (da < 0) {
        for (int x = 0; x < w; x++, s += sp, d += dp) {
            uint8_t r = s[sr], g = s[sg], b = s[sb];
            d[dr] = r, d[dg] = g, d[db] = b;
        }
    } else if (sa < 0) {
        for (int x = 0; x < w; x++, s += sp, d += dp) {
            uint8_t r = s[sr], g = s[sg], b = s[sb];
            d[dr] = r, d[dg] = g, d[db] = b, d[da] = 255;
        }
    } else {
        for (int x = 0; x < w; x++, s += sp, d += dp) {
            uint8_t r = s[sr], g = s[sg], b = s[sb], a = s[sa];
            d[dr] = r, d[dg] = g, d[db] = b, d[da] = a;
        }
    }
}

/* ---- YUV 4:2:0 -> packed, one row. u/v point at the chroma row; ustep/vstep = bytes between chroma samples. ---- */

static void row_yuv(const uint8_t *restrict y, const uint8_t *restrict u, const uint8_t *restrict v, int cstep,
                    uint8_t *restrict d, layout dl, int w)
{
    if (dl.gray) {
        memcpy(d, y, (size_t)w);
        return;
    }
    const int dr = dl.r, dg = dl.g, db = dl.b, da = dl.a, dp = dl.bpp;
    for (int x = 0; x < w; x += 2) {
        int32_t cu = (int32_t)u[(x >> 1) * cstep] - 128, cv = (int32_t)v[(x >> 1) * cstep] - 128;
        int32_t rv = YUV_RV * cv + 32768, guv = -YUV_GU * cu - YUV_GV * cv + 32768, bu = YUV_BU * cu + 32768;
        int n = (x + 1 < w) ? 2 : 1;
        for (int k = 0; k < n; k++, d += dp) {
            int32_t yy = (int32_t)y[x + k] << 16;
            d[dr] = clamp255((yy + rv) >> 16);
            d[dg] = clamp255((yy + guv) >> 16);
            d[db] = clamp255((yy + bu) >> 16);
            if (da >= 0)
                d[da] = 255;
        }
    }
}

/* Converts src's stored (unrotated) pixels into packed dst rows. */
static void convert_stored(const fm_image *src, fm_pixfmt dst, uint8_t *out, size_t ostride)
{
    const int w = src->width, h = src->height;
    layout dl = layout_of(dst);
    if (fmi_is_packed(src->fmt)) {
        layout sl = layout_of(src->fmt);
        for (int y = 0; y < h; y++)
            row_packed(src->planes[0] + (size_t)y * (size_t)src->strides[0], sl, out + (size_t)y * ostride, dl, w);
        return;
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *yr = src->planes[0] + (size_t)y * (size_t)src->strides[0];
        const uint8_t *u, *v;
        int cstep;
        if (src->fmt == FM_PIX_I420) {
            u = src->planes[1] + (size_t)(y >> 1) * (size_t)src->strides[1];
            v = src->planes[2] + (size_t)(y >> 1) * (size_t)src->strides[2];
            cstep = 1;
        } else {
            const uint8_t *c = src->planes[1] + (size_t)(y >> 1) * (size_t)src->strides[1];
            u = src->fmt == FM_PIX_NV12 ? c : c + 1;
            v = src->fmt == FM_PIX_NV12 ? c + 1 : c;
            cstep = 2;
        }
        row_yuv(yr, u, v, cstep, out + (size_t)y * ostride, dl, w);
    }
}

/* ---- rotation of a packed buffer (w x h stored) into upright dst, in tiles for cache locality ------------------- */

#define TILE 32
#define DEFINE_ROTATE(NAME, BPP)                                                                                   \
    static void NAME(const uint8_t *src, size_t ss, int w, int h, int rot, uint8_t *dst, size_t ds)                \
    {                                                                                                              \
        const int uw = (rot == 180) ? w : h, uh = (rot == 180) ? h : w;                                            \
        for (int ty = 0; ty < uh; ty += TILE)                                                                      \
            for (int tx = 0; tx < uw; tx += TILE) {                                                                \
                int ey = ty + TILE < uh ? ty + TILE : uh, ex = tx + TILE < uw ? tx + TILE : uw;                    \
                for (int y = ty; y < ey; y++) {                                                                    \
                    uint8_t *d = dst + (size_t)y * ds + (size_t)tx * BPP;                                          \
                    const uint8_t *s;                                                                              \
                    ptrdiff_t step;                                                                                \
                    if (rot == 90) { /* stored (y, h-1-x) */                                                       \
                        s = src + (size_t)(h - 1 - tx) * ss + (size_t)y * BPP;                                     \
                        step = -(ptrdiff_t)ss;                                                                     \
                    } else if (rot == 270) { /* stored (w-1-y, x) */                                               \
                        s = src + (size_t)tx * ss + (size_t)(w - 1 - y) * BPP;                                     \
                        step = (ptrdiff_t)ss;                                                                      \
                    } else { /* 180: stored (w-1-x, h-1-y) */                                                      \
                        s = src + (size_t)(h - 1 - y) * ss + (size_t)(w - 1 - tx) * BPP;                           \
                        step = -(ptrdiff_t)BPP;                                                                    \
                    }                                                                                              \
                    for (int x = tx; x < ex; x++, d += BPP, s += step)                                             \
                        memcpy(d, s, BPP);                                                                         \
                }                                                                                                  \
            }                                                                                                      \
    }
DEFINE_ROTATE(rotate1, 1)
DEFINE_ROTATE(rotate3, 3)
DEFINE_ROTATE(rotate4, 4)

fm_status fmi_convert_into(fm_ctx *ctx, const fm_image *src, fm_pixfmt dst, uint8_t *buf, size_t stride)
{
    if (src->rotation == 0) {
        convert_stored(src, dst, buf, stride);
        return FM_OK;
    }
    int bpp = fm_pixfmt_bpp(dst);
    size_t rs = (size_t)src->width * (size_t)bpp, total;
    if (fm_mul_size(rs, (size_t)src->height, &total))
        return fm_fail(ctx, FM_ERR_LIMIT, "image too large to rotate");
    uint8_t *tmp = malloc(total);
    if (!tmp)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory rotating a %dx%d image", src->width, src->height);
    convert_stored(src, dst, tmp, rs);
    if (bpp == 1)
        rotate1(tmp, rs, src->width, src->height, src->rotation, buf, stride);
    else if (bpp == 3)
        rotate3(tmp, rs, src->width, src->height, src->rotation, buf, stride);
    else
        rotate4(tmp, rs, src->width, src->height, src->rotation, buf, stride);
    free(tmp);
    return FM_OK;
}

fm_status fm_image_convert(fm_ctx *ctx, const fm_image *src, fm_pixfmt dst, fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_convert: out is NULL");
    *out = NULL;
    if (!src)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_convert: src is NULL");
    if (!fmi_is_packed(dst))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_convert: target %s is not a packed format",
                       fm_pixfmt_name(dst));
    fm_image *im;
    fm_status st = fmi_alloc(ctx, dst, fmi_up_w(src), fmi_up_h(src), 0, &im);
    if (st != FM_OK)
        return st;
    st = fmi_convert_into(ctx, src, dst, im->owned, (size_t)im->strides[0]);
    if (st != FM_OK) {
        fm_image_destroy(im);
        return st;
    }
    *out = im;
    return FM_OK;
}

fm_status fm_image_copy_to(fm_ctx *ctx, const fm_image *src, fm_pixfmt dst, uint8_t *buf, size_t buf_size, int stride)
{
    if (!src || !buf)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_copy_to: src or buf is NULL");
    if (!fmi_is_packed(dst))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_copy_to: target %s is not a packed format",
                       fm_pixfmt_name(dst));
    size_t w = (size_t)fmi_up_w(src), h = (size_t)fmi_up_h(src), row = w * (size_t)fm_pixfmt_bpp(dst);
    if (stride < 0 || (stride > 0 && (size_t)stride < row))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_copy_to: stride %d is below the row size %zu", stride, row);
    size_t s = stride ? (size_t)stride : row, need;
    if (fm_mul_size(s, h - 1, &need) || need + row < need)
        return fm_fail(ctx, FM_ERR_LIMIT, "fm_image_copy_to: size overflow");
    need += row;
    if (buf_size < need)
        return fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "fm_image_copy_to: needs %zu bytes, buffer holds %zu", need,
                       buf_size);
    return fmi_convert_into(ctx, src, dst, buf, s);
}

fm_status fmi_upright_packed(fm_ctx *ctx, const fm_image *src, fm_pixfmt pref, const fm_image **view, fm_image **tmp)
{
    *tmp = NULL;
    if (fmi_is_packed(src->fmt) && src->rotation == 0) {
        *view = src;
        return FM_OK;
    }
    fm_status st = fm_image_convert(ctx, src, fmi_is_packed(src->fmt) ? src->fmt : pref, tmp);
    *view = *tmp;
    return st;
}

/* Copies one bpp-byte pixel (1, 3 or 4 bytes: the compiler turns each case into a fixed-size move). */
static inline void px_copy(uint8_t *d, const uint8_t *s, int bpp)
{
    switch (bpp) {
    case 1: d[0] = s[0]; break;
    case 3: memcpy(d, s, 3); break;
    default: memcpy(d, s, 4); break;
    }
}

fm_status fmi_orient(fm_ctx *ctx, const fm_image *src, int orientation, fm_image **out)
{
    *out = NULL;
    if (!fmi_is_packed(src->fmt) || src->rotation != 0 || orientation < 1 || orientation > 8)
        return fm_fail(ctx, FM_ERR_INTERNAL, "fmi_orient: packed upright source and orientation 1..8 expected");
    int w = src->width, h = src->height, swap = orientation >= 5;
    int dw = swap ? h : w, dh = swap ? w : h, bpp = fm_pixfmt_bpp(src->fmt);
    fm_image *im = NULL;
    fm_status st = fmi_alloc(ctx, src->fmt, dw, dh, 0, &im);
    if (st != FM_OK)
        return st;
    const uint8_t *s = src->planes[0];
    size_t ss = (size_t)src->strides[0], ds = (size_t)im->strides[0];
    /* Destination pixel (x, y) comes from source (sx, sy) = (x0 + x*ax + y*bx, y0 + x*ay + y*by): one step in x or y
     * of the upright image is a step of +-1 pixel along a row or a column of the stored one. */
    int x0, y0, ax, ay, bx, by;
    switch (orientation) {
    case 1: x0 = 0, y0 = 0, ax = 1, ay = 0, bx = 0, by = 1; break;
    case 2: x0 = w - 1, y0 = 0, ax = -1, ay = 0, bx = 0, by = 1; break;
    case 3: x0 = w - 1, y0 = h - 1, ax = -1, ay = 0, bx = 0, by = -1; break;
    case 4: x0 = 0, y0 = h - 1, ax = 1, ay = 0, bx = 0, by = -1; break;
    case 5: x0 = 0, y0 = 0, ax = 0, ay = 1, bx = 1, by = 0; break;
    case 6: x0 = 0, y0 = h - 1, ax = 0, ay = -1, bx = 1, by = 0; break;
    case 7: x0 = w - 1, y0 = h - 1, ax = 0, ay = -1, bx = -1, by = 0; break;
    default: x0 = w - 1, y0 = 0, ax = 0, ay = 1, bx = -1, by = 0; break;
    }
    /* the step of one destination x in source bytes (signed) */
    ptrdiff_t step = (ptrdiff_t)ax * bpp + (ptrdiff_t)ay * (ptrdiff_t)ss;
    for (int y = 0; y < dh; y++) {
        /* byte offsets stay inside the source: a pointer is formed only for in-range pixels */
        ptrdiff_t o = (ptrdiff_t)((size_t)(y0 + y * by) * ss + (size_t)(x0 + y * bx) * (size_t)bpp);
        uint8_t *dp = im->owned + (size_t)y * ds;
        if (step == bpp) {
            memcpy(dp, s + o, (size_t)dw * (size_t)bpp);
            continue;
        }
        for (int x = 0; x < dw; x++, o += step, dp += bpp)
            px_copy(dp, s + o, bpp);
    }
    *out = im;
    return FM_OK;
}
