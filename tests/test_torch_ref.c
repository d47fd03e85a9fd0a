/* minnow against PyTorch: one small network covering the core layers (conv
 * with padding, stride and groups, batchnorm 2-D and 1-D, relu, tanh, max
 * and average pooling, a residual add, flatten, dense, input normalisation)
 * run forward in eval and train mode, the softmax cross-entropy at T=2,
 * every parameter gradient, and two steps of Adam and of SGD with momentum
 * and weight decay.  The expected values come from
 * tests/torch_ref/ref_small.txt, written by tests/torch_ref/gen_ref.py, so
 * this test needs no Python.  Tolerance: 1e-4 of each tensor's largest
 * magnitude (the reference is float64, minnow float32);
 * MINNOW_TORCH_REF_VERBOSE=1 prints the error of every tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/train.h"
#include "testutil.h"

#define RTOL 1e-4

typedef struct ref_tensor {
    char name[96];
    int ndim, d[4];
    int64_t n;
    double *v;
} ref_tensor;

static struct {
    char spec[1024];
    int n;
    ref_tensor t[128];
} R;

static const ref_tensor *ref_get(const char *name) {
    for (int i = 0; i < R.n; i++)
        if (strcmp(R.t[i].name, name) == 0) return &R.t[i];
    fprintf(stderr, "reference file has no tensor '%s'\n", name);
    return NULL;
}

/* The file: '#' comments, one "spec ..." line, then for each tensor a
 * "tensor NAME NDIM D0 .. Dn-1" line followed by its values. */
static int load_ref(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ref_tensor *cur = NULL;
    int64_t got = 0;
    int ok = 1;
    while (ok && getline(&line, &cap, f) > 0) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (strncmp(line, "spec ", 5) == 0) {
            snprintf(R.spec, sizeof R.spec, "%s", line + 5);
            R.spec[strcspn(R.spec, "\n")] = 0;
            continue;
        }
        if (strncmp(line, "tensor ", 7) == 0) {
            if ((cur && got != cur->n) || R.n == (int)(sizeof R.t / sizeof R.t[0])) { ok = 0; break; }
            cur = &R.t[R.n++];
            memset(cur, 0, sizeof *cur);
            int pos = 0;
            if (sscanf(line + 7, "%95s %d%n", cur->name, &cur->ndim, &pos) != 2 || cur->ndim < 1 || cur->ndim > 4) { ok = 0; break; }
            const char *p = line + 7 + pos;
            cur->n = 1;
            for (int i = 0; i < cur->ndim; i++) {
                char *end;
                long d = strtol(p, &end, 10);
                if (end == p || d <= 0 || d > 100000) { ok = 0; break; }
                cur->d[i] = (int)d;
                cur->n *= d;
                p = end;
            }
            cur->v = ok ? malloc(sizeof(double) * cur->n) : NULL;
            if (!cur->v) ok = 0;
            got = 0;
            continue;
        }
        if (!cur) { ok = 0; break; }
        char *p = line, *end;
        for (double x = strtod(p, &end); end != p; x = strtod(p, &end)) {
            if (got == cur->n) { ok = 0; break; }
            cur->v[got++] = x;
            p = end;
        }
    }
    if (cur && got != cur->n) ok = 0;
    free(line);
    fclose(f);
    if (!ok || !R.spec[0]) { fprintf(stderr, "%s: malformed reference file\n", path); return -1; }
    return 0;
}

static int group_setup(void **s) {
    (void)s;
    const char *src = getenv("MINNOW_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/torch_ref/ref_small.txt", src && *src ? src : ".");
    return load_ref(path);
}

static int group_teardown(void **s) {
    (void)s;
    for (int i = 0; i < R.n; i++) free(R.t[i].v);
    R.n = 0;
    return 0;
}

/* |got - ref| <= RTOL * max|ref| over the tensor; prints the worst element
 * on failure and returns 0 there. */
static int close_to(const char *what, const float *got, const ref_tensor *ref, double rtol) {
    double scale = 0, worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < ref->n; i++) scale = fmax(scale, fabs(ref->v[i]));
    for (int64_t i = 0; i < ref->n; i++) {
        double d = fabs((double)got[i] - ref->v[i]);
        if (!(d <= worst)) { worst = d; wi = i; }
    }
    double tol = rtol * scale + 1e-7;
    if (getenv("MINNOW_TORCH_REF_VERBOSE"))
        fprintf(stderr, "  %-22s max |diff| / max |ref| = %.2e\n", what, worst / fmax(scale, 1e-30));
    if (worst <= tol) return 1;
    fprintf(stderr, "  %s: element %lld is %.9g, PyTorch %.9g (max |diff| %.3g > tol %.3g)\n", what,
            (long long)wi, got[wi], ref->v[wi], worst, tol);
    return 0;
}

/* The network of the reference file, with its initial parameters. */
static void build(mn_graph *g) {
    assert_int_equal(mn_arch_build(g, R.spec, 1, 12, 12, 10), MN_OK);
    int matched = 0;
    for (int i = 0; i < R.n; i++) {
        if (strncmp(R.t[i].name, "param.", 6) != 0) continue;
        const char *pname = R.t[i].name + 6;
        int p = mn_graph_find_param(g, pname);
        if (p < 0) fprintf(stderr, "minnow has no parameter '%s'\n", pname);
        assert_true(p >= 0);
        /* Same layout as torch: dense [out, in], conv [F, C/g, k, k]. */
        const mn_param *mp = &g->params[p];
        assert_int_equal(mp->shape.ndim, R.t[i].ndim);
        for (int k = 0; k < mp->shape.ndim; k++) assert_int_equal(mp->shape.d[k], R.t[i].d[k]);
        float *w = mn_param_data(g, p);
        for (int64_t k = 0; k < mp->n; k++) w[k] = (float)R.t[i].v[k];
        matched++;
    }
    /* Every minnow parameter except the input normalisation is in the file;
     * that one is set from the generator's constants. */
    assert_int_equal(matched, g->nparams - 2);
    float *mean = mn_param_data(g, mn_graph_find_param(g, "x.mean"));
    float *sd = mn_param_data(g, mn_graph_find_param(g, "x.std"));
    mean[0] = 0.3f;
    sd[0] = 0.7f;
    assert_int_equal(mn_graph_reserve(g, ref_get("x")->d[0]), MN_OK);
}

static float *as_float(const ref_tensor *t) {
    float *f = malloc(sizeof(float) * t->n);
    assert_non_null(f);
    for (int64_t i = 0; i < t->n; i++) f[i] = (float)t->v[i];
    return f;
}

static int32_t *labels(int batch) {
    const ref_tensor *t = ref_get("labels");
    assert_non_null(t);
    assert_int_equal(t->n, batch);
    int32_t *y = malloc(sizeof(int32_t) * batch);
    assert_non_null(y);
    for (int i = 0; i < batch; i++) y[i] = (int32_t)t->v[i];
    return y;
}

/* One training-mode forward and backward; returns the loss. */
static float fwd_bwd(mn_graph *g, const float *x, const int32_t *y, int batch, float T, float *dl) {
    const float *z = mn_graph_forward(g, x, batch, 1);
    float loss = mn_xent_hard(z, y, batch, 10, T, dl);
    mn_graph_zero_grad(g);
    mn_graph_backward(g, dl, batch);
    return loss;
}

/* Eval mode (running statistics), train mode (batch statistics), the
 * running statistics afterwards, the loss at T=2 and every gradient. */
static void forward_backward(void) {
    mn_graph g;
    build(&g);
    const ref_tensor *xr = ref_get("x");
    int batch = xr->d[0];
    float *x = as_float(xr), dl[10 * 64];
    int32_t *y = labels(batch);
    int ok = 1;

    const float *ze = mn_graph_forward(&g, x, batch, 0);
    ok &= close_to("out_eval", ze, ref_get("out_eval"), RTOL);
    float *zeval = malloc(sizeof(float) * batch * 10);
    memcpy(zeval, ze, sizeof(float) * batch * 10);
    /* Eval mode is per sample: one sample at a time (the batch-1 kernel
     * paths, e.g. GEMV in dense layers) gives the same rows. */
    for (int b = 0; b < batch; b++) {
        const float *z1 = mn_graph_forward(&g, x + (int64_t)b * xr->n / batch, 1, 0);
        ref_tensor row = *ref_get("out_eval");
        row.n = 10;
        row.v += b * 10;
        char what[32];
        snprintf(what, sizeof what, "out_eval[%d] alone", b);
        ok &= close_to(what, z1, &row, RTOL);
    }

    float T = (float)ref_get("T")->v[0];
    float loss = fwd_bwd(&g, x, y, batch, T, dl);
    const float *zt = g.nodes[g.output].y;
    ok &= close_to("out_train", zt, ref_get("out_train"), RTOL);
    /* The two modes really differ here, so both comparisons mean something. */
    assert_true(tu_maxdiff(zeval, zt, (size_t)batch * 10) > 1e-2f);
    float lossf[1] = {loss};
    ok &= close_to("loss", lossf, ref_get("loss"), RTOL);

    int checked = 0;
    char name[128];
    for (int p = 0; p < g.nparams; p++) {
        const mn_param *mp = &g.params[p];
        if (mp->trainable) {
            snprintf(name, sizeof name, "grad.%s", mp->name);
            const ref_tensor *t = ref_get(name);
            assert_non_null(t);
            assert_int_equal(t->n, mp->n);
            ok &= close_to(name, mn_param_grad(&g, p), t, RTOL);
            checked++;
        } else if (strstr(mp->name, "bn")) {
            snprintf(name, sizeof name, "after.%s", mp->name);
            const ref_tensor *t = ref_get(name);
            assert_non_null(t);
            ok &= close_to(name, mn_param_data(&g, p), t, RTOL);
        }
    }
    assert_int_equal(checked, 14);
    assert_true(ok);
    free(zeval);
    free(x);
    free(y);
    mn_graph_free(&g);
}

/* Single-threaded, and with the OpenMP / BLAS threads the CLI can ask for. */
static void t_forward_backward(void **s) {
    (void)s;
    forward_backward();
    mn_set_threads(2);
    forward_backward();
    mn_set_threads(1);
}

/* Two optimizer steps from the initial parameters, the second at the
 * gradient of the once-updated network, as gen_ref.py does. */
static void two_steps(mn_opt_kind kind, const char *prefix) {
    mn_graph g;
    build(&g);
    const ref_tensor *xr = ref_get("x");
    int batch = xr->d[0];
    float *x = as_float(xr), dl[10 * 64];
    int32_t *y = labels(batch);
    float T = (float)ref_get("T")->v[0];
    mn_optim o;
    mn_optim_default(&o, kind);
    char hp[32];
    snprintf(hp, sizeof hp, "%s_hp", prefix);
    const double *h = ref_get(hp)->v;
    if (kind == MN_OPT_ADAM) {
        o.lr = (float)h[0]; o.beta1 = (float)h[1]; o.beta2 = (float)h[2]; o.eps = (float)h[3];
        o.weight_decay = (float)h[4];
    } else {
        o.lr = (float)h[0]; o.momentum = (float)h[1]; o.weight_decay = (float)h[2];
    }
    mn_optim_reset(&g, &o);
    for (int step = 0; step < 2; step++) {
        fwd_bwd(&g, x, y, batch, T, dl);
        mn_optim_step(&g, &o, o.lr);
    }
    int ok = 1, checked = 0;
    char name[128];
    for (int p = 0; p < g.nparams; p++) {
        if (!g.params[p].trainable) continue;
        snprintf(name, sizeof name, "%s.%s", prefix, g.params[p].name);
        const ref_tensor *t = ref_get(name);
        assert_non_null(t);
        ok &= close_to(name, mn_param_data(&g, p), t, RTOL);
        checked++;
    }
    assert_int_equal(checked, 14);
    assert_true(ok);
    free(x);
    free(y);
    mn_graph_free(&g);
}

static void t_adam(void **s) { (void)s; two_steps(MN_OPT_ADAM, "adam"); }
static void t_sgd(void **s) { (void)s; two_steps(MN_OPT_SGD, "sgd"); }

/* The comparison is not vacuous: moving one weight by 1e-3 of its tensor's
 * scale is caught in the output. */
static void t_sensitive(void **s) {
    (void)s;
    mn_graph g;
    build(&g);
    const ref_tensor *xr = ref_get("x");
    float *x = as_float(xr);
    mn_param_data(&g, mn_graph_find_param(&g, "c2.weight"))[5] += 2e-3f;
    const float *z = mn_graph_forward(&g, x, xr->d[0], 0);
    fprintf(stderr, "  (a mismatch report is expected here)\n");
    assert_false(close_to("out_eval perturbed", z, ref_get("out_eval"), RTOL));
    free(x);
    mn_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_forward_backward), cmocka_unit_test(t_adam),
        cmocka_unit_test(t_sgd), cmocka_unit_test(t_sensitive),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
