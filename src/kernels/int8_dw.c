/* Depthwise conv on int8 codes (kernels/int8.h, mn_i8_dw): the padded code
 * image of mn_i8_quant_image, int32 sums of (x - za) * (w - zw) over the
 * k x k window, one float epilogue.  The reference walks every tap of
 * every pixel; the AVX-512 version takes 16 output pixels of a row per
 * vector (VNNI's uint8 and AVX-512BW's int16 layouts), the AVX2 one 8
 * (its int16 layout).  A depthwise layer does k*k multiply-adds per output
 * (9 on 3x3), so there is no GEMM to feed: the vector runs along the row. */
#include <immintrin.h>

#include "core/cpu.h"
#include "kernels/avx512.h"
#include "kernels/int8.h"
#include "kernels/int8_impl.h"

/* Output columns [ox0, OW) of one output channel: plane is the input
 * channel's padded codes. */
static void plane_ref(mn_i8_isa isa, const void *xq, int64_t plane, int ld, int k, int s, int OH, int OW, int ox0,
                      const int16_t *wz, int32_t za, float mul, float b, int has_b, float *y) {
    for (int oy = 0; oy < OH; oy++)
        for (int ox = ox0; ox < OW; ox++) {
            int32_t acc = 0;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    int64_t at = plane + (int64_t)(oy * s + i) * ld + (int64_t)ox * s + j;
                    acc += (mn__i8_get_x(isa, xq, at) - za) * wz[i * k + j];
                }
            float v = (float)acc * mul;
            y[(int64_t)oy * OW + ox] = has_b ? v + b : v;
        }
}

void mn_i8_dw_ref(mn_i8_isa isa, const void *xq, int C, int H, int W, int pad, int k, int s, int OH, int OW,
                  int mult, const int16_t *wz, int32_t za, const float *mul, const float *bias, float *y) {
    int ld = mn_i8_image_ld(isa, W, pad), Hp = H + 2 * pad;
    for (int f = 0; f < C * mult; f++)
        plane_ref(isa, xq, (int64_t)(f / mult) * Hp * ld, ld, k, s, OH, OW, 0, wz + (int64_t)f * k * k, za, mul[f],
                  bias ? bias[f] : 0.0f, bias != NULL, y + (int64_t)f * OH * OW);
}

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define T256 __attribute__((target("avx2")))

/* 16 consecutive output pixels' inputs at one tap, as int32 codes + the
 * layout's offset (u8: q + 128; int16: q); lanes off m read nothing.
 * Stride 2 loads 2n - 1 elements and keeps the even ones: the low half of
 * each 32-bit pair (zero-extended bytes, sign-extended words). */
static inline T512 __m512i ld16(const void *p, int u8, int s2, int n) {
    if (!s2) {
        __mmask16 m = mn__lanes16(n);
        if (u8) return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p));
        return _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, p));
    }
    __mmask32 m = (__mmask32)((1u << (2 * n - 1)) - 1);
    if (u8) return _mm512_and_si512(_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, p)), _mm512_set1_epi32(0xffff));
    return _mm512_srai_epi32(_mm512_slli_epi32(_mm512_maskz_loadu_epi16(m, p), 16), 16);
}

static T512 void plane512(const void *xq, int es, int64_t plane, int ld, int k, int s, int OH, int OW,
                          const int16_t *wz, int32_t zc, float mul, float b, int has_b, float *y) {
    const unsigned char *base = (const unsigned char *)xq + plane * es;
    __m512i z = _mm512_set1_epi32(zc);
    __m512 mv = _mm512_set1_ps(mul), bv = _mm512_set1_ps(b);
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox += 16) {
            int n = OW - ox < 16 ? OW - ox : 16;
            __m512i acc = _mm512_setzero_si512();
            for (int i = 0; i < k; i++) {
                const unsigned char *row = base + ((int64_t)(oy * s + i) * ld + (int64_t)ox * s) * es;
                for (int j = 0; j < k; j++) {
                    __m512i v = _mm512_sub_epi32(ld16(row + j * es, es == 1, s == 2, n), z);
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(v, _mm512_set1_epi32(wz[i * k + j])));
                }
            }
            __m512 o = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mv);
            if (has_b) o = _mm512_add_ps(o, bv);
            _mm512_mask_storeu_ps(y + (int64_t)oy * OW + ox, mn__lanes16(n), o);
        }
}

/* AVX2 (int16 layout): 8 pixels per vector where 8 are left, each row's
 * last ones on the reference loop (no masked 16-bit loads in AVX2). */
static T256 void plane256(const int16_t *xq, int64_t plane, int ld, int k, int s, int OH, int OW,
                          const int16_t *wz, int32_t za, float mul, float b, int has_b, float *y) {
    __m256i z = _mm256_set1_epi32(za);
    __m256 mv = _mm256_set1_ps(mul), bv = _mm256_set1_ps(b);
    int full = OW / 8 * 8;
    for (int oy = 0; oy < OH; oy++) {
        for (int ox = 0; ox < full; ox += 8) {
            __m256i acc = _mm256_setzero_si256();
            for (int i = 0; i < k; i++) {
                const int16_t *row = xq + plane + (int64_t)(oy * s + i) * ld + (int64_t)ox * s;
                for (int j = 0; j < k; j++) {
                    __m256i v;
                    if (s == 1) v = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(row + j)));
                    else v = _mm256_srai_epi32(_mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(row + j)), 16), 16);
                    v = _mm256_sub_epi32(v, z);
                    acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, _mm256_set1_epi32(wz[i * k + j])));
                }
            }
            __m256 o = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mv);
            if (has_b) o = _mm256_add_ps(o, bv);
            _mm256_storeu_ps(y + (int64_t)oy * OW + ox, o);
        }
    }
    plane_ref(MN_I8_AVX2, xq, plane, ld, k, s, OH, OW, full, wz, za, mul, b, has_b, y);
}

void mn_i8_dw(mn_i8_isa isa, const void *xq, int C, int H, int W, int pad, int k, int s, int OH, int OW, int mult,
              const int16_t *wz, int32_t za, const float *mul, const float *bias, float *y) {
    const mn_cpu *cpu = mn_cpu_features();
    int wide = (isa == MN_I8_VNNI || isa == MN_I8_AVX512BW) && cpu->avx512bw && cpu->avx512vl;
    int narrow = isa == MN_I8_AVX2 && cpu->avx2;
    if ((!wide && !narrow) || (s != 1 && s != 2)) {
        mn_i8_dw_ref(isa, xq, C, H, W, pad, k, s, OH, OW, mult, wz, za, mul, bias, y);
        return;
    }
    int ld = mn_i8_image_ld(isa, W, pad), Hp = H + 2 * pad, es = mn__i8_esize(isa), F = C * mult;
    /* VNNI stores q + 128: the offset is taken off with the zero point. */
    int32_t zc = isa == MN_I8_VNNI ? za + 128 : za;
    #pragma omp parallel for schedule(static)
    for (int f = 0; f < F; f++) {
        int64_t plane = (int64_t)(f / mult) * Hp * ld;
        const int16_t *w = wz + (int64_t)f * k * k;
        float b = bias ? bias[f] : 0.0f, *yf = y + (int64_t)f * OH * OW;
        if (wide) plane512(xq, es, plane, ld, k, s, OH, OW, w, zc, mul[f], b, bias != NULL, yf);
        else plane256((const int16_t *)xq, plane, ld, k, s, OH, OW, w, za, mul[f], b, bias != NULL, yf);
    }
}
