/* Private (src/kernels): kernels on a codebook (weight-shared) matrix:
 * weights are looked up from the centroids as they are used, never decoded
 * into a full f32 matrix.  src/store/st_codebook.c builds the view. */
#ifndef MINNOW_KERNELS_CODEBOOK_H
#define MINNOW_KERNELS_CODEBOOK_H

#include "minnow/core.h"

typedef struct mn_cb_mat {
    int rows, cols;
    int sparse;             /* only the nonzeros have entries */
    int k;                  /* centroids used */
    const float *cb;        /* 256 floats, past k zero: any 8-bit index is a safe lookup */
    int64_t nnz;            /* entries (rows * cols when dense) */
    const uint8_t *idx;     /* nnz centroid indices, row-major */
    const uint32_t *col;    /* sparse: the column of each entry */
    const uint32_t *rowptr; /* sparse: rows + 1 entry offsets */
} mn_cb_mat;

/* xwt: y[b, r] += sum_c x[b, c] W[r, c];  wb: C[r, j] = sum_c W[r, c] B[c, j].
 * The plain reference versions, then each variant (tests), then the
 * fastest one this CPU has. */
void mn_cb_xwt_ref(const mn_cb_mat *s, const float *x, int batch, float *y);
void mn_cb_wb_ref(const mn_cb_mat *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc);
typedef enum mn_cb_variant { MN_CB_REF = 0, MN_CB_AVX2, MN_CB_AVX512, MN_CB__COUNT } mn_cb_variant;
/* 1 if this CPU (and MINNOW_NO_SIMD) allows variant v. */
int mn_cb_variant_ok(mn_cb_variant v);
void mn_cb_xwt_variant(mn_cb_variant v, const mn_cb_mat *s, const float *x, int batch, float *y);
void mn_cb_wb_variant(mn_cb_variant v, const mn_cb_mat *s, const float *B, int n, int64_t ldb, float *C,
                      int64_t ldc);
void mn_cb_xwt(const mn_cb_mat *s, const float *x, int batch, float *y);
void mn_cb_wb(const mn_cb_mat *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc);

#endif
