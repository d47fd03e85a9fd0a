/* Batch norm folded into the conv or dense layer before it, for inference:
 * y = gamma * (Wx + b - mean) / sqrt(var + eps) + beta is the layer with
 * W' = s * W (per output channel) and b' = s * (b - mean) + beta, where
 * s = gamma / sqrt(var + eps).  One node fewer per pair, no per-channel
 * pass over the activations, and what exporters and integer kernels see is
 * a plain conv. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/prune_impl.h"
#include "minnow/fold.h"
#include "store/store.h"

/* 1 if node b is a batch norm that can be folded into its input. */
static int foldable(const mn_graph *g, int b, const int *consumers) {
    const mn_node *n = &g->nodes[b];
    if (n->op != MN_OP_BATCHNORM || n->nin != 1 || n->a.act_bits) return 0;
    int c = n->in[0];
    const mn_node *m = &g->nodes[c];
    if ((m->op != MN_OP_DENSE && m->op != MN_OP_CONV) || m->a.act_bits || m->np < 2) return 0;
    /* the layer's output feeds the batch norm alone, and its weight is
     * plain f32 (a shared or quantized store cannot take a per-row scale) */
    if (!(consumers[c] == 1 && c != g->output && !g->params[m->p[0]].store && !g->params[m->p[1]].store &&
          n->np == 4 && g->params[n->p[0]].n == g->params[m->p[0]].shape.d[0]))
        return 0;
    /* and the folded values are finite (a model read from a file can hold
     * a negative variance or a scale that overflows the weights) */
    const float *ga = mn_param_data(g, n->p[0]), *be = mn_param_data(g, n->p[1]);
    const float *mu = mn_param_data(g, n->p[2]), *var = mn_param_data(g, n->p[3]);
    const float *w = mn_param_data(g, m->p[0]), *bias = mn_param_data(g, m->p[1]);
    int rows = g->params[m->p[0]].shape.d[0];
    int64_t per = g->params[m->p[0]].n / rows;
    for (int r = 0; r < rows; r++) {
        float s = ga[r] / sqrtf(var[r] + n->a.eps), b = s * (bias[r] - mu[r]) + be[r];
        if (!(var[r] + n->a.eps > 0) || !isfinite(s) || !isfinite(b)) return 0;
        for (int64_t j = 0; j < per; j++)
            if (!isfinite(w[(int64_t)r * per + j] * s)) return 0;
    }
    return 1;
}

mn_status mn_graph_fold_bn(const mn_graph *g, mn_graph *out, int *nfolded) {
    mn_graph_init(out);
    *nfolded = 0;
    if (!g->finalized) return mn_error(MN_EARG, "fold: the graph is not finalized");
    int N = g->nnodes;
    int *consumers = calloc((size_t)N, sizeof *consumers);
    unsigned char *fold = calloc((size_t)N, 1);
    mn_status st = consumers && fold ? MN_OK : mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < N && !st; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) consumers[g->nodes[i].in[k]]++;
    int any = 0;
    for (int i = 0; i < N && !st; i++) any += fold[i] = (unsigned char)foldable(g, i, consumers);
    if (!any) { /* nothing to fold: no copy */
        free(consumers);
        free(fold);
        return st;
    }
    /* The graph without the folded nodes; their consumers read the layer. */
    int *redirect = st ? NULL : malloc(sizeof(int) * (size_t)N);
    if (!st && !redirect) st = mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < N && !st; i++) redirect[i] = fold[i] ? g->nodes[i].in[0] : i;
    if (!st) st = mn__graph_without(g, fold, redirect, out);
    free(redirect);
    if (st) {
        free(consumers);
        free(fold);
        return st;
    }
    /* Scale each folded layer's rows and shift its bias. */
    for (int b = 0; b < N && !st; b++) {
        if (!fold[b]) continue;
        const mn_node *bn = &g->nodes[b];
        const mn_node *m = &out->nodes[mn_graph_find_node(out, g->nodes[bn->in[0]].name)];
        const float *ga = mn_param_data(g, bn->p[0]), *be = mn_param_data(g, bn->p[1]);
        const float *mu = mn_param_data(g, bn->p[2]), *var = mn_param_data(g, bn->p[3]);
        float *w = mn_param_data(out, m->p[0]), *bias = mn_param_data(out, m->p[1]);
        int rows = out->params[m->p[0]].shape.d[0];
        int64_t per = out->params[m->p[0]].n / rows;
        for (int r = 0; r < rows; r++) {
            float s = ga[r] / sqrtf(var[r] + bn->a.eps);
            for (int64_t j = 0; j < per; j++) w[(int64_t)r * per + j] *= s;
            bias[r] = s * (bias[r] - mu[r]) + be[r];
        }
        (*nfolded)++;
    }
    free(consumers);
    free(fold);
    if (st) mn_graph_free(out);
    return st;
}
