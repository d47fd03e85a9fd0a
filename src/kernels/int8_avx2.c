/* int8 kernels on AVX2: codes widened to int16 pairs and multiplied with
 * vpmaddwd (exact, never saturating); a 16-row panel is two ymm halves.
 * 16 ymm registers allow 4 broadcast rows x 1 panel or up to 3 x 2 panels.
 * Also the quantizers into these layouts.  Layouts in int8.c. */
#include <immintrin.h>
#include <string.h>

#include "kernels/int8.h"
#include "kernels/int8_impl.h"

#define TGT __attribute__((target("avx2")))
#define INL static inline __attribute__((always_inline)) TGT

INL int32_t ld32(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* MB broadcast rows x NH ymm halves (2 per panel). */
INL void blk(const int16_t *P, int64_t pstride, int kh, const int16_t *A, int lda, int32_t *acc, int ldacc,
             const int MB, const int NH) {
    __m256i a[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < MB; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NH; j++) a[i][j] = _mm256_setzero_si256();
    for (int k = 0; k < kh; k++) {
        __m256i pv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NH; j++)
            pv[j] = _mm256_load_si256((const __m256i *)(P + (j / 2) * pstride + (int64_t)k * 32 + (j % 2) * 16));
#pragma GCC unroll 4
        for (int i = 0; i < MB; i++) {
            __m256i b = _mm256_set1_epi32(ld32(A + (int64_t)i * lda + 2 * k));
#pragma GCC unroll 4
            for (int j = 0; j < NH; j++) a[i][j] = _mm256_add_epi32(a[i][j], _mm256_madd_epi16(b, pv[j]));
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MB; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NH; j++) _mm256_storeu_si256((__m256i *)(acc + (int64_t)i * ldacc + 8 * j), a[i][j]);
}

INL void tiles(const int16_t *P, int npanel, int kh, const int16_t *A, int na, int lda, int32_t *acc, int ldacc) {
    int64_t pstride = (int64_t)kh * 32; /* int16 elements per panel */
    int two = na < 4; /* few rows: two panels per broadcast (more reuse) */
    for (int p = 0; p < npanel; p += two ? 2 : 1) {
        int nh = two && npanel - p >= 2 ? 4 : 2;
        for (int b = 0; b < na; b += 4) {
            int mb = na - b < 4 ? na - b : 4;
            const int16_t *pp = P + p * pstride, *ab = A + (int64_t)b * lda;
            int32_t *o = acc + (int64_t)b * ldacc + 16 * p;
#define CASE(M, N) case (M) * 8 + (N): blk(pp, pstride, kh, ab, lda, o, ldacc, M, N); break
            switch (mb * 8 + nh) {
                CASE(1, 2); CASE(1, 4); CASE(2, 2); CASE(2, 4);
                CASE(3, 2); CASE(3, 4); CASE(4, 2);
            }
#undef CASE
        }
    }
}

TGT void mn__i8_gemm_xw_avx2(const void *wp, int rows, int cols, const void *xr, int nrows, int32_t *acc,
                             int ldacc) {
    int kp = mn_i8_ldx(MN_I8_AVX2, cols);
    tiles(wp, mn_i8_ldacc(rows) / 16, kp / 2, xr, nrows, kp, acc, ldacc);
}

TGT void mn__i8_gemm_wx_avx2(const void *wr, int rows, int cols, const void *xp, int n, int32_t *acc,
                             int ldacc) {
    int kp = mn_i8_ldx(MN_I8_AVX2, cols);
    tiles(xp, mn_i8_ldacc(n) / 16, kp / 2, wr, rows, kp, acc, ldacc);
}

/* ---- quantizers: the float operations of q1() in int8.c, 8 lanes ---- */

typedef struct qc { __m256 inv, lo, hi, magic; __m256i zero; } qc;

INL qc qc_of(const mn_qact *a) {
    qc c = {_mm256_set1_ps(1.0f / a->scale), _mm256_set1_ps((float)(a->qmin - a->zero)),
            _mm256_set1_ps((float)(a->qmax - a->zero)), _mm256_set1_ps(12582912.0f), _mm256_set1_epi32(a->zero)};
    return c;
}

/* Codes of the lanes whose mask m is all ones; 0 in the others. */
INL __m256i qv(const qc *c, __m256i m, const float *x) {
    __m256 t = _mm256_mul_ps(_mm256_maskload_ps(x, m), c->inv);
    t = _mm256_and_ps(t, _mm256_cmp_ps(t, t, _CMP_ORD_Q));
    t = _mm256_min_ps(_mm256_max_ps(t, c->lo), c->hi);
    t = _mm256_sub_ps(_mm256_add_ps(t, c->magic), c->magic);
    return _mm256_and_si256(_mm256_add_epi32(_mm256_cvttps_epi32(t), c->zero), m);
}

INL __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INL int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

TGT void mn__i8_quant_rows_avx2(const float *x, int nrows, int cols, const mn_qact *a, void *xr, int32_t *sumq) {
    qc c = qc_of(a);
    int kp = mn_i8_ldx(MN_I8_AVX2, cols);
    __m256i all = _mm256_set1_epi32(-1);
    for (int i = 0; i < nrows; i++) {
        const float *xi = x + (int64_t)i * cols;
        int16_t *o = (int16_t *)xr + (int64_t)i * kp;
        __m256i s = _mm256_setzero_si256();
        int k = 0;
        for (; k + 8 <= cols; k += 8) {
            __m256i v = qv(&c, all, xi + k);
            s = _mm256_add_epi32(s, v);
            __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08);
            _mm_storeu_si128((__m128i *)(o + k), _mm256_castsi256_si128(p));
        }
        int32_t st = hsum(s);
        for (; k < cols; k++) st += o[k] = (int16_t)mn_i8_quant1(xi[k], a);
        for (; k < kp; k++) o[k] = 0;
        if (sumq) sumq[i] = st;
    }
}

TGT void mn__i8_quant_panel_avx2(const float *B, int64_t ldb, int n, int cols, const mn_qact *a, void *xp,
                                 int32_t *sumq) {
    qc c = qc_of(a);
    int kp = mn_i8_ldx(MN_I8_AVX2, cols);
    __m256i lo16 = _mm256_set1_epi32(0xffff), zero = _mm256_setzero_si256();
    for (int j0 = 0; j0 < n; j0 += 16) {
        __m256i m0 = lanes(n - j0), m1 = lanes(n - j0 - 8);
        int16_t *o = (int16_t *)xp + (int64_t)j0 * kp;
        __m256i s0 = zero, s1 = zero;
        for (int k = 0; k < kp; k += 2, o += 32) {
            const float *r0 = B + k * ldb + j0, *r1 = r0 + ldb;
            int two = k + 1 < cols;
            __m256i a0 = qv(&c, m0, r0), a1 = qv(&c, m1, r0 + 8);
            __m256i b0 = two ? qv(&c, m0, r1) : zero, b1 = two ? qv(&c, m1, r1 + 8) : zero;
            s0 = _mm256_add_epi32(s0, _mm256_add_epi32(a0, b0));
            s1 = _mm256_add_epi32(s1, _mm256_add_epi32(a1, b1));
            _mm256_store_si256((__m256i *)o, _mm256_or_si256(_mm256_and_si256(a0, lo16), _mm256_slli_epi32(b0, 16)));
            _mm256_store_si256((__m256i *)(o + 16), _mm256_or_si256(_mm256_and_si256(a1, lo16), _mm256_slli_epi32(b1, 16)));
        }
        if (sumq) {
            _mm256_storeu_si256((__m256i *)(sumq + j0), s0);
            _mm256_storeu_si256((__m256i *)(sumq + j0 + 8), s1);
        }
    }
}

/* The padded image of codes of a conv input (int8_conv.c): one pass,
 * the border rows and columns set to the code of 0.0 as it goes.  AVX2 has
 * no 16-bit masked store: a row's last group of 8 is stored whole, its
 * lanes past the row holding 0; the right border and the rows after it,
 * written later, overwrite them, and the last row's spill falls in the
 * image's 64 bytes of slack. */
TGT void mn__i8_quant_image_avx2(const float *x, int C, int H, int W, int pad, int ld, const mn_qact *a,
                                 void *xq) {
    qc c = qc_of(a);
    int16_t z = (int16_t)a->zero, *o = (int16_t *)xq;
    int64_t edge = (int64_t)pad * ld;
    for (int ch = 0; ch < C; ch++) {
        for (int64_t i = 0; i < edge; i++) o[i] = z;
        o += edge;
        for (int y = 0; y < H; y++, o += ld, x += W) {
            for (int i = 0; i < pad; i++) o[i] = z;
            int16_t *r = o + pad;
            for (int k = 0; k < W; k += 8) {
                __m256i v = qv(&c, lanes(W - k), x + k);
                __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08);
                _mm_storeu_si128((__m128i *)(r + k), _mm256_castsi256_si128(p));
            }
            for (int i = pad + W; i < ld; i++) o[i] = z;
        }
        for (int64_t i = 0; i < edge; i++) o[i] = z;
        o += edge;
    }
}
