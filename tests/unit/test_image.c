/* Decoding and encoding: every format, exact round trips, references written with the codec libraries directly
 * (libpng, OpenJPEG) or decoded by OpenCV (when Debian's python3-opencv is installed), bit-depth mapping, every
 * truncation point, corrupted bytes, hostile headers, limits and error statuses. */
#include "test.h"
#include "test_image_util.h"

#include <dirent.h>
#include <openjpeg.h>
#include <png.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <turbojpeg.h>

static fm_ctx *ctx;

static fm_image *wrap_rgb(const uint8_t *rgb, int w, int h)
{
    const uint8_t *planes[1] = {rgb};
    int strides[1] = {w * 3};
    fm_image *im = NULL;
    fm_image_wrap(ctx, FM_PIX_RGB24, w, h, planes, strides, 0, &im);
    return im;
}

/* Encodes into a malloc'd buffer (two calls: size query, then encode). */
static uint8_t *encode(const fm_image *im, fm_format f, int q, size_t *len)
{
    size_t need = 0;
    fm_status st = fm_image_encode(ctx, im, f, q, NULL, 0, &need);
    if (st != FM_ERR_BUFFER_TOO_SMALL || need == 0) {
        fprintf(stderr, "encode %s: %s %s\n", fm_format_name(f), fm_status_name(st), fm_ctx_errmsg(ctx));
        return NULL;
    }
    uint8_t *buf = malloc(need);
    st = fm_image_encode(ctx, im, f, q, buf, need, len);
    if (st != FM_OK) {
        fprintf(stderr, "encode %s: %s %s\n", fm_format_name(f), fm_status_name(st), fm_ctx_errmsg(ctx));
        free(buf);
        return NULL;
    }
    return buf;
}

/* Max absolute difference between two packed images of the same size and format (-1 if shapes differ). */
static int max_diff(const fm_image *a, const fm_image *b)
{
    if (fm_image_width(a) != fm_image_width(b) || fm_image_height(a) != fm_image_height(b) ||
        fm_image_pixfmt(a) != fm_image_pixfmt(b))
        return -1;
    int sa, sb, m = 0, bpp = fm_pixfmt_bpp(fm_image_pixfmt(a));
    const uint8_t *pa = fm_image_plane(a, 0, &sa), *pb = fm_image_plane(b, 0, &sb);
    for (int y = 0; y < fm_image_height(a); y++)
        for (int i = 0; i < fm_image_width(a) * bpp; i++) {
            int d = abs(pa[(size_t)y * sa + i] - pb[(size_t)y * sb + i]);
            m = d > m ? d : m;
        }
    return m;
}

static double psnr(const fm_image *a, const fm_image *b)
{
    int sa, sb, bpp = fm_pixfmt_bpp(fm_image_pixfmt(a));
    const uint8_t *pa = fm_image_plane(a, 0, &sa), *pb = fm_image_plane(b, 0, &sb);
    double se = 0;
    size_t n = 0;
    for (int y = 0; y < fm_image_height(a); y++)
        for (int i = 0; i < fm_image_width(a) * bpp; i++, n++) {
            double d = pa[(size_t)y * sa + i] - pb[(size_t)y * sb + i];
            se += d * d;
        }
    return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static int is_fail_status(fm_status st) { return st == FM_ERR_TRUNCATED || st == FM_ERR_CORRUPT; }

/* ---- format detection and basic statuses ------------------------------------------------------------------- */

static void test_detect(void)
{
    static const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0}, j2k[] = {0xFF, 0x4F, 0xFF, 0x51, 0},
                         png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A},
                         jp2[] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A};
    CHECK(fm_image_detect_format(jpeg, sizeof jpeg) == FM_FORMAT_JPEG);
    CHECK(fm_image_detect_format(j2k, sizeof j2k) == FM_FORMAT_J2K);
    CHECK(fm_image_detect_format(png, sizeof png) == FM_FORMAT_PNG);
    CHECK(fm_image_detect_format(jp2, sizeof jp2) == FM_FORMAT_JP2);
    CHECK(fm_image_detect_format("P6\n1 1\n255\n", 3) == FM_FORMAT_PNM);
    CHECK(fm_image_detect_format("P5#c\n", 5) == FM_FORMAT_PNM);
    CHECK(fm_image_detect_format("P8 ", 3) == FM_FORMAT_UNKNOWN);
    CHECK(fm_image_detect_format(jp2, 11) == FM_FORMAT_UNKNOWN);
    CHECK(fm_image_detect_format(NULL, 0) == FM_FORMAT_UNKNOWN);
    CHECK(strcmp(fm_format_name(FM_FORMAT_J2K), "j2k") == 0 && strcmp(fm_format_name((fm_format)99), "unknown") == 0);

    fm_image *im = (fm_image *)1;
    CHECK_STATUS(fm_image_decode(ctx, "hello world", 11, FM_PIX_NONE, &im, NULL), FM_ERR_FORMAT);
    CHECK(im == NULL);
    CHECK(strstr(fm_ctx_errmsg(ctx), "not a JPEG") != NULL);
    CHECK_STATUS(fm_image_decode(ctx, "", 0, FM_PIX_NONE, &im, NULL), FM_ERR_TRUNCATED);
    CHECK_STATUS(fm_image_decode(ctx, jp2, 7, FM_PIX_NONE, &im, NULL), FM_ERR_TRUNCATED);
    CHECK_STATUS(fm_image_decode(ctx, "P4\n1 1\n\x80", 8, FM_PIX_NONE, &im, NULL), FM_ERR_UNSUPPORTED);
    CHECK_STATUS(fm_image_decode(ctx, "P7\nWIDTH 1\n", 10, FM_PIX_NONE, &im, NULL), FM_ERR_UNSUPPORTED);
    CHECK_STATUS(fm_image_decode(ctx, jpeg, sizeof jpeg, FM_PIX_NV21, &im, NULL), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_decode(ctx, NULL, 5, FM_PIX_NONE, &im, NULL), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_load(ctx, "/nonexistent/x.jpg", FM_PIX_NONE, &im, NULL), FM_ERR_IO);
    CHECK(im == NULL);
}

/* ---- PNM: hand-written files, every maxval and syntax --------------------------------------------------------- */

static void test_pnm(void)
{
    fm_image *im = NULL;
    fm_image_info info;
    /* P2 with comments everywhere the header allows, maxval 15 */
    const char p2[] = "P2\n# a comment\n3 # width\n2\n15\n0 1 2\n# raster comment\n13 14 15\n";
    CHECK_STATUS(fm_image_decode(ctx, p2, sizeof p2 - 1, FM_PIX_NONE, &im, &info), FM_OK);
    if (im) {
        CHECK(info.format == FM_FORMAT_PNM && info.width == 3 && info.height == 2 && info.channels == 1 &&
              info.bit_depth == 4 && fm_image_pixfmt(im) == FM_PIX_GRAY8);
        const uint8_t *p = fm_image_plane(im, 0, NULL);
        for (int i = 0; i < 6; i++) {
            int v = i < 3 ? i : 10 + i;
            CHECK(p[i] == (v * 255 + 7) / 15);
        }
        fm_image_destroy(im);
    }
    /* P3 colour, maxval 1000 */
    const char p3[] = "P3 2 1 1000 0 500 1000 999 1 2 ";
    CHECK_STATUS(fm_image_decode(ctx, p3, sizeof p3 - 1, FM_PIX_NONE, &im, &info), FM_OK);
    if (im) {
        const uint8_t *p = fm_image_plane(im, 0, NULL);
        const int v[6] = {0, 500, 1000, 999, 1, 2};
        for (int i = 0; i < 6; i++)
            CHECK(p[i] == (uint8_t)floor(v[i] * 255.0 / 1000 + 0.5));
        CHECK(info.channels == 3 && fm_image_pixfmt(im) == FM_PIX_RGB24);
        fm_image_destroy(im);
    }
    /* P5 16-bit: every value 0..65535, mapped by round(v * 255 / 65535) */
    {
        const int W = 256, H = 256;
        size_t hl = (size_t)snprintf(NULL, 0, "P5\n%d %d\n65535\n", W, H);
        uint8_t *f = malloc(hl + (size_t)W * H * 2);
        snprintf((char *)f, hl + 1, "P5\n%d %d\n65535\n", W, H);
        for (int i = 0; i < W * H; i++)
            f[hl + 2 * i] = (uint8_t)(i >> 8), f[hl + 2 * i + 1] = (uint8_t)i;
        CHECK_STATUS(fm_image_decode(ctx, f, hl + (size_t)W * H * 2, FM_PIX_NONE, &im, &info), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            int bad = 0;
            for (int i = 0; i < W * H; i++)
                bad += p[i] != (uint8_t)floor(i * 255.0 / 65535.0 + 0.5);
            CHECK(bad == 0 && info.bit_depth == 16);
            CHECK(p[32767] == 127 && p[32768] == 128 && p[65535] == 255);
            fm_image_destroy(im);
        }
        /* a sample above maxval is corrupt */
        memcpy(f, "P5\n256 256\n65534\n", hl);
        CHECK_STATUS(fm_image_decode(ctx, f, hl + (size_t)W * H * 2, FM_PIX_NONE, &im, NULL), FM_ERR_CORRUPT);
        free(f);
    }
    /* P6 8-bit round trip through the encoder, want conversions */
    uint8_t *rgb = make_rgb(31, 17, 2);
    fm_image *src = wrap_rgb(rgb, 31, 17);
    size_t len = 0;
    uint8_t *enc = encode(src, FM_FORMAT_PNM, 0, &len);
    REQUIRE(enc);
    CHECK(memcmp(enc, "P6\n31 17\n255\n", 13) == 0 && len == 13 + 31 * 17 * 3);
    CHECK_STATUS(fm_image_decode(ctx, enc, len, FM_PIX_NONE, &im, NULL), FM_OK);
    fm_image *ref = NULL;
    fm_image_convert(ctx, src, FM_PIX_RGB24, &ref);
    CHECK(im && max_diff(im, ref) == 0);
    fm_image_destroy(im);
    const fm_pixfmt wants[] = {FM_PIX_GRAY8, FM_PIX_BGR24, FM_PIX_RGBA, FM_PIX_BGRA};
    for (int k = 0; k < 4; k++) {
        fm_image *a = NULL, *b = NULL;
        CHECK_STATUS(fm_image_decode(ctx, enc, len, wants[k], &a, NULL), FM_OK);
        fm_image_convert(ctx, src, wants[k], &b);
        CHECK_MSG(a && b && max_diff(a, b) == 0, "want %s", fm_pixfmt_name(wants[k]));
        fm_image_destroy(a), fm_image_destroy(b);
    }
    free(enc), fm_image_destroy(ref), fm_image_destroy(src), free(rgb);

    /* strictness */
    const struct {
        const char *data;
        fm_status st;
    } bad[] = {
        {"P5\n2 2\n0\n\0\0\0\0", FM_ERR_CORRUPT},          /* maxval 0 */
        {"P5\n2 2\n65536\n\0\0\0\0", FM_ERR_CORRUPT},      /* maxval too large */
        {"P5\n2 x\n255\n\0\0\0\0", FM_ERR_CORRUPT},        /* not a number */
        {"P5\n0 2\n255\n", FM_ERR_CORRUPT},                /* empty */
        {"P5\n2 2\n255#c\n\0\0\0\0", FM_ERR_CORRUPT},      /* comment instead of the single whitespace */
        {"P2\n2 1\n255\n1 256\n", FM_ERR_CORRUPT},         /* ASCII sample above maxval */
        {"P2\n2 1\n255\n1 -2\n", FM_ERR_CORRUPT},          /* sign */
        {"P2\n2 1\n255\n1 2", FM_ERR_TRUNCATED},           /* last number touches the end */
        {"P2\n2 1\n255\n1 ", FM_ERR_TRUNCATED},            /* missing sample */
        {"P6\n2 2\n255\n\1\2\3", FM_ERR_TRUNCATED},        /* short raster */
        {"P5\n99999999999 2\n255\n", FM_ERR_LIMIT},        /* huge width */
        {"P6\n16385 1\n255\n", FM_ERR_LIMIT},              /* above the default max dimension */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i].data);
        if (bad[i].data[1] == '5' && n < 16 && bad[i].st != FM_ERR_LIMIT)
            n += 4; /* the embedded NUL samples */
        im = (fm_image *)1;
        fm_status st = fm_image_decode(ctx, bad[i].data, n, FM_PIX_NONE, &im, NULL);
        CHECK_MSG(st == bad[i].st && im == NULL, "case %zu: %s (%s), expected %s", i, fm_status_name(st),
                  fm_ctx_errmsg(ctx), fm_status_name(bad[i].st));
    }
    /* trailing bytes after the raster (e.g. a second image) are ignored */
    CHECK_STATUS(fm_image_decode(ctx, "P5 1 1 255 \x07P5 1 1 255 \x08", 23, FM_PIX_NONE, &im, NULL), FM_OK);
    if (im)
        CHECK(fm_image_plane(im, 0, NULL)[0] == 7);
    fm_image_destroy(im);
}

/* ---- PNG written with libpng directly ---------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} membuf;

static void mem_write(png_structp png, png_bytep d, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
}
static void mem_flush(png_structp png) { (void)png; }

/* Writes a PNG with libpng: rows of raw samples as libpng expects them (16-bit big-endian). */
static uint8_t *png_write_raw(int w, int h, int depth, int ctype, int interlace, const uint8_t *rows, size_t rowbytes,
                              const png_color *pal, int npal, const uint8_t *trns, int ntrns, size_t *len)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m.p);
        return NULL;
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, npal);
    if (trns)
        png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    int passes = interlace ? png_set_interlace_handling(png) : 1;
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++)
            png_write_row(png, rows + (size_t)y * rowbytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *len = m.n;
    return m.p;
}

static void test_png(void)
{
    fm_image *im = NULL;
    fm_image_info info;
    size_t len;
    /* 16-bit grey, interlaced: all 65536 values */
    {
        const int W = 256, H = 256;
        uint8_t *rows = malloc((size_t)W * H * 2);
        for (int i = 0; i < W * H; i++)
            rows[2 * i] = (uint8_t)(i >> 8), rows[2 * i + 1] = (uint8_t)i;
        uint8_t *f = png_write_raw(W, H, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7, rows, (size_t)W * 2, NULL, 0,
                                   NULL, 0, &len);
        REQUIRE(f);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_NONE, &im, &info), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            int bad = 0;
            for (int i = 0; i < W * H; i++)
                bad += p[i] != (uint8_t)floor(i * 255.0 / 65535.0 + 0.5);
            CHECK(bad == 0 && info.bit_depth == 16 && info.channels == 1 && fm_image_pixfmt(im) == FM_PIX_GRAY8);
            fm_image_destroy(im);
        }
        free(f), free(rows);
    }
    /* 16-bit RGBA: alpha dropped by default, kept with want = RGBA */
    {
        const int W = 3, H = 1;
        const uint16_t v[12] = {0, 65535, 257, 1000, 30000, 32767, 32768, 40000, 65534, 1, 2, 3};
        uint8_t rows[24];
        for (int i = 0; i < 12; i++)
            rows[2 * i] = (uint8_t)(v[i] >> 8), rows[2 * i + 1] = (uint8_t)v[i];
        uint8_t *f = png_write_raw(W, H, 16, PNG_COLOR_TYPE_RGB_ALPHA, 0, rows, 24, NULL, 0, NULL, 0, &len);
        REQUIRE(f);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_RGBA, &im, &info), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            for (int i = 0; i < 12; i++)
                CHECK(p[i] == (uint8_t)floor(v[i] * 255.0 / 65535.0 + 0.5));
            CHECK(info.channels == 4);
            fm_image_destroy(im);
        }
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_NONE, &im, NULL), FM_OK);
        CHECK(im && fm_image_pixfmt(im) == FM_PIX_RGB24);
        fm_image_destroy(im);
        free(f);
    }
    /* palette with tRNS, 4-bit */
    {
        png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
        uint8_t trns[3] = {255, 128, 0};
        uint8_t rows[2] = {0x01, 0x20}; /* indices 0 1 2 0 */
        uint8_t *f = png_write_raw(4, 1, 4, PNG_COLOR_TYPE_PALETTE, 0, rows, 2, pal, 3, trns, 3, &len);
        REQUIRE(f);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_RGBA, &im, &info), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            const uint8_t want[16] = {255, 0, 0, 255, 0, 255, 0, 128, 10, 20, 30, 0, 255, 0, 0, 255};
            CHECK(memcmp(p, want, 16) == 0);
            CHECK(info.channels == 4);
            fm_image_destroy(im);
        }
        free(f);
    }
    /* 1-bit grey and grey+alpha */
    {
        uint8_t rows[1] = {0xA0}; /* 1 0 1 */
        uint8_t *f = png_write_raw(3, 1, 1, PNG_COLOR_TYPE_GRAY, 0, rows, 1, NULL, 0, NULL, 0, &len);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_NONE, &im, NULL), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            CHECK(p[0] == 255 && p[1] == 0 && p[2] == 255);
            fm_image_destroy(im);
        }
        free(f);
        uint8_t ga[4] = {100, 7, 200, 9};
        f = png_write_raw(2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, ga, 4, NULL, 0, NULL, 0, &len);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_BGRA, &im, &info), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            CHECK(p[0] == 100 && p[1] == 100 && p[2] == 100 && p[3] == 7 && p[4] == 200 && p[7] == 9);
            CHECK(info.channels == 2);
            fm_image_destroy(im);
        }
        free(f);
    }
    /* our encoder round trips exactly (grey, RGB, RGBA) */
    uint8_t *rgb = make_rgb(45, 33, 3);
    fm_image *src = wrap_rgb(rgb, 45, 33);
    const fm_pixfmt fmts[] = {FM_PIX_GRAY8, FM_PIX_RGB24, FM_PIX_RGBA};
    for (int k = 0; k < 3; k++) {
        fm_image *s2 = NULL, *d = NULL;
        fm_image_convert(ctx, src, fmts[k], &s2);
        uint8_t *enc = encode(s2, FM_FORMAT_PNG, 0, &len);
        CHECK(enc != NULL);
        if (enc) {
            CHECK_STATUS(fm_image_decode(ctx, enc, len, fmts[k], &d, NULL), FM_OK);
            CHECK_MSG(d && max_diff(d, s2) == 0, "PNG round trip %s", fm_pixfmt_name(fmts[k]));
        }
        fm_image_destroy(d), fm_image_destroy(s2), free(enc);
    }
    fm_image_destroy(src), free(rgb);
}

/* ---- JPEG 2000 written with OpenJPEG directly ----------------------------------------------------------------- */

typedef struct {
    membuf *m;
    size_t pos;
} wstream;

static OPJ_SIZE_T ws_write(void *b, OPJ_SIZE_T n, void *u)
{
    wstream *w = u;
    if (w->pos + n > w->m->cap) {
        w->m->cap = (w->pos + n) * 2;
        w->m->p = realloc(w->m->p, w->m->cap);
    }
    memcpy(w->m->p + w->pos, b, n);
    w->pos += n;
    if (w->pos > w->m->n)
        w->m->n = w->pos;
    return n;
}
static OPJ_OFF_T ws_skip(OPJ_OFF_T n, void *u)
{
    wstream *w = u;
    w->pos += (size_t)n;
    return n;
}
static OPJ_BOOL ws_seek(OPJ_OFF_T off, void *u)
{
    ((wstream *)u)->pos = (size_t)off;
    return OPJ_TRUE;
}

/* Lossless OpenJPEG encode of components given as int arrays (comp c has size w/dx[c] x h/dy[c]). */
static uint8_t *opj_write(int jp2, int w, int h, int nc, const int *prec, const int *sgnd, const int *dx,
                          const int *dy, int32_t *const *data, OPJ_COLOR_SPACE cs, size_t *len)
{
    opj_image_cmptparm_t cp[5];
    memset(cp, 0, sizeof cp);
    for (int c = 0; c < nc; c++) {
        cp[c].dx = (OPJ_UINT32)dx[c], cp[c].dy = (OPJ_UINT32)dy[c];
        cp[c].w = (OPJ_UINT32)((w + dx[c] - 1) / dx[c]), cp[c].h = (OPJ_UINT32)((h + dy[c] - 1) / dy[c]);
        cp[c].prec = (OPJ_UINT32)prec[c], cp[c].sgnd = (OPJ_UINT32)sgnd[c];
    }
    opj_image_t *img = opj_image_create((OPJ_UINT32)nc, cp, cs);
    img->x0 = img->y0 = 0, img->x1 = (OPJ_UINT32)w, img->y1 = (OPJ_UINT32)h;
    for (int c = 0; c < nc; c++)
        memcpy(img->comps[c].data, data[c], sizeof(int32_t) * cp[c].w * cp[c].h);
    opj_cparameters_t p;
    opj_set_default_encoder_parameters(&p);
    p.tcp_numlayers = 1, p.tcp_rates[0] = 0, p.cp_disto_alloc = 1, p.numresolution = 3;
    membuf m = {0};
    wstream ws = {&m, 0};
    opj_codec_t *codec = opj_create_compress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_stream_t *st = opj_stream_create(65536, OPJ_FALSE);
    opj_stream_set_user_data(st, &ws, NULL);
    opj_stream_set_write_function(st, ws_write);
    opj_stream_set_skip_function(st, ws_skip);
    opj_stream_set_seek_function(st, ws_seek);
    int ok = opj_setup_encoder(codec, &p, img) && opj_start_compress(codec, img, st) && opj_encode(codec, st) &&
             opj_end_compress(codec, st);
    opj_stream_destroy(st), opj_destroy_codec(codec), opj_image_destroy(img);
    if (!ok) {
        free(m.p);
        return NULL;
    }
    *len = m.n;
    return m.p;
}

/* One grey component of prec bits (signed: shifted by 2^(prec-1) first) written by OpenJPEG (jp2: JP2 box, else raw
 * J2K) decodes to round((v [+ 2^(prec-1)]) * 255 / (2^prec - 1)) exactly. */
static void check_grey_depth(int W, int H, int32_t *a, int jp2, int prec, int sgn)
{
    int pr[1] = {prec}, sg[1] = {sgn}, d1[1] = {1};
    int32_t *data[1] = {a};
    size_t len;
    uint8_t *f = opj_write(jp2, W, H, 1, pr, sg, d1, d1, data, OPJ_CLRSPC_GRAY, &len);
    REQUIRE(f);
    fm_image *im = NULL;
    fm_image_info info;
    CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_NONE, &im, &info), FM_OK);
    if (im) {
        const uint8_t *p = fm_image_plane(im, 0, NULL);
        double maxval = (double)((1u << prec) - 1), shift = sgn ? (double)(1u << (prec - 1)) : 0.0;
        int bad = 0;
        for (int i = 0; i < W * H; i++)
            bad += p[i] != (uint8_t)floor((a[i] + shift) * 255.0 / maxval + 0.5);
        CHECK_MSG(bad == 0 && info.format == (jp2 ? FM_FORMAT_JP2 : FM_FORMAT_J2K) && info.bit_depth == prec &&
                      info.channels == 1,
                  "%d-bit %s grey: %d samples off", prec, sgn ? "signed" : "unsigned", bad);
        fm_image_destroy(im);
    }
    free(f);
}

static void test_jp2_depths(void)
{
    const int W = 40, H = 30;
    int32_t *a = malloc(sizeof(int32_t) * W * H), *b = malloc(sizeof(int32_t) * W * H),
            *c = malloc(sizeof(int32_t) * W * H);
    fm_image *im = NULL;
    fm_image_info info;
    size_t len;
    /* 12-bit grey, unsigned, raw J2K */
    for (int i = 0; i < W * H; i++)
        a[i] = (i * 37) % 4096;
    check_grey_depth(W, H, a, 0, 12, 0);
    /* 16-bit signed grey in JP2: -32768 -> 0, 32767 -> 255 */
    for (int i = 0; i < W * H; i++)
        a[i] = (i * 977) % 65536 - 32768;
    check_grey_depth(W, H, a, 1, 16, 1);
    /* sYCC 4:2:0 (chroma subsampled 2x2), 8-bit: upsampled by replication, BT.601 full-range matrix */
    {
        const int CW = W / 2, CHh = H / 2;
        for (int i = 0; i < W * H; i++)
            a[i] = 16 + (i * 7) % 220;
        for (int i = 0; i < CW * CHh; i++)
            b[i] = 90 + (i * 3) % 80, c[i] = 100 + (i * 5) % 60;
        int prec[3] = {8, 8, 8}, sg[3] = {0, 0, 0}, dx[3] = {1, 2, 2}, dy[3] = {1, 2, 2};
        int32_t *data[3] = {a, b, c};
        uint8_t *f = opj_write(1, W, H, 3, prec, sg, dx, dy, data, OPJ_CLRSPC_SYCC, &len);
        REQUIRE(f);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_NONE, &im, &info), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            int maxe = 0;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double Y = a[y * W + x], U = b[(y / 2) * CW + x / 2] - 128.0, V = c[(y / 2) * CW + x / 2] - 128.0;
                    double want[3] = {Y + 1.402 * V, Y - 0.344136 * U - 0.714136 * V, Y + 1.772 * U};
                    for (int k = 0; k < 3; k++) {
                        double wv = want[k] < 0 ? 0 : want[k] > 255 ? 255 : floor(want[k] + 0.5);
                        int e = abs(p[(y * W + x) * 3 + k] - (int)wv);
                        maxe = e > maxe ? e : maxe;
                    }
                }
            CHECK_MSG(maxe == 0, "sYCC max error %d", maxe);
            CHECK(info.channels == 3 && fm_image_width(im) == W && fm_image_height(im) == H);
            fm_image_destroy(im);
        }
        free(f);
    }
    /* grey + alpha (2 components) -> RGBA */
    {
        for (int i = 0; i < W * H; i++)
            a[i] = i % 256, b[i] = 255 - i % 256;
        int prec[2] = {8, 8}, sg[2] = {0, 0}, d1[2] = {1, 1};
        int32_t *data[2] = {a, b};
        uint8_t *f = opj_write(1, W, H, 2, prec, sg, d1, d1, data, OPJ_CLRSPC_GRAY, &len);
        REQUIRE(f);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_RGBA, &im, &info), FM_OK);
        if (im) {
            const uint8_t *p = fm_image_plane(im, 0, NULL);
            int bad = 0;
            for (int i = 0; i < W * H; i++)
                bad += p[4 * i] != a[i] || p[4 * i + 2] != a[i] || p[4 * i + 3] != b[i];
            CHECK(bad == 0 && info.channels == 2);
            fm_image_destroy(im);
        }
        free(f);
    }
    /* 5 components: recognised, not supported */
    {
        int prec[5] = {8, 8, 8, 8, 8}, sg[5] = {0}, d1[5] = {1, 1, 1, 1, 1};
        int32_t *data[5] = {a, a, a, a, a};
        uint8_t *f = opj_write(0, W, H, 5, prec, sg, d1, d1, data, OPJ_CLRSPC_UNSPECIFIED, &len);
        REQUIRE(f);
        CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_NONE, &im, NULL), FM_ERR_UNSUPPORTED);
        free(f);
    }
    free(a), free(b), free(c);
}

/* ---- round trips through our encoders, JPEG 2000 at card size ---------------------------------------------------- */

static void test_roundtrip_synthetic(void)
{
    const int W = 64, H = 48;
    uint8_t *rgb = make_rgb(W, H, 11);
    fm_image *src = wrap_rgb(rgb, W, H), *gray = NULL, *ref = NULL;
    fm_image_convert(ctx, src, FM_PIX_GRAY8, &gray);
    fm_image_convert(ctx, src, FM_PIX_RGB24, &ref);
    const fm_format lossless[] = {FM_FORMAT_JP2, FM_FORMAT_J2K, FM_FORMAT_PNG, FM_FORMAT_PNM};
    for (int k = 0; k < 4; k++)
        for (int g = 0; g < 2; g++) {
            const fm_image *in = g ? gray : ref;
            size_t len;
            uint8_t *enc = encode(in, lossless[k], 0, &len);
            CHECK(enc != NULL);
            if (!enc)
                continue;
            CHECK(fm_image_detect_format(enc, len) == lossless[k]);
            fm_image *d = NULL;
            fm_image_info info;
            CHECK_STATUS(fm_image_decode(ctx, enc, len, FM_PIX_NONE, &d, &info), FM_OK);
            CHECK_MSG(d && max_diff(d, in) == 0, "%s %s lossless round trip", fm_format_name(lossless[k]),
                      g ? "grey" : "rgb");
            CHECK(info.format == lossless[k] && info.channels == (g ? 1 : 3) && info.width == W && info.height == H);
            /* probe agrees with decode */
            fm_image_info pi;
            CHECK_STATUS(fm_image_probe(ctx, enc, len, &pi), FM_OK);
            CHECK(memcmp(&pi, &info, sizeof pi) == 0);
            fm_image_destroy(d);
            free(enc);
        }
    /* JPEG quality 95 (4:4:4): close to the source */
    for (int g = 0; g < 2; g++) {
        size_t len;
        uint8_t *enc = encode(g ? gray : ref, FM_FORMAT_JPEG, 95, &len);
        fm_image *d = NULL;
        CHECK_STATUS(fm_image_decode(ctx, enc, len, FM_PIX_NONE, &d, NULL), FM_OK);
        CHECK_MSG(d && psnr(d, g ? gray : ref) > 30, "JPEG q95 PSNR %.1f", d ? psnr(d, g ? gray : ref) : 0.0);
        fm_image_destroy(d);
        free(enc);
    }
    /* encode API: buffer too small reports the size; bad quality */
    size_t len = 0, need = 0;
    uint8_t small[16];
    CHECK_STATUS(fm_image_encode(ctx, ref, FM_FORMAT_PNM, 0, small, sizeof small, &need), FM_ERR_BUFFER_TOO_SMALL);
    CHECK(need == 13 + (size_t)W * H * 3);
    CHECK_STATUS(fm_image_encode(ctx, ref, FM_FORMAT_JPEG, 0, NULL, 0, &len), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_encode(ctx, ref, FM_FORMAT_JP2, -1, NULL, 0, &len), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_image_encode(ctx, ref, FM_FORMAT_UNKNOWN, 0, NULL, 0, &len), FM_ERR_INVALID_ARGUMENT);
    /* a rotated wrapped NV21 frame encodes upright */
    {
        uint8_t y[8 * 6], uv[8 * 3];
        for (int i = 0; i < 48; i++)
            y[i] = (uint8_t)(i * 5);
        memset(uv, 128, sizeof uv);
        const uint8_t *planes[2] = {y, uv};
        int strides[2] = {8, 8};
        fm_image *nv = NULL, *d = NULL;
        fm_image_wrap(ctx, FM_PIX_NV21, 8, 6, planes, strides, 90, &nv);
        uint8_t *enc = encode(nv, FM_FORMAT_PNG, 0, &len);
        CHECK_STATUS(fm_image_decode(ctx, enc, len, FM_PIX_NONE, &d, NULL), FM_OK);
        CHECK(d && fm_image_width(d) == 6 && fm_image_height(d) == 8);
        if (d) /* upright (0,0) = stored (0, H-1) = y[5*8] */
            CHECK(fm_image_plane(d, 0, NULL)[0] == y[40]);
        fm_image_destroy(d), fm_image_destroy(nv), free(enc);
    }
    fm_image_destroy(gray), fm_image_destroy(ref), fm_image_destroy(src), free(rgb);
}

/* ---- truncation, corruption, hostile headers -------------------------------------------------------------------- */

static void check_all_prefixes(const char *what, const uint8_t *f, size_t len)
{
    int ok = 0, other = 0, trunc = 0, nomsg = 0;
    for (size_t n = 0; n < len; n++) {
        fm_image *im = (fm_image *)1;
        fm_ctx_clear_error(ctx);
        fm_status st = fm_image_decode(ctx, f, n, FM_PIX_NONE, &im, NULL);
        if (st == FM_OK) {
            ok++;
            fprintf(stderr, "  %s: prefix of %zu/%zu bytes decoded OK\n", what, n, len);
            fm_image_destroy(im);
            continue;
        }
        if (!is_fail_status(st)) {
            other++;
            fprintf(stderr, "  %s: prefix of %zu bytes: %s (%s)\n", what, n, fm_status_name(st), fm_ctx_errmsg(ctx));
        }
        trunc += st == FM_ERR_TRUNCATED;
        nomsg += fm_ctx_errmsg(ctx)[0] == '\0' || im != NULL;
    }
    CHECK_MSG(ok == 0 && other == 0 && nomsg == 0, "%s: %d prefixes decoded, %d gave another status", what, ok, other);
    fprintf(stderr, "  %s: %zu prefixes, %d TRUNCATED, %zu CORRUPT\n", what, len, trunc, len - (size_t)trunc);
    /* the whole file still decodes */
    fm_image *im = NULL;
    CHECK_STATUS(fm_image_decode(ctx, f, len, FM_PIX_NONE, &im, NULL), FM_OK);
    fm_image_destroy(im);
}

/* Flips bits at many positions: never a crash; a failure leaves no image and a message. */
static void check_corruptions(const char *what, const uint8_t *f, size_t len)
{
    uint8_t *g = malloc(len);
    int okc = 0, fails = 0, inconsistent = 0;
    size_t step = len > 600 ? len / 600 : 1;
    for (size_t i = 0; i < len; i += step)
        for (int mask = 1; mask < 256; mask <<= 3) {
            memcpy(g, f, len);
            g[i] ^= (uint8_t)mask;
            fm_image *im = (fm_image *)1;
            fm_status st = fm_image_decode(ctx, g, len, FM_PIX_NONE, &im, NULL);
            if (st == FM_OK) {
                okc++;
                inconsistent += im == NULL || fm_image_width(im) < 1;
                fm_image_destroy(im);
            } else {
                fails++;
                inconsistent += im != NULL || fm_ctx_errmsg(ctx)[0] == '\0';
            }
        }
    CHECK_MSG(inconsistent == 0, "%s: %d inconsistent results", what, inconsistent);
    fprintf(stderr, "  %s: %d corrupted copies decoded, %d rejected\n", what, okc, fails);
    free(g);
}

static void test_truncation_and_corruption(void)
{
    const int W = 40, H = 30;
    uint8_t *rgb = make_rgb(W, H, 21);
    fm_image *src = wrap_rgb(rgb, W, H), *gray = NULL;
    fm_image_convert(ctx, src, FM_PIX_GRAY8, &gray);
    struct {
        const char *name;
        fm_format f;
        int q;
        const fm_image *im;
    } cases[] = {
        {"jpeg", FM_FORMAT_JPEG, 80, src},   {"jpeg-grey", FM_FORMAT_JPEG, 80, gray},
        {"jp2", FM_FORMAT_JP2, 8, src},      {"jp2-lossless-grey", FM_FORMAT_JP2, 0, gray},
        {"j2k", FM_FORMAT_J2K, 8, src},      {"png", FM_FORMAT_PNG, 0, src},
        {"pgm", FM_FORMAT_PNM, 0, gray},     {"ppm", FM_FORMAT_PNM, 0, src},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t len;
        uint8_t *enc = encode(cases[k].im, cases[k].f, cases[k].q, &len);
        REQUIRE(enc);
        check_all_prefixes(cases[k].name, enc, len);
        check_corruptions(cases[k].name, enc, len);
        free(enc);
    }
    /* ASCII PNM, written here */
    char *p3 = malloc(16 * 16 * 3 * 4 + 32);
    int n = sprintf(p3, "P3\n# ascii\n16 16\n255\n");
    for (int i = 0; i < 16 * 16 * 3; i++)
        n += sprintf(p3 + n, "%d%c", rgb[i], i % 12 == 11 ? '\n' : ' ');
    check_all_prefixes("ppm-ascii", (const uint8_t *)p3, (size_t)n);
    free(p3);
    fm_image_destroy(gray), fm_image_destroy(src), free(rgb);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* CRC-32 as PNG chunks use it (ISO 3309), bitwise. */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v; }

static void test_hostile_headers(void)
{
    const int W = 40, H = 30;
    uint8_t *rgb = make_rgb(W, H, 4);
    fm_image *src = wrap_rgb(rgb, W, H);
    long rss0 = max_rss_kb();
    size_t len;
    fm_image *im = (fm_image *)1;

    /* JPEG: patch the SOF0 size to 65000 x 65000 */
    uint8_t *jpg = encode(src, FM_FORMAT_JPEG, 80, &len);
    REQUIRE(jpg);
    size_t i;
    for (i = 2; i + 9 < len; i++)
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0)
            break;
    REQUIRE(i + 9 < len);
    jpg[i + 5] = 0xFD, jpg[i + 6] = 0xE8, jpg[i + 7] = 0xFD, jpg[i + 8] = 0xE8;
    CHECK_STATUS(fm_image_decode(ctx, jpg, len, FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
    CHECK(im == NULL && strstr(fm_ctx_errmsg(ctx), "65000") != NULL);
    fm_image_info info;
    CHECK_STATUS(fm_image_probe(ctx, jpg, len, &info), FM_ERR_LIMIT);
    free(jpg);

    /* PNG: IHDR 100000 x 100000 with a correct CRC */
    uint8_t *png = encode(src, FM_FORMAT_PNG, 0, &len);
    REQUIRE(png);
    put_be32(png + 16, 100000), put_be32(png + 20, 100000);
    uint32_t crc = crc32_png(png + 12, 17);
    put_be32(png + 29, crc);
    CHECK_STATUS(fm_image_decode(ctx, png, len, FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
    /* a wrong CRC in a critical chunk is corrupt */
    png[29] ^= 1;
    CHECK_STATUS(fm_image_decode(ctx, png, len, FM_PIX_NONE, &im, NULL), FM_ERR_CORRUPT);
    free(png);

    /* J2K / JP2: SIZ with 2^31 - 1 wide image */
    for (int jp2 = 0; jp2 < 2; jp2++) {
        uint8_t *j = encode(src, jp2 ? FM_FORMAT_JP2 : FM_FORMAT_J2K, 10, &len);
        REQUIRE(j);
        size_t s;
        for (s = 0; s + 12 < len; s++)
            if (j[s] == 0xFF && j[s + 1] == 0x51)
                break;
        REQUIRE(s + 12 < len);
        put_be32(j + s + 6, 0x7FFFFFFF);
        CHECK_STATUS(fm_image_decode(ctx, j, len, FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
        put_be32(j + s + 6, 40); /* back to 40, but 1x1 tiles: 1200 tiles is fine; 300x300 with 1x1 tiles is not */
        put_be32(j + s + 6, 300), put_be32(j + s + 10, 300);
        put_be32(j + s + 22, 1), put_be32(j + s + 26, 1);
        CHECK_STATUS(fm_image_decode(ctx, j, len, FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
        free(j);
    }

    /* PNM giant, and settable limits */
    const char *pnm = "P5\n1000000 1000000\n255\n";
    CHECK_STATUS(fm_image_decode(ctx, pnm, strlen(pnm), FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
    fm_ctx *lim = fm_ctx_create();
    uint8_t *ppm = encode(src, FM_FORMAT_PNM, 0, &len);
    fm_ctx_set(lim, FM_PARAM_MAX_PIXELS, W * H - 1);
    CHECK_STATUS(fm_image_decode(lim, ppm, len, FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
    fm_ctx_set(lim, FM_PARAM_MAX_PIXELS, W * H);
    CHECK_STATUS(fm_image_decode(lim, ppm, len, FM_PIX_NONE, &im, NULL), FM_OK);
    fm_image_destroy(im);
    fm_ctx_set(lim, FM_PARAM_MAX_DIMENSION, W - 1);
    CHECK_STATUS(fm_image_decode(lim, ppm, len, FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
    fm_ctx_set(lim, FM_PARAM_MAX_DIMENSION, 16384);
    fm_ctx_set(lim, FM_PARAM_MAX_INPUT_BYTES, (int64_t)len - 1);
    CHECK_STATUS(fm_image_decode(lim, ppm, len, FM_PIX_NONE, &im, NULL), FM_ERR_LIMIT);
    CHECK(strstr(fm_ctx_errmsg(lim), "limit") != NULL);
    fm_ctx_destroy(lim);
    free(ppm);
    /* none of this allocated anything near the claimed sizes */
    long grown = max_rss_kb() - rss0;
    CHECK_MSG(grown < 64 * 1024, "peak RSS grew by %ld KiB", grown);
    fm_image_destroy(src), free(rgb);
}

/* ---- real photographs ------------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Collects up to max JPEG/PNG files under dir (recursively), sorted. */
static void collect(const char *dir, char **out, int *n, int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && *n < max) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat stt;
        if (stat(path, &stt) != 0)
            continue;
        if (S_ISDIR(stt.st_mode)) {
            collect(path, out, n, max);
        } else {
            const char *x = strrchr(e->d_name, '.');
            if (x && (!strcmp(x, ".jpg") || !strcmp(x, ".jpeg") || !strcmp(x, ".png")))
                out[(*n)++] = strdup(path);
        }
    }
    closedir(d);
}

/* OpenCV reference decodes via Debian's python3-opencv, one process for all files: for each path it writes
 * "W H C ITEMSIZE\n" and the raw pixels (BGR or grey), or "0 0 0 0\n" when OpenCV cannot read the file. */
static FILE *cv_open(char **paths, int n)
{
    size_t cap = 1024;
    for (int i = 0; i < n; i++)
        cap += strlen(paths[i]) + 3;
    char *cmd = malloc(cap + 1024);
    int off = sprintf(cmd, "/usr/bin/python3 -c 'import sys,cv2,numpy as np\n"
                           "for p in sys.argv[1:]:\n"
                           "    im=cv2.imread(p, cv2.IMREAD_UNCHANGED|cv2.IMREAD_IGNORE_ORIENTATION)\n"
                           "    if im is None:\n"
                           "        sys.stdout.buffer.write(b\"0 0 0 0\\n\"); continue\n"
                           "    im=np.ascontiguousarray(im); c=1 if im.ndim==2 else im.shape[2]\n"
                           "    sys.stdout.buffer.write(b\"%%d %%d %%d %%d\\n\" %% (im.shape[1], im.shape[0], c, im.dtype.itemsize))\n"
                           "    sys.stdout.buffer.write(im.tobytes())\n"
                           "sys.stdout.flush()'");
    for (int i = 0; i < n; i++)
        off += sprintf(cmd + off, " '%s'", paths[i]);
    sprintf(cmd + off, " 2>/dev/null");
    FILE *p = popen(cmd, "r");
    free(cmd);
    return p;
}

static uint8_t *cv_next(FILE *p, int *w, int *h, int *ch, int *isz)
{
    if (fscanf(p, "%d %d %d %d", w, h, ch, isz) != 4 || fgetc(p) != '\n')
        return NULL;
    size_t n = (size_t)*w * *h * *ch * *isz;
    uint8_t *buf = malloc(n ? n : 1);
    if (fread(buf, 1, n, p) != n) {
        free(buf);
        return NULL;
    }
    return buf;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len ? *len : 1);
    if (fread(b, 1, *len, f) != *len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void test_real_photos(void)
{
    const char *data = test_data_dir();
    if (!data) {
        fprintf(stderr, "  SKIP real photos: ../shared/data not found (set FM_DATA_DIR)\n");
        return;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/faces", data);
    char *files[400], *cmp[400];
    int n = 0, ncmp = 0;
    collect(dir, files, &n, 400);
    qsort(files, (size_t)n, sizeof files[0], cmp_str);
    CHECK(n > 10);
    int decoded = 0, skipped_foreign = 0;
    for (int k = 0; k < n; k++) {
        fm_image *im = NULL;
        fm_image_info info;
        fm_status st = fm_image_load(ctx, files[k], FM_PIX_NONE, &im, &info);
        if (st == FM_ERR_FORMAT) { /* the data set has a WebP named .jpg: the bytes decide, not the name */
            skipped_foreign++;
            continue;
        }
        CHECK_MSG(st == FM_OK, "%s: %s", files[k], fm_ctx_errmsg(ctx));
        if (st != FM_OK)
            continue;
        decoded++;
        if (k % 3 == 0 && info.bit_depth == 8)
            cmp[ncmp++] = files[k];
        /* every 8th: lossless JPEG 2000 round trip of a smaller version must be exact */
        if (k % 8 == 0) {
            fm_image *small = NULL;
            int tw = info.width > 360 ? 360 : info.width;
            int th = (int)((double)info.height * tw / info.width + 0.5);
            CHECK_STATUS(fm_image_resize(ctx, im, tw, th > 0 ? th : 1, FM_RESIZE_AREA, &small), FM_OK);
            for (int jp2 = 0; jp2 < 2 && small; jp2++) {
                size_t len;
                uint8_t *enc = encode(small, jp2 ? FM_FORMAT_JP2 : FM_FORMAT_J2K, 0, &len);
                fm_image *d = NULL;
                CHECK_STATUS(fm_image_decode(ctx, enc, len, FM_PIX_NONE, &d, NULL), FM_OK);
                CHECK_MSG(d && max_diff(d, small) == 0, "%s: lossless %s not exact", files[k], jp2 ? "JP2" : "J2K");
                fm_image_destroy(d);
                free(enc);
            }
            fm_image_destroy(small);
        }
        fm_image_destroy(im);
    }
    /* compare with OpenCV's decode (same libjpeg-turbo / libpng, ISLOW DCT, fancy upsampling): exact */
    int compared = 0;
    FILE *p = ncmp ? cv_open(cmp, ncmp) : NULL;
    for (int k = 0; p && k < ncmp; k++) {
        int cw, chh, cc, isz;
        uint8_t *ref = cv_next(p, &cw, &chh, &cc, &isz);
        if (!ref) {
            if (k == 0)
                fprintf(stderr, "  note: /usr/bin/python3 with cv2 (python3-opencv) not available: "
                                "OpenCV comparison skipped\n");
            else
                CHECK_MSG(0, "OpenCV output ended early at %s", cmp[k]);
            break;
        }
        if (cw == 0 || isz != 1) {
            free(ref);
            continue;
        }
        size_t blen = 0;
        uint8_t *bytes = read_all(cmp[k], &blen);
        fm_image *mine = NULL;
        fm_pixfmt pf = cc == 1 ? FM_PIX_GRAY8 : cc == 3 ? FM_PIX_BGR24 : FM_PIX_BGRA;
        CHECK_STATUS(fm_image_decode(ctx, bytes, blen, pf, &mine, NULL), FM_OK);
        if (mine) {
            CHECK(fm_image_width(mine) == cw && fm_image_height(mine) == chh);
            int ms, bad = 0;
            const uint8_t *mp = fm_image_plane(mine, 0, &ms);
            for (int y = 0; y < chh && fm_image_width(mine) == cw; y++)
                bad += memcmp(mp + (size_t)y * ms, ref + (size_t)y * cw * cc, (size_t)cw * cc) != 0;
            CHECK_MSG(bad == 0, "%s: %d rows differ from OpenCV", cmp[k], bad);
            compared++;
        }
        fm_image_destroy(mine);
        free(bytes);
        free(ref);
    }
    if (p)
        pclose(p);
    for (int k = 0; k < n; k++)
        free(files[k]);
    fprintf(stderr, "  %d photos decoded (%d compared with OpenCV), %d foreign files skipped\n", decoded, compared,
            skipped_foreign);
}

/* The card's portrait: a face photo as a 480x640 (w x h) JP2 of about 20 KB, lossy. */
static void test_card_portrait(void)
{
    const char *data = test_data_dir();
    char path[4200];
    fm_image *photo = NULL;
    if (data) {
        snprintf(path, sizeof path, "%s/faces/face_recognition/examples/knn_examples/train/obama/obama.jpg", data);
        fm_image *full = NULL;
        if (fm_image_load(ctx, path, FM_PIX_RGB24, &full, NULL) == FM_OK) { /* centre crop, 3:4 */
            int w = fm_image_width(full), h = fm_image_height(full), cw = w, ch = h;
            if (cw * 4 > ch * 3)
                cw = ch * 3 / 4;
            else
                ch = cw * 4 / 3;
            CHECK_STATUS(fm_image_crop(ctx, full, (w - cw) / 2, (h - ch) / 2, cw, ch, &photo), FM_OK);
        }
        fm_image_destroy(full);
    }
    int real = photo != NULL;
    if (!photo) { /* synthetic fallback */
        uint8_t *rgb = make_rgb(600, 800, 9);
        fm_image *w = wrap_rgb(rgb, 600, 800);
        fm_image_convert(ctx, w, FM_PIX_RGB24, &photo);
        fm_image_destroy(w);
        free(rgb);
    }
    REQUIRE(photo);
    fm_image *portrait = NULL;
    CHECK_STATUS(fm_image_resize(ctx, photo, 480, 640, FM_RESIZE_AREA, &portrait), FM_OK);
    REQUIRE(portrait);
    const int ratio = 480 * 640 * 3 / 20000; /* 46:1 -> about 20 KB */
    size_t len;
    uint8_t *enc = encode(portrait, FM_FORMAT_JP2, ratio, &len);
    REQUIRE(enc);
    CHECK_MSG(len <= 20500 && len > 10000, "JP2 at %d:1 is %zu bytes", ratio, len);
    fm_image *d = NULL;
    CHECK_STATUS(fm_image_decode(ctx, enc, len, FM_PIX_NONE, &d, NULL), FM_OK);
    double q = d ? psnr(d, portrait) : 0;
    if (real) /* a photograph at 46:1 keeps its detail; the synthetic fallback is noise and is not judged */
        CHECK_MSG(q > 30, "JP2 card portrait PSNR %.1f dB", q);
    fprintf(stderr, "  card-like JP2: 480x640, %zu bytes, PSNR %.1f dB\n", len, q);
    fm_image_destroy(d), free(enc), fm_image_destroy(portrait), fm_image_destroy(photo);
}

int main(void)
{
    ctx = fm_ctx_create();
    RUN(test_detect);
    RUN(test_pnm);
    RUN(test_png);
    RUN(test_jp2_depths);
    RUN(test_roundtrip_synthetic);
    RUN(test_truncation_and_corruption);
    RUN(test_hostile_headers);
    RUN(test_real_photos);
    RUN(test_card_portrait);
    fm_ctx_destroy(ctx);
    return test_finish();
}
