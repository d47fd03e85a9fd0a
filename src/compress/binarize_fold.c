/* Freezing a trained binary graph into its inference form: binary stores
 * for the weights, and bX -> [batchnorm] -> sign chains folded into
 * per-unit thresholds on the popcount.
 *
 * With acc_r = sum_c sign(w_rc) x_c, the chain computes
 *   sign(gamma (alpha_r acc_r + b_r - mu) / sigma + beta) = sign(a acc_r + c),
 *   a = gamma alpha_r / sigma, c = gamma (b_r - mu) / sigma + beta,
 * which is +1 exactly when k acc_r >= T with k = sign(a), T = -c / |a|...
 * (a < 0 flips the comparison; a = 0 makes the unit constant).  When the
 * layer's inputs are +-1, acc is an integer and T = ceil(T) is one too. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/binary.h"
#include "nn/bin_w.h"
#include "nn/param_store.h"
#include "store/binary.h"
#include "store/store.h"

static int is_bx(const mn_node *n) { return n->op == MN_OP_BDENSE || n->op == MN_OP_BCONV; }

/* Weights to stores, bmode to FROZEN, in place (g has no run-time buffers). */
static mn_status to_stores(mn_graph *g) {
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        if (!is_bx(n) || n->a.bmode == MN_BIN_FROZEN) continue;
        int p = n->p[0], rows, cols;
        mn_param_matrix(g, p, &rows, &cols);
        const mn_param *pp = &g->params[p];
        int kk = pp->shape.ndim == 4 ? pp->shape.d[2] * pp->shape.d[3] : 1;
        /* The tanh phase freezes as its sign, stochastic as deterministic. */
        mn_bin_mode m = n->a.bmode == MN_BIN_TANH ? MN_BIN_BITWISE : (mn_bin_mode)n->a.bmode;
        float *wb = malloc(sizeof(float) * (size_t)pp->n);
        if (!wb) return mn_error(MN_ENOMEM, "out of memory");
        mn_bin_effective(m, mn_param_data(g, p), rows, cols, mn_bin_glorot(cols, rows * kk), n->a.bsparse, NULL, wb);
        mn_store *s;
        mn_status st = mn_binary_store_make(wb, rows, cols, &s);
        free(wb);
        if (st) return st;
        if ((st = mn_param_set_store(g, p, s))) { mn_store_free(s); return st; }
        n->a.bmode = MN_BIN_FROZEN;
        n->a.bsparse = 0;
    }
    return MN_OK;
}

/* The single consumer of node i, or -1 (none, or more than one). */
static int only_consumer(const mn_graph *g, int i) {
    int who = -1;
    for (int j = 0; j < g->nnodes; j++)
        for (int k = 0; k < g->nodes[j].nin; k++)
            if (g->nodes[j].in[k] == i) {
                if (who >= 0) return -1;
                who = j;
            }
    return who;
}

/* 1 if an XNOR-Net input scale reads the values sign node s binarized: the
 * sign must stay then. */
static int feeds_xscale(const mn_graph *g, int s) {
    for (int m = 0; m < g->nnodes; m++) {
        if (!is_bx(&g->nodes[m]) || !g->nodes[m].a.xscale) continue;
        int i = g->nodes[m].in[0];
        if (g->nodes[i].op == MN_OP_FLATTEN) i = g->nodes[i].in[0];
        if (i == s) return 1;
    }
    return 0;
}

static mn_status copy_params(const mn_graph *src, mn_graph *dst) {
    for (int p = 0; p < dst->nparams; p++) {
        int q = mn_graph_find_param(src, dst->params[p].name);
        if (q < 0 || src->params[q].n != dst->params[p].n) continue;
        memcpy(mn_param_data(dst, p), mn_param_data(src, q), sizeof(float) * (size_t)dst->params[p].n);
        if (src->params[q].store) {
            mn_status st = mn_store_clone(src->params[q].store, &dst->params[p].store);
            if (st) return st;
        }
    }
    return MN_OK;
}

/* Thresholds of folded node d (in dst) from the chain bx -> bn -> sign in w. */
static void thresholds(const mn_graph *w, int bx, int bn, mn_graph *dst, int d) {
    const mn_node *n = &w->nodes[bx];
    const mn_bin_store *bs = mn_binary_store(w->params[n->p[0]].store);
    const float *bias = mn_param_data(w, n->p[1]);
    int units = bs->rows, binin = mn_node_binary_valued(w, n->in[0]);
    float *k = mn_param_data(dst, dst->nodes[d].p[1]), *T = k + units;
    for (int r = 0; r < units; r++) {
        double gi = 1, beta = 0, mu = 0;
        if (bn >= 0) {
            const mn_node *b = &w->nodes[bn];
            float var = mn_param_data(w, b->p[3])[r];
            gi = mn_param_data(w, b->p[0])[r] * (double)(1.0f / sqrtf(var + b->a.eps));
            beta = mn_param_data(w, b->p[1])[r];
            mu = mn_param_data(w, b->p[2])[r];
        }
        double a = gi * bs->scale[r], c = gi * (bias[r] - mu) + beta, t;
        if (a > 0) { k[r] = 1; t = -c / a; }
        else if (a < 0) { k[r] = -1; t = c / a; }
        else { k[r] = 1; t = c >= 0 ? -INFINITY : INFINITY; }
        if (binin) {
            double lim = bs->nnz[r] + 1.0;
            t = t < -lim ? -lim : t > lim ? lim : ceil(t);
        } else {
            t = t < -FLT_MAX ? -FLT_MAX : t > FLT_MAX ? FLT_MAX : t;
        }
        T[r] = (float)t;
    }
}

static mn_status fold(const mn_graph *w, mn_graph *dst) {
    int nn = w->nnodes;
    int *chain_bn = malloc(sizeof(int) * nn), *chain_sign = malloc(sizeof(int) * nn), *redirect = malloc(sizeof(int) * nn);
    char *removed = calloc((size_t)nn, 1);
    mn_status st = MN_OK;
    if (!chain_bn || !chain_sign || !redirect || !removed) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    for (int i = 0; i < nn; i++) chain_bn[i] = chain_sign[i] = redirect[i] = -1;
    for (int i = 0; i < nn; i++) {
        const mn_node *n = &w->nodes[i];
        if (!is_bx(n) || n->a.xscale || n->a.bfold || !mn_binary_store(w->params[n->p[0]].store)) continue;
        int j = only_consumer(w, i), bn = -1;
        if (j >= 0 && w->nodes[j].op == MN_OP_BATCHNORM) { bn = j; j = only_consumer(w, j); }
        if (j < 0 || w->nodes[j].op != MN_OP_SIGN || feeds_xscale(w, j)) continue;
        chain_bn[i] = bn;
        chain_sign[i] = j;
        if (bn >= 0) removed[bn] = 1;
        removed[j] = 1;
        redirect[j] = i;
    }
    mn_graph_init(dst);
    for (int i = 0; i < nn; i++) {
        if (removed[i]) continue;
        const mn_node *n = &w->nodes[i];
        const char *in[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++)
            in[k] = redirect[n->in[k]] >= 0 ? w->nodes[redirect[n->in[k]]].name : n->in_names[k];
        mn_attrs a = n->a;
        if (chain_sign[i] >= 0) a.bfold = 1;
        if (mn_graph_add(dst, n->op, n->name, in, n->nin, &a) < 0) { st = MN_EARG; goto out; }
    }
    if ((st = mn_graph_finalize(dst)) || (st = copy_params(w, dst))) goto out;
    for (int i = 0; i < nn; i++)
        if (chain_sign[i] >= 0) thresholds(w, i, chain_bn[i], dst, mn_graph_find_node(dst, w->nodes[i].name));
    dst->nmeta = w->nmeta;
    memcpy(dst->meta, w->meta, sizeof w->meta);
out:
    free(chain_bn); free(chain_sign); free(redirect); free(removed);
    if (st) mn_graph_free(dst);
    return st;
}

mn_status mn_binary_freeze(const mn_graph *src, int do_fold, mn_graph *dst) {
    mn_graph w;
    mn_status st = mn_graph_clone(src, &w);
    if (st) return st;
    if ((st = to_stores(&w))) { mn_graph_free(&w); return st; }
    if (!do_fold) { *dst = w; return MN_OK; }
    st = fold(&w, dst);
    mn_graph_free(&w);
    return st;
}
