/* Gated residual blocks (minnow/gate.h): open gates compute the ungated
 * network exactly; a closed gate's branch is not run at inference (its
 * buffers stay untouched, the MACs counted drop by the branch's); the
 * backward pass matches finite differences where the decisions do not
 * flip and the straight-through formula for the gates; the compute cost
 * closes gates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/gate.h"
#include "testutil.h"

static const char *SPEC =
    "input x; dense fc0 units=8; tanh t0; dense b1 units=8; tanh b1t; dense b2 units=8; add a1 in=b2,t0; tanh t1;"
    "dense b3 units=8; tanh b3t; dense b4 units=8; add a2 in=b4,t1; tanh t2; dense out units=classes";

static void build(mn_graph *g, mn_graph *gated, float open) {
    assert_int_equal(mn_arch_build(g, SPEC, 6, 1, 1, 3), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 3);
    mn_graph_init_params(g, &r);
    int n = 0;
    assert_int_equal(mn_gate_add(g, open, gated, &n), MN_OK);
    assert_int_equal(n, 2);
}

static void inputs(float *x, int n, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
}

static void t_open_equals_ungated(void **s) {
    (void)s;
    mn_graph g, q;
    build(&g, &q, 1.0f);
    float x[4 * 6], a[12], b[12];
    inputs(x, 24, 5);
    assert_int_equal(mn_graph_reserve(&g, 4), MN_OK);
    assert_int_equal(mn_graph_reserve(&q, 4), MN_OK);
    memcpy(a, mn_graph_forward(&g, x, 4, 0), sizeof a);
    memcpy(b, mn_graph_forward(&q, x, 4, 0), sizeof b);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(mn_graph_run_macs(&q, 4), 4 * mn_graph_macs(&q));
    /* gating twice, or a net without residual blocks, is refused */
    mn_graph bad, plain;
    int n;
    assert_int_equal(mn_gate_add(&q, 1, &bad, &n), MN_EARG);
    assert_int_equal(mn_arch_build(&plain, "input x; dense a units=4; tanh t; dense o units=classes", 6, 1, 1, 3), MN_OK);
    assert_int_equal(mn_gate_add(&plain, 1, &bad, &n), MN_EARG);
    mn_graph_free(&plain);
    mn_graph_free(&g);
    mn_graph_free(&q);
}

static void t_closed_branch_not_run(void **s) {
    (void)s;
    mn_graph g, q;
    build(&g, &q, 1.0f);
    int gate = mn_graph_find_node(&q, "a2_gate");
    assert_true(gate >= 0);
    mn_param_data(&q, q.nodes[gate].p[1])[0] = -5; /* closed for every sample */
    const char *branch[] = {"b3", "b3t", "b4"};
    int64_t bm = 0;
    for (int k = 0; k < 3; k++) bm += mn_node_macs(&q, mn_graph_find_node(&q, branch[k]));
    float x[3 * 6], a[9], b[9];
    inputs(x, 18, 7);
    assert_int_equal(mn_graph_reserve(&q, 3), MN_OK);
    for (int k = 0; k < 3; k++) {
        mn_node *n = &q.nodes[mn_graph_find_node(&q, branch[k])];
        assert_int_equal(n->gate, gate);
        for (int i = 0; i < 3 * 8; i++) n->y[i] = NAN;
    }
    memcpy(a, mn_graph_forward(&q, x, 3, 0), sizeof a);
    for (int i = 0; i < 9; i++) assert_true(isfinite(a[i]));
    for (int k = 0; k < 3; k++) assert_true(isnan(q.nodes[mn_graph_find_node(&q, branch[k])].y[0]));
    assert_int_equal(mn_graph_run_macs(&q, 3), 3 * (mn_graph_macs(&q) - bm));
    /* the same as the network without that block */
    mn_graph ref;
    assert_int_equal(mn_arch_build(&ref, "input x; dense fc0 units=8; tanh t0; dense b1 units=8; tanh b1t; dense b2 units=8;"
                                          "add a1 in=b2,t0; tanh t1; tanh t2 in=t1; dense out units=classes", 6, 1, 1, 3), MN_OK);
    for (int p = 0; p < ref.nparams; p++)
        memcpy(mn_param_data(&ref, p), mn_param_data(&g, mn_graph_find_param(&g, ref.params[p].name)),
               sizeof(float) * (size_t)ref.params[p].n);
    assert_int_equal(mn_graph_reserve(&ref, 3), MN_OK);
    memcpy(b, mn_graph_forward(&ref, x, 3, 0), sizeof b);
    assert_true(tu_maxdiff(a, b, 9) < 1e-6f);
    /* training runs every branch (the gate learns from what it would add) */
    mn_graph_forward(&q, x, 3, 1);
    assert_false(isnan(q.nodes[mn_graph_find_node(&q, "b4")].y[0]));
    mn_graph_free(&ref);
    mn_graph_free(&g);
    mn_graph_free(&q);
}

static double loss_of(mn_graph *g, const float *x, const float *R, int batch) {
    const float *y = mn_graph_forward(g, x, batch, 1);
    double s = 0;
    for (int i = 0; i < batch * 3; i++) s += (double)R[i] * y[i];
    return s;
}

static void t_backward(void **s) {
    (void)s;
    mn_graph g, q;
    build(&g, &q, 1.0f);
    const int B = 4;
    int g1 = mn_graph_find_node(&q, "a1_gate"), g2 = mn_graph_find_node(&q, "a2_gate");
    mn_rng r;
    mn_rng_seed(&r, 9);
    /* gate 1 decides on its input (open for some samples), gate 2 closed */
    for (int c = 0; c < 8; c++) mn_param_data(&q, q.nodes[g1].p[0])[c] = 4 * (mn_rng_uniform(&r) - 0.5f);
    mn_param_data(&q, q.nodes[g1].p[1])[0] = 0.1f;
    mn_param_data(&q, q.nodes[g2].p[1])[0] = -3;
    float x[4 * 6], R[12];
    inputs(x, 24, 11);
    inputs(R, 12, 12);
    assert_int_equal(mn_graph_reserve(&q, B), MN_OK);
    loss_of(&q, x, R, B);
    mn_graph_zero_grad(&q);
    mn_graph_backward(&q, R, B);
    /* the straight-through formula: dL/dz = (sum f dy) p (1 - p) */
    const mn_node *G1 = &q.nodes[g1], *A1 = &q.nodes[mn_graph_find_node(&q, "a1")], *F = &q.nodes[A1->in[1]];
    const mn_node *X = &q.nodes[A1->in[0]];
    int open = 0;
    double gb = 0, gw[8] = {0};
    for (int b = 0; b < B; b++) {
        double d = 0;
        for (int j = 0; j < 8; j++) d += (double)F->y[b * 8 + j] * A1->dy[b * 8 + j];
        double p = G1->aux[b], dz = d * p * (1 - p);
        gb += dz;
        for (int c = 0; c < 8; c++) gw[c] += dz * X->y[b * 8 + c];
        open += G1->y[b] != 0;
    }
    assert_true(open > 0 && open < B); /* the decision differs between samples */
    assert_true(fabs(gb - mn_param_grad(&q, G1->p[1])[0]) < 1e-5 * fmax(1, fabs(gb)));
    for (int c = 0; c < 8; c++) assert_true(fabs(gw[c] - mn_param_grad(&q, G1->p[0])[c]) < 1e-5 * fmax(1, fabs(gw[c])));
    /* Every other parameter: finite differences.  The straight-through
     * term reaches the gate's input through its weights, which a finite
     * difference of a hard decision cannot see: with the gate's weights at
     * 0 (gate 1 open for all, gate 2 closed) it is gone. */
    memset(mn_param_data(&q, G1->p[0]), 0, sizeof(float) * 8);
    loss_of(&q, x, R, B);
    mn_graph_zero_grad(&q);
    mn_graph_backward(&q, R, B);
    int checked = 0;
    for (int p = 0; p < q.nparams; p++) {
        if (!q.params[p].trainable || strstr(q.params[p].name, "_gate")) continue;
        for (int64_t k = 0; k < q.params[p].n; k += 3) {
            float *w = mn_param_data(&q, p) + k, save = *w, eps = 1e-3f;
            *w = save + eps;
            double lp = loss_of(&q, x, R, B);
            *w = save - eps;
            double lm = loss_of(&q, x, R, B);
            *w = save;
            double fd = (lp - lm) / (2 * eps), an = mn_param_grad(&q, p)[k];
            if (fabs(fd - an) > 1e-2 * fmax(1, fabs(fd))) fprintf(stderr, "  %s[%lld]: fd %g an %g\n", q.params[p].name, (long long)k, fd, an);
            assert_true(fabs(fd - an) <= 1e-2 * fmax(1, fabs(fd)));
            checked++;
        }
    }
    assert_true(checked > 60);
    mn_graph_free(&g);
    mn_graph_free(&q);
}

static void t_cost_closes_gates(void **s) {
    (void)s;
    mn_dataset d = {0};
    d.n = 240, d.c = 6, d.h = 1, d.w = 1, d.nclass = 3;
    d.x = malloc(sizeof(float) * 240 * 6);
    d.y = malloc(sizeof(int32_t) * 240);
    inputs(d.x, 240 * 6, 13);
    for (int i = 0; i < 240; i++) d.y[i] = (d.x[i * 6] > 0) + (d.x[i * 6 + 1] > 0);
    double macs[2];
    for (int k = 0; k < 2; k++) {
        mn_graph g, q;
        build(&g, &q, 1.0f);
        mn_train_cfg c;
        mn_train_default(&c);
        c.epochs = 4;
        c.batch = 24;
        mn_optim_default(&c.opt, MN_OPT_SGD);
        c.opt.lr = 0.05f;
        assert_int_equal(mn_gate_train(&q, &d, NULL, &c, k ? 20.0f : 0.0f), MN_OK);
        for (int i = 0; i < q.nnodes; i++) assert_null(q.nodes[i].dy_extra);
        mn_gate_eval e;
        assert_int_equal(mn_gate_evaluate(&q, &d, &e), MN_OK);
        assert_int_equal(e.n, 240);
        assert_int_equal(e.ngates, 2);
        macs[k] = e.avg_macs / (double)e.full_macs;
        mn_graph_free(&g);
        mn_graph_free(&q);
    }
    assert_true(macs[0] > 0.99); /* no cost: the gates stay open */
    assert_true(macs[1] < 0.7);  /* a high cost closes them */
    free(d.x);
    free(d.y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_open_equals_ungated),
        cmocka_unit_test(t_closed_branch_not_run),
        cmocka_unit_test(t_backward),
        cmocka_unit_test(t_cost_closes_gates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
