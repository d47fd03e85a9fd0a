/* Slimmable networks (minnow/slim.h): a width cut out of the shared weights
 * computes what the full network computes with the other units silenced;
 * widths change which units (and MACs) run; one training step's update is
 * the finite-difference gradient of the sum of the widths' losses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/slim.h"
#include "testutil.h"

/* Conv + batch norm, a residual add, a depthwise conv, a 1-D batch norm;
 * tanh and average pooling, so that finite differences meet no kinks. */
static const char *SPEC =
    "input x; conv c1 filters=8 k=3 pad=1; batchnorm b1; tanh r1; conv c2 filters=8 k=3 pad=1; batchnorm b2;"
    "add a1 in=b2,r1; tanh r2; conv dw filters=8 k=3 pad=1 groups=8; batchnorm b3; tanh r3; avgpool p k=2;"
    "flatten f; dense fc1 units=12; batchnorm b4; tanh r4; dense out units=classes";

static void build(mn_graph *g, uint64_t seed) {
    assert_int_equal(mn_arch_build(g, SPEC, 1, 6, 6, 3), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_graph_init_params(g, &r);
    /* batch norm away from the identity, running variance positive */
    for (int p = 0; p < g->nparams; p++) {
        const char *nm = g->params[p].name;
        int bn = strstr(nm, ".gamma") || strstr(nm, ".beta") || strstr(nm, ".mean") || strstr(nm, ".var");
        if (!bn) continue;
        for (int64_t k = 0; k < g->params[p].n; k++)
            mn_param_data(g, p)[k] = strstr(nm, ".var") || strstr(nm, ".gamma") ? 0.5f + mn_rng_uniform(&r)
                                                                                 : mn_rng_uniform(&r) - 0.5f;
    }
}

static void inputs(float *x, int n, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
}

/* Zeroes every unit of g past the first k of its width-w layers: weight
 * rows, biases and their batch norm's scale and shift, so that each such
 * unit outputs 0 everywhere (the depthwise conv's too). */
static void silence(mn_graph *g, float w) {
    const char *layers[] = {"c1", "c2", "dw", "fc1"}, *bns[] = {"b1", "b2", "b3", "b4"};
    for (int l = 0; l < 4; l++) {
        const mn_node *n = &g->nodes[mn_graph_find_node(g, layers[l])];
        int rows = g->params[n->p[0]].shape.d[0], k = mn_slim_units(rows, w);
        int64_t per = g->params[n->p[0]].n / rows;
        for (int r = k; r < rows; r++) {
            memset(mn_param_data(g, n->p[0]) + r * per, 0, sizeof(float) * (size_t)per);
            mn_param_data(g, n->p[1])[r] = 0;
        }
        const mn_node *b = &g->nodes[mn_graph_find_node(g, bns[l])];
        for (int r = k; r < rows; r++) mn_param_data(g, b->p[0])[r] = mn_param_data(g, b->p[1])[r] = 0;
    }
}

static void t_select_equals_silenced(void **s) {
    (void)s;
    mn_graph p, g;
    build(&p, 3);
    float ws[3] = {0.25f, 0.5f, 1.0f};
    assert_int_equal(mn_slim_make(&p, ws, 3, &g), MN_OK);
    float got[MN_SLIM_MAX];
    assert_int_equal(mn_slim_widths(&g, got), 3);
    assert_int_equal(mn_slim_widths(&p, got), 0);
    const int B = 5;
    float x[5 * 36];
    inputs(x, B * 36, 9);
    int64_t prev = 0;
    for (int i = 0; i < 3; i++) {
        mn_graph sub, ref;
        assert_int_equal(mn_slim_select(&g, ws[i], &sub), MN_OK);
        assert_int_equal(mn_graph_clone(&p, &ref), MN_OK);
        silence(&ref, ws[i]);
        /* shapes: the first ceil(w * units) of each hidden layer */
        const mn_node *c1 = &sub.nodes[mn_graph_find_node(&sub, "c1")], *dw = &sub.nodes[mn_graph_find_node(&sub, "dw")];
        assert_int_equal(c1->out.d[0], mn_slim_units(8, ws[i]));
        assert_int_equal(dw->a.groups, mn_slim_units(8, ws[i]));
        assert_int_equal(sub.nodes[mn_graph_find_node(&sub, "fc1")].out.d[0], mn_slim_units(12, ws[i]));
        assert_int_equal(sub.nodes[mn_graph_find_node(&sub, "out")].out.d[0], 3);
        assert_int_equal(sub.nnodes, p.nnodes);
        /* fewer MACs at each narrower width */
        int64_t macs = mn_graph_macs(&sub);
        assert_true(macs > prev);
        prev = macs;
        assert_int_equal(mn_graph_reserve(&sub, B), MN_OK);
        assert_int_equal(mn_graph_reserve(&ref, B), MN_OK);
        float a[15], b[15];
        memcpy(a, mn_graph_forward(&sub, x, B, 0), sizeof a);
        memcpy(b, mn_graph_forward(&ref, x, B, 0), sizeof b);
        assert_true(tu_maxdiff(a, b, 15) < 1e-5f);
        mn_graph_free(&sub);
        mn_graph_free(&ref);
    }
    assert_int_equal(prev, mn_graph_macs(&p));
    /* a width the model lacks, a plain cut of a plain model */
    mn_graph bad;
    assert_int_equal(mn_slim_select(&g, 0.3f, &bad), MN_EARG);
    assert_int_equal(mn_slim_select(&p, 0.3f, &bad), MN_OK);
    assert_int_equal(bad.nodes[mn_graph_find_node(&bad, "c1")].out.d[0], 3);
    mn_graph_free(&bad);
    mn_graph_free(&g);
    mn_graph_free(&p);
}

static void t_parse(void **s) {
    (void)s;
    float w[MN_SLIM_MAX];
    int n;
    assert_int_equal(mn_slim_parse("0.25,0.5,0.75,1", w, &n), MN_OK);
    assert_int_equal(n, 4);
    assert_int_equal(mn_slim_parse("0.5,0.25,1", w, &n), MN_EARG);
    assert_int_equal(mn_slim_parse("0,1", w, &n), MN_EARG);
    assert_int_equal(mn_slim_parse("0.5,1.5", w, &n), MN_EARG);
    assert_int_equal(mn_slim_parse("0.5,x", w, &n), MN_EARG);
    assert_int_equal(mn_slim_units(20, 0.25f), 5);
    assert_int_equal(mn_slim_units(50, 0.25f), 13);
    assert_int_equal(mn_slim_units(3, 0.01f), 1);
    /* a model whose widths disagree with its batch norm rows is refused */
    mn_graph p, g;
    build(&p, 4);
    float ws[2] = {0.5f, 1.0f};
    assert_int_equal(mn_slim_make(&p, ws, 2, &g), MN_OK);
    assert_int_equal(mn_graph_set_meta(&g, "widths", "0.25,0.5,1"), MN_OK);
    assert_int_equal(mn_slim_widths(&g, w), -1);
    mn_graph_free(&g);
    float no1[2] = {0.25f, 0.5f};
    assert_int_equal(mn_slim_make(&p, no1, 2, &g), MN_EARG);
    mn_graph_free(&p);
}

/* The sum over widths of the mean cross-entropy, each width in training
 * mode (batch statistics), as mn_slim_train's loss. */
static double total_loss(const mn_graph *g, const float *ws, int n, const float *x, const int32_t *y, int B) {
    double l = 0;
    for (int i = 0; i < n; i++) {
        mn_graph sub;
        assert_int_equal(mn_slim_select(g, ws[i], &sub), MN_OK);
        assert_int_equal(mn_graph_reserve(&sub, B), MN_OK);
        const float *z = mn_graph_forward(&sub, x, B, 1);
        l += mn_xent_hard(z, y, B, 3, 1, NULL);
        mn_graph_free(&sub);
    }
    return l;
}

static void t_train_step_gradient(void **s) {
    (void)s;
    mn_graph p, g0, g1;
    build(&p, 5);
    enum { NW = 3 };
    float ws[NW] = {0.25f, 0.5f, 1.0f};
    assert_int_equal(mn_slim_make(&p, ws, NW, &g0), MN_OK);
    /* give each width's batch norm rows values of their own */
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (int q = 0; q < g0.nparams; q++)
        if (strstr(g0.params[q].name, ".gamma") || strstr(g0.params[q].name, ".beta"))
            for (int64_t k = 0; k < g0.params[q].n; k++) mn_param_data(&g0, q)[k] += 0.2f * (mn_rng_uniform(&r) - 0.5f);
    assert_int_equal(mn_graph_clone(&g0, &g1), MN_OK);
    const int B = 8;
    mn_dataset d = {0};
    d.n = B, d.c = 1, d.h = 6, d.w = 6, d.nclass = 3;
    d.x = malloc(sizeof(float) * B * 36);
    d.y = malloc(sizeof(int32_t) * B);
    inputs(d.x, B * 36, 12);
    for (int i = 0; i < B; i++) d.y[i] = i % 3;
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 1;
    c.batch = B; /* one step over the whole set: the order does not matter */
    mn_optim_default(&c.opt, MN_OPT_SGD);
    c.opt.momentum = 0;
    c.opt.lr = 1.0f;
    assert_int_equal(mn_slim_train(&g1, &d, NULL, &c), MN_OK);
    int checked = 0, bad = 0, moved_narrow = 0;
    for (int q = 0; q < g0.nparams; q++) {
        if (!g0.params[q].trainable) continue;
        int64_t n = g0.params[q].n, stride = n > 12 ? n / 12 : 1;
        for (int64_t k = 0; k < n; k += stride) {
            int64_t i = g0.params[q].off + k;
            double an = (double)g0.w[i] - g1.w[i]; /* = lr * gradient */
            float save = g0.w[i], eps = 2e-3f;
            g0.w[i] = save + eps;
            double lp = total_loss(&g0, ws, NW, d.x, d.y, B);
            g0.w[i] = save - eps;
            double lm = total_loss(&g0, ws, NW, d.x, d.y, B);
            g0.w[i] = save;
            double fd = (lp - lm) / (2 * eps);
            checked++;
            if (fabs(fd - an) > 3e-2 * fmax(0.3, fabs(fd))) {
                bad++;
                if (bad <= 5) fprintf(stderr, "  %s[%lld]: fd %.6f step %.6f\n", g0.params[q].name, (long long)k, fd, an);
            }
            /* a narrow width's own batch norm row moved */
            if (strstr(g0.params[q].name, "b1.gamma") && k < 2 && an != 0) moved_narrow++;
        }
    }
    assert_true(checked > 50);
    assert_int_equal(bad, 0);
    assert_true(moved_narrow > 0);
    free(d.x);
    free(d.y);
    mn_graph_free(&g0);
    mn_graph_free(&g1);
    mn_graph_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_parse),
        cmocka_unit_test(t_select_equals_silenced),
        cmocka_unit_test(t_train_step_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
