/* Whether every float of an array is finite: the training loop's per-step
 * check of the weights (train.c), and the sliced sparse kernel's check of
 * its input (sparse_sell.c).  At LeNet-300's 266k weights the SSE2 loop
 * the compiler made of the portable version was 5% of a training step. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/avx512.h"
#include "core/cpu.h"

int mn_all_finite_ref(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* No early exit and no float compare: |x|'s bits + 2^23 carries into the
 * sign bit exactly when the exponent is all ones (Inf, NaN), so one OR
 * chain over the array says whether any was. */
int mn_all_finite_portable(const float *x, int64_t n) {
    uint32_t acc = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        acc |= (u & 0x7fffffffu) + 0x00800000u;
    }
    return !(acc & 0x80000000u);
}

/* The same trick 16 lanes wide, four independent chains. */
__attribute__((target("avx512f"))) static int all_finite_avx512(const float *x, int64_t n) {
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), one = _mm512_set1_epi32(0x00800000);
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
#define STEP(a, p) a = _mm512_or_si512(a, _mm512_add_epi32(_mm512_and_si512(_mm512_loadu_si512(p), abs), one))
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        STEP(a0, x + i);
        STEP(a1, x + i + 16);
        STEP(a2, x + i + 32);
        STEP(a3, x + i + 48);
    }
    for (; i + 16 <= n; i += 16) STEP(a0, x + i);
#undef STEP
    if (i < n) {
        __mmask16 k = mn__lanes16(n - i);
        a1 = _mm512_or_si512(a1, _mm512_maskz_add_epi32(k, _mm512_and_si512(_mm512_maskz_loadu_epi32(k, x + i), abs), one));
    }
    __m512i a = _mm512_or_si512(_mm512_or_si512(a0, a1), _mm512_or_si512(a2, a3));
    return !_mm512_test_epi32_mask(a, _mm512_set1_epi32((int)0x80000000u));
}

int mn_all_finite(const float *x, int64_t n) {
    if (mn_cpu_features()->avx512f) return all_finite_avx512(x, n);
    return mn_all_finite_portable(x, n);
}
