/* minnow kernels: dense SGEMM and the im2col/col2im pair behind conv.
 * Kernels never allocate; callers pass scratch.  Each fast kernel keeps a
 * plain `_ref` twin that the tests compare it against. */
#ifndef MINNOW_KERNELS_H
#define MINNOW_KERNELS_H

#include "minnow/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
 * op(X) is X or X^T as ta/tb say; lda/ldb/ldc are row strides of the stored
 * matrices.  Goes through OpenBLAS when built with it, else a blocked
 * portable version. */
void mn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);
void mn_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc);
/* 1 if the build uses OpenBLAS. */
int mn_sgemm_uses_blas(void);

/* One image x[C,H,W] to columns: col[(c*k + i)*k + j][ldcol] holds, at
 * column p = oy*OW + ox, x[c, oy*s - pad + i, ox*s - pad + j] (0 outside).
 * ldcol >= OH*OW lets several images share one wide column matrix. */
void mn_im2col(const float *x, int C, int H, int W, int k, int stride, int pad,
               int OH, int OW, float *col, int64_t ldcol);
/* The adjoint: ADDS the columns back into dx[C,H,W]. */
void mn_col2im(const float *col, int C, int H, int W, int k, int stride,
               int pad, int OH, int OW, int64_t ldcol, float *dx);

void mn_im2col_ref(const float *x, int C, int H, int W, int k, int stride,
                   int pad, int OH, int OW, float *col, int64_t ldcol);
void mn_col2im_ref(const float *col, int C, int H, int W, int k, int stride,
                   int pad, int OH, int OW, int64_t ldcol, float *dx);

/* In 64 bits and clamped: k and pad may come from a hostile file. */
static inline int mn_conv_out(int in, int k, int stride, int pad) {
    int64_t o = ((int64_t)in + 2 * (int64_t)pad - k) / stride + 1;
    return o > INT32_MAX ? INT32_MAX : (int)o;
}

#ifdef __cplusplus
}
#endif
#endif
