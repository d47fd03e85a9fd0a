/* Internal: what bdense and bconv share. */
#ifndef MINNOW_NN_OP_BIN_H
#define MINNOW_NN_OP_BIN_H

#include <math.h>

#include "nn/bin_w.h"
#include "nn/ops.h"

/* The node a `sign` in front of n binarized (looking through a flatten),
 * or -1: XNOR-Net's input scale is taken from those magnitudes. */
static inline int mn__pre_sign(const mn_graph *g, const mn_node *n) {
    int i = n->in[0];
    if (g->nodes[i].op == MN_OP_FLATTEN) i = g->nodes[i].in[0];
    return g->nodes[i].op == MN_OP_SIGN ? g->nodes[i].in[0] : -1;
}

/* Attribute checks common to both ops. */
static inline mn_status mn__bin_check(const mn_graph *g, const mn_node *n) {
    const mn_attrs *a = &n->a;
    if (a->bmode < 0 || a->bmode >= MN_BIN__COUNT)
        return mn_error(MN_ESHAPE, "%s '%s': bmode %d is not 0..%d", mn_op_name(n->op), n->name, a->bmode, MN_BIN__COUNT - 1);
    if (!(a->bsparse >= 0) || !isfinite(a->bsparse))
        return mn_error(MN_ESHAPE, "%s '%s': bsparse must be >= 0", mn_op_name(n->op), n->name);
    if (a->bfold && a->bmode != MN_BIN_FROZEN)
        return mn_error(MN_ESHAPE, "%s '%s': bfold needs bmode=0 (a frozen layer)", mn_op_name(n->op), n->name);
    if (a->bfold && a->xscale)
        return mn_error(MN_ESHAPE, "%s '%s': xscale cannot be folded into thresholds", mn_op_name(n->op), n->name);
    if (a->xscale && mn__pre_sign(g, n) < 0)
        return mn_error(MN_ESHAPE, "%s '%s': xscale needs a sign node as input", mn_op_name(n->op), n->name);
    return MN_OK;
}

/* A folded unit fires (+1) when k * acc >= T, with acc the unscaled dot
 * sum_c sign(w_c) x_c; thr holds k[units] then T[units]. */
static inline float mn__fire(const float *thr, int units, int r, float acc) {
    return thr[r] * acc >= thr[units + r] ? 1.0f : -1.0f;
}

/* For the f32 fallback of a folded node: acc = z / alpha, alpha = max |W_r|
 * (rounded when the inputs are +-1, where acc is an integer). */
static inline float mn__row_alpha(const float *w, int cols) {
    float a = 0;
    for (int c = 0; c < cols; c++) a = fmaxf(a, fabsf(w[c]));
    return a;
}

#endif
