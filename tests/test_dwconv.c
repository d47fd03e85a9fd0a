/* The direct depthwise kernels: reference vs portable vs AVX2 (when the CPU
 * has it), the op against the GEMM path on an equivalent ordinary conv,
 * finite-difference checks for depthwise and grouped conv, and the
 * depthwise-separable built-ins' sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dwconv.h"
#include "minnow/arch.h"
#include "minnow/fold.h"
#include "minnow/sparse.h"
#include "minnow/data.h"
#include "minnow/train.h"
#include "kernels/kernels.h"
#include "testutil.h"

static void fill(float *a, int64_t n, mn_rng *r) {
    for (int64_t i = 0; i < n; i++) a[i] = 2 * mn_rng_uniform(r) - 1;
}

static void t_kernels(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 3);
    int cases = 0;
    for (int k = 1; k <= 5; k += 2)
        for (int st = 1; st <= 2; st++)
            for (int pad = 0; pad < k; pad++)
                for (int H = k; H <= 13; H += 4)
                    for (int W = k; W <= 150; W += 37) { /* W > 64 crosses a partial-sum chunk */
                        int OH = mn_conv_out(H, k, st, pad), OW = mn_conv_out(W, k, st, pad);
                        float x[20 * 160], w[25], dy[20 * 160];
                        float y0[20 * 160], y1[20 * 160], y2[20 * 160];
                        float gw0[25] = {0}, gw1[25] = {0}, gw2[25] = {0};
                        float dx0[20 * 160] = {0}, dx1[20 * 160] = {0}, dx2[20 * 160] = {0};
                        fill(x, H * W, &r); fill(w, k * k, &r); fill(dy, OH * OW, &r);
                        mn_dw_plane_fwd_ref(x, H, W, w, k, st, pad, 0.25f, y0, OH, OW);
                        mn_dw_plane_fwd_plain(x, H, W, w, k, st, pad, 0.25f, y1, OH, OW);
                        mn_dw_plane_fwd(x, H, W, w, k, st, pad, 0.25f, y2, OH, OW);
                        assert_true(tu_maxdiff(y0, y1, OH * OW) < 1e-4f);
                        assert_true(tu_maxdiff(y0, y2, OH * OW) < 1e-4f);
                        mn_dw_plane_bwd_ref(x, dy, H, W, w, k, st, pad, OH, OW, gw0, dx0);
                        mn_dw_plane_bwd_plain(x, dy, H, W, w, k, st, pad, OH, OW, gw1, dx1);
                        mn_dw_plane_bwd(x, dy, H, W, w, k, st, pad, OH, OW, gw2, dx2);
                        assert_true(tu_maxdiff(gw0, gw1, k * k) < 1e-3f);
                        assert_true(tu_maxdiff(gw0, gw2, k * k) < 1e-3f);
                        assert_true(tu_maxdiff(dx0, dx1, H * W) < 1e-4f);
                        assert_true(tu_maxdiff(dx0, dx2, H * W) < 1e-4f);
                        /* dx NULL: weight gradient only, the same values. */
                        float gw3[25] = {0};
                        mn_dw_plane_bwd(x, dy, H, W, w, k, st, pad, OH, OW, gw3, NULL);
                        assert_true(tu_maxdiff(gw0, gw3, k * k) < 1e-3f);
                        cases++;
                    }
    assert_true(cases > 100);
    fprintf(stderr, "  depthwise kernels: %d shapes, dispatched path %s\n", cases, mn_dw_path());
}

/* A depthwise conv (groups = C, multiplier m) equals an ordinary conv whose
 * weight is zero off the block diagonal; the latter runs im2col + GEMM. */
static void vs_gemm(int C, int m, int k, int st, int pad) {
    char dws[256], gms[256];
    snprintf(dws, sizeof dws, "input x; conv pre filters=%d k=1; conv c filters=%d k=%d stride=%d pad=%d groups=%d",
             C, C * m, k, st, pad, C);
    snprintf(gms, sizeof gms, "input x; conv pre filters=%d k=1; conv c filters=%d k=%d stride=%d pad=%d",
             C, C * m, k, st, pad);
    mn_graph a, b;
    int H = 9, W = 11, batch = 3;
    assert_int_equal(mn_arch_build(&a, dws, 2, H, W, 10), MN_OK);
    assert_int_equal(mn_arch_build(&b, gms, 2, H, W, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 7);
    mn_graph_init_params(&a, &r);
    int pa = mn_graph_find_param(&a, "c.weight"), pb = mn_graph_find_param(&b, "c.weight");
    /* Same pre layer and bias; block-diagonal expansion of the weight. */
    memcpy(b.w, a.w, sizeof(float) * a.params[pa].off);
    memset(mn_param_data(&b, pb), 0, sizeof(float) * b.params[pb].n);
    for (int f = 0; f < C * m; f++)
        memcpy(mn_param_data(&b, pb) + ((int64_t)f * C + f / m) * k * k, mn_param_data(&a, pa) + (int64_t)f * k * k,
               sizeof(float) * k * k);
    memcpy(mn_param_data(&b, pb + 1), mn_param_data(&a, pa + 1), sizeof(float) * C * m);
    assert_int_equal(mn_graph_reserve(&a, batch), MN_OK);
    assert_int_equal(mn_graph_reserve(&b, batch), MN_OK);
    int64_t nin = 2 * H * W, nout = mn_shape_numel(mn_graph_output_shape(&a));
    float *x = malloc(sizeof(float) * batch * nin), *R = malloc(sizeof(float) * batch * nout);
    fill(x, batch * nin, &r);
    fill(R, batch * nout, &r);
    const float *ya = mn_graph_forward(&a, x, batch, 1), *yb = mn_graph_forward(&b, x, batch, 1);
    assert_true(tu_maxdiff(ya, yb, batch * nout) < 1e-4f);
    mn_graph_zero_grad(&a); mn_graph_zero_grad(&b);
    mn_graph_backward(&a, R, batch);
    mn_graph_backward(&b, R, batch);
    /* Input gradients show up in pre's weight gradient. */
    assert_true(tu_maxdiff(a.gw, b.gw, a.params[pa].off) < 1e-3f);
    for (int f = 0; f < C * m; f++)
        assert_true(tu_maxdiff(mn_param_grad(&a, pa) + (int64_t)f * k * k,
                               mn_param_grad(&b, pb) + ((int64_t)f * C + f / m) * k * k, k * k) < 1e-3f);
    assert_true(tu_maxdiff(mn_param_grad(&a, pa + 1), mn_param_grad(&b, pb + 1), C * m) < 1e-3f);
    free(x); free(R);
    mn_graph_free(&a); mn_graph_free(&b);
}

static void t_vs_gemm(void **s) {
    (void)s;
    vs_gemm(4, 1, 3, 1, 1);
    vs_gemm(3, 2, 3, 2, 1);
    vs_gemm(5, 1, 5, 1, 0);
    vs_gemm(2, 3, 1, 1, 0);
}

/* Finite differences, as tests/test_grad.c does: loss = sum(R * output). */
static double loss_of(mn_graph *g, const float *x, const float *R, int batch, int64_t nout) {
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
    assert_int_equal(mn_graph_reserve(&g, batch), MN_OK);
    int64_t nin = (int64_t)c * h * w, nout = mn_shape_numel(mn_graph_output_shape(&g));
    float *x = malloc(sizeof(float) * batch * nin), *R = malloc(sizeof(float) * batch * nout);
    fill(x, batch * nin, &r);
    fill(R, batch * nout, &r);
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
            checked++;
            if (fabs(fd - an) > 2e-2 * fmax(1.0, fabs(fd))) {
                bad++;
                fprintf(stderr, "  %s: %s[%lld] fd %.6f analytic %.6f\n", spec, g.params[p].name, (long long)k, fd, an);
            }
        }
    }
    assert_true(checked > 0);
    assert_true(bad <= checked / 25); /* relu kinks may flip under a finite step */
    free(x); free(R);
    mn_graph_free(&g);
}

static void t_grad(void **s) {
    (void)s;
    /* depthwise, multiplier 1 and 2, stride 2, then a pointwise conv */
    gradcheck("input x; conv pre filters=3 k=1; conv c filters=3 k=3 pad=1 groups=3; flatten f; dense o units=3", 2, 6, 6, 2);
    gradcheck("input x; conv pre filters=3 k=1; conv c filters=6 k=3 stride=2 pad=1 groups=3; flatten f; dense o units=3", 2, 7, 7, 2);
    gradcheck("input x; conv pre filters=4 k=1; conv c filters=4 k=5 pad=2 groups=4; conv pw filters=3 k=1; relu r;"
              "flatten f; dense o units=3", 1, 8, 9, 2);
    /* grouped (not depthwise): the GEMM path */
    gradcheck("input x; conv pre filters=4 k=1; conv c filters=6 k=3 groups=2; flatten f; dense o units=3", 2, 6, 6, 2);
}

static int64_t conv_params(const mn_graph *g) {
    int64_t s = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MN_OP_CONV)
            for (int k = 0; k < g->nodes[i].np; k++) s += g->params[g->nodes[i].p[k]].n;
    return s;
}

/* The generated CIFAR ResNets (src/nn/arch.c): He et al.'s sizes, 3n adds,
 * projection shortcuts where the shape changes, any input shape, widths;
 * and the gradient of a narrow ResNet-20 (batch norm, residual adds,
 * strided and 1x1 convs, global average pool) checked numerically. */
static int count_op(const mn_graph *g, mn_op op) {
    int k = 0;
    for (int i = 0; i < g->nnodes; i++) k += g->nodes[i].op == op;
    return k;
}

static void t_resnets(void **s) {
    (void)s;
    static const struct { const char *name; int n; } nets[] = {{"resnet20", 3}, {"resnet32", 5}, {"resnet56", 9}};
    int64_t prev = 0;
    for (int i = 0; i < 3; i++) {
        mn_graph g;
        assert_int_equal(mn_arch_build(&g, nets[i].name, 3, 32, 32, 10), MN_OK);
        int64_t cw = conv_params(&g);
        fprintf(stderr, "  %s: %lld conv params, %lld MACs\n", nets[i].name, (long long)cw, (long long)mn_graph_macs(&g));
        assert_int_equal(count_op(&g, MN_OP_ADD), 3 * nets[i].n);
        assert_int_equal(count_op(&g, MN_OP_CONV), 6 * nets[i].n + 1 + 2); /* + 2 projections */
        assert_int_equal(count_op(&g, MN_OP_BATCHNORM), 6 * nets[i].n + 1 + 2);
        assert_int_equal(mn_shape_numel(mn_graph_output_shape(&g)), 10);
        assert_true(cw > prev);
        prev = cw;
        if (i == 0) assert_true(cw > 260000 && cw < 280000); /* He et al.: 0.27M */
        mn_graph_free(&g);
    }
    mn_graph a, b;
    assert_int_equal(mn_arch_build(&a, "resnet20", 1, 28, 28, 10), MN_OK);
    assert_int_equal(mn_arch_build(&b, "resnet20:0.5", 1, 28, 28, 10), MN_OK);
    assert_true(conv_params(&b) * 3 < conv_params(&a) && conv_params(&b) * 5 > conv_params(&a));
    assert_string_equal(mn_graph_get_meta(&b, "arch"), "resnet20:0.5");
    mn_graph_free(&a);
    mn_graph_free(&b);
    /* MobileNet v1: conv + 13 x (depthwise + pointwise), ReLU6 after each;
     * MobileNetV2: 17 inverted residual blocks, 10 of them with the add. */
    mn_graph m1, m2;
    assert_int_equal(mn_arch_build(&m1, "mobilenet:0.25", 3, 32, 32, 10), MN_OK);
    assert_int_equal(count_op(&m1, MN_OP_CONV), 27);
    assert_int_equal(count_op(&m1, MN_OP_BATCHNORM), 27);
    int dw = 0, r6 = 0;
    for (int i = 0; i < m1.nnodes; i++) {
        dw += m1.nodes[i].op == MN_OP_CONV && m1.nodes[i].a.groups > 1;
        r6 += m1.nodes[i].op == MN_OP_RELU && m1.nodes[i].a.max == 6;
    }
    assert_int_equal(dw, 13);
    assert_int_equal(r6, 27);
    assert_int_equal(mn_arch_build(&m2, "mobilenetv2", 3, 32, 32, 10), MN_OK);
    assert_int_equal(count_op(&m2, MN_OP_ADD), 10);
    assert_int_equal(count_op(&m2, MN_OP_CONV), 1 + 2 + 16 * 3 + 1);
    fprintf(stderr, "  mobilenetv2 on 3x32x32: %lld conv params, %lld MACs\n", (long long)conv_params(&m2),
            (long long)mn_graph_macs(&m2));
    assert_true(conv_params(&m2) > 2100000 && conv_params(&m2) < 2300000); /* the CIFAR form: 2.2M */
    assert_int_equal(mn_shape_numel(mn_graph_output_shape(&m2)), 10);
    mn_graph_free(&m1);
    mn_graph_free(&m2);
    mn_graph bad;
    assert_int_equal(mn_arch_build(&bad, "mobilenet:17", 1, 28, 28, 10), MN_EARG);
    assert_int_equal(mn_arch_build(&bad, "resnet20:0", 1, 28, 28, 10), MN_EARG);
    assert_int_equal(mn_arch_build(&bad, "resnet20:x", 1, 28, 28, 10), MN_EARG);
    /* A narrow ResNet-20 learns: it fits 32 random 8x8 images with random
     * labels (gradients through batch norm, the adds, the strided and 1x1
     * convs; the ops' own gradients are checked in test_grad.c). */
    mn_graph t;
    assert_int_equal(mn_arch_build(&t, "resnet20:0.25", 1, 8, 8, 4), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 9);
    mn_graph_init_params(&t, &r);
    mn_dataset d = {0};
    d.n = 32; d.c = 1; d.h = d.w = 8; d.nclass = 4;
    d.x = mn_alloc((size_t)d.n * 64, sizeof(float));
    d.y = mn_alloc((size_t)d.n, sizeof(int32_t));
    for (int i = 0; i < d.n * 64; i++) d.x[i] = 2 * mn_rng_uniform(&r) - 1;
    for (int i = 0; i < d.n; i++) d.y[i] = (int32_t)mn_rng_below(&r, 4);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 60;
    c.batch = 16;
    c.opt.lr = 1e-2f;
    assert_int_equal(mn_train(&t, &d, NULL, &c), MN_OK);
    mn_eval_result e;
    assert_int_equal(mn_eval(&t, &d, 32, &e), MN_OK);
    fprintf(stderr, "  resnet20:0.25 on 32 random images: training error %.3f\n", e.error);
    assert_true(e.error <= 0.1f);
    mn_dataset_free(&d);
    mn_graph_free(&t);
}

static void t_builtins(void **s) {
    (void)s;
    mn_graph a, b;
    assert_int_equal(mn_arch_build(&a, "lenet5", 1, 28, 28, 10), MN_OK);
    assert_int_equal(mn_arch_build(&b, "lenet5dw", 1, 28, 28, 10), MN_OK);
    fprintf(stderr, "  lenet5 conv params %lld, lenet5dw %lld; MACs %lld vs %lld\n", (long long)conv_params(&a),
            (long long)conv_params(&b), (long long)mn_graph_macs(&a), (long long)mn_graph_macs(&b));
    assert_true(conv_params(&a) >= 3 * conv_params(&b));
    assert_true(mn_graph_macs(&a) > mn_graph_macs(&b));
    /* Same output shape, same head. */
    assert_int_equal(mn_shape_numel(mn_graph_output_shape(&a)), mn_shape_numel(mn_graph_output_shape(&b)));
    mn_graph_free(&a); mn_graph_free(&b);
    const char *pairs[3][2] = {{"conv2", "conv2dw"}, {"conv4", "conv4dw"}, {"conv6", "conv6dw"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mn_arch_build(&a, pairs[i][0], 3, 32, 32, 10), MN_OK);
        assert_int_equal(mn_arch_build(&b, pairs[i][1], 3, 32, 32, 10), MN_OK);
        assert_true(conv_params(&a) > 3 * conv_params(&b) / 2);
        assert_true(mn_graph_macs(&a) > mn_graph_macs(&b));
        mn_graph_free(&a); mn_graph_free(&b);
    }
}

/* Batch norm folded into the conv/dense before it (minnow/fold.h): the
 * inference outputs stay, the batch norms feeding from a layer alone go. */
static float fold_diff(mn_graph *g, mn_graph *f, const float *x, int batch) {
    assert_int_equal(mn_graph_reserve(g, batch), MN_OK);
    assert_int_equal(mn_graph_reserve(f, batch), MN_OK);
    int64_t k = batch * mn_shape_numel(mn_graph_output_shape(g));
    float *y = malloc(sizeof(float) * (size_t)k);
    assert_non_null(y);
    memcpy(y, mn_graph_forward(g, x, batch, 0), sizeof(float) * (size_t)k);
    const float *z = mn_graph_forward(f, x, batch, 0);
    float d = 0, m = 0;
    for (int64_t i = 0; i < k; i++) d = fmaxf(d, fabsf(y[i] - z[i])), m = fmaxf(m, fabsf(y[i]));
    free(y);
    return d / (m > 1 ? m : 1);
}

static void random_bn(mn_graph *g, mn_rng *r) {
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        if (n->op != MN_OP_BATCHNORM) continue;
        int64_t c = g->params[n->p[0]].n;
        float *ga = mn_param_data(g, n->p[0]), *be = mn_param_data(g, n->p[1]);
        float *mu = mn_param_data(g, n->p[2]), *var = mn_param_data(g, n->p[3]);
        for (int64_t j = 0; j < c; j++) {
            ga[j] = 0.5f + mn_rng_uniform(r), be[j] = mn_rng_uniform(r) - 0.5f;
            mu[j] = 0.6f * mn_rng_uniform(r) - 0.3f, var[j] = 0.5f + 1.5f * mn_rng_uniform(r);
        }
    }
}

static void t_fold_bn(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 5);
    float x[3 * 3 * 16 * 16];
    for (int i = 0; i < 3 * 3 * 16 * 16; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    /* ResNet-20: every batch norm follows a conv that feeds it alone. */
    mn_graph g, f;
    int nf = -1;
    assert_int_equal(mn_arch_build(&g, "resnet20:0.25", 3, 16, 16, 10), MN_OK);
    mn_graph_init_params(&g, &r);
    random_bn(&g, &r);
    assert_int_equal(mn_graph_fold_bn(&g, &f, &nf), MN_OK);
    assert_int_equal(nf, count_op(&g, MN_OP_BATCHNORM));
    assert_int_equal(count_op(&f, MN_OP_BATCHNORM), 0);
    assert_int_equal(f.nnodes, g.nnodes - nf);
    float d = fold_diff(&g, &f, x, 3);
    fprintf(stderr, "  resnet20:0.25 folded (%d batch norms): max relative difference %.2g\n", nf, d);
    assert_true(d < 1e-5f);
    mn_graph_free(&f);
    mn_graph_free(&g);
    /* MobileNetV2 (ReLU6, depthwise, residual adds): every batch norm folds. */
    assert_int_equal(mn_arch_build(&g, "mobilenetv2:0.25", 3, 16, 16, 10), MN_OK);
    mn_graph_init_params(&g, &r);
    random_bn(&g, &r);
    assert_int_equal(mn_graph_fold_bn(&g, &f, &nf), MN_OK);
    assert_int_equal(nf, count_op(&g, MN_OP_BATCHNORM));
    d = fold_diff(&g, &f, x, 3);
    fprintf(stderr, "  mobilenetv2:0.25 folded (%d batch norms): max relative difference %.2g\n", nf, d);
    assert_true(d < 1e-5f);
    mn_graph_free(&f);
    mn_graph_free(&g);
    /* A dense layer's batch norm folds; one whose conv also feeds an add
     * (the conv's output is used twice) stays. */
    const char *spec = "input x; conv c1 filters=4 k=3 pad=1; batchnorm b1; relu r1; conv c2 filters=4 k=3 pad=1; "
                       "batchnorm b2 in=c2; add a in=b2,c2; flatten fl; dense d1 units=8; batchnorm b3; relu r3; "
                       "dense d2 units=3";
    assert_int_equal(mn_arch_build(&g, spec, 3, 16, 16, 3), MN_OK);
    mn_graph_init_params(&g, &r);
    random_bn(&g, &r);
    assert_int_equal(mn_graph_fold_bn(&g, &f, &nf), MN_OK);
    assert_int_equal(nf, 2);
    assert_true(mn_graph_find_node(&f, "b2") >= 0 && mn_graph_find_node(&f, "b1") < 0 && mn_graph_find_node(&f, "b3") < 0);
    assert_true(fold_diff(&g, &f, x, 3) < 1e-5f);
    mn_graph_free(&f);
    /* A negative variance (a hostile file) would fold to NaN: b1 stays. */
    mn_param_data(&g, mn_graph_find_param(&g, "b1.var"))[1] = -1;
    assert_int_equal(mn_graph_fold_bn(&g, &f, &nf), MN_OK);
    assert_int_equal(nf, 1);
    assert_true(mn_graph_find_node(&f, "b1") >= 0 && mn_graph_find_node(&f, "b3") < 0);
    mn_graph_free(&f);
    mn_param_data(&g, mn_graph_find_param(&g, "b1.var"))[1] = 1;
    /* The layers that are not folded keep their compressed storage. */
    int d1 = mn_graph_find_param(&g, "d1.weight");
    float *mk = mn_param_mask(&g, d1);
    for (int64_t i = 0; i < g.params[d1].n; i++) mk[i] = (float)(i % 4 == 0);
    mn_graph_apply_masks(&g);
    assert_int_equal(mn_graph_sparsify(&g, 0.5f), MN_OK);
    assert_string_equal(mn_param_storage(&g, d1), "csr");
    assert_int_equal(mn_graph_fold_bn(&g, &f, &nf), MN_OK);
    assert_int_equal(nf, 1); /* b1; b3 follows the now-sparse d1: it stays */
    assert_string_equal(mn_param_storage(&f, mn_graph_find_param(&f, "d1.weight")), "csr");
    assert_true(fold_diff(&g, &f, x, 3) < 1e-5f);
    mn_graph_free(&f);
    mn_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_kernels), cmocka_unit_test(t_vs_gemm), cmocka_unit_test(t_grad),
        cmocka_unit_test(t_builtins),
        cmocka_unit_test(t_resnets),
        cmocka_unit_test(t_fold_bn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
