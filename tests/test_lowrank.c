/* Low-rank factorisation: the SVD against its defining properties and the
 * Eckart-Young bound, LAPACK against the Jacobi twin, the rebuilt graph's
 * shapes and exact equivalence at full rank (dense and conv), errors, the
 * file round trip, the pinned X_a bias, and (with MNIST) accuracy after
 * fine-tuning. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/io.h"
#include "minnow/lowrank.h"
#include "minnow/train.h"
#include "testutil.h"

typedef mn_status (*svd_fn)(const float *, int, int, float *, float *, float *);

static void rand_matrix(float *a, int m, int n, int rank, mn_rng *r) {
    if (rank <= 0) {
        for (int i = 0; i < m * n; i++) a[i] = 2 * mn_rng_uniform(r) - 1;
        return;
    }
    /* A product of m x rank and rank x n factors has rank `rank`. */
    float *x = malloc(sizeof(float) * m * rank), *y = malloc(sizeof(float) * rank * n);
    for (int i = 0; i < m * rank; i++) x[i] = mn_rng_normal(r);
    for (int i = 0; i < rank * n; i++) y[i] = mn_rng_normal(r);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < rank; k++) s += (double)x[i * rank + k] * y[k * n + j];
            a[i * n + j] = (float)s;
        }
    free(x); free(y);
}

/* ||a - U_r S_r Vt_r||_F^2 in double. */
static double trunc_err2(const float *a, int m, int n, const float *s, const float *u,
                         const float *vt, int p, int r) {
    double e = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double x = 0;
            for (int k = 0; k < r; k++) x += (double)u[i * p + k] * s[k] * vt[k * n + j];
            e += (a[i * n + j] - x) * (a[i * n + j] - x);
        }
    return e;
}

static void check_svd(svd_fn f, int m, int n, int rank, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    int p = m < n ? m : n;
    float *a = malloc(sizeof(float) * m * n), *a0 = malloc(sizeof(float) * m * n);
    float *s = malloc(sizeof(float) * p), *u = malloc(sizeof(float) * m * p), *vt = malloc(sizeof(float) * p * n);
    rand_matrix(a, m, n, rank, &r);
    memcpy(a0, a, sizeof(float) * m * n);
    assert_int_equal(f(a, m, n, s, u, vt), MN_OK);
    assert_memory_equal(a, a0, sizeof(float) * m * n); /* input untouched */
    double fro2 = 0;
    for (int i = 0; i < m * n; i++) fro2 += (double)a[i] * a[i];
    for (int i = 0; i < p; i++) {
        assert_true(s[i] >= 0);
        if (i) assert_true(s[i] <= s[i - 1] * (1 + 1e-6f) + 1e-6f);
    }
    /* Orthonormal right singular vectors (rows of vt) where s > 0. */
    int nz = 0;
    for (int i = 0; i < p; i++) nz += s[i] > 1e-4f * s[0];
    for (int i = 0; i < nz; i++)
        for (int j = 0; j < nz; j++) {
            double dv = 0, du = 0;
            for (int k = 0; k < n; k++) dv += (double)vt[i * n + k] * vt[j * n + k];
            for (int k = 0; k < m; k++) du += (double)u[k * p + i] * u[k * p + j];
            assert_true(fabs(dv - (i == j)) < 1e-4);
            assert_true(fabs(du - (i == j)) < 1e-4);
        }
    if (rank > 0) assert_int_equal(nz, rank < p ? rank : p);
    /* Full rank reconstructs a; every truncation loses exactly the
     * discarded squared singular values (Eckart-Young). */
    for (int rr = 0; rr <= p; rr += (p > 8 ? p / 6 : 1)) {
        double tail = 0;
        for (int k = rr; k < p; k++) tail += (double)s[k] * s[k];
        double e = trunc_err2(a, m, n, s, u, vt, p, rr);
        assert_true(fabs(e - tail) <= 1e-5 * fro2 + 1e-9);
    }
    assert_true(trunc_err2(a, m, n, s, u, vt, p, p) <= 1e-9 * fro2 + 1e-12);
    free(a); free(a0); free(s); free(u); free(vt);
}

static void t_svd(void **st) {
    (void)st;
    svd_fn fs[2] = {mn_svd, mn_svd_ref};
    for (int k = 0; k < 2; k++) {
        check_svd(fs[k], 30, 12, 0, 1);   /* tall */
        check_svd(fs[k], 9, 25, 0, 2);    /* wide */
        check_svd(fs[k], 16, 16, 0, 3);   /* square */
        check_svd(fs[k], 20, 15, 3, 4);   /* rank deficient */
        check_svd(fs[k], 7, 40, 2, 5);
        check_svd(fs[k], 1, 5, 0, 6);     /* a single row */
        check_svd(fs[k], 64, 100, 0, 7);
    }
}

/* LAPACK and Jacobi give the same singular values. */
static void t_svd_twins(void **st) {
    (void)st;
    mn_rng r;
    mn_rng_seed(&r, 11);
    int m = 50, n = 37, p = 37;
    float *a = malloc(sizeof(float) * m * n), *s1 = malloc(sizeof(float) * p), *s2 = malloc(sizeof(float) * p);
    float *u = malloc(sizeof(float) * m * p), *vt = malloc(sizeof(float) * p * n);
    rand_matrix(a, m, n, 0, &r);
    assert_int_equal(mn_svd(a, m, n, s1, u, vt), MN_OK);
    assert_int_equal(mn_svd_ref(a, m, n, s2, u, vt), MN_OK);
    for (int i = 0; i < p; i++) assert_true(fabsf(s1[i] - s2[i]) <= 1e-4f * s1[0]);
    fprintf(stderr, "  svd via %s\n", mn_svd_uses_lapack() ? "LAPACKE" : "Jacobi only");
    assert_int_equal(mn_svd(a, 0, n, s1, u, vt), MN_EARG);
    free(a); free(s1); free(s2); free(u); free(vt);
}

static void t_energy(void **st) {
    (void)st;
    float s[3] = {3, 2, 1}; /* squares 9, 4, 1 of 14 */
    assert_int_equal(mn_rank_for_energy(s, 3, 9.0 / 14), 1);
    assert_int_equal(mn_rank_for_energy(s, 3, 0.65), 2);
    assert_int_equal(mn_rank_for_energy(s, 3, 13.0 / 14), 2);
    assert_int_equal(mn_rank_for_energy(s, 3, 0.95), 3);
    assert_int_equal(mn_rank_for_energy(s, 3, 1.0), 3);
    assert_int_equal(mn_rank_for_energy(s, 3, 0.01), 1);
    float z[2] = {0, 0};
    assert_int_equal(mn_rank_for_energy(z, 2, 0.5), 1);
}

static void build(mn_graph *g, const char *spec, int c, int h, int w, uint64_t seed) {
    assert_int_equal(mn_arch_build(g, spec, c, h, w, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_graph_init_params(g, &r);
}

static float *run(mn_graph *g, const float *x, int batch) {
    assert_int_equal(mn_graph_reserve(g, batch), MN_OK);
    int64_t k = mn_shape_numel(mn_graph_output_shape(g));
    float *y = malloc(sizeof(float) * batch * k);
    memcpy(y, mn_graph_forward(g, x, batch, 0), sizeof(float) * batch * k);
    return y;
}

static float *rand_input(const mn_graph *g, int batch, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    int64_t n = batch * mn_shape_numel(mn_graph_input_shape(g));
    float *x = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = mn_rng_uniform(&r);
    return x;
}

static const float *param(const mn_graph *g, const char *name, const mn_param **p) {
    int i = mn_graph_find_param(g, name);
    assert_true(i >= 0);
    if (p) *p = &g->params[i];
    return mn_param_data(g, i);
}

static void t_dense_full_rank(void **st) {
    (void)st;
    mn_graph g, f;
    build(&g, "input x; flatten fl; dense fc1 units=20; relu r1; dense fc2 units=12; relu r2; dense fc3 units=10", 1, 6, 6, 3);
    mn_lowrank_layer L[2] = {{.name = "fc1", .rank = 1000}, {.name = "fc2", .energy = 1.0}};
    assert_int_equal(mn_factorize(&g, L, 2, &f), MN_OK);
    assert_int_equal(L[0].rank, 20);
    assert_int_equal(L[0].full_rank, 20);
    assert_int_equal(L[1].rank, 12);
    assert_true(L[0].factorized && L[1].factorized);
    assert_true(L[0].rel_error < 1e-6 && fabs(L[0].kept_energy - 1) < 1e-9);
    assert_int_equal(mn_graph_find_node(&f, "fc1"), -1);
    const mn_param *pa, *pb;
    param(&f, "fc1_a.weight", &pa);
    param(&f, "fc1_b.weight", &pb);
    assert_int_equal(pa->shape.d[0], 20);
    assert_int_equal(pa->shape.d[1], 36);
    assert_int_equal(pb->shape.d[0], 20);
    assert_int_equal(pb->shape.d[1], 20);
    const float *ba = param(&f, "fc1_a.bias", NULL);
    for (int i = 0; i < 20; i++) assert_true(ba[i] == 0);
    assert_string_equal(mn_graph_get_meta(&f, "lowrank"), "fc1=20,fc2=12");
    float *x = rand_input(&g, 5, 9), *y0 = run(&g, x, 5), *y1 = run(&f, x, 5);
    assert_true(tu_maxdiff(y0, y1, 50) < 1e-4f);
    free(x); free(y0); free(y1);
    mn_graph_free(&g);
    mn_graph_free(&f);
}

/* Truncated: W_b W_a is the rank-r SVD truncation, within rel_error of W. */
static void t_dense_truncated(void **st) {
    (void)st;
    mn_graph g, f;
    build(&g, "input x; flatten fl; dense fc1 units=24; relu r1; dense fc2 units=10", 1, 5, 8, 4);
    mn_lowrank_layer L[1] = {{.name = "fc1", .rank = 6}};
    assert_int_equal(mn_factorize(&g, L, 1, &f), MN_OK);
    assert_int_equal(L[0].params_before, 24 * 40 + 24);
    assert_int_equal(L[0].params_after, 6 * 40 + 6 + 24 * 6 + 24);
    const float *w = param(&g, "fc1.weight", NULL), *wa = param(&f, "fc1_a.weight", NULL);
    const float *wb = param(&f, "fc1_b.weight", NULL);
    double e = 0, fro = 0;
    for (int i = 0; i < 24; i++)
        for (int j = 0; j < 40; j++) {
            double x = 0;
            for (int k = 0; k < 6; k++) x += (double)wb[i * 6 + k] * wa[k * 40 + j];
            e += (w[i * 40 + j] - x) * (w[i * 40 + j] - x);
            fro += (double)w[i * 40 + j] * w[i * 40 + j];
        }
    assert_true(fabs(sqrt(e / fro) - L[0].rel_error) < 1e-4);
    assert_true(L[0].rel_error > 0.1); /* a random matrix is far from rank 6 */
    /* The biases that were not split are carried over. */
    assert_memory_equal(param(&g, "fc1.bias", NULL), param(&f, "fc1_b.bias", NULL), 24 * sizeof(float));
    assert_memory_equal(param(&g, "fc2.weight", NULL), param(&f, "fc2.weight", NULL), 240 * sizeof(float));
    mn_graph_free(&g);
    mn_graph_free(&f);
}

static void t_conv(void **st) {
    (void)st;
    mn_graph g, f;
    build(&g, "input x; conv c1 filters=6 k=3 pad=1; relu r1; conv c2 filters=8 k=3 stride=2 pad=1; relu r2;"
              "flatten fl; dense o units=4", 3, 8, 8, 5);
    mn_lowrank_layer L[2] = {{.name = "c1", .rank = 6}, {.name = "c2", .rank = 8}};
    assert_int_equal(mn_factorize(&g, L, 2, &f), MN_OK);
    const mn_param *p;
    param(&f, "c2_a.weight", &p);
    assert_int_equal(p->shape.ndim, 4);
    assert_int_equal(p->shape.d[0], 8);
    assert_int_equal(p->shape.d[1], 6);
    assert_int_equal(p->shape.d[2], 3);
    param(&f, "c2_b.weight", &p);
    assert_int_equal(p->shape.d[0], 8);
    assert_int_equal(p->shape.d[1], 8);
    assert_int_equal(p->shape.d[2], 1);
    assert_int_equal(p->shape.d[3], 1);
    const mn_node *a = &f.nodes[mn_graph_find_node(&f, "c2_a")], *b = &f.nodes[mn_graph_find_node(&f, "c2_b")];
    assert_int_equal(a->a.stride, 2);
    assert_int_equal(a->a.pad, 1);
    assert_int_equal(a->out.d[1], 4);
    assert_int_equal(b->out.d[0], 8);
    assert_int_equal(b->out.d[1], 4);
    float *x = rand_input(&g, 3, 10), *y0 = run(&g, x, 3), *y1 = run(&f, x, 3);
    assert_true(tu_maxdiff(y0, y1, 12) < 1e-4f);
    free(x); free(y0); free(y1);
    mn_graph_free(&f);
    /* A lower rank: r filters of k x k, then the original filters 1x1. */
    mn_lowrank_layer L2[1] = {{.name = "c1", .rank = 2}};
    assert_int_equal(mn_factorize(&g, L2, 1, &f), MN_OK);
    param(&f, "c1_a.weight", &p);
    assert_int_equal(p->shape.d[0], 2);
    assert_int_equal(p->shape.d[1], 3);
    param(&f, "c1_b.weight", &p);
    assert_int_equal(p->shape.d[0], 6);
    assert_int_equal(p->shape.d[1], 2);
    assert_true(L2[0].rel_error > 0);
    mn_graph_free(&f);
    mn_graph_free(&g);
}

static void t_errors(void **st) {
    (void)st;
    mn_graph g, f;
    build(&g, "input x; conv c1 filters=4 k=3 groups=2; relu r1; flatten fl; dense fc units=10", 2, 6, 6, 6);
    mn_lowrank_layer L = {.name = "nope", .rank = 2};
    assert_int_equal(mn_factorize(&g, &L, 1, &f), MN_EARG);
    assert_int_equal(f.nnodes, 0);
    strcpy(L.name, "r1");
    assert_int_equal(mn_factorize(&g, &L, 1, &f), MN_EARG);
    strcpy(L.name, "c1");
    assert_int_equal(mn_factorize(&g, &L, 1, &f), MN_EUNSUPPORTED);
    mn_lowrank_layer z = {.name = "fc"};
    assert_int_equal(mn_factorize(&g, &z, 1, &f), MN_EARG);
    mn_lowrank_layer two[2] = {{.name = "fc", .rank = 2}, {.name = "fc", .rank = 3}};
    assert_int_equal(mn_factorize(&g, two, 2, &f), MN_EARG);
    /* Not worth it: factors would be larger, so the layer stays whole. */
    mn_lowrank_layer w = {.name = "fc", .rank = 10, .only_if_smaller = 1};
    assert_int_equal(mn_factorize(&g, &w, 1, &f), MN_OK);
    assert_false(w.factorized);
    assert_true(mn_graph_find_node(&f, "fc") >= 0);
    mn_graph_free(&f);
    mn_graph_free(&g);
    build(&g, "input x; dense fc units=5; dense fc_a units=3", 4, 1, 1, 7);
    mn_lowrank_layer c = {.name = "fc", .rank = 2};
    assert_int_equal(mn_factorize(&g, &c, 1, &f), MN_EARG); /* fc_a is taken */
    mn_graph_free(&g);
}

/* The factorised model survives the file; X_a's bias stays 0 under training. */
static void t_file_and_pinned_bias(void **st) {
    (void)st;
    mn_graph g, f, h;
    build(&g, "input x; flatten fl; dense fc1 units=16; relu r1; dense fc2 units=10", 1, 4, 5, 8);
    mn_lowrank_layer L = {.name = "fc1", .rank = 4};
    assert_int_equal(mn_factorize(&g, &L, 1, &f), MN_OK);
    unsigned char *buf;
    size_t len;
    assert_int_equal(mn_model_save_mem(&f, &buf, &len), MN_OK);
    assert_int_equal(mn_model_load_mem(buf, len, &h), MN_OK);
    free(buf);
    float *x = rand_input(&f, 4, 12), *y0 = run(&f, x, 4), *y1 = run(&h, x, 4);
    assert_true(tu_maxdiff(y0, y1, 40) == 0);
    assert_string_equal(mn_graph_get_meta(&h, "lowrank"), "fc1=4");
    mn_graph_free(&h);
    /* A few optimizer steps on a random loss gradient. */
    mn_optim o;
    mn_optim_default(&o, MN_OPT_ADAM);
    mn_rng r;
    mn_rng_seed(&r, 3);
    float dout[40];
    const float *wa = param(&f, "fc1_a.weight", NULL);
    float wa0 = wa[0];
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < 40; i++) dout[i] = mn_rng_normal(&r);
        mn_graph_forward(&f, x, 4, 1);
        mn_graph_zero_grad(&f);
        mn_graph_backward(&f, dout, 4);
        mn_optim_step(&f, &o, 1e-2f);
    }
    const float *ba = param(&f, "fc1_a.bias", NULL);
    for (int i = 0; i < 4; i++) assert_true(ba[i] == 0);
    assert_true(wa[0] != wa0);
    free(x); free(y0); free(y1);
    mn_graph_free(&f);
    mn_graph_free(&g);
}

/* lenet300 briefly trained, fc1 cut to rank 93 (about half the parameters),
 * fine-tuned: close to the dense model on val. */
static void t_mnist(void **st) {
    (void)st;
    const char *dir = tu_mnist_dir(), *asan = getenv("MINNOW_ASAN");
    /* Too slow under sanitizers; the small tests cover the same paths there. */
    if (!dir || (asan && strcmp(asan, "1") == 0)) skip();
    mn_dataset tr, va;
    assert_int_equal(mn_data_load(dir, "train", &tr), MN_OK);
    assert_int_equal(mn_data_load(dir, "val", &va), MN_OK);
    mn_graph g, f;
    build(&g, "lenet300", 1, 28, 28, 1);
    assert_int_equal(mn_set_input_norm(&g, &tr), MN_OK);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 4;
    assert_int_equal(mn_train(&g, &tr, NULL, &c), MN_OK);
    mn_eval_result r0, r1, r2;
    assert_int_equal(mn_eval(&g, &va, 250, &r0), MN_OK);
    mn_lowrank_layer L = {.name = "fc1", .rank = 93};
    assert_int_equal(mn_factorize(&g, &L, 1, &f), MN_OK);
    int64_t p0 = 0, p1 = 0;
    for (int i = 0; i < g.nparams; i++) p0 += g.params[i].trainable ? g.params[i].n : 0;
    for (int i = 0; i < f.nparams; i++) p1 += f.params[i].trainable ? f.params[i].n : 0;
    assert_true(p1 * 2 <= p0);
    assert_int_equal(mn_eval(&f, &va, 250, &r1), MN_OK);
    c.epochs = 2;
    c.seed = 2;
    assert_int_equal(mn_train(&f, &tr, NULL, &c), MN_OK);
    assert_int_equal(mn_eval(&f, &va, 250, &r2), MN_OK);
    fprintf(stderr, "  lenet300 val error: dense %.2f%%, rank 93 %.2f%%, fine-tuned %.2f%% (params %lld -> %lld)\n",
            100 * r0.error, 100 * r1.error, 100 * r2.error, (long long)p0, (long long)p1);
    assert_true(r1.error < r0.error + 0.03f);
    assert_true(r2.error < r0.error + 0.01f);
    mn_graph_free(&g);
    mn_graph_free(&f);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_svd),
        cmocka_unit_test(t_svd_twins),
        cmocka_unit_test(t_energy),
        cmocka_unit_test(t_dense_full_rank),
        cmocka_unit_test(t_dense_truncated),
        cmocka_unit_test(t_conv),
        cmocka_unit_test(t_errors),
        cmocka_unit_test(t_file_and_pinned_bias),
        cmocka_unit_test(t_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
