/* libFuzzer target: the EXIF orientation reader (a strict bounded TIFF reader over a JPEG's APP1 Exif segment).
 * The input is the TIFF data that follows "Exif\0\0"; it is (1) read by fmi_exif_orientation directly and (2) put as
 * an APP1 segment into a small valid JPEG that fm_image_decode / fm_image_probe / fm_image_exif_orientation then read,
 * with the checks: decode succeeds exactly when the reader accepts the segment, the size is the stored one turned for
 * orientations 5..8, and probe agrees with decode. Seeds: FM_FUZZ_SEEDS_OUT=DIR ./fuzz_exif (make_seeds_image.sh). */
#include "fuzz_image_common.h"
#include "image/image_internal.h"

static uint8_t *g_jpg;
static size_t g_jn;
static const int GW = 7, GH = 5;

static void init_jpeg(void)
{
    if (g_jpg)
        return;
    fm_ctx *ctx = fm_ctx_create();
    fm_image *im = seed_image(ctx, GW, GH, 0, 1);
    if (fm_image_encode(ctx, im, FM_FORMAT_JPEG, 90, NULL, 0, &g_jn) != FM_ERR_BUFFER_TOO_SMALL)
        abort();
    g_jpg = malloc(g_jn);
    if (!g_jpg || fm_image_encode(ctx, im, FM_FORMAT_JPEG, 90, g_jpg, g_jn, &g_jn) != FM_OK)
        abort();
    fm_image_destroy(im);
    fm_ctx_destroy(ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *out = getenv("FM_FUZZ_SEEDS_OUT");
    if (out && *out) {
        uint8_t t[64];
        char name[32];
        for (int be = 0; be < 2; be++)
            for (unsigned v = 1; v <= 8; v++) {
                size_t n = seed_exif_tiff(t, be, v);
                snprintf(name, sizeof name, "%s-%u.tiff", be ? "mm" : "ii", v);
                seed_write(out, name, t, n);
            }
        fprintf(stderr, "%d seeds written to %s\n", seed_count, out);
        exit(0);
    }
    init_jpeg();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0xFFFF - 8)
        return 0;
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return 0;
    int o = -1;
    fm_status st = fmi_exif_orientation(ctx, data, size, &o);
    if (st == FM_OK && (o < 1 || o > 8))
        __builtin_trap(); /* an accepted segment has a valid orientation */
    uint8_t *f = malloc(g_jn + size + 16);
    size_t fn = f ? seed_with_exif(g_jpg, g_jn, data, size, f, g_jn + size + 16) : 0;
    if (fn) {
        fm_image *im = NULL;
        fm_image_info info;
        fm_status dst = fm_image_decode(ctx, f, fn, FM_PIX_NONE, &im, &info);
        int eo = fm_image_exif_orientation(f, fn);
        if ((dst == FM_OK) != (st == FM_OK) || eo != (st == FM_OK ? o : 0))
            __builtin_trap(); /* the decoder and the public reader agree with the TIFF reader */
        if (dst == FM_OK) {
            int w = o >= 5 ? GH : GW, h = o >= 5 ? GW : GH;
            fm_image_info pi;
            if (!im || fm_image_width(im) != w || fm_image_height(im) != h || info.width != w ||
                fm_image_probe(ctx, f, fn, &pi) != FM_OK || pi.width != w || pi.height != h)
                __builtin_trap();
        }
        fm_image_destroy(im);
    }
    free(f);
    fm_ctx_destroy(ctx);
    return 0;
}
