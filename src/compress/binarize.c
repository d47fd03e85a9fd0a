/* Binarizing a network: the graph rewrite that puts bdense / bconv and
 * sign activations in place of dense / conv and relu, the BinaryConnect
 * clip, the bitwise second phase, and the whole train-then-freeze pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/binary.h"
#include "nn/bin_w.h"

mn_status mn_binarize_opts_init(mn_binarize_opts *o, const char *method) {
    memset(o, 0, sizeof *o);
    o->pre_epochs = -1;
    o->fold = 1;
    o->ghost_lr_scale = 1;
    if (method && (!strcmp(method, "binaryconnect") || !strcmp(method, "bc"))) {
        o->method = MN_BINARIZE_BC;
        o->ghost_lr_scale = 10;
    }
    else if (method && !strcmp(method, "xnor")) o->method = MN_BINARIZE_XNOR;
    else if (method && !strcmp(method, "bitwise")) o->method = MN_BINARIZE_BITWISE;
    else return mn_error(MN_EARG, "unknown binarization method '%s' (binaryconnect, xnor, bitwise)", method ? method : "");
    return MN_OK;
}

static int is_weight_layer(const mn_node *n) { return n->op == MN_OP_DENSE || n->op == MN_OP_CONV; }

static int fan_in_out(const mn_graph *g, const mn_node *n, int *fi, int *fo) {
    const mn_param *w = &g->params[n->p[0]];
    int rows = w->shape.d[0], cols = (int)(w->n / rows), kk = w->shape.ndim == 4 ? w->shape.d[2] * w->shape.d[3] : 1;
    *fi = cols;
    *fo = rows * kk;
    return rows;
}

/* A node name derived from base that dst does not use yet. */
static mn_status fresh_name(const mn_graph *dst, const mn_graph *src, const char *base, const char *suffix, char *out) {
    for (int i = 0; i < 100; i++) {
        char num[8] = "";
        if (i) snprintf(num, sizeof num, "%d", i);
        if (strlen(base) + strlen(suffix) + strlen(num) >= MN_NAME_MAX)
            return mn_error(MN_EARG, "node name '%s' is too long to derive '%s%s' from it", base, base, suffix);
        strcpy(out, base);
        strcat(out, suffix);
        strcat(out, num);
        if (mn_graph_find_node(dst, out) < 0 && mn_graph_find_node(src, out) < 0) return MN_OK;
    }
    return mn_error(MN_EARG, "no free node name for '%s%s'", base, suffix);
}

/* Is dst's node `name` a sign (possibly behind a flatten)? */
static int sign_input(const mn_graph *dst, const char *name) {
    int i = mn_graph_find_node(dst, name);
    if (i >= 0 && dst->nodes[i].op == MN_OP_FLATTEN) i = mn_graph_find_node(dst, dst->nodes[i].in_names[0]);
    return i >= 0 && dst->nodes[i].op == MN_OP_SIGN;
}

static mn_status build(const mn_graph *src, const mn_binarize_opts *o, mn_graph *dst, char *binarized) {
    int first = -1, last = -1;
    for (int i = 0; i < src->nnodes; i++)
        if (is_weight_layer(&src->nodes[i])) { if (first < 0) first = i; last = i; }
    if (first < 0) return mn_error(MN_EARG, "the model has no dense or conv layer to binarize");
    mn_bin_mode wmode = o->method == MN_BINARIZE_XNOR ? MN_BIN_XNOR
                      : o->method == MN_BINARIZE_BITWISE ? MN_BIN_TANH
                      : o->stochastic ? MN_BIN_STOCH : MN_BIN_DET;
    int nbin = 0;
    for (int i = 0; i < src->nnodes; i++) {
        const mn_node *n = &src->nodes[i];
        const char *in[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) in[k] = n->in_names[k];
        mn_attrs a = n->a;
        mn_op op = n->op;
        char bn[MN_NAME_MAX];
        int keep = o->keep_first_last && (i == first || i == last);
        if (is_weight_layer(n) && !keep && (op == MN_OP_DENSE || n->a.groups <= 1)) {
            op = op == MN_OP_DENSE ? MN_OP_BDENSE : MN_OP_BCONV;
            a.bmode = wmode;
            a.xscale = o->method == MN_BINARIZE_XNOR && o->input_scale && sign_input(dst, in[0]);
            binarized[i] = 1;
            nbin++;
        } else if ((op == MN_OP_RELU || op == MN_OP_TANH) && o->method != MN_BINARIZE_BC) {
            /* Hidden activations become batchnorm + sign (tanh while a
             * bitwise network pretrains): BN centres the pre-activations
             * so that sign splits them, and folds into thresholds later. */
            const char *pre = in[0];
            if (src->nodes[n->in[0]].op != MN_OP_BATCHNORM) {
                mn_status st = fresh_name(dst, src, n->name, "_bn", bn);
                if (st) return st;
                if (mn_g_bn(dst, bn, in[0]) < 0) return MN_EARG;
                pre = bn;
            }
            op = o->method == MN_BINARIZE_BITWISE ? MN_OP_TANH : MN_OP_SIGN;
            in[0] = pre;
        }
        if (mn_graph_add(dst, op, n->name, in, n->nin, &a) < 0) return MN_EARG;
    }
    if (!nbin) return mn_error(MN_EARG, "no layer left to binarize (grouped convs and, with --keep-first-last, the first and last layers stay f32)");
    return mn_graph_finalize(dst);
}

mn_status mn_binarize_convert(const mn_graph *src, const mn_binarize_opts *o, mn_graph *dst) {
    mn_graph_init(dst);
    if (!src->finalized) return mn_error(MN_EARG, "model is not finalized");
    if (mn_graph_is_binary(src)) return mn_error(MN_EARG, "the model is binarized already");
    char *binarized = calloc((size_t)src->nnodes, 1);
    if (!binarized) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = build(src, o, dst, binarized);
    if (st) goto out;
    /* Same names, same sizes: copy; ghost weights start from the f32 ones,
     * in the units each mode binarizes (BinaryConnect: w / H in [-1, 1]). */
    for (int p = 0; p < dst->nparams; p++) {
        int q = mn_graph_find_param(src, dst->params[p].name);
        if (q >= 0 && src->params[q].n == dst->params[p].n)
            memcpy(mn_param_data(dst, p), mn_param_data(src, q), sizeof(float) * (size_t)dst->params[p].n);
    }
    for (int i = 0; i < src->nnodes; i++) {
        if (!binarized[i]) continue;
        const mn_node *n = &dst->nodes[mn_graph_find_node(dst, src->nodes[i].name)];
        int fi, fo;
        fan_in_out(dst, n, &fi, &fo);
        float H = mn_bin_glorot(fi, fo), *w = mn_param_data(dst, n->p[0]);
        int64_t cnt = dst->params[n->p[0]].n;
        for (int64_t k = 0; k < cnt; k++) {
            if (n->a.bmode == MN_BIN_DET || n->a.bmode == MN_BIN_STOCH) w[k] = fminf(fmaxf(w[k] / H, -1.0f), 1.0f);
            else if (n->a.bmode == MN_BIN_TANH) w[k] = w[k] / H;
        }
    }
    dst->nmeta = src->nmeta;
    memcpy(dst->meta, src->meta, sizeof src->meta);
    static const char *names[] = {"binaryconnect", "xnor", "bitwise"};
    st = mn_graph_set_meta(dst, "binary", names[o->method]);
out:
    free(binarized);
    if (st) mn_graph_free(dst);
    return st;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

mn_status mn_binarize_bitwise_phase2(mn_graph *g, float sparsity) {
    if (!(sparsity >= 0 && sparsity < 1)) return mn_error(MN_EARG, "sparsity %g is not in [0, 1)", sparsity);
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        /* Same parameters and buffers, so the ops can change in place. */
        if (n->op == MN_OP_TANH) n->op = MN_OP_SIGN;
        if ((n->op != MN_OP_BDENSE && n->op != MN_OP_BCONV) || n->a.bmode != MN_BIN_TANH) continue;
        n->a.bmode = MN_BIN_BITWISE;
        n->a.bsparse = 0;
        const mn_param *p = &g->params[n->p[0]];
        int64_t cut = (int64_t)(sparsity * (double)p->n);
        if (cut <= 0) continue;
        float *a = malloc(sizeof(float) * (size_t)p->n);
        if (!a) return mn_error(MN_ENOMEM, "out of memory");
        const float *w = mn_param_data(g, n->p[0]);
        for (int64_t k = 0; k < p->n; k++) a[k] = fabsf(w[k]);
        qsort(a, (size_t)p->n, sizeof *a, cmp_float);
        /* |w| < a[cut] zeroes (about) the `cut` smallest weights. */
        n->a.bsparse = a[cut];
        free(a);
    }
    return MN_OK;
}

void mn_binary_clip(mn_graph *g) {
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        if ((n->op != MN_OP_BDENSE && n->op != MN_OP_BCONV) ||
            (n->a.bmode != MN_BIN_DET && n->a.bmode != MN_BIN_STOCH)) continue;
        float *w = mn_param_data(g, n->p[0]);
        for (int64_t k = 0; k < g->params[n->p[0]].n; k++) w[k] = fminf(fmaxf(w[k], -1.0f), 1.0f);
    }
}

/* The caller's hooks, called through ours (they share one ud); prev holds
 * the ghost weights before the step, for the ghost learning-rate scale. */
typedef struct { const mn_train_cfg *user; float scale, *prev; } hooks;

static int is_ghost(const mn_node *n) {
    return (n->op == MN_OP_BDENSE || n->op == MN_OP_BCONV) && n->a.bmode != MN_BIN_FROZEN;
}

static void ghost_save(const mn_graph *g, float *prev) {
    for (int i = 0; i < g->nnodes; i++)
        if (is_ghost(&g->nodes[i])) {
            int p = g->nodes[i].p[0];
            memcpy(prev + g->params[p].off, mn_param_data(g, p), sizeof(float) * (size_t)g->params[p].n);
        }
}

static void h_step(void *ud, mn_graph *g, int64_t step) {
    hooks *h = ud;
    if (h->prev) {
        for (int i = 0; i < g->nnodes; i++) {
            if (!is_ghost(&g->nodes[i])) continue;
            int p = g->nodes[i].p[0];
            float *w = mn_param_data(g, p), *o = h->prev + g->params[p].off;
            for (int64_t k = 0; k < g->params[p].n; k++) w[k] = o[k] + h->scale * (w[k] - o[k]);
        }
    }
    mn_binary_clip(g);
    if (h->prev) ghost_save(g, h->prev);
    if (h->user->on_step) h->user->on_step(h->user->ud, g, step);
}
static void h_progress(void *ud, const mn_progress *p) {
    const hooks *h = ud;
    if (h->user->on_progress) h->user->on_progress(h->user->ud, p);
}
static void h_epoch(void *ud, const mn_epoch_stats *s) {
    const hooks *h = ud;
    if (h->user->on_epoch) h->user->on_epoch(h->user->ud, s);
}

mn_status mn_binarize_train(mn_graph *g, const mn_binarize_opts *o, const mn_dataset *train,
                            const mn_dataset *val, const mn_train_cfg *cfg) {
    mn_graph b, f;
    /* A checkpoint would hold the ghost-weight graph, which the dense run
     * that --resume rebuilds cannot take. */
    if (cfg->resume || cfg->on_state) return mn_error(MN_EARG, "checkpoints are not supported when training binarized");
    mn_status st = mn_binarize_convert(g, o, &b);
    if (st) return st;
    hooks h = {cfg, o->ghost_lr_scale, NULL};
    if (!(o->ghost_lr_scale > 0)) { st = mn_error(MN_EARG, "ghost learning-rate scale must be > 0"); goto out; }
    if (o->ghost_lr_scale != 1) {
        if (!(h.prev = mn_alloc((size_t)b.nw, sizeof(float)))) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
        ghost_save(&b, h.prev);
    }
    mn_train_cfg c = *cfg;
    c.on_step = h_step;
    c.on_progress = h_progress;
    c.on_epoch = h_epoch;
    c.ud = &h;
    if (o->method == MN_BINARIZE_BITWISE) {
        c.epochs = o->pre_epochs >= 0 ? o->pre_epochs : cfg->epochs;
        if ((st = mn_train(&b, train, val, &c))) goto out;
        if ((st = mn_binarize_bitwise_phase2(&b, o->sparsity))) goto out;
        mn_optim reset = c.opt;
        mn_optim_reset(&b, &reset);
        if (h.prev) ghost_save(&b, h.prev);
        c.epochs = cfg->epochs;
    }
    if ((st = mn_train(&b, train, val, &c))) goto out;
    if ((st = mn_binary_freeze(&b, o->fold, &f))) goto out;
    mn_graph_free(g);
    *g = f;
out:
    mn_free(h.prev);
    mn_graph_free(&b);
    return st;
}
