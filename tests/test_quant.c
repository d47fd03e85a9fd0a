/* Quantization: int8 kernels (every ISA bit for bit against the reference),
 * the MN_ST_AFFINE store (round trips, hostile buffers, its kernels against
 * exact integer arithmetic), weight quantizers, fixed point, calibration,
 * the whole-model passes, QAT, and int8 accuracy on MNIST when present. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/io.h"
#include "kernels/kernels.h"
#include "minnow/quant.h"
#include "minnow/train.h"
#include "kernels/fixed.h"
#include "kernels/int8.h"
#include "store/affine.h"
#include "store/store.h"

static uint64_t g_seed = 1;
static uint32_t rnd(void) {
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g_seed >> 33);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000001) / 1e6f; }

/* ---- kernels ------------------------------------------------------------ */

/* acc from `isa` equals the reference in both roles (dense xw: x rows
 * against weight panels; conv wx: weight rows against activation panels),
 * and padded entries are 0. */
static void check_gemm(mn_i8_isa isa, const int8_t *w, const int8_t *x, int R, int K, int nb) {
    int ldw = mn_i8_ldacc(R), ldx = mn_i8_ldacc(nb);
    void *wp0 = mn_alloc(mn_i8_wbytes(MN_I8_REF, R, K), 1), *xr0 = mn_alloc(mn_i8_xbytes(MN_I8_REF, nb, K), 1);
    void *wp = mn_alloc(mn_i8_wbytes(isa, R, K), 1), *xr = mn_alloc(mn_i8_xbytes(isa, nb, K), 1);
    void *wr0 = mn_alloc(mn_i8_wrbytes(MN_I8_REF, R, K), 1), *xp0 = mn_alloc(mn_i8_pbytes(MN_I8_REF, nb, K), 1);
    void *wr = mn_alloc(mn_i8_wrbytes(isa, R, K), 1), *xp = mn_alloc(mn_i8_pbytes(isa, nb, K), 1);
    int32_t *a0 = mn_alloc((size_t)nb * ldw, 4), *a1 = mn_alloc((size_t)nb * ldw, 4);
    int32_t *c0 = mn_alloc((size_t)R * ldx, 4), *c1 = mn_alloc((size_t)R * ldx, 4);
    assert_non_null(wp); assert_non_null(xr); assert_non_null(wr); assert_non_null(xp);
    mn_i8_pack_w(MN_I8_REF, w, R, K, wp0);
    mn_i8_prep_rows(MN_I8_REF, x, nb, K, xr0);
    mn_i8_pack_w(isa, w, R, K, wp);
    mn_i8_prep_rows(isa, x, nb, K, xr);
    mn_i8_pack_wrows(MN_I8_REF, w, R, K, wr0);
    mn_i8_prep_panel(MN_I8_REF, x, nb, K, xp0);
    mn_i8_pack_wrows(isa, w, R, K, wr);
    mn_i8_prep_panel(isa, x, nb, K, xp);
    memset(a1, 0x55, (size_t)nb * ldw * 4);
    memset(c1, 0x55, (size_t)R * ldx * 4);
    mn_i8_gemm_xw(MN_I8_REF, wp0, R, K, xr0, nb, a0, ldw);
    mn_i8_gemm_xw(isa, wp, R, K, xr, nb, a1, ldw);
    mn_i8_gemm_wx(MN_I8_REF, wr0, R, K, xp0, nb, c0, ldx);
    mn_i8_gemm_wx(isa, wr, R, K, xp, nb, c1, ldx);
    for (int b = 0; b < nb; b++)
        for (int r = 0; r < ldw; r++)
            if (a0[b * ldw + r] != a1[b * ldw + r])
                fail_msg("xw %s R=%d K=%d nb=%d: acc[%d][%d] = %d, ref %d", mn_i8_isa_name(isa), R, K, nb, b, r,
                         a1[b * ldw + r], a0[b * ldw + r]);
    for (int r = 0; r < R; r++)
        for (int j = 0; j < ldx; j++) {
            if (c0[r * ldx + j] != c1[r * ldx + j])
                fail_msg("wx %s R=%d K=%d n=%d: acc[%d][%d] = %d, ref %d", mn_i8_isa_name(isa), R, K, nb, r, j,
                         c1[r * ldx + j], c0[r * ldx + j]);
            if (j < nb && c0[r * ldx + j] != a0[j * ldw + r]) fail_msg("wx is not the transpose of xw");
        }
    mn_free(wp0); mn_free(xr0); mn_free(wp); mn_free(xr); mn_free(wr0); mn_free(xp0); mn_free(wr); mn_free(xp);
    mn_free(a0); mn_free(a1); mn_free(c0); mn_free(c1);
}

static void test_gemm_isas(void **st) {
    (void)st;
    static const int Rs[] = {1, 3, 15, 16, 17, 33, 64, 65, 100};
    static const int Ks[] = {1, 2, 3, 4, 5, 7, 31, 64, 65, 129, 784};
    static const int Ns[] = {1, 2, 3, 4, 5, 7, 9, 17, 32, 70};
    int tested = 0;
    for (int isa = 0; isa < MN_I8__COUNT; isa++) {
        if (!mn_i8_isa_ok((mn_i8_isa)isa)) continue;
        tested++;
        for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                int R = Rs[ri], K = Ks[ki], nb = Ns[(ri * 3 + ki) % (sizeof Ns / sizeof *Ns)];
                int8_t *w = malloc((size_t)R * K), *x = malloc((size_t)nb * K);
                for (int i = 0; i < R * K; i++) w[i] = (int8_t)(rnd() & 255);
                for (int i = 0; i < nb * K; i++) x[i] = (int8_t)(rnd() & 255);
                check_gemm((mn_i8_isa)isa, w, x, R, K, nb);
                free(w); free(x);
            }
    }
    print_message("int8 gemm: %d ISA(s) checked, best %s\n", tested, mn_i8_isa_name(mn_i8_best_isa()));
}

/* The extremes: every product at its largest magnitude over the longest
 * rows the kernels take (VNNI's (q + 128) * w sum is closest to 2^31). */
static void test_gemm_extremes(void **st) {
    (void)st;
    int R = 17, K = MN_I8_MAX_K, nb = 3;
    int8_t *w = malloc((size_t)R * K), *x = malloc((size_t)nb * K);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < K; c++) w[(size_t)r * K + c] = (int8_t)(r % 3 == 0 ? -128 : r % 3 == 1 ? 127 : (c & 1 ? 127 : -128));
    for (int b = 0; b < nb; b++)
        for (int c = 0; c < K; c++) x[(size_t)b * K + c] = (int8_t)(b == 0 ? 127 : b == 1 ? -128 : (c & 2 ? -128 : 127));
    for (int isa = 0; isa < MN_I8__COUNT; isa++)
        if (mn_i8_isa_ok((mn_i8_isa)isa)) check_gemm((mn_i8_isa)isa, w, x, R, K, nb);
    free(w); free(x);
}

/* The SIMD quantizers write the same bytes and sums as their scalar twins
 * (rounding ties, saturation, NaN and infinities included). */
static void test_quant_x(void **st) {
    (void)st;
    mn_qact a = {0.5f, -3, -128, 127};
    assert_int_equal(mn_i8_quant1(0.25f, &a), -3);      /* 0.5 rounds to even 0 */
    assert_int_equal(mn_i8_quant1(0.75f, &a), -1);      /* 1.5 -> 2 */
    assert_int_equal(mn_i8_quant1(-0.75f, &a), -5);     /* -1.5 -> -2 */
    assert_int_equal(mn_i8_quant1(1e9f, &a), 127);
    assert_int_equal(mn_i8_quant1(-INFINITY, &a), -128);
    assert_int_equal(mn_i8_quant1(INFINITY, &a), 127);
    assert_int_equal(mn_i8_quant1(NAN, &a), -3);
    static const int dims[][2] = {{1, 1}, {3, 5}, {5, 37}, {16, 16}, {17, 33}, {40, 7}, {70, 130}};
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        int n = dims[di][0], K = dims[di][1], ldb = n + 5;
        float *x = malloc(sizeof(float) * n * K), *B = malloc(sizeof(float) * K * ldb);
        for (int i = 0; i < n * K; i++) {
            x[i] = frand(-70, 70);
            if (rnd() % 7 == 0) x[i] = rintf(x[i] * 2) / 2 * a.scale; /* exact ties */
            if (rnd() % 50 == 0) x[i] = (rnd() & 1) ? NAN : (rnd() & 1) ? INFINITY : -1e30f;
        }
        for (int i = 0; i < n; i++)
            for (int c = 0; c < K; c++) B[c * ldb + i] = x[i * K + c];
        for (int isa = 0; isa < MN_I8__COUNT; isa++) {
            if (!mn_i8_isa_ok((mn_i8_isa)isa)) continue;
            mn_i8_isa I = (mn_i8_isa)isa;
            size_t xb = mn_i8_xbytes(I, n, K), pb = mn_i8_pbytes(I, n, K);
            unsigned char *r0 = mn_alloc(xb, 1), *r1 = mn_alloc(xb, 1), *p0 = mn_alloc(pb, 1), *p1 = mn_alloc(pb, 1);
            int8_t *q = malloc((size_t)n * K);
            int32_t s0[80], s1[80], t0[96], t1[96];
            for (int i = 0; i < n * K; i++) q[i] = (int8_t)mn_i8_quant1(x[i], &a);
            mn_i8_quant_rows(I, x, n, K, &a, r0, s0);
            mn_i8_quant_rows_ref(I, x, n, K, &a, r1, s1);
            assert_memory_equal(r0, r1, xb);
            assert_memory_equal(s0, s1, sizeof(int32_t) * n);
            mn_i8_prep_rows(I, q, n, K, r1);
            assert_memory_equal(r0, r1, xb);
            mn_i8_quant_panel(I, B, ldb, n, K, &a, p0, t0);
            mn_i8_quant_panel_ref(I, B, ldb, n, K, &a, p1, t1);
            assert_memory_equal(p0, p1, pb);
            assert_memory_equal(t0, t1, sizeof(int32_t) * n);
            mn_i8_prep_panel(I, q, n, K, p1);
            assert_memory_equal(p0, p1, pb);
            for (int i = 0; i < n; i++) assert_int_equal(s0[i], t0[i]);
            mn_free(r0); mn_free(r1); mn_free(p0); mn_free(p1); free(q);
        }
        free(x); free(B);
    }
}

/* ---- the store ----------------------------------------------------------- */

static mn_store *rand_store(int R, int K, int bits, int per_row, int has_act, int pow2) {
    int ns = per_row ? R : 1, lo = -(1 << (bits - 1)), span = 1 << bits;
    int8_t *q = malloc((size_t)R * K);
    float *s = malloc(sizeof(float) * ns);
    int32_t *z = malloc(sizeof(int32_t) * ns);
    for (int i = 0; i < R * K; i++) q[i] = (int8_t)(lo + (int)(rnd() % span));
    for (int i = 0; i < ns; i++) {
        s[i] = pow2 ? ldexpf(1, -(int)(rnd() % 8)) : frand(0.001f, 0.1f);
        z[i] = pow2 ? 0 : lo + (int)(rnd() % span);
    }
    mn_qact a = {0.05f, -20, -128, 127};
    mn_store *st = NULL;
    assert_int_equal(mn_affine_store_new(R, K, bits, q, s, z, ns, has_act ? &a : NULL, pow2, &st), MN_OK);
    free(q); free(s); free(z);
    return st;
}

static void test_store_roundtrip(void **state) {
    (void)state;
    const mn_store_traits *t = mn_store_traits_of(MN_ST_AFFINE);
    assert_non_null(t);
    assert_string_equal(mn_storage_name(MN_ST_AFFINE), "affine");
    for (int bits = 2; bits <= 8; bits++)
        for (int v = 0; v < 4; v++) {
            int R = 7 + bits, K = 13 + 2 * v;
            mn_store *s = rand_store(R, K, bits, v & 1, v & 2, bits == 5);
            unsigned char *buf;
            size_t len;
            assert_int_equal(t->serialize(s, &buf, &len), MN_OK);
            assert_int_equal(len, t->bytes(s));
            /* the codes take exactly bits per value (2 per byte at 4 bits, 4 at 2) */
            int ns = v & 1 ? R : 1;
            assert_int_equal(len, 12 + 8 * ns + ((v & 2) ? 16 : 0) + ((size_t)R * K * bits + 7) / 8);
            mn_store *c = calloc(1, sizeof *c);
            c->kind = MN_ST_AFFINE;
            assert_int_equal(t->deserialize(buf, len, R, K, c), MN_OK);
            float *w0 = malloc(sizeof(float) * R * K), *w1 = malloc(sizeof(float) * R * K);
            t->decode(s, w0);
            t->decode(c, w1);
            assert_memory_equal(w0, w1, sizeof(float) * R * K);
            mn_affine_info i0, i1;
            assert_int_equal(mn_affine_store_info(s, &i0), MN_OK);
            assert_int_equal(mn_affine_store_info(c, &i1), MN_OK);
            assert_memory_equal(i0.q, i1.q, (size_t)R * K);
            assert_int_equal(i0.has_act, i1.has_act);
            unsigned char *buf2;
            size_t len2;
            assert_int_equal(t->serialize(c, &buf2, &len2), MN_OK);
            assert_int_equal(len, len2);
            assert_memory_equal(buf, buf2, len);
            free(buf); free(buf2); free(w0); free(w1);
            mn_store_free(s);
            mn_store_free(c);
        }
}

/* Hostile file forms: every field broken gets MN_EFORMAT, never a crash;
 * random corruption never crashes (run under ASan). */
static void test_store_hostile(void **state) {
    (void)state;
    const mn_store_traits *t = mn_store_traits_of(MN_ST_AFFINE);
    int R = 9, K = 11;
    mn_store *s = rand_store(R, K, 3, 1, 1, 0);
    unsigned char *buf;
    size_t len;
    assert_int_equal(t->serialize(s, &buf, &len), MN_OK);
    unsigned char *b = malloc(len + 8);
    mn_store c;
#define BAD(edit, rows, cols, n)                                               \
    do {                                                                       \
        memcpy(b, buf, len);                                                   \
        edit;                                                                  \
        memset(&c, 0, sizeof c);                                               \
        assert_int_not_equal(t->deserialize(b, (n), rows, cols, &c), MN_OK);   \
    } while (0)
    BAD((void)0, R, K, len - 1);                    /* truncated */
    BAD((void)0, R, K, 5);                          /* no header */
    BAD(b[len] = 0, R, K, len + 1);                 /* trailing byte */
    BAD((void)0, R + 1, K, len);                    /* shape mismatch */
    BAD((void)0, R, K - 1, len);
    BAD(b[0] = 2, R, K, len);                       /* version */
    BAD(b[1] = 9, R, K, len);                       /* bits */
    BAD(b[1] = 1, R, K, len);
    BAD(b[2] |= 8, R, K, len);                      /* unknown flag */
    BAD(b[3] = 1, R, K, len);
    BAD(memset(b + 12, 0, 4), R, K, len);           /* scale 0 */
    BAD(memset(b + 12, 0xff, 4), R, K, len);        /* scale NaN */
    BAD(b[15] = 0x80 | b[15], R, K, len);           /* negative scale */
    BAD(memset(b + 12 + 4 * R, 0x7f, 4), R, K, len); /* zero point out of range for 3 bits */
    size_t ao = 12 + 8 * (size_t)R;
    BAD(memset(b + ao, 0, 4), R, K, len);           /* activation scale 0 */
    BAD(memset(b + ao + 8, 0x7f, 1), R, K, len);    /* qmin 127 >= qmax */
    BAD(b[ao + 4] = 0x7f, R, K, len);               /* act zero -129 */
    BAD(b[len - 1] |= 0x80, R, K, len);             /* padding bits: 99 codes * 3 bits = 297 bits */
    BAD(b[2] = 0, R, K, len);                       /* flags say fewer fields than present */
    BAD(b[2] |= 4, R, K, len);                      /* pow2 claimed, scales are not */
    free(b);
    /* random corruption */
    for (int it = 0; it < 3000; it++) {
        unsigned char *m = malloc(len);
        memcpy(m, buf, len);
        int nflip = 1 + (int)(rnd() % 4);
        for (int k = 0; k < nflip; k++) m[rnd() % len] ^= (unsigned char)(1u << (rnd() % 8));
        size_t n = rnd() % 8 == 0 ? rnd() % (len + 1) : len;
        memset(&c, 0, sizeof c);
        c.kind = MN_ST_AFFINE;
        if (t->deserialize(m, n, R, K, &c) == MN_OK) {
            float *w = malloc(sizeof(float) * R * K);
            t->decode(&c, w);
            for (int i = 0; i < R * K; i++) assert_true(isfinite(w[i]));
            free(w);
            t->free(&c);
        }
        free(m);
    }
    free(buf);
    mn_store_free(s);
}

/* xwt and wb against exact integer arithmetic on the same codes. */
static void check_store(int isa, int R, int K, int n, int bits, int per_row) {
    const mn_store_traits *t = mn_store_traits_of(MN_ST_AFFINE);
    mn_store *s = rand_store(R, K, bits, per_row, 1, 0);
    mn_affine_info in;
    assert_int_equal(mn_affine_store_info(s, &in), MN_OK);
    assert_int_equal(in.isa, isa);
    int ldb = n + 3;
    float *x = malloc(sizeof(float) * n * K), *y = malloc(sizeof(float) * n * R), *yb = malloc(sizeof(float) * n * R);
    float *B = malloc(sizeof(float) * K * ldb), *C = malloc(sizeof(float) * R * (n + 1));
    for (int i = 0; i < n * K; i++) x[i] = frand(-8, 5);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < K; c++) B[c * ldb + i] = x[i * K + c];
    for (int i = 0; i < n * R; i++) y[i] = yb[i] = frand(-1, 1);
    void *work = mn_alloc(mn_store_scratch_bytes(s, n) + 1, 1);
    t->xwt(s, x, n, y, work);
    t->wb(s, B, n, ldb, C, n + 1, work);
    mn_free(work);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < R; r++) {
            int k = in.nscale > 1 ? r : 0;
            int64_t acc = 0;
            for (int c = 0; c < K; c++)
                acc += (int64_t)(mn_i8_quant1(x[i * K + c], &in.act) - in.act.zero) * (in.q[r * K + c] - in.zero[k]);
            float want = (float)acc * (in.act.scale * in.scale[k]);
            assert_true(y[i * R + r] == yb[i * R + r] + want);
            assert_true(C[r * (n + 1) + i] == want);
        }
    free(x); free(y); free(yb); free(B); free(C);
    mn_store_free(s);
}

/* Every ISA this CPU has, through the store (MINNOW_I8_ISA picks its kernel). */
static void test_store_kernels(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 1, 1}, {5, 3, 2}, {17, 31, 33}, {33, 65, 70}, {10, 100, 1}, {100, 784, 5},
                                    {7, 25, 600}};
    char *saved = getenv("MINNOW_I8_ISA") ? strdup(getenv("MINNOW_I8_ISA")) : NULL;
    for (int isa = 0; isa < MN_I8__COUNT; isa++) {
        if (!mn_i8_isa_ok((mn_i8_isa)isa)) continue;
        setenv("MINNOW_I8_ISA", mn_i8_isa_name((mn_i8_isa)isa), 1);
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int bits = 2; bits <= 8; bits += 2)
                check_store(isa, shapes[si][0], shapes[si][1], shapes[si][2], bits, si & 1);
    }
    if (saved) setenv("MINNOW_I8_ISA", saved, 1);
    else unsetenv("MINNOW_I8_ISA");
    free(saved);
}

/* ---- conv from the raw input (no f32 im2col) ----------------------------- */

typedef struct { int C, H, W, k, s, pad; } cgeo;
static const cgeo g_geos[] = {{1, 28, 28, 5, 1, 0}, {20, 12, 12, 5, 1, 0}, {3, 7, 9, 3, 1, 1}, {2, 6, 5, 3, 2, 1},
                              {4, 5, 5, 1, 1, 0},   {5, 9, 8, 5, 1, 2},    {3, 11, 13, 3, 3, 0}, {7, 5, 6, 2, 1, 1},
                              {1, 3, 40, 3, 1, 0},  {2, 4, 4, 4, 1, 3},    {6, 10, 3, 3, 2, 2}};

static float *rand_image(int n, const mn_qact *a) {
    float *x = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) {
        x[i] = frand(-4, 9);
        if (rnd() % 7 == 0) x[i] = rintf(x[i] / a->scale * 2) / 2 * a->scale; /* exact ties */
        if (rnd() % 60 == 0) x[i] = (rnd() & 1) ? NAN : (rnd() & 1) ? INFINITY : -1e30f;
    }
    return x;
}

/* The padded code image and the gathered panels of every ISA equal their
 * references and what quantizing the f32 im2col matrix gives, byte for
 * byte, for chunks of pixels at odd offsets. */
static void conv_gather(void) {
    mn_qact a = {0.05f, -20, -128, 127};
    int tested = 0;
    for (size_t gi = 0; gi < sizeof g_geos / sizeof *g_geos; gi++) {
        cgeo G = g_geos[gi];
        int OH = mn_conv_out(G.H, G.k, G.s, G.pad), OW = mn_conv_out(G.W, G.k, G.s, G.pad), P = OH * OW;
        int K = G.C * G.k * G.k;
        float *x = rand_image(G.C * G.H * G.W, &a), *B = malloc(sizeof(float) * K * P);
        mn_im2col_ref(x, G.C, G.H, G.W, G.k, G.s, G.pad, OH, OW, B, P);
        for (int isa = 0; isa < MN_I8__COUNT; isa++) {
            if (!mn_i8_isa_ok((mn_i8_isa)isa)) continue;
            mn_i8_isa I = (mn_i8_isa)isa;
            size_t ib = mn_i8_image_bytes(I, G.C, G.H, G.W, G.pad), used = ib - 64;
            unsigned char *x0 = mn_alloc(ib, 1), *x1 = mn_alloc(ib, 1);
            memset(x0, 0x5a, ib); /* the slack may hold anything */
            mn_i8_quant_image(I, x, G.C, G.H, G.W, G.pad, &a, x0);
            mn_i8_quant_image_ref(I, x, G.C, G.H, G.W, G.pad, &a, x1);
            assert_memory_equal(x0, x1, used);
            const int chunks[][2] = {{0, P}, {P > 5 ? 5 : 0, P > 5 ? P - 5 : P}, {P / 2, 1}, {P > 17 ? P - 17 : 0, P > 17 ? 17 : P}};
            for (int ci = 0; ci < 4; ci++) {
                int p0 = chunks[ci][0], n = chunks[ci][1];
                size_t pb = mn_i8_pbytes(I, n, K);
                unsigned char *p1 = mn_alloc(pb, 1), *p2 = mn_alloc(pb, 1), *p3 = mn_alloc(pb, 1);
                void *rb = mn_alloc(mn_i8_im2panel_rbytes(I, K), 1);
                int na = mn_i8_ldacc(n);
                int32_t *s1 = calloc(na, 4), *s2 = calloc(na, 4), *s3 = calloc(na, 4);
                memset(p1, 0x33, pb);
                mn_i8_im2panel(I, x0, G.C, G.H, G.W, G.k, G.s, G.pad, OW, p0, n, p1, s1, rb);
                mn_i8_im2panel_ref(I, x1, G.C, G.H, G.W, G.k, G.s, G.pad, OW, p0, n, p2, s2);
                mn_i8_quant_panel_ref(I, B + p0, P, n, K, &a, p3, s3);
                if (memcmp(p1, p3, pb) || memcmp(p2, p3, pb))
                    fail_msg("im2panel %s C%d %dx%d k%d s%d pad%d p0=%d n=%d differs", mn_i8_isa_name(I), G.C, G.H,
                             G.W, G.k, G.s, G.pad, p0, n);
                int ns = I == MN_I8_REF ? n : na;
                assert_memory_equal(s1, s3, 4 * ns);
                assert_memory_equal(s2, s3, 4 * ns);
                mn_free(p1); mn_free(p2); mn_free(p3); mn_free(rb); free(s1); free(s2); free(s3);
            }
            mn_free(x0); mn_free(x1);
            tested++;
        }
        free(x); free(B);
    }
    print_message("int8 conv gather: %d geometry x ISA cases\n", tested);
}

/* Twice: VNNI's stride-1 gather with and without VBMI (vpermb). */
static void test_conv_gather(void **st) {
    (void)st;
    conv_gather();
    setenv("MINNOW_I8_VBMI", "0", 1);
    conv_gather();
    unsetenv("MINNOW_I8_VBMI");
}

/* The int32 epilogue equals the int64 reference, bias or not, at the ends
 * of the exact range (cols = MN_I8_OUT_MAX_K, extreme codes). */
static void test_conv_epilogue(void **st) {
    (void)st;
    const int R = 7, n = 37, ld = 48;
    int32_t acc[7 * 48], c0[7], zw[7], sq[48];
    float mul[7], bias[7], y0[7 * 40], y1[7 * 40];
    for (int trial = 0; trial < 40; trial++) {
        int K = trial < 20 ? MN_I8_OUT_MAX_K : 1 + (int)(rnd() % 600);
        for (int r = 0; r < R; r++) {
            /* a row of extreme codes: qw - zw = +-255, qx - za = +-255 */
            int zwr = (rnd() & 1) ? 127 : -128, za = (rnd() & 1) ? 127 : -128;
            int qw = zwr == 127 ? -128 : 127, qx = za == 127 ? -128 : 127;
            if (trial & 1) { zwr = (int)(rnd() % 256) - 128; za = (int)(rnd() % 256) - 128; qw = (int)(rnd() % 256) - 128; }
            zw[r] = zwr;
            c0[r] = (int32_t)((int64_t)K * za * zwr - (int64_t)za * qw * K);
            for (int j = 0; j < n; j++) {
                sq[j] = qx * K;
                acc[r * ld + j] = qx * qw * K;
            }
            mul[r] = frand(1e-6f, 1e-3f);
            bias[r] = frand(-2, 2);
        }
        for (int isa = 0; isa < MN_I8__COUNT; isa++) {
            if (!mn_i8_isa_ok((mn_i8_isa)isa)) continue;
            for (int b = 0; b < 2; b++) {
                mn_i8_wx_out((mn_i8_isa)isa, acc, ld, R, n, c0, zw, mul, sq, b ? bias : NULL, y0, 40);
                mn_i8_wx_out_ref(acc, ld, R, n, c0, zw, mul, sq, b ? bias : NULL, y1, 40);
                for (int r = 0; r < R; r++) assert_memory_equal(y0 + r * 40, y1 + r * 40, 4 * n);
            }
        }
    }
}

/* The store's conv trait gives, bit for bit, im2col + wb + bias, on every
 * ISA; it declines (returns non-zero) what it cannot do. */
static void test_store_conv(void **state) {
    (void)state;
    const mn_store_traits *t = mn_store_traits_of(MN_ST_AFFINE);
    assert_non_null(t->conv);
    char *saved = getenv("MINNOW_I8_ISA") ? strdup(getenv("MINNOW_I8_ISA")) : NULL;
    static const int filters[] = {20, 50, 1, 17, 33, 5, 16, 9, 3, 64, 2};
    for (int isa = 0; isa < MN_I8__COUNT; isa++) {
        if (!mn_i8_isa_ok((mn_i8_isa)isa)) continue;
        setenv("MINNOW_I8_ISA", mn_i8_isa_name((mn_i8_isa)isa), 1);
        for (size_t gi = 0; gi < sizeof g_geos / sizeof *g_geos; gi++) {
            cgeo G = g_geos[gi];
            int F = filters[gi], K = G.C * G.k * G.k, batch = 1 + (int)(gi % 3);
            mn_conv_geom cg = {G.C, G.H, G.W, G.k, G.s, G.pad, mn_conv_out(G.H, G.k, G.s, G.pad),
                               mn_conv_out(G.W, G.k, G.s, G.pad)};
            int P = cg.OH * cg.OW, isz = G.C * G.H * G.W;
            mn_store *s = rand_store(F, K, 8, gi & 1, 1, 0);
            mn_affine_info in;
            assert_int_equal(mn_affine_store_info(s, &in), MN_OK);
            float *x = rand_image(batch * isz, &in.act), *bias = malloc(sizeof(float) * F);
            float *y0 = malloc(sizeof(float) * batch * F * P), *y1 = malloc(sizeof(float) * batch * F * P);
            float *B = malloc(sizeof(float) * K * P), *Cm = malloc(sizeof(float) * F * P);
            for (int f = 0; f < F; f++) bias[f] = frand(-1, 1);
            size_t sb = mn_i8_image_bytes(in.isa, G.C, G.H, G.W, G.pad);
            void *scr = mn_alloc(sb, 1), *work = mn_alloc(mn_store_scratch_bytes(s, batch) + 1, 1);
            assert_int_equal(t->conv(s, &cg, x, batch, bias, y0, scr, sb - 1, work), 1); /* too little scratch */
            assert_int_equal(t->conv(s, &cg, x, batch, bias, y0, scr, sb, work), 0);
            for (int b = 0; b < batch; b++) {
                mn_im2col_ref(x + b * isz, G.C, G.H, G.W, G.k, G.s, G.pad, cg.OH, cg.OW, B, P);
                t->wb(s, B, P, P, Cm, P, work);
                for (int f = 0; f < F; f++)
                    for (int p = 0; p < P; p++) y1[(b * F + f) * P + p] = Cm[f * P + p] + bias[f];
            }
            if (memcmp(y0, y1, sizeof(float) * batch * F * P))
                fail_msg("conv trait %s C%d %dx%d k%d s%d pad%d F%d differs from im2col + wb",
                         mn_i8_isa_name(in.isa), G.C, G.H, G.W, G.k, G.s, G.pad, F);
            assert_int_equal(t->conv(s, &cg, x, batch, NULL, y0, scr, sb, work), 0); /* no bias: wb's C */
            assert_memory_equal(y0 + (int64_t)(batch - 1) * F * P, Cm, sizeof(float) * F * P);
            mn_free(scr); mn_free(work); free(x); free(bias); free(y0); free(y1); free(B); free(Cm);
            mn_store_free(s);
        }
    }
    /* a weight-only store, and a geometry that is not the store's, decline */
    mn_store *w = rand_store(4, 9, 8, 1, 0, 0), *a = rand_store(4, 9, 8, 1, 1, 0);
    mn_conv_geom cg = {1, 5, 5, 3, 1, 0, 3, 3}, bad = {2, 5, 5, 3, 1, 0, 3, 3};
    float x[25] = {0}, y[36];
    static _Alignas(64) unsigned char scr[4096], work[1 << 17];
    assert_int_equal(t->conv(w, &cg, x, 1, NULL, y, scr, sizeof scr, work), 1);
    assert_int_equal(t->conv(a, &bad, x, 1, NULL, y, scr, sizeof scr, work), 1);
    assert_int_equal(t->conv(a, &cg, x, 1, NULL, y, scr, sizeof scr, work), 0);
    mn_store_free(w); mn_store_free(a);
    if (saved) setenv("MINNOW_I8_ISA", saved, 1);
    else unsetenv("MINNOW_I8_ISA");
    free(saved);
}

/* ---- quantizers ------------------------------------------------------------ */

static void test_wquant(void **state) {
    (void)state;
    int n = 1001;
    float *v = malloc(sizeof(float) * n), *d = malloc(sizeof(float) * n), *d2 = malloc(sizeof(float) * n);
    int8_t *q = malloc(n);
    for (int i = 0; i < n; i++) v[i] = frand(-0.3f, 0.7f);
    v[5] = 3.0f; /* an outlier: MSE clipping should cut it */
    v[9] = 0;
    for (int bits = 2; bits <= 8; bits++)
        for (int sym = 0; sym < 2; sym++) {
            mn_wquant c = {bits, 0, sym, MN_WCLIP_MINMAX};
            float s, s2;
            int32_t z, z2;
            mn_wquant_vec(v, n, &c, &s, &z, q, d);
            int qmax = (1 << (bits - 1)) - 1, qmin = sym ? -qmax : -qmax - 1;
            if (sym) assert_int_equal(z, 0);
            double e1 = 0, e2 = 0;
            for (int i = 0; i < n; i++) {
                assert_true(q[i] >= qmin && q[i] <= qmax);
                assert_true(d[i] == s * (float)(q[i] - z));
                assert_true(fabsf(v[i] - d[i]) <= s * 0.501f); /* min/max: nothing clipped */
                e1 += (double)(v[i] - d[i]) * (v[i] - d[i]);
            }
            assert_true(z >= qmin && z <= qmax);
            assert_true(d[9] == 0.0f); /* zero is exactly representable */
            c.clip = MN_WCLIP_MSE;
            mn_wquant_vec(v, n, &c, &s2, &z2, NULL, d2);
            for (int i = 0; i < n; i++) e2 += (double)(v[i] - d2[i]) * (v[i] - d2[i]);
            assert_true(e2 <= e1);
            if (bits <= 4) assert_true(s2 < s); /* the outlier was clipped */
        }
    free(v); free(d); free(d2); free(q);
}

static void test_quantile_fixed(void **state) {
    (void)state;
    for (int it = 0; it < 20; it++) {
        int n = 1 + (int)(rnd() % 500);
        float *v = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n);
        for (int i = 0; i < n; i++) v[i] = (float)(rnd() % 50) - 20; /* many duplicates */
        memcpy(s, v, sizeof(float) * n);
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && s[j - 1] > s[j]; j--) { float t = s[j]; s[j] = s[j - 1]; s[j - 1] = t; }
        double p = (double)(rnd() % 1001) / 1000;
        int64_t k = (int64_t)ceil(p * n) - 1;
        if (k < 0) k = 0;
        assert_true(mn_quantile(v, n, p) == s[k]);
        free(v); free(s);
    }
    /* int bits: 99.99% coverage ignores one outlier in 20000 values */
    int n = 20000;
    float *v = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) v[i] = frand(-0.9f, 0.9f);
    v[7] = 100;
    assert_int_equal(mn_fixed_int_bits(v, n, 0.9999), 0);
    assert_int_equal(mn_fixed_int_bits(v, n, 1.0), 7);
    for (int i = 0; i < n; i++) v[i] *= 0.1f; /* |v| < 0.09: no integer bit, 3 leading zeros */
    v[7] = 0;
    assert_int_equal(mn_fixed_int_bits(v, n, 1.0), -3);
    /* rounding: multiples of 2^-F, saturating at 1 + I + F bits */
    float r[6] = {0.3f, -0.3f, 1.96f, -5.0f, 0.03125f, 0.09375f};
    mn_fixed_round(r, 6, 6, 4); /* range [-2, 2 - 1/16] */
    assert_true(r[0] == 0.3125f && r[1] == -0.3125f && r[2] == 1.9375f && r[3] == -2.0f);
    assert_true(r[4] == 0.0f && r[5] == 0.125f); /* halves round to even codes */
    free(v);
}

/* ---- whole models ---------------------------------------------------------- */

/* A toy 3-class problem on 1x6x6 images: the class is the brightest third. */
static void toy_data(mn_dataset *d, int n, uint64_t seed) {
    g_seed = seed;
    d->n = n; d->c = 1; d->h = 6; d->w = 6; d->nclass = 3;
    d->x = mn_alloc((size_t)n * 36, sizeof(float));
    d->y = mn_alloc((size_t)n, sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        int y = (int)(rnd() % 3);
        d->y[i] = y;
        for (int p = 0; p < 36; p++) d->x[i * 36 + p] = frand(0, 0.5f) + ((p / 12) == y ? 0.5f : 0);
    }
}

static void toy_model(mn_graph *g, const mn_dataset *d) {
    assert_int_equal(mn_arch_build(g, "input x; conv c1 filters=5 k=3 pad=1; relu r1; maxpool p1 k=2; flatten f;"
                                      "dense fc1 units=17; relu r2; dense fc2 units=classes",
                                   1, 6, 6, 3), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 3);
    mn_graph_init_params(g, &r);
    assert_int_equal(mn_set_input_norm(g, d), MN_OK);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 3;
    c.batch = 32;
    assert_int_equal(mn_train(g, d, NULL, &c), MN_OK);
}

static float max_rel(const float *a, const float *b, int n) {
    float m = 0, s = 0;
    for (int i = 0; i < n; i++) { m = fmaxf(m, fabsf(a[i] - b[i])); s = fmaxf(s, fabsf(b[i])); }
    return m / (s > 0 ? s : 1);
}

/* The PTQ debugger and per-layer bits: a model against itself is exact
 * everywhere; a layer left at 2 bits among 8-bit ones is the one flagged
 * as adding the most noise; a layer given 0 bits stays f32. */
static void test_quant_debug(void **state) {
    (void)state;
    mn_dataset d;
    toy_data(&d, 600, 12);
    mn_graph g, same, q;
    toy_model(&g, &d);
    assert_int_equal(mn_graph_clone(&g, &same), MN_OK);
    mn_qdebug *r = malloc(sizeof *r);
    assert_int_equal(mn_quant_debug(&g, &same, &d, 200, r), MN_OK);
    assert_int_equal(r->samples, 200);
    assert_int_equal(r->n, 3);
    for (int i = 0; i < r->n; i++) {
        assert_true(r->l[i].sqnr_db >= 1e9 && r->l[i].added_db >= 1e9 && r->l[i].max_abs == 0);
        assert_int_equal(r->l[i].flag, 0);
    }
    assert_true(r->out_agree == 1.0);
    /* the middle layer at 2 bits, the others at 8 */
    assert_int_equal(mn_graph_clone(&g, &q), MN_OK);
    mn_affine_cfg c;
    mn_affine_default(&c);
    const char *mid = g.nodes[r->l[1].node].name, *last = g.nodes[r->l[2].node].name;
    char spec[128];
    snprintf(spec, sizeof spec, "%s=2,%s=0", mid, last);
    c.layer_bits = spec;
    mn_qreport rep;
    assert_int_equal(mn_quantize_affine(&q, &c, &d, &rep), MN_OK);
    assert_int_equal(rep.n, 2); /* the last layer left in f32 */
    assert_null(q.params[g.nodes[r->l[2].node].p[0]].store);
    assert_int_equal(rep.l[1].wbits, 2);
    assert_int_equal(mn_quant_debug(&g, &q, &d, 200, r), MN_OK);
    print_message("debug: %s %.1f dB (adds %.1f), %s %.1f dB (adds %.1f), output %.1f dB\n", g.nodes[r->l[0].node].name,
                  r->l[0].sqnr_db, r->l[0].added_db, mid, r->l[1].sqnr_db, r->l[1].added_db, r->out_sqnr_db);
    assert_true(r->l[1].flag & 1);
    assert_false(r->l[0].flag & 1);
    assert_true(r->l[1].added_db < r->l[0].added_db);
    assert_true(r->l[0].sqnr_db > r->l[1].sqnr_db);
    /* bad specs: an unknown layer, bits out of range */
    mn_graph b;
    assert_int_equal(mn_graph_clone(&g, &b), MN_OK);
    c.layer_bits = "nosuch=4";
    assert_int_equal(mn_quantize_affine(&b, &c, &d, NULL), MN_EARG);
    snprintf(spec, sizeof spec, "%s=1", mid);
    c.layer_bits = spec;
    assert_int_equal(mn_quantize_affine(&b, &c, &d, NULL), MN_EARG);
    free(r);
    mn_graph_free(&b);
    mn_graph_free(&q);
    mn_graph_free(&same);
    mn_graph_free(&g);
    mn_dataset_free(&d);
}

/* The check of the PTQ debugger: one layer broken on purpose is the
 * one the report flags, and keeping it in float recovers the accuracy.
 * fc1's unit 0 is scaled up 4096x and fc2's weights from it down as much:
 * the float model computes the same function (relu is positively
 * homogeneous), but fc2's input range is now that one unit's, so its int8
 * input codes lose every other unit. */
static void test_quant_debug_broken(void **state) {
    (void)state;
    mn_dataset d;
    toy_data(&d, 600, 13);
    mn_graph g;
    toy_model(&g, &d);
    int fc1 = -1, fc2 = -1;
    for (int i = 0; i < g.nnodes; i++) {
        if (!strcmp(g.nodes[i].name, "fc1")) fc1 = i;
        if (!strcmp(g.nodes[i].name, "fc2")) fc2 = i;
    }
    assert_true(fc1 >= 0 && fc2 >= 0);
    mn_eval_result e0, e1, e2, e3;
    assert_int_equal(mn_eval(&g, &d, 100, &e0), MN_OK);
    int r1, c1, r2, c2;
    mn_param_matrix(&g, g.nodes[fc1].p[0], &r1, &c1);
    mn_param_matrix(&g, g.nodes[fc2].p[0], &r2, &c2);
    float *w1 = mn_param_data(&g, g.nodes[fc1].p[0]), *b1 = mn_param_data(&g, g.nodes[fc1].p[1]);
    float *w2 = mn_param_data(&g, g.nodes[fc2].p[0]);
    for (int c = 0; c < c1; c++) w1[c] *= 4096;
    b1[0] *= 4096;
    for (int r = 0; r < r2; r++) w2[(int64_t)r * c2] /= 4096;
    assert_int_equal(mn_eval(&g, &d, 100, &e1), MN_OK);
    assert_true(fabs(e1.error - e0.error) < 1e-9); /* the same function */
    mn_affine_cfg c;
    mn_affine_default(&c);
    mn_graph q, keep;
    assert_int_equal(mn_graph_clone(&g, &q), MN_OK);
    assert_int_equal(mn_graph_clone(&g, &keep), MN_OK);
    assert_int_equal(mn_quantize_affine(&q, &c, &d, NULL), MN_OK);
    assert_int_equal(mn_eval(&q, &d, 100, &e2), MN_OK);
    mn_qdebug *r = malloc(sizeof *r);
    assert_int_equal(mn_quant_debug(&g, &q, &d, 300, r), MN_OK);
    int flagged = -1;
    for (int i = 0; i < r->n; i++)
        if (r->l[i].flag & 1) flagged = r->l[i].node;
    c.layer_bits = "fc2=0";
    assert_int_equal(mn_quantize_affine(&keep, &c, &d, NULL), MN_OK);
    assert_int_equal(mn_eval(&keep, &d, 100, &e3), MN_OK);
    print_message("broken fc2 input: float %.3f, int8 %.3f (flagged: %s), fc2 kept f32 %.3f\n", e0.error, e2.error,
                  flagged >= 0 ? g.nodes[flagged].name : "none", e3.error);
    assert_int_equal(flagged, fc2);
    assert_true(e2.error > e0.error + 0.05);
    assert_true(e3.error <= e0.error + 0.02);
    free(r);
    mn_graph_free(&keep);
    mn_graph_free(&q);
    mn_graph_free(&g);
    mn_dataset_free(&d);
}

static void test_affine_model(void **state) {
    (void)state;
    mn_dataset d;
    toy_data(&d, 600, 11);
    mn_graph g, q, l;
    toy_model(&g, &d);
    assert_int_equal(mn_graph_clone(&g, &q), MN_OK);
    mn_affine_cfg c;
    mn_affine_default(&c);
    mn_qreport rep;
    assert_int_equal(mn_quantize_affine(&q, &c, &d, &rep), MN_OK);
    assert_int_equal(rep.n, 3);
    for (int i = 0; i < rep.n; i++) {
        assert_non_null(q.params[rep.l[i].param].store);
        assert_int_equal(q.params[rep.l[i].param].store->kind, MN_ST_AFFINE);
        assert_true(rep.l[i].has_act);
    }
    int nb = 50;
    float *y0 = malloc(sizeof(float) * nb * 3), *y1 = malloc(sizeof(float) * nb * 3);
    assert_int_equal(mn_graph_reserve(&g, nb), MN_OK);
    assert_int_equal(mn_graph_reserve(&q, nb), MN_OK);
    memcpy(y0, mn_graph_forward(&g, d.x, nb, 0), sizeof(float) * nb * 3);
    memcpy(y1, mn_graph_forward(&q, d.x, nb, 0), sizeof(float) * nb * 3);
    float e = max_rel(y1, y0, nb * 3);
    print_message("int8 vs f32 logits: max rel diff %.4f\n", (double)e);
    assert_true(e < 0.05f);
    /* the file keeps the store, the format and the codes: same outputs, bit for bit */
    char path[512];
    snprintf(path, sizeof path, "%s/q8.mnw", tu_tmpdir());
    assert_int_equal(mn_model_save(&q, path), MN_OK);
    assert_int_equal(mn_model_load(path, &l), MN_OK);
    assert_int_equal(mn_graph_reserve(&l, nb), MN_OK);
    memcpy(y0, mn_graph_forward(&l, d.x, nb, 0), sizeof(float) * nb * 3);
    assert_memory_equal(y0, y1, sizeof(float) * nb * 3);
    for (int i = 0; i < g.nparams; i++) assert_memory_equal(mn_param_data(&q, i), mn_param_data(&l, i), 4 * q.params[i].n);
    /* 4-bit weights are stored half the size of 8-bit ones */
    mn_graph q4;
    assert_int_equal(mn_graph_clone(&g, &q4), MN_OK);
    c.w.bits = 4;
    assert_int_equal(mn_quantize_affine(&q4, &c, &d, NULL), MN_OK);
    int p1 = q.nodes[rep.l[2].node].p[0];
    int rows, cols;
    mn_param_matrix(&q, p1, &rows, &cols);
    assert_true(mn_param_file_bytes(&q4, p1) < mn_param_file_bytes(&q, p1) / 2 + 8 * (size_t)rows + 40);
    /* weight-only stores run f32 products on the decoded weights */
    mn_graph w;
    assert_int_equal(mn_graph_clone(&g, &w), MN_OK);
    c.act_bits = 0;
    c.w.bits = 8;
    assert_int_equal(mn_quantize_affine(&w, &c, NULL, NULL), MN_OK);
    mn_graph wd;
    assert_int_equal(mn_graph_clone(&w, &wd), MN_OK);
    mn_graph_drop_stores(&wd);
    assert_int_equal(mn_graph_reserve(&w, nb), MN_OK);
    assert_int_equal(mn_graph_reserve(&wd, nb), MN_OK);
    memcpy(y0, mn_graph_forward(&w, d.x, nb, 0), sizeof(float) * nb * 3);
    memcpy(y1, mn_graph_forward(&wd, d.x, nb, 0), sizeof(float) * nb * 3);
    assert_true(max_rel(y0, y1, nb * 3) < 1e-5f);
    free(y0); free(y1);
    mn_graph_free(&g); mn_graph_free(&q); mn_graph_free(&l); mn_graph_free(&q4); mn_graph_free(&w); mn_graph_free(&wd);
    mn_dataset_free(&d);
}

static void test_fixed_model(void **state) {
    (void)state;
    mn_dataset d;
    toy_data(&d, 400, 5);
    mn_graph g;
    toy_model(&g, &d);
    mn_fixed_cfg c;
    mn_fixed_default(&c);
    c.frac_bits = 5;
    mn_qreport rep;
    assert_int_equal(mn_quantize_fixed(&g, &c, &d, &rep), MN_OK);
    assert_int_equal(rep.n, 3);
    for (int i = 0; i < rep.n; i++) {
        const mn_qlayer *L = &rep.l[i];
        const mn_node *pr = &g.nodes[g.nodes[L->node].in[0]];
        assert_int_equal(pr->a.act_frac, 5);
        assert_int_equal(pr->a.act_bits, L->abits);
        const float *w = mn_param_data(&g, L->param);
        for (int64_t k = 0; k < g.params[L->param].n; k++) assert_true(w[k] * 32 == rintf(w[k] * 32));
        if (L->wbits <= 8) {
            mn_affine_info in;
            assert_true(L->stored);
            assert_int_equal(mn_affine_store_info(g.params[L->param].store, &in), MN_OK);
            assert_true(in.pow2 && in.scale[0] == 1.0f / 32);
        }
    }
    /* activations entering the layers are on the grid after a forward pass */
    mn_graph_forward(&g, d.x, 20, 0);
    for (int i = 0; i < rep.n; i++) {
        const mn_node *pr = &g.nodes[g.nodes[rep.l[i].node].in[0]];
        for (int64_t k = 0; k < 20 * mn_shape_numel(&pr->out); k++) assert_true(pr->y[k] * 32 == rintf(pr->y[k] * 32));
    }
    /* the attributes survive the file */
    char p[512];
    snprintf(p, sizeof p, "%s/fx.mnw", tu_tmpdir());
    assert_int_equal(mn_model_save(&g, p), MN_OK);
    mn_graph l;
    assert_int_equal(mn_model_load(p, &l), MN_OK);
    assert_int_equal(mn_graph_reserve(&l, 32), MN_OK);
    for (int i = 0; i < g.nnodes; i++) {
        int j = mn_graph_find_node(&l, g.nodes[i].name);
        assert_int_equal(l.nodes[j].a.act_bits, g.nodes[i].a.act_bits);
        assert_int_equal(l.nodes[j].a.act_frac, g.nodes[i].a.act_frac);
    }
    float *y0 = malloc(sizeof(float) * 60), *y1 = malloc(sizeof(float) * 60);
    memcpy(y0, mn_graph_forward(&g, d.x, 20, 0), sizeof(float) * 60);
    memcpy(y1, mn_graph_forward(&l, d.x, 20, 0), sizeof(float) * 60);
    assert_memory_equal(y0, y1, sizeof(float) * 60);
    free(y0); free(y1);
    /* one fraction bit is far too coarse for weights this small: they all go to 0 */
    mn_graph z;
    assert_int_equal(mn_arch_build(&z, "input x; flatten f; dense fc units=3", 1, 6, 6, 3), MN_OK);
    float *w = mn_param_data(&z, mn_graph_find_param(&z, "fc.weight"));
    for (int k = 0; k < 108; k++) w[k] = frand(-0.2f, 0.2f);
    c.frac_bits = 1;
    c.int_bits = 0;
    c.target = MN_QT_WEIGHTS;
    assert_int_equal(mn_quantize_fixed(&z, &c, NULL, NULL), MN_OK);
    for (int k = 0; k < 108; k++) assert_true(w[k] == 0);
    mn_graph_free(&z); mn_graph_free(&g); mn_graph_free(&l);
    mn_dataset_free(&d);
}

static void test_qat(void **state) {
    (void)state;
    mn_dataset d;
    toy_data(&d, 600, 21);
    mn_graph g;
    toy_model(&g, &d);
    mn_affine_cfg c;
    mn_affine_default(&c);
    c.w.bits = 2;
    c.w.per_channel = 1;
    mn_train_cfg t;
    mn_train_default(&t);
    t.epochs = 2;
    t.batch = 32;
    t.opt.lr = 1e-3f;
    mn_qreport rep;
    assert_int_equal(mn_quantize_qat(&g, &c, &t, &d, NULL, &rep), MN_OK);
    assert_int_equal(rep.n, 3);
    for (int i = 0; i < rep.n; i++) {
        int p = rep.l[i].param, rows, cols;
        assert_non_null(g.params[p].store);
        mn_param_matrix(&g, p, &rows, &cols);
        /* every row holds at most 4 distinct values (2 bits) */
        const float *w = mn_param_data(&g, p);
        for (int r = 0; r < rows; r++) {
            float u[8];
            int nu = 0;
            for (int k = 0; k < cols; k++) {
                int f = 0;
                for (int j = 0; j < nu; j++) f |= u[j] == w[r * cols + k];
                if (!f) { assert_true(nu < 4); u[nu++] = w[r * cols + k]; }
            }
        }
    }
    mn_eval_result r;
    assert_int_equal(mn_eval(&g, &d, 100, &r), MN_OK);
    print_message("toy 2-bit qat train error %.3f\n", (double)r.error);
    assert_true(r.error < 0.1f);
    mn_graph_free(&g);
    mn_dataset_free(&d);
}

/* MNIST: lenet300 for 2 epochs, int8 per channel within 0.5 points of f32. */
static void test_mnist_int8(void **state) {
    (void)state;
    const char *dir = tu_mnist_dir();
    if (!dir) skip();
    mn_dataset tr, va;
    assert_int_equal(mn_data_load(dir, "train", &tr), MN_OK);
    assert_int_equal(mn_data_load(dir, "val", &va), MN_OK);
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, "lenet300", tr.c, tr.h, tr.w, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 1);
    mn_graph_init_params(&g, &r);
    assert_int_equal(mn_set_input_norm(&g, &tr), MN_OK);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 2;
    assert_int_equal(mn_train(&g, &tr, NULL, &c), MN_OK);
    mn_eval_result e0, e1;
    assert_int_equal(mn_eval(&g, &va, 250, &e0), MN_OK);
    mn_affine_cfg q;
    mn_affine_default(&q);
    assert_int_equal(mn_quantize_affine(&g, &q, &tr, NULL), MN_OK);
    assert_int_equal(mn_eval(&g, &va, 250, &e1), MN_OK);
    print_message("lenet300 2 epochs: val error f32 %.2f%%, int8 %.2f%%\n", 100 * e0.error, 100 * e1.error);
    assert_true(e1.error <= e0.error + 0.005f);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_isas),
        cmocka_unit_test(test_gemm_extremes),
        cmocka_unit_test(test_quant_x),
        cmocka_unit_test(test_store_roundtrip),
        cmocka_unit_test(test_store_hostile),
        cmocka_unit_test(test_store_kernels),
        cmocka_unit_test(test_conv_gather),
        cmocka_unit_test(test_conv_epilogue),
        cmocka_unit_test(test_store_conv),
        cmocka_unit_test(test_wquant),
        cmocka_unit_test(test_quantile_fixed),
        cmocka_unit_test(test_affine_model),
        cmocka_unit_test(test_quant_debug),
        cmocka_unit_test(test_quant_debug_broken),
        cmocka_unit_test(test_fixed_model),
        cmocka_unit_test(test_qat),
        cmocka_unit_test(test_mnist_int8),
    };
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
