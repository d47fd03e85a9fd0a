/* Private (src/store): how a weight tensor is stored besides plain f32.
 *
 * Storage is a property of a weight tensor.  A parameter whose `store` is
 * NULL is plain f32 in g->w.  Otherwise `store` holds the compressed form
 * (sparse CSR, int8/low-bit affine, codebook + indices, packed signs, ...)
 * that the model file keeps and the inference kernels run on, and g->w still
 * holds its exact decoded f32 values, so that training, evaluation of any op
 * without a kernel for the kind, and gradient checks keep working.
 *
 * Every kind views the weight as a matrix of `rows` output units (dense
 * units, conv filters) by `cols` inputs (dense inputs, conv c/groups*k*k).
 * Each kind is one mn_store_traits in its own file, listed in storage.c.
 * This layer knows nothing of graphs: src/nn/param_store.c attaches a
 * store to a parameter. */
#ifndef MINNOW_STORE_STORE_H
#define MINNOW_STORE_STORE_H

#include "minnow/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mn_storage_kind {
    MN_ST_F32 = 0,      /* plain (never has an mn_store) */
    MN_ST_CSR = 1,      /* sparse rows, narrow relative column indices */
    MN_ST_AFFINE = 2,   /* int8/int4/int2 affine, per tensor or per row */
    MN_ST_CODEBOOK = 3, /* shared values: codebook + packed indices */
    MN_ST_BINARY = 4,   /* sign bits + per-row scale */
    MN_ST__COUNT
} mn_storage_kind;

typedef struct mn_store {
    mn_storage_kind kind;
    int rows, cols;
    void *impl;         /* the kind's own representation, owned by the store */
} mn_store;

/* The geometry the conv trait takes. */
typedef struct mn_conv_geom { int C, H, W, k, stride, pad, OH, OW; } mn_conv_geom;

typedef struct mn_store_traits {
    const char *name;
    /* Bytes of the encoded form as written to the file (header + data). */
    size_t (*bytes)(const mn_store *s);
    /* Writes the exact f32 values, rows*cols floats. */
    void (*decode)(const mn_store *s, float *w);
    /* The file form: *buf malloc'd, owned by the caller. */
    mn_status (*serialize)(const mn_store *s, unsigned char **buf, size_t *len);
    /* Parses and validates the file form for a rows x cols weight: a
     * hostile buffer gets MN_EFORMAT, never a crash. */
    mn_status (*deserialize)(const unsigned char *buf, size_t len, int rows,
                             int cols, mn_store *s);
    void (*free)(mn_store *s);
    /* Inference kernels; NULL means "decode and use the f32 path".
     * xwt: y[b, r] += sum_c x[b, c] W[r, c]          (dense layers)
     * wb:  C[r, j]  = sum_c W[r, c] B[c, j], j < n   (conv after im2col)
     * They never write to the store: `work` is the caller's scratch of
     * scratch(s, batch) bytes (64-byte aligned; NULL when that is 0), so
     * one store runs from several threads at once, each with its own. */
    void (*xwt)(const mn_store *s, const float *x, int batch, float *y, void *work);
    void (*wb)(const mn_store *s, const float *B, int n, int64_t ldb, float *C,
               int64_t ldc, void *work);
    /* Optional, NULL = not provided.  The whole conv at inference (groups
     * 1) from the raw input x[batch, C, H, W] (rows = filters, cols =
     * C*k*k): y[batch, rows, OH*OW] = conv + bias[r] (bias may be NULL),
     * without the f32 im2col matrix.  scratch: scratch_bytes bytes for
     * what the conv needs beyond the work area (`work`, as for xwt/wb).
     * Returns 0 when done, non-zero when it does not apply or the scratch
     * is too small (the caller then runs im2col + wb). */
    int (*conv)(const mn_store *s, const mn_conv_geom *g, const float *x,
                int batch, const float *bias, float *y, void *scratch,
                size_t scratch_bytes, void *work);
    /* Bytes of work area one xwt/wb call on `batch` samples (or columns)
     * takes, as CMSIS-NN's *_get_buffer_size; NULL = none.  The graph
     * reserves it once (mn_store_scratch_bytes). */
    size_t (*scratch)(const mn_store *s, int batch);
    /* Optional, NULL = not provided.  A depthwise conv at inference
     * (groups = C, rows = C * mult filters, cols = k*k): y[batch, rows,
     * OH*OW] from x[batch, C, H, W] + bias[r] (may be NULL).  scratch:
     * room for one sample's working copy of x (mn_store_dw_scratch_bytes).
     * Returns 0 when done, non-zero when it does not apply (the caller
     * then runs the f32 depthwise kernel on the decoded weights). */
    int (*dw)(const mn_store *s, const mn_conv_geom *g, int mult, const float *x, int batch,
              const float *bias, float *y, void *scratch, size_t scratch_bytes);
} mn_store_traits;

/* NULL for MN_ST_F32 or a kind this build does not have. */
const mn_store_traits *mn_store_traits_of(mn_storage_kind k);
const char *mn_storage_name(mn_storage_kind k);

/* The work area s's kernels take for `batch` (0 for none). */
size_t mn_store_scratch_bytes(const mn_store *s, int batch);
/* An upper bound of the scratch a dw trait takes for one sample of a
 * C x H x W input padded by pad (int16 codes, rows with slack). */
size_t mn_store_dw_scratch_bytes(int C, int H, int W, int pad);
/* A deep copy of s via serialize/deserialize. */
mn_status mn_store_clone(const mn_store *s, mn_store **out);
void mn_store_free(mn_store *s);

#ifdef __cplusplus
}
#endif
#endif
