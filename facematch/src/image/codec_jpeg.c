/* JPEG via libjpeg-turbo's TurboJPEG API.
 *
 * Debian 12 ships libjpeg-turbo 2.1.5, whose TurboJPEG has no tj3* functions; the 2.x API used here (tjInit*,
 * tjDecompressHeader3, tjDecompress2, tjCompress2) also exists in libjpeg-turbo 3. Every libjpeg warning (premature
 * end of data, corrupt entropy data, extraneous bytes) stops decoding (TJFLAG_STOPONWARNING) and fails the call, so
 * a partially decoded image is never returned. TJFLAG_LIMITSCANS refuses progressive files with > 500 scans (a
 * known denial-of-service pattern). The EXIF Orientation tag is read by a strict bounded TIFF reader (below) and
 * applied after decoding (fmi_orient), unless the ctx's FM_PARAM_EXIF_ORIENTATION is 0.
 */
#include "image_internal.h"

#include <string.h>
#include <turbojpeg.h>

/* Maps a TurboJPEG error message to a status. */
static fm_status jpeg_status(const char *msg)
{
    static const char *const truncated[] = {"Premature end", "premature end", "Unexpected end", "Empty input",
                                            "too small", "contains no image"};
    static const char *const unsupported[] = {"Unsupported JPEG data precision", "Unsupported color conversion",
                                              "Unsupported marker type", "not supported", "Requested features are"};
    for (size_t i = 0; i < sizeof truncated / sizeof truncated[0]; i++)
        if (strstr(msg, truncated[i]))
            return FM_ERR_TRUNCATED;
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (strstr(msg, unsupported[i]))
            return FM_ERR_UNSUPPORTED;
    return FM_ERR_CORRUPT;
}

static fm_status jpeg_fail(fm_ctx *ctx, tjhandle tj, const char *what)
{
    const char *msg = tjGetErrorStr2(tj);
    if (!msg || !*msg)
        msg = "unknown error";
    return fm_fail(ctx, jpeg_status(msg), "JPEG %s: %s", what, msg);
}

/* Walks the marker segments from SOI to the end of the first SOS header. libjpeg's memory source pads cut data
 * with a fake EOI, so a header cut short shows up as a confusing parse error ("missing SOS marker", "Bogus
 * Huffman table"): this walk reports it as truncated instead. Malformed structure is left to libjpeg.
 * exif/exif_len (may be NULL): the TIFF data of the first complete APP1 segment that starts with "Exif\0\0" before
 * the scan (NULL / 0 when there is none). */
static fm_status jpeg_walk_header(fm_ctx *ctx, const uint8_t *p, size_t n, const uint8_t **exif, size_t *exif_len)
{
    size_t pos = 2; /* after SOI */
    if (exif)
        *exif = NULL, *exif_len = 0;
    for (;;) {
        if (pos >= n)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG data ends in the header (at byte %zu)", pos);
        if (p[pos] != 0xFF)
            return FM_OK; /* not a marker: libjpeg will say what is wrong */
        while (pos < n && p[pos] == 0xFF) /* fill bytes */
            pos++;
        if (pos >= n)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG data ends in the header (at byte %zu)", pos);
        uint8_t m = p[pos++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) /* TEM, RSTn: no length */
            continue;
        if (m == 0xD9 || m == 0xD8 || m == 0x00)
            return FM_OK; /* EOI/SOI/stuffing before any scan: malformed, libjpeg reports it */
        if (n - pos < 2)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG data ends inside marker FF%02X (at byte %zu)", m, pos - 2);
        size_t len = ((size_t)p[pos] << 8) | p[pos + 1];
        if (len < 2)
            return FM_OK;
        if (n - pos < len)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG data ends inside marker FF%02X (at byte %zu)", m, pos - 2);
        if (m == 0xE1 && exif && !*exif && len >= 2 + 6 && memcmp(p + pos + 2, "Exif\0\0", 6) == 0) {
            *exif = p + pos + 8;
            *exif_len = len - 8;
        }
        pos += len;
        if (m == 0xDA) { /* SOS: entropy-coded data follows; it must not be empty */
            if (pos >= n)
                return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG data ends right after the scan header");
            return FM_OK;
        }
    }
}

/* ---- EXIF orientation: a strict, bounded reader of the one tag we need --------------------------------------
 * The Exif APP1 payload is a TIFF file (TIFF 6.0 §2, Exif 2.32 §4.5.2): byte order "II" (little-endian) or "MM"
 * (big-endian), the number 42, the offset of IFD0 (from the start of the TIFF data); an IFD is a 2-byte entry count,
 * then 12-byte entries (tag, type, count, value-or-offset) in the file's byte order. Orientation is tag 0x0112, type
 * SHORT (3), count 1, its value in the first two bytes of the value field. Only IFD0 is read: no offset is followed
 * except IFD0's own, every read is checked against the segment's length (< 64 KiB), nothing recurses. */
#define EXIF_TAG_ORIENTATION 0x0112u
#define TIFF_SHORT 3u

static unsigned rd16(const uint8_t *p, int be) { return be ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]); }
static uint32_t rd32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

fm_status fmi_exif_orientation(fm_ctx *ctx, const uint8_t *t, size_t n, int *orientation)
{
    *orientation = 1;
    if (n < 8)
        return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: TIFF header cut short (%zu bytes)", n);
    int be;
    if (t[0] == 'I' && t[1] == 'I')
        be = 0;
    else if (t[0] == 'M' && t[1] == 'M')
        be = 1;
    else
        return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: byte order is %02X %02X, not II or MM", t[0], t[1]);
    if (rd16(t + 2, be) != 42)
        return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: TIFF magic is %u, not 42", rd16(t + 2, be));
    uint32_t off = rd32(t + 4, be);
    if (off < 8 || off > n || n - off < 2)
        return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: IFD0 offset %lu is outside the %zu-byte segment",
                       (unsigned long)off, n);
    size_t count = rd16(t + off, be);
    if (count > (n - off - 2) / 12)
        return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: IFD0 has %zu entries, the segment holds %zu", count,
                       (n - off - 2) / 12);
    int found = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = t + off + 2 + 12 * i;
        if (rd16(e, be) != EXIF_TAG_ORIENTATION)
            continue;
        unsigned type = rd16(e + 2, be);
        uint32_t cnt = rd32(e + 4, be);
        if (type != TIFF_SHORT || cnt != 1)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: Orientation is type %u count %lu, not one SHORT", type,
                           (unsigned long)cnt);
        unsigned v = rd16(e + 8, be);
        if (v < 1 || v > 8)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: Orientation %u is not 1..8", v);
        if (found && (int)v != *orientation)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG Exif: two Orientation tags (%d and %u)", *orientation, v);
        *orientation = (int)v;
        found = 1;
    }
    return FM_OK;
}

int fm_image_exif_orientation(const void *data, size_t len)
{
    const uint8_t *p = data, *exif = NULL;
    size_t exif_len = 0;
    int o = 0;
    if (!p || fm_image_detect_format(p, len) != FM_FORMAT_JPEG || jpeg_walk_header(NULL, p, len, &exif, &exif_len))
        return 0;
    if (!exif)
        return 1;
    return fmi_exif_orientation(NULL, exif, exif_len, &o) == FM_OK ? o : 0;
}

fm_status fmi_jpeg_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                          fm_image_info *info, fm_image **out)
{
    if ((unsigned long)len != len)
        return fm_fail(ctx, FM_ERR_LIMIT, "JPEG data too large");
    const uint8_t *exif = NULL;
    size_t exif_len = 0;
    int orientation = 1;
    fm_status wst = jpeg_walk_header(ctx, data, len, &exif, &exif_len);
    if (wst == FM_OK && exif && (!ctx || ctx->exif_orientation))
        wst = fmi_exif_orientation(ctx, exif, exif_len, &orientation);
    if (wst != FM_OK)
        return wst;
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "cannot create a TurboJPEG decompressor");
    int w = 0, h = 0, subsamp = 0, cs = 0;
    fm_status st = FM_OK;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        st = jpeg_fail(ctx, tj, "header");
        goto done;
    }
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        st = fm_fail(ctx, FM_ERR_UNSUPPORTED, "JPEG in CMYK/YCCK colour is not supported");
        goto done;
    }
    if ((st = fmi_check_size(ctx, "JPEG image", w, h)) != FM_OK)
        goto done;
    info->format = FM_FORMAT_JPEG;
    info->width = orientation >= 5 ? h : w; /* 5..8 swap the axes */
    info->height = orientation >= 5 ? w : h;
    info->channels = cs == TJCS_GRAY ? 1 : 3;
    info->bit_depth = 8;
    if (header_only)
        goto done;

    fm_pixfmt pf = want;
    if (pf == FM_PIX_NONE)
        pf = cs == TJCS_GRAY ? FM_PIX_GRAY8 : FM_PIX_RGB24;
    int tjpf;
    switch (pf) {
    case FM_PIX_GRAY8: tjpf = TJPF_GRAY; break;
    case FM_PIX_BGR24: tjpf = TJPF_BGR; break;
    case FM_PIX_RGBA: tjpf = TJPF_RGBA; break;
    case FM_PIX_BGRA: tjpf = TJPF_BGRA; break;
    default: pf = FM_PIX_RGB24, tjpf = TJPF_RGB; break;
    }
    fm_image *im;
    if ((st = fmi_alloc(ctx, pf, w, h, 0, &im)) != FM_OK)
        goto done;
    if (tjDecompress2(tj, data, (unsigned long)len, im->owned, w, im->strides[0], h, tjpf,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        /* a warning is an error here: with STOPONWARNING the output is incomplete */
        st = jpeg_fail(ctx, tj, "data");
        fm_image_destroy(im);
        goto done;
    }
    if (orientation != 1) {
        fm_image *up = NULL;
        st = fmi_orient(ctx, im, orientation, &up);
        fm_image_destroy(im);
        if (st != FM_OK)
            goto done;
        im = up;
    }
    *out = im;
done:
    tjDestroy(tj);
    return st;
}

fm_status fmi_jpeg_encode(fm_ctx *ctx, const fm_image *img, int quality, fmi_buf *out)
{
    tjhandle tj = tjInitCompress();
    if (!tj)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "cannot create a TurboJPEG compressor");
    int gray = img->fmt == FM_PIX_GRAY8;
    int samp = gray ? TJSAMP_GRAY : quality >= 90 ? TJSAMP_444 : TJSAMP_420;
    unsigned char *jb = NULL;
    unsigned long jlen = 0;
    fm_status st = FM_OK;
    if (tjCompress2(tj, img->planes[0], img->width, img->strides[0], img->height, gray ? TJPF_GRAY : TJPF_RGB, &jb,
                    &jlen, samp, quality, 0) != 0)
        st = fm_fail(ctx, FM_ERR_INTERNAL, "JPEG encoding failed: %s", tjGetErrorStr2(tj));
    else
        fmi_buf_append(out, jb, jlen);
    tjFree(jb);
    tjDestroy(tj);
    return st;
}
