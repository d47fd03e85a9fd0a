/* k-means weight sharing and the codebook store: k-means itself, the store's
 * file form (round trips, hostile input), its kernels against the reference
 * and the decoded weights, and sharing + fine-tuning on a small graph. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/cluster.h"
#include "minnow/io.h"
#include "minnow/train.h"
#include "testutil.h"
#include "kernels/codebook.h"
#include "store/codebook.h"
#include "store/store.h"

static void test_kmeans_1d(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 1);
    float x[3000], c[3];
    uint8_t a[3000];
    const float mu[3] = {-1.0f, 0.5f, 2.0f};
    for (int i = 0; i < 3000; i++) x[i] = mu[i % 3] + 0.05f * mn_rng_normal(&r);
    assert_int_equal(mn_kmeans_1d(x, 3000, 3, 100, c, a), MN_OK);
    for (int j = 0; j < 3; j++) assert_true(fabsf(c[j] - mu[j]) < 0.02f);
    for (int i = 0; i < 3000; i++) assert_int_equal(a[i], i % 3);
    /* every value goes to its nearest centroid */
    float c8[8];
    uint8_t a8[3000];
    assert_int_equal(mn_kmeans_1d(x, 3000, 8, 30, c8, a8), MN_OK);
    for (int j = 1; j < 8; j++) assert_true(c8[j] >= c8[j - 1]);
    for (int i = 0; i < 3000; i++)
        for (int j = 0; j < 8; j++) assert_true(fabsf(x[i] - c8[a8[i]]) <= fabsf(x[i] - c8[j]) + 1e-6f);
    /* degenerate inputs */
    float one = 0.25f, cz[4];
    assert_int_equal(mn_kmeans_1d(&one, 1, 4, 10, cz, a), MN_OK);
    assert_true(cz[a[0]] == 0.25f);
    assert_int_equal(mn_kmeans_1d(x, 0, 4, 10, cz, NULL), MN_OK);
    assert_int_equal(mn_kmeans_1d(x, 10, 0, 10, cz, NULL), MN_EARG);
    float bad = NAN;
    assert_int_equal(mn_kmeans_1d(&bad, 1, 2, 10, cz, NULL), MN_EARG);
}

/* A rows x cols matrix of values drawn from k random centroids, each weight
 * kept with probability density (else 0).  zero_in_cb puts 0 in the book. */
static void make_matrix(mn_rng *r, int rows, int cols, int k, float density, int zero_in_cb,
                        float *cb, float *w) {
    for (int j = 0; j < k; j++) cb[j] = mn_rng_normal(r) * 0.3f + (j == 0 ? 0.01f : 0);
    if (zero_in_cb) cb[k - 1] = 0.0f;
    for (int i = 0; i < rows * cols; i++)
        w[i] = mn_rng_uniform(r) < density ? cb[mn_rng_below(r, (uint32_t)(zero_in_cb ? k - 1 : k))] : 0.0f;
}

static void check_store(const mn_store *s, const float *w, int rows, int cols) {
    const mn_store_traits *t = mn_store_traits_of(MN_ST_CODEBOOK);
    float *d = malloc(sizeof(float) * (size_t)rows * cols);
    t->decode(s, d);
    assert_memory_equal(d, w, sizeof(float) * (size_t)rows * cols);
    unsigned char *buf, *buf2;
    size_t len, len2;
    assert_int_equal(t->serialize(s, &buf, &len), MN_OK);
    assert_int_equal(len, t->bytes(s));
    mn_store s2 = {0};
    assert_int_equal(t->deserialize(buf, len, rows, cols, &s2), MN_OK);
    memset(d, 0xff, sizeof(float) * (size_t)rows * cols);
    t->decode(&s2, d);
    assert_memory_equal(d, w, sizeof(float) * (size_t)rows * cols);
    assert_int_equal(t->serialize(&s2, &buf2, &len2), MN_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    t->free(&s2);
    free(buf);
    free(buf2);
    free(d);
}

static void test_store_roundtrip(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 2);
    const float dens[] = {0.0f, 0.01f, 0.08f, 0.5f, 1.0f};
    const int bitss[] = {1, 2, 5, 8};
    int rows = 17, cols = 45;
    float w[17 * 45], cb[256];
    for (size_t di = 0; di < 5; di++)
        for (size_t bi = 0; bi < 4; bi++)
            for (int zc = 0; zc < 2; zc++)
                for (int huff = 0; huff < 2; huff++) {
                    int k = 1 << bitss[bi];
                    if (zc && k < 2) continue;
                    make_matrix(&r, rows, cols, k, dens[di], zc, cb, w);
                    mn_store *s;
                    assert_int_equal(mn_codebook_new(w, rows, cols, cb, k, bitss[bi], huff, &s), MN_OK);
                    mn_codebook_info info;
                    assert_int_equal(mn_codebook_info_of(s, &info), MN_OK);
                    /* no zero in the book and zeros present: must be sparse */
                    if (!zc && dens[di] < 1.0f) assert_true(info.sparse);
                    if (info.sparse) {
                        int64_t nz = 0;
                        for (int i = 0; i < rows * cols; i++) nz += w[i] != 0;
                        assert_int_equal(info.entries, nz);
                    }
                    assert_int_equal(info.bytes, 16 + 4 * (size_t)k + info.index_bytes + info.gap_bytes);
                    check_store(s, w, rows, cols);
                    mn_store *h;
                    assert_int_equal(mn_codebook_recode(s, !huff, &h), MN_OK);
                    check_store(h, w, rows, cols);
                    mn_store_free(h);
                    mn_store_free(s);
                }
    /* a value outside the book is refused */
    make_matrix(&r, rows, cols, 4, 1.0f, 0, cb, w);
    w[5] = 123.0f;
    mn_store *s;
    assert_int_equal(mn_codebook_new(w, rows, cols, cb, 4, 2, 0, &s), MN_EARG);
    assert_int_equal(mn_codebook_new(w, rows, cols, cb, 5, 2, 0, &s), MN_EARG);
}

static void test_sparse_is_small(void **state) {
    (void)state;
    /* 8% density, 5 bits: far below 4 bytes per weight, and Huffman helps a
     * skewed index distribution. */
    mn_rng r;
    mn_rng_seed(&r, 3);
    int rows = 300, cols = 784;
    float *w = calloc((size_t)rows * cols, sizeof *w), cb[32];
    for (int j = 0; j < 32; j++) cb[j] = (j - 15.5f) * 0.01f;
    for (int i = 0; i < rows * cols; i++)
        if (mn_rng_uniform(&r) < 0.08f) {
            int j = 16 + (int)(mn_rng_normal(&r) * 3);
            w[i] = cb[j < 0 ? 0 : j > 31 ? 31 : j];
        }
    mn_store *p, *h;
    assert_int_equal(mn_codebook_new(w, rows, cols, cb, 32, 5, 0, &p), MN_OK);
    assert_int_equal(mn_codebook_new(w, rows, cols, cb, 32, 5, 1, &h), MN_OK);
    mn_codebook_info ip, ih;
    mn_codebook_info_of(p, &ip);
    mn_codebook_info_of(h, &ih);
    assert_true(ip.sparse && ih.sparse);
    assert_true(ih.huff_index);
    assert_true(ih.bytes < ip.bytes);
    assert_true(ip.bytes * 12 < (size_t)rows * cols * 4);
    check_store(h, w, rows, cols);
    mn_store_free(p);
    mn_store_free(h);
    free(w);
}

static float rel_err(const float *a, const float *b, size_t n) {
    float m = 0, s = 1e-6f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m) m = d;
        if (fabsf(b[i]) > s) s = fabsf(b[i]);
    }
    return m / s;
}

static void test_kernels(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 4);
    const float dens[] = {0.0f, 0.01f, 0.08f, 0.5f, 1.0f};
    const int bitss[] = {2, 5, 6, 8};
    const int shapes[][2] = {{1, 1}, {7, 33}, {31, 300}, {64, 17}, {5, 2100}}; /* 2100: column chunks */
    const int batches[] = {1, 3, 17};
    const int ns[] = {1, 13, 64, 77, 130};
    for (size_t si = 0; si < 5; si++)
        for (size_t di = 0; di < 5; di++)
            for (size_t bi = 0; bi < 4; bi++)
                for (int zc = 0; zc < 2; zc++) {
                    int rows = shapes[si][0], cols = shapes[si][1], k = 1 << bitss[bi];
                    float *w = malloc(sizeof(float) * (size_t)rows * cols), cb[256];
                    make_matrix(&r, rows, cols, k, dens[di], zc, cb, w);
                    mn_store *s;
                    assert_int_equal(mn_codebook_new(w, rows, cols, cb, k, bitss[bi], (int)(di & 1), &s), MN_OK);
                    for (size_t bt = 0; bt < 3; bt++) {
                        int batch = batches[bt];
                        float *x = malloc(sizeof(float) * (size_t)batch * cols);
                        float *y0 = malloc(sizeof(float) * (size_t)batch * rows), *want = malloc(sizeof(float) * (size_t)batch * rows);
                        float *y = malloc(sizeof(float) * (size_t)batch * rows);
                        for (int i = 0; i < batch * cols; i++) x[i] = mn_rng_normal(&r);
                        for (int i = 0; i < batch * rows; i++) y0[i] = mn_rng_normal(&r);
                        /* the decoded dense product */
                        for (int b = 0; b < batch; b++)
                            for (int o = 0; o < rows; o++) {
                                double acc = y0[b * rows + o];
                                for (int c = 0; c < cols; c++) acc += (double)x[b * cols + c] * w[o * cols + c];
                                want[b * rows + o] = (float)acc;
                            }
                        memcpy(y, y0, sizeof(float) * (size_t)batch * rows);
                        mn_cb_mat cm = mn_codebook_mat(s); /* the kernels' view of the store */
                        mn_cb_xwt_ref(&cm, x, batch, y);
                        assert_true(rel_err(y, want, (size_t)batch * rows) < 1e-5f);
                        for (int v = 1; v < MN_CB__COUNT; v++) {
                            if (!mn_cb_variant_ok((mn_cb_variant)v)) continue;
                            memcpy(y, y0, sizeof(float) * (size_t)batch * rows);
                            mn_cb_xwt_variant((mn_cb_variant)v, &cm, x, batch, y);
                            assert_true(rel_err(y, want, (size_t)batch * rows) < 1e-5f);
                        }
                        /* through the traits, as the dense op runs it */
                        memcpy(y, y0, sizeof(float) * (size_t)batch * rows);
                        mn_store_traits_of(MN_ST_CODEBOOK)->xwt(s, x, batch, y, NULL);
                        assert_true(rel_err(y, want, (size_t)batch * rows) < 1e-5f);
                        free(x); free(y0); free(want); free(y);
                    }
                    for (size_t ni = 0; ni < 5; ni++) {
                        int n = ns[ni];
                        int64_t ldb = n + 3, ldc = n + 5;
                        float *B = malloc(sizeof(float) * (size_t)cols * ldb);
                        float *C = malloc(sizeof(float) * (size_t)rows * ldc), *want = malloc(sizeof(float) * (size_t)rows * ldc);
                        for (int64_t i = 0; i < cols * ldb; i++) B[i] = mn_rng_normal(&r);
                        for (int o = 0; o < rows; o++)
                            for (int j = 0; j < ldc; j++) {
                                double acc = 0;
                                if (j < n) for (int c = 0; c < cols; c++) acc += (double)w[o * cols + c] * B[c * ldb + j];
                                want[o * ldc + j] = j < n ? (float)acc : -7.0f;
                            }
                        mn_cb_mat cm = mn_codebook_mat(s);
                        for (int v = 0; v < MN_CB__COUNT; v++) {
                            if (!mn_cb_variant_ok((mn_cb_variant)v)) continue;
                            for (int64_t i = 0; i < rows * ldc; i++) C[i] = -7.0f; /* padding must survive */
                            if (v == 0) mn_cb_wb_ref(&cm, B, n, ldb, C, ldc);
                            else mn_cb_wb_variant((mn_cb_variant)v, &cm, B, n, ldb, C, ldc);
                            assert_true(rel_err(C, want, (size_t)rows * ldc) < 1e-5f);
                        }
                        free(B); free(C); free(want);
                    }
                    mn_store_free(s);
                    free(w);
                }
}

static void test_hostile_store(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 5);
    const mn_store_traits *t = mn_store_traits_of(MN_ST_CODEBOOK);
    int rows = 9, cols = 40;
    float w[9 * 40], cb[32], d[9 * 40];
    for (int form = 0; form < 3; form++) {
        make_matrix(&r, rows, cols, 32, form == 2 ? 1.0f : 0.1f, 0, cb, w);
        mn_store *s;
        assert_int_equal(mn_codebook_new(w, rows, cols, cb, 32, 5, form != 0, &s), MN_OK);
        unsigned char *buf;
        size_t len;
        assert_int_equal(t->serialize(s, &buf, &len), MN_OK);
        mn_store x = {0};
        for (size_t l = 0; l < len; l++) assert_int_equal(t->deserialize(buf, l, rows, cols, &x), MN_EFORMAT);
        assert_int_equal(t->deserialize(buf, len, rows + 1, cols, &x) == MN_OK ? 1 : 0, form == 1 || form == 0);
        if (x.impl) { t->free(&x); x.impl = NULL; }
        unsigned char *c = malloc(len + 1);
        memcpy(c, buf, len);
        c[len] = 0;
        assert_int_equal(t->deserialize(c, len + 1, rows, cols, &x), MN_EFORMAT);
        for (int it = 0; it < 4000; it++) {
            memcpy(c, buf, len);
            int flips = 1 + (int)mn_rng_below(&r, 3);
            for (int f = 0; f < flips; f++) c[mn_rng_below(&r, (uint32_t)len)] ^= (unsigned char)(1u << mn_rng_below(&r, 8));
            mn_status st = t->deserialize(c, len, rows, cols, &x);
            assert_true(st == MN_OK || st == MN_EFORMAT);
            if (st == MN_OK) {
                t->decode(&x, d);
                for (int i = 0; i < rows * cols; i++) assert_true(isfinite(d[i]));
                t->free(&x);
                x.impl = NULL;
            }
        }
        free(c);
        free(buf);
        mn_store_free(s);
    }
}

/* A small MLP on synthetic data: 20 features, 4 classes from a linear rule. */
static void synth(mn_dataset *d, int n, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    memset(d, 0, sizeof *d);
    d->n = n; d->c = 20; d->h = d->w = 1; d->nclass = 4;
    d->x = malloc(sizeof(float) * (size_t)n * 20);
    d->y = malloc(sizeof(int32_t) * (size_t)n);
    mn_rng wr;
    mn_rng_seed(&wr, 99);
    float A[4][20];
    for (int k = 0; k < 4; k++) for (int i = 0; i < 20; i++) A[k][i] = mn_rng_normal(&wr);
    for (int s = 0; s < n; s++) {
        float *x = d->x + s * 20, best = -1e30f;
        for (int i = 0; i < 20; i++) x[i] = mn_rng_normal(&r);
        for (int k = 0; k < 4; k++) {
            float z = 0;
            for (int i = 0; i < 20; i++) z += A[k][i] * x[i];
            if (z > best) { best = z; d->y[s] = k; }
        }
    }
}

static void build_mlp(mn_graph *g, const mn_dataset *d) {
    assert_int_equal(mn_arch_build(g, "input x; dense fc1 units=48; relu r1; dense fc2 units=classes", 20, 1, 1, 4), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 1);
    mn_graph_init_params(g, &r);
    assert_int_equal(mn_set_input_norm(g, d), MN_OK);
}

static void prune_half(mn_graph *g, int p) {
    float *w = mn_param_data(g, p);
    for (int64_t i = 0; i < g->params[p].n; i++) if (fabsf(w[i]) < 0.12f) w[i] = 0;
}

static int distinct_nonzero(const mn_graph *g, int p) {
    const float *w = mn_param_data(g, p);
    float seen[512];
    int n = 0;
    for (int64_t i = 0; i < g->params[p].n; i++) {
        if (w[i] == 0) continue;
        int f = 0;
        for (int j = 0; j < n && !f; j++) f = seen[j] == w[i];
        if (!f) { if (n == 512) return n; seen[n++] = w[i]; }
    }
    return n;
}

static void test_share_graph(void **state) {
    (void)state;
    mn_dataset d;
    synth(&d, 200, 7);
    mn_graph g;
    build_mlp(&g, &d);
    int p1 = mn_graph_find_param(&g, "fc1.weight"), p2 = mn_graph_find_param(&g, "fc2.weight");
    prune_half(&g, p1);
    float *before = malloc(sizeof(float) * (size_t)g.params[p1].n);
    memcpy(before, mn_param_data(&g, p1), sizeof(float) * (size_t)g.params[p1].n);
    mn_kmeans_cfg c;
    mn_kmeans_default(&c);
    c.bits = 3;
    c.layer_bits = "fc2=2";
    assert_int_equal(mn_quantize_kmeans(&g, &c, NULL, NULL), MN_OK);
    const float *w1 = mn_param_data(&g, p1);
    for (int64_t i = 0; i < g.params[p1].n; i++) assert_true((before[i] == 0) == (w1[i] == 0));
    assert_true(distinct_nonzero(&g, p1) <= 8);
    assert_true(distinct_nonzero(&g, p1) >= 6);
    assert_true(distinct_nonzero(&g, p2) <= 4);
    assert_non_null(g.params[p1].store);
    assert_int_equal(g.params[p1].store->kind, MN_ST_CODEBOOK);
    assert_int_equal(g.params[p2].store->kind, MN_ST_CODEBOOK);
    /* the codebook kernels give the decoded model's outputs */
    assert_int_equal(mn_graph_reserve(&g, 50), MN_OK);
    float out[50 * 4], ref[50 * 4];
    memcpy(out, mn_graph_forward(&g, d.x, 50, 0), sizeof out);
    mn_graph g2;
    assert_int_equal(mn_graph_clone(&g, &g2), MN_OK);
    mn_graph_drop_stores(&g2);
    assert_int_equal(mn_graph_reserve(&g2, 50), MN_OK);
    memcpy(ref, mn_graph_forward(&g2, d.x, 50, 0), sizeof ref);
    assert_true(rel_err(out, ref, 50 * 4) < 1e-5f);
    /* save/load keeps the stores and the values */
    unsigned char *buf;
    size_t len, dense_len;
    assert_int_equal(mn_model_save_mem(&g, &buf, &len), MN_OK);
    unsigned char *dbuf;
    assert_int_equal(mn_model_save_mem(&g2, &dbuf, &dense_len), MN_OK);
    assert_true(len < dense_len);
    mn_graph g3;
    assert_int_equal(mn_model_load_mem(buf, len, &g3), MN_OK);
    assert_int_equal(g3.params[p1].store->kind, MN_ST_CODEBOOK);
    assert_memory_equal(g3.w, g.w, sizeof(float) * (size_t)g.nw);
    /* Huffman re-coding keeps the values */
    int ns = 0;
    assert_int_equal(mn_graph_codebook_huffman(&g3, 1, &ns), MN_OK);
    assert_int_equal(ns, 2);
    assert_memory_equal(g3.w, g.w, sizeof(float) * (size_t)g.nw);
    free(buf); free(dbuf);
    mn_graph_free(&g3);
    mn_graph_free(&g2);
    /* fc2=0 leaves fc2 alone; bad specs are refused */
    mn_graph_free(&g);
    build_mlp(&g, &d);
    c.layer_bits = "fc2=0";
    assert_int_equal(mn_quantize_kmeans(&g, &c, NULL, NULL), MN_OK);
    assert_null(g.params[p2].store);
    assert_non_null(g.params[p1].store);
    const char *bad[] = {"nope=3", "fc1=9", "fc1", "fc1=x", "=3", "r1=2", "fc1=3,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        c.layer_bits = bad[i];
        mn_status st = mn_quantize_kmeans(&g, &c, NULL, NULL);
        if (i == 6) assert_int_equal(st, MN_OK); /* a trailing comma is harmless */
        else assert_int_equal(st, MN_EARG);
    }
    free(before);
    mn_graph_free(&g);
    mn_dataset_free(&d);
}

static float train_loss(mn_graph *g, const mn_dataset *d) {
    mn_eval_result r;
    assert_int_equal(mn_eval(g, d, 100, &r), MN_OK);
    return r.loss;
}

static void test_finetune(void **state) {
    (void)state;
    mn_dataset d;
    synth(&d, 600, 8);
    mn_graph g;
    build_mlp(&g, &d);
    mn_train_cfg tc;
    mn_train_default(&tc);
    tc.epochs = 6;
    tc.batch = 30;
    assert_int_equal(mn_train(&g, &d, NULL, &tc), MN_OK);
    int p1 = mn_graph_find_param(&g, "fc1.weight"), p2 = mn_graph_find_param(&g, "fc2.weight");
    prune_half(&g, p1);
    mn_graph g0;
    assert_int_equal(mn_graph_clone(&g, &g0), MN_OK);
    mn_kmeans_cfg c;
    mn_kmeans_default(&c);
    c.bits = 2;
    assert_int_equal(mn_quantize_kmeans(&g0, &c, NULL, NULL), MN_OK);
    float l0 = train_loss(&g0, &d);
    c.epochs = 4;
    c.batch = 30;
    c.lr = 1e-3f;
    c.bias_lr = 1e-3f;
    c.huffman = 1;
    float b0 = mn_param_data(&g, mn_graph_find_param(&g, "fc1.bias"))[0];
    assert_int_equal(mn_quantize_kmeans(&g, &c, &d, NULL), MN_OK);
    float l1 = train_loss(&g, &d);
    assert_true(l1 < l0);
    assert_true(mn_param_data(&g, mn_graph_find_param(&g, "fc1.bias"))[0] != b0);
    /* still shared, zeros still zero, stores in place and matching */
    const float *w0 = mn_param_data(&g0, p1), *w1 = mn_param_data(&g, p1);
    for (int64_t i = 0; i < g.params[p1].n; i++) assert_true((w0[i] == 0) == (w1[i] == 0));
    assert_true(distinct_nonzero(&g, p1) <= 4);
    assert_true(distinct_nonzero(&g, p2) <= 4);
    for (int p = 0; p < 2; p++) {
        int pi = p ? p2 : p1;
        assert_non_null(g.params[pi].store);
        float *dec = malloc(sizeof(float) * (size_t)g.params[pi].n);
        mn_store_traits_of(MN_ST_CODEBOOK)->decode(g.params[pi].store, dec);
        assert_memory_equal(dec, mn_param_data(&g, pi), sizeof(float) * (size_t)g.params[pi].n);
        free(dec);
    }
    mn_graph_free(&g0);
    mn_graph_free(&g);
    mn_dataset_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_1d),
        cmocka_unit_test(test_store_roundtrip),
        cmocka_unit_test(test_sparse_is_small),
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_hostile_store),
        cmocka_unit_test(test_share_graph),
        cmocka_unit_test(test_finetune),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
