/* Concatenation along channels (c x h x w inputs of equal h, w) or along
 * features (1-D inputs): ONNX Concat(axis=1), Inception/DenseNet-style
 * branches.  Per sample the output is input 0's values, then input 1's, ... */
#include <string.h>

#include "nn/ops.h"

static mn_status infer(mn_graph *g, mn_node *n) {
    const mn_shape *s0 = mn__in_shape(g, n, 0);
    mn_shape out = *s0;
    for (int i = 1; i < n->nin; i++) {
        const mn_shape *s = mn__in_shape(g, n, i);
        if (s->ndim != s0->ndim || (s->ndim == 3 && (s->d[1] != s0->d[1] || s->d[2] != s0->d[2])))
            return mn_error(MN_ESHAPE, "concat '%s': inputs must all be c x h x w of the same h, w, or all 1-D", n->name);
        out.d[0] += s->d[0];
    }
    n->out = out;
    return MN_OK;
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    int64_t on = mn_shape_numel(&n->out);
    for (int b = 0; b < batch; b++) {
        int64_t o = 0;
        for (int k = 0; k < n->nin; k++) {
            int64_t m = mn__numel_in(g, n, k);
            memcpy(n->y + b * on + o, mn__in(g, n, k)->y + b * m, sizeof(float) * (size_t)m);
            o += m;
        }
    }
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    int64_t on = mn_shape_numel(&n->out);
    for (int b = 0; b < batch; b++) {
        int64_t o = 0;
        for (int k = 0; k < n->nin; k++) {
            int64_t m = mn__numel_in(g, n, k);
            if (mn__needs_dx(g, n, k)) {
                float *dx = g->nodes[n->in[k]].dy + b * m;
                const float *dy = n->dy + b * on + o;
                for (int64_t i = 0; i < m; i++) dx[i] += dy[i];
            }
            o += m;
        }
    }
}

const mn_opdef mn_op_concat = {"concat", 2, MN_MAX_IN, infer, NULL, NULL, forward, backward, NULL};
