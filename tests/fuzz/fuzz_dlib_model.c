/* libFuzzer target: dlib model files (untrusted bytes) through every dlib loader of the face engine — shape
 * predictor, face recognition ResNet and MMOD detector, from the (FM_FUZZ-instrumented) library. The first input byte
 * picks the loader; the rest is the file.
 * Seeds: the first kilobytes of the real .dat files (prefix the selector byte: 0/1 shape predictor, 2 ResNet,
 * 3 MMOD). */
#include "face/dlib_ser.h"
#include "face/mmod.h"
#include "face/resnet.h"
#include "face/shape_predictor.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] & 3) {
    case 0:
    case 1: {
        dser r;
        dser_init(&r, p, n, "fuzz");
        fm_shape_predictor *sp = NULL;
        if (fm_sp_load(&r, &sp) == 0) {
            /* run it once on a small grey image */
            static uint8_t img[32 * 32];
            float xy[2 * 1000];
            fm_sp_image si = {img, 32, 32, 32, 1};
            if (sp->nparts <= 1000)
                fm_sp_predict(sp, &si, 4, 4, 27, 27, xy);
        }
        fm_sp_free(sp);
        break;
    }
    case 2: {
        fm_resnet *rn = NULL;
        if (fm_resnet_load(ctx, p, n, &rn) == FM_OK)
            fm_resnet_free(rn);
        break;
    }
    default: {
        fm_mmod *m = NULL;
        if (fm_mmod_load(ctx, p, n, &m) == FM_OK)
            fm_mmod_free(m);
        break;
    }
    }
    fm_ctx_destroy(ctx);
    return 0;
}
