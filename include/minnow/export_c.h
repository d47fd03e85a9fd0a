/* minnow export_c: a model as standalone C99 source for a device.
 *
 * Writes DIR/model.c and DIR/model.h: the weights in their compressed
 * storage as const arrays (f32; CSR as row pointers, u16 columns and f32
 * values; int8 affine codes with their scales; codebook layers as their
 * centroids plus one canonical-Huffman bit stream of index gaps and
 * centroid indices, decoded while the layer runs; binary layers as packed
 * sign bits (and the zero plane of bitwise layers) in u64 words, run with
 * XNOR/popcount or signed adds) and the inference code for
 * exactly that model.  The source needs no malloc and nothing from libc but
 * memcpy/memset (plus expf/tanhf from math.h only for softmax/tanh nodes):
 *
 *     int model_run(const float *in, float *out, void *scratch);
 *
 * with MODEL_IN_SIZE / MODEL_OUT_SIZE floats and MODEL_SCRATCH_BYTES of
 * float-aligned scratch; it returns 0.  Fixed-point activation rounding is
 * MN_EUNSUPPORTED. */
#ifndef MINNOW_EXPORT_C_H
#define MINNOW_EXPORT_C_H

#include "minnow/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_export_c_info {
    size_t weight_bytes;   /* sum of the sizes of the emitted const arrays */
    size_t scratch_bytes;  /* MODEL_SCRATCH_BYTES */
    int in_size, out_size;
    int needs_math;        /* model.c includes math.h (softmax / tanh) */
} mn_export_c_info;

/* Generates the two sources into dir (created if missing; files written
 * atomically).  If test_x is non-NULL, also writes DIR/model_test.c: a
 * program that runs model_run on the ntest inputs test_x (ntest * in_size
 * floats) and compares with test_y (ntest * out_size floats, minnow's own
 * outputs), printing the largest difference; it exits 1 if that exceeds
 * tol.  info may be NULL. */
mn_status mn_export_c(const mn_graph *g, const char *dir, const float *test_x,
                      const float *test_y, int ntest, float tol,
                      mn_export_c_info *info);

#ifdef __cplusplus
}
#endif
#endif
