/* PGM/PPM (Netpbm): P2/P5 grey, P3/P6 colour, maxval 1..65535 mapped to 8 bits as round(v * 255 / maxval).
 *
 * Strict parsing: header fields are decimal numbers separated by whitespace and '#' comments (to end of line);
 * exactly one whitespace byte follows maxval in the binary formats; samples above maxval are corrupt. In the
 * ASCII formats (P2/P3) every sample must be followed by whitespace: a number that touches the end of the data
 * may have been cut, so it is reported as truncated. Bytes after the raster (a further image) are ignored.
 * P1/P4 (bitmaps) and P7 (PAM) are recognised but not supported.
 */
#include "image_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} cursor;

static int is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Skips whitespace and comments. */
static void skip_ws(cursor *c)
{
    while (c->pos < c->len) {
        uint8_t ch = c->p[c->pos];
        if (is_ws(ch)) {
            c->pos++;
        } else if (ch == '#') {
            while (c->pos < c->len && c->p[c->pos] != '\n' && c->p[c->pos] != '\r')
                c->pos++;
        } else {
            break;
        }
    }
}

/* Reads a decimal number followed by a whitespace byte (not consumed). Values above 2^32 saturate at 2^32.
 * Returns FM_OK, FM_ERR_TRUNCATED (data ends) or FM_ERR_CORRUPT (not a number). */
static fm_status read_uint(cursor *c, uint64_t *v)
{
    skip_ws(c);
    if (c->pos >= c->len)
        return FM_ERR_TRUNCATED;
    if (c->p[c->pos] < '0' || c->p[c->pos] > '9')
        return FM_ERR_CORRUPT;
    uint64_t x = 0;
    while (c->pos < c->len && c->p[c->pos] >= '0' && c->p[c->pos] <= '9') {
        x = x * 10 + (uint64_t)(c->p[c->pos++] - '0');
        if (x > (1ull << 32))
            x = 1ull << 32;
    }
    if (c->pos >= c->len)
        return FM_ERR_TRUNCATED;
    if (!is_ws(c->p[c->pos]) && c->p[c->pos] != '#')
        return FM_ERR_CORRUPT;
    *v = x;
    return FM_OK;
}

static fm_status header_fail(fm_ctx *ctx, fm_status st, const char *field)
{
    if (st == FM_ERR_TRUNCATED)
        return fm_fail(ctx, st, "PNM data ends in the header (reading %s)", field);
    return fm_fail(ctx, st, "PNM header: %s is not a decimal number", field);
}

fm_status fmi_pnm_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                         fm_image_info *info, fm_image **out)
{
    FM_UNUSED(want);
    char type = (char)data[1];
    if (type != '2' && type != '3' && type != '5' && type != '6')
        return fm_fail(ctx, FM_ERR_UNSUPPORTED, "PNM type P%c (%s) is not supported: only P2, P3, P5, P6", type,
                       type == '7' ? "PAM" : "bitmap");
    cursor c = {data, len, 2};
    uint64_t w, h, maxval;
    fm_status st;
    if ((st = read_uint(&c, &w)) != FM_OK)
        return header_fail(ctx, st, "width");
    if ((st = read_uint(&c, &h)) != FM_OK)
        return header_fail(ctx, st, "height");
    if ((st = read_uint(&c, &maxval)) != FM_OK)
        return header_fail(ctx, st, "maxval");
    if (maxval < 1 || maxval > 65535)
        return fm_fail(ctx, FM_ERR_CORRUPT, "PNM maxval %llu is not in 1..65535", (unsigned long long)maxval);
    if ((st = fmi_check_size(ctx, "PNM image", (int64_t)w, (int64_t)h)) != FM_OK)
        return st;
    int ch = (type == '3' || type == '6') ? 3 : 1;
    int bits = 0;
    while ((1ull << bits) <= maxval)
        bits++;
    info->format = FM_FORMAT_PNM;
    info->width = (int)w;
    info->height = (int)h;
    info->channels = ch;
    info->bit_depth = bits;
    if (header_only)
        return FM_OK;

    size_t nsamp = (size_t)w * (size_t)h * (size_t)ch; /* <= max pixels * 3: no overflow (limits checked) */
    fm_image *im;
    if ((st = fmi_alloc(ctx, ch == 1 ? FM_PIX_GRAY8 : FM_PIX_RGB24, (int)w, (int)h, 0, &im)) != FM_OK)
        return st;
    uint8_t *lut = NULL;
    if (maxval != 255 && !(lut = fmi_scale_table((unsigned)maxval))) {
        fm_image_destroy(im);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    uint8_t *dst = im->owned; /* owned packed images have stride == w * ch */
    if (type == '5' || type == '6') {
        c.pos++; /* the single whitespace byte after maxval (read_uint guaranteed one is there) */
        if (c.p[c.pos - 1] == '#') {
            st = fm_fail(ctx, FM_ERR_CORRUPT, "PNM header: a comment follows maxval (must be one whitespace byte)");
            goto fail;
        }
        int wide = maxval > 255;
        size_t need = nsamp * (wide ? 2u : 1u), have = len - c.pos;
        if (have < need) {
            st = fm_fail(ctx, FM_ERR_TRUNCATED, "PNM raster is %zu bytes, expected %zu", have, need);
            goto fail;
        }
        const uint8_t *s = c.p + c.pos;
        for (size_t i = 0; i < nsamp; i++) {
            unsigned v = wide ? ((unsigned)s[2 * i] << 8) | s[2 * i + 1] : s[i];
            if (v > maxval) {
                st = fm_fail(ctx, FM_ERR_CORRUPT, "PNM sample %u at index %zu is above maxval %u", v, i,
                             (unsigned)maxval);
                goto fail;
            }
            dst[i] = lut ? lut[v] : (uint8_t)v;
        }
    } else {
        for (size_t i = 0; i < nsamp; i++) {
            uint64_t v;
            if ((st = read_uint(&c, &v)) != FM_OK) {
                if (st == FM_ERR_TRUNCATED)
                    st = fm_fail(ctx, st, "PNM data ends after %zu of %zu samples", i, nsamp);
                else
                    st = fm_fail(ctx, st, "PNM sample %zu is not a decimal number", i);
                goto fail;
            }
            if (v > maxval) {
                st = fm_fail(ctx, FM_ERR_CORRUPT, "PNM sample %llu at index %zu is above maxval %u",
                             (unsigned long long)v, i, (unsigned)maxval);
                goto fail;
            }
            dst[i] = lut ? lut[v] : (uint8_t)v;
        }
    }
    free(lut);
    *out = im;
    return FM_OK;
fail:
    free(lut);
    fm_image_destroy(im);
    return st;
}

fm_status fmi_pnm_encode(fm_ctx *ctx, const fm_image *img, fmi_buf *out)
{
    FM_UNUSED(ctx);
    int gray = img->fmt == FM_PIX_GRAY8;
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "P%c\n%d %d\n255\n", gray ? '5' : '6', img->width, img->height);
    fmi_buf_append(out, hdr, (size_t)n);
    size_t row = (size_t)img->width * (gray ? 1u : 3u);
    for (int y = 0; y < img->height; y++)
        fmi_buf_append(out, img->planes[0] + (size_t)y * (size_t)img->strides[0], row);
    return FM_OK;
}
