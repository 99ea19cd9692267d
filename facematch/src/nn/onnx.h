/*
 * onnx.h — a small, strict ONNX loader and executor on top of nn.h (internal, not installed).
 *
 * Loading reads the protobuf wire format directly (varints, length-delimited, fixed32/64; every length checked
 * against the enclosing message; nesting depth limited; sizes overflow-checked) into ModelProto -> GraphProto:
 * nodes, initializers (raw_data, float_data, int64_data), inputs/outputs with their shapes, opset. Then it compiles
 * the graph for the fixed input shape the file declares: shape inference for every node, constant folding of every
 * node whose inputs are constants (the Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains PyTorch exports),
 * Conv + BatchNormalization folding, Conv + Relu/PRelu/Clip/Sigmoid fusion, and a scratch plan (nn_plan).
 *
 * Supported ops (exactly those found in fr_detect, fr_landmark, fr_feature, fr_liveness, fr_eye and BlazeFace front
 * plus a few trivial relatives): Add Sub Mul Div (numpy broadcasting), AveragePool BatchNormalization Clip Concat
 * Constant ConstantOfShape Conv Exp Flatten Gather Gemm GlobalAveragePool GlobalMaxPool Identity LeakyRelu MatMul
 * MaxPool PRelu Relu Reshape Shape Sigmoid Slice Softmax Squeeze Transpose Unsqueeze. Anything else, any
 * non-default domain, external data, unsupported data types, dynamic shapes left after folding: FM_ERR_MODEL_INVALID
 * with a message naming the node.
 *
 * Threads: an onnx_model is immutable after loading and may be used by many threads at once; each thread passes
 * its own nn_arena (scratch) to onnx_run.
 */
#ifndef FM_ONNX_H
#define FM_ONNX_H

#include "facematch.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

typedef struct onnx_model onnx_model;

/* Limits on untrusted model files (beyond the ctx's byte limits). */
#define ONNX_MAX_NODES 20000
#define ONNX_MAX_VALUES 60000
#define ONNX_MAX_NAME 4096
#define ONNX_MAX_DEPTH 16

/* Loads from memory (the buffer is only read during the call); files larger than the ctx's FM_PARAM_MAX_MODEL_BYTES
 * are refused (FM_ERR_LIMIT). Every other problem: FM_ERR_MODEL_INVALID (or FM_ERR_NO_MEMORY). */
fm_status onnx_model_load(fm_ctx *ctx, const void *data, size_t len, onnx_model **out);
fm_status onnx_model_load_file(fm_ctx *ctx, const char *path, onnx_model **out);
void onnx_model_free(onnx_model *m);

/* The single runtime input: its shape (rank <= NN_MAX_RANK) and element count. */
int onnx_model_input_rank(const onnx_model *m);
const int64_t *onnx_model_input_dims(const onnx_model *m);
size_t onnx_model_input_size(const onnx_model *m);
const char *onnx_model_input_name(const onnx_model *m);
/* Graph outputs, in file order. */
int onnx_model_num_outputs(const onnx_model *m);
const char *onnx_model_output_name(const onnx_model *m, int i);
int onnx_model_output_rank(const onnx_model *m, int i);
const int64_t *onnx_model_output_dims(const onnx_model *m, int i);
size_t onnx_model_output_size(const onnx_model *m, int i);
/* Opset version of the default domain. */
int64_t onnx_model_opset(const onnx_model *m);
/* Comma-separated "Op:count" list of the op types in the file (before folding), sorted by name; for tools/tests. */
const char *onnx_model_op_summary(const onnx_model *m);
/* Number of runtime steps after folding and fusion (for tests). */
int onnx_model_num_steps(const onnx_model *m);
/* Floats of scratch one run needs. */
size_t onnx_model_scratch(const onnx_model *m);
/* Forces the instruction set of every conv (NN_ISA_*, see nn.h; by default each picks nn_isa_best()). For tests and
 * bench/bench_nn; call before the model is shared or run. */
void onnx_model_set_isa(onnx_model *m, int isa);

/* The arena slot where onnx_run keeps the input tensor (reserves the arena first; NULL + message on failure).
 * Callers may build the input there and pass this pointer to onnx_run, saving an allocation and a copy. */
float *onnx_input_ptr(fm_ctx *ctx, const onnx_model *m, nn_arena *arena);

/* Runs the network. input has onnx_model_input_size() floats in the input's declared layout. outputs[i] receives
 * onnx_model_output_size(m, i) floats (caller-owned; an entry may be NULL to skip that output). arena is the
 * caller's per-thread scratch (reserved on first use; no allocation afterwards). threads >= 1. */
fm_status onnx_run(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const float *input, float *const *outputs,
                   int threads);

#endif
