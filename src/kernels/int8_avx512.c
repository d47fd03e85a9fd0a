/* int8 kernels on AVX-512BW: codes widened to int16 pairs and multiplied
 * with vpmaddwd (two products summed into an int32 lane, never saturating,
 * unlike vpmaddubsw); and the quantizers into these layouts.  Layouts in
 * int8.c. */
#include <immintrin.h>
#include <string.h>

#include "kernels/int8.h"
#include "kernels/int8_impl.h"
#include "kernels/int8_q512.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl")))
#define INL static inline __attribute__((always_inline)) TGT

INL int32_t ld32(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* MB broadcast rows x NP panels of 16 (vpmaddwd is symmetric: the roles
 * of activations and weights do not matter here). */
INL void blk(const int16_t *P, int64_t pstride, int kh, const int16_t *A, int lda, int32_t *acc, int ldacc,
             const int MB, const int NP) {
    __m512i a[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < MB; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) a[i][j] = _mm512_setzero_si512();
    for (int k = 0; k < kh; k++) {
        __m512i pv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) pv[j] = _mm512_load_si512((const void *)(P + j * pstride + (int64_t)k * 32));
#pragma GCC unroll 4
        for (int i = 0; i < MB; i++) {
            __m512i b = _mm512_set1_epi32(ld32(A + (int64_t)i * lda + 2 * k));
#pragma GCC unroll 4
            for (int j = 0; j < NP; j++) a[i][j] = _mm512_add_epi32(a[i][j], _mm512_madd_epi16(b, pv[j]));
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MB; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) _mm512_storeu_si512((void *)(acc + (int64_t)i * ldacc + 16 * j), a[i][j]);
}

INL void tiles(const int16_t *P, int npanel, int kh, const int16_t *A, int na, int lda, int32_t *acc, int ldacc) {
    int64_t pstride = (int64_t)kh * 32; /* int16 elements per panel */
    for (int p = 0; p < npanel; p += 4) {
        int np = npanel - p < 4 ? npanel - p : 4;
        for (int b = 0; b < na; b += 4) {
            int mb = na - b < 4 ? na - b : 4;
            const int16_t *pp = P + p * pstride, *ab = A + (int64_t)b * lda;
            int32_t *o = acc + (int64_t)b * ldacc + 16 * p;
#define CASE(M, N) case (M) * 8 + (N): blk(pp, pstride, kh, ab, lda, o, ldacc, M, N); break
            switch (mb * 8 + np) {
                CASE(1, 1); CASE(1, 2); CASE(1, 3); CASE(1, 4);
                CASE(2, 1); CASE(2, 2); CASE(2, 3); CASE(2, 4);
                CASE(3, 1); CASE(3, 2); CASE(3, 3); CASE(3, 4);
                CASE(4, 1); CASE(4, 2); CASE(4, 3); CASE(4, 4);
            }
#undef CASE
        }
    }
}

TGT void mn__i8_gemm_xw_avx512bw(const void *wp, int rows, int cols, const void *xr, int nrows, int32_t *acc,
                                 int ldacc) {
    int kp = mn_i8_ldx(MN_I8_AVX512BW, cols);
    tiles(wp, mn_i8_ldacc(rows) / 16, kp / 2, xr, nrows, kp, acc, ldacc);
}

TGT void mn__i8_gemm_wx_avx512bw(const void *wr, int rows, int cols, const void *xp, int n, int32_t *acc,
                                 int ldacc) {
    int kp = mn_i8_ldx(MN_I8_AVX512BW, cols);
    tiles(xp, mn_i8_ldacc(n) / 16, kp / 2, wr, rows, kp, acc, ldacc);
}

/* ---- quantizers (the 16-lane quantizer: int8_q512.h) ---- */

TGT void mn__i8_quant_rows_avx512bw(const float *x, int nrows, int cols, const mn_qact *a, void *xr,
                                    int32_t *sumq) {
    mn__q512 c = mn__q512_of(a);
    int kp = mn_i8_ldx(MN_I8_AVX512BW, cols);
    for (int i = 0; i < nrows; i++) {
        const float *xi = x + (int64_t)i * cols;
        int16_t *o = (int16_t *)xr + (int64_t)i * kp;
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < cols; k += 16) {
            __mmask16 m = mn__lanes16(cols - k);
            __m512i v = mn__q512_codes(&c, m, xi + k);
            s = _mm512_add_epi32(s, v);
            _mm512_mask_cvtepi32_storeu_epi16(o + k, m, v);
        }
        for (int k = cols; k < kp; k++) o[k] = 0;
        if (sumq) sumq[i] = _mm512_reduce_add_epi32(s);
    }
}

TGT void mn__i8_quant_panel_avx512bw(const float *B, int64_t ldb, int n, int cols, const mn_qact *a, void *xp,
                                     int32_t *sumq) {
    mn__q512 c = mn__q512_of(a);
    int kp = mn_i8_ldx(MN_I8_AVX512BW, cols);
    __m512i lo16 = _mm512_set1_epi32(0xffff);
    for (int j0 = 0; j0 < n; j0 += 16) {
        __mmask16 m = mn__lanes16(n - j0);
        int16_t *o = (int16_t *)xp + (int64_t)j0 * kp;
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < kp; k += 2, o += 32) {
            __m512i v0 = mn__q512_codes(&c, m, B + k * ldb + j0);
            __m512i v1 = k + 1 < cols ? mn__q512_codes(&c, m, B + (k + 1) * ldb + j0) : _mm512_setzero_si512();
            s = _mm512_add_epi32(s, _mm512_add_epi32(v0, v1));
            _mm512_store_si512((void *)o, _mm512_or_si512(_mm512_and_si512(v0, lo16), _mm512_slli_epi32(v1, 16)));
        }
        if (sumq) _mm512_storeu_si512((void *)(sumq + j0), s);
    }
}

/* The padded image of codes of a conv input (int8_conv.c): one pass,
 * the border rows and columns set to the code of 0.0 as it goes, the
 * codes taken from the bits of the rounded value (mn__q512_bits). */
TGT void mn__i8_quant_image_avx512bw(const float *x, int C, int H, int W, int pad, int ld, const mn_qact *a,
                                     void *xq) {
    mn__q512 c = mn__q512_of(a);
    __m512i zv = _mm512_set1_epi32(a->zero);
    int16_t z = (int16_t)a->zero, *o = (int16_t *)xq;
    int64_t edge = (int64_t)pad * ld;
    int right = ld - pad - W;
    __m256i zw = _mm256_set1_epi16(z);
    /* a row's border: one masked store when it has at most 16 codes */
    __mmask16 ml = mn__lanes16(pad), mr = mn__lanes16(right);
    for (int ch = 0; ch < C; ch++) {
        for (int64_t i = 0; i < edge; i++) o[i] = z;
        o += edge;
        for (int y = 0; y < H; y++, o += ld, x += W) {
            if (pad <= 16) _mm256_mask_storeu_epi16(o, ml, zw);
            else for (int i = 0; i < pad; i++) o[i] = z;
            for (int k = 0; k < W; k += 16) {
                __mmask16 m = mn__lanes16(W - k);
                _mm256_mask_storeu_epi16(o + pad + k, m, _mm512_cvtepi32_epi16(mn__q512_bits(&c, m, x + k, zv)));
            }
            if (right <= 16) _mm256_mask_storeu_epi16(o + pad + W, mr, zw);
            else for (int i = pad + W; i < ld; i++) o[i] = z;
        }
        for (int64_t i = 0; i < edge; i++) o[i] = z;
        o += edge;
    }
}
