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

/* One weighted layer of the export: its const arrays' bytes. */
typedef struct mn_export_c_layer {
    char name[32];
    const char *storage;   /* "f32", "csr", "affine", "codebook", "binary" */
    size_t bytes;
} mn_export_c_layer;

/* The memory plan, known before anything is built.  Flash: the const
 * weight arrays (exact) and an estimate of model.c's code; RAM: the
 * scratch of the liveness plan (exact), the input and output arrays, and
 * an estimate of model_run's stack (its local arrays plus a margin). */
typedef struct mn_export_c_info {
    size_t weight_bytes;   /* sum of the sizes of the emitted const arrays */
    size_t scratch_bytes;  /* MODEL_SCRATCH_BYTES: the activations' arena + weight rows */
    size_t arena_bytes;    /* the activations, as planned */
    size_t naive_bytes;    /* the activations with one buffer per node */
    size_t code_bytes_est; /* model.c's machine code, estimated */
    size_t stack_bytes_est;
    size_t io_bytes;       /* the caller's input and output floats */
    size_t decoded_bytes;  /* codebooks decoded into RAM (--decode startup) */
    size_t flash_bytes, ram_bytes; /* weights + code; scratch + io + stack + decoded */
    int in_size, out_size;
    int needs_math;        /* model.c includes math.h (softmax / tanh) */
    int nlayers;           /* weighted layers (layers[] holds the first 64) */
    mn_export_c_layer layers[64];
} mn_export_c_info;

/* How codebook layers run: their Huffman streams decoded a row at a time
 * while the layer runs (the default: no RAM beyond a row), or decoded once,
 * on the first call, into row pointers, u16 columns and u8 indices in RAM
 * (static arrays in model.c; faster, and model_run is then not reentrant
 * until that first call returns). */
typedef struct mn_export_c_opts {
    int decode_startup;
    /* > 0: a multi-exit model (minnow/exits.h) stops at the first exit whose
     * top softmax probability reaches it: model_run returns after that
     * exit's head, with its logits in out, and returns the exit (0-based) */
    float exit_threshold;
} mn_export_c_opts;

/* Generates the two sources into dir (created if missing; files written
 * atomically).  If test_x is non-NULL, also writes DIR/model_test.c: a
 * program that runs model_run on the ntest inputs test_x (ntest * in_size
 * floats) and compares with test_y (ntest * out_size floats, minnow's own
 * outputs), printing the largest difference; it exits 1 if that exceeds
 * tol.  info may be NULL.  With dir NULL nothing is written: info alone
 * (the plan, to check a budget before writing anything). */
mn_status mn_export_c(const mn_graph *g, const char *dir, const float *test_x,
                      const float *test_y, int ntest, float tol,
                      const mn_export_c_opts *opts, mn_export_c_info *info);

/* The build harness for a target, beside model.c/model.h in dir: main.c
 * (model_run on every input of inputs.bin, outputs printed as the hex bits
 * of their floats, then the work per inference) and a Makefile; for
 * "cortex-m4", "cortex-m7" and "cortex-m33" also startup.c and link.ld of
 * a bare-metal program for QEMU's MPS2 board of that core (AN386, AN500,
 * AN505), I/O by semihosting, built by arm-none-eabi-gcc. */
mn_status mn_export_c_harness(const char *dir, const char *target);
/* Whether target names one of the above; the list, for messages. */
int mn_export_c_target_known(const char *target);
const char *mn_export_c_targets(void);
/* dir/inputs.bin and dir/expected.bin: n inputs of in floats and minnow's
 * n outputs of out floats, raw little-endian f32. */
mn_status mn_export_c_io(const char *dir, const float *x, const float *y, int n, int in, int out);

#ifdef __cplusplus
}
#endif
#endif
