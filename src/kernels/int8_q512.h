/* The activation quantizer on 16 lanes, shared by the AVX-512BW and VNNI
 * int8 kernels (int8_avx512.c, int8_vnni.c): the float operations of q1()
 * in int8.c, compiled for AVX-512BW + VL and inlined into either file's
 * functions (VNNI's target is a superset). */
#ifndef MINNOW_KERNELS_INT8_Q512_H
#define MINNOW_KERNELS_INT8_Q512_H

#include <immintrin.h>

#include "kernels/avx512.h"
#include "kernels/int8.h"

#define MN__Q512 static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl")))

typedef struct mn__q512 { __m512 inv, lo, hi, magic; __m512i zero; } mn__q512;

MN__Q512 mn__q512 mn__q512_of(const mn_qact *a) {
    mn__q512 c = {_mm512_set1_ps(1.0f / a->scale), _mm512_set1_ps((float)(a->qmin - a->zero)),
                  _mm512_set1_ps((float)(a->qmax - a->zero)), _mm512_set1_ps(12582912.0f),
                  _mm512_set1_epi32(a->zero)};
    return c;
}

/* x * 1/scale, NaN as 0, clamped to the codes' range less the zero point,
 * plus 1.5 * 2^23: the representation then holds round-half-even of the
 * clamped value in its low bits (lanes off m: 0 + 1.5 * 2^23). */
MN__Q512 __m512 mn__q512_magic(const mn__q512 *c, __mmask16 m, const float *x) {
    __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x), c->inv);
    t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(t, t, _CMP_ORD_Q), t);
    return _mm512_add_ps(_mm512_min_ps(_mm512_max_ps(t, c->lo), c->hi), c->magic);
}

/* Codes of the lanes in m; 0 in the others. */
MN__Q512 __m512i mn__q512_codes(const mn__q512 *c, __mmask16 m, const float *x) {
    __m512 t = _mm512_sub_ps(mn__q512_magic(c, m, x), c->magic);
    return _mm512_maskz_add_epi32(m, _mm512_cvttps_epi32(t), c->zero);
}

/* The same codes plus `add` in the low 16 bits of each lane (the image
 * quantizers narrow them to bytes or words): the magic's representation
 * already holds the rounded value there, so no float to int conversion. */
MN__Q512 __m512i mn__q512_bits(const mn__q512 *c, __mmask16 m, const float *x, __m512i add) {
    return _mm512_add_epi32(_mm512_castps_si512(mn__q512_magic(c, m, x)), add);
}

#endif
