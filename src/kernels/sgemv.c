/* Matrix-vector products for one sample (a dense layer at batch 1), on
 * minnow's own AVX-512 / AVX2 kernels rather than the BLAS: Debian's
 * OpenBLAS picks its kernels from a table of CPUs it knows, and on a newer
 * one it runs its SSE3 (Prescott) sgemv, 4-5x slower (docs/BENCHMARKS.md).
 * These depend only on mn_cpu_features().
 *
 *   rows: y[j] = alpha * sum_k W[j*ldw + k] x[k] + beta y[j]   (W is N x K)
 *   cols: y[j] = alpha * sum_k x[k] B[k*ldb + j] + beta y[j]   (B is K x N)
 *
 * beta 0 never reads y.  rows keeps 4 rows' dot products in registers over
 * one pass of x; cols keeps 64 (AVX2: 32) outputs in registers over the
 * rows of B. */
#include <immintrin.h>

#include "kernels/kernels.h"
#include "core/cpu.h"
#include "kernels/avx512.h"

#define T512 __attribute__((target("avx512f")))
#define T256 __attribute__((target("avx2,fma")))

static inline float finish(float s, float alpha, float beta, const float *y) {
    return beta == 0.0f ? alpha * s : alpha * s + beta * *y;
}

void mn_sgemv_rows_ref(int N, int K, float alpha, const float *W, int64_t ldw, const float *x, float beta,
                       float *y) {
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += (double)W[j * ldw + k] * x[k];
        y[j] = finish((float)s, alpha, beta, y + j);
    }
}

void mn_sgemv_cols_ref(int N, int K, float alpha, const float *x, const float *B, int64_t ldb, float beta,
                       float *y) {
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += (double)x[k] * B[k * ldb + j];
        y[j] = finish((float)s, alpha, beta, y + j);
    }
}

T512 static void rows_avx512(int N, int K, float alpha, const float *W, int64_t ldw, const float *x, float beta,
                             float *y) {
    int j = 0;
    for (; j + 4 <= N; j += 4) {
        const float *w0 = W + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < K; k += 16) {
            __mmask16 m = mn__lanes16(K - k);
            __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w0 + k), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w1 + k), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w2 + k), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w3 + k), xv, a3);
        }
        y[j] = finish(_mm512_reduce_add_ps(a0), alpha, beta, y + j);
        y[j + 1] = finish(_mm512_reduce_add_ps(a1), alpha, beta, y + j + 1);
        y[j + 2] = finish(_mm512_reduce_add_ps(a2), alpha, beta, y + j + 2);
        y[j + 3] = finish(_mm512_reduce_add_ps(a3), alpha, beta, y + j + 3);
    }
    for (; j < N; j++) {
        const float *w = W + j * ldw;
        __m512 a = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 16) {
            __mmask16 m = mn__lanes16(K - k);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + k), _mm512_maskz_loadu_ps(m, x + k), a);
        }
        y[j] = finish(_mm512_reduce_add_ps(a), alpha, beta, y + j);
    }
}

T512 static void cols_avx512(int N, int K, float alpha, const float *x, const float *B, int64_t ldb, float beta,
                             float *y) {
    for (int j = 0; j < N; j += 64) {
        __mmask16 m[4];
        for (int v = 0; v < 4; v++) m[v] = mn__lanes16(N - j - 16 * v);
        __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int k = 0; k < K; k++) {
            __m512 xv = _mm512_set1_ps(x[k]);
            const float *b = B + k * ldb + j;
            for (int v = 0; v < 4; v++) a[v] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m[v], b + 16 * v), a[v]);
        }
        __m512 al = _mm512_set1_ps(alpha);
        for (int v = 0; v < 4; v++) {
            __m512 r = _mm512_mul_ps(al, a[v]);
            if (beta != 0.0f)
                r = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m[v], y + j + 16 * v), r);
            _mm512_mask_storeu_ps(y + j + 16 * v, m[v], r);
        }
    }
}

/* The lanes of an 8-wide tail as a mask for maskload / maskstore. */
T256 static inline __m256i lanes8(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? (n < 0 ? 0 : n) : 8)), idx);
}

T256 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T256 static void rows_avx2(int N, int K, float alpha, const float *W, int64_t ldw, const float *x, float beta,
                           float *y) {
    int j = 0;
    for (; j + 4 <= N; j += 4) {
        const float *w0 = W + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < K; k += 8) {
            __m256i m = lanes8(K - k);
            __m256 xv = _mm256_maskload_ps(x + k, m);
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + k, m), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w1 + k, m), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w2 + k, m), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w3 + k, m), xv, a3);
        }
        y[j] = finish(hsum8(a0), alpha, beta, y + j);
        y[j + 1] = finish(hsum8(a1), alpha, beta, y + j + 1);
        y[j + 2] = finish(hsum8(a2), alpha, beta, y + j + 2);
        y[j + 3] = finish(hsum8(a3), alpha, beta, y + j + 3);
    }
    for (; j < N; j++) {
        const float *w = W + j * ldw;
        __m256 a = _mm256_setzero_ps();
        for (int k = 0; k < K; k += 8) {
            __m256i m = lanes8(K - k);
            a = _mm256_fmadd_ps(_mm256_maskload_ps(w + k, m), _mm256_maskload_ps(x + k, m), a);
        }
        y[j] = finish(hsum8(a), alpha, beta, y + j);
    }
}

T256 static void cols_avx2(int N, int K, float alpha, const float *x, const float *B, int64_t ldb, float beta,
                           float *y) {
    for (int j = 0; j < N; j += 32) {
        __m256i m[4];
        for (int v = 0; v < 4; v++) m[v] = lanes8(N - j - 8 * v);
        __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int k = 0; k < K; k++) {
            __m256 xv = _mm256_set1_ps(x[k]);
            const float *b = B + k * ldb + j;
            for (int v = 0; v < 4; v++) a[v] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(b + 8 * v, m[v]), a[v]);
        }
        __m256 al = _mm256_set1_ps(alpha);
        for (int v = 0; v < 4; v++) {
            __m256 r = _mm256_mul_ps(al, a[v]);
            if (beta != 0.0f) r = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(y + j + 8 * v, m[v]), r);
            _mm256_maskstore_ps(y + j + 8 * v, m[v], r);
        }
    }
}

int mn_sgemv_variant_ok(mn_simd_variant v) {
    const mn_cpu *c = mn_cpu_features();
    return v == MN_SIMD_AVX512 ? c->avx512f : v == MN_SIMD_AVX2 ? c->avx2 && c->fma : v == MN_SIMD_REF;
}

void mn_sgemv_rows_variant(mn_simd_variant v, int N, int K, float alpha, const float *W, int64_t ldw,
                           const float *x, float beta, float *y) {
    if (v == MN_SIMD_AVX512) rows_avx512(N, K, alpha, W, ldw, x, beta, y);
    else if (v == MN_SIMD_AVX2) rows_avx2(N, K, alpha, W, ldw, x, beta, y);
    else mn_sgemv_rows_ref(N, K, alpha, W, ldw, x, beta, y);
}

void mn_sgemv_cols_variant(mn_simd_variant v, int N, int K, float alpha, const float *x, const float *B,
                           int64_t ldb, float beta, float *y) {
    if (v == MN_SIMD_AVX512) cols_avx512(N, K, alpha, x, B, ldb, beta, y);
    else if (v == MN_SIMD_AVX2) cols_avx2(N, K, alpha, x, B, ldb, beta, y);
    else mn_sgemv_cols_ref(N, K, alpha, x, B, ldb, beta, y);
}

mn_simd_variant mn_sgemv_best(void) {
    return mn_sgemv_variant_ok(MN_SIMD_AVX512) ? MN_SIMD_AVX512
         : mn_sgemv_variant_ok(MN_SIMD_AVX2) ? MN_SIMD_AVX2 : MN_SIMD_REF;
}
