/* Binary kernels, AVX2: the nibble-LUT popcount (vpshufb on each half byte,
 * vpsadbw to sum the bytes) for XNOR/popcount, and compare-built lane masks
 * for adding / subtracting real inputs by sign bits. */
#include <immintrin.h>

#include "kernels/xnor.h"

#define T2 __attribute__((target("avx2")))
#define INL static inline __attribute__((always_inline))

/* Four 64-bit counts of v's set bits. */
INL T2 __m256i popcnt256(__m256i v, __m256i lut, __m256i low) {
    __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
    return _mm256_sad_epu8(cnt, _mm256_setzero_si256());
}

INL T2 int64_t hsum64(__m256i v) {
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

/* IB x JB block (at most 2 x 2: 16 ymm registers are few). */
INL T2 void popc_blk(const uint64_t *X, const uint64_t *W, const uint64_t *Mw, int words,
                     int32_t *out, int64_t ldo, const int IB, const int JB, const int HM) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i acc[2][2];
    #pragma GCC unroll 2
    for (int i = 0; i < IB; i++)
        #pragma GCC unroll 2
        for (int j = 0; j < JB; j++) acc[i][j] = _mm256_setzero_si256();
    for (int k = 0; k < words; k += 4) {
        __m256i w[2], m[2], x[2];
        #pragma GCC unroll 2
        for (int j = 0; j < JB; j++) {
            w[j] = _mm256_loadu_si256((const __m256i *)(W + (int64_t)j * words + k));
            if (HM) m[j] = _mm256_loadu_si256((const __m256i *)(Mw + (int64_t)j * words + k));
        }
        #pragma GCC unroll 2
        for (int i = 0; i < IB; i++) x[i] = _mm256_loadu_si256((const __m256i *)(X + (int64_t)i * words + k));
        #pragma GCC unroll 2
        for (int i = 0; i < IB; i++)
            #pragma GCC unroll 2
            for (int j = 0; j < JB; j++) {
                __m256i v = _mm256_xor_si256(x[i], w[j]);
                if (HM) v = _mm256_and_si256(v, m[j]);
                acc[i][j] = _mm256_add_epi64(acc[i][j], popcnt256(v, lut, low));
            }
    }
    #pragma GCC unroll 2
    for (int i = 0; i < IB; i++)
        #pragma GCC unroll 2
        for (int j = 0; j < JB; j++) out[i * ldo + j] = (int32_t)hsum64(acc[i][j]);
}

INL T2 void popc_all(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw, int M,
                     int words, int32_t *out, int64_t ldo, const int HM) {
    int j = 0;
    for (; j + 2 <= M; j += 2) {
        const uint64_t *w = W + (int64_t)j * words, *m = HM ? Mw + (int64_t)j * words : NULL;
        int i = 0;
        for (; i + 2 <= N; i += 2) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 2, 2, HM);
        for (; i < N; i++) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 1, 2, HM);
    }
    for (; j < M; j++) {
        const uint64_t *w = W + (int64_t)j * words, *m = HM ? Mw + (int64_t)j * words : NULL;
        int i = 0;
        for (; i + 2 <= N; i += 2) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 2, 1, HM);
        for (; i < N; i++) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 1, 1, HM);
    }
}

T2 void mn_xnor_popc_avx2(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                          int M, int words, int32_t *out, int64_t ldo) {
    if (Mw) popc_all(X, N, W, Mw, M, words, out, ldo, 1);
    else popc_all(X, N, W, NULL, M, words, out, ldo, 0);
}

/* ---- real inputs -------------------------------------------------------- */

/* All-ones lanes where bit l of the byte is set. */
INL T2 __m256i lanes_of(unsigned byte, __m256i sel) {
    __m256i b = _mm256_set1_epi32((int)byte);
    return _mm256_cmpeq_epi32(_mm256_and_si256(b, sel), sel);
}

/* Eight accumulators hold the reference's p[0..63] (lane l of acc q is
 * p[8q + l]); q16 = (p[l] + p[16+l]) + (p[32+l] + p[48+l]) per half. */
INL T2 float reduce64(const __m256 *a) {
    __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[4], a[6]));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(a[1], a[3]), _mm256_add_ps(a[5], a[7]));
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

INL T2 float sacc_row(const float *x, int K, const uint64_t *w, const uint64_t *m) {
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i sgn = _mm256_set1_epi32((int)0x80000000u);
    __m256 acc[8];
    for (int q = 0; q < 8; q++) acc[q] = _mm256_setzero_ps();
    int kw = (K + 63) >> 6;
    for (int k = 0; k < kw; k++) {
        uint64_t b = w[k], valid = m ? m[k] : ~(uint64_t)0;
        int left = K - (k << 6);
        if (left < 64) valid &= ((uint64_t)1 << left) - 1;
        #pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            unsigned vq = (unsigned)(valid >> (8 * q)) & 0xff, bq = (unsigned)(b >> (8 * q)) & 0xff;
            if (!vq) continue;
            __m256i vm = lanes_of(vq, sel), pos = lanes_of(bq, sel);
            __m256i xv = _mm256_maskload_epi32((const int *)(x + (k << 6) + 8 * q), vm);
            xv = _mm256_xor_si256(xv, _mm256_andnot_si256(pos, sgn));
            __m256 sum = _mm256_add_ps(acc[q], _mm256_castsi256_ps(xv));
            /* Skipped lanes keep their value exactly (a blend, not + 0). */
            acc[q] = _mm256_blendv_ps(acc[q], sum, _mm256_castsi256_ps(vm));
        }
    }
    return reduce64(acc);
}

T2 void mn_signacc_avx2(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                        const uint64_t *Mw, int M, int words, float *out, int64_t ldo) {
    for (int j = 0; j < M; j++) {
        const uint64_t *w = W + (int64_t)j * words, *m = Mw ? Mw + (int64_t)j * words : NULL;
        for (int i = 0; i < N; i++) out[i * ldo + j] = sacc_row(x + i * ldx, K, w, m);
    }
}

T2 void mn_signacc_cols_avx2(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                             const float *B, int N, int64_t ldb, float *C, int64_t ldc) {
    const __m256i sgn = _mm256_set1_epi32((int)0x80000000u);
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int n0 = 0; n0 < N; n0 += 32) {
        int nn = N - n0 < 32 ? N - n0 : 32;
        __m256i ld[4];
        for (int q = 0; q < 4; q++) ld[q] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nn - 8 * q), idx);
        for (int j = 0; j < M; j++) {
            const uint64_t *w = W + (int64_t)j * words, *m = Mw ? Mw + (int64_t)j * words : NULL;
            __m256 acc[4];
            for (int q = 0; q < 4; q++) acc[q] = _mm256_setzero_ps();
            for (int k = 0; k < K; k++) {
                uint64_t bit = (uint64_t)1 << (k & 63);
                if (m && !(m[k >> 6] & bit)) continue;
                __m256i s = (w[k >> 6] & bit) ? _mm256_setzero_si256() : sgn;
                const float *b = B + k * ldb + n0;
                #pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    __m256i v = _mm256_maskload_epi32((const int *)(b + 8 * q), ld[q]);
                    acc[q] = _mm256_add_ps(acc[q], _mm256_castsi256_ps(_mm256_xor_si256(v, s)));
                }
            }
            float *c = C + j * ldc + n0;
            for (int q = 0; q < 4; q++) _mm256_maskstore_ps(c + 8 * q, ld[q], acc[q]);
        }
    }
}
