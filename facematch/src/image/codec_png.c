/* PNG via libpng 1.6, read from and written to memory.
 *
 * Errors longjmp back into png_run(), the only function that calls setjmp; everything it allocates lives in a
 * caller-owned state struct so nothing depends on non-volatile locals after the jump. Palette, low bit depth grey
 * and tRNS are expanded; 16-bit samples are mapped to 8 bits as round(v * 255 / 65535). The file is read up to
 * IEND (png_read_end), so a file cut anywhere, even after the last IDAT, fails. Gamma and colour profiles are
 * ignored (samples are returned as stored).
 */
#include "image_internal.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    /* input */
    const uint8_t *data;
    size_t len, pos;
    int header_only;
    /* outputs */
    int truncated;
    char msg[200];
    png_uint_32 w, h;
    int bit_depth, color_type, stored_channels, channels;
    int size_checked; /* 1 when fmi_check_size passed */
    fm_status size_status;
    fm_ctx *ctx;
    uint8_t *rows;    /* decoded rows, rowbytes each */
    size_t rowbytes;
    png_bytep *rowptrs;
} png_state;

static void png_err_cb(png_structp png, png_const_charp msg)
{
    png_state *s = png_get_error_ptr(png);
    if (s && !s->msg[0])
        snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void png_warn_cb(png_structp png, png_const_charp msg)
{
    FM_UNUSED(png);
    FM_UNUSED(msg); /* warnings concern ancillary data (ignored chunks); errors are what matter */
}

static void png_read_cb(png_structp png, png_bytep out, size_t n)
{
    png_state *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) {
        s->truncated = 1;
        png_error(png, "data ends early");
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

/* All libpng calls of a decode; returns 0 on success, 1 after a libpng error, 2 when the size check failed. */
static int png_run(png_structp png, png_infop pinfo, png_state *s)
{
    if (setjmp(png_jmpbuf(png)))
        return 1;
    png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu); /* our own limits apply below, with FM_ERR_LIMIT */
    png_set_read_fn(png, s, png_read_cb);
    png_read_info(png, pinfo);
    s->w = png_get_image_width(png, pinfo);
    s->h = png_get_image_height(png, pinfo);
    s->bit_depth = png_get_bit_depth(png, pinfo);
    s->color_type = png_get_color_type(png, pinfo);
    s->stored_channels = png_get_channels(png, pinfo);
    int has_trns = png_get_valid(png, pinfo, PNG_INFO_tRNS) != 0;
    if (s->color_type == PNG_COLOR_TYPE_PALETTE)
        s->stored_channels = has_trns ? 4 : 3;
    s->size_status = fmi_check_size(s->ctx, "PNG image", s->w, s->h);
    if (s->size_status != FM_OK)
        return 2;
    s->size_checked = 1;
    if (s->header_only)
        return 0;
    if (s->color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (s->color_type == PNG_COLOR_TYPE_GRAY && s->bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (has_trns)
        png_set_tRNS_to_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    s->channels = png_get_channels(png, pinfo);
    s->rowbytes = png_get_rowbytes(png, pinfo);
    size_t total;
    if (s->rowbytes < (size_t)s->w * (size_t)s->channels || fm_mul_size(s->rowbytes, s->h, &total))
        png_error(png, "row size overflow");
    s->rows = malloc(total);
    s->rowptrs = malloc(sizeof(png_bytep) * s->h);
    if (!s->rows || !s->rowptrs)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < s->h; y++)
        s->rowptrs[y] = s->rows + (size_t)y * s->rowbytes;
    png_read_image(png, s->rowptrs);
    png_read_end(png, NULL);
    return 0;
}

fm_status fmi_png_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                         fm_image_info *info, fm_image **out)
{
    FM_UNUSED(want);
    png_state s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.len = len;
    s.header_only = header_only;
    s.ctx = ctx;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_err_cb, png_warn_cb);
    png_infop pinfo = png ? png_create_info_struct(png) : NULL;
    if (!pinfo) {
        png_destroy_read_struct(&png, NULL, NULL);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "cannot create a libpng reader");
    }
    int r = png_run(png, pinfo, &s);
    png_destroy_read_struct(&png, &pinfo, NULL);
    fm_status st = FM_OK;
    if (r == 2) {
        st = s.size_status;
    } else if (r == 1) {
        if (s.truncated)
            st = fm_fail(ctx, FM_ERR_TRUNCATED, "PNG data ends early (after %zu of %zu bytes, %s)", s.pos, len,
                         s.size_checked ? "in the image data" : "in the header");
        else if (strstr(s.msg, "out of memory"))
            st = fm_fail(ctx, FM_ERR_NO_MEMORY, "PNG: %s", s.msg);
        else
            st = fm_fail(ctx, FM_ERR_CORRUPT, "PNG: %s", s.msg);
    }
    if (st == FM_OK) {
        info->format = FM_FORMAT_PNG;
        info->width = (int)s.w;
        info->height = (int)s.h;
        info->channels = s.stored_channels;
        info->bit_depth = s.bit_depth;
    }
    if (st != FM_OK || header_only) {
        free(s.rows);
        free(s.rowptrs);
        return st;
    }

    /* to GRAY8 / RGB24 / RGBA, 16-bit samples scaled */
    int ch = s.channels, w = (int)s.w, h = (int)s.h, wide = s.bit_depth == 16;
    fm_pixfmt pf = ch == 1 ? FM_PIX_GRAY8 : ch == 3 ? FM_PIX_RGB24 : FM_PIX_RGBA;
    fm_image *im;
    st = fmi_alloc(ctx, pf, w, h, 0, &im);
    uint8_t *lut = NULL;
    if (st == FM_OK && wide && !(lut = fmi_scale_table(65535))) {
        fm_image_destroy(im);
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    if (st == FM_OK) {
        for (int y = 0; y < h; y++) {
            const uint8_t *sp = s.rows + (size_t)y * s.rowbytes;
            uint8_t *dp = im->owned + (size_t)y * (size_t)im->strides[0];
            size_t n = (size_t)w * (size_t)ch;
            uint8_t tmp[4];
            if (ch == 2) { /* grey + alpha -> RGBA */
                for (int x = 0; x < w; x++, dp += 4) {
                    for (int k = 0; k < 2; k++, sp += wide ? 2 : 1)
                        tmp[k] = wide ? lut[(sp[0] << 8) | sp[1]] : sp[0];
                    dp[0] = dp[1] = dp[2] = tmp[0];
                    dp[3] = tmp[1];
                }
            } else if (wide) {
                for (size_t i = 0; i < n; i++)
                    dp[i] = lut[(sp[2 * i] << 8) | sp[2 * i + 1]];
            } else {
                memcpy(dp, sp, n);
            }
        }
        *out = im;
    }
    free(lut);
    free(s.rows);
    free(s.rowptrs);
    return st;
}

/* ---- encode ---------------------------------------------------------------------------------------------------- */

typedef struct {
    fmi_buf *out;
    char msg[200];
} png_wstate;

static void png_werr_cb(png_structp png, png_const_charp msg)
{
    png_wstate *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void png_write_cb(png_structp png, png_bytep p, size_t n)
{
    png_wstate *s = png_get_io_ptr(png);
    if (!fmi_buf_append(s->out, p, n))
        png_error(png, "out of memory");
}

static void png_flush_cb(png_structp png) { FM_UNUSED(png); }

static int png_wrun(png_structp png, png_infop pinfo, png_wstate *s, const fm_image *img)
{
    if (setjmp(png_jmpbuf(png)))
        return 1;
    int ct = img->fmt == FM_PIX_GRAY8 ? PNG_COLOR_TYPE_GRAY
             : img->fmt == FM_PIX_RGBA ? PNG_COLOR_TYPE_RGB_ALPHA
                                       : PNG_COLOR_TYPE_RGB;
    png_set_write_fn(png, s, png_write_cb, png_flush_cb);
    png_set_IHDR(png, pinfo, (png_uint_32)img->width, (png_uint_32)img->height, 8, ct, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_write_info(png, pinfo);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->planes[0] + (size_t)y * (size_t)img->strides[0]);
    png_write_end(png, pinfo);
    return 0;
}

fm_status fmi_png_encode(fm_ctx *ctx, const fm_image *img, fmi_buf *out)
{
    png_wstate s;
    memset(&s, 0, sizeof s);
    s.out = out;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, png_werr_cb, png_warn_cb);
    png_infop pinfo = png ? png_create_info_struct(png) : NULL;
    if (!pinfo) {
        png_destroy_write_struct(&png, NULL);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "cannot create a libpng writer");
    }
    int r = png_wrun(png, pinfo, &s, img);
    png_destroy_write_struct(&png, &pinfo);
    if (r)
        return fm_fail(ctx, out->failed ? FM_ERR_NO_MEMORY : FM_ERR_INTERNAL, "PNG encoding failed: %s", s.msg);
    return FM_OK;
}
