/* Small SGEMM, AVX-512: register tiles of up to 12 rows x 32 columns (24
 * accumulators, two B vectors and a broadcast: 27 of the 32 zmm), the whole
 * K loop in registers, A broadcast straight from memory with any strides,
 * masked loads/stores for the last columns.  No packing: the conv operands
 * of one image (<= 128 KB) already sit in L2.  Rows are split into
 * near-equal tiles (50 -> 5 x 10) so no tile is a thin leftover. */
#include <immintrin.h>

#include "kernels/kernels.h"

#define T512 __attribute__((target("avx512f")))
#define INL static inline __attribute__((always_inline))
#define MR_MAX 12

INL T512 void tile(const int mr, const int nv, int K, const float *A, int64_t rsa, int64_t csa,
                   const float *B, int64_t ldb, const int offs, const int64_t *boff, __mmask16 m0,
                   __mmask16 m1, int beta, const float *bias, float *C, int64_t ldc) {
    __m512 c0[MR_MAX], c1[MR_MAX];
    #pragma GCC unroll 12
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        /* boff: row k of B starts at B + boff[k] (mn_sgemm_offs_avx512) */
        const float *b = offs ? B + boff[k] : B + k * ldb, *a = A + k * csa;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = b0;
        if (nv == 2) b1 = _mm512_maskz_loadu_ps(m1, b + 16);
        #pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[i * rsa]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            if (nv == 2) c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
    #pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *c = C + i * ldc;
        if (beta) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, c));
            if (nv == 2) c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, c + 16));
        }
        if (bias) {
            __m512 bv = _mm512_set1_ps(bias[i]);
            c0[i] = _mm512_add_ps(c0[i], bv);
            if (nv == 2) c1[i] = _mm512_add_ps(c1[i], bv);
        }
        _mm512_mask_storeu_ps(c, m0, c0[i]);
        if (nv == 2) _mm512_mask_storeu_ps(c + 16, m1, c1[i]);
    }
}

/* Row offsets or a stride, a constant in each instance (OFF). */
#define CASE(R, OFF)                                                                                   \
    case R:                                                                                            \
        if (nv == 2) tile(R, 2, K, A, rsa, csa, B, ldb, OFF, boff, m0, m1, beta, bias, C, ldc);        \
        else tile(R, 1, K, A, rsa, csa, B, ldb, OFF, boff, m0, m1, beta, bias, C, ldc);                \
        break;
#define CASES(OFF)                                                                                     \
    CASE(1, OFF) CASE(2, OFF) CASE(3, OFF) CASE(4, OFF) CASE(5, OFF) CASE(6, OFF) CASE(7, OFF)       \
    CASE(8, OFF) CASE(9, OFF) CASE(10, OFF) CASE(11, OFF) CASE(12, OFF)

static T512 void run(int mr, int nv, int K, const float *A, int64_t rsa, int64_t csa,
                     const float *B, int64_t ldb, const int64_t *boff, __mmask16 m0, __mmask16 m1, int beta,
                     const float *bias, float *C, int64_t ldc) {
    if (boff) {
        switch (mr) { CASES(1) default: break; }
    } else {
        switch (mr) { CASES(0) default: break; }
    }
}

static __mmask16 lanes(int w) { return w >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (w > 0 ? w : 0)) - 1); }

static T512 void gemm(int M, int N, int K, const float *A, int64_t rsa, int64_t csa, const float *B, int64_t ldb,
                      const int64_t *boff, int beta, const float *bias, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    int nt = (M + MR_MAX - 1) / MR_MAX, base = M / nt, rem = M % nt;
    for (int j = 0; j < N; j += 32) {
        int w = N - j < 32 ? N - j : 32, nv = w > 16 ? 2 : 1;
        __mmask16 m0 = lanes(w), m1 = lanes(w - 16);
        int i = 0;
        for (int t = 0; t < nt; t++) {
            int mr = base + (t < rem);
            run(mr, nv, K, A + i * rsa, rsa, csa, B + j, ldb, boff, m0, m1, beta, bias ? bias + i : NULL,
                C + i * ldc + j, ldc);
            i += mr;
        }
    }
}

T512 void mn_sgemm_small_avx512(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                                const float *B, int64_t ldb, int beta, const float *bias,
                                float *C, int64_t ldc) {
    gemm(M, N, K, A, rsa, csa, B, ldb, NULL, beta, bias, C, ldc);
}

T512 void mn_sgemm_offs_avx512(int M, int N, int K, const float *A, int64_t rsa, int64_t csa, const float *B,
                               const int64_t *boff, const float *bias, float *C, int64_t ldc) {
    gemm(M, N, K, A, rsa, csa, B, 0, boff, 0, bias, C, ldc);
}
