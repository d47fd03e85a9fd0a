/* Multi-exit networks: exits and segments, the multi-output backward and
 * partial forward, the joint loss, and early-exit evaluation (the real
 * piecewise run must agree with the probe's analytic answer). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/exits.h"
#include "testutil.h"

#define SPEC3 "input x; conv c1 filters=4 k=3; relu r1; flatten f1; dense exit1 units=classes;" \
              "conv c2 filters=6 k=3 in=r1; relu r2; flatten f2; dense exit2 units=classes;"     \
              "dense h units=12 in=f2; relu r3; dense out units=classes"

static void build(mn_graph *g, const char *spec) {
    assert_int_equal(mn_arch_build(g, spec, 1, 8, 8, 5), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 11);
    mn_graph_init_params(g, &r);
}

static void t_init(void **s) {
    (void)s;
    mn_graph g;
    build(&g, SPEC3);
    mn_exits ex;
    assert_int_equal(mn_exits_init(&ex, &g), MN_OK);
    assert_int_equal(ex.n, 3);
    assert_string_equal(g.nodes[ex.node[0]].name, "exit1");
    assert_string_equal(g.nodes[ex.node[1]].name, "exit2");
    assert_int_equal(ex.node[2], g.output);
    /* Every node is in exactly one segment; costs add up to the whole graph. */
    for (int i = 0; i < g.nnodes; i++) {
        int c = 0;
        for (int e = 0; e < ex.n; e++) c += ex.seg[(size_t)e * g.nnodes + i];
        assert_int_equal(c, 1);
    }
    assert_true(ex.macs[0] < ex.macs[1] && ex.macs[1] < ex.macs[2]);
    assert_int_equal(ex.macs[2], mn_graph_macs(&g));
    int64_t m0 = 0;
    const char *seg0[] = {"x", "c1", "r1", "f1", "exit1"};
    for (int i = 0; i < 5; i++) m0 += mn_node_macs(&g, mn_graph_find_node(&g, seg0[i]));
    assert_int_equal(ex.macs[0], m0);
    mn_exits_free(&ex);
    mn_graph_free(&g);
    /* The residual built-ins with a head after each stage (MSDNet-style):
     * three exits, each costing more, the last the whole net. */
    build(&g, "resnet20x3:0.25");
    assert_int_equal(mn_exits_init(&ex, &g), MN_OK);
    assert_int_equal(ex.n, 3);
    assert_string_equal(g.nodes[ex.node[0]].name, "exit1");
    assert_string_equal(g.nodes[ex.node[1]].name, "exit2");
    assert_true(ex.macs[0] < ex.macs[1] && ex.macs[1] < ex.macs[2] && ex.macs[2] == mn_graph_macs(&g));
    mn_exits_free(&ex);
    mn_graph_free(&g);
    /* A head of the wrong width is refused. */
    assert_int_equal(mn_arch_build(&g, "input x; flatten f; dense a units=3; dense b units=classes in=f", 1, 4, 4, 5), MN_OK);
    assert_int_equal(mn_exits_init(&ex, &g), MN_ESHAPE);
    mn_graph_free(&g);
    /* The built-ins. */
    assert_int_equal(mn_arch_build(&g, "lenet5x3", 1, 28, 28, 10), MN_OK);
    assert_int_equal(mn_exits_init(&ex, &g), MN_OK);
    assert_int_equal(ex.n, 3);
    assert_true(ex.macs[0] * 4 < ex.macs[2]);
    mn_exits_free(&ex);
    mn_graph_free(&g);
}

/* backward_multi with one seed per head equals the sum of single-head
 * backward passes (each through dy_extra of that head). */
static void t_backward_multi(void **s) {
    (void)s;
    mn_graph g;
    build(&g, SPEC3);
    int batch = 3;
    assert_int_equal(mn_graph_reserve(&g, batch), MN_OK);
    mn_exits ex;
    assert_int_equal(mn_exits_init(&ex, &g), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 2);
    float x[3 * 64], d[3][3 * 5];
    for (int i = 0; i < 3 * 64; i++) x[i] = mn_rng_uniform(&r);
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 15; i++) d[e][i] = 2 * mn_rng_uniform(&r) - 1;
    mn_graph_forward(&g, x, batch, 1);
    mn_graph_zero_grad(&g);
    const float *douts[3] = {d[0], d[1], d[2]};
    mn_graph_backward_multi(&g, ex.node, douts, 3, batch);
    float *multi = malloc(sizeof(float) * g.nw);
    memcpy(multi, g.gw, sizeof(float) * g.nw);
    mn_graph_zero_grad(&g);
    float zero[15] = {0};
    for (int e = 0; e < 3; e++) {
        /* conv's backward reuses its saved columns as scratch: forward again. */
        mn_graph_forward(&g, x, batch, 1);
        if (e < 2) g.nodes[ex.node[e]].dy_extra = d[e];
        mn_graph_backward(&g, e == 2 ? d[2] : zero, batch);
        if (e < 2) g.nodes[ex.node[e]].dy_extra = NULL;
    }
    fprintf(stderr, "  backward_multi vs summed single passes: max diff %g\n", (double)tu_maxdiff(multi, g.gw, g.nw));
    assert_true(tu_maxdiff(multi, g.gw, g.nw) < 1e-4f);
    /* exit1's weights get gradient only from its own seed. */
    int p = mn_graph_find_param(&g, "exit1.weight");
    float nz = 0;
    for (int64_t i = 0; i < g.params[p].n; i++) nz += fabsf(multi[g.params[p].off + i]);
    assert_true(nz > 0);
    free(multi);
    mn_exits_free(&ex);
    mn_graph_free(&g);
}

/* Partial forward of the segments, one after another, gives the full forward's heads. */
static void t_partial(void **s) {
    (void)s;
    mn_graph g;
    build(&g, SPEC3);
    assert_int_equal(mn_graph_reserve(&g, 2), MN_OK);
    mn_exits ex;
    assert_int_equal(mn_exits_init(&ex, &g), MN_OK);
    float x[2 * 64], full[3][10];
    for (int i = 0; i < 128; i++) x[i] = (float)((i * 7) % 13) / 13;
    mn_graph_forward(&g, x, 2, 0);
    for (int e = 0; e < 3; e++) memcpy(full[e], g.nodes[ex.node[e]].y, sizeof full[e]);
    memset(g.act, 0, sizeof(float) * g.act_floats);
    mn_graph_forward_nodes(&g, x, 2, 0, ex.seg);
    assert_true(tu_maxdiff(full[0], g.nodes[ex.node[0]].y, 10) == 0);
    /* exit2 not yet computed */
    float z[10] = {0};
    assert_true(tu_maxdiff(z, g.nodes[ex.node[1]].y, 10) == 0);
    mn_graph_forward_nodes(&g, NULL, 2, 0, ex.seg + g.nnodes);
    mn_graph_forward_nodes(&g, NULL, 2, 0, ex.seg + 2 * g.nnodes);
    for (int e = 0; e < 3; e++) assert_true(tu_maxdiff(full[e], g.nodes[ex.node[e]].y, 10) == 0);
    mn_exits_free(&ex);
    mn_graph_free(&g);
}

/* A synthetic data set a small net learns in a few epochs: the class is
 * which quadrant holds a bright blob, noisier for some samples so that the
 * heads disagree in confidence. */
static void make_data(mn_dataset *d, int n, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n; d->c = 1; d->h = 8; d->w = 8; d->nclass = 5;
    d->x = calloc((size_t)n * 64, sizeof(float));
    d->y = calloc((size_t)n, sizeof(int32_t));
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = (int)mn_rng_below(&r, 5);
        d->y[i] = c;
        float noise = (i % 3) ? 0.2f : 0.9f;
        float *x = d->x + (size_t)i * 64;
        for (int j = 0; j < 64; j++) x[j] = noise * mn_rng_uniform(&r);
        int oy = c == 4 ? 3 : (c / 2) * 4, ox = c == 4 ? 3 : (c % 2) * 4;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) x[(oy + a + 1) * 8 + ox + b + 1] += 1.0f;
    }
}

static void t_train_eval(void **s) {
    (void)s;
    mn_graph g;
    build(&g, SPEC3);
    mn_dataset tr, va;
    make_data(&tr, 600, 1);
    make_data(&va, 300, 2);
    mn_train_cfg cfg;
    mn_train_default(&cfg);
    cfg.epochs = 8;
    cfg.batch = 32;
    mn_exits_trainer t;
    float w2[2] = {1, 1};
    assert_int_equal(mn_exits_train_setup(&t, &g, w2, 2, &cfg), MN_EARG); /* wrong count */
    float w[3] = {0.5f, 0.5f, 1.0f};
    assert_int_equal(mn_exits_train_setup(&t, &g, w, 3, &cfg), MN_OK);
    assert_int_equal(mn_train(&g, &tr, &va, &cfg), MN_OK);
    assert_true(t.loss[0] > 0 && t.loss[1] > 0);
    int ex1 = t.ex.node[0];
    mn_exits_train_done(&t);
    assert_null(g.nodes[ex1].dy_extra);

    mn_exits_probe p;
    assert_int_equal(mn_exits_probe_run(&g, &va, 64, &p), MN_OK);
    /* Jointly trained, every head learned the task. */
    mn_exit_result a;
    mn_exits_at(&p, 2.0f, &a); /* nobody exits early */
    for (int e = 0; e < 3; e++) {
        fprintf(stderr, "  head %d alone: error %.3f\n", e + 1, (double)a.exit_errors[e] / va.n);
        assert_true(a.exit_errors[e] < va.n / 5);
    }
    assert_int_equal(a.taken[2], va.n);
    assert_true(fabs(a.avg_macs - (double)a.full_macs) < 1e-6);
    mn_eval_result base;
    assert_int_equal(mn_eval(&g, &va, 64, &base), MN_OK);
    assert_int_equal(a.errors, base.errors);
    /* The real piecewise run agrees with the probe at several thresholds
     * (batch 64 does not divide 300: a short last batch too). */
    float th[4] = {0.0f, 0.6f, 0.9f, 0.999f};
    for (int i = 0; i < 4; i++) {
        mn_exit_result real, est;
        assert_int_equal(mn_exits_eval(&g, &va, th[i], 64, &real), MN_OK);
        mn_exits_at(&p, th[i], &est);
        fprintf(stderr, "  P>=%.3f: error %.3f, MACs %.0f of %lld, exits %d/%d/%d\n", (double)th[i],
                (double)real.error, real.avg_macs, (long long)real.full_macs, real.taken[0], real.taken[1], real.taken[2]);
        for (int e = 0; e < 3; e++) assert_true(abs(real.taken[e] - est.taken[e]) <= 2);
        assert_true(abs(real.errors - est.errors) <= 2);
        assert_true(fabs(real.avg_macs - est.avg_macs) <= 2.0 * real.full_macs / va.n + 1e-6);
        assert_int_equal(real.taken[0] + real.taken[1] + real.taken[2], va.n);
    }
    mn_exit_result r0;
    assert_int_equal(mn_exits_eval(&g, &va, 0.0f, 64, &r0), MN_OK);
    assert_int_equal(r0.taken[0], va.n); /* threshold 0: all at the first head */
    assert_true(fabs(r0.avg_macs - (double)p.macs[0]) < 1e-6);
    mn_exits_probe_free(&p);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_init), cmocka_unit_test(t_backward_multi), cmocka_unit_test(t_partial),
        cmocka_unit_test(t_train_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
