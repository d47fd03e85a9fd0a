/* Knowledge distillation: the loss and its gradient against finite
 * differences and against the plain losses at its limits, argument checks,
 * the teacher ensemble, the hint's gradient through the student (with and
 * without a regressor) and that the regressor learns, the hook inside
 * mn_train, and (with MNIST) a short distillation run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/distill.h"
#include "minnow/train.h"
#include "testutil.h"

static void rand_soft(float *q, int batch, int k, mn_rng *r) {
    for (int b = 0; b < batch; b++) {
        float s = 0;
        for (int i = 0; i < k; i++) s += q[b * k + i] = 0.05f + mn_rng_uniform(r);
        for (int i = 0; i < k; i++) q[b * k + i] /= s;
    }
}

static void t_kd_grad(void **st) {
    (void)st;
    enum { B = 3, K = 5 };
    mn_rng r;
    mn_rng_seed(&r, 1);
    float z[B * K], q[B * K], dz[B * K];
    int32_t y[B] = {0, 3, 4};
    const float Ts[] = {1, 2.5f, 8}, As[] = {0, 0.3f, 0.9f, 1};
    for (int ti = 0; ti < 3; ti++)
        for (int ai = 0; ai < 4; ai++) {
            for (int i = 0; i < B * K; i++) z[i] = 4 * mn_rng_uniform(&r) - 2;
            rand_soft(q, B, K, &r);
            float T = Ts[ti], a = As[ai];
            mn_kd_loss(z, q, y, B, K, T, a, dz);
            for (int i = 0; i < B * K; i++) {
                float save = z[i], eps = 1e-2f;
                z[i] = save + eps;
                double lp = mn_kd_loss(z, q, y, B, K, T, a, NULL);
                z[i] = save - eps;
                double lm = mn_kd_loss(z, q, y, B, K, T, a, NULL);
                z[i] = save;
                double fd = (lp - lm) / (2 * eps);
                if (fabs(fd - dz[i]) > 2e-3 * fmax(1, fabs(fd)))
                    fail_msg("T %g alpha %g z[%d]: fd %g analytic %g", (double)T, (double)a, i, fd, (double)dz[i]);
            }
        }
}

/* alpha = 0 is plain cross-entropy; alpha = 1 is T^2 times the soft one. */
static void t_kd_limits(void **st) {
    (void)st;
    enum { B = 4, K = 6 };
    mn_rng r;
    mn_rng_seed(&r, 2);
    float z[B * K], q[B * K], d1[B * K], d2[B * K];
    int32_t y[B] = {1, 0, 5, 2};
    for (int i = 0; i < B * K; i++) z[i] = 6 * mn_rng_uniform(&r) - 3;
    rand_soft(q, B, K, &r);
    float l1 = mn_kd_loss(z, q, y, B, K, 3.0f, 0.0f, d1), l2 = mn_xent_hard(z, y, B, K, 1.0f, d2);
    assert_true(fabsf(l1 - l2) < 1e-5f);
    assert_true(tu_maxdiff(d1, d2, B * K) < 1e-6f);
    float T = 3.0f;
    l1 = mn_kd_loss(z, q, y, B, K, T, 1.0f, d1);
    l2 = mn_xent_soft(z, q, B, K, T, d2);
    assert_true(fabsf(l1 - T * T * l2) < 1e-4f);
    for (int i = 0; i < B * K; i++) assert_true(fabsf(d1[i] - T * T * d2[i]) < 1e-6f);
    /* The T^2 keeps the soft gradient's size as T grows: d = alpha T (p_T - q). */
    for (int i = 0; i < B * K; i++) assert_true(fabsf(d1[i]) <= T / B + 1e-6f);
}

static void t_check(void **st) {
    (void)st;
    mn_distill_cfg c;
    mn_distill_default(&c);
    assert_int_equal(mn_distill_check(&c), MN_OK);
    float badT[] = {0, -1, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        mn_distill_default(&c);
        c.temperature = badT[i];
        assert_int_equal(mn_distill_check(&c), MN_EARG);
        assert_non_null(strstr(mn_errmsg(), "temperature"));
    }
    float badA[] = {-0.01f, 1.01f, NAN};
    for (int i = 0; i < 3; i++) {
        mn_distill_default(&c);
        c.alpha = badA[i];
        assert_int_equal(mn_distill_check(&c), MN_EARG);
        assert_non_null(strstr(mn_errmsg(), "alpha"));
    }
    mn_distill_default(&c);
    c.alpha = 0;
    assert_int_equal(mn_distill_check(&c), MN_OK);
    c.alpha = 1;
    assert_int_equal(mn_distill_check(&c), MN_OK);
    c.hint_teacher = "fc1";
    assert_int_equal(mn_distill_check(&c), MN_EARG);
    c.hint_student = "fc1";
    assert_int_equal(mn_distill_check(&c), MN_OK);
    c.hint_weight = -1;
    assert_int_equal(mn_distill_check(&c), MN_EARG);
}

static void build(mn_graph *g, const char *spec, int c, int h, int w, uint64_t seed) {
    assert_int_equal(mn_arch_build(g, spec, c, h, w, 4), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_graph_init_params(g, &r);
}

static void t_ensemble(void **st) {
    (void)st;
    mn_graph t1, t2, s;
    build(&t1, "input x; dense fc1 units=7; relu r; dense fc2 units=4", 6, 1, 1, 1);
    build(&t2, "input x; dense h units=3; tanh t; dense o units=4", 6, 1, 1, 2);
    mn_graph *ts[2] = {&t1, &t2};
    enum { B = 5 };
    float x[B * 6], q[B * 4], p1[B * 4], p2[B * 4];
    mn_rng r;
    mn_rng_seed(&r, 3);
    for (int i = 0; i < B * 6; i++) x[i] = mn_rng_normal(&r);
    assert_int_equal(mn_teachers_soft(ts, 2, x, B, 2.0f, q), MN_OK);
    assert_int_equal(mn_graph_reserve(&t1, B), MN_OK);
    mn_softmax_t(mn_graph_forward(&t1, x, B, 0), B, 4, 2.0f, p1);
    mn_softmax_t(mn_graph_forward(&t2, x, B, 0), B, 4, 2.0f, p2);
    for (int i = 0; i < B * 4; i++) assert_true(fabsf(q[i] - 0.5f * (p1[i] + p2[i])) < 1e-6f);
    /* Misfits are refused. */
    build(&s, "input x; dense o units=3", 6, 1, 1, 4);
    mn_graph *bad[2] = {&t1, &s};
    assert_int_equal(mn_teachers_soft(bad, 2, x, B, 1.0f, q), MN_ESHAPE);
    mn_distill_cfg c;
    mn_distill_default(&c);
    mn_distill *d;
    assert_int_equal(mn_distill_new(&s, ts, 2, &c, &d), MN_ESHAPE);
    assert_null(d);
    assert_int_equal(mn_distill_new(&s, ts, 0, &c, &d), MN_EARG);
    mn_graph_free(&s);
    build(&s, "input x; dense a units=5; relu r; dense o units=4", 6, 1, 1, 4);
    c.hint_teacher = "nope";
    c.hint_student = "a";
    assert_int_equal(mn_distill_new(&s, ts, 2, &c, &d), MN_EARG);
    c.hint_teacher = "fc1";
    c.hint_student = "x";
    assert_int_equal(mn_distill_new(&s, ts, 2, &c, &d), MN_EARG);
    mn_graph_free(&s); mn_graph_free(&t1); mn_graph_free(&t2);
}

/* The whole loss (soft + hard + hint) through the student, by finite
 * differences on every student parameter.  The hint's gradient reaches
 * the student's inner node through dy_extra. */
static double total_loss(mn_distill *d, mn_graph *s, const float *x, const int32_t *y, int B, float *dl) {
    const float *z = mn_graph_forward(s, x, B, 1);
    return mn_distill_loss(d, s, x, y, B, z, dl);
}

static void hint_gradcheck(const char *student_spec, const char *snode, float hint_lr) {
    mn_graph t, s;
    build(&t, "input x; dense fc1 units=6; relu r1; dense fc2 units=4", 5, 1, 1, 10);
    build(&s, student_spec, 5, 1, 1, 11);
    mn_graph *ts[1] = {&t};
    mn_distill_cfg c;
    mn_distill_default(&c);
    c.temperature = 2;
    c.alpha = 0.7f;
    c.hint_teacher = "r1";
    c.hint_student = snode;
    c.hint_weight = 0.5f;
    c.hint_lr = hint_lr;
    mn_distill *d;
    assert_int_equal(mn_distill_new(&s, ts, 1, &c, &d), MN_OK);
    enum { B = 3 };
    float x[B * 5], dl[B * 4];
    int32_t y[B] = {0, 2, 3};
    mn_rng r;
    mn_rng_seed(&r, 12);
    for (int i = 0; i < B * 5; i++) x[i] = mn_rng_normal(&r);
    assert_int_equal(mn_graph_reserve(&s, B), MN_OK);
    total_loss(d, &s, x, y, B, dl);
    int hs = mn_graph_find_node(&s, snode);
    assert_non_null(s.nodes[hs].dy_extra);
    mn_graph_zero_grad(&s);
    mn_graph_backward(&s, dl, B);
    int checked = 0, bad = 0;
    for (int p = 0; p < s.nparams; p++) {
        if (!s.params[p].trainable) continue;
        for (int64_t k = 0; k < s.params[p].n; k++) {
            float *w = mn_param_data(&s, p) + k, save = *w, eps = 3e-3f;
            *w = save + eps;
            double lp = total_loss(d, &s, x, y, B, dl);
            *w = save - eps;
            double lm = total_loss(d, &s, x, y, B, dl);
            *w = save;
            double fd = (lp - lm) / (2 * eps), an = mn_param_grad(&s, p)[k];
            checked++;
            if (fabs(fd - an) > 1e-2 * fmax(1, fabs(fd))) {
                if (++bad <= 5) fprintf(stderr, "  %s[%lld]: fd %g analytic %g\n", s.params[p].name, (long long)k, fd, an);
            }
        }
    }
    /* relu kinks may flip under a finite step: allow a rare miss. */
    assert_true(checked > 50);
    assert_true(bad <= checked / 30);
    mn_distill_free(d);
    assert_null(s.nodes[hs].dy_extra);
    mn_graph_free(&s);
    mn_graph_free(&t);
}

static void t_hint_grad(void **st) {
    (void)st;
    /* Equal sizes (6 and 6): the identity. */
    hint_gradcheck("input x; dense h1 units=6; relu a1; dense o units=4", "a1", 1e-3f);
    /* 9 vs 6: through the regressor, frozen here by a vanishing lr. */
    hint_gradcheck("input x; dense h1 units=9; tanh a1; dense o units=4", "a1", 1e-30f);
}

/* With the student fixed, the regressor alone drives the hint loss down. */
static void t_regressor_learns(void **st) {
    (void)st;
    mn_graph t, s;
    build(&t, "input x; dense fc1 units=6; relu r1; dense fc2 units=4", 5, 1, 1, 20);
    build(&s, "input x; dense h1 units=12; tanh a1; dense o units=4", 5, 1, 1, 21);
    mn_graph *ts[1] = {&t};
    mn_distill_cfg c;
    mn_distill_default(&c);
    c.hint_teacher = "fc1";
    c.hint_student = "a1";
    c.hint_lr = 1e-2f;
    mn_distill *d;
    assert_int_equal(mn_distill_new(&s, ts, 1, &c, &d), MN_OK);
    enum { B = 16 };
    float x[B * 5], dl[B * 4];
    int32_t y[B] = {0};
    mn_rng r;
    mn_rng_seed(&r, 22);
    for (int i = 0; i < B * 5; i++) x[i] = mn_rng_normal(&r);
    assert_int_equal(mn_graph_reserve(&s, B), MN_OK);
    mn_distill_parts p;
    total_loss(d, &s, x, y, B, dl);
    mn_distill_take_parts(d, &p);
    double first = p.hint;
    for (int i = 0; i < 400; i++) total_loss(d, &s, x, y, B, dl);
    mn_distill_take_parts(d, &p);
    total_loss(d, &s, x, y, B, dl);
    mn_distill_take_parts(d, &p);
    assert_int_equal(p.batches, 1);
    assert_true(p.hint < 0.2 * first);
    mn_distill_free(d);
    mn_graph_free(&s);
    mn_graph_free(&t);
}

/* Linearly separable 4-class blobs in 8 dimensions. */
static void blobs(mn_dataset *d, int n, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    d->n = n; d->c = 8; d->h = d->w = 1; d->nclass = 4;
    d->x = mn_alloc((size_t)n * 8, sizeof(float));
    d->y = mn_alloc((size_t)n, sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        int cl = (int)mn_rng_below(&r, 4);
        d->y[i] = cl;
        for (int j = 0; j < 8; j++) d->x[i * 8 + j] = 0.5f * mn_rng_normal(&r) + (j % 4 == cl ? 2.0f : 0.0f);
    }
}

/* Inside mn_train: alpha 0 trains exactly like the default loss, and a
 * distilled student learns the task from a trained teacher. */
static void t_in_train(void **st) {
    (void)st;
    mn_dataset tr, va;
    blobs(&tr, 600, 1);
    blobs(&va, 300, 2);
    const char *spec = "input x; dense h units=16; relu r; dense o units=4";
    mn_graph t, s1, s2;
    build(&t, "input x; dense h units=32; relu r; dense o units=4", 8, 1, 1, 30);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 5;
    assert_int_equal(mn_train(&t, &tr, NULL, &c), MN_OK);
    mn_eval_result rt, r1, r2;
    assert_int_equal(mn_eval(&t, &va, 100, &rt), MN_OK);
    assert_true(rt.error < 0.05f);
    build(&s1, spec, 8, 1, 1, 31);
    build(&s2, spec, 8, 1, 1, 31);
    c.epochs = 8;
    assert_int_equal(mn_train(&s1, &tr, NULL, &c), MN_OK);
    mn_graph *ts[1] = {&t};
    mn_distill_cfg dc;
    mn_distill_default(&dc);
    dc.alpha = 0;
    mn_distill *d;
    assert_int_equal(mn_distill_new(&s2, ts, 1, &dc, &d), MN_OK);
    mn_train_cfg c2 = c;
    mn_distill_attach(d, &c2);
    assert_int_equal(mn_train(&s2, &tr, NULL, &c2), MN_OK);
    mn_distill_free(d);
    assert_memory_equal(s1.w, s2.w, sizeof(float) * s1.nw);
    /* Soft targets only (alpha 1): the labels are never used, yet it learns. */
    mn_graph_free(&s2);
    build(&s2, spec, 8, 1, 1, 32);
    dc.alpha = 1;
    dc.temperature = 3;
    assert_int_equal(mn_distill_new(&s2, ts, 1, &dc, &d), MN_OK);
    c2 = c;
    mn_distill_attach(d, &c2);
    assert_int_equal(mn_train(&s2, &tr, NULL, &c2), MN_OK);
    mn_distill_free(d);
    assert_int_equal(mn_eval(&s2, &va, 100, &r2), MN_OK);
    assert_int_equal(mn_eval(&s1, &va, 100, &r1), MN_OK);
    fprintf(stderr, "  blobs: teacher %.3f, hard-label student %.3f, soft-only student %.3f\n", rt.error, r1.error, r2.error);
    assert_true(r2.error < 0.1f);
    mn_graph_free(&s1); mn_graph_free(&s2); mn_graph_free(&t);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

/* MNIST: a lenet300 teacher for a few epochs, then a narrow student
 * distilled from it (with a hint through a regressor) learns to a sane error. */
/* Deep mutual learning: with alpha 0 every peer trains exactly as it
 * would alone (same batches, optimizer and schedule: peer 2 through the
 * hook's own steps); with alpha 0.5 the peers learn the task and move
 * towards each other. */
static void t_mutual(void **st) {
    (void)st;
    mn_dataset tr, va;
    blobs(&tr, 600, 3);
    blobs(&va, 300, 4);
    const char *spec = "input x; dense h units=16; relu r; dense o units=4";
    mn_graph a1, a2, p1, p2;
    build(&a1, spec, 8, 1, 1, 41);
    build(&a2, spec, 8, 1, 1, 42);
    build(&p1, spec, 8, 1, 1, 41);
    build(&p2, spec, 8, 1, 1, 42);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 4;
    c.batch = 50;
    c.sched = MN_SCHED_COSINE;
    assert_int_equal(mn_train(&a1, &tr, NULL, &c), MN_OK);
    assert_int_equal(mn_train(&a2, &tr, NULL, &c), MN_OK);
    mn_graph *peers[2] = {&p1, &p2};
    mn_mutual *m;
    mn_train_cfg cm = c;
    assert_int_equal(mn_mutual_new(peers, 2, &c, 1, 0, tr.n, &m), MN_OK);
    mn_mutual_attach(m, &cm);
    assert_int_equal(mn_train(&p1, &tr, NULL, &cm), MN_OK);
    mn_mutual_free(m);
    assert_memory_equal(a1.w, p1.w, sizeof(float) * a1.nw);
    float worst = 0;
    for (int64_t i = 0; i < a2.nw; i++) worst = fmaxf(worst, fabsf(a2.w[i] - p2.w[i]));
    print_message("mutual, alpha 0: peer 2 vs alone max |dw| %g\n", (double)worst);
    assert_true(worst < 1e-5f);
    /* alpha 0.5: both learn, and agree more than two independent nets */
    mn_graph q1, q2;
    build(&q1, spec, 8, 1, 1, 41);
    build(&q2, spec, 8, 1, 1, 42);
    mn_graph *qs[2] = {&q1, &q2};
    c.epochs = 20;
    cm = c;
    assert_int_equal(mn_mutual_new(qs, 2, &c, 1, 0.5f, tr.n, &m), MN_OK);
    mn_mutual_attach(m, &cm);
    assert_int_equal(mn_train(&q1, &tr, NULL, &cm), MN_OK);
    mn_mutual_free(m);
    mn_eval_result r1, r2;
    assert_int_equal(mn_eval(&q1, &va, 100, &r1), MN_OK);
    assert_int_equal(mn_eval(&q2, &va, 100, &r2), MN_OK);
    print_message("mutual, alpha 0.5: peer errors %.3f %.3f\n", (double)r1.error, (double)r2.error);
    assert_true(r1.error < 0.05f && r2.error < 0.05f);
    /* bad input */
    assert_int_equal(mn_mutual_new(qs, 1, &c, 1, 0.5f, tr.n, &m), MN_EARG);
    assert_int_equal(mn_mutual_new(qs, 2, &c, 0, 0.5f, tr.n, &m), MN_EARG);
    mn_graph_free(&a1); mn_graph_free(&a2); mn_graph_free(&p1); mn_graph_free(&p2);
    mn_graph_free(&q1); mn_graph_free(&q2);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

static void t_mnist(void **st) {
    (void)st;
    const char *dir = tu_mnist_dir(), *asan = getenv("MINNOW_ASAN");
    /* Too slow under sanitizers; the small tests cover the same paths there. */
    if (!dir || (asan && strcmp(asan, "1") == 0)) skip();
    mn_dataset tr, va;
    assert_int_equal(mn_data_load(dir, "train", &tr), MN_OK);
    assert_int_equal(mn_data_load(dir, "val", &va), MN_OK);
    mn_graph t, s;
    assert_int_equal(mn_arch_build(&t, "lenet300", 1, 28, 28, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 1);
    mn_graph_init_params(&t, &r);
    assert_int_equal(mn_set_input_norm(&t, &tr), MN_OK);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 3;
    assert_int_equal(mn_train(&t, &tr, NULL, &c), MN_OK);
    assert_int_equal(mn_arch_build(&s, "input x; flatten f; dense fc1 units=64; relu r1; dense fc2 units=classes",
                                   1, 28, 28, 10), MN_OK);
    mn_graph_init_params(&s, &r);
    assert_int_equal(mn_set_input_norm(&s, &tr), MN_OK);
    mn_graph *ts[1] = {&t};
    mn_distill_cfg dc;
    mn_distill_default(&dc);
    dc.hint_teacher = "r2";
    dc.hint_student = "r1";
    dc.hint_weight = 0.1f;
    mn_distill *d;
    assert_int_equal(mn_distill_new(&s, ts, 1, &dc, &d), MN_OK);
    mn_distill_attach(d, &c);
    assert_int_equal(mn_train(&s, &tr, NULL, &c), MN_OK);
    mn_distill_free(d);
    mn_eval_result rt, rs;
    assert_int_equal(mn_eval(&t, &va, 250, &rt), MN_OK);
    assert_int_equal(mn_eval(&s, &va, 250, &rs), MN_OK);
    fprintf(stderr, "  teacher lenet300 (3 epochs) %.2f%%, distilled 784-64-10 student %.2f%%\n",
            100 * rt.error, 100 * rs.error);
    assert_true(rs.error < 0.08f);
    mn_graph_free(&s); mn_graph_free(&t);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_kd_grad),
        cmocka_unit_test(t_kd_limits),
        cmocka_unit_test(t_check),
        cmocka_unit_test(t_ensemble),
        cmocka_unit_test(t_hint_grad),
        cmocka_unit_test(t_regressor_learns),
        cmocka_unit_test(t_in_train),
        cmocka_unit_test(t_mutual),
        cmocka_unit_test(t_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
