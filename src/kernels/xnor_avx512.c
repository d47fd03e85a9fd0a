/* Binary kernels, AVX-512: VPOPCNTDQ for XNOR/popcount, mask registers for
 * adding / subtracting real inputs by sign bits.  Compiled per function
 * with target attributes; called only when mn_cpu_features() says so. */
#include <immintrin.h>

#include "kernels/xnor.h"

#define T512P __attribute__((target("avx512f,avx512bw,avx512vpopcntdq")))
#define T512 __attribute__((target("avx512f,avx512bw")))
#define INL static inline __attribute__((always_inline))

/* IB rows of X against JB rows of W, all words: IB*JB accumulators of eight
 * 64-bit counts, reduced once at the end.  4x4 uses 28 of 32 registers. */
INL T512P void popc_blk(const uint64_t *X, const uint64_t *W, const uint64_t *Mw, int words,
                        int32_t *out, int64_t ldo, const int IB, const int JB, const int HM) {
    __m512i acc[4][4];
    #pragma GCC unroll 4
    for (int i = 0; i < IB; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < JB; j++) acc[i][j] = _mm512_setzero_si512();
    for (int k = 0; k < words; k += 8) {
        __m512i w[4], m[4], x[4];
        #pragma GCC unroll 4
        for (int j = 0; j < JB; j++) {
            w[j] = _mm512_loadu_si512(W + (int64_t)j * words + k);
            if (HM) m[j] = _mm512_loadu_si512(Mw + (int64_t)j * words + k);
        }
        #pragma GCC unroll 4
        for (int i = 0; i < IB; i++) x[i] = _mm512_loadu_si512(X + (int64_t)i * words + k);
        #pragma GCC unroll 4
        for (int i = 0; i < IB; i++)
            #pragma GCC unroll 4
            for (int j = 0; j < JB; j++) {
                __m512i v = _mm512_xor_si512(x[i], w[j]);
                if (HM) v = _mm512_and_si512(v, m[j]);
                acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(v));
            }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < IB; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < JB; j++) out[i * ldo + j] = (int32_t)_mm512_reduce_add_epi64(acc[i][j]);
}

INL T512P void popc_all(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw, int M,
                        int words, int32_t *out, int64_t ldo, const int HM) {
    /* W rows outside, X rows inside: four rows of W stay in L1 while the
     * (small) packed batch streams past them. */
    int j = 0;
    for (; j + 4 <= M; j += 4) {
        const uint64_t *w = W + (int64_t)j * words, *m = HM ? Mw + (int64_t)j * words : NULL;
        int i = 0;
        for (; i + 4 <= N; i += 4) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 4, 4, HM);
        for (; i < N; i++) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 1, 4, HM);
    }
    for (; j < M; j++) {
        const uint64_t *w = W + (int64_t)j * words, *m = HM ? Mw + (int64_t)j * words : NULL;
        int i = 0;
        for (; i + 4 <= N; i += 4) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 4, 1, HM);
        for (; i < N; i++) popc_blk(X + (int64_t)i * words, w, m, words, out + i * ldo + j, ldo, 1, 1, HM);
    }
}

T512P void mn_xnor_popc_avx512(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                               int M, int words, int32_t *out, int64_t ldo) {
    if (Mw) popc_all(X, N, W, Mw, M, words, out, ldo, 1);
    else popc_all(X, N, W, NULL, M, words, out, ldo, 0);
}

/* Sign bits of 64 floats per word from four compares (NaN packs as 0, like
 * the portable x >= 0). */
T512 void mn_bin_pack_avx512(const float *x, int n, uint64_t *bits) {
    int words = mn_bin_words(n), full = n / 64, w = 0;
    const __m512 z = _mm512_setzero_ps();
    for (; w < full; w++) {
        uint64_t m = 0;
        #pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            m |= (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(x + 64 * w + 16 * q), z, _CMP_GE_OQ) << (16 * q);
        bits[w] = m;
    }
    if (w < words) {
        uint64_t m = 0;
        for (int c = 64 * w; c < n; c++)
            if (x[c] >= 0) m |= (uint64_t)1 << (c & 63);
        if (64 * w < n) bits[w++] = m;
    }
    for (; w < words; w++) bits[w] = 0;
}

/* ---- real inputs -------------------------------------------------------- */

/* The reference's order: four accumulators hold p[0..63] (lane l of acc q
 * is p[16q + l]); q = (a0 + a1) + (a2 + a3); then halve 16 -> 1. */
INL T512 float reduce64(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    __m512 t = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    __m256 lo = _mm512_castps512_ps256(t);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1));
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

/* sum_c s_c x_c for one row: lanes whose weight bit is clear get x's sign
 * flipped (exactly -x), lanes outside the nonzero mask or past K are left
 * alone, as the reference skips them. */
INL T512 float sacc_row(const float *x, int K, const uint64_t *w, const uint64_t *m) {
    const __m512i sgn = _mm512_set1_epi32((int)0x80000000u);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int kw = (K + 63) >> 6;
    for (int k = 0; k < kw; k++) {
        uint64_t b = w[k], valid = m ? m[k] : ~(uint64_t)0;
        int left = K - (k << 6);
        if (left < 64) valid &= ((uint64_t)1 << left) - 1;
        #pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            __mmask16 kv = (__mmask16)(valid >> (16 * q)), kn = (__mmask16)(~b >> (16 * q));
            if (!kv) continue;
            __m512i xv = _mm512_castps_si512(_mm512_maskz_loadu_ps(kv, x + (k << 6) + 16 * q));
            xv = _mm512_mask_xor_epi32(xv, kn, xv, sgn);
            acc[q] = _mm512_mask_add_ps(acc[q], kv, acc[q], _mm512_castsi512_ps(xv));
        }
    }
    return reduce64(acc[0], acc[1], acc[2], acc[3]);
}

T512 void mn_signacc_avx512(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                            const uint64_t *Mw, int M, int words, float *out, int64_t ldo) {
    for (int j = 0; j < M; j++) {
        const uint64_t *w = W + (int64_t)j * words, *m = Mw ? Mw + (int64_t)j * words : NULL;
        for (int i = 0; i < N; i++) out[i * ldo + j] = sacc_row(x + i * ldx, K, w, m);
    }
}

/* Conv form: 64 columns of C at a time, so that slice of B stays in L1
 * while every row of W passes over it. */
T512 void mn_signacc_cols_avx512(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                                 const float *B, int N, int64_t ldb, float *C, int64_t ldc) {
    const __m512i sgn = _mm512_set1_epi32((int)0x80000000u);
    for (int n0 = 0; n0 < N; n0 += 64) {
        int nn = N - n0 < 64 ? N - n0 : 64;
        __mmask16 ld[4];
        for (int q = 0; q < 4; q++) {
            int left = nn - 16 * q;
            ld[q] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        }
        for (int j = 0; j < M; j++) {
            const uint64_t *w = W + (int64_t)j * words, *m = Mw ? Mw + (int64_t)j * words : NULL;
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int k = 0; k < K; k++) {
                uint64_t bit = (uint64_t)1 << (k & 63);
                if (m && !(m[k >> 6] & bit)) continue;
                __m512i s = (w[k >> 6] & bit) ? _mm512_setzero_si512() : sgn;
                const float *b = B + k * ldb + n0;
                #pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(ld[q], b + 16 * q));
                    acc[q] = _mm512_add_ps(acc[q], _mm512_castsi512_ps(_mm512_xor_si512(v, s)));
                }
            }
            float *c = C + j * ldc + n0;
            for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(c + 16 * q, ld[q], acc[q]);
        }
    }
}
