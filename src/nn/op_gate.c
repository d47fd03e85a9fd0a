/* Gated residual blocks (SkipNet, Wang et al. 2018): a gate looks at the
 * block's input x and decides per sample whether the block's branch f runs;
 * gadd computes y = x + b f with b the decision (0 or 1).
 *
 * gate: p = sigmoid(w . mean_hw(x) + c), one small dense layer on x's
 * global average (SkipNet's FFGate-II); its output is the hard decision
 * b = [p >= 0.5], in training too.  Backward is the straight-through
 * estimator: db/dz is taken as p (1 - p), so the gate learns from how the
 * loss would change if the block's contribution grew, and from the cost
 * term of the training loop (through dy_extra).
 *
 * At inference the graph driver (graph.c) does not run a branch whose gate
 * is closed for every sample of the batch (at batch 1: whenever it is
 * closed), and gadd then reads x alone. */
#include <math.h>
#include <string.h>

#include "nn/ops.h"

static mn_status gate_infer(mn_graph *g, mn_node *n) {
    const mn_shape *s = mn__in_shape(g, n, 0);
    n->out = (mn_shape){1, {1, 0, 0, 0}};
    int wd[2] = {1, s->d[0]}, bd[1] = {1};
    if (mn__declare_param(g, n, "weight", 2, wd, 1, 0) < 0 || mn__declare_param(g, n, "bias", 1, bd, 1, 0) < 0)
        return MN_ESHAPE;
    return MN_OK;
}

/* Saved: p per sample. */
static size_t gate_aux(const mn_graph *g, const mn_node *n, int batch) { (void)g; (void)n; return (size_t)batch; }

static void gate_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    const mn_node *in = mn__in(g, n, 0);
    int C = in->out.d[0];
    int64_t plane = mn_shape_numel(&in->out) / C;
    const float *w = mn__w(g, n, 0), *bias = mn__w(g, n, 1);
    for (int b = 0; b < batch; b++) {
        double z = bias[0];
        for (int c = 0; c < C; c++) {
            const float *xp = in->y + ((int64_t)b * C + c) * plane;
            double s = 0;
            for (int64_t i = 0; i < plane; i++) s += xp[i];
            z += w[c] * (s / plane);
        }
        n->aux[b] = (float)(1 / (1 + exp(-z)));
        n->y[b] = z >= 0 ? 1.0f : 0.0f; /* p >= 0.5 */
    }
}

static void gate_bwd(mn_graph *g, mn_node *n, int batch) {
    mn_node *in = &g->nodes[n->in[0]];
    int C = in->out.d[0];
    int64_t plane = mn_shape_numel(&in->out) / C;
    const float *w = mn__w(g, n, 0);
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    int need = mn__needs_dx(g, n, 0);
    for (int b = 0; b < batch; b++) {
        float p = n->aux[b], dz = n->dy[b] * p * (1 - p);
        gb[0] += dz;
        for (int c = 0; c < C; c++) {
            const float *xp = in->y + ((int64_t)b * C + c) * plane;
            double s = 0;
            for (int64_t i = 0; i < plane; i++) s += xp[i];
            gw[c] += dz * (float)(s / plane);
            if (!need) continue;
            float d = dz * w[c] / (float)plane;
            float *dx = in->dy + ((int64_t)b * C + c) * plane;
            for (int64_t i = 0; i < plane; i++) dx[i] += d;
        }
    }
}

static int64_t gate_macs(const mn_graph *g, const mn_node *n) { return mn__numel_in(g, n, 0); }

const mn_opdef mn_op_gate = {"gate", 1, 1, gate_infer, gate_aux, NULL, gate_fwd, gate_bwd, gate_macs};

/* gadd x f gate: y = x + b f. */
static mn_status gadd_infer(mn_graph *g, mn_node *n) {
    const mn_shape *x = mn__in_shape(g, n, 0), *f = mn__in_shape(g, n, 1), *b = mn__in_shape(g, n, 2);
    if (x->ndim != f->ndim || mn_shape_numel(x) != mn_shape_numel(f) || memcmp(x->d, f->d, sizeof x->d) != 0)
        return mn_error(MN_ESHAPE, "gadd '%s': its first two inputs differ in shape", n->name);
    if (g->nodes[n->in[2]].op != MN_OP_GATE || mn_shape_numel(b) != 1)
        return mn_error(MN_ESHAPE, "gadd '%s': its third input must be a gate", n->name);
    n->out = *x;
    return MN_OK;
}

static void gadd_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    const float *x = mn__in(g, n, 0)->y, *f = mn__in(g, n, 1)->y, *bt = mn__in(g, n, 2)->y;
    int64_t m = mn_shape_numel(&n->out);
    for (int b = 0; b < batch; b++) {
        const float *xb = x + b * m, *fb = f + b * m;
        float *y = n->y + b * m;
        if (bt[b] != 0) for (int64_t i = 0; i < m; i++) y[i] = xb[i] + fb[i];
        else memcpy(y, xb, sizeof(float) * (size_t)m); /* f may not have run */
    }
}

static void gadd_bwd(mn_graph *g, mn_node *n, int batch) {
    mn_node *x = &g->nodes[n->in[0]], *f = &g->nodes[n->in[1]], *gt = &g->nodes[n->in[2]];
    const float *bt = gt->y;
    int64_t m = mn_shape_numel(&n->out);
    for (int b = 0; b < batch; b++) {
        const float *dy = n->dy + b * m, *fb = f->y + b * m;
        if (mn__needs_dx(g, n, 0))
            for (int64_t i = 0; i < m; i++) x->dy[b * m + i] += dy[i];
        if (bt[b] != 0 && mn__needs_dx(g, n, 1))
            for (int64_t i = 0; i < m; i++) f->dy[b * m + i] += dy[i];
        if (mn__needs_dx(g, n, 2)) { /* d loss / d b: what adding f does */
            double s = 0;
            for (int64_t i = 0; i < m; i++) s += (double)fb[i] * dy[i];
            gt->dy[b] += (float)s;
        }
    }
}

static int64_t gadd_macs(const mn_graph *g, const mn_node *n) { (void)g; return mn_shape_numel(&n->out); }

const mn_opdef mn_op_gadd = {"gadd", 3, 3, gadd_infer, NULL, NULL, gadd_fwd, gadd_bwd, gadd_macs};
