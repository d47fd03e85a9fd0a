/* The depthwise case of conv (groups == input channels, filters a multiple
 * of them: each output channel f filters input channel f / (filters/groups)
 * alone; groups > 1).  op_conv.c hands such nodes here; the kernels are the direct
 * plane loops of src/kernels/dwconv.c instead of im2col + tiny GEMMs. */
#include "kernels/dwconv.h"
#include "kernels/kernels.h"
#include "nn/ops.h"
#include "store/store.h"

int mn__dw_applies(const mn_graph *g, const mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    /* groups 1 (one input channel) stays on the GEMM path: that is an
     * ordinary conv, and its compressed stores run their own kernels. */
    return n->a.groups > 1 && n->a.groups == in->d[0] && n->a.filters % in->d[0] == 0;
}

/* A compressed weight with a depthwise kernel of its own (affine int8:
 * integer window sums) at inference: one sample's working copy of the
 * input in the scratch. */
static const mn_store_traits *dw_traits(const mn_graph *g, const mn_node *n) {
    const mn_store *st = g->params[n->p[0]].store;
    const mn_store_traits *t = st ? mn_store_traits_of(st->kind) : NULL;
    return t && t->dw ? t : NULL;
}

size_t mn__dw_scratch(const mn_graph *g, const mn_node *n) {
    if (!dw_traits(g, n)) return 0;
    const mn_shape *in = mn__in_shape(g, n, 0);
    return (mn_store_dw_scratch_bytes(in->d[0], in->d[1], in->d[2], n->a.pad) + 3) / 4;
}

int mn__dw_store_forward(mn_graph *g, mn_node *n, int batch) {
    const mn_store_traits *t = dw_traits(g, n);
    if (!t) return 0;
    const mn_shape *in = mn__in_shape(g, n, 0);
    mn_conv_geom cg = {in->d[0], in->d[1], in->d[2], n->a.k, n->a.stride, n->a.pad, n->out.d[1], n->out.d[2]};
    return !t->dw(g->params[n->p[0]].store, &cg, n->a.filters / in->d[0], mn__in(g, n, 0)->y, batch,
                  mn__w(g, n, 1), n->y, g->scratch, g->scratch_floats * sizeof(float));
}

void mn__dw_forward(mn_graph *g, mn_node *n, int batch) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    int C = in->d[0], H = in->d[1], W = in->d[2], F = n->a.filters, m = F / C, k = n->a.k;
    int OH = n->out.d[1], OW = n->out.d[2];
    const float *x = mn__in(g, n, 0)->y, *w = mn__w(g, n, 0), *bias = mn__w(g, n, 1);
    int64_t isz = (int64_t)H * W, osz = (int64_t)OH * OW;
    #pragma omp parallel for schedule(static)
    for (int64_t bf = 0; bf < (int64_t)batch * F; bf++) {
        int64_t b = bf / F;
        int f = (int)(bf % F);
        mn_dw_plane_fwd(x + (b * C + f / m) * isz, H, W, w + (int64_t)f * k * k, k, n->a.stride,
                        n->a.pad, bias[f], n->y + bf * osz, OH, OW);
    }
}

void mn__dw_backward(mn_graph *g, mn_node *n, int batch) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    int C = in->d[0], H = in->d[1], W = in->d[2], F = n->a.filters, m = F / C, k = n->a.k;
    int OH = n->out.d[1], OW = n->out.d[2];
    const float *x = mn__in(g, n, 0)->y, *w = mn__w(g, n, 0);
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    float *dx = mn__needs_dx(g, n, 0) ? g->nodes[n->in[0]].dy : NULL;
    int64_t isz = (int64_t)H * W, osz = (int64_t)OH * OW;
    /* One thread per input channel: the m filters reading it and its dx
     * plane belong to that thread alone, so nothing races. */
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int j = 0; j < m; j++) {
            int f = c * m + j;
            float s = 0;
            for (int b = 0; b < batch; b++) {
                const float *dy = n->dy + ((int64_t)b * F + f) * osz;
                for (int64_t p = 0; p < osz; p++) s += dy[p];
                mn_dw_plane_bwd(x + ((int64_t)b * C + c) * isz, dy, H, W, w + (int64_t)f * k * k, k,
                                n->a.stride, n->a.pad, OH, OW, gw + (int64_t)f * k * k,
                                dx ? dx + ((int64_t)b * C + c) * isz : NULL);
            }
            gb[f] += s;
        }
}
