/* Private: the in-memory (run-time) form of a codebook store, shared by
 * st_codebook.c (building, file form) and cluster_kernels.c (kernels). */
#ifndef MINNOW_CLUSTER_IMPL_H
#define MINNOW_CLUSTER_IMPL_H

#include "minnow/cluster.h"

/* Header flags of the file form. */
#define MN_CB_SPARSE 1u
#define MN_CB_HUFF_INDEX 2u
#define MN_CB_HUFF_GAPS 4u

typedef struct mn_cb_impl {
    int bits, k, gap_bits;
    unsigned flags;
    /* k centroids, the rest zero: any 8-bit index is a safe lookup, and the
     * first 32 load straight into two vector registers. */
    float cb[256];
    int64_t nnz;        /* stored entries (rows * cols when dense) */
    uint8_t *idx;       /* nnz centroid indices, row-major */
    uint32_t *col;      /* sparse: the column of each entry */
    uint32_t *rowptr;   /* sparse: rows + 1 entry offsets */
    size_t bytes;       /* size of the file form */
} mn_cb_impl;

/* The traits' kernels: the fastest variant this CPU allows. */
void mn__cb_xwt(const mn_store *s, const float *x, int batch, float *y);
void mn__cb_wb(const mn_store *s, const float *B, int n, int64_t ldb, float *C,
               int64_t ldc);

#endif
