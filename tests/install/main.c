/* Consumer of an installed libfacematch: uses only the public header, links through find_package(facematch) or
 * pkg-config. Prints "consumer ok <version>" and exits 0 when every check holds. */
#include <facematch.h>

#include <stdio.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "consumer: check failed: %s (line %d)\n", #c, __LINE__); failures++; } } while (0)

int main(void)
{
    CHECK(strcmp(fm_version(), FM_VERSION_STRING) == 0);

    char hex[65];
    fm_sha256("abc", 3, NULL, hex); /* FIPS 180-2 test vector */
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);

    fm_ctx *ctx = fm_ctx_create();
    CHECK(ctx != NULL);
    CHECK(fm_ctx_set(ctx, FM_PARAM_MAX_PIXELS, 0) == FM_ERR_INVALID_ARGUMENT);
    CHECK(strlen(fm_ctx_errmsg(ctx)) > 0);
    CHECK(strcmp(fm_status_name(FM_ERR_CORRUPT), "FM_ERR_CORRUPT") == 0);

    /* a 2x2 greyscale PGM decoded from memory */
    static const unsigned char pgm[] = "P5\n2 2\n255\n\x01\x02\x03\x04";
    CHECK(fm_image_detect_format(pgm, sizeof pgm - 1) == FM_FORMAT_PNM);
    fm_image *img = NULL;
    fm_image_info info;
    fm_status st = fm_image_decode(ctx, pgm, sizeof pgm - 1, FM_PIX_NONE, &img, &info);
    CHECK(st == FM_OK);
    if (st == FM_OK) {
        unsigned char px[4] = {0};
        CHECK(info.width == 2 && info.height == 2 && info.channels == 1);
        CHECK(fm_image_copy_to(ctx, img, FM_PIX_GRAY8, px, sizeof px, 0) == FM_OK);
        CHECK(px[0] == 1 && px[3] == 4);
    } else {
        fprintf(stderr, "consumer: decode: %s\n", fm_ctx_errmsg(ctx));
    }
    fm_image_destroy(img);

    fm_model_desc d;
    CHECK(fm_model_describe(FM_MODEL_DLIB_RESNET, &d) == FM_OK && strlen(d.sha256) == 64);
    fm_ctx_destroy(ctx);

    if (failures)
        return 1;
    printf("consumer ok %s\n", fm_version());
    return 0;
}
