/* EXIF orientation of JPEGs (fm_image_decode / fm_image_probe / fm_image_exif_orientation, FM_PARAM_EXIF_ORIENTATION).
 *
 * Each test JPEG is real structure built here: a picture encoded by TurboJPEG (through fm_image_encode), then an APP1
 * segment written byte by byte after SOI — "Exif\0\0", a TIFF header in either byte order, IFD0 with several entries
 * (Make as an ASCII string stored at an offset, Orientation, XResolution as a RATIONAL at an offset, an Exif IFD
 * pointer), the next-IFD offset. The expected upright picture comes from the tag's definition in TIFF 6.0 / Exif 2.32
 * (which visual side the stored 0th row and 0th column are), coded here independently of the library's mapping.
 * Hostile Exif segments (cut, wrong byte order or magic, offsets and counts outside the segment, bad values) must
 * fail with FM_ERR_CORRUPT (or TRUNCATED when the segment runs past the file) and decode unchanged with the setting
 * off. */
#include "test.h"
#include "test_image_util.h"

#include <stdint.h>
#include <string.h>

static fm_ctx *ctx;

/* ---- the tag's meaning, from the standard's table ------------------------------------------------------------- */

/* For Orientation v, the visual side of the stored 0th row and of the stored 0th column (Exif 2.32 Table 4 /
 * TIFF 6.0 p. 36): 1 top/left, 2 top/right, 3 bottom/right, 4 bottom/left, 5 left/top, 6 right/top, 7 right/bottom,
 * 8 left/bottom. */
enum { TOP, BOTTOM, LEFT, RIGHT };
static const int ROW0[9] = {0, TOP, TOP, BOTTOM, BOTTOM, LEFT, RIGHT, RIGHT, LEFT};
static const int COL0[9] = {0, LEFT, RIGHT, RIGHT, LEFT, TOP, TOP, BOTTOM, BOTTOM};

/* Where stored pixel (sx, sy) appears in the upright W x H picture. When the 0th row is the top or bottom, stored
 * rows are visual rows (row 0 at the named side) and stored columns visual columns; when it is the left or right
 * side, stored rows are visual columns and stored columns visual rows. */
static void shown_at(int v, int W, int H, int sx, int sy, int *dx, int *dy)
{
    if (ROW0[v] == TOP || ROW0[v] == BOTTOM) {
        *dy = ROW0[v] == TOP ? sy : H - 1 - sy;
        *dx = COL0[v] == LEFT ? sx : W - 1 - sx;
    } else {
        *dx = ROW0[v] == LEFT ? sy : W - 1 - sy;
        *dy = COL0[v] == TOP ? sx : H - 1 - sx;
    }
}

/* ---- building the files ---------------------------------------------------------------------------------------- */

typedef struct {
    uint8_t b[2048];
    size_t n;
    int be;
} tiffw;

static void put16(tiffw *t, size_t at, unsigned v)
{
    t->b[at + (t->be ? 0 : 1)] = (uint8_t)(v >> 8);
    t->b[at + (t->be ? 1 : 0)] = (uint8_t)v;
}
static void put32(tiffw *t, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        t->b[at + (size_t)(t->be ? i : 3 - i)] = (uint8_t)(v >> (24 - 8 * i));
}
static void entry(tiffw *t, size_t at, unsigned tag, unsigned type, uint32_t count, uint32_t value)
{
    put16(t, at, tag);
    put16(t, at + 2, type);
    put32(t, at + 4, count);
    if (type == 3 && count == 1) { /* SHORT: left-justified in the value field */
        put32(t, at + 8, 0);
        put16(t, at + 8, value);
    } else
        put32(t, at + 8, value);
}

/* A well-formed TIFF block: IFD0 at offset 8 with Make (ASCII, at an offset), Orientation = v, XResolution
 * (RATIONAL, at an offset), ExifIFD pointer (an empty IFD), next IFD 0. orient_type/count let tests break the tag. */
static void tiff_make(tiffw *t, int be, unsigned v, unsigned orient_type, uint32_t orient_count)
{
    memset(t, 0, sizeof *t);
    t->be = be;
    t->b[0] = t->b[1] = be ? 'M' : 'I';
    put16(t, 2, 42);
    put32(t, 4, 8);
    const size_t ifd = 8, nent = 4, data = ifd + 2 + 12 * nent + 4;
    put16(t, ifd, nent);
    const char make[] = "facematch test";
    entry(t, ifd + 2, 0x010F, 2, sizeof make, (uint32_t)data);
    entry(t, ifd + 14, 0x0112, orient_type, orient_count, v);
    entry(t, ifd + 26, 0x011A, 5, 1, (uint32_t)(data + 16));
    entry(t, ifd + 38, 0x8769, 4, 1, (uint32_t)(data + 24));
    put32(t, ifd + 50, 0); /* no IFD1 */
    memcpy(t->b + data, make, sizeof make);
    put32(t, data + 16, 72);
    put32(t, data + 20, 1);
    put16(t, data + 24, 0); /* the Exif IFD: no entries */
    put32(t, data + 26, 0);
    t->n = data + 30;
}

/* jpeg with an APP1 segment (payload = prefix ‖ body) inserted right after SOI; seglen_delta lies about its length. */
static uint8_t *with_app1(const uint8_t *jpg, size_t jn, const char *prefix, size_t plen, const uint8_t *body,
                          size_t bn, int seglen_delta, size_t *out_n)
{
    size_t seg = 2 + plen + bn;
    uint8_t *o = malloc(jn + 4 + plen + bn);
    if (!o || seg > 0xFFFF) {
        fprintf(stderr, "with_app1: no memory or segment too long\n");
        abort();
    }
    memcpy(o, jpg, 2);
    o[2] = 0xFF, o[3] = 0xE1;
    size_t claimed = (size_t)((int)seg + seglen_delta);
    o[4] = (uint8_t)(claimed >> 8), o[5] = (uint8_t)claimed;
    memcpy(o + 6, prefix, plen);
    memcpy(o + 6 + plen, body, bn);
    memcpy(o + 6 + plen + bn, jpg + 2, jn - 2);
    *out_n = jn + 4 + plen + bn;
    return o;
}
static uint8_t *with_exif(const uint8_t *jpg, size_t jn, const uint8_t *tiff, size_t tn, size_t *out_n)
{
    return with_app1(jpg, jn, "Exif\0\0", 6, tiff, tn, 0, out_n);
}

static uint8_t *encode_jpeg(const fm_image *im, size_t *n)
{
    *n = 0;
    if (fm_image_encode(ctx, im, FM_FORMAT_JPEG, 95, NULL, 0, n) != FM_ERR_BUFFER_TOO_SMALL)
        return NULL;
    uint8_t *b = malloc(*n);
    if (b && fm_image_encode(ctx, im, FM_FORMAT_JPEG, 95, b, *n, n) != FM_OK) {
        free(b);
        return NULL;
    }
    return b;
}

static fm_image *decode(fm_ctx *c, const uint8_t *p, size_t n, fm_pixfmt want, fm_status *st)
{
    fm_image *im = NULL;
    *st = fm_image_decode(c, p, n, want, &im, NULL);
    return im;
}

/* ---- tests -------------------------------------------------------------------------------------------------------- */

static void test_setting(void)
{
    fm_ctx *c = fm_ctx_create();
    REQUIRE(c);
    CHECK(fm_ctx_get(c, FM_PARAM_EXIF_ORIENTATION) == 1); /* applied by default */
    CHECK_STATUS(fm_ctx_set(c, FM_PARAM_EXIF_ORIENTATION, 0), FM_OK);
    CHECK(fm_ctx_get(c, FM_PARAM_EXIF_ORIENTATION) == 0);
    CHECK_STATUS(fm_ctx_set(c, FM_PARAM_EXIF_ORIENTATION, 2), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_ctx_set(c, FM_PARAM_EXIF_ORIENTATION, -1), FM_ERR_INVALID_ARGUMENT);
    CHECK(fm_ctx_get(c, FM_PARAM_EXIF_ORIENTATION) == 0);
    CHECK_STATUS(fm_ctx_set(c, FM_PARAM_EXIF_ORIENTATION, 1), FM_OK);
    CHECK_STATUS(fm_ctx_set(c, FM_PARAM_MAX_PIXELS, 0), FM_ERR_INVALID_ARGUMENT); /* limits still >= 1 */
    fm_ctx_destroy(c);
}

/* All 8 orientations in both byte orders: the stored picture is the upright one laid out as the tag says; decoding
 * gives the upright picture back (exactly, relative to the same file decoded with the setting off, and closely
 * relative to the original), probe agrees, and grey/RGBA outputs are oriented too. */
static void test_all_orientations(void)
{
    const int W = 37, H = 23; /* upright size; odd, not multiples of the 8/16-pixel MCU */
    uint8_t *up = make_rgb(W, H, 5);
    REQUIRE(up);
    fm_ctx *off = fm_ctx_create();
    REQUIRE(off);
    REQUIRE(fm_ctx_set(off, FM_PARAM_EXIF_ORIENTATION, 0) == FM_OK);
    for (int v = 1; v <= 8; v++)
        for (int be = 0; be < 2; be++) {
            int sw = v >= 5 ? H : W, sh = v >= 5 ? W : H;
            fm_image *stored = NULL;
            REQUIRE(fm_image_create(ctx, FM_PIX_RGB24, sw, sh, &stored) == FM_OK);
            int ss;
            uint8_t *sp = fm_image_pixels(stored, 0, &ss);
            for (int sy = 0; sy < sh; sy++)
                for (int sx = 0; sx < sw; sx++) {
                    int dx, dy;
                    shown_at(v, W, H, sx, sy, &dx, &dy);
                    memcpy(sp + (size_t)sy * ss + (size_t)sx * 3, up + ((size_t)dy * W + dx) * 3, 3);
                }
            size_t jn, fn;
            uint8_t *jpg = encode_jpeg(stored, &jn);
            REQUIRE(jpg);
            tiffw t;
            tiff_make(&t, be, (unsigned)v, 3, 1);
            uint8_t *file = with_exif(jpg, jn, t.b, t.n, &fn);
            CHECK_MSG(fm_image_exif_orientation(file, fn) == v, "orientation %d (%s): read %d", v, be ? "MM" : "II",
                      fm_image_exif_orientation(file, fn));
            fm_image_info info;
            CHECK_STATUS(fm_image_probe(ctx, file, fn, &info), FM_OK);
            CHECK_MSG(info.width == W && info.height == H, "orientation %d: probe %dx%d", v, info.width, info.height);
            fm_status st;
            fm_image *got = decode(ctx, file, fn, FM_PIX_NONE, &st), *raw = decode(off, file, fn, FM_PIX_NONE, &st);
            REQUIRE(got && raw);
            CHECK(fm_image_width(got) == W && fm_image_height(got) == H);
            CHECK(fm_image_width(raw) == sw && fm_image_height(raw) == sh);
            CHECK_STATUS(fm_image_probe(off, file, fn, &info), FM_OK);
            CHECK(info.width == sw && info.height == sh);
            int gs, rs;
            const uint8_t *g = fm_image_plane(got, 0, &gs), *r = fm_image_plane(raw, 0, &rs);
            int exact_bad = 0;
            double sum = 0;
            for (int sy = 0; sy < sh; sy++)
                for (int sx = 0; sx < sw; sx++) {
                    int dx, dy;
                    shown_at(v, W, H, sx, sy, &dx, &dy);
                    const uint8_t *a = g + (size_t)dy * gs + (size_t)dx * 3, *b = r + (size_t)sy * rs + (size_t)sx * 3;
                    exact_bad += memcmp(a, b, 3) != 0;
                    for (int c = 0; c < 3; c++)
                        sum += abs((int)a[c] - (int)up[((size_t)dy * W + dx) * 3 + c]);
                }
            CHECK_MSG(exact_bad == 0, "orientation %d (%s): %d pixels not where the tag puts them", v, be ? "MM" : "II",
                      exact_bad);
            double mad = sum / (W * H * 3);
            CHECK_MSG(mad < 4.0, "orientation %d: mean abs difference to the upright original %.2f", v, mad);
            /* grey and RGBA outputs: the same geometry */
            fm_pixfmt fmts[2] = {FM_PIX_GRAY8, FM_PIX_RGBA};
            for (int k = 0; k < 2; k++) {
                fm_image *go = decode(ctx, file, fn, fmts[k], &st), *ro = decode(off, file, fn, fmts[k], &st);
                REQUIRE(go && ro);
                int bpp = fm_pixfmt_bpp(fmts[k]), a1, a2, bad = 0;
                const uint8_t *pa = fm_image_plane(go, 0, &a1), *pb = fm_image_plane(ro, 0, &a2);
                for (int sy = 0; sy < sh; sy++)
                    for (int sx = 0; sx < sw; sx++) {
                        int dx, dy;
                        shown_at(v, W, H, sx, sy, &dx, &dy);
                        bad += memcmp(pa + (size_t)dy * a1 + (size_t)dx * bpp, pb + (size_t)sy * a2 + (size_t)sx * bpp,
                                      (size_t)bpp) != 0;
                    }
                CHECK_MSG(bad == 0 && fm_image_width(go) == W, "orientation %d, %s: %d pixels misplaced", v,
                          fm_pixfmt_name(fmts[k]), bad);
                fm_image_destroy(go), fm_image_destroy(ro);
            }
            fm_image_destroy(got), fm_image_destroy(raw), fm_image_destroy(stored);
            free(file), free(jpg);
        }
    fm_ctx_destroy(off);
    free(up);
}

/* No Exif, a non-Exif APP1 (XMP), Exif after XMP, Exif without an Orientation tag: all upright as stored. */
static void test_absent_and_other_app1(void)
{
    const int W = 20, H = 12;
    uint8_t *rgb = make_rgb(W, H, 7);
    const uint8_t *planes[1] = {rgb};
    int strides[1] = {W * 3};
    fm_image *im = NULL, *src = NULL;
    REQUIRE(fm_image_wrap(ctx, FM_PIX_RGB24, W, H, planes, strides, 0, &im) == FM_OK);
    REQUIRE(fm_image_convert(ctx, im, FM_PIX_RGB24, &src) == FM_OK);
    size_t jn, n1, n2;
    uint8_t *jpg = encode_jpeg(src, &jn);
    REQUIRE(jpg);
    CHECK(fm_image_exif_orientation(jpg, jn) == 1);
    static const char xmp[] = "http://ns.adobe.com/xap/1.0/";
    const uint8_t xbody[] = "<x:xmpmeta tiff:Orientation=\"6\"/>";
    uint8_t *f1 = with_app1(jpg, jn, xmp, sizeof xmp, xbody, sizeof xbody, 0, &n1);
    CHECK(fm_image_exif_orientation(f1, n1) == 1);
    tiffw t;
    tiff_make(&t, 1, 8, 3, 1);
    uint8_t *f2 = with_exif(f1, n1, t.b, t.n, &n2); /* Exif first, XMP second: the first Exif counts */
    CHECK(fm_image_exif_orientation(f2, n2) == 8);
    fm_image_info info;
    CHECK_STATUS(fm_image_probe(ctx, f2, n2, &info), FM_OK);
    CHECK(info.width == H && info.height == W);
    /* Exif with IFD0 holding only Make: orientation 1 */
    tiffw u;
    tiff_make(&u, 0, 6, 3, 1);
    put16(&u, 8 + 14, 0x0110); /* the Orientation entry becomes Model */
    size_t n3;
    uint8_t *f3 = with_exif(jpg, jn, u.b, u.n, &n3);
    CHECK(fm_image_exif_orientation(f3, n3) == 1);
    fm_status st;
    fm_image *d = decode(ctx, f3, n3, FM_PIX_NONE, &st);
    CHECK(st == FM_OK && fm_image_width(d) == W && fm_image_height(d) == H);
    fm_image_destroy(d);
    CHECK(fm_image_exif_orientation("not a jpeg", 10) == 0);
    CHECK(fm_image_exif_orientation(NULL, 0) == 0);
    free(f1), free(f2), free(f3), free(jpg), free(rgb);
    fm_image_destroy(im), fm_image_destroy(src);
}

/* Hostile Exif: each must fail with the expected status and a message naming Exif, decode as stored with the
 * setting off, and fm_image_exif_orientation must say 0. */
static void test_hostile(void)
{
    const int W = 16, H = 9;
    fm_image *src = NULL;
    REQUIRE(fm_image_create(ctx, FM_PIX_GRAY8, W, H, &src) == FM_OK);
    size_t jn;
    uint8_t *jpg = encode_jpeg(src, &jn);
    REQUIRE(jpg);
    fm_ctx *off = fm_ctx_create();
    REQUIRE(off && fm_ctx_set(off, FM_PARAM_EXIF_ORIENTATION, 0) == FM_OK);
    enum {
        H_CUT, H_BYTE_ORDER, H_MAGIC, H_IFD_PAST_END, H_IFD_HUGE, H_IFD_ZERO, H_COUNT_PAST_END, H_VALUE_0, H_VALUE_9,
        H_TYPE_LONG, H_COUNT_2, H_DUPLICATE, H_EMPTY, H_NCASES
    };
    static const char *const names[H_NCASES] = {"cut TIFF header", "byte order", "magic", "IFD0 past the end",
                                              "IFD0 offset 0xFFFFFFFF", "IFD0 offset 0", "entry count past the end",
                                              "value 0", "value 9", "type LONG", "count 2", "two different tags",
                                              "empty Exif payload"};
    for (int k = 0; k < H_NCASES; k++)
        for (int be = 0; be < 2; be++) {
            tiffw t;
            tiff_make(&t, be, 6, 3, 1);
            switch (k) {
            case H_CUT: t.n = 7; break;
            case H_BYTE_ORDER: t.b[0] = 'I', t.b[1] = 'M'; break;
            case H_MAGIC: put16(&t, 2, 43); break;
            case H_IFD_PAST_END: put32(&t, 4, (uint32_t)t.n - 1); break;
            case H_IFD_HUGE: put32(&t, 4, 0xFFFFFFFFu); break;
            case H_IFD_ZERO: put32(&t, 4, 0); break;
            case H_COUNT_PAST_END: put16(&t, 8, 0xFFFF); break;
            case H_VALUE_0: entry(&t, 8 + 14, 0x0112, 3, 1, 0); break;
            case H_VALUE_9: entry(&t, 8 + 14, 0x0112, 3, 1, 9); break;
            case H_TYPE_LONG: entry(&t, 8 + 14, 0x0112, 4, 1, 6); break;
            case H_COUNT_2: entry(&t, 8 + 14, 0x0112, 3, 2, 6); break;
            case H_DUPLICATE: entry(&t, 8 + 26, 0x0112, 3, 1, 3); break;
            case H_EMPTY: t.n = 0; break;
            }
            size_t fn;
            uint8_t *file = with_exif(jpg, jn, t.b, t.n, &fn);
            fm_status st;
            fm_image *im = decode(ctx, file, fn, FM_PIX_NONE, &st);
            CHECK_MSG(st == FM_ERR_CORRUPT && !im && strstr(fm_ctx_errmsg(ctx), "Exif"), "%s (%s): %s, \"%s\"",
                      names[k], be ? "MM" : "II", fm_status_name(st), fm_ctx_errmsg(ctx));
            fm_image_info info;
            CHECK_STATUS(fm_image_probe(ctx, file, fn, &info), FM_ERR_CORRUPT);
            CHECK(fm_image_exif_orientation(file, fn) == 0);
            fm_image *im2 = decode(off, file, fn, FM_PIX_NONE, &st);
            CHECK_MSG(st == FM_OK && fm_image_width(im2) == W && fm_image_height(im2) == H, "%s with the setting off: %s",
                      names[k], fm_status_name(st));
            fm_image_destroy(im), fm_image_destroy(im2);
            free(file);
        }
    /* the APP1 segment claims more bytes than the file has, or fewer than its header: truncated / corrupt, no read
     * outside the data either way */
    tiffw t;
    tiff_make(&t, 0, 6, 3, 1);
    size_t fn;
    uint8_t *file = with_app1(jpg, jn, "Exif\0\0", 6, t.b, t.n, 0, &fn);
    for (size_t cut = 4; cut < 6 + 6 + t.n; cut++) { /* every cut inside the APP1 segment */
        fm_status st;
        fm_image *im = decode(ctx, file, cut, FM_PIX_NONE, &st);
        CHECK_MSG(st == FM_ERR_TRUNCATED && !im, "cut at %zu: %s", cut, fm_status_name(st));
        fm_image_destroy(im);
    }
    free(file);
    file = with_app1(jpg, jn, "Exif\0\0", 6, t.b, t.n, -20, &fn); /* the segment ends inside IFD0 */
    fm_status st;
    fm_image *im = decode(ctx, file, fn, FM_PIX_NONE, &st);
    CHECK_MSG(st != FM_OK && !im, "segment shorter than its IFD: %s", fm_status_name(st));
    fm_image_destroy(im);
    free(file);
    fm_ctx_destroy(off);
    free(jpg);
    fm_image_destroy(src);
}

int main(void)
{
    ctx = fm_ctx_create();
    RUN(test_setting);
    RUN(test_all_orientations);
    RUN(test_absent_and_other_app1);
    RUN(test_hostile);
    fm_ctx_destroy(ctx);
    return test_finish();
}
