/* fm_image: owned and wrapped images, format detection, decode/encode dispatch. */
#include "image_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------------------------------------- */

const char *fm_format_name(fm_format format)
{
    switch (format) {
    case FM_FORMAT_JPEG: return "jpeg";
    case FM_FORMAT_JP2: return "jp2";
    case FM_FORMAT_J2K: return "j2k";
    case FM_FORMAT_PNG: return "png";
    case FM_FORMAT_PNM: return "pnm";
    case FM_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

int fm_pixfmt_bpp(fm_pixfmt fmt)
{
    switch (fmt) {
    case FM_PIX_GRAY8: return 1;
    case FM_PIX_RGB24:
    case FM_PIX_BGR24: return 3;
    case FM_PIX_RGBA:
    case FM_PIX_BGRA: return 4;
    default: return 0;
    }
}

const char *fm_pixfmt_name(fm_pixfmt fmt)
{
    switch (fmt) {
    case FM_PIX_GRAY8: return "gray8";
    case FM_PIX_RGB24: return "rgb24";
    case FM_PIX_BGR24: return "bgr24";
    case FM_PIX_RGBA: return "rgba";
    case FM_PIX_BGRA: return "bgra";
    case FM_PIX_NV21: return "nv21";
    case FM_PIX_NV12: return "nv12";
    case FM_PIX_I420: return "i420";
    case FM_PIX_NONE: break;
    }
    return "none";
}

/* ---- format detection ---------------------------------------------------------------------------------------- */

static const uint8_t SIG_JPEG[] = {0xFF, 0xD8, 0xFF};
static const uint8_t SIG_JP2[] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A};
static const uint8_t SIG_J2K[] = {0xFF, 0x4F, 0xFF, 0x51};
static const uint8_t SIG_PNG[] = {0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A};

static const struct {
    const uint8_t *sig;
    size_t len;
    fm_format fmt;
} SIGS[] = {
    {SIG_JPEG, sizeof SIG_JPEG, FM_FORMAT_JPEG},
    {SIG_JP2, sizeof SIG_JP2, FM_FORMAT_JP2},
    {SIG_J2K, sizeof SIG_J2K, FM_FORMAT_J2K},
    {SIG_PNG, sizeof SIG_PNG, FM_FORMAT_PNG},
};

static int pnm_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

fm_format fm_image_detect_format(const void *data, size_t len)
{
    const uint8_t *p = data;
    if (!p)
        return FM_FORMAT_UNKNOWN;
    for (size_t i = 0; i < sizeof SIGS / sizeof SIGS[0]; i++)
        if (len >= SIGS[i].len && memcmp(p, SIGS[i].sig, SIGS[i].len) == 0)
            return SIGS[i].fmt;
    /* Netpbm: 'P', a digit 1..7, then whitespace (or a comment) */
    if (len >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7' && (pnm_ws(p[2]) || p[2] == '#'))
        return FM_FORMAT_PNM;
    return FM_FORMAT_UNKNOWN;
}

/* 1 if data is a proper prefix of a known signature (so the input was cut short rather than foreign). */
static int is_signature_prefix(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < sizeof SIGS / sizeof SIGS[0]; i++)
        if (len < SIGS[i].len && memcmp(p, SIGS[i].sig, len) == 0)
            return 1;
    if (len < 3 && p[0] == 'P' && (len < 2 || (p[1] >= '1' && p[1] <= '7')))
        return 1;
    return 0;
}

/* ---- limits and allocation ------------------------------------------------------------------------------------- */

fm_status fmi_check_size(fm_ctx *ctx, const char *what, int64_t w, int64_t h)
{
    if (w < 1 || h < 1)
        return fm_fail(ctx, FM_ERR_CORRUPT, "%s has an empty size (%lldx%lld)", what, (long long)w, (long long)h);
    int64_t maxd = ctx ? ctx->max_dimension : 16384, maxp = ctx ? ctx->max_pixels : 40000000;
    if (w > maxd || h > maxd)
        return fm_fail(ctx, FM_ERR_LIMIT, "%s is %lldx%lld: a side is above the limit of %lld pixels", what,
                       (long long)w, (long long)h, (long long)maxd);
    /* w, h <= 1,000,000 (ctx enforces max_dimension <= 1e6), so w*h cannot overflow int64 */
    if (w * h > maxp)
        return fm_fail(ctx, FM_ERR_LIMIT, "%s is %lldx%lld = %lld pixels: above the limit of %lld", what,
                       (long long)w, (long long)h, (long long)(w * h), (long long)maxp);
    return FM_OK;
}

/* Plane geometry of an owned image: row bytes and row count per plane; returns the plane count. */
static int plane_geometry(fm_pixfmt fmt, int w, int h, size_t rowbytes[3], size_t rows[3])
{
    size_t cw = ((size_t)w + 1) / 2, ch = ((size_t)h + 1) / 2;
    switch (fmt) {
    case FM_PIX_NV12:
    case FM_PIX_NV21:
        rowbytes[0] = (size_t)w, rows[0] = (size_t)h;
        rowbytes[1] = 2 * cw, rows[1] = ch;
        return 2;
    case FM_PIX_I420:
        rowbytes[0] = (size_t)w, rows[0] = (size_t)h;
        rowbytes[1] = rowbytes[2] = cw, rows[1] = rows[2] = ch;
        return 3;
    default:
        rowbytes[0] = (size_t)w * (size_t)fm_pixfmt_bpp(fmt), rows[0] = (size_t)h;
        return 1;
    }
}

fm_status fmi_alloc(fm_ctx *ctx, fm_pixfmt fmt, int w, int h, int zero, fm_image **out)
{
    *out = NULL;
    if (fmt < FM_PIX_GRAY8 || fmt > FM_PIX_I420)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "invalid pixel format %d", (int)fmt);
    fm_status st = fmi_check_size(ctx, "image", w, h);
    if (st == FM_ERR_CORRUPT) /* not data: the caller asked for an empty image */
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "image size %dx%d: width and height must be >= 1", w, h);
    if (st != FM_OK)
        return st;
    size_t rowbytes[3], rows[3], total = 0, sz;
    int n = plane_geometry(fmt, w, h, rowbytes, rows);
    for (int i = 0; i < n; i++) {
        if (fm_mul_size(rowbytes[i], rows[i], &sz) || total + sz < total || rowbytes[i] > INT32_MAX)
            return fm_fail(ctx, FM_ERR_LIMIT, "image %dx%d is too large for memory", w, h);
        total += sz;
    }
    fm_image *im = calloc(1, sizeof *im);
    uint8_t *px = im ? (zero ? calloc(1, total) : malloc(total)) : NULL;
    if (!px) {
        free(im);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory for a %dx%d %s image (%zu bytes)", w, h,
                       fm_pixfmt_name(fmt), total);
    }
    im->fmt = fmt;
    im->width = w;
    im->height = h;
    im->owned = px;
    im->owned_size = total;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        im->planes[i] = px + off;
        im->strides[i] = (int)rowbytes[i];
        off += rowbytes[i] * rows[i];
    }
    *out = im;
    return FM_OK;
}

fm_status fm_image_create(fm_ctx *ctx, fm_pixfmt fmt, int width, int height, fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_create: out is NULL");
    return fmi_alloc(ctx, fmt, width, height, 1, out);
}

fm_status fm_image_wrap(fm_ctx *ctx, fm_pixfmt fmt, int width, int height, const uint8_t *const planes[],
                        const int strides[], int rotation, fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_wrap: out is NULL");
    *out = NULL;
    if (fmt < FM_PIX_GRAY8 || fmt > FM_PIX_I420)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_wrap: invalid pixel format %d", (int)fmt);
    if (rotation != 0 && rotation != 90 && rotation != 180 && rotation != 270)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_wrap: rotation %d is not 0, 90, 180 or 270", rotation);
    if (width < 1 || height < 1)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_wrap: size %dx%d must be at least 1x1", width, height);
    fm_status st = fmi_check_size(ctx, "wrapped image", width, height);
    if (st != FM_OK)
        return st;
    if (!planes || !strides)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_wrap: planes or strides is NULL");
    size_t rowbytes[3], rows[3];
    int n = plane_geometry(fmt, width, height, rowbytes, rows);
    for (int i = 0; i < n; i++) {
        if (!planes[i])
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_wrap: %s plane %d is NULL", fm_pixfmt_name(fmt), i);
        if (strides[i] < 0 || (size_t)strides[i] < rowbytes[i])
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT,
                           "fm_image_wrap: %s plane %d stride %d is below the row size %zu", fm_pixfmt_name(fmt), i,
                           strides[i], rowbytes[i]);
    }
    fm_image *im = calloc(1, sizeof *im);
    if (!im)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    im->fmt = fmt;
    im->width = width;
    im->height = height;
    im->rotation = rotation;
    for (int i = 0; i < n; i++) {
        im->planes[i] = planes[i];
        im->strides[i] = strides[i];
    }
    *out = im;
    return FM_OK;
}

void fm_image_destroy(fm_image *img)
{
    if (!img)
        return;
    free(img->owned);
    free(img);
}

int fm_image_width(const fm_image *img) { return img ? fmi_up_w(img) : 0; }
int fm_image_height(const fm_image *img) { return img ? fmi_up_h(img) : 0; }
fm_pixfmt fm_image_pixfmt(const fm_image *img) { return img ? img->fmt : FM_PIX_NONE; }
int fm_image_rotation(const fm_image *img) { return img ? img->rotation : 0; }

const uint8_t *fm_image_plane(const fm_image *img, int plane, int *stride)
{
    if (!img || plane < 0 || plane > 2 || !img->planes[plane]) {
        if (stride)
            *stride = 0;
        return NULL;
    }
    if (stride)
        *stride = img->strides[plane];
    return img->planes[plane];
}

uint8_t *fm_image_pixels(fm_image *img, int plane, int *stride)
{
    if (!img || !img->owned) {
        if (stride)
            *stride = 0;
        return NULL;
    }
    return (uint8_t *)fm_image_plane(img, plane, stride);
}

/* ---- decode ------------------------------------------------------------------------------------------------ */

static fmi_decode_fn decoder_for(fm_format f)
{
    switch (f) {
    case FM_FORMAT_JPEG: return fmi_jpeg_decode;
    case FM_FORMAT_JP2:
    case FM_FORMAT_J2K: return fmi_jp2_decode;
    case FM_FORMAT_PNG: return fmi_png_decode;
    case FM_FORMAT_PNM: return fmi_pnm_decode;
    default: return NULL;
    }
}

/* Shared front end of probe and decode: argument and byte-limit checks, format detection. */
static fm_status front(fm_ctx *ctx, const void *data, size_t len, fmi_decode_fn *fn)
{
    if (!data && len)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "image data is NULL");
    if (ctx && (int64_t)len > ctx->max_input_bytes)
        return fm_fail(ctx, FM_ERR_LIMIT, "image data is %zu bytes: above the limit of %lld", len,
                       (long long)ctx->max_input_bytes);
    if (len == 0)
        return fm_fail(ctx, FM_ERR_TRUNCATED, "image data is empty");
    fm_format f = fm_image_detect_format(data, len);
    *fn = decoder_for(f);
    if (!*fn) {
        if (is_signature_prefix(data, len))
            return fm_fail(ctx, FM_ERR_TRUNCATED, "image data ends inside the format signature (%zu bytes)", len);
        const uint8_t *p = data;
        return fm_fail(ctx, FM_ERR_FORMAT, "not a JPEG, JPEG 2000, PNG or PNM image (starts with %02x %02x %02x %02x)",
                       p[0], len > 1 ? p[1] : 0, len > 2 ? p[2] : 0, len > 3 ? p[3] : 0);
    }
    return FM_OK;
}

fm_status fm_image_probe(fm_ctx *ctx, const void *data, size_t len, fm_image_info *info)
{
    if (!info)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_probe: info is NULL");
    fmi_decode_fn fn;
    fm_status st = front(ctx, data, len, &fn);
    if (st != FM_OK)
        return st;
    fm_image_info tmp = {0};
    st = fn(ctx, data, len, FM_PIX_NONE, 1, &tmp, NULL);
    if (st == FM_OK)
        *info = tmp;
    return st;
}

fm_status fm_image_decode(fm_ctx *ctx, const void *data, size_t len, fm_pixfmt want, fm_image **out,
                          fm_image_info *info)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_decode: out is NULL");
    *out = NULL;
    if (want != FM_PIX_NONE && !fmi_is_packed(want))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_decode: want must be FM_PIX_NONE or a packed format, not %s",
                       fm_pixfmt_name(want));
    fmi_decode_fn fn;
    fm_status st = front(ctx, data, len, &fn);
    if (st != FM_OK)
        return st;
    fm_image_info tmp = {0};
    fm_image *im = NULL;
    st = fn(ctx, data, len, want, 0, &tmp, &im);
    if (st != FM_OK)
        return st;
    fm_pixfmt target = want;
    if (target == FM_PIX_NONE)
        target = im->fmt == FM_PIX_GRAY8 ? FM_PIX_GRAY8 : FM_PIX_RGB24;
    if (im->fmt != target) {
        fm_image *conv = NULL;
        st = fm_image_convert(ctx, im, target, &conv);
        fm_image_destroy(im);
        if (st != FM_OK)
            return st;
        im = conv;
    }
    *out = im;
    if (info)
        *info = tmp;
    return FM_OK;
}

fm_status fm_image_load(fm_ctx *ctx, const char *path, fm_pixfmt want, fm_image **out, fm_image_info *info)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_load: out is NULL");
    *out = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    fm_status st = fm_read_file(ctx, path, ctx ? ctx->max_input_bytes : (64LL << 20), &data, &len);
    if (st != FM_OK)
        return st;
    st = fm_image_decode(ctx, data, len, want, out, info);
    free(data);
    if (st != FM_OK && ctx) {
        /* prefix the message with the file name */
        char msg[FM_ERRMSG_CAP];
        snprintf(msg, sizeof msg, "%s", ctx->errmsg);
        fm_fail(ctx, st, "%s: %s", path, msg);
    }
    return st;
}

/* ---- helpers shared by the codecs ------------------------------------------------------------------------------ */

uint8_t *fmi_scale_table(unsigned maxval)
{
    if (maxval == 0 || maxval > 65535)
        return NULL;
    uint8_t *t = malloc((size_t)maxval + 1);
    if (!t)
        return NULL;
    for (uint32_t v = 0; v <= maxval; v++)
        t[v] = (uint8_t)((v * 255u + maxval / 2) / maxval);
    return t;
}

int fmi_buf_append(fmi_buf *b, const void *p, size_t n)
{
    if (b->failed)
        return 0;
    if (n > SIZE_MAX - b->len) {
        b->failed = 1;
        return 0;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n) {
            if (nc > SIZE_MAX / 2) {
                b->failed = 1;
                return 0;
            }
            nc *= 2;
        }
        uint8_t *nd = realloc(b->data, nc);
        if (!nd) {
            b->failed = 1;
            return 0;
        }
        b->data = nd;
        b->cap = nc;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

/* ---- encode ------------------------------------------------------------------------------------------------ */

fm_status fm_image_encode(fm_ctx *ctx, const fm_image *img, fm_format format, int quality, uint8_t *buf, size_t cap,
                          size_t *len)
{
    if (!img || !len)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_encode: img or len is NULL");
    if (!buf && cap)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_image_encode: buf is NULL but cap is %zu", cap);
    switch (format) {
    case FM_FORMAT_JPEG:
        if (quality < 1 || quality > 100)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "JPEG quality %d is not in 1..100", quality);
        break;
    case FM_FORMAT_JP2:
    case FM_FORMAT_J2K:
        if (quality < 0 || quality > 1000)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT,
                           "JPEG 2000 compression ratio %d is not in 0..1000 (0 = lossless)", quality);
        break;
    case FM_FORMAT_PNG:
    case FM_FORMAT_PNM: break;
    default: return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "cannot encode to format %d", (int)format);
    }
    /* the encoders take upright GRAY8, RGB24 or (PNG only) RGBA */
    fm_pixfmt want;
    if (img->fmt == FM_PIX_GRAY8)
        want = FM_PIX_GRAY8;
    else if ((img->fmt == FM_PIX_RGBA || img->fmt == FM_PIX_BGRA) && format == FM_FORMAT_PNG)
        want = FM_PIX_RGBA;
    else
        want = FM_PIX_RGB24;
    const fm_image *src = img;
    fm_image *tmp = NULL;
    fm_status st;
    if (img->fmt != want || img->rotation != 0) {
        st = fm_image_convert(ctx, img, want, &tmp);
        if (st != FM_OK)
            return st;
        src = tmp;
    }
    fmi_buf out = {0};
    switch (format) {
    case FM_FORMAT_JPEG: st = fmi_jpeg_encode(ctx, src, quality, &out); break;
    case FM_FORMAT_JP2:
    case FM_FORMAT_J2K: st = fmi_jp2_encode(ctx, src, format, quality, &out); break;
    case FM_FORMAT_PNG: st = fmi_png_encode(ctx, src, &out); break;
    default: st = fmi_pnm_encode(ctx, src, &out); break;
    }
    fm_image_destroy(tmp);
    if (st == FM_OK && out.failed)
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory while encoding %s", fm_format_name(format));
    if (st == FM_OK) {
        *len = out.len;
        if (out.len > cap)
            st = fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "encoded %s needs %zu bytes, buffer holds %zu",
                         fm_format_name(format), out.len, cap);
        else
            memcpy(buf, out.data, out.len);
    }
    free(out.data);
    return st;
}
