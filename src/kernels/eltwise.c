/* Elementwise ReLU (clipped or not) and the residual sum, with SIMD
 * variants: compiled for plain x86-64 these loops stay scalar (GCC's -O2
 * vectoriser declines loops that need a remainder), and at batch 1 a
 * ResNet-20's ReLUs took 7% of an int8 forward pass.  Each variant is exact
 * (max/min and one add per element), so all give the reference's bits. */
#include <immintrin.h>

#include "kernels/avx512.h"
#include "kernels/kernels.h"

void mn_relu_ref(const float *x, float *y, int64_t n, float max) {
    if (max > 0) {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? (x[i] < max ? x[i] : max) : 0;
        return;
    }
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

void mn_add_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* x > 0 ? x : 0 is max(x, 0) but for NaN (kept as 0 by the reference:
 * NaN > 0 is false).  _mm*_max_ps(x, 0) returns its second operand when
 * either is NaN, i.e. 0, as the reference does; min(v, max) with v never
 * NaN is plain. */
#define T512 __attribute__((target("avx512f")))
#define T256 __attribute__((target("avx2")))

static T512 void relu512(const float *x, float *y, int64_t n, float max) {
    __m512 z = _mm512_setzero_ps(), m = _mm512_set1_ps(max);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = mn__lanes16(n - i);
        __m512 v = _mm512_max_ps(_mm512_maskz_loadu_ps(k, x + i), z);
        if (max > 0) v = _mm512_min_ps(v, m);
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}

static T512 void add512(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = mn__lanes16(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + i), _mm512_maskz_loadu_ps(k, x + i)));
    }
}

static T256 void relu256(const float *x, float *y, int64_t n, float max) {
    __m256 z = _mm256_setzero_ps(), m = _mm256_set1_ps(max);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_max_ps(_mm256_loadu_ps(x + i), z);
        if (max > 0) v = _mm256_min_ps(v, m);
        _mm256_storeu_ps(y + i, v);
    }
    mn_relu_ref(x + i, y + i, n - i, max);
}

static T256 void add256(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    mn_add_ref(y + i, x + i, n - i);
}

void mn_relu_variant(mn_simd_variant v, const float *x, float *y, int64_t n, float max) {
    if (v == MN_SIMD_AVX512) relu512(x, y, n, max);
    else if (v == MN_SIMD_AVX2) relu256(x, y, n, max);
    else mn_relu_ref(x, y, n, max);
}

void mn_add_variant(mn_simd_variant v, float *y, const float *x, int64_t n) {
    if (v == MN_SIMD_AVX512) add512(y, x, n);
    else if (v == MN_SIMD_AVX2) add256(y, x, n);
    else mn_add_ref(y, x, n);
}

/* The variants are sgemv's (kernels.h): the same CPU features pick them. */
void mn_relu(const float *x, float *y, int64_t n, float max) { mn_relu_variant(mn_sgemv_best(), x, y, n, max); }
void mn_add(float *y, const float *x, int64_t n) { mn_add_variant(mn_sgemv_best(), y, x, n); }
