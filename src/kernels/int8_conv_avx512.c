/* The AVX-512 gathers of conv panels from a padded code image (int8_conv.c).
 * Any stride: 16 im2col rows are built by mn__i8_conv_rows, then transposed
 * 16 x 16 32-bit words at a time in registers (a word is one pixel's k
 * group: 4 uint8 for VNNI, 2 int16 for AVX-512BW), each pixel's sum of
 * codes taken from the transposed words on the way.  Stride 1 on VNNI:
 * straight from the image, by masked byte loads + unpacks, or by one load
 * + vpermb per panel group where VBMI is there (below). */
#include <immintrin.h>

#include "kernels/int8.h"
#include "kernels/int8_impl.h"

#define TBW __attribute__((target("avx512f,avx512bw")))
#define INL static inline __attribute__((always_inline))

/* r[c] <- column c of the 16 x 16 dword matrix whose rows are r[0..15]. */
INL TBW void tr16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* r[4i+q], 128-bit lane L: rows 4i..4i+3 of column 4L+q */
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int q = 0; q < 4; q++) {
        __m512i a01 = _mm512_shuffle_i32x4(r[q], r[4 + q], 0x44), a23 = _mm512_shuffle_i32x4(r[q], r[4 + q], 0xee);
        __m512i b01 = _mm512_shuffle_i32x4(r[8 + q], r[12 + q], 0x44);
        __m512i b23 = _mm512_shuffle_i32x4(r[8 + q], r[12 + q], 0xee);
        t[q] = _mm512_shuffle_i32x4(a01, b01, 0x88);
        t[4 + q] = _mm512_shuffle_i32x4(a01, b01, 0xdd);
        t[8 + q] = _mm512_shuffle_i32x4(a23, b23, 0x88);
        t[12 + q] = _mm512_shuffle_i32x4(a23, b23, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* es 1: words of 4 uint8 codes + 128; es 2: words of 2 int16 codes. */
INL TBW void gather(const void *xq, int ld, int C, int Hp, int k, int s, int OW, int p0, int n, int cols,
                    void *xp, int32_t *sumq, void *rb, const int es) {
    int kp = es == 1 ? (cols + 3) & ~3 : (cols + 1) & ~1, nw = kp * es / 4;
    for (int j0 = 0; j0 < n; j0 += 16) {
        int nr = n - j0 < 16 ? n - j0 : 16;
        mn__i8_conv_rows(xq, ld, C, Hp, k, s, OW, p0 + j0, nr, es, cols, kp, es == 1 ? 128 : 0, rb);
        __m512i *o = (__m512i *)((char *)xp + (int64_t)j0 * kp * es);
        __m512i sum = _mm512_setzero_si512();
        for (int w0 = 0; w0 < nw; w0 += 16) {
            int m = nw - w0 < 16 ? nw - w0 : 16;
            __mmask16 mk = (__mmask16)((1u << m) - 1);
            __m512i r[16];
            for (int j = 0; j < 16; j++)
                r[j] = _mm512_maskz_loadu_epi32(mk, (const int32_t *)rb + (int64_t)j * nw + w0);
            tr16(r);
            for (int i = 0; i < m; i++) {
                _mm512_store_si512(o + w0 + i, r[i]);
                if (es == 2) sum = _mm512_add_epi32(sum, _mm512_madd_epi16(r[i], _mm512_set1_epi16(1)));
                else sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_maddubs_epi16(r[i], _mm512_set1_epi8(1)),
                                                                   _mm512_set1_epi16(1)));
            }
        }
        /* VNNI bytes are code + 128, padding included */
        if (es == 1) sum = _mm512_sub_epi32(sum, _mm512_set1_epi32(128 * kp));
        if (sumq) _mm512_storeu_si512(sumq + j0, sum);
    }
}

TBW void mn__i8_im2panel_avx512bw(const void *xq, int ld, int C, int Hp, int k, int s, int OW, int p0, int n,
                                  int cols, void *xp, int32_t *sumq, void *rb) {
    gather(xq, ld, C, Hp, k, s, OW, p0, n, cols, xp, sumq, rb, 2);
}

TBW void mn__i8_im2panel_vnni(const void *xq, int ld, int C, int Hp, int k, int s, int OW, int p0, int n,
                                int cols, void *xp, int32_t *sumq, void *rb) {
    gather(xq, ld, C, Hp, k, s, OW, p0, n, cols, xp, sumq, rb, 1);
}

/* Stride 1, VNNI: no rows, no transpose.  The 16 pixels of a panel lie in
 * one or a few output rows ("pieces"), and for a fixed column c = (ch, i,
 * jj) each piece's codes are consecutive in the image, so one masked byte
 * load per piece gives column c for all 16 pixels; four columns are then
 * interleaved into the panel's 4-byte groups with unpacks, and vpdpbusd
 * against ones sums each pixel's codes.  dt: cols ints of scratch. */
#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Column at image offset d of the 16 pixels (code 0 where no piece). */
INL TBW __m128i colv(const uint8_t *const *pb, const __mmask64 *pm, const int npc, int d) {
    __m512i t = _mm512_set1_epi8((char)128);
    for (int q = 0; q < npc; q++) t = _mm512_mask_loadu_epi8(t, pm[q], pb[q] + d);
    return _mm512_castsi512_si128(t);
}

/* With VBMI, when a full panel's 16 pixels lie within a few bytes of each
 * other (offsets pix[l] from the first) and a group's four columns too
 * (offsets dl[q] packed in a word), one 64-byte load at the group's first
 * column and one vpermb give the whole panel group: byte 4l + e of the
 * index is pix[l] + delta[e].  Groups too spread out take colv. */
#define TVBMI __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi")))

INL TVBMI void s1_panel_vbmi(const uint8_t *base, const uint8_t *const *pb, const __mmask64 *pm, int npc,
                             __m512i pix, int span, const int32_t *dt, const uint32_t *dl, int cols, int kp,
                             __m512i *o, int32_t *sumq) {
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i sum = _mm512_setzero_si512();
    for (int c = 0; c < kp; c += 4, o++) {
        __m512i z;
        uint32_t w = dl[c / 4];
        if (c + 4 <= cols && (int)(w >> 24) + span < 64) {
            __m512i idx = _mm512_add_epi8(pix, _mm512_set1_epi32((int)w));
            z = _mm512_permutexvar_epi8(idx, _mm512_loadu_si512((const void *)(base + dt[c])));
        } else {
            __m128i z0 = _mm_set1_epi8((char)128);
            __m128i v0 = colv(pb, pm, npc, dt[c]);
            __m128i v1 = c + 1 < cols ? colv(pb, pm, npc, dt[c + 1]) : z0;
            __m128i v2 = c + 2 < cols ? colv(pb, pm, npc, dt[c + 2]) : z0;
            __m128i v3 = c + 3 < cols ? colv(pb, pm, npc, dt[c + 3]) : z0;
            __m128i a = _mm_unpacklo_epi8(v0, v1), b = _mm_unpackhi_epi8(v0, v1);
            __m128i cc = _mm_unpacklo_epi8(v2, v3), d = _mm_unpackhi_epi8(v2, v3);
            z = _mm512_castsi128_si512(_mm_unpacklo_epi16(a, cc));
            z = _mm512_inserti32x4(z, _mm_unpackhi_epi16(a, cc), 1);
            z = _mm512_inserti32x4(z, _mm_unpacklo_epi16(b, d), 2);
            z = _mm512_inserti32x4(z, _mm_unpackhi_epi16(b, d), 3);
        }
        _mm512_store_si512(o, z);
        sum = _mm512_dpbusd_epi32(sum, z, ones);
    }
    if (sumq) _mm512_storeu_si512(sumq, _mm512_sub_epi32(sum, _mm512_set1_epi32(128 * kp)));
}

TVBMI static void s1_vbmi(const void *xq, int ld, int OW, int p0, int n, int cols, void *xp, int32_t *sumq,
                          const int32_t *dt, const uint32_t *dl) {
    int kp = (cols + 3) & ~3;
    for (int j0 = 0; j0 < n; j0 += 16) {
        int nr = n - j0 < 16 ? n - j0 : 16, npc = 0, p = p0 + j0, oy = p / OW, ox = p % OW;
        const uint8_t *pb[16], *base = (const uint8_t *)xq + (int64_t)oy * ld + ox;
        __mmask64 pm[16];
        uint8_t pix[64];
        int span = 0; /* the last (largest) pixel offset, capped at 64 */
        for (int l = 0; l < nr; npc++, ox = 0, oy++) {
            int len = OW - ox < nr - l ? OW - ox : nr - l;
            pb[npc] = (const uint8_t *)xq + (int64_t)oy * ld + ox - l;
            pm[npc] = (((__mmask64)1 << len) - 1) << l;
            for (int e = l; e < l + len; e++) {
                int64_t off = pb[npc] + e - base;
                span = off < 64 ? (int)off : 64;
                for (int b = 0; b < 4; b++) pix[4 * e + b] = (uint8_t)(off < 64 ? off : 0);
            }
            l += len;
        }
        if (nr < 16) span = 64; /* padded pixels must read code 0: colv */
        s1_panel_vbmi(base, pb, pm, npc, _mm512_loadu_si512((const void *)pix), span, dt, dl, cols, kp,
                      (__m512i *)((char *)xp + (int64_t)j0 * kp), sumq ? sumq + j0 : NULL);
    }
}

/* One panel of 16 pixels; NPC pieces when > 0, else npc. */
INL TVNNI void s1_panel(const uint8_t *const *pb, const __mmask64 *pm, int npc, const int NPC, const int32_t *dt,
                        int cols, int kp, __m512i *o, int32_t *sumq) {
    const int np = NPC ? NPC : npc;
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i sum = _mm512_setzero_si512();
    for (int c = 0; c < kp; c += 4, o++) {
        __m128i v0, v1, v2, v3, z0 = _mm_set1_epi8((char)128);
        if (c + 4 <= cols) {
            v0 = colv(pb, pm, np, dt[c]);
            v1 = colv(pb, pm, np, dt[c + 1]);
            v2 = colv(pb, pm, np, dt[c + 2]);
            v3 = colv(pb, pm, np, dt[c + 3]);
        } else {
            v0 = colv(pb, pm, np, dt[c]);
            v1 = c + 1 < cols ? colv(pb, pm, np, dt[c + 1]) : z0;
            v2 = c + 2 < cols ? colv(pb, pm, np, dt[c + 2]) : z0;
            v3 = z0;
        }
        __m128i a = _mm_unpacklo_epi8(v0, v1), b = _mm_unpackhi_epi8(v0, v1);
        __m128i cc = _mm_unpacklo_epi8(v2, v3), d = _mm_unpackhi_epi8(v2, v3);
        __m512i z = _mm512_castsi128_si512(_mm_unpacklo_epi16(a, cc));
        z = _mm512_inserti32x4(z, _mm_unpackhi_epi16(a, cc), 1);
        z = _mm512_inserti32x4(z, _mm_unpacklo_epi16(b, d), 2);
        z = _mm512_inserti32x4(z, _mm_unpackhi_epi16(b, d), 3);
        _mm512_store_si512(o, z);
        sum = _mm512_dpbusd_epi32(sum, z, ones);
    }
    if (sumq) _mm512_storeu_si512(sumq, _mm512_sub_epi32(sum, _mm512_set1_epi32(128 * kp)));
}

TVNNI void mn__i8_im2panel_s1_vnni(const void *xq, int ld, int Hp, int k, int OW, int p0, int n, int cols,
                                   void *xp, int32_t *sumq, int32_t *dt, int vbmi) {
    int kp = (cols + 3) & ~3;
    for (int c = 0, ch = 0, i = 0, jj = 0; c < cols; c++) {
        dt[c] = (ch * Hp + i) * ld + jj;
        if (++jj == k) { jj = 0; if (++i == k) { i = 0; ch++; } }
    }
    if (vbmi) {
        /* the column offsets of each full group, from its first (they grow) */
        uint32_t *dl = (uint32_t *)(dt + cols);
        for (int c = 0; c < kp; c += 4) {
            int last = dt[c + 3 < cols ? c + 3 : cols - 1] - dt[c];
            uint32_t w = 0xffffffffu;
            if (c + 4 <= cols && last < 64)
                w = (uint32_t)(dt[c + 1] - dt[c]) << 8 | (uint32_t)(dt[c + 2] - dt[c]) << 16 | (uint32_t)last << 24;
            dl[c / 4] = w;
        }
        s1_vbmi(xq, ld, OW, p0, n, cols, xp, sumq, dt, dl);
        return;
    }
    for (int j0 = 0; j0 < n; j0 += 16) {
        int nr = n - j0 < 16 ? n - j0 : 16, npc = 0, p = p0 + j0, oy = p / OW, ox = p % OW;
        const uint8_t *pb[16];
        __mmask64 pm[16];
        for (int l = 0; l < nr; npc++, ox = 0, oy++) {
            int len = OW - ox < nr - l ? OW - ox : nr - l;
            pb[npc] = (const uint8_t *)xq + (int64_t)oy * ld + ox - l;
            pm[npc] = (((__mmask64)1 << len) - 1) << l;
            l += len;
        }
        __m512i *o = (__m512i *)((char *)xp + (int64_t)j0 * kp);
        int32_t *sq = sumq ? sumq + j0 : NULL;
        if (npc == 1) s1_panel(pb, pm, npc, 1, dt, cols, kp, o, sq);
        else if (npc == 2) s1_panel(pb, pm, npc, 2, dt, cols, kp, o, sq);
        else s1_panel(pb, pm, npc, 0, dt, cols, kp, o, sq);
    }
}
