/* Finite-difference checks of every layer's backward pass and of the
 * losses.  Each case is a tiny network written in the arch spec; the loss is
 * sum(R * output) for a fixed random R, so d(loss)/d(output) = R.  A 1x1
 * conv or dense "pre" layer in front makes the tested op's input gradient
 * show up in pre's weight gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/train.h"
#include "testutil.h"

static double loss_of(mn_graph *g, const float *x, const float *R, int batch, int64_t nout) {
    mn_rng_seed(&g->rng, 99); /* the same dropout mask every time */
    const float *y = mn_graph_forward(g, x, batch, 1);
    double s = 0;
    for (int64_t i = 0; i < batch * nout; i++) s += (double)R[i] * y[i];
    return s;
}

static void gradcheck(const char *spec, int c, int h, int w, int batch) {
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, spec, c, h, w, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 5);
    mn_graph_init_params(&g, &r);
    /* Non-trivial batchnorm affine parameters. */
    for (int i = 0; i < g.nparams; i++)
        if (strstr(g.params[i].name, ".gamma") || strstr(g.params[i].name, ".beta"))
            for (int64_t k = 0; k < g.params[i].n; k++) mn_param_data(&g, i)[k] = 0.5f + mn_rng_uniform(&r);
    assert_int_equal(mn_graph_reserve(&g, batch), MN_OK);
    int64_t nin = (int64_t)c * h * w, nout = mn_shape_numel(mn_graph_output_shape(&g));
    float *x = malloc(sizeof(float) * batch * nin), *R = malloc(sizeof(float) * batch * nout);
    for (int64_t i = 0; i < batch * nin; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    for (int64_t i = 0; i < batch * nout; i++) R[i] = 2 * mn_rng_uniform(&r) - 1;
    loss_of(&g, x, R, batch, nout);
    mn_graph_zero_grad(&g);
    mn_graph_backward(&g, R, batch);
    int checked = 0, bad = 0;
    for (int p = 0; p < g.nparams; p++) {
        if (!g.params[p].trainable) continue;
        int64_t n = g.params[p].n, stride = n > 40 ? n / 40 : 1;
        for (int64_t k = 0; k < n; k += stride) {
            float *wk = mn_param_data(&g, p) + k, save = *wk, eps = 3e-3f;
            *wk = save + eps;
            double lp = loss_of(&g, x, R, batch, nout);
            *wk = save - eps;
            double lm = loss_of(&g, x, R, batch, nout);
            *wk = save;
            double fd = (lp - lm) / (2 * eps), an = mn_param_grad(&g, p)[k];
            double tol = 2e-2 * fmax(1.0, fabs(fd));
            checked++;
            if (fabs(fd - an) > tol) {
                bad++;
                if (bad <= 5) fprintf(stderr, "  %s: %s[%lld] fd %.6f analytic %.6f\n", spec, g.params[p].name, (long long)k, fd, an);
            }
        }
    }
    /* Max-pool and relu kinks may flip under a finite step; allow a rare miss. */
    assert_true(checked > 0);
    assert_true(bad <= checked / 25);
    free(x); free(R);
    mn_graph_free(&g);
}

static void t_dense(void **s) { (void)s; gradcheck("input x; dense pre units=6; dense fc units=5", 7, 1, 1, 3); }
static void t_conv(void **s) {
    (void)s;
    gradcheck("input x; conv pre filters=3 k=1; conv c filters=4 k=3; flatten f; dense o units=3", 2, 6, 6, 2);
    gradcheck("input x; conv pre filters=3 k=1; conv c filters=4 k=3 stride=2 pad=1; flatten f; dense o units=3", 2, 7, 7, 2);
    gradcheck("input x; conv pre filters=4 k=1; conv c filters=6 k=3 pad=1 groups=2; flatten f; dense o units=3", 2, 5, 5, 2);
    gradcheck("input x; conv pre filters=4 k=1; conv c filters=4 k=3 pad=1 groups=4; flatten f; dense o units=3", 2, 5, 5, 2);
}
static void t_maxpool(void **s) {
    (void)s;
    gradcheck("input x; conv pre filters=2 k=1; maxpool p k=2; flatten f; dense o units=3", 1, 6, 6, 2);
    gradcheck("input x; conv pre filters=2 k=1; maxpool p k=3 stride=2 pad=1; flatten f; dense o units=3", 1, 7, 7, 2);
}
static void t_avgpool(void **s) {
    (void)s;
    gradcheck("input x; conv pre filters=2 k=1; avgpool p k=2; flatten f; dense o units=3", 1, 6, 6, 2);
    gradcheck("input x; conv pre filters=2 k=1; avgpool p k=3 stride=2 pad=1; flatten f; dense o units=3", 1, 7, 7, 2);
    gradcheck("input x; conv pre filters=3 k=1; avgpool p k=0; flatten f; dense o units=3", 1, 5, 5, 2);
}
static void t_act(void **s) {
    (void)s;
    gradcheck("input x; dense pre units=8; relu a; dense o units=3", 5, 1, 1, 4);
    /* a clipped relu (ReLU6 with the clip low enough to be hit) */
    gradcheck("input x; dense pre units=8; relu a max=0.3; dense o units=3", 5, 1, 1, 4);
    gradcheck("input x; dense pre units=8; tanh a; dense o units=3", 5, 1, 1, 4);
    gradcheck("input x; dense pre units=8; dropout d rate=0.4; dense o units=3", 5, 1, 1, 4);
    gradcheck("input x; dense pre units=6; softmax sm; dense o units=3", 5, 1, 1, 3);
    gradcheck("input x; conv pre filters=2 k=1; flatten f; dense o units=3", 2, 3, 3, 2);
}
static void t_bn(void **s) {
    (void)s;
    gradcheck("input x; dense pre units=6; batchnorm bn; dense o units=3", 5, 1, 1, 5);
    gradcheck("input x; conv pre filters=3 k=1; batchnorm bn; flatten f; dense o units=3", 2, 4, 4, 3);
    /* switchable batch norm (slimmable nets): the last row runs, the others get no gradient */
    gradcheck("input x; dense pre units=6; sbn bn slots=3; dense o units=3", 5, 1, 1, 5);
    gradcheck("input x; conv pre filters=3 k=1; sbn bn slots=2; flatten f; dense o units=3", 2, 4, 4, 3);
}
static void t_add(void **s) {
    (void)s;
    gradcheck("input x; dense pre units=6; dense a units=6; relu r; dense b units=6 in=r; add s in=b,pre; dense o units=3",
              4, 1, 1, 3);
    /* One ResNet basic block with a projection shortcut, as resnet20's,
     * with tanh for relu: batch norm puts many values near a relu's kink,
     * where a finite difference is not the gradient. */
    gradcheck("input x; conv c0 filters=2 k=3 pad=1; batchnorm b0; tanh r0; conv c1 filters=4 k=3 stride=2 pad=1;"
              "batchnorm b1; tanh r1; conv c2 filters=4 k=3 pad=1; batchnorm b2; conv sc filters=4 k=1 stride=2 in=r0;"
              "batchnorm bsc; add a in=b2,bsc; tanh out; avgpool p k=0; flatten f; dense o units=3",
              1, 6, 6, 4);
}

static void t_concat(void **s) {
    (void)s;
    gradcheck("input x; conv pre filters=2 k=1; conv a filters=3 k=3 pad=1; relu r; concat c in=r,pre; conv o filters=2 k=3",
              2, 5, 5, 2);
    gradcheck("input x; dense pre units=5; dense a units=4; tanh t; concat c in=pre,t,a; dense o units=3", 4, 1, 1, 3);
}

/* Loss gradients: softmax cross-entropy with temperature, hard and soft. */
static void t_xent(void **s) {
    (void)s;
    enum { B = 3, K = 5 };
    float z[B * K], q[B * K], d[B * K];
    int32_t y[B] = {0, 3, 4};
    mn_rng r;
    mn_rng_seed(&r, 3);
    for (int i = 0; i < B * K; i++) z[i] = 4 * mn_rng_uniform(&r) - 2;
    mn_softmax_t(z, B, K, 1.7f, q); /* any valid distribution */
    for (int soft = 0; soft < 2; soft++)
        for (float T = 1; T <= 4; T *= 2) {
            if (soft) mn_xent_soft(z, q, B, K, T, d); else mn_xent_hard(z, y, B, K, T, d);
            for (int i = 0; i < B * K; i++) {
                float save = z[i], eps = 1e-2f;
                z[i] = save + eps;
                double lp = soft ? mn_xent_soft(z, q, B, K, T, NULL) : mn_xent_hard(z, y, B, K, T, NULL);
                z[i] = save - eps;
                double lm = soft ? mn_xent_soft(z, q, B, K, T, NULL) : mn_xent_hard(z, y, B, K, T, NULL);
                z[i] = save;
                assert_true(fabs((lp - lm) / (2 * eps) - d[i]) < 1e-3);
            }
        }
    /* Temperature softens: the max probability falls as T grows. */
    float p1[K], p4[K];
    mn_softmax_t(z, 1, K, 1, p1);
    mn_softmax_t(z, 1, K, 4, p4);
    float m1 = 0, m4 = 0;
    for (int i = 0; i < K; i++) { if (p1[i] > m1) m1 = p1[i]; if (p4[i] > m4) m4 = p4[i]; }
    assert_true(m4 < m1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_dense), cmocka_unit_test(t_conv), cmocka_unit_test(t_maxpool),
        cmocka_unit_test(t_avgpool), cmocka_unit_test(t_act), cmocka_unit_test(t_bn),
        cmocka_unit_test(t_add), cmocka_unit_test(t_xent),
        cmocka_unit_test(t_concat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
