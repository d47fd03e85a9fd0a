/* int8 kernels on AVX-512 VNNI: vpdpbusd multiplies 4 unsigned activation
 * bytes (q + 128) by 4 signed weight bytes and adds the four products to an
 * int32 lane without saturation; 128 * the weight row sums is subtracted at
 * the end, which is exact (|sum| < 2^31 for cols <= MN_I8_MAX_K).  Also the
 * quantizers into this ISA's layouts.  Layouts in int8.c. */
#include <immintrin.h>
#include <string.h>

#include "kernels/int8.h"
#include "kernels/int8_impl.h"
#include "kernels/int8_q512.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INL static inline __attribute__((always_inline)) TGT

INL int32_t ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* MB broadcast rows x NP panels of 16.  XW: activations are the broadcast
 * rows (unsigned), weights the panels; else the reverse.  The row sums to
 * correct are per panel row (XW) or per broadcast row. */
INL void blk(const uint8_t *P, int64_t pstride, int kq, const uint8_t *A, int lda, const int32_t *rs,
             int32_t *acc, int ldacc, const int MB, const int NP, const int XW) {
    __m512i a[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < MB; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) a[i][j] = _mm512_setzero_si512();
    for (int k = 0; k < kq; k++) {
        __m512i pv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) pv[j] = _mm512_load_si512((const void *)(P + j * pstride + (int64_t)k * 64));
#pragma GCC unroll 4
        for (int i = 0; i < MB; i++) {
            __m512i b = _mm512_set1_epi32(ld32(A + (int64_t)i * lda + 4 * k));
#pragma GCC unroll 4
            for (int j = 0; j < NP; j++)
                a[i][j] = XW ? _mm512_dpbusd_epi32(a[i][j], b, pv[j]) : _mm512_dpbusd_epi32(a[i][j], pv[j], b);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MB; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) {
            __m512i c = XW ? _mm512_loadu_si512((const void *)(rs + 16 * j)) : _mm512_set1_epi32(rs[i]);
            _mm512_storeu_si512((void *)(acc + (int64_t)i * ldacc + 16 * j),
                                _mm512_sub_epi32(a[i][j], _mm512_slli_epi32(c, 7)));
        }
}

/* One broadcast row (dense at batch 1): MB x NP = 1 x 4 chains are too few
 * to hide vpdpbusd's latency, so even and odd k steps go to two sets of
 * accumulators, added at the end (int32 sums: the same bits). */
INL void blk1(const uint8_t *P, int64_t pstride, int kq, const uint8_t *A, const int32_t *rs, int32_t *acc,
              const int NP) {
    __m512i a[4], b[4];
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) a[j] = b[j] = _mm512_setzero_si512();
    int k = 0;
    for (; k + 2 <= kq; k += 2) {
        __m512i x0 = _mm512_set1_epi32(ld32(A + 4 * k)), x1 = _mm512_set1_epi32(ld32(A + 4 * k + 4));
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) {
            a[j] = _mm512_dpbusd_epi32(a[j], x0, _mm512_load_si512((const void *)(P + j * pstride + (int64_t)k * 64)));
            b[j] = _mm512_dpbusd_epi32(b[j], x1,
                                       _mm512_load_si512((const void *)(P + j * pstride + (int64_t)k * 64 + 64)));
        }
    }
    if (k < kq) {
        __m512i x0 = _mm512_set1_epi32(ld32(A + 4 * k));
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++)
            a[j] = _mm512_dpbusd_epi32(a[j], x0, _mm512_load_si512((const void *)(P + j * pstride + (int64_t)k * 64)));
    }
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) {
        __m512i c = _mm512_loadu_si512((const void *)(rs + 16 * j));
        _mm512_storeu_si512((void *)(acc + 16 * j), _mm512_sub_epi32(_mm512_add_epi32(a[j], b[j]), _mm512_slli_epi32(c, 7)));
    }
}

/* Runs blk over MB x NP tiles with constant sizes (registers, not memory). */
INL void tiles(const uint8_t *P, int npanel, int kq, const uint8_t *A, int na, int lda, const int32_t *rs,
               int32_t *acc, int ldacc, const int XW) {
    int64_t pstride = (int64_t)kq * 64;
    for (int p = 0; p < npanel; p += 4) {
        int np = npanel - p < 4 ? npanel - p : 4;
        for (int b = 0; b < na; b += 4) {
            int mb = na - b < 4 ? na - b : 4;
            const uint8_t *pp = P + p * pstride, *ab = A + (int64_t)b * lda;
            const int32_t *r = XW ? rs + 16 * p : rs + b;
            int32_t *o = acc + (int64_t)b * ldacc + 16 * p;
#define CASE(M, N) case (M) * 8 + (N): blk(pp, pstride, kq, ab, lda, r, o, ldacc, M, N, XW); break
            if (XW && mb == 1) {
                switch (np) {
                case 1: blk1(pp, pstride, kq, ab, r, o, 1); break;
                case 2: blk1(pp, pstride, kq, ab, r, o, 2); break;
                case 3: blk1(pp, pstride, kq, ab, r, o, 3); break;
                default: blk1(pp, pstride, kq, ab, r, o, 4); break;
                }
                continue;
            }
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

TGT void mn__i8_gemm_xw_vnni(const void *wp, int rows, int cols, const void *xr, int nrows, int32_t *acc,
                             int ldacc) {
    int rp = mn_i8_ldacc(rows), kp = mn_i8_ldx(MN_I8_VNNI, cols);
    tiles((const uint8_t *)wp + rp * 4, rp / 16, kp / 4, xr, nrows, kp, wp, acc, ldacc, 1);
}

TGT void mn__i8_gemm_wx_vnni(const void *wr, int rows, int cols, const void *xp, int n, int32_t *acc,
                             int ldacc) {
    int rp = mn_i8_ldacc(rows), kp = mn_i8_ldx(MN_I8_VNNI, cols);
    tiles(xp, mn_i8_ldacc(n) / 16, kp / 4, (const uint8_t *)wr + rp * 4, rows, kp, wr, acc, ldacc, 0);
}

/* ---- quantizers (the 16-lane quantizer: int8_q512.h) ---- */

TGT void mn__i8_quant_rows_vnni(const float *x, int nrows, int cols, const mn_qact *a, void *xr, int32_t *sumq) {
    mn__q512 c = mn__q512_of(a);
    int kp = mn_i8_ldx(MN_I8_VNNI, cols);
    __m512i off = _mm512_set1_epi32(128);
    for (int i = 0; i < nrows; i++) {
        const float *xi = x + (int64_t)i * cols;
        uint8_t *o = (uint8_t *)xr + (int64_t)i * kp;
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < cols; k += 16) {
            __mmask16 m = mn__lanes16(cols - k);
            __m512i v = mn__q512_codes(&c, m, xi + k);
            s = _mm512_add_epi32(s, v);
            _mm512_mask_cvtepi32_storeu_epi8(o + k, m, _mm512_add_epi32(v, off));
        }
        for (int k = cols; k < kp; k++) o[k] = 128;
        if (sumq) sumq[i] = _mm512_reduce_add_epi32(s);
    }
}

TGT void mn__i8_quant_panel_vnni(const float *B, int64_t ldb, int n, int cols, const mn_qact *a, void *xp,
                                 int32_t *sumq) {
    mn__q512 c = mn__q512_of(a);
    int kp = mn_i8_ldx(MN_I8_VNNI, cols);
    __m512i off = _mm512_set1_epi32(128), lo8 = _mm512_set1_epi32(0xff);
    for (int j0 = 0; j0 < n; j0 += 16) {
        __mmask16 m = mn__lanes16(n - j0);
        uint8_t *o = (uint8_t *)xp + (int64_t)j0 * kp;
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < kp; k += 4, o += 64) {
            __m512i w = _mm512_setzero_si512();
            for (int e = 0; e < 4; e++) {
                __m512i v = k + e < cols ? mn__q512_codes(&c, m, B + (k + e) * ldb + j0) : _mm512_setzero_si512();
                s = _mm512_add_epi32(s, v);
                w = _mm512_or_si512(w, _mm512_slli_epi32(_mm512_and_si512(_mm512_add_epi32(v, off), lo8), 8 * e));
            }
            _mm512_store_si512((void *)o, w);
        }
        if (sumq) _mm512_storeu_si512((void *)(sumq + j0), s);
    }
}

/* The padded image of codes of a conv input (int8_conv.c): one pass,
 * the border rows and columns set to the code of 0.0 as it goes.  The
 * zero point and the u8 offset are added to the bits of the rounded value
 * (mn__q512_bits), whose low byte is then the stored code.  The bytes are
 * narrowed in a register and stored with a mask (a narrowing store to
 * memory was half as fast; a whole 16-byte store that the border then
 * overwrites, slower still). */
TGT void mn__i8_quant_image_vnni(const float *x, int C, int H, int W, int pad, int ld, const mn_qact *a,
                                 void *xq) {
    mn__q512 c = mn__q512_of(a);
    __m512i zoff = _mm512_set1_epi32(a->zero + 128);
    uint8_t z = (uint8_t)(a->zero + 128), *o = (uint8_t *)xq;
    __m128i zb = _mm_set1_epi8((char)z);
    size_t edge = (size_t)pad * (size_t)ld;
    int right = ld - pad - W;
    /* A row's border bytes: one masked store when there are at most 16
     * (a memset call per row cost more than quantizing the row). */
    __mmask16 ml = mn__lanes16(pad), mr = mn__lanes16(right);
    for (int ch = 0; ch < C; ch++) {
        memset(o, z, edge);
        o += edge;
        for (int y = 0; y < H; y++, o += ld, x += W) {
            if (pad <= 16) _mm_mask_storeu_epi8(o, ml, zb);
            else memset(o, z, (size_t)pad);
            for (int k = 0; k < W; k += 16) {
                __mmask16 m = mn__lanes16(W - k);
                _mm_mask_storeu_epi8(o + pad + k, m, _mm512_cvtepi32_epi8(mn__q512_bits(&c, m, x + k, zoff)));
            }
            if (right <= 16) _mm_mask_storeu_epi8(o + pad + W, mr, zb);
            else memset(o + pad + W, z, (size_t)right);
        }
        memset(o, z, edge);
        o += edge;
    }
}
