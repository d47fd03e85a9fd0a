/* The CSR storage kind and the sparse kernels: the file form byte for byte,
 * hostile buffers, every kernel path against the reference and against exact
 * dense products, and pruned graphs that run sparse and round-trip through
 * the model file.  The suite re-runs itself under MINNOW_NO_SIMD=1. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "testutil.h"

#include "minnow/arch.h"
#include "minnow/io.h"
#include "minnow/sparse.h"
#include "kernels/sparse.h"
#include "store/csr.h"
#include "store/store.h"
#include "core/cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static float *rand_sparse(mn_rng *r, int rows, int cols, double density) {
    float *w = malloc(sizeof(float) * (size_t)rows * cols);
    assert_non_null(w);
    for (int64_t i = 0; i < (int64_t)rows * cols; i++)
        w[i] = mn_rng_uniform(r) < density ? mn_rng_normal(r) : 0.0f;
    return w;
}

static float *rand_vec(mn_rng *r, int64_t n) {
    float *v = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) v[i] = mn_rng_normal(r);
    return v;
}

static const mn_csr *csr_of(const mn_store *s) { return (const mn_csr *)s->impl; }

static mn_store *make(const float *w, int rows, int cols) {
    mn_store *s = NULL;
    assert_int_equal(mn_csr_from_dense(w, rows, cols, &s), MN_OK);
    assert_int_equal(s->kind, MN_ST_CSR);
    return s;
}

static mn_status deser(const unsigned char *buf, size_t len, int rows, int cols, mn_store **out) {
    unsigned char *c = malloc(len ? len : 1); /* exactly len bytes: ASan sees any overread */
    assert_non_null(c);
    memcpy(c, buf, len);
    mn_store *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->kind = MN_ST_CSR;
    mn_status st = mn_st_csr.deserialize(c, len, rows, cols, s);
    free(c);
    if (st) { free(s); s = NULL; }
    *out = s;
    return st;
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* ---- the file form ------------------------------------------------------ */

static void check_bytes(const unsigned char *b, size_t len, const unsigned char *want, size_t wlen) {
    assert_int_equal(len, wlen);
    for (size_t i = 0; i < len; i++)
        if (b[i] != want[i]) fail_msg("byte %zu is %02x, expected %02x", i, b[i], want[i]);
}

/* Two matrices written out by hand from docs/SPARSE.md: one where 4-bit gaps
 * win (with a filler), one where 8-bit gaps win. */
static void test_golden(void **state) {
    (void)state;
    float w4[40] = {0};
    for (int i = 0; i < 10; i++) w4[i] = 1.0f;
    w4[30] = 2.0f; /* gap 20 from col 9: one filler (col 25), then gap 4 */
    mn_store *s = make(w4, 1, 40);
    unsigned char *b;
    size_t len;
    assert_int_equal(mn_st_csr.serialize(s, &b, &len), MN_OK);
    unsigned char want[78] = {4, 0, 0, 0, 1, 0, 0, 0, 40, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0};
    for (int i = 0; i < 10; i++) put32(want + 24 + 4 * i, 0x3f800000u);
    put32(want + 24 + 40, 0);           /* the filler */
    put32(want + 24 + 44, 0x40000000u); /* 2.0 */
    want[72 + 5] = 0x4f;                /* entries 10 (15) and 11 (4); 0..9 are gap 0 */
    check_bytes(b, len, want, sizeof want);
    assert_int_equal(mn_st_csr.bytes(s), len);
    assert_int_equal(mn_csr_file_bytes(w4, 1, 40), len);
    free(b);
    mn_store_free(s);

    float w8[40] = {0};
    w8[0] = 1.0f, w8[3] = 2.0f, w8[19] = 3.0f, w8[20 + 17] = -1.5f;
    s = make(w8, 2, 20);
    assert_int_equal(mn_st_csr.serialize(s, &b, &len), MN_OK);
    /* 4-bit: row 1 needs a filler, 5 entries, 51 bytes; 8-bit: 4 entries, 48. */
    unsigned char want8[48] = {8, 0, 0, 0, 2, 0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0};
    put32(want8 + 28, 0x3f800000u);
    put32(want8 + 32, 0x40000000u);
    put32(want8 + 36, 0x40400000u);
    put32(want8 + 40, 0xbfc00000u);
    want8[44] = 0, want8[45] = 2, want8[46] = 15, want8[47] = 17;
    check_bytes(b, len, want8, sizeof want8);
    assert_int_equal(mn_csr_file_bytes(w8, 2, 20), 48);
    free(b);
    mn_store_free(s);
}

/* Round trips at many shapes and densities, including gaps long enough to
 * need several fillers at either width; bytes() is the serialized size. */
static void test_round_trip(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 11);
    const int shapes[][2] = {{1, 1}, {3, 1}, {1, 1000}, {7, 300}, {33, 17}, {300, 784}};
    const double dens[] = {0, 0.003, 0.01, 0.08, 0.5, 1};
    int saw4 = 0, saw8 = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t di = 0; di < sizeof dens / sizeof dens[0]; di++) {
            int rows = shapes[si][0], cols = shapes[si][1];
            float *w = rand_sparse(&r, rows, cols, dens[di]);
            if (rows == 1 && cols == 1000) w[999] = 0.5f; /* one long gap */
            mn_store *s = make(w, rows, cols);
            const mn_csr *m = csr_of(s);
            int64_t nz = 0;
            for (int64_t i = 0; i < (int64_t)rows * cols; i++) nz += w[i] != 0;
            assert_int_equal(m->nnz, nz);
            /* The row kernel's tail reads up to 7 entries past the last row. */
            for (int j = 0; j < MN_CSR_SLACK; j++) assert_true(m->col[nz + j] == 0 && m->val[nz + j] == 0);
            saw4 |= m->bits == 4, saw8 |= m->bits == 8;
            unsigned char *b;
            size_t len;
            assert_int_equal(mn_st_csr.serialize(s, &b, &len), MN_OK);
            assert_int_equal(len, mn_st_csr.bytes(s));
            assert_int_equal(len, mn_csr_file_bytes(w, rows, cols));
            mn_store *t;
            assert_int_equal(deser(b, len, rows, cols, &t), MN_OK);
            float *d = malloc(sizeof(float) * (size_t)rows * cols);
            mn_st_csr.decode(t, d);
            assert_memory_equal(d, w, sizeof(float) * (size_t)rows * cols);
            assert_int_equal(mn_st_csr.bytes(t), len);
            mn_store *c;
            assert_int_equal(mn_store_clone(t, &c), MN_OK);
            mn_st_csr.decode(c, d);
            assert_memory_equal(d, w, sizeof(float) * (size_t)rows * cols);
            free(d);
            free(b);
            mn_store_free(c);
            mn_store_free(t);
            mn_store_free(s);
            free(w);
        }
    assert_true(saw4 && saw8);
    /* Non-finite weights are refused. */
    float bad[3] = {1, NAN, 0};
    mn_store *s = NULL;
    assert_int_equal(mn_csr_from_dense(bad, 1, 3, &s), MN_EARG);
    assert_null(s);
}

/* A valid buffer of a 5 x 37 matrix with wide gaps, 4-bit. */
static void small_buf(unsigned char **b, size_t *len, int *bits) {
    mn_rng r;
    mn_rng_seed(&r, 5);
    float *w = rand_sparse(&r, 5, 37, 0.25);
    w[2 * 37 + 36] = 1.25f;
    mn_store *s = make(w, 5, 37);
    *bits = csr_of(s)->bits;
    assert_int_equal(mn_st_csr.serialize(s, b, len), MN_OK);
    mn_store_free(s);
    free(w);
}

static void expect_bad(unsigned char *b, size_t len, const char *part) {
    mn_store *s;
    mn_status st = deser(b, len, 5, 37, &s);
    if (st != MN_EFORMAT || !strstr(mn_errmsg(), part))
        fail_msg("expected EFORMAT '%s', got %s: %s", part, mn_status_name(st), mn_errmsg());
}

static void test_hostile(void **state) {
    (void)state;
    unsigned char *b;
    size_t len;
    int bits;
    small_buf(&b, &len, &bits);
    assert_int_equal(bits, 4);
    mn_store *s;
    /* Every truncation, and one byte too many. */
    for (size_t l = 0; l < len; l++) assert_int_equal(deser(b, l, 5, 37, &s), MN_EFORMAT);
    unsigned char *big = calloc(1, len + 1);
    memcpy(big, b, len);
    assert_int_equal(deser(big, len + 1, 5, 37, &s), MN_EFORMAT);
    free(big);
    /* The wrong shape for this weight. */
    assert_int_equal(deser(b, len, 5, 36, &s), MN_EFORMAT);
    assert_int_equal(deser(b, len, 4, 37, &s), MN_EFORMAT);
    /* Every single-bit flip: valid or EFORMAT, never a crash; what loads
     * decodes to finite values. */
    float d[5 * 37];
    for (size_t i = 0; i < len; i++)
        for (int k = 0; k < 8; k++) {
            b[i] ^= (unsigned char)(1u << k);
            mn_status st = deser(b, len, 5, 37, &s);
            if (st == MN_OK) {
                mn_st_csr.decode(s, d);
                for (int j = 0; j < 5 * 37; j++) assert_true(isfinite(d[j]));
                mn_store_free(s);
            } else {
                assert_int_equal(st, MN_EFORMAT);
            }
            b[i] ^= (unsigned char)(1u << k);
        }
    /* Crafted: each check by name. */
    unsigned char *c = malloc(len);
    uint32_t E = (uint32_t)b[12] | (uint32_t)b[13] << 8;
    size_t rp = 16, val = rp + 4 * 6, gap = val + 4 * (size_t)E;
#define CRAFT(edit, msg) do { memcpy(c, b, len); edit; expect_bad(c, len, msg); } while (0)
    CRAFT(c[0] = 5, "index width");
    CRAFT(c[2] = 1, "reserved");
    CRAFT(put32(c + 4, 6), "stored shape");
    CRAFT(put32(c + 12, E + 1), "needs");
    CRAFT(put32(c + rp, 1), "first row pointer");
    CRAFT(put32(c + rp + 20, E - 1), "last row pointer");
    CRAFT((put32(c + rp + 8, E), put32(c + rp + 12, 0)), "decrease");
    CRAFT(put32(c + val, 0x7fc00000u), "non-finite");
    CRAFT(put32(c + val + 4, 0x7f800000u), "non-finite");
    CRAFT((memset(c + gap, 0xff, len - gap), c[len - 1] &= (E & 1) ? 0x0f : 0xff), "column index past");
    if (E & 1) CRAFT(c[len - 1] |= 0x10, "nibble");
#undef CRAFT
    /* A row pointer past the entries cannot reach the entry arrays. */
    memcpy(c, b, len);
    put32(c + rp + 4, 0xffffffffu);
    assert_int_equal(deser(c, len, 5, 37, &s), MN_EFORMAT);
    free(c);
    free(b);
}

/* ---- kernels ------------------------------------------------------------- */

/* y[b, r] += sum_c x[b, c] W[r, c] in double; mag = sum |x W| bounds the
 * float rounding any summation order can make. */
static void exact_xwt(const float *w, int rows, int cols, const float *x, int batch, const float *y0,
                      double *y, double *mag) {
    for (int b = 0; b < batch; b++)
        for (int r = 0; r < rows; r++) {
            double s = y0[(int64_t)b * rows + r], a = fabs(s);
            for (int c = 0; c < cols; c++) {
                double p = (double)w[(int64_t)r * cols + c] * x[(int64_t)b * cols + c];
                s += p, a += fabs(p);
            }
            y[(int64_t)b * rows + r] = s, mag[(int64_t)b * rows + r] = a;
        }
}

static void check_close(const float *got, const double *want, const double *mag, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 2e-6 * mag[i] + 1e-30))
            fail_msg("%s: element %lld is %.9g, expected %.9g (scale %.3g)", what, (long long)i, got[i], want[i], mag[i]);
}

static void test_xwt(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 3);
    const int shapes[][2] = {{1, 1}, {7, 5}, {33, 17}, {19, 784}, {100, 300}, {10, 1100}, {5, 2500}};
    const double dens[] = {0, 0.01, 0.08, 0.5, 1};
    const int batches[] = {1, 2, 7, 16, 17, 64, 69};
    int best = mn_sparse_best_isa();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t di = 0; di < sizeof dens / sizeof dens[0]; di++) {
            int rows = shapes[si][0], cols = shapes[si][1];
            float *w = rand_sparse(&r, rows, cols, dens[di]);
            mn_store *s = make(w, rows, cols);
            for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                int batch = batches[bi];
                int64_t ny = (int64_t)batch * rows;
                float *x = rand_vec(&r, (int64_t)batch * cols), *y0 = rand_vec(&r, ny);
                float *y = malloc(sizeof(float) * (size_t)ny), *yref = malloc(sizeof(float) * (size_t)ny);
                double *want = malloc(sizeof(double) * (size_t)ny), *mag = malloc(sizeof(double) * (size_t)ny);
                exact_xwt(w, rows, cols, x, batch, y0, want, mag);
                memcpy(yref, y0, sizeof(float) * (size_t)ny);
                mn_csr_xwt_ref(csr_of(s), x, batch, yref);
                char what[96];
                snprintf(what, sizeof what, "xwt ref %dx%d d=%g batch %d", rows, cols, dens[di], batch);
                check_close(yref, want, mag, ny, what);
                for (int isa = 0; isa <= best; isa++) {
                    memcpy(y, y0, sizeof(float) * (size_t)ny);
                    mn_csr_xwt_isa((mn_sparse_isa)isa, csr_of(s), x, batch, y);
                    snprintf(what, sizeof what, "xwt isa %d %dx%d d=%g batch %d", isa, rows, cols, dens[di], batch);
                    check_close(y, want, mag, ny, what);
                    /* The fast path against its _ref twin, tighter. */
                    for (int64_t i = 0; i < ny; i++)
                        assert_true(fabsf(y[i] - yref[i]) <= 1e-6 * mag[i] + 1e-30);
                }
                memcpy(y, y0, sizeof(float) * (size_t)ny);
                mn_st_csr.xwt(s, x, batch, y, NULL); /* the traits entry = the dispatcher */
                check_close(y, want, mag, ny, "xwt via traits");
                free(x), free(y0), free(y), free(yref), free(want), free(mag);
            }
            mn_store_free(s);
            free(w);
        }
}

static void test_wb(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 4);
    /* 3 x 4200: too many inputs for the stack panels (the direct paths). */
    const int shapes[][2] = {{1, 1}, {6, 25}, {20, 25}, {50, 500}, {17, 33}, {3, 4200}};
    const double dens[] = {0, 0.01, 0.08, 0.5, 1};
    const int ns[] = {1, 7, 16, 64, 127, 128, 200, 333};
    int best = mn_sparse_best_isa();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t di = 0; di < sizeof dens / sizeof dens[0]; di++) {
            int rows = shapes[si][0], cols = shapes[si][1];
            float *w = rand_sparse(&r, rows, cols, dens[di]);
            mn_store *s = make(w, rows, cols);
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                int n = ns[ni];
                int64_t ldb = n + 3, ldc = n + 5, nc = rows * ldc;
                float *B = rand_vec(&r, cols * ldb), *C = malloc(sizeof(float) * (size_t)nc);
                double *want = calloc((size_t)nc, sizeof(double)), *mag = calloc((size_t)nc, sizeof(double));
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < n; j++)
                        for (int c = 0; c < cols; c++) {
                            double p = (double)w[(int64_t)i * cols + c] * B[c * ldb + j];
                            want[i * ldc + j] += p, mag[i * ldc + j] += fabs(p);
                        }
                for (int isa = -1; isa <= best; isa++) {
                    for (int64_t i = 0; i < nc; i++) C[i] = 1e30f; /* unwritten shows */
                    if (isa < 0) mn_csr_wb_ref(csr_of(s), B, n, ldb, C, ldc);
                    else mn_csr_wb_isa((mn_sparse_isa)isa, csr_of(s), B, n, ldb, C, ldc);
                    for (int i = 0; i < rows; i++) {
                        char what[96];
                        snprintf(what, sizeof what, "wb isa %d %dx%d d=%g n %d row %d", isa, rows, cols, dens[di], n, i);
                        check_close(C + i * ldc, want + i * ldc, mag + i * ldc, n, what);
                        for (int64_t j = n; j < ldc; j++) assert_true(C[i * ldc + j] == 1e30f); /* padding kept */
                    }
                }
                free(B), free(C), free(want), free(mag);
            }
            mn_store_free(s);
            free(w);
        }
}

/* Large calls split across threads give the reference's results. */
static void test_threads(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 8);
    mn_set_threads(2);
    const int cases[][4] = {{1200, 1200, 1, 0}, {300, 784, 69, 0}, {50, 500, 333, 1}}; /* rows, cols, batch|n, wb */
    for (int ci = 0; ci < 3; ci++) {
        int rows = cases[ci][0], cols = cases[ci][1], bn = cases[ci][2], wb = cases[ci][3];
        float *w = rand_sparse(&r, rows, cols, 0.2);
        mn_store *s = make(w, rows, cols);
        int64_t nx = (int64_t)bn * cols, ny = (int64_t)bn * rows;
        float *x = rand_vec(&r, nx), *y = calloc((size_t)ny, sizeof(float)), *yr = calloc((size_t)ny, sizeof(float));
        for (int isa = 0; isa <= (int)mn_sparse_best_isa(); isa++) {
            memset(y, 0, sizeof(float) * (size_t)ny);
            memset(yr, 0, sizeof(float) * (size_t)ny);
            if (wb) {
                mn_csr_wb_ref(csr_of(s), x, bn, bn, yr, bn);
                mn_csr_wb_isa((mn_sparse_isa)isa, csr_of(s), x, bn, bn, y, bn);
            } else {
                mn_csr_xwt_ref(csr_of(s), x, bn, yr);
                mn_csr_xwt_isa((mn_sparse_isa)isa, csr_of(s), x, bn, y);
            }
            float m = 0;
            for (int64_t i = 0; i < ny; i++) m = fmaxf(m, fabsf(yr[i]));
            assert_true(tu_maxdiff(y, yr, (size_t)ny) <= 1e-5f * m);
        }
        free(x), free(y), free(yr), free(w);
        mn_store_free(s);
    }
    mn_set_threads(1);
}

/* Batch 1 over the active inputs (sparse_csc.c): every path against the
 * reference and exact products, for inputs with no, half and all entries
 * zero and with a constant non-zero baseline (a normalised background
 * pixel), at bases that do and do not match the input; the dispatcher
 * (which picks the base and the path) must agree too.  The column copy
 * must hold the same nonzeros as the rows. */
enum { X_DENSE, X_HALF_ZERO, X_ALL_ZERO, X_BASELINE, X__COUNT };

static float *make_x(mn_rng *r, int cols, int kind, float c) {
    float *x = rand_vec(r, cols);
    for (int i = 0; i < cols; i++) {
        if (kind == X_ALL_ZERO || (kind == X_HALF_ZERO && mn_rng_uniform(r) < 0.5)) x[i] = 0;
        if (kind == X_BASELINE && mn_rng_uniform(r) < 0.8) x[i] = c;
    }
    if (kind == X_BASELINE) x[0] = x[cols / 2] = c; /* the corners pick_base samples */
    return x;
}

static void check_csc(const mn_csr *m, const float *w) {
    assert_int_equal(m->colptr[0], 0);
    assert_int_equal(m->colptr[m->cols], (uint32_t)m->nnz);
    for (int c = 0; c < m->cols; c++)
        for (uint32_t k = m->colptr[c]; k < m->colptr[c + 1]; k++) {
            assert_true(k == m->colptr[c] || m->crow[k] > m->crow[k - 1]);
            assert_true(m->cval[k] == w[(int64_t)m->crow[k] * m->cols + c]);
        }
    for (int r = 0; r < m->rows; r++) {
        double s = 0;
        for (int c = 0; c < m->cols; c++) s += w[(int64_t)r * m->cols + c];
        assert_true(m->rowsum[r] == (float)s);
    }
}

static void test_xv(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 12);
    /* 5 x 2500: more inputs than the AVX-512 path lists at once (1024). */
    const int shapes[][2] = {{1, 1}, {7, 5}, {33, 17}, {19, 784}, {100, 300}, {300, 784}, {10, 1100}, {5, 2500}};
    const double dens[] = {0, 0.01, 0.08, 0.5, 1};
    const float c = -0.4242f; /* (0 - 0.1307) / 0.3081, MNIST's zero pixel */
    int best = mn_sparse_best_isa();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t di = 0; di < sizeof dens / sizeof dens[0]; di++) {
            int rows = shapes[si][0], cols = shapes[si][1];
            float *w = rand_sparse(&r, rows, cols, dens[di]);
            mn_store *s = make(w, rows, cols);
            check_csc(csr_of(s), w);
            double *wabs = calloc((size_t)rows, sizeof(double)), *tol = malloc(sizeof(double) * (size_t)rows);
            for (int i = 0; i < rows; i++)
                for (int c2 = 0; c2 < cols; c2++) wabs[i] += fabs(w[(int64_t)i * cols + c2]);
            for (int kind = 0; kind < X__COUNT; kind++) {
                float *x = make_x(&r, cols, kind, c), *y0 = rand_vec(&r, rows);
                float *y = malloc(sizeof(float) * (size_t)rows);
                double *want = malloc(sizeof(double) * (size_t)rows), *mag = malloc(sizeof(double) * (size_t)rows);
                exact_xwt(w, rows, cols, x, 1, y0, want, mag);
                int nbase = 0;
                for (int c2 = 0; c2 < cols; c2++) nbase += x[c2] == c;
                /* pick_base finds the baseline the input has. */
                float base;
                int act = mn_csr_pick_base(x, cols, &base);
                if (kind == X_ALL_ZERO) assert_true(base == 0 && act == 0);
                if (kind == X_BASELINE && cols >= 5) assert_true(base == c && act == cols - nbase);
                if (kind == X_HALF_ZERO && cols >= 17) assert_true(base == 0);
                /* Any base is exact: 0, the input's baseline, and one no input has
                 * (every input then active).  The tolerance also covers rounding
                 * in base * rowsum, ~|base| sum_c |W[r, c]|. */
                const float bases[] = {0, c, 0.75f};
                for (int bi = 0; bi < 3; bi++) {
                    for (int i = 0; i < rows; i++) tol[i] = mag[i] + 2 * fabs(bases[bi]) * wabs[i];
                    for (int isa = -1; isa <= best; isa++) {
                        memcpy(y, y0, sizeof(float) * (size_t)rows);
                        if (isa < 0) mn_csr_xv_base_ref(csr_of(s), x, bases[bi], y);
                        else mn_csr_xv_base_isa((mn_sparse_isa)isa, csr_of(s), x, bases[bi], y);
                        char what[112];
                        snprintf(what, sizeof what, "xv isa %d %dx%d d=%g x kind %d base %g", isa, rows, cols, dens[di],
                                 kind, (double)bases[bi]);
                        check_close(y, want, tol, rows, what);
                    }
                }
                /* The dispatcher at batch 1 on every path (it picks base and path). */
                for (int isa = 0; isa <= best; isa++) {
                    memcpy(y, y0, sizeof(float) * (size_t)rows);
                    mn_csr_xwt_isa((mn_sparse_isa)isa, csr_of(s), x, 1, y);
                    char what[96];
                    snprintf(what, sizeof what, "xwt b1 isa %d %dx%d d=%g x kind %d", isa, rows, cols, dens[di], kind);
                    for (int i = 0; i < rows; i++) tol[i] = mag[i] + 2 * fabs(c) * wabs[i];
                    check_close(y, want, tol, rows, what);
                }
                free(x), free(y0), free(y), free(want), free(mag);
            }
            free(wabs), free(tol);
            mn_store_free(s);
            free(w);
        }
}

/* The sliced layout (AVX-512 batch 1) holds exactly W: each nonzero once,
 * in its row's lane, in a slot of its column's block; rows sorted by
 * count; zeros in the padding.  Its product matches the exact one, and it
 * declines (y untouched) an input with a NaN or an infinity. */
static void check_sell(const mn_csr *m, const float *w) {
    const mn_sell *sl = m->sell;
    assert_int_equal(sl->nrb, (m->rows + 15) / 16);
    assert_int_equal(sl->ncb, (m->cols + 31) / 32);
    float *back = calloc((size_t)m->rows * m->cols, sizeof(float));
    char *seen = calloc((size_t)m->rows, 1);
    int64_t lanes = 0;
    for (int rb = 0; rb < sl->nrb; rb++)
        for (int l = 0; l < 16; l++) {
            int r = sl->perm[rb * 16 + l];
            assert_true(r == -1 || (r >= 0 && r < m->rows && !seen[r]));
            assert_true((r == -1) == (rb * 16 + l >= m->rows));
            if (r < 0) continue;
            seen[r] = 1;
            if (rb * 16 + l > 0) {
                int q = sl->perm[rb * 16 + l - 1];
                assert_true(m->rowptr[q + 1] - m->rowptr[q] >= m->rowptr[r + 1] - m->rowptr[r]);
            }
            for (int cb = 0; cb < sl->ncb; cb++)
                for (uint32_t j = sl->tile[rb * sl->ncb + cb]; j < sl->tile[rb * sl->ncb + cb + 1]; j++) {
                    float v = sl->val[(int64_t)j * 16 + l];
                    int c = cb * 32 + sl->idx[(int64_t)j * 16 + l];
                    if (v == 0) continue;
                    assert_true(c < m->cols && back[(int64_t)r * m->cols + c] == 0);
                    back[(int64_t)r * m->cols + c] = v, lanes++;
                }
        }
    assert_int_equal(lanes, m->nnz);
    assert_int_equal(sl->tile[(int64_t)sl->nrb * sl->ncb], (uint32_t)sl->slots);
    assert_memory_equal(back, w, sizeof(float) * (size_t)m->rows * m->cols);
    free(back), free(seen);
}

/* n floats ending where an unreadable page starts: a kernel that reads
 * past x faults, which ASan would not see (it does not check the masked
 * vector loads of intrinsics).  Freed with unguard. */
static float *guarded(int n, void **map, size_t *len) {
    long pg = sysconf(_SC_PAGESIZE);
    size_t body = ((size_t)n * sizeof(float) + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
    *len = body + (size_t)pg;
    *map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(*map != MAP_FAILED);
    assert_int_equal(mprotect((char *)*map + body, (size_t)pg, PROT_NONE), 0);
    return (float *)((char *)*map + body) - n;
}

static void test_sell(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 14);
    /* Rows around a slice of 16, columns around a block of 32 (the last
     * block 1, 16, 17 or 32 wide), and LeNet-300's layers. */
    const int shapes[][2] = {{1, 1}, {16, 32}, {17, 33}, {15, 48}, {33, 49}, {10, 100}, {100, 300}, {300, 784}, {40, 1000}};
    const double dens[] = {0.01, 0.08, 0.3, 1};
    int built = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t di = 0; di < sizeof dens / sizeof dens[0]; di++) {
            int rows = shapes[si][0], cols = shapes[si][1];
            float *w = rand_sparse(&r, rows, cols, dens[di]);
            mn_store *s = make(w, rows, cols);
            const mn_csr *m = csr_of(s);
            if (!m->sell) {
                float x1 = 1, y1 = 0;
                if (cols == 1) assert_int_equal(mn_csr_sell_xwt(m, &x1, 1, &y1), 0);
                mn_store_free(s), free(w);
                continue;
            }
            built++;
            assert_true(mn_cpu_features()->avx512f);
            check_sell(m, w);
            /* Batches 1-9: every group size (4 samples a pass, then 1-3). */
            for (int batch = 1; batch <= 9; batch += batch < 5 ? 1 : 3) {
                int64_t nx = (int64_t)batch * cols, ny = (int64_t)batch * rows;
                void *map;
                size_t maplen;
                float *x = guarded((int)nx, &map, &maplen), *y0 = rand_vec(&r, ny);
                float *y = malloc(sizeof(float) * (size_t)ny);
                for (int64_t i = 0; i < nx; i++) x[i] = mn_rng_normal(&r);
                double *want = malloc(sizeof(double) * (size_t)ny), *mag = malloc(sizeof(double) * (size_t)ny);
                exact_xwt(w, rows, cols, x, batch, y0, want, mag);
                memcpy(y, y0, sizeof(float) * (size_t)ny);
                assert_int_equal(mn_csr_sell_xwt(m, x, batch, y), 1);
                char what[64];
                snprintf(what, sizeof what, "sell %dx%d d=%g batch %d", rows, cols, dens[di], batch);
                check_close(y, want, mag, ny, what);
                /* The dispatcher, which runs it up to MN_SPARSE_SELL_MAX_BATCH. */
                memcpy(y, y0, sizeof(float) * (size_t)ny);
                mn_csr_xwt(m, x, batch, y);
                check_close(y, want, mag, ny, what);
                /* A non-finite input anywhere (the last column of the last
                 * sample included): declined, y untouched. */
                const float bad[] = {NAN, INFINITY, -INFINITY};
                for (int bi = 0; bi < 3; bi++) {
                    int64_t at = bi == 2 ? nx - 1 : (int64_t)(mn_rng_uniform(&r) * (double)nx) % nx;
                    float keep = x[at];
                    x[at] = bad[bi];
                    memcpy(y, y0, sizeof(float) * (size_t)ny);
                    assert_int_equal(mn_csr_sell_xwt(m, x, batch, y), 0);
                    assert_memory_equal(y, y0, sizeof(float) * (size_t)ny);
                    x[at] = keep;
                }
                munmap(map, maplen);
                free(y0), free(y), free(want), free(mag);
            }
            mn_store_free(s), free(w);
        }
    /* Where the CPU has AVX-512, LeNet-300-sized layers at 8% get the
     * sliced form; without it (or under MINNOW_NO_SIMD=1) none does. */
    if (mn_cpu_features()->avx512f) assert_true(built >= 4);
    else assert_int_equal(built, 0);
}

/* A NaN or infinite input reaches the output as the row kernel would
 * give it, on the column path too. */
static void test_xv_nonfinite(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 13);
    int rows = 40, cols = 300;
    float *w = rand_sparse(&r, rows, cols, 0.3);
    mn_store *s = make(w, rows, cols);
    float *x = calloc((size_t)cols, sizeof(float));
    /* Mostly zero (the column path), then every input active (the row
     * kernel, whose tail lanes read the next row's columns and must not
     * pick up their NaN or Inf). */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < cols; i++) x[i] = pass ? 0.25f + (float)(i % 5) : 0.0f;
        x[7] = NAN, x[100] = INFINITY, x[200] = 1.5f;
        for (int isa = 0; isa <= (int)mn_sparse_best_isa(); isa++) {
            float y[40] = {0}, yr[40] = {0};
            mn_csr_xwt_ref(csr_of(s), x, 1, yr);
            mn_csr_xwt_isa((mn_sparse_isa)isa, csr_of(s), x, 1, y);
            for (int i = 0; i < rows; i++) {
                if (isnan(yr[i])) assert_true(isnan(y[i]));
                else assert_true(y[i] == yr[i] || fabsf(y[i] - yr[i]) <= 1e-5f * fabsf(yr[i]));
            }
        }
    }
    free(x), free(w);
    mn_store_free(s);
}

/* ---- pruned graphs -------------------------------------------------------- */

/* Zeros the smallest-magnitude fraction `sp` of every dense/conv weight. */
static void magnitude_prune(mn_graph *g, double sp) {
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        if (n->op != MN_OP_DENSE && n->op != MN_OP_CONV) continue;
        int p = n->p[0];
        int64_t cnt = g->params[p].n, k = (int64_t)(sp * (double)cnt);
        float *w = mn_param_data(g, p), *a = malloc(sizeof(float) * (size_t)cnt);
        for (int64_t j = 0; j < cnt; j++) a[j] = fabsf(w[j]);
        /* The k-th smallest magnitude by partial selection (quickselect). */
        int64_t lo = 0, hi = cnt - 1;
        while (lo < hi) {
            float piv = a[(lo + hi) / 2];
            int64_t i0 = lo, j0 = hi;
            while (i0 <= j0) {
                while (a[i0] < piv) i0++;
                while (a[j0] > piv) j0--;
                if (i0 <= j0) { float t = a[i0]; a[i0++] = a[j0]; a[j0--] = t; }
            }
            if (k <= j0) hi = j0; else if (k >= i0) lo = i0; else break;
        }
        float thr = a[k];
        free(a);
        int64_t z = 0;
        for (int64_t j = 0; j < cnt; j++)
            if (fabsf(w[j]) < thr) w[j] = 0, z++;
        assert_true(z >= k - 1 && z <= k + 1); /* random values: no ties */
    }
}

static void rel_close(const float *a, const float *b, int64_t n, double tol) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i]));
    float d = tu_maxdiff(a, b, (size_t)n);
    if (!(d <= tol * m)) fail_msg("max difference %g exceeds %g x max |output| %g", d, tol, m);
}

static int count_csr(const mn_graph *g) {
    int k = 0;
    for (int p = 0; p < g->nparams; p++) k += g->params[p].store && g->params[p].store->kind == MN_ST_CSR;
    return k;
}

/* Runs g at batch b on x and copies the output. */
static float *run(mn_graph *g, const float *x, int batch) {
    assert_int_equal(mn_graph_reserve(g, batch), MN_OK);
    int64_t k = mn_shape_numel(mn_graph_output_shape(g)) * batch;
    float *o = malloc(sizeof(float) * (size_t)k);
    memcpy(o, mn_graph_forward(g, x, batch, 0), sizeof(float) * (size_t)k);
    return o;
}

static void check_pruned(const char *arch, int c, int h, int w, double sp, int want_csr) {
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, arch, c, h, w, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 9);
    mn_graph_init_params(&g, &r);
    magnitude_prune(&g, sp);
    /* Normalised as for MNIST: a zero pixel reaches the first layer as
     * -mean/std, the baseline the batch-1 column path skips. */
    int pm = mn_graph_find_param(&g, "x.mean"), ps = mn_graph_find_param(&g, "x.std");
    assert_true(pm >= 0 && ps >= 0);
    for (int i = 0; i < c; i++) mn_param_data(&g, pm)[i] = 0.1307f, mn_param_data(&g, ps)[i] = 0.3081f;
    const int batches[] = {1, 64};
    float *x = rand_vec(&r, (int64_t)64 * c * h * w), *dense[2], *sparse[2];
    for (int i = 0; i < 2; i++) dense[i] = run(&g, x, batches[i]);
    /* Image-like inputs one at a time: mostly zero pixels, some saturated. */
    enum { NIMG = 6 };
    int64_t isz = (int64_t)c * h * w, osz = mn_shape_numel(mn_graph_output_shape(&g));
    float *img = malloc(sizeof(float) * (size_t)(NIMG * isz)), *dimg[NIMG];
    for (int64_t i = 0; i < NIMG * isz; i++) {
        float u = mn_rng_uniform(&r);
        img[i] = u < 0.8f ? 0.0f : u < 0.9f ? 1.0f : mn_rng_uniform(&r);
    }
    for (int i = 0; i < NIMG; i++) dimg[i] = run(&g, img + i * isz, 1);
    unsigned char *fd;
    size_t fdl;
    assert_int_equal(mn_model_save_mem(&g, &fd, &fdl), MN_OK);

    assert_int_equal(mn_graph_sparsify(&g, MN_SPARSE_DEFAULT_DENSITY), MN_OK);
    assert_int_equal(count_csr(&g), want_csr);
    for (int i = 0; i < 2; i++) {
        sparse[i] = run(&g, x, batches[i]);
        rel_close(sparse[i], dense[i], mn_shape_numel(mn_graph_output_shape(&g)) * batches[i], 1e-5);
    }
    float *simg[NIMG];
    for (int i = 0; i < NIMG; i++) {
        simg[i] = run(&g, img + i * isz, 1);
        rel_close(simg[i], dimg[i], osz, 1e-5);
    }
    /* The file keeps the CSR stores and the loaded model runs the same. */
    unsigned char *fs;
    size_t fsl;
    assert_int_equal(mn_model_save_mem(&g, &fs, &fsl), MN_OK);
    mn_graph l;
    assert_int_equal(mn_model_load_mem(fs, fsl, &l), MN_OK);
    assert_int_equal(count_csr(&l), want_csr);
    assert_int_equal(l.nw, g.nw);
    assert_memory_equal(l.w, g.w, sizeof(float) * (size_t)g.nw);
    for (int p = 0; p < g.nparams; p++) assert_int_equal(mn_param_file_bytes(&l, p), mn_param_file_bytes(&g, p));
    for (int i = 0; i < 2; i++) {
        float *o = run(&l, x, batches[i]);
        assert_memory_equal(o, sparse[i], sizeof(float) * (size_t)(mn_shape_numel(mn_graph_output_shape(&g)) * batches[i]));
        free(o);
    }
    for (int i = 0; i < NIMG; i++) {
        float *o = run(&l, img + i * isz, 1);
        assert_memory_equal(o, simg[i], sizeof(float) * (size_t)osz);
        free(o), free(simg[i]), free(dimg[i]);
    }
    free(img);
    if (sp >= 0.9) assert_true(fsl * 6 <= fdl); /* Deep Compression's pruning-only ratio is ~10x */
    /* A density cap below every layer's density puts everything back to f32. */
    assert_int_equal(mn_graph_sparsify(&l, 0.0f), MN_OK);
    assert_int_equal(count_csr(&l), 0);
    float *o = run(&l, x, 1);
    rel_close(o, dense[0], mn_shape_numel(mn_graph_output_shape(&g)), 1e-5);
    free(o);
    mn_graph_free(&l);
    for (int i = 0; i < 2; i++) free(dense[i]), free(sparse[i]);
    free(fd), free(fs), free(x);
    mn_graph_free(&g);
}

static void test_pruned_lenet300(void **state) {
    (void)state;
    check_pruned("lenet300", 1, 28, 28, 0.92, 3);
}

static void test_pruned_lenet5(void **state) {
    (void)state;
    check_pruned("lenet5", 1, 28, 28, 0.9, 4);
}

/* Density cap and size rule: a layer denser than the cap, or whose CSR form
 * would not be smaller, stays f32; a bad cap is an argument error. */
static void test_sparsify_rules(void **state) {
    (void)state;
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, "lenet300", 1, 28, 28, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 2);
    mn_graph_init_params(&g, &r);
    magnitude_prune(&g, 0.92);
    int fc3 = mn_graph_find_param(&g, "fc3.weight");
    assert_true(fc3 >= 0);
    /* fc3 back to fully dense. */
    mn_rng_seed(&r, 3);
    float *w = mn_param_data(&g, fc3);
    for (int64_t i = 0; i < g.params[fc3].n; i++) w[i] = 0.01f + mn_rng_uniform(&r);
    assert_int_equal(mn_graph_sparsify(&g, 1.0f), MN_OK); /* density ok, but CSR would be larger */
    assert_int_equal(count_csr(&g), 2);
    assert_null(g.params[fc3].store);
    assert_true(mn_param_file_bytes(&g, 0) > 0);
    assert_int_equal(mn_graph_sparsify(&g, 0.05f), MN_OK); /* below 8%: none */
    assert_int_equal(count_csr(&g), 0);
    assert_int_equal(mn_graph_sparsify(&g, 1.5f), MN_EARG);
    assert_int_equal(mn_graph_sparsify(&g, NAN), MN_EARG);
    mn_graph_free(&g);
}

/* `minnow info --json` on a pruned file names the storage per layer. */
static void test_info_cli(void **state) {
    (void)state;
    const char *bin = getenv("MINNOW_BIN");
    if (!bin) skip();
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, "lenet300", 1, 28, 28, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 1);
    mn_graph_init_params(&g, &r);
    magnitude_prune(&g, 0.92);
    assert_int_equal(mn_graph_sparsify(&g, MN_SPARSE_DEFAULT_DENSITY), MN_OK);
    char path[600], cmd[1400], out[8192];
    snprintf(path, sizeof path, "%s/pruned.mnw", tu_tmpdir());
    assert_int_equal(mn_model_save(&g, path), MN_OK);
    /* Leak checks are this process's job: the CLI keeps its parsed options
     * (cli_parse) for the life of the process, which LSan would report. */
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=0 '%s' info '%s' --json", bin, path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    assert_int_equal(pclose(f), 0);
    char want[128];
    snprintf(want, sizeof want, "\"bytes\":%zu", mn_param_file_bytes(&g, mn_graph_find_param(&g, "fc1.weight")) +
                                                mn_param_file_bytes(&g, mn_graph_find_param(&g, "fc1.bias")));
    assert_non_null(strstr(out, "\"storage\":\"csr\""));
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "\"density\":0.08"));
    mn_graph_free(&g);
}

static int run_suite(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_xwt),
        cmocka_unit_test(test_wb),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_xv),
        cmocka_unit_test(test_xv_nonfinite),
        cmocka_unit_test(test_sell),
        cmocka_unit_test(test_pruned_lenet300),
        cmocka_unit_test(test_pruned_lenet5),
        cmocka_unit_test(test_sparsify_rules),
        cmocka_unit_test(test_info_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The suite runs on the best path this CPU has, then again in a child with
 * MINNOW_NO_SIMD=1, where the dispatcher must pick the portable kernels. */
int main(int argc, char **argv) {
    (void)argc;
    const char *no = getenv("MINNOW_NO_SIMD");
    if (no && *no && strcmp(no, "0") != 0) {
        if (mn_sparse_best_isa() != MN_SPARSE_PORTABLE) { fprintf(stderr, "MINNOW_NO_SIMD=1 left SIMD on\n"); return 1; }
        return run_suite();
    }
    /* MINNOW_NO_SIMD=0: this half only (under valgrind, /proc/self/exe is
     * valgrind itself, so scripts/valgrind.sh runs the two halves). */
    if (no) return run_suite();
    int rc = run_suite();
    if (rc) return rc;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        setenv("MINNOW_NO_SIMD", "1", 1);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int ws;
    if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws)) return 1;
    return WEXITSTATUS(ws);
}
