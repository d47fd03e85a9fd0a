/* minnow kernels: dense SGEMM and the im2col/col2im pair behind conv.
 * Kernels never allocate; callers pass scratch.  Each fast kernel keeps a
 * plain `_ref` twin that the tests compare it against. */
#ifndef MINNOW_KERNELS_KERNELS_H
#define MINNOW_KERNELS_KERNELS_H

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
/* n rounded up to a multiple of 64: buffers carved from one block stay
 * 64-byte aligned (mn_alloc's alignment). */
static inline size_t mn_up64(size_t n) { return (n + 63) & ~(size_t)63; }

/* 1 if the build uses OpenBLAS. */
int mn_sgemm_uses_blas(void);
/* The BLAS's kernel set as it reports it ("Haswell", "Prescott", "none"),
 * and whether it is below what this CPU runs (AVX2 + FMA or better, while
 * the BLAS fell back to an older core for a CPU it does not know): minnow's
 * own kernels then take the GEMMs they cover (docs/BENCHMARKS.md). */
const char *mn_blas_core(void);
int mn_blas_weak(void);
/* 1 where mn_sgemm_small beats the BLAS for the GEMMs it takes: with
 * AVX-512 always; with AVX2 + FMA only where mn_blas_weak (its AVX2 kernel
 * is slower than OpenBLAS's Haswell one, LeNet-300 batch 64: 470 against
 * 360 us, but 2.5x faster than the fallback, 1200 us). */
int mn_sgemm_small_preferred(void);

/* One sample's matrix-vector products (kernels/sgemv.c), on minnow's own
 * kernels whatever BLAS is installed: mn_sgemm routes M = 1 here.
 *   rows: y[j] = alpha * sum_k W[j*ldw + k] x[k] + beta y[j]   (W is N x K)
 *   cols: y[j] = alpha * sum_k x[k] B[k*ldb + j] + beta y[j]   (B is K x N)
 * beta 0 never reads y.  Each variant for the tests; best = the fastest
 * this CPU runs (REF under MINNOW_NO_SIMD: then mn_sgemm keeps its BLAS). */
typedef enum mn_simd_variant { MN_SIMD_REF = 0, MN_SIMD_AVX2, MN_SIMD_AVX512 } mn_simd_variant;
void mn_sgemv_rows_ref(int N, int K, float alpha, const float *W, int64_t ldw, const float *x, float beta,
                       float *y);
void mn_sgemv_cols_ref(int N, int K, float alpha, const float *x, const float *B, int64_t ldb, float beta,
                       float *y);
int mn_sgemv_variant_ok(mn_simd_variant v);
void mn_sgemv_rows_variant(mn_simd_variant v, int N, int K, float alpha, const float *W, int64_t ldw,
                           const float *x, float beta, float *y);
void mn_sgemv_cols_variant(mn_simd_variant v, int N, int K, float alpha, const float *x, const float *B,
                           int64_t ldb, float beta, float *y);
mn_simd_variant mn_sgemv_best(void);

/* y = min(max(x, 0), max) (max <= 0: no upper clip; NaN gives 0) and
 * y += x, n floats (y may be x for the ReLU), on the best SIMD variant;
 * the variants and the plain references for the tests (kernels/eltwise.c). */
void mn_relu(const float *x, float *y, int64_t n, float max);
void mn_add(float *y, const float *x, int64_t n);
void mn_relu_ref(const float *x, float *y, int64_t n, float max);
void mn_add_ref(float *y, const float *x, int64_t n);
void mn_relu_variant(mn_simd_variant v, const float *x, float *y, int64_t n, float max);
void mn_add_variant(mn_simd_variant v, float *y, const float *x, int64_t n);

/* The small GEMMs of a conv layer run one image at a time (the operands stay
 * in L2), with no packing and no threads of its own:
 *   C[M,N] = A[M,K] * B[K,N] + (beta ? C : 0) + bias[i]   (bias may be NULL)
 * where A[i,k] = A[i*rsa + k*csa] (csa = 1: row-major; rsa = 1: A stored
 * transposed), B is row-major with row stride ldb and C with ldc.  Picks
 * AVX-512, AVX2+FMA or mn_sgemm from mn_cpu_features(); the result does
 * not depend on the thread count. */
void mn_sgemm_small(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                    const float *B, int64_t ldb, int beta, const float *bias,
                    float *C, int64_t ldc);
void mn_sgemm_small_ref(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                        const float *B, int64_t ldb, int beta, const float *bias,
                        float *C, int64_t ldc);
/* What MINNOW_NO_SIMD=1 runs: mn_sgemm after a bias pre-fill. */
void mn_sgemm_small_portable(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                             const float *B, int64_t ldb, int beta, const float *bias,
                             float *C, int64_t ldc);
/* Only when mn_cpu_features() has avx512f / avx2 and fma. */
void mn_sgemm_small_avx512(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                           const float *B, int64_t ldb, int beta, const float *bias,
                           float *C, int64_t ldc);
void mn_sgemm_small_avx2(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                         const float *B, int64_t ldb, int beta, const float *bias,
                         float *C, int64_t ldc);

/* The small GEMM with row k of B at B + boff[k] (beta 0): the stride-1
 * conv below reads its "columns" straight from a padded image this way. */
void mn_sgemm_offs_avx512(int M, int N, int K, const float *A, int64_t rsa, int64_t csa, const float *B,
                          const int64_t *boff, const float *bias, float *C, int64_t ldc);
void mn_sgemm_offs_ref(int M, int N, int K, const float *A, int64_t rsa, int64_t csa, const float *B,
                       const int64_t *boff, const float *bias, float *C, int64_t ldc);

/* One image of a stride-1 k x k conv without the im2col matrix (AVX-512):
 * x[C,H,W] is copied into a zero-padded image xp[C, H+2p, W+2p]; over the
 * flat padded positions q = oy*(W+2p) + ox, im2col's row (c, i, j) is xp
 * from offset (c*(H+2p) + i)*(W+2p) + j on, so one offset GEMM gives
 * y[F, q] for every q (the columns ox >= OW are computed and dropped),
 * then the rows are packed into y[F, OH*OW] (+ bias).  The same products
 * in the same order as im2col + mn_sgemm_small_avx512: the same bits.
 * mn_conv_s1_floats is the scratch it takes (floats); mn_conv_s1 returns 0
 * when it ran, non-zero when this CPU has no AVX-512 (the caller runs
 * im2col + GEMM). */
size_t mn_conv_s1_floats(int C, int H, int W, int k, int pad, int F);
int mn_conv_s1(const float *x, int C, int H, int W, int k, int pad, int F, const float *w, const float *bias,
               float *y, float *scratch);

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

/* The loops mn_im2col / mn_col2im run without AVX-512 (and for stride > 1),
 * and the masked AVX-512 versions (stride 1; any other stride falls back to
 * the portable loops); only when mn_cpu_features() has avx512f. */
void mn_im2col_portable(const float *x, int C, int H, int W, int k, int stride,
                        int pad, int OH, int OW, float *col, int64_t ldcol);
void mn_col2im_portable(const float *col, int C, int H, int W, int k, int stride,
                        int pad, int OH, int OW, int64_t ldcol, float *dx);
void mn_im2col_avx512(const float *x, int C, int H, int W, int k, int stride,
                      int pad, int OH, int OW, float *col, int64_t ldcol);
void mn_col2im_avx512(const float *col, int C, int H, int W, int k, int stride,
                      int pad, int OH, int OW, int64_t ldcol, float *dx);

/* B[c][r] = A[r][c] for a rows x cols matrix (row strides lda, ldb); the
 * AVX-512 version moves 16x16 blocks through registers.  Equal results. */
void mn_transpose(const float *A, int rows, int cols, int64_t lda, float *B, int64_t ldb);
void mn_transpose_ref(const float *A, int rows, int cols, int64_t lda, float *B, int64_t ldb);

/* 2x2, stride-2, unpadded max pooling of one plane x[H][W] (2*OH <= H,
 * 2*OW <= W): y[OH][OW] and am[OH][OW], the argmax's index into x; the
 * first of the largest in row-major window order wins (ties, NaN).  The
 * reference and the AVX-512 version are equal; mn_maxpool2 picks by CPU. */
void mn_maxpool2(const float *x, int W, int OH, int OW, float *y, int32_t *am);
void mn_maxpool2_ref(const float *x, int W, int OH, int OW, float *y, int32_t *am);

/* 1 if no x[i] (i < n) is a NaN or an infinity.  The AVX-512 version
 * and the portable bit test always agree with the reference. */
int mn_all_finite(const float *x, int64_t n);
int mn_all_finite_ref(const float *x, int64_t n);
int mn_all_finite_portable(const float *x, int64_t n);

/* In 64 bits and clamped: k and pad may come from a hostile file. */
static inline int mn_conv_out(int in, int k, int stride, int pad) {
    int64_t o = ((int64_t)in + 2 * (int64_t)pad - k) / stride + 1;
    return o > INT32_MAX ? INT32_MAX : (int)o;
}

#ifdef __cplusplus
}
#endif
#endif
