/* Private (src/kernels): XNOR / popcount and sign-accumulate kernels. */
#ifndef MINNOW_KERNELS_XNOR_H
#define MINNOW_KERNELS_XNOR_H

#include "minnow/core.h"

/* 64-bit words per packed row of n values: rounded up to a multiple of 8
 * (512 bits) so wide loads never cross rows; padding bits are zero. */
static inline int mn_bin_words(int n) { return ((n + 511) / 512) * 8; }

/* bits[0..words) of x[0..n): bit c = (x[c] >= 0); padding zero. */
void mn_bin_pack(const float *x, int n, uint64_t *bits);
void mn_bin_pack_ref(const float *x, int n, uint64_t *bits);
void mn_bin_pack_avx512(const float *x, int n, uint64_t *bits); /* avx512f only */
/* rows rows of n values (row stride ldx) into rows * mn_bin_words(n) words. */
void mn_bin_pack_rows(const float *x, int rows, int n, int64_t ldx, uint64_t *bits);

/* XNOR / popcount: out[i * ldo + j] = popcount((X_i ^ W_j) & Mw_j) over
 * `words` words (a multiple of 8), for i < N rows of X and j < M rows of W.
 * Mw (W's nonzero plane) may be NULL (all ones).  With x, w in {-1,+1}
 * packed as bits, dot(x, w) = nnz_j - 2 * out.  Exact: every variant gives
 * the same integers. */
void mn_xnor_popc(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                  int M, int words, int32_t *out, int64_t ldo);
void mn_xnor_popc_ref(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                      int M, int words, int32_t *out, int64_t ldo);
/* Only when mn_cpu_features() has avx2 / avx512vpopcntdq. */
void mn_xnor_popc_avx2(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                       int M, int words, int32_t *out, int64_t ldo);
void mn_xnor_popc_avx512(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                         int M, int words, int32_t *out, int64_t ldo);

/* Real inputs, binary weights: out[i * ldo + j] = sum_{c < K} s_jc x[i * ldx + c]
 * with s = +1 (bit set), -1 (bit clear), 0 (Mw bit clear).  Summed in 64
 * interleaved partial sums (c mod 64) reduced by a fixed tree, so every
 * variant gives bit-identical floats. */
void mn_signacc(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
void mn_signacc_ref(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                    const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
void mn_signacc_avx2(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                     const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
void mn_signacc_avx512(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                       const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
/* The conv (after im2col) form: C[j * ldc + n] = sum_{c < K} s_jc B[c * ldb + n]
 * for j < M, n < N; summed in c order (bit-identical across variants). */
void mn_signacc_cols(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                     const float *B, int N, int64_t ldb, float *C, int64_t ldc);
void mn_signacc_cols_ref(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                         const float *B, int N, int64_t ldb, float *C, int64_t ldc);
void mn_signacc_cols_avx2(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                          const float *B, int N, int64_t ldb, float *C, int64_t ldc);
void mn_signacc_cols_avx512(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                            const float *B, int N, int64_t ldb, float *C, int64_t ldc);

#endif
