/* The small ops: input (with its normalisation), relu, tanh, dropout,
 * flatten, add, softmax. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "nn/ops.h"

static mn_status same_shape(mn_graph *g, mn_node *n) {
    n->out = *mn__in_shape(g, n, 0);
    return MN_OK;
}

static int64_t elems(const mn_graph *g, const mn_node *n) { (void)g; return mn_shape_numel(&n->out); }

/* input: y = (x - mean[c]) / std[c]; a model takes raw [0,1] pixels and keeps
 * the normalisation it was trained with. */
static mn_status input_infer(mn_graph *g, mn_node *n) {
    mn_attrs *a = &n->a;
    if (a->c <= 0 || a->h < 0 || a->w < 0 || (int64_t)a->c * (a->h ? a->h : 1) * (a->w ? a->w : 1) > (1 << 26))
        return mn_error(MN_ESHAPE, "input '%s': bad shape %dx%dx%d", n->name, a->c, a->h, a->w);
    if (a->h <= 1 && a->w <= 1) n->out = (mn_shape){1, {a->c, 0, 0, 0}};
    else n->out = (mn_shape){3, {a->c, a->h, a->w, 0}};
    int d[1] = {a->c};
    if (mn__declare_param(g, n, "mean", 1, d, 0, 0) < 0) return MN_ESHAPE;
    if (mn__declare_param(g, n, "std", 1, d, 0, 0) < 0) return MN_ESHAPE;
    return MN_OK;
}

static void input_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    int C = n->out.d[0];
    int64_t plane = mn_shape_numel(&n->out) / C;
    const float *mean = mn__w(g, n, 0), *sd = mn__w(g, n, 1);
    const float *x = g->in_x;
    for (int b = 0; b < batch; b++)
        for (int c = 0; c < C; c++) {
            float m = mean[c], inv = 1.0f / sd[c];
            int64_t o = ((int64_t)b * C + c) * plane;
            for (int64_t i = 0; i < plane; i++) n->y[o + i] = (x[o + i] - m) * inv;
        }
}

static void no_bwd(mn_graph *g, mn_node *n, int batch) { (void)g; (void)n; (void)batch; }

const mn_opdef mn_op_input = {"input", 0, 0, input_infer, NULL, NULL, input_fwd, no_bwd, NULL};

/* restrict locals: the buffers never alias, and without it the
 * conditional kept relu_bwd scalar (10 % of a lenet5 step). */
static void relu_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    /* ReLU6 and friends (max > 0): min(max(x, 0), max) */
    mn_relu(mn__in(g, n, 0)->y, n->y, batch * mn_shape_numel(&n->out), n->a.max);
}

static void relu_bwd(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    float *restrict dx = g->nodes[n->in[0]].dy;
    const float *restrict y = n->y, *restrict dy = n->dy;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    if (n->a.max > 0) { /* no gradient where clipped at either end */
        const float m = n->a.max;
        for (int64_t i = 0; i < cnt; i++) {
            float d = dy[i];
            dx[i] += y[i] > 0 && y[i] < m ? d : 0.0f;
        }
        return;
    }
    for (int64_t i = 0; i < cnt; i++) {
        float d = dy[i]; /* loaded unconditionally, so the select vectorises */
        dx[i] += y[i] > 0 ? d : 0.0f;
    }
}

const mn_opdef mn_op_relu = {"relu", 1, 1, same_shape, NULL, NULL, relu_fwd, relu_bwd, elems};

static void tanh_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    const float *x = mn__in(g, n, 0)->y;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    for (int64_t i = 0; i < cnt; i++) n->y[i] = tanhf(x[i]);
}

static void tanh_bwd(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    float *dx = g->nodes[n->in[0]].dy;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    for (int64_t i = 0; i < cnt; i++) dx[i] += n->dy[i] * (1 - n->y[i] * n->y[i]);
}

const mn_opdef mn_op_tanh = {"tanh", 1, 1, same_shape, NULL, NULL, tanh_fwd, tanh_bwd, elems};

/* Inverted dropout: survivors are scaled by 1/(1-p) while training, so
 * inference is the identity. */
static mn_status dropout_infer(mn_graph *g, mn_node *n) {
    if (!(n->a.rate >= 0 && n->a.rate < 1)) return mn_error(MN_ESHAPE, "dropout '%s': rate must be in [0,1)", n->name);
    return same_shape(g, n);
}

static size_t dropout_aux(const mn_graph *g, const mn_node *n, int batch) {
    (void)g;
    return (size_t)batch * mn_shape_numel(&n->out);
}

static void dropout_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    const float *x = mn__in(g, n, 0)->y;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    if (!train || n->a.rate == 0) {
        memcpy(n->y, x, sizeof(float) * cnt);
        for (int64_t i = 0; i < cnt; i++) n->aux[i] = 1;
        return;
    }
    float keep = 1.0f / (1 - n->a.rate);
    /* A rank of a data-parallel step draws the masks of the samples before
     * and after its own too: every rank's stream then stays the one
     * process's (minnow/graph.h dist_off). */
    int64_t per = mn_shape_numel(&n->out);
    int64_t skip = g->dist_batch ? (int64_t)g->dist_off * per : 0;
    for (int64_t i = 0; i < skip; i++) (void)mn_rng_u64(&g->rng);
    for (int64_t i = 0; i < cnt; i++) {
        n->aux[i] = mn_rng_uniform(&g->rng) >= n->a.rate ? keep : 0;
        n->y[i] = x[i] * n->aux[i];
    }
    if (g->dist_batch)
        for (int64_t i = (int64_t)(g->dist_off + batch) * per; i < (int64_t)g->dist_batch * per; i++) (void)mn_rng_u64(&g->rng);
}

static void dropout_bwd(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    float *dx = g->nodes[n->in[0]].dy;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    for (int64_t i = 0; i < cnt; i++) dx[i] += n->dy[i] * n->aux[i];
}

const mn_opdef mn_op_dropout = {"dropout", 1, 1, dropout_infer, dropout_aux, NULL, dropout_fwd, dropout_bwd, NULL};

static mn_status flatten_infer(mn_graph *g, mn_node *n) {
    n->out = (mn_shape){1, {(int)mn__numel_in(g, n, 0), 0, 0, 0}};
    return MN_OK;
}

static void copy_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    memcpy(n->y, mn__in(g, n, 0)->y, sizeof(float) * batch * mn_shape_numel(&n->out));
}

static void copy_bwd(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    float *dx = g->nodes[n->in[0]].dy;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    for (int64_t i = 0; i < cnt; i++) dx[i] += n->dy[i];
}

const mn_opdef mn_op_flatten = {"flatten", 1, 1, flatten_infer, NULL, NULL, copy_fwd, copy_bwd, NULL};

static mn_status add_infer(mn_graph *g, mn_node *n) {
    const mn_shape *s0 = mn__in_shape(g, n, 0);
    for (int i = 1; i < n->nin; i++) {
        const mn_shape *s = mn__in_shape(g, n, i);
        if (s->ndim != s0->ndim || memcmp(s->d, s0->d, sizeof(int) * s0->ndim) != 0)
            return mn_error(MN_ESHAPE, "add '%s': inputs have different shapes", n->name);
    }
    n->out = *s0;
    return MN_OK;
}

static void add_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    memcpy(n->y, mn__in(g, n, 0)->y, sizeof(float) * cnt);
    for (int k = 1; k < n->nin; k++) mn_add(n->y, mn__in(g, n, k)->y, cnt);
}

static void add_bwd(mn_graph *g, mn_node *n, int batch) {
    int64_t cnt = batch * mn_shape_numel(&n->out);
    for (int k = 0; k < n->nin; k++) {
        if (!mn__needs_dx(g, n, k)) continue;
        float *dx = g->nodes[n->in[k]].dy;
        for (int64_t i = 0; i < cnt; i++) dx[i] += n->dy[i];
    }
}

const mn_opdef mn_op_add = {"add", 2, MN_MAX_IN, add_infer, NULL, NULL, add_fwd, add_bwd, elems};

static void softmax_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    int64_t k = mn_shape_numel(&n->out);
    const float *x = mn__in(g, n, 0)->y;
    for (int b = 0; b < batch; b++) {
        const float *xr = x + b * k;
        float *yr = n->y + b * k, mx = xr[0], s = 0;
        for (int64_t i = 1; i < k; i++) if (xr[i] > mx) mx = xr[i];
        for (int64_t i = 0; i < k; i++) { yr[i] = expf(xr[i] - mx); s += yr[i]; }
        for (int64_t i = 0; i < k; i++) yr[i] /= s;
    }
}

static void softmax_bwd(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    int64_t k = mn_shape_numel(&n->out);
    float *dx = g->nodes[n->in[0]].dy;
    for (int b = 0; b < batch; b++) {
        const float *y = n->y + b * k, *dy = n->dy + b * k;
        float dot = 0;
        for (int64_t i = 0; i < k; i++) dot += y[i] * dy[i];
        for (int64_t i = 0; i < k; i++) dx[b * k + i] += y[i] * (dy[i] - dot);
    }
}

const mn_opdef mn_op_softmax = {"softmax", 1, 1, same_shape, NULL, NULL, softmax_fwd, softmax_bwd, elems};
