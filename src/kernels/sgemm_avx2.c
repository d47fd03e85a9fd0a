/* Small SGEMM, AVX2 + FMA: the AVX-512 kernel's scheme with 16 ymm
 * registers: tiles of up to 6 rows x 16 columns (12 accumulators, two B
 * vectors, a broadcast), masked loads/stores for the last columns. */
#include <immintrin.h>

#include "kernels/kernels.h"

#define T256 __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline))
#define MR_MAX 6

INL T256 void tile(const int mr, const int nv, int K, const float *A, int64_t rsa, int64_t csa,
                   const float *B, int64_t ldb, __m256i m0, __m256i m1, int beta,
                   const float *bias, float *C, int64_t ldc) {
    __m256 c0[MR_MAX], c1[MR_MAX];
    #pragma GCC unroll 6
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        const float *b = B + k * ldb, *a = A + k * csa;
        __m256 b0 = _mm256_maskload_ps(b, m0), b1 = b0;
        if (nv == 2) b1 = _mm256_maskload_ps(b + 8, m1);
        #pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 av = _mm256_broadcast_ss(a + i * rsa);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            if (nv == 2) c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
    }
    #pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        float *c = C + i * ldc;
        if (beta) {
            c0[i] = _mm256_add_ps(c0[i], _mm256_maskload_ps(c, m0));
            if (nv == 2) c1[i] = _mm256_add_ps(c1[i], _mm256_maskload_ps(c + 8, m1));
        }
        if (bias) {
            __m256 bv = _mm256_set1_ps(bias[i]);
            c0[i] = _mm256_add_ps(c0[i], bv);
            if (nv == 2) c1[i] = _mm256_add_ps(c1[i], bv);
        }
        _mm256_maskstore_ps(c, m0, c0[i]);
        if (nv == 2) _mm256_maskstore_ps(c + 8, m1, c1[i]);
    }
}

#define CASE(R)                                                                                  \
    case R:                                                                                      \
        if (nv == 2) tile(R, 2, K, A, rsa, csa, B, ldb, m0, m1, beta, bias, C, ldc);             \
        else tile(R, 1, K, A, rsa, csa, B, ldb, m0, m1, beta, bias, C, ldc);                     \
        break;

static T256 void run(int mr, int nv, int K, const float *A, int64_t rsa, int64_t csa,
                     const float *B, int64_t ldb, __m256i m0, __m256i m1, int beta,
                     const float *bias, float *C, int64_t ldc) {
    switch (mr) {
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
    default: break;
    }
}

/* Lane l is on when l < w (the sign bit of each 32-bit lane). */
static T256 __m256i lanes(int w) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(w), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

T256 void mn_sgemm_small_avx2(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                              const float *B, int64_t ldb, int beta, const float *bias,
                              float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    int nt = (M + MR_MAX - 1) / MR_MAX, base = M / nt, rem = M % nt;
    for (int j = 0; j < N; j += 16) {
        int w = N - j < 16 ? N - j : 16, nv = w > 8 ? 2 : 1;
        __m256i m0 = lanes(w), m1 = lanes(w - 8);
        int i = 0;
        for (int t = 0; t < nt; t++) {
            int mr = base + (t < rem);
            run(mr, nv, K, A + i * rsa, rsa, csa, B + j, ldb, m0, m1, beta, bias ? bias + i : NULL,
                C + i * ldc + j, ldc);
            i += mr;
        }
    }
}
