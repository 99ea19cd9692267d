/* libFuzzer target: dlib's serialized HOG frontal face detector (dlib_frontal_face_detector.dat, untrusted bytes)
 * through fm_hog_load; a model that loads is run once on a small synthetic RGB image, so the filter bank it built
 * is exercised too. Seeds: tests/fuzz/make_seeds_dlib_hog.sh (the real model and a few prefixes of it). */
#include "face/hog.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return 0;
    fm_hog *h = NULL;
    if (fm_hog_load(ctx, data, size, &h) == FM_OK) {
        enum { W = 96, H = 88 };
        static uint8_t img[W * H * 3];
        for (int i = 0; i < W * H * 3; i++)
            img[i] = (uint8_t)((i * 7) ^ (i >> 5));
        nn_arena a = {NULL, 0};
        fm_hog_det *d = NULL;
        size_t n = 0;
        fm_hog_detect(h, ctx, &a, img, W, H, W * 3, -0.5, &d, &n);
        free(d);
        nn_arena_free(&a);
    }
    fm_hog_free(h);
    fm_ctx_destroy(ctx);
    return 0;
}
