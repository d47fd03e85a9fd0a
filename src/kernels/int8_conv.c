/* Conv on the int8 kernels without the f32 im2col matrix: the layer input
 * is quantized once into a padded image of codes (the border is the code of
 * 0.0, which is what quantizing im2col's zero padding gives), the panels of
 * mn_i8_gemm_wx are gathered from it, and the int32 sums become f32 in an
 * int32 epilogue.  Reference versions, the portable fast versions and the
 * run-time dispatch; the AVX-512 ones are in int8_conv_avx512.c.
 *
 * The fast gather builds 16 im2col rows at a time (each a run of k codes
 * per (channel, kernel row), copied with one wide move) in the row layout,
 * then transposes them as 32-bit words: a word is one pixel's g codes (4
 * uint8 or 2 int16), exactly the unit of the panel layout (int8.c). */
#include <stdlib.h>
#include <string.h>

#include "kernels/int8.h"
#include "kernels/int8_impl.h"
#include "core/cpu.h"

/* The stored element of code 0 (VNNI keeps q + 128). */
static int code0(mn_i8_isa isa) { return isa == MN_I8_VNNI ? 128 : 0; }

/* The right border also takes the up to g-1 codes quant_rows writes past W. */
int mn_i8_image_ld(mn_i8_isa isa, int W, int pad) {
    int a = W + 2 * pad, b = pad + mn_i8_ldx(isa, W);
    return a > b ? a : b;
}

size_t mn_i8_image_bytes(mn_i8_isa isa, int C, int H, int W, int pad) {
    if (C <= 0 || H <= 0 || W <= 0 || pad < 0 || (int64_t)W + 2 * (int64_t)pad + 4 > INT32_MAX) return 0;
    uint64_t n = (uint64_t)C * ((uint64_t)H + 2 * (uint64_t)pad);
    uint64_t row = (uint64_t)mn_i8_image_ld(isa, W, pad) * mn__i8_esize(isa);
    if (n > (UINT64_MAX >> 2) / row || n * row > SIZE_MAX - 64) return 0;
    return (size_t)(n * row) + 64; /* slack: the gathers read 16 bytes at a time */
}

static void fill(mn_i8_isa isa, void *p, int64_t from, int64_t to, int32_t v) {
    for (int64_t i = from; i < to; i++) mn__i8_put_x(isa, p, i, v);
}

static void quant_image(mn_i8_isa isa, const float *x, int C, int H, int W, int pad, const mn_qact *a, void *xq,
                        int ref) {
    int ld = mn_i8_image_ld(isa, W, pad), Hp = H + 2 * pad;
    if (!ref) switch (isa) {
        case MN_I8_AVX2: mn__i8_quant_image_avx2(x, C, H, W, pad, ld, a, xq); return;
        case MN_I8_AVX512BW: mn__i8_quant_image_avx512bw(x, C, H, W, pad, ld, a, xq); return;
        case MN_I8_VNNI: mn__i8_quant_image_vnni(x, C, H, W, pad, ld, a, xq); return;
        default: break;
        }
    /* The reference: the border, then each row by the reference quantizer. */
    for (int c = 0; c < C; c++)
        for (int y = 0; y < Hp; y++) {
            int64_t at = ((int64_t)c * Hp + y) * ld;
            if (y < pad || y >= pad + H) { fill(isa, xq, at, at + ld, a->zero); continue; }
            fill(isa, xq, at, at + pad, a->zero);
            const float *xr = x + ((int64_t)c * H + y - pad) * W;
            mn_i8_quant_rows_ref(isa, xr, 1, W, a, (char *)xq + (at + pad) * mn__i8_esize(isa), NULL);
            fill(isa, xq, at + pad + W, at + ld, a->zero);
        }
}

void mn_i8_quant_image(mn_i8_isa isa, const float *x, int C, int H, int W, int pad, const mn_qact *a, void *xq) {
    quant_image(isa, x, C, H, W, pad, a, xq, 0);
}

void mn_i8_quant_image_ref(mn_i8_isa isa, const float *x, int C, int H, int W, int pad, const mn_qact *a,
                           void *xq) {
    quant_image(isa, x, C, H, W, pad, a, xq, 1);
}

size_t mn_i8_im2panel_rbytes(mn_i8_isa isa, int cols) {
    return (size_t)16 * mn_i8_ldx(isa, cols) * mn__i8_esize(isa) + 64;
}

/* Element (j, c) of the panel layout (as in int8.c). */
void mn_i8_im2panel_ref(mn_i8_isa isa, const void *xq, int C, int H, int W, int k, int s, int pad, int OW,
                        int p0, int n, void *xp, int32_t *sumq) {
    int cols = C * k * k, kp = mn_i8_ldx(isa, cols), ld = mn_i8_image_ld(isa, W, pad), Hp = H + 2 * pad;
    int np = isa == MN_I8_REF ? n : mn__i8_rup(n, 16);
    if (sumq) memset(sumq, 0, sizeof(int32_t) * mn_i8_ldacc(n));
    for (int j = 0; j < np; j++) {
        int p = p0 + j, oy = p / OW, ox = p % OW;
        for (int c = 0; c < kp; c++) {
            int32_t v = 0;
            if (j < n && c < cols) {
                int ch = c / (k * k), i = c / k % k, jj = c % k;
                v = mn__i8_get_x(isa, xq, ((int64_t)ch * Hp + (int64_t)oy * s + i) * ld + (int64_t)ox * s + jj);
            }
            if (sumq) sumq[j] += v;
            mn__i8_put_x(isa, xp, mn__i8_at_panel(isa, cols, j, c), v);
        }
    }
}

/* Rows nr..15 are code 0; the runs are copied with 8- or 16-byte moves
 * whose tails the next run (or the padding, or the next row) overwrites, so
 * rb needs 16 bytes of slack and xq the 64 its size includes. */
void mn__i8_conv_rows(const void *xq, int ld, int C, int Hp, int k, int s, int OW, int p, int nr, int es,
                      int cols, int kp, int code0v, void *rb) {
    int run = k * es, oy = p / OW, ox = p % OW;
    int64_t rs = (int64_t)kp * es;
    for (int j = 0; j < 16; j++) {
        unsigned char *o = (unsigned char *)rb + j * rs;
        if (j >= nr) { memset(o, code0v, (size_t)rs); continue; }
        const unsigned char *base = (const unsigned char *)xq + ((int64_t)oy * s * ld + (int64_t)ox * s) * es;
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < k; i++, o += run) {
                const unsigned char *src = base + ((int64_t)ch * Hp + i) * ld * es;
                if (run <= 8) memcpy(o, src, 8);
                else for (int b = 0; b < run; b += 16) memcpy(o + b, src + b, 16);
            }
        memset(o, code0v, (size_t)(kp - cols) * es);
        if (++ox == OW) { ox = 0; oy++; }
    }
}

/* The portable gathers.  REF panels are plain rows of cols codes: the
 * runs are copied straight into them.  The others: 16 rows, then a scalar
 * word transpose (compiled for AVX2, the ISA that takes this path). */
static void im2panel_plain(const int8_t *xq, int C, int H, int W, int k, int s, int pad, int OW, int p0, int n,
                           int8_t *xp, int32_t *sumq) {
    int cols = C * k * k, ld = mn_i8_image_ld(MN_I8_REF, W, pad), Hp = H + 2 * pad;
    int oy = p0 / OW, ox = p0 % OW;
    if (sumq) memset(sumq, 0, sizeof(int32_t) * mn_i8_ldacc(n));
    for (int j = 0; j < n; j++) {
        int8_t *o = xp + (int64_t)j * cols;
        const int8_t *base = xq + (int64_t)oy * s * ld + (int64_t)ox * s;
        int32_t sq = 0;
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < k; i++, o += k) {
                const int8_t *src = base + ((int64_t)ch * Hp + i) * ld;
                for (int jj = 0; jj < k; jj++) { o[jj] = src[jj]; sq += src[jj]; }
            }
        if (sumq) sumq[j] = sq;
        if (++ox == OW) { ox = 0; oy++; }
    }
}

__attribute__((target("avx2"))) static void im2panel_words(mn_i8_isa isa, const void *xq, int C, int H, int W,
                                                           int k, int s, int pad, int OW, int p0, int n, void *xp,
                                                           int32_t *sumq, void *rb) {
    int cols = C * k * k, kp = mn_i8_ldx(isa, cols), es = mn__i8_esize(isa), nw = kp * es / 4;
    int ld = mn_i8_image_ld(isa, W, pad), Hp = H + 2 * pad;
    for (int j0 = 0; j0 < n; j0 += 16) {
        int nr = n - j0 < 16 ? n - j0 : 16;
        mn__i8_conv_rows(xq, ld, C, Hp, k, s, OW, p0 + j0, nr, es, cols, kp, code0(isa), rb);
        uint32_t *o = (uint32_t *)((unsigned char *)xp + (int64_t)j0 * kp * es);
        for (int j = 0; j < 16; j++) {
            const uint32_t *r = (const uint32_t *)rb + (int64_t)j * nw;
            for (int w = 0; w < nw; w++) o[(int64_t)w * 16 + j] = r[w];
            int32_t sq = 0;
            if (es == 2) for (int c = 0; c < kp; c++) sq += ((const int16_t *)r)[c];
            else { for (int c = 0; c < kp; c++) sq += ((const uint8_t *)r)[c]; sq -= 128 * kp; }
            if (sumq) sumq[j0 + j] = sq;
        }
    }
}

/* VBMI (vpermb) where the CPU has it; MINNOW_I8_VBMI=0 turns it off (tests). */
static int vbmi_ok(void) {
    const char *e = getenv("MINNOW_I8_VBMI");
    return mn_cpu_features()->avx512vbmi && !(e && e[0] == '0');
}

void mn_i8_im2panel(mn_i8_isa isa, const void *xq, int C, int H, int W, int k, int s, int pad, int OW, int p0,
                    int n, void *xp, int32_t *sumq, void *rb) {
    int cols = C * k * k, ld = mn_i8_image_ld(isa, W, pad), Hp = H + 2 * pad;
    if (n <= 0) return;
    switch (isa) {
    case MN_I8_AVX512BW: mn__i8_im2panel_avx512bw(xq, ld, C, Hp, k, s, OW, p0, n, cols, xp, sumq, rb); break;
    case MN_I8_VNNI:
        if (s == 1) mn__i8_im2panel_s1_vnni(xq, ld, Hp, k, OW, p0, n, cols, xp, sumq, rb, vbmi_ok());
        else mn__i8_im2panel_vnni(xq, ld, C, Hp, k, s, OW, p0, n, cols, xp, sumq, rb);
        break;
    case MN_I8_AVX2: im2panel_words(isa, xq, C, H, W, k, s, pad, OW, p0, n, xp, sumq, rb); break;
    default: im2panel_plain(xq, C, H, W, k, s, pad, OW, p0, n, xp, sumq); break;
    }
}

/* ---- epilogue ---- */

void mn_i8_wx_out_ref(const int32_t *acc, int ldacc, int rows, int n, const int32_t *c0, const int32_t *zw,
                      const float *mul, const int32_t *sumq, const float *bias, float *y, int64_t ldy) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            int64_t v = (int64_t)acc[(int64_t)r * ldacc + j] + c0[r] - (int64_t)zw[r] * sumq[j];
            float f = (float)v * mul[r];
            y[r * ldy + j] = bias ? f + bias[r] : f;
        }
}

/* Unsigned (wrapping) int32: exact whenever the true sum fits int32, and
 * vectorised by the compiler in each target clone below. */
static inline __attribute__((always_inline)) void out_body(const int32_t *acc, int ldacc, int rows, int n,
                                                           const int32_t *c0, const int32_t *zw, const float *mul,
                                                           const int32_t *sumq, const float *bias, float *y,
                                                           int64_t ldy) {
    for (int r = 0; r < rows; r++) {
        const int32_t *a = acc + (int64_t)r * ldacc;
        float *o = y + r * ldy, m = mul[r];
        uint32_t c = (uint32_t)c0[r], z = (uint32_t)zw[r];
        if (bias) {
            float b = bias[r];
            for (int j = 0; j < n; j++) o[j] = (float)(int32_t)((uint32_t)a[j] + c - z * (uint32_t)sumq[j]) * m + b;
        } else {
            for (int j = 0; j < n; j++) o[j] = (float)(int32_t)((uint32_t)a[j] + c - z * (uint32_t)sumq[j]) * m;
        }
    }
}

__attribute__((target("avx512f"))) static void out_avx512(const int32_t *acc, int ldacc, int rows, int n,
                                                          const int32_t *c0, const int32_t *zw, const float *mul,
                                                          const int32_t *sumq, const float *bias, float *y,
                                                          int64_t ldy) {
    out_body(acc, ldacc, rows, n, c0, zw, mul, sumq, bias, y, ldy);
}

__attribute__((target("avx2"))) static void out_avx2(const int32_t *acc, int ldacc, int rows, int n,
                                                     const int32_t *c0, const int32_t *zw, const float *mul,
                                                     const int32_t *sumq, const float *bias, float *y, int64_t ldy) {
    out_body(acc, ldacc, rows, n, c0, zw, mul, sumq, bias, y, ldy);
}

void mn_i8_wx_out(mn_i8_isa isa, const int32_t *acc, int ldacc, int rows, int n, const int32_t *c0,
                  const int32_t *zw, const float *mul, const int32_t *sumq, const float *bias, float *y,
                  int64_t ldy) {
    switch (isa) {
    case MN_I8_AVX512BW: case MN_I8_VNNI: out_avx512(acc, ldacc, rows, n, c0, zw, mul, sumq, bias, y, ldy); break;
    case MN_I8_AVX2: out_avx2(acc, ldacc, rows, n, c0, zw, mul, sumq, bias, y, ldy); break;
    default: mn_i8_wx_out_ref(acc, ldacc, rows, n, c0, zw, mul, sumq, bias, y, ldy); break;
    }
}
