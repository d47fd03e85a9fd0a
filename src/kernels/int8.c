/* int8 x int8 -> int32 GEMMs: the reference kernels, the per-ISA layouts,
 * activation quantization, and run-time dispatch to the SIMD versions in
 * int8_avx2.c / int8_avx512.c / int8_vnni.c.
 *
 * Two operand roles.  A "panel" operand is packed in panels of 16 rows,
 * interleaved by the ISA's k group g; a "row" operand is plain rows with
 * cols padded to a multiple of g, read g elements at a time and broadcast.
 *   dense (xw): weights are panels (packed once), activations rows;
 *   conv  (wx): activations are panels (straight from the im2col rows,
 *               no transpose), weights rows.
 * Elements: REF int8 (g 1; panels are plain [n][cols] rows), AVX2 and
 * AVX512BW int16 (g 2, vpmaddwd: exact, unlike the saturating vpmaddubsw),
 * VNNI activations uint8 q + 128 and weights int8 (g 4, vpdpbusd takes
 * unsigned x signed bytes: sum (q+128) w = sum q w + 128 rowsum(w), so the
 * packed weights carry their row sums and the kernels subtract them).
 * Padding is code 0 in activations and weight 0, so it adds nothing. */
#include <stdlib.h>
#include <string.h>

#include "kernels/int8.h"
#include "kernels/int8_impl.h"
#include "core/cpu.h"


int mn_i8_isa_ok(mn_i8_isa isa) {
    const mn_cpu *c = mn_cpu_features();
    switch (isa) {
    case MN_I8_REF: return 1;
    case MN_I8_AVX2: return c->avx2;
    /* VL: the image quantizers store 128/256-bit halves with masks. */
    case MN_I8_AVX512BW: return c->avx512f && c->avx512bw && c->avx512vl;
    case MN_I8_VNNI: return c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni;
    default: return 0;
    }
}

mn_i8_isa mn_i8_best_isa(void) {
    /* MINNOW_I8_ISA=ref|avx2|avx512bw|avx512vnni caps the choice (tests and
     * benchmarks of each path); it never picks what the CPU lacks. */
    const char *cap = getenv("MINNOW_I8_ISA");
    int top = MN_I8__COUNT - 1;
    for (int i = 0; cap && i < MN_I8__COUNT; i++)
        if (strcmp(cap, mn_i8_isa_name((mn_i8_isa)i)) == 0) top = i;
    for (int i = top; i > 0; i--)
        if (mn_i8_isa_ok((mn_i8_isa)i)) return (mn_i8_isa)i;
    return MN_I8_REF;
}

const char *mn_i8_isa_name(mn_i8_isa isa) {
    static const char *n[MN_I8__COUNT] = {"ref", "avx2", "avx512bw", "avx512vnni"};
    return isa >= 0 && isa < MN_I8__COUNT ? n[isa] : "unknown";
}


int mn_i8_ldx(mn_i8_isa isa, int cols) { return mn__i8_rup(cols, mn__i8_kgroup(isa)); }
int mn_i8_ldacc(int rows) { return mn__i8_rup(rows, 16); }

size_t mn_i8_xbytes(mn_i8_isa isa, int nrows, int cols) {
    return (size_t)nrows * mn_i8_ldx(isa, cols) * mn__i8_esize(isa);
}

size_t mn_i8_pbytes(mn_i8_isa isa, int n, int cols) {
    return (size_t)(isa == MN_I8_REF ? n : mn__i8_rup(n, 16)) * mn_i8_ldx(isa, cols) * mn__i8_esize(isa);
}

/* Packed weights start with the row sums (VNNI only; 64-byte multiple). */
static size_t sums_bytes(mn_i8_isa isa, int rows) { return isa == MN_I8_VNNI ? (size_t)mn__i8_rup(rows, 16) * 4 : 0; }

size_t mn_i8_wbytes(mn_i8_isa isa, int rows, int cols) {
    if (isa == MN_I8_REF) return (size_t)rows * cols;
    return sums_bytes(isa, rows) + mn_i8_pbytes(isa, rows, cols);
}

size_t mn_i8_wrbytes(mn_i8_isa isa, int rows, int cols) {
    return sums_bytes(isa, rows) + mn_i8_xbytes(isa, rows, cols);
}

/* Element (i, c) of the row layout and (j, c) of the panel layout. */
static int64_t at_row(mn_i8_isa isa, int cols, int i, int c) { return (int64_t)i * mn_i8_ldx(isa, cols) + c; }
/* Weight code (int8 for VNNI). */
static inline void put_w(mn_i8_isa isa, void *p, int64_t at, int32_t v) {
    if (mn__i8_esize(isa) == 2) ((int16_t *)p)[at] = (int16_t)v;
    else ((int8_t *)p)[at] = (int8_t)v;
}

static void put_sums(mn_i8_isa isa, const int8_t *q, int rows, int cols, void *w) {
    if (isa != MN_I8_VNNI) return;
    int32_t *rs = w;
    for (int r = 0; r < mn__i8_rup(rows, 16); r++) {
        int32_t s = 0;
        for (int c = 0; r < rows && c < cols; c++) s += q[(int64_t)r * cols + c];
        rs[r] = s;
    }
}

void mn_i8_pack_w(mn_i8_isa isa, const int8_t *q, int rows, int cols, void *wp) {
    if (isa == MN_I8_REF) { memcpy(wp, q, (size_t)rows * cols); return; }
    put_sums(isa, q, rows, cols, wp);
    void *p = (char *)wp + sums_bytes(isa, rows);
    int rp = mn__i8_rup(rows, 16), kp = mn_i8_ldx(isa, cols);
    for (int r = 0; r < rp; r++)
        for (int c = 0; c < kp; c++)
            put_w(isa, p, mn__i8_at_panel(isa, cols, r, c), r < rows && c < cols ? q[(int64_t)r * cols + c] : 0);
}

void mn_i8_pack_wrows(mn_i8_isa isa, const int8_t *q, int rows, int cols, void *wr) {
    put_sums(isa, q, rows, cols, wr);
    void *p = (char *)wr + sums_bytes(isa, rows);
    int kp = mn_i8_ldx(isa, cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < kp; c++) put_w(isa, p, at_row(isa, cols, r, c), c < cols ? q[(int64_t)r * cols + c] : 0);
}

/* Round half to even without libm: adding 1.5 * 2^23 leaves the integer
 * part in the mantissa for |t| < 2^22 (t is clamped to [-256, 256]). */
static inline int32_t rne(float t) { return (int32_t)((t + 12582912.0f) - 12582912.0f); }

/* x * (1/scale), NaN -> 0, clamped to the code range, rounded to even: the
 * SIMD quantizers do exactly these float operations, so codes never
 * differ between ISAs. */
static inline int32_t q1(float x, float inv, float lo, float hi, int32_t zero) {
    float t = x * inv;
    if (t != t) t = 0.0f;
    t = t < lo ? lo : t;
    t = t > hi ? hi : t;
    return rne(t) + zero;
}

int32_t mn_i8_quant1(float x, const mn_qact *a) {
    return q1(x, 1.0f / a->scale, (float)(a->qmin - a->zero), (float)(a->qmax - a->zero), a->zero);
}

void mn_i8_quant_rows_ref(mn_i8_isa isa, const float *x, int nrows, int cols, const mn_qact *a, void *xr,
                          int32_t *sumq) {
    float inv = 1.0f / a->scale, lo = (float)(a->qmin - a->zero), hi = (float)(a->qmax - a->zero);
    int kp = mn_i8_ldx(isa, cols);
    for (int i = 0; i < nrows; i++) {
        int32_t s = 0;
        for (int c = 0; c < kp; c++) {
            int32_t v = c < cols ? q1(x[(int64_t)i * cols + c], inv, lo, hi, a->zero) : 0;
            s += v;
            mn__i8_put_x(isa, xr, at_row(isa, cols, i, c), v);
        }
        if (sumq) sumq[i] = s;
    }
}

void mn_i8_quant_panel_ref(mn_i8_isa isa, const float *B, int64_t ldb, int n, int cols, const mn_qact *a,
                           void *xp, int32_t *sumq) {
    float inv = 1.0f / a->scale, lo = (float)(a->qmin - a->zero), hi = (float)(a->qmax - a->zero);
    int np = isa == MN_I8_REF ? n : mn__i8_rup(n, 16), kp = mn_i8_ldx(isa, cols);
    if (sumq) memset(sumq, 0, sizeof(int32_t) * np);
    for (int c = 0; c < kp; c++)
        for (int j = 0; j < np; j++) {
            int32_t v = c < cols && j < n ? q1(B[c * ldb + j], inv, lo, hi, a->zero) : 0;
            if (sumq) sumq[j] += v;
            mn__i8_put_x(isa, xp, mn__i8_at_panel(isa, cols, j, c), v);
        }
}

void mn_i8_quant_rows(mn_i8_isa isa, const float *x, int nrows, int cols, const mn_qact *a, void *xr,
                      int32_t *sumq) {
    switch (isa) {
    case MN_I8_AVX2: mn__i8_quant_rows_avx2(x, nrows, cols, a, xr, sumq); break;
    case MN_I8_AVX512BW: mn__i8_quant_rows_avx512bw(x, nrows, cols, a, xr, sumq); break;
    case MN_I8_VNNI: mn__i8_quant_rows_vnni(x, nrows, cols, a, xr, sumq); break;
    default: mn_i8_quant_rows_ref(isa, x, nrows, cols, a, xr, sumq); break;
    }
}

void mn_i8_quant_panel(mn_i8_isa isa, const float *B, int64_t ldb, int n, int cols, const mn_qact *a, void *xp,
                       int32_t *sumq) {
    switch (isa) {
    case MN_I8_AVX2: mn__i8_quant_panel_avx2(B, ldb, n, cols, a, xp, sumq); break;
    case MN_I8_AVX512BW: mn__i8_quant_panel_avx512bw(B, ldb, n, cols, a, xp, sumq); break;
    case MN_I8_VNNI: mn__i8_quant_panel_vnni(B, ldb, n, cols, a, xp, sumq); break;
    default: mn_i8_quant_panel_ref(isa, B, ldb, n, cols, a, xp, sumq); break;
    }
}

void mn_i8_prep_rows(mn_i8_isa isa, const int8_t *q, int nrows, int cols, void *xr) {
    for (int i = 0; i < nrows; i++)
        for (int c = 0; c < mn_i8_ldx(isa, cols); c++)
            mn__i8_put_x(isa, xr, at_row(isa, cols, i, c), c < cols ? q[(int64_t)i * cols + c] : 0);
}

void mn_i8_prep_panel(mn_i8_isa isa, const int8_t *q, int n, int cols, void *xp) {
    int np = isa == MN_I8_REF ? n : mn__i8_rup(n, 16);
    for (int j = 0; j < np; j++)
        for (int c = 0; c < mn_i8_ldx(isa, cols); c++)
            mn__i8_put_x(isa, xp, mn__i8_at_panel(isa, cols, j, c), c < cols && j < n ? q[(int64_t)j * cols + c] : 0);
}

/* acc[i][j] = sum_c A[i][c] B[j][c] over plain int8 rows; pads to 16. */
static void dot_ref(const int8_t *A, int na, const int8_t *B, int nb, int cols, int32_t *acc, int ldacc) {
    for (int i = 0; i < na; i++) {
        const int8_t *a = A + (int64_t)i * cols;
        int32_t *o = acc + (int64_t)i * ldacc;
        for (int j = 0; j < nb; j++) {
            const int8_t *b = B + (int64_t)j * cols;
            int32_t s = 0;
            for (int c = 0; c < cols; c++) s += (int32_t)a[c] * b[c];
            o[j] = s;
        }
        for (int j = nb; j < mn__i8_rup(nb, 16); j++) o[j] = 0;
    }
}

void mn_i8_gemm_xw(mn_i8_isa isa, const void *wp, int rows, int cols, const void *xr, int nrows, int32_t *acc,
                   int ldacc) {
    if (nrows <= 0 || rows <= 0) return;
    switch (isa) {
    case MN_I8_AVX2: mn__i8_gemm_xw_avx2(wp, rows, cols, xr, nrows, acc, ldacc); break;
    case MN_I8_AVX512BW: mn__i8_gemm_xw_avx512bw(wp, rows, cols, xr, nrows, acc, ldacc); break;
    case MN_I8_VNNI: mn__i8_gemm_xw_vnni(wp, rows, cols, xr, nrows, acc, ldacc); break;
    default: dot_ref(xr, nrows, wp, rows, cols, acc, ldacc); break;
    }
}

void mn_i8_gemm_wx(mn_i8_isa isa, const void *wr, int rows, int cols, const void *xp, int n, int32_t *acc,
                   int ldacc) {
    if (n <= 0 || rows <= 0) return;
    switch (isa) {
    case MN_I8_AVX2: mn__i8_gemm_wx_avx2(wr, rows, cols, xp, n, acc, ldacc); break;
    case MN_I8_AVX512BW: mn__i8_gemm_wx_avx512bw(wr, rows, cols, xp, n, acc, ldacc); break;
    case MN_I8_VNNI: mn__i8_gemm_wx_vnni(wr, rows, cols, xp, n, acc, ldacc); break;
    default: dot_ref(wr, rows, xp, n, cols, acc, ldacc); break;
    }
}
