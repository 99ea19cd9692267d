/* JPEG 2000 via OpenJPEG 2.5: JP2 files and raw J2K codestreams, read from and written to memory.
 *
 * Before OpenJPEG sees the bytes, our own walker checks the container and codestream structure: JP2 box lengths,
 * the main header's marker segments, the SIZ fields (size, tiles, components: limits are enforced here, before
 * OpenJPEG allocates anything), and the chain of tile-parts up to the EOC marker. A codestream that ends before its
 * EOC marker is truncated, even if OpenJPEG could decode part of it. OpenJPEG then decodes in strict mode
 * (opj_decoder_set_strict_mode), and every error it reports fails the call.
 *
 * Samples of any precision 1..16, signed or not, map to 8 bits as round(v * 255 / (2^prec - 1)) after shifting
 * signed samples by 2^(prec-1). Subsampled components are upsampled by replication on the reference grid. sYCC
 * (flagged in the JP2 colr box, or guessed for 3-component images whose 2nd/3rd components are subsampled, as
 * opj_decompress does) is converted with the BT.601 full-range matrix. ICC profiles are ignored.
 */
#include "image_internal.h"

#include <openjpeg.h>
#include <stdlib.h>
#include <string.h>

/* OpenJPEG allocates per-tile state while reading the main header: a 1x1-pixel tile grid over a modest image is a
 * denial of service. Real files use one tile or tiles of 64x64 and up; 4096 tiles cover 16 Mpixel at 64x64. */
#define MAX_TILES 4096
#define MAX_COMPONENTS 4

/* ---- structure walker -------------------------------------------------------------------------------------- */

static uint32_t be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static uint32_t be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

typedef struct {
    uint32_t xsiz, ysiz, x0, y0, xt, yt, xt0, yt0;
    uint32_t ncomp;
    uint32_t prec[MAX_COMPONENTS], sgnd[MAX_COMPONENTS], dx[MAX_COMPONENTS], dy[MAX_COMPONENTS];
} siz_info;

/* Validates a codestream's markers up to EOC and reads SIZ. Fails with a message on ctx. */
static fm_status walk_codestream(fm_ctx *ctx, const uint8_t *p, size_t n, siz_info *siz)
{
    if (n < 2)
        return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG 2000 codestream ends before its SOC marker");
    if (be16(p) != 0xFF4F)
        return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 codestream does not start with SOC (FF4F)");
    size_t pos = 2;
    int have_siz = 0;
    /* main header: marker segments with a length, until the first SOT */
    for (;;) {
        if (n - pos < 4)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG 2000 codestream ends in the main header (at byte %zu)", pos);
        uint32_t m = be16(p + pos), l = be16(p + pos + 2);
        if (m == 0xFF90)
            break;
        if ((m & 0xFF00) != 0xFF00 || m < 0xFF30)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 main header: %04x at byte %zu is not a marker", m, pos);
        if (m == 0xFFD9)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 codestream has no tile-part (EOC in the main header)");
        if (l < 2)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 marker %04x has a bad length %u", m, l);
        if (n - pos - 2 < l)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG 2000 codestream ends inside marker %04x (at byte %zu)", m, pos);
        if (m == 0xFF51) { /* SIZ */
            const uint8_t *s = p + pos + 4;
            if (have_siz || pos != 2)
                return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 SIZ marker is not the first segment");
            if (l < 41)
                return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 SIZ segment is too short (%u bytes)", l);
            siz->xsiz = be32(s + 2), siz->ysiz = be32(s + 6), siz->x0 = be32(s + 10), siz->y0 = be32(s + 14);
            siz->xt = be32(s + 18), siz->yt = be32(s + 22), siz->xt0 = be32(s + 26), siz->yt0 = be32(s + 30);
            uint32_t nc = be16(s + 34);
            if (nc < 1 || l != 38 + 3 * nc)
                return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 SIZ: %u components do not match its length %u", nc, l);
            if (siz->xsiz <= siz->x0 || siz->ysiz <= siz->y0)
                return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 SIZ: empty image area");
            if (siz->xt == 0 || siz->yt == 0 || siz->xt0 > siz->x0 || siz->yt0 > siz->y0 ||
                (uint64_t)siz->xt0 + siz->xt <= siz->x0 || (uint64_t)siz->yt0 + siz->yt <= siz->y0)
                return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 SIZ: inconsistent tile grid");
            fm_status st = fmi_check_size(ctx, "JPEG 2000 image", (int64_t)siz->xsiz - siz->x0,
                                          (int64_t)siz->ysiz - siz->y0);
            if (st != FM_OK)
                return st;
            uint64_t tw = ((uint64_t)siz->xsiz - siz->xt0 + siz->xt - 1) / siz->xt;
            uint64_t th = ((uint64_t)siz->ysiz - siz->yt0 + siz->yt - 1) / siz->yt;
            if (tw * th > MAX_TILES)
                return fm_fail(ctx, FM_ERR_LIMIT, "JPEG 2000 image has %llu tiles: above the limit of %d",
                               (unsigned long long)(tw * th), MAX_TILES);
            if (nc > MAX_COMPONENTS)
                return fm_fail(ctx, FM_ERR_UNSUPPORTED, "JPEG 2000 image has %u components: at most %d supported",
                               nc, MAX_COMPONENTS);
            siz->ncomp = nc;
            for (uint32_t i = 0; i < nc; i++) {
                uint32_t ss = s[36 + 3 * i];
                siz->prec[i] = (ss & 0x7F) + 1;
                siz->sgnd[i] = ss >> 7;
                siz->dx[i] = s[37 + 3 * i];
                siz->dy[i] = s[38 + 3 * i];
                if (siz->dx[i] == 0 || siz->dy[i] == 0)
                    return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 SIZ: component %u has a zero subsampling", i);
                if (siz->prec[i] > 16)
                    return fm_fail(ctx, FM_ERR_UNSUPPORTED, "JPEG 2000 component %u has %u bits: at most 16 supported",
                                   i, siz->prec[i]);
            }
            have_siz = 1;
        }
        pos += 2 + l;
    }
    if (!have_siz)
        return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 codestream has no SIZ marker");
    /* tile-parts: SOT with Psot = length of the whole tile-part (0 = up to EOC), then EOC */
    for (;;) {
        if (n - pos < 2)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG 2000 codestream ends before its EOC marker (at byte %zu)", pos);
        uint32_t m = be16(p + pos);
        if (m == 0xFFD9)
            return FM_OK;
        if (m != 0xFF90)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000: expected a tile-part (SOT) or EOC at byte %zu, found %04x",
                           pos, m);
        if (n - pos < 12)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG 2000 codestream ends inside an SOT marker (at byte %zu)", pos);
        if (be16(p + pos + 2) != 10)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 SOT marker has length %u (must be 10)", be16(p + pos + 2));
        uint32_t psot = be32(p + pos + 6);
        if (psot == 0) { /* last tile-part: runs up to the EOC that ends the data */
            if (n - pos < 16 || be16(p + n - 2) != 0xFFD9)
                return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG 2000 codestream does not end with EOC (FFD9)");
            return FM_OK;
        }
        if (psot < 14)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 tile-part length %u is too small", psot);
        if (n - pos < psot)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JPEG 2000 tile-part at byte %zu needs %u bytes, %zu left", pos,
                           psot, n - pos);
        pos += psot;
    }
}

/* Walks JP2 boxes to the contiguous codestream box and validates it. */
static fm_status walk_jp2(fm_ctx *ctx, const uint8_t *p, size_t n, siz_info *siz)
{
    size_t pos = 0;
    int have_ihdr_super = 0;
    while (pos < n) {
        if (n - pos < 8)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JP2 data ends inside a box header (at byte %zu)", pos);
        uint64_t lbox = be32(p + pos);
        uint32_t tbox = be32(p + pos + 4);
        size_t hdr = 8;
        if (lbox == 1) {
            if (n - pos < 16)
                return fm_fail(ctx, FM_ERR_TRUNCATED, "JP2 data ends inside a box header (at byte %zu)", pos);
            lbox = ((uint64_t)be32(p + pos + 8) << 32) | be32(p + pos + 12);
            hdr = 16;
        } else if (lbox == 0) {
            lbox = n - pos; /* the box runs to the end of the data */
        }
        if (lbox < hdr)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JP2 box at byte %zu has a bad length %llu", pos,
                           (unsigned long long)lbox);
        if (lbox > n - pos)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "JP2 box '%c%c%c%c' at byte %zu needs %llu bytes, %zu left",
                           (char)p[pos + 4], (char)p[pos + 5], (char)p[pos + 6], (char)p[pos + 7], pos,
                           (unsigned long long)lbox, n - pos);
        if (tbox == 0x6A703268) /* jp2h */
            have_ihdr_super = 1;
        if (tbox == 0x6A703263) { /* jp2c */
            if (!have_ihdr_super)
                return fm_fail(ctx, FM_ERR_CORRUPT, "JP2 codestream box comes before the header box (jp2h)");
            return walk_codestream(ctx, p + pos + hdr, (size_t)lbox - hdr, siz);
        }
        pos += (size_t)lbox;
    }
    return fm_fail(ctx, FM_ERR_TRUNCATED, "JP2 data ends before the codestream box (jp2c)");
}

/* ---- OpenJPEG glue ------------------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    char err[256];
    char warn[256];
} jp2_src;

static void on_error(const char *msg, void *user)
{
    jp2_src *s = user;
    if (!s->err[0]) {
        snprintf(s->err, sizeof s->err, "%s", msg);
        size_t n = strlen(s->err);
        while (n && (s->err[n - 1] == '\n' || s->err[n - 1] == ' '))
            s->err[--n] = '\0';
    }
}

static void on_warning(const char *msg, void *user)
{
    jp2_src *s = user;
    if (!s->warn[0])
        snprintf(s->warn, sizeof s->warn, "%s", msg);
}

static void on_info(const char *msg, void *user)
{
    FM_UNUSED(msg);
    FM_UNUSED(user);
}

static OPJ_SIZE_T src_read(void *buf, OPJ_SIZE_T n, void *user)
{
    jp2_src *s = user;
    size_t left = s->len - s->pos;
    if (left == 0)
        return (OPJ_SIZE_T)-1;
    if (n > left)
        n = left;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return n;
}

static OPJ_OFF_T src_skip(OPJ_OFF_T n, void *user)
{
    jp2_src *s = user;
    if (n < 0) {
        if ((size_t)-n > s->pos)
            return -1;
        s->pos -= (size_t)-n;
        return n;
    }
    size_t left = s->len - s->pos;
    if (left == 0)
        return -1;
    if ((uint64_t)n > left)
        n = (OPJ_OFF_T)left;
    s->pos += (size_t)n;
    return n;
}

static OPJ_BOOL src_seek(OPJ_OFF_T off, void *user)
{
    jp2_src *s = user;
    if (off < 0 || (uint64_t)off > s->len)
        return OPJ_FALSE;
    s->pos = (size_t)off;
    return OPJ_TRUE;
}

/* Writes the decoded components as GRAY8 / RGB24 / RGBA. */
static fm_status jp2_output(fm_ctx *ctx, opj_image_t *img, fm_image **out)
{
    const uint32_t nc = img->numcomps;
    opj_image_comp_t *c0 = &img->comps[0];
    const int w = (int)c0->w, h = (int)c0->h;
    for (uint32_t i = 0; i < nc; i++)
        if (!img->comps[i].data || img->comps[i].w == 0 || img->comps[i].h == 0)
            return fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 component %u was not decoded", i);
    fm_status st = fmi_check_size(ctx, "JPEG 2000 image", w, h);
    if (st != FM_OK)
        return st;
    int ycc = img->color_space == OPJ_CLRSPC_SYCC;
    if (nc >= 3 && img->color_space == OPJ_CLRSPC_UNSPECIFIED &&
        (img->comps[1].dx > c0->dx || img->comps[2].dx > c0->dx || img->comps[1].dy > c0->dy ||
         img->comps[2].dy > c0->dy))
        ycc = 1;
    if (img->color_space == OPJ_CLRSPC_CMYK || img->color_space == OPJ_CLRSPC_EYCC)
        return fm_fail(ctx, FM_ERR_UNSUPPORTED, "JPEG 2000 colour space %s is not supported",
                       img->color_space == OPJ_CLRSPC_CMYK ? "CMYK" : "e-YCC");
    fm_pixfmt pf = nc == 1 ? FM_PIX_GRAY8 : nc == 3 ? FM_PIX_RGB24 : FM_PIX_RGBA;
    int bpp = fm_pixfmt_bpp(pf);
    /* channel c of the output comes from component src[c] */
    uint32_t src[4] = {0, 1, 2, 3};
    if (nc == 2)
        src[0] = src[1] = src[2] = 0, src[3] = 1;
    int nout = bpp;

    fm_image *im = NULL;
    if ((st = fmi_alloc(ctx, pf, w, h, 0, &im)) != FM_OK)
        return st;
    uint8_t *luts[4] = {0};
    int32_t *xmap = malloc(sizeof(int32_t) * (size_t)w * (size_t)nout);
    if (!xmap) {
        fm_image_destroy(im);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    for (int c = 0; c < nout; c++) {
        opj_image_comp_t *k = &img->comps[src[c]];
        luts[c] = fmi_scale_table((1u << k->prec) - 1);
        if (!luts[c]) {
            st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        for (int x = 0; x < w; x++) {
            uint64_t gx = ((uint64_t)c0->x0 + (uint64_t)x) * c0->dx; /* reference grid */
            int64_t kx = (int64_t)(gx / k->dx) - (int64_t)k->x0;
            xmap[(size_t)c * (size_t)w + (size_t)x] = (int32_t)(kx < 0 ? 0 : kx >= (int64_t)k->w ? (int64_t)k->w - 1 : kx);
        }
    }
    for (int y = 0; y < h; y++) {
        uint8_t *d = im->owned + (size_t)y * (size_t)im->strides[0];
        for (int c = 0; c < nout; c++) {
            opj_image_comp_t *k = &img->comps[src[c]];
            uint64_t gy = ((uint64_t)c0->y0 + (uint64_t)y) * c0->dy;
            int64_t ky = (int64_t)(gy / k->dy) - (int64_t)k->y0;
            ky = ky < 0 ? 0 : ky >= (int64_t)k->h ? (int64_t)k->h - 1 : ky;
            const int32_t *row = k->data + (size_t)ky * k->w;
            const int32_t *xm = xmap + (size_t)c * (size_t)w;
            const uint8_t *lut = luts[c];
            const int32_t off = k->sgnd ? (int32_t)(1u << (k->prec - 1)) : 0, maxv = (int32_t)((1u << k->prec) - 1);
            uint8_t *dc = d + c;
            if (k->w == c0->w && k->dx == c0->dx && k->x0 == c0->x0 && k->prec == 8 && !k->sgnd) {
                /* common case (full-resolution 8-bit unsigned component): no index map, no table */
                for (int x = 0; x < w; x++, dc += bpp) {
                    int32_t v = row[x];
                    *dc = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
                continue;
            }
            for (int x = 0; x < w; x++) {
                int32_t v = row[xm[x]] + off;
                v = v < 0 ? 0 : v > maxv ? maxv : v;
                d[(size_t)x * (size_t)bpp + (size_t)c] = lut[v];
            }
        }
        if (ycc && nc >= 3) { /* sYCC -> RGB, BT.601 full range */
            for (int x = 0; x < w; x++) {
                uint8_t *px = d + (size_t)x * (size_t)bpp;
                double yy = px[0], cb = px[1] - 128.0, cr = px[2] - 128.0;
                double r = yy + 1.402 * cr, g = yy - 0.344136 * cb - 0.714136 * cr, b = yy + 1.772 * cb;
                px[0] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : (int)(r + 0.5));
                px[1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : (int)(g + 0.5));
                px[2] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : (int)(b + 0.5));
            }
        }
    }
    *out = im;
    im = NULL;
done:
    for (int c = 0; c < 4; c++)
        free(luts[c]);
    free(xmap);
    fm_image_destroy(im);
    return st;
}

static fm_status opj_fail(fm_ctx *ctx, const jp2_src *s, const char *what)
{
    const char *m = s->err[0] ? s->err : "no detail";
    fm_status st = FM_ERR_CORRUPT;
    if (strstr(m, "too short") || strstr(m, "end of") || strstr(m, "truncated") || strstr(m, "Truncated"))
        st = FM_ERR_TRUNCATED;
    else if (strstr(m, "memory") || strstr(m, "allocate"))
        st = FM_ERR_NO_MEMORY;
    return fm_fail(ctx, st, "JPEG 2000 %s: %s", what, m);
}

fm_status fmi_jp2_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                         fm_image_info *info, fm_image **out)
{
    FM_UNUSED(want);
    fm_format fmt = fm_image_detect_format(data, len);
    siz_info siz;
    memset(&siz, 0, sizeof siz);
    fm_status st = fmt == FM_FORMAT_JP2 ? walk_jp2(ctx, data, len, &siz) : walk_codestream(ctx, data, len, &siz);
    if (st != FM_OK)
        return st;

    jp2_src s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.len = len;
    opj_stream_t *stream = opj_stream_create(len < 65536 ? len : 65536, OPJ_TRUE);
    opj_codec_t *codec = opj_create_decompress(fmt == FM_FORMAT_JP2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_image_t *img = NULL;
    if (!stream || !codec) {
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "cannot create an OpenJPEG decoder");
        goto done;
    }
    opj_stream_set_user_data(stream, &s, NULL);
    opj_stream_set_user_data_length(stream, len);
    opj_stream_set_read_function(stream, src_read);
    opj_stream_set_skip_function(stream, src_skip);
    opj_stream_set_seek_function(stream, src_seek);
    opj_set_error_handler(codec, on_error, &s);
    opj_set_warning_handler(codec, on_warning, &s);
    opj_set_info_handler(codec, on_info, &s);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec, &params)) {
        st = opj_fail(ctx, &s, "decoder set-up");
        goto done;
    }
    opj_decoder_set_strict_mode(codec, OPJ_TRUE);
    if (ctx && ctx->threads > 1)
        opj_codec_set_threads(codec, (int)ctx->threads);
    if (!opj_read_header(stream, codec, &img) || !img) {
        st = opj_fail(ctx, &s, "header");
        goto done;
    }
    if (img->numcomps < 1 || img->numcomps > MAX_COMPONENTS || img->x1 <= img->x0 || img->y1 <= img->y0) {
        st = fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 header: bad image geometry or %u components", img->numcomps);
        goto done;
    }
    if ((st = fmi_check_size(ctx, "JPEG 2000 image", (int64_t)img->x1 - img->x0, (int64_t)img->y1 - img->y0)) != FM_OK)
        goto done;
    for (uint32_t i = 0; i < img->numcomps; i++)
        if (img->comps[i].prec < 1 || img->comps[i].prec > 16) {
            st = fm_fail(ctx, FM_ERR_UNSUPPORTED, "JPEG 2000 component %u has %u bits: 1..16 supported", i,
                         img->comps[i].prec);
            goto done;
        }
    info->format = fmt;
    info->width = (int)img->comps[0].w;
    info->height = (int)img->comps[0].h;
    info->channels = img->numcomps == 2 ? 2 : (int)img->numcomps;
    info->bit_depth = (int)img->comps[0].prec;
    if (info->width < 1 || info->height < 1) {
        st = fm_fail(ctx, FM_ERR_CORRUPT, "JPEG 2000 first component is empty");
        goto done;
    }
    if (header_only)
        goto done;
    if (!opj_decode(codec, stream, img)) {
        st = opj_fail(ctx, &s, "data");
        goto done;
    }
    if (!opj_end_decompress(codec, stream)) {
        st = opj_fail(ctx, &s, "end of data");
        goto done;
    }
    if (s.err[0]) { /* an error was reported even though the calls succeeded */
        st = opj_fail(ctx, &s, "data");
        goto done;
    }
    st = jp2_output(ctx, img, out);
done:
    opj_image_destroy(img);
    opj_destroy_codec(codec);
    opj_stream_destroy(stream);
    return st;
}

/* ---- encode ------------------------------------------------------------------------------------------------ */

typedef struct {
    fmi_buf *b;
    size_t pos;
} jp2_dst;

static int dst_reserve(jp2_dst *d, size_t end)
{
    if (end <= d->b->len)
        return 1;
    size_t extra = end - d->b->len;
    static const uint8_t zeros[256] = {0};
    while (extra) {
        size_t k = extra < sizeof zeros ? extra : sizeof zeros;
        if (!fmi_buf_append(d->b, zeros, k))
            return 0;
        extra -= k;
    }
    return 1;
}

static OPJ_SIZE_T dst_write(void *buf, OPJ_SIZE_T n, void *user)
{
    jp2_dst *d = user;
    if (n > SIZE_MAX - d->pos || !dst_reserve(d, d->pos + n))
        return (OPJ_SIZE_T)-1;
    memcpy(d->b->data + d->pos, buf, n);
    d->pos += n;
    return n;
}

static OPJ_OFF_T dst_skip(OPJ_OFF_T n, void *user)
{
    jp2_dst *d = user;
    if (n < 0 ? (size_t)-n > d->pos : !dst_reserve(d, d->pos + (size_t)n))
        return -1;
    d->pos = n < 0 ? d->pos - (size_t)-n : d->pos + (size_t)n;
    return n;
}

static OPJ_BOOL dst_seek(OPJ_OFF_T off, void *user)
{
    jp2_dst *d = user;
    if (off < 0 || !dst_reserve(d, (size_t)off))
        return OPJ_FALSE;
    d->pos = (size_t)off;
    return OPJ_TRUE;
}

fm_status fmi_jp2_encode(fm_ctx *ctx, const fm_image *im, fm_format fmt, int ratio, fmi_buf *out)
{
    const int w = im->width, h = im->height, nc = im->fmt == FM_PIX_GRAY8 ? 1 : 3;
    opj_image_cmptparm_t cp[3];
    memset(cp, 0, sizeof cp);
    for (int c = 0; c < nc; c++) {
        cp[c].dx = cp[c].dy = 1;
        cp[c].w = (OPJ_UINT32)w;
        cp[c].h = (OPJ_UINT32)h;
        cp[c].prec = 8;
        cp[c].sgnd = 0;
    }
    opj_image_t *img = opj_image_create((OPJ_UINT32)nc, cp, nc == 1 ? OPJ_CLRSPC_GRAY : OPJ_CLRSPC_SRGB);
    if (!img)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory for a JPEG 2000 image");
    img->x0 = img->y0 = 0;
    img->x1 = (OPJ_UINT32)w;
    img->y1 = (OPJ_UINT32)h;
    for (int y = 0; y < h; y++) {
        const uint8_t *s = im->planes[0] + (size_t)y * (size_t)im->strides[0];
        for (int c = 0; c < nc; c++) {
            OPJ_INT32 *d = img->comps[c].data + (size_t)y * (size_t)w;
            for (int x = 0; x < w; x++)
                d[x] = s[(size_t)x * (size_t)nc + (size_t)c];
        }
    }
    opj_cparameters_t p;
    opj_set_default_encoder_parameters(&p);
    p.tcp_numlayers = 1;
    p.tcp_rates[0] = (float)ratio; /* 0 = lossless */
    p.cp_disto_alloc = 1;
    p.irreversible = ratio > 0; /* 9/7 wavelet when lossy, reversible 5/3 when lossless */
    p.tcp_mct = nc == 3 ? 1 : 0;
    int side = w < h ? w : h, nres = 1;
    while (nres < 6 && (side >> nres) >= 1)
        nres++;
    p.numresolution = nres;

    jp2_src msgs;
    memset(&msgs, 0, sizeof msgs);
    jp2_dst dst = {out, 0};
    fm_status st = FM_OK;
    opj_codec_t *codec = opj_create_compress(fmt == FM_FORMAT_JP2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_stream_t *stream = opj_stream_create(65536, OPJ_FALSE);
    if (!codec || !stream) {
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "cannot create an OpenJPEG encoder");
        goto done;
    }
    opj_set_error_handler(codec, on_error, &msgs);
    opj_set_warning_handler(codec, on_warning, &msgs);
    opj_set_info_handler(codec, on_info, &msgs);
    opj_stream_set_user_data(stream, &dst, NULL);
    opj_stream_set_write_function(stream, dst_write);
    opj_stream_set_skip_function(stream, dst_skip);
    opj_stream_set_seek_function(stream, dst_seek);
    if (!opj_setup_encoder(codec, &p, img) || !opj_start_compress(codec, img, stream) ||
        !opj_encode(codec, stream) || !opj_end_compress(codec, stream)) {
        st = fm_fail(ctx, out->failed ? FM_ERR_NO_MEMORY : FM_ERR_INTERNAL, "JPEG 2000 encoding failed: %s",
                     msgs.err[0] ? msgs.err : "no detail");
        goto done;
    }
    out->len = dst.pos > out->len ? dst.pos : out->len;
done:
    opj_stream_destroy(stream);
    opj_destroy_codec(codec);
    opj_image_destroy(img);
    return st;
}
