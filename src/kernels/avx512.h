/* Small pieces the AVX-512 kernels share: the mask of a ragged 16-lane
 * tail, and a 16x16 transpose in registers (sparse_avx512.c, transpose.c
 * turn row blocks into column panels with it). */
#ifndef MINNOW_KERNELS_AVX512_H
#define MINNOW_KERNELS_AVX512_H

#include <immintrin.h>
#include <stdint.h>

/* Lanes [0, n) of 16: none for n <= 0, all for n >= 16. */
static inline __mmask16 mn__lanes16(int64_t n) {
    return (__mmask16)(n <= 0 ? 0 : n >= 16 ? 0xffffu : (1u << n) - 1);
}

/* In-place transpose of a 16x16 block held in 16 registers. */
static inline __attribute__((always_inline, target("avx512f"))) void mn__tr16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* r[i] now holds, per 128-bit lane L, column 4L + i%4 of rows
     * 4*(i/4)..+3; two lane shuffles finish the job. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

#endif
