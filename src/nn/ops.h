/* Internal: the per-op table behind the graph.  Each op file defines one
 * mn_opdef; graph.c dispatches through mn_opdefs[op]. */
#ifndef MINNOW_NN_OPS_H
#define MINNOW_NN_OPS_H

#include "minnow/graph.h"

typedef struct mn_opdef {
    const char *name;
    int min_in, max_in;
    /* Sets n->out from the inputs' shapes and declares parameters with
     * mn__declare_param.  Returns MN_ESHAPE with a message on misfit. */
    mn_status (*infer)(mn_graph *g, mn_node *n);
    /* Floats of saved state per batch, and of shared scratch per batch. */
    size_t (*aux)(const mn_graph *g, const mn_node *n, int batch);
    size_t (*scratch)(const mn_graph *g, const mn_node *n, int batch);
    void (*forward)(mn_graph *g, mn_node *n, int batch, int train);
    /* ADDS input gradients into the inputs' dy (when they need one) and
     * parameter gradients into g->gw. */
    void (*backward)(mn_graph *g, mn_node *n, int batch);
    int64_t (*macs)(const mn_graph *g, const mn_node *n);
} mn_opdef;

extern const mn_opdef mn_op_input, mn_op_dense, mn_op_conv, mn_op_maxpool,
    mn_op_avgpool, mn_op_relu, mn_op_tanh, mn_op_dropout, mn_op_flatten,
    mn_op_batchnorm, mn_op_add, mn_op_softmax, mn_op_sbn;
extern const mn_opdef mn_op_sign, mn_op_bdense, mn_op_bconv;
extern const mn_opdef mn_op_concat, mn_op_gate, mn_op_gadd;
/* Depthwise conv (op_dwconv.c): op_conv.c dispatches nodes it applies to. */
int mn__dw_applies(const mn_graph *g, const mn_node *n);
void mn__dw_forward(mn_graph *g, mn_node *n, int batch);
/* Inference through the weight's store when it has a depthwise kernel
 * (returns 1 when it ran), and the scratch floats that takes. */
int mn__dw_store_forward(mn_graph *g, mn_node *n, int batch);
size_t mn__dw_scratch(const mn_graph *g, const mn_node *n);
void mn__dw_backward(mn_graph *g, mn_node *n, int batch);

const mn_opdef *mn__opdef(mn_op op);

/* Declares a parameter of node n; returns its index or -1 (message set). */
int mn__declare_param(mn_graph *g, mn_node *n, const char *role, int ndim,
                      const int *dims, int trainable, int decay);

static inline const mn_node *mn__in(const mn_graph *g, const mn_node *n, int i) {
    return &g->nodes[n->in[i]];
}
static inline const mn_shape *mn__in_shape(const mn_graph *g, const mn_node *n, int i) {
    return &g->nodes[n->in[i]].out;
}
/* Input i needs a gradient only if a trainable parameter lies at or before
 * it (set by finalize): flatten after the input, for one, needs none. */
static inline int mn__needs_dx(const mn_graph *g, const mn_node *n, int i) {
    return g->nodes[n->in[i]].needs_grad;
}
static inline float *mn__w(const mn_graph *g, const mn_node *n, int i) {
    return g->w + g->params[n->p[i]].off;
}
static inline float *mn__gw(const mn_graph *g, const mn_node *n, int i) {
    return g->gw + g->params[n->p[i]].off;
}
static inline int64_t mn__numel_in(const mn_graph *g, const mn_node *n, int i) {
    return mn_shape_numel(&g->nodes[n->in[i]].out);
}

#endif
