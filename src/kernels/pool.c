/* 2x2, stride-2 max pooling of one plane (LeNet's pools), with the argmax
 * the backward pass routes the gradient through.  The reference picks, in
 * each window, the first of the largest in the order (0,0) (0,1) (1,0)
 * (1,1) by strict > comparisons, so ties and NaN keep the earlier entry.
 * The AVX-512 version does the same per 16 outputs of a row: the even and
 * odd inputs of both rows split with two permutes each, three compares,
 * three blends; the index arithmetic follows the same masks. */
#include <immintrin.h>

#include "kernels/kernels.h"
#include "kernels/avx512.h"
#include "core/cpu.h"

void mn_maxpool2_ref(const float *x, int W, int OH, int OW, float *y, int32_t *am) {
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            int i0 = 2 * oy * W + 2 * ox, i1 = i0 + 1, i2 = i0 + W, i3 = i2 + 1;
            int ia = x[i1] > x[i0] ? i1 : i0, ib = x[i3] > x[i2] ? i3 : i2;
            int im = x[ib] > x[ia] ? ib : ia;
            y[oy * OW + ox] = x[im];
            am[oy * OW + ox] = im;
        }
}

#define T512 __attribute__((target("avx512f")))

T512 static void maxpool2_avx512(const float *x, int W, int OH, int OW, float *y, int32_t *am) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1)), one = _mm512_set1_epi32(1);
    for (int oy = 0; oy < OH; oy++) {
        const float *r0 = x + (int64_t)2 * oy * W, *r1 = r0 + W;
        for (int ox = 0; ox < OW; ox += 16) {
            int n = OW - ox < 16 ? OW - ox : 16;
            /* 2n inputs per row, all inside the row (2 * OW <= W). */
            __mmask16 k0 = mn__lanes16(2 * n), k1 = mn__lanes16(2 * n - 16), ko = mn__lanes16(n);
            const float *p0 = r0 + 2 * ox, *p1 = r1 + 2 * ox;
            __m512 a0 = _mm512_maskz_loadu_ps(k0, p0), a1 = _mm512_maskz_loadu_ps(k1, p0 + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(k0, p1), b1 = _mm512_maskz_loadu_ps(k1, p1 + 16);
            __m512 e0 = _mm512_permutex2var_ps(a0, ev, a1), o0 = _mm512_permutex2var_ps(a0, od, a1);
            __m512 e1 = _mm512_permutex2var_ps(b0, ev, b1), o1 = _mm512_permutex2var_ps(b0, od, b1);
            __mmask16 m1 = _mm512_cmp_ps_mask(o0, e0, _CMP_GT_OQ), m2 = _mm512_cmp_ps_mask(o1, e1, _CMP_GT_OQ);
            __m512 va = _mm512_mask_blend_ps(m1, e0, o0), vb = _mm512_mask_blend_ps(m2, e1, o1);
            __mmask16 m3 = _mm512_cmp_ps_mask(vb, va, _CMP_GT_OQ);
            __m512i i0 = _mm512_add_epi32(_mm512_set1_epi32(2 * oy * W + 2 * ox), ev);
            __m512i i2 = _mm512_add_epi32(i0, _mm512_set1_epi32(W));
            __m512i ia = _mm512_mask_add_epi32(i0, m1, i0, one), ib = _mm512_mask_add_epi32(i2, m2, i2, one);
            _mm512_mask_storeu_ps(y + oy * OW + ox, ko, _mm512_mask_blend_ps(m3, va, vb));
            _mm512_mask_storeu_epi32(am + oy * OW + ox, ko, _mm512_mask_blend_epi32(m3, ia, ib));
        }
    }
}

void mn_maxpool2(const float *x, int W, int OH, int OW, float *y, int32_t *am) {
    if (mn_cpu_features()->avx512f) maxpool2_avx512(x, W, OH, OW, y, am);
    else mn_maxpool2_ref(x, W, OH, OW, y, am);
}
