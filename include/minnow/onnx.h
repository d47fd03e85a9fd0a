/* minnow onnx: ONNX models in and out (docs/INTEROP.md).
 *
 * Import reads an ONNX ModelProto (opset 9..17 semantics) holding a single
 * float input and a chain/DAG of Gemm, MatMul (+ Add bias), Conv, Relu,
 * Tanh, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape (to
 * [N, -1]), BatchNormalization, Add, Softmax, Dropout, Identity and
 * Constant nodes; initializers become the parameters.  Anything else is
 * MN_EFORMAT naming the op and the node.  Every count, dimension and tensor
 * byte size is checked before use: a hostile file gets an error, never a
 * crash.
 *
 * Export writes opset 13: dense -> Gemm, conv -> Conv, ..., with weights as
 * f32 initializers, or, for MN_ST_AFFINE stores, as int8 initializers
 * through DequantizeLinear (and the layer's input through a
 * QuantizeLinear/DequantizeLinear pair when the store quantizes its input).
 * Binary layers (sign, bdense, bconv) become float weights (sign x scale)
 * and sign becomes Where(GreaterOrEqual(x, 0), 1, -1): same outputs, f32 size.
 *
 * Without protobuf-c at build time every call returns MN_EUNSUPPORTED with
 * "built without ONNX support". */
#ifndef MINNOW_ONNX_H
#define MINNOW_ONNX_H

#include "minnow/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if this build reads and writes ONNX. */
int mn_onnx_available(void);

/* Builds and finalizes g (initialised here; free with mn_graph_free) from an
 * ONNX model of `len` bytes.  The input node has mean 0, std 1: the model
 * takes what the exported network took. */
mn_status mn_onnx_import_mem(const unsigned char *buf, size_t len, mn_graph *g);
mn_status mn_onnx_import(const char *path, mn_graph *g);

/* Serializes g as an ONNX model; *buf is malloc'd and owned by the caller. */
mn_status mn_onnx_export_mem(const mn_graph *g, unsigned char **buf, size_t *len);
/* The same, written atomically to path. */
mn_status mn_onnx_export(const mn_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif
