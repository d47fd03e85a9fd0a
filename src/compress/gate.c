/* Gated residual blocks (minnow/gate.h): inserting the gates, training
 * them against a compute cost, and measuring what runs per sample. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/gate.h"
#include "minnow/prune.h"
#include "compress/prune_impl.h"

mn_status mn_gate_add(const mn_graph *g, float open, mn_graph *out, int *ngates) {
    mn_graph_init(out);
    *ngates = 0;
    if (!g->finalized) return mn_error(MN_EARG, "gate: the graph is not finalized");
    if (mn_graph_is_gated(g)) return mn_error(MN_EARG, "gate: the model is gated already");
    mn_res_block b[MN_MAX_BLOCKS];
    int nb = mn_res_blocks(g, b, MN_MAX_BLOCKS);
    if (nb < 0) return mn_error(MN_ENOMEM, "out of memory");
    if (nb == 0) return mn_error(MN_EARG, "gate: the model has no residual block with an identity shortcut");
    if (nb > 64) return mn_error(MN_EUNSUPPORTED, "gate: more than 64 gated blocks");
    int *blk = malloc(sizeof(int) * (size_t)g->nnodes);
    if (!blk) return mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < g->nnodes; i++) blk[i] = -1;
    for (int k = 0; k < nb; k++) blk[b[k].add] = k;
    mn_status st = MN_OK;
    char gname[MN_NAME_MAX + 8];
    /* Nodes in their order; each block's gate right after the block's
     * input, so that it sorts before the branch. */
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i];
        const char *ins[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) ins[k] = n->in_names[k];
        if (blk[i] >= 0) {
            const mn_res_block *r = &b[blk[i]];
            const char *gi[3] = {g->nodes[r->input].name, n->in_names[n->in[0] == r->input ? 1 : 0], gname};
            snprintf(gname, sizeof gname, "%s_gate", n->name);
            if (strlen(gname) >= MN_NAME_MAX) st = mn_error(MN_EARG, "gate: node name '%s' too long for its gate", n->name);
            else if (mn_graph_add(out, MN_OP_GADD, n->name, gi, 3, &n->a) < 0) st = MN_EARG;
        } else if (mn_graph_add(out, n->op, n->name, ins, n->nin, &n->a) < 0) {
            st = MN_EARG;
        }
        for (int k = 0; k < nb && !st; k++) {
            if (b[k].input != i) continue;
            snprintf(gname, sizeof gname, "%s_gate", g->nodes[b[k].add].name);
            mn_attrs a = {0};
            const char *in = n->name;
            if (mn_graph_add(out, MN_OP_GATE, gname, &in, 1, &a) < 0) st = MN_EARG;
        }
    }
    if (!st) st = mn_graph_finalize(out);
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i], *m = &out->nodes[mn_graph_find_node(out, n->name)];
        for (int k = 0; k < n->np && !st; k++) {
            const mn_param *sp = &g->params[n->p[k]];
            if (sp->store) { st = mn_error(MN_EUNSUPPORTED, "gate: '%s' is stored compressed; gate a plain f32 model", sp->name); break; }
            st = mn__copy_param(g, n->p[k], out, m->p[k]);
        }
    }
    for (int i = 0; i < out->nnodes && !st; i++)
        if (out->nodes[i].op == MN_OP_GATE) {
            memset(mn_param_data(out, out->nodes[i].p[0]), 0, sizeof(float) * (size_t)out->params[out->nodes[i].p[0]].n);
            mn_param_data(out, out->nodes[i].p[1])[0] = open;
            (*ngates)++;
        }
    if (!st) {
        out->nmeta = g->nmeta;
        memcpy(out->meta, g->meta, sizeof g->meta);
    }
    free(blk);
    if (st) mn_graph_free(out);
    return st;
}

typedef struct gate_run {
    int n, node[64];
    double share[64];      /* the branch's MACs / the full network's */
    float *extra;          /* n * batch: the cost's gradient per gate and sample */
    float cost;
    mn_loss_fn loss;
    void *loss_ud;
} gate_run;

/* Branch MACs of each gate (the nodes it decides) over the full MACs. */
static void shares(const mn_graph *g, gate_run *r) {
    double full = (double)mn_graph_macs(g);
    r->n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MN_OP_GATE && r->n < 64) {
            int64_t m = 0;
            for (int j = 0; j < g->nnodes; j++) m += g->nodes[j].gate == i ? mn_node_macs(g, j) : 0;
            r->node[r->n] = i;
            r->share[r->n++] = m / full;
        }
}

static float gate_loss(void *ud, mn_graph *g, const float *x, const int32_t *y, int batch, const float *logits,
                       float *dlogits) {
    gate_run *r = ud;
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    float l = r->loss ? r->loss(r->loss_ud, g, x, y, batch, logits, dlogits) : mn_xent_hard(logits, y, batch, k, 1, dlogits);
    double used = 0;
    for (int i = 0; i < r->n; i++) {
        const float *b = g->nodes[r->node[i]].y;
        float *e = r->extra + (size_t)i * (size_t)batch;
        for (int s = 0; s < batch; s++) {
            used += b[s] * r->share[i];
            e[s] = (float)(r->cost * r->share[i] / batch);
        }
        g->nodes[r->node[i]].dy_extra = e;
    }
    return l + (float)(r->cost * used / batch);
}

mn_status mn_gate_train(mn_graph *g, const mn_dataset *train, const mn_dataset *val, const mn_train_cfg *c, float cost) {
    if (!mn_graph_is_gated(g)) return mn_error(MN_EARG, "gate: the model has no gates (mn_gate_add)");
    if (!(cost >= 0) || !isfinite(cost)) return mn_error(MN_EARG, "gate: cost must be >= 0");
    gate_run r = {0};
    shares(g, &r);
    r.cost = cost;
    r.loss = c->loss;
    r.loss_ud = c->loss_ud;
    r.extra = malloc(sizeof(float) * (size_t)(r.n ? r.n : 1) * (size_t)c->batch);
    if (!r.extra) return mn_error(MN_ENOMEM, "out of memory");
    mn_train_cfg t = *c;
    t.loss = gate_loss;
    t.loss_ud = &r;
    mn_status st = mn_train(g, train, val, &t);
    for (int i = 0; i < r.n; i++) g->nodes[r.node[i]].dy_extra = NULL;
    free(r.extra);
    return st;
}

mn_status mn_gate_evaluate(mn_graph *g, const mn_dataset *d, mn_gate_eval *r) {
    memset(r, 0, sizeof *r);
    mn_status st = mn_check_data(g, d);
    if (st) return st;
    if ((st = mn_graph_reserve(g, 1))) return st;
    gate_run gr;
    shares(g, &gr);
    r->ngates = gr.n;
    r->full_macs = mn_graph_macs(g);
    int64_t isz = (int64_t)d->c * d->h * d->w, k = mn_shape_numel(mn_graph_output_shape(g));
    double macs = 0, t0 = mn_now();
    for (int s = 0; s < d->n; s++) {
        double ts = mn_now();
        const float *z = mn_graph_forward(g, d->x + s * isz, 1, 0);
        double us = (mn_now() - ts) * 1e6;
        int best = 0, open = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best]) best = j;
        for (int i = 0; i < gr.n; i++)
            if (g->nodes[gr.node[i]].y[0] != 0) r->open[i]++, open++;
        macs += (double)mn_graph_run_macs(g, 1);
        int wrong = best != d->y[s];
        r->errors += wrong;
        r->by_count_n[open]++;
        r->by_count_err[open] += wrong;
        r->by_count_us[open] += us;
    }
    r->seconds = mn_now() - t0;
    r->n = d->n;
    r->avg_macs = d->n ? macs / d->n : 0;
    for (int i = 0; i <= 64; i++)
        if (r->by_count_n[i]) r->by_count_us[i] /= r->by_count_n[i];
    return MN_OK;
}
