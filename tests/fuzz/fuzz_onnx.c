/* libFuzzer target: the ONNX loader (protobuf wire format, graph compilation) and, when a model loads and is small,
 * one run of it on a zero input. Seeds: the small hand-encoded networks of tests/unit/test_onnx.c or any .onnx
 * file (e.g. fr_eye.onnx, 200 kB). Crashes, leaks, UB and hangs are findings; rejections are not. */
#include "nn/onnx.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return 0;
    fm_ctx_set(ctx, FM_PARAM_MAX_MODEL_BYTES, 4 << 20);
    onnx_model *m = NULL;
    if (onnx_model_load(ctx, data, size, &m) == FM_OK) {
        size_t in = onnx_model_input_size(m), outs = 0;
        for (int i = 0; i < onnx_model_num_outputs(m); i++)
            outs += onnx_model_output_size(m, i);
        /* run only what finishes quickly: bounded tensors and scratch */
        if (in <= (1u << 18) && outs <= (1u << 18) && onnx_model_scratch(m) <= (1u << 22)) {
            float *x = calloc(in ? in : 1, sizeof(float));
            float *o = calloc(outs ? outs : 1, sizeof(float));
            float *ptr[64];
            size_t off = 0;
            int n = onnx_model_num_outputs(m);
            for (int i = 0; i < n && i < 64; i++) {
                ptr[i] = o + off;
                off += onnx_model_output_size(m, i);
            }
            nn_arena a = {0};
            if (x && o && n <= 64)
                onnx_run(ctx, m, &a, x, ptr, 1);
            nn_arena_free(&a);
            free(x);
            free(o);
        }
        onnx_model_free(m);
    }
    fm_ctx_destroy(ctx);
    return 0;
}
