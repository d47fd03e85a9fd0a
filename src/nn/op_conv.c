/* Conv2d (any stride, padding, groups) as im2col + one GEMM over the whole
 * batch: columns of all images side by side make one wide GEMM per group,
 * which is far faster than a GEMM per image for small images. */
#include <string.h>

#include "minnow/kernels.h"
#include "minnow/storage.h"
#include "nn/ops.h"

typedef struct { int C, H, W, F, k, s, p, G, OH, OW, P, CKK; } cdims;

static cdims dims_of(const mn_graph *g, const mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    cdims d = {in->d[0], in->d[1], in->d[2], n->a.filters, n->a.k, n->a.stride,
               n->a.pad, n->a.groups, n->out.d[1], n->out.d[2], 0, 0};
    d.P = d.OH * d.OW;
    d.CKK = d.C * d.k * d.k;
    return d;
}

static mn_status infer(mn_graph *g, mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    mn_attrs *a = &n->a;
    if (in->ndim != 3) return mn_error(MN_ESHAPE, "conv '%s': input must be c x h x w", n->name);
    if (a->stride == 0) a->stride = 1;
    if (a->groups == 0) a->groups = 1;
    if (a->filters <= 0 || a->k <= 0 || a->stride <= 0 || a->pad < 0 || a->pad >= a->k)
        return mn_error(MN_ESHAPE, "conv '%s': bad filters/k/stride/pad", n->name);
    if (in->d[0] % a->groups || a->filters % a->groups)
        return mn_error(MN_ESHAPE, "conv '%s': groups %d must divide channels %d and filters %d",
                        n->name, a->groups, in->d[0], a->filters);
    int oh = mn_conv_out(in->d[1], a->k, a->stride, a->pad), ow = mn_conv_out(in->d[2], a->k, a->stride, a->pad);
    if (in->d[1] + 2 * (int64_t)a->pad < a->k || in->d[2] + 2 * (int64_t)a->pad < a->k || oh <= 0 || ow <= 0)
        return mn_error(MN_ESHAPE, "conv '%s': kernel %d larger than input %dx%d", n->name, a->k, in->d[1], in->d[2]);
    n->out = (mn_shape){3, {a->filters, oh, ow, 0}};
    int wd[4] = {a->filters, in->d[0] / a->groups, a->k, a->k}, bd[1] = {a->filters};
    if (mn__declare_param(g, n, "weight", 4, wd, 1, 1) < 0) return MN_ESHAPE;
    if (mn__declare_param(g, n, "bias", 1, bd, 1, 0) < 0) return MN_ESHAPE;
    return MN_OK;
}

/* The column matrix is kept per node from forward to backward (im2col
 * once per step, not twice); the shared scratch holds the [F, batch*P]
 * GEMM output. */
static size_t aux(const mn_graph *g, const mn_node *n, int batch) {
    if (mn__dw_applies(g, n)) return 0; /* direct depthwise: no columns */
    cdims d = dims_of(g, n);
    return (size_t)batch * d.P * d.CKK;
}

static size_t scratch(const mn_graph *g, const mn_node *n, int batch) {
    if (mn__dw_applies(g, n)) return 0;
    cdims d = dims_of(g, n);
    return (size_t)batch * d.P * d.F;
}

static void fill_cols(const mn_graph *g, const mn_node *n, const cdims *d, int batch, float *col) {
    const float *x = mn__in(g, n, 0)->y;
    int64_t ld = (int64_t)batch * d->P, isz = (int64_t)d->C * d->H * d->W;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        mn_im2col(x + b * isz, d->C, d->H, d->W, d->k, d->s, d->p, d->OH, d->OW, col + (int64_t)b * d->P, ld);
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    if (mn__dw_applies(g, n)) { mn__dw_forward(g, n, batch); return; }
    cdims d = dims_of(g, n);
    int64_t ld = (int64_t)batch * d.P;
    float *col = n->aux, *tmp = g->scratch;
    const float *w = mn__w(g, n, 0), *bias = mn__w(g, n, 1);
    fill_cols(g, n, &d, batch, col);
    int fg = d.F / d.G, kg = d.CKK / d.G;
    /* A compressed weight runs on its own kernel at inference. */
    const mn_store *st = g->params[n->p[0]].store;
    const mn_store_traits *t = (!train && st && d.G == 1) ? mn_store_traits_of(st->kind) : NULL;
    if (t && t->wb) t->wb(st, col, (int)ld, ld, tmp, ld);
    else for (int gi = 0; gi < d.G; gi++)
        mn_sgemm(0, 0, fg, (int)ld, kg, 1.0f, w + (int64_t)gi * fg * kg, kg,
                 col + (int64_t)gi * kg * ld, (int)ld, 0.0f, tmp + (int64_t)gi * fg * ld, (int)ld);
    /* tmp is [F, batch*P]; the output is [batch, F, P]. */
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        for (int f = 0; f < d.F; f++) {
            float *y = n->y + ((int64_t)b * d.F + f) * d.P;
            const float *t = tmp + f * ld + (int64_t)b * d.P;
            for (int p = 0; p < d.P; p++) y[p] = t[p] + bias[f];
        }
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    if (mn__dw_applies(g, n)) { mn__dw_backward(g, n, batch); return; }
    cdims d = dims_of(g, n);
    int64_t ld = (int64_t)batch * d.P;
    float *col = n->aux, *dt = g->scratch;
    const float *w = mn__w(g, n, 0);
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    #pragma omp parallel for schedule(static)
    for (int f = 0; f < d.F; f++) {
        float s = 0;
        for (int b = 0; b < batch; b++) {
            const float *dy = n->dy + ((int64_t)b * d.F + f) * d.P;
            float *t = dt + f * ld + (int64_t)b * d.P;
            for (int p = 0; p < d.P; p++) { t[p] = dy[p]; s += dy[p]; }
        }
        gb[f] += s;
    }
    int fg = d.F / d.G, kg = d.CKK / d.G;
    for (int gi = 0; gi < d.G; gi++)
        mn_sgemm(0, 1, fg, kg, (int)ld, 1.0f, dt + (int64_t)gi * fg * ld, (int)ld,
                 col + (int64_t)gi * kg * ld, (int)ld, 1.0f, gw + (int64_t)gi * fg * kg, kg);
    if (!mn__needs_dx(g, n, 0)) return;
    for (int gi = 0; gi < d.G; gi++)
        mn_sgemm(1, 0, kg, (int)ld, fg, 1.0f, w + (int64_t)gi * fg * kg, kg,
                 dt + (int64_t)gi * fg * ld, (int)ld, 0.0f, col + (int64_t)gi * kg * ld, (int)ld);
    float *dx = g->nodes[n->in[0]].dy;
    int64_t isz = (int64_t)d.C * d.H * d.W;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        mn_col2im(col + (int64_t)b * d.P, d.C, d.H, d.W, d.k, d.s, d.p, d.OH, d.OW, ld, dx + b * isz);
}

static int64_t macs(const mn_graph *g, const mn_node *n) {
    cdims d = dims_of(g, n);
    return (int64_t)d.P * d.F * (d.CKK / d.G);
}

const mn_opdef mn_op_conv = {"conv", 1, 1, infer, aux, scratch, forward, backward, macs};
