/* JPEG via libjpeg-turbo's TurboJPEG API.
 *
 * Debian 12 ships libjpeg-turbo 2.1.5, whose TurboJPEG has no tj3* functions; the 2.x API used here (tjInit*,
 * tjDecompressHeader3, tjDecompress2, tjCompress2) also exists in libjpeg-turbo 3. Every libjpeg warning (premature
 * end of data, corrupt entropy data, extraneous bytes) stops decoding (TJFLAG_STOPONWARNING) and fails the call, so
 * a partially decoded image is never returned. TJFLAG_LIMITSCANS refuses progressive files with > 500 scans (a
 * known denial-of-service pattern).
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
 * Huffman table"): this walk reports it as truncated instead. Malformed structure is left to libjpeg. */
static fm_status jpeg_walk_header(fm_ctx *ctx, const uint8_t *p, size_t n)
{
    size_t pos = 2; /* after SOI */
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
        pos += len;
        if (m == 0xDA) { /* SOS: entropy-coded data follows; it must not be empty */
            if (pos >= n)
                return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG data ends right after the scan header");
            return FM_OK;
        }
    }
}

fm_status fmi_jpeg_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                          fm_image_info *info, fm_image **out)
{
    if ((unsigned long)len != len)
        return fm_fail(ctx, FM_ERR_LIMIT, "JPEG data too large");
    fm_status wst = jpeg_walk_header(ctx, data, len);
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
    info->width = w;
    info->height = h;
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
