/* sign: y = +1 if x >= 0 else -1, the activation of binarized networks.
 * Its gradient is zero almost everywhere, so the backward is the
 * straight-through estimator of hard-tanh: pass dy where |x| <= 1
 * (Courbariaux, Hubara et al. 2016). */
#include "nn/ops.h"

static mn_status infer(mn_graph *g, mn_node *n) {
    n->out = *mn__in_shape(g, n, 0);
    return MN_OK;
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    const float *x = mn__in(g, n, 0)->y;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    for (int64_t i = 0; i < cnt; i++) n->y[i] = x[i] >= 0 ? 1.0f : -1.0f;
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    const float *x = mn__in(g, n, 0)->y;
    float *dx = g->nodes[n->in[0]].dy;
    int64_t cnt = batch * mn_shape_numel(&n->out);
    for (int64_t i = 0; i < cnt; i++)
        if (x[i] >= -1 && x[i] <= 1) dx[i] += n->dy[i];
}

static int64_t macs(const mn_graph *g, const mn_node *n) { (void)g; return mn_shape_numel(&n->out); }

const mn_opdef mn_op_sign = {"sign", 1, 1, infer, NULL, NULL, forward, backward, macs};
