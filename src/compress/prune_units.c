/* Structured pruning: whole hidden units of dense layers or filters of conv
 * layers are removed, together with the matching input columns of the next
 * layers, giving a smaller dense graph (fewer MACs with no sparse kernel). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/prune.h"
#include "compress/prune_impl.h"
#include "store/store.h"

/* The node whose first parameter is p (-1 if none). */
static int layer_node(const mn_graph *g, int p) {
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].np > 0 && g->nodes[i].p[0] == p) return i;
    return -1;
}

/* The single node consuming node i, or -1. */
static int only_consumer(const mn_graph *g, int i) {
    int who = -1;
    for (int j = 0; j < g->nnodes; j++)
        for (int k = 0; k < g->nodes[j].nin; k++)
            if (g->nodes[j].in[k] == i) {
                if (who >= 0 && who != j) return -1;
                who = j;
            }
    return who;
}

/* The unit's post-activation: the first relu/tanh after the layer, through
 * batch norm and dropout; the layer itself if there is none. */
static int post_activation(const mn_graph *g, int node) {
    int cur = node;
    for (;;) {
        int nx = only_consumer(g, cur);
        if (nx < 0) return node;
        mn_op op = g->nodes[nx].op;
        if (op == MN_OP_RELU || op == MN_OP_TANH) return nx;
        if (op != MN_OP_BATCHNORM && op != MN_OP_DROPOUT) return node;
        cur = nx;
    }
}

mn_status mn_unit_scores(mn_graph *g, int p, mn_unit_crit crit,
                         const mn_dataset *d, float *score) {
    int node = layer_node(g, p);
    if (node < 0 || (g->nodes[node].op != MN_OP_DENSE && g->nodes[node].op != MN_OP_CONV))
        return mn_error(MN_EARG, "'%s' is not a dense/conv weight", g->params[p].name);
    int rows, cols;
    mn_param_matrix(g, p, &rows, &cols);
    const float *w = mn_param_data(g, p);
    if (crit == MN_CRIT_BN) { /* network slimming: the scale of the unit's batch norm */
        int b = only_consumer(g, node);
        if (b < 0 || g->nodes[b].op != MN_OP_BATCHNORM)
            return mn_error(MN_EARG, "criterion bn: no batch norm reads '%s' alone", g->nodes[node].name);
        const float *ga = mn_param_data(g, g->nodes[b].p[0]);
        for (int r = 0; r < rows; r++) score[r] = fabsf(ga[r]);
        return MN_OK;
    }
    if (crit != MN_CRIT_ACTIVITY) {
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < cols; c++) {
                float v = w[(int64_t)r * cols + c];
                s += crit == MN_CRIT_L1 ? fabs(v) : (double)v * v;
            }
            score[r] = (float)(crit == MN_CRIT_L1 ? s : sqrt(s));
        }
        return MN_OK;
    }
    mn_status st;
    if (!d) return mn_error(MN_EARG, "the activity criterion needs data");
    if ((st = mn_check_data(g, d))) return st;
    int batch = d->n < 250 ? d->n : 250;
    if ((st = mn_graph_reserve(g, batch))) return st;
    const mn_node *a = &g->nodes[post_activation(g, node)];
    int64_t per = mn_shape_numel(&a->out) / rows; /* positions per unit */
    int64_t isz = (int64_t)d->c * d->h * d->w;
    double *cnt = calloc((size_t)rows, sizeof(double));
    if (!cnt) return mn_error(MN_ENOMEM, "out of memory");
    for (int s = 0; s < d->n; s += batch) {
        int b = d->n - s < batch ? d->n - s : batch;
        mn_graph_forward(g, d->x + s * isz, b, 0);
        for (int i = 0; i < b; i++)
            for (int r = 0; r < rows; r++) {
                const float *y = a->y + ((int64_t)i * rows + r) * per;
                int64_t nz = 0;
                for (int64_t j = 0; j < per; j++) nz += y[j] != 0;
                cnt[r] += (double)nz / per;
            }
    }
    for (int r = 0; r < rows; r++) score[r] = (float)(cnt[r] / d->n);
    free(cnt);
    return MN_OK;
}

/* keep (n entries) repeated per block of `inner` features; NULL stays NULL. */
static unsigned char *expand(const unsigned char *keep, int n, int64_t inner) {
    if (!keep) return NULL;
    unsigned char *e = malloc((size_t)(n * inner));
    if (e)
        for (int i = 0; i < n; i++) memset(e + i * inner, keep[i], (size_t)inner);
    return e;
}

static int count(const unsigned char *k, int n) {
    int c = 0;
    for (int i = 0; i < n; i++) c += k[i] != 0;
    return c;
}

/* dst = the kept rows x kept column blocks of src (rows x nb blocks of
 * `block` floats); NULL keeps all. */
static void slice(const float *src, int rows, const unsigned char *rk, int nb,
                  const unsigned char *ck, int block, float *dst) {
    for (int r = 0; r < rows; r++) {
        if (rk && !rk[r]) continue;
        for (int b = 0; b < nb; b++) {
            if (ck && !ck[b]) continue;
            memcpy(dst, src + ((int64_t)r * nb + b) * block, sizeof(float) * block);
            dst += block;
        }
    }
}

static mn_status copy_param(const mn_graph *g, int q, mn_graph *o, int nq, int rows,
                            const unsigned char *rk, int nb, const unsigned char *ck, int block) {
    const mn_param *sp = &g->params[q];
    slice(g->w + sp->off, rows, rk, nb, ck, block, o->w + o->params[nq].off);
    if (sp->mask) {
        float *m = mn_param_mask(o, nq);
        if (!m) return mn_error(MN_ENOMEM, "out of memory");
        slice(sp->mask, rows, rk, nb, ck, block, m);
    }
    return MN_OK;
}

mn_status mn_graph_remove_units(const mn_graph *g, const unsigned char *const *keep, mn_graph *out) {
    mn_graph_init(out);
    if (!g->finalized) return mn_error(MN_EARG, "graph is not finalized");
    mn_status st = MN_OK;
    int N = g->nnodes;
    /* chan[i]: kept entries of node i's output along d[0] (NULL: all). */
    const unsigned char **chan = calloc((size_t)N, sizeof *chan);
    unsigned char **owned = calloc((size_t)N, sizeof *owned);
    if (!chan || !owned) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    for (int p = 0; p < g->nparams; p++) {
        if (!keep[p]) continue;
        if (!mn_prune_selectable(g, p, MN_SEL_NEURONS) && !mn_prune_selectable(g, p, MN_SEL_FILTERS)) {
            st = mn_error(MN_EARG, "units of '%s' cannot be removed (they reach the output, a concat or a grouped conv)",
                          g->params[p].name);
            goto out;
        }
        if (count(keep[p], g->params[p].shape.d[0]) == 0) {
            st = mn_error(MN_EARG, "removing every unit of '%s' would cut the network", g->params[p].name);
            goto out;
        }
    }
    for (int i = 0; i < N; i++) {
        const mn_node *n = &g->nodes[i];
        const unsigned char *in = n->nin > 0 ? chan[n->in[0]] : NULL;
        switch (n->op) {
        case MN_OP_DENSE: case MN_OP_CONV:
            /* a depthwise conv keeps its input's channels */
            chan[i] = mn__is_depthwise(g, n) ? in : keep[n->p[0]];
            break;
        case MN_OP_ADD: /* the inputs keep the same channels (units() ties them) */
            chan[i] = in;
            for (int k = 1; k < n->nin; k++) {
                const unsigned char *o = chan[n->in[k]];
                int C = n->out.d[0];
                if ((o == NULL) != (in == NULL) || (o && memcmp(o, in, (size_t)C) != 0)) {
                    st = mn_error(MN_EARG, "the inputs of add '%s' would keep different channels", n->name);
                    goto out;
                }
            }
            break;
        case MN_OP_RELU: case MN_OP_TANH: case MN_OP_DROPOUT: case MN_OP_MAXPOOL:
        case MN_OP_AVGPOOL: case MN_OP_BATCHNORM: chan[i] = in; break;
        case MN_OP_FLATTEN: {
            const mn_shape *s = &g->nodes[n->in[0]].out;
            chan[i] = owned[i] = expand(in, s->d[0], mn_shape_numel(s) / s->d[0]);
            if (in && !owned[i]) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
            break;
        }
        case MN_OP_CONCAT: { /* its inputs' kept channels, one range after another */
            int any = 0;
            for (int k = 0; k < n->nin; k++) any |= chan[n->in[k]] != NULL;
            if (!any) break;
            if (!(chan[i] = owned[i] = malloc((size_t)n->out.d[0]))) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
            for (int k = 0, o = 0; k < n->nin; k++) {
                int C = g->nodes[n->in[k]].out.d[0];
                if (chan[n->in[k]]) memcpy(owned[i] + o, chan[n->in[k]], (size_t)C);
                else memset(owned[i] + o, 1, (size_t)C);
                o += C;
            }
            break;
        }
        default:
            for (int k = 0; k < n->nin; k++)
                if (chan[n->in[k]]) { st = mn_error(MN_EARG, "cannot remove units feeding '%s'", n->name); goto out; }
        }
    }
    if (chan[g->output]) { st = mn_error(MN_EARG, "cannot remove output units"); goto out; }
    /* The smaller graph: the same nodes, fewer units. */
    for (int i = 0; i < N; i++) {
        const mn_node *n = &g->nodes[i];
        mn_attrs a = n->a;
        if (chan[i] && n->op == MN_OP_DENSE) a.units = count(chan[i], n->out.d[0]);
        if (chan[i] && n->op == MN_OP_CONV) a.filters = count(chan[i], n->out.d[0]);
        if (chan[i] && mn__is_depthwise(g, n)) a.groups = a.filters;
        const char *ins[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) ins[k] = n->in_names[k];
        if (mn_graph_add(out, n->op, n->name, ins, n->nin, &a) < 0) { st = MN_EARG; goto out; }
    }
    if ((st = mn_graph_finalize(out))) goto out;
    for (int i = 0; i < N && !st; i++) {
        const mn_node *n = &g->nodes[i];
        const mn_node *m = &out->nodes[mn_graph_find_node(out, n->name)];
        const unsigned char *in = n->nin > 0 ? chan[n->in[0]] : NULL;
        for (int k = 0; k < n->np && !st; k++) {
            int q = n->p[k], nq = m->p[k];
            const mn_param *sp = &g->params[q];
            if (n->op == MN_OP_DENSE || n->op == MN_OP_CONV) {
                int rows = sp->shape.d[0];
                if (k == 0) {
                    /* Input columns: channel blocks of k*k (conv) or the
                     * input's features, expanded from its channels. */
                    const mn_shape *is = &g->nodes[n->in[0]].out;
                    int64_t inner = n->op == MN_OP_CONV ? (int64_t)n->a.k * n->a.k : 1;
                    int nb = (int)(sp->n / rows / inner);
                    unsigned char *ck = n->op == MN_OP_DENSE ? expand(in, is->d[0], mn_shape_numel(is) / is->d[0]) : NULL;
                    if (n->op == MN_OP_DENSE && in && !ck) { st = mn_error(MN_ENOMEM, "out of memory"); break; }
                    /* a depthwise filter reads its own channel: no columns to drop */
                    const unsigned char *cols = n->op == MN_OP_DENSE ? ck : mn__is_depthwise(g, n) ? NULL : in;
                    st = copy_param(g, q, out, nq, rows, chan[i], nb, cols, (int)inner);
                    free(ck);
                } else {
                    st = copy_param(g, q, out, nq, rows, chan[i], 1, NULL, 1);
                }
            } else if (n->op == MN_OP_BATCHNORM) {
                st = copy_param(g, q, out, nq, (int)sp->n, in, 1, NULL, 1);
            } else {
                st = copy_param(g, q, out, nq, 1, NULL, 1, NULL, (int)sp->n);
            }
        }
    }
    if (st) goto out;
    out->nmeta = g->nmeta;
    memcpy(out->meta, g->meta, sizeof g->meta);
    out->rng = g->rng;
out:
    if (owned) for (int i = 0; i < N; i++) free(owned[i]);
    free(owned);
    free(chan);
    if (st) mn_graph_free(out);
    return st;
}

typedef struct { float s; int r; } ranked;
static int ranked_cmp(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->s < y->s) return -1;
    if (x->s > y->s) return 1;
    return (x->r > y->r) - (x->r < y->r);
}

static mn_status units(mn_graph *g, const float *t, mn_unit_crit crit, const mn_dataset *d, const uint64_t *seed,
                       mn_graph *out);

mn_status mn_prune_units(mn_graph *g, const float *t, mn_unit_crit crit,
                         const mn_dataset *d, mn_graph *out) {
    return units(g, t, crit, d, NULL, out);
}

mn_status mn_prune_units_random(mn_graph *g, const float *t, uint64_t seed, mn_graph *out) {
    return units(g, t, MN_CRIT_L1, NULL, &seed, out);
}

/* With a seed, random scores (the control) instead of crit's. */
static mn_status units(mn_graph *g, const float *t, mn_unit_crit crit, const mn_dataset *d, const uint64_t *seed,
                       mn_graph *out) {
    mn_rng rng;
    if (seed) mn_rng_seed(&rng, *seed ^ 0x554e4954ULL);
    mn_graph_init(out);
    mn_status st = MN_OK;
    unsigned char **keep = calloc((size_t)(g->nparams + 1), sizeof *keep);
    mn_chgroups cg = {0, NULL, NULL};
    if (!keep) return mn_error(MN_ENOMEM, "out of memory");
    if ((st = mn__chgroups(g, &cg))) { free(keep); return st; }
    /* The producers of one channel group (tied by residual adds) lose the
     * same units: the group's largest fraction, ranked by the sum of their
     * scores.  gkeep[k] is group k's mask, which keep[p] of each of its
     * producers points to. */
    float *gt = malloc(sizeof(float) * (size_t)(cg.ngroups + 1));
    unsigned char **gkeep = calloc((size_t)(cg.ngroups + 1), sizeof *gkeep);
    if (!gt || !gkeep) st = mn_error(MN_ENOMEM, "out of memory");
    for (int k = 0; k < cg.ngroups && !st; k++) gt[k] = -1;
    for (int p = 0; p < g->nparams && !st; p++) {
        if (t[p] < 0) continue;
        if (!(t[p] < 1)) { st = mn_error(MN_EARG, "fraction %g for '%s' is outside [0, 1)", t[p], g->params[p].name); break; }
        int node = layer_node(g, p);
        if (node < 0) { st = mn_error(MN_EARG, "'%s' is not a dense/conv weight", g->params[p].name); break; }
        float *v = &gt[cg.gid[node]];
        if (t[p] > *v) *v = t[p];
    }
    for (int k = 0; k < cg.ngroups && !st; k++) {
        if (gt[k] < 0) continue;
        int rows = -1;
        float *sum = NULL, *sc = NULL;
        ranked *rk = NULL;
        for (int p = 0; p < g->nparams && !st; p++) {
            int node = layer_node(g, p);
            if (node < 0 || cg.gid[node] != k || mn__is_depthwise(g, &g->nodes[node]) ||
                (g->nodes[node].op != MN_OP_DENSE && g->nodes[node].op != MN_OP_CONV))
                continue;
            int first = rows < 0;
            if (first) {
                rows = g->params[p].shape.d[0];
                sum = calloc((size_t)rows, sizeof(float));
                sc = malloc(sizeof(float) * (size_t)rows);
                rk = malloc(sizeof(ranked) * (size_t)rows);
                gkeep[k] = malloc((size_t)rows);
                if (!sum || !sc || !rk || !gkeep[k]) { st = mn_error(MN_ENOMEM, "out of memory"); break; }
            }
            if (seed) { /* the control: one random score per unit of the group */
                if (first)
                    for (int r = 0; r < rows; r++) sum[r] = mn_rng_uniform(&rng);
            } else if (!(st = mn_unit_scores(g, p, crit, d, sc))) {
                for (int r = 0; r < rows; r++) sum[r] += isfinite(sc[r]) ? sc[r] : INFINITY;
            }
            keep[p] = gkeep[k];
        }
        if (!st && rows > 0) {
            for (int r = 0; r < rows; r++) rk[r] = (ranked){sum[r], r};
            qsort(rk, (size_t)rows, sizeof(ranked), ranked_cmp);
            int drop = (int)lround((double)gt[k] * rows);
            if (drop > rows - 1) drop = rows - 1;
            memset(gkeep[k], 1, (size_t)rows);
            for (int r = 0; r < drop; r++) gkeep[k][rk[r].r] = 0;
        }
        free(sum);
        free(sc);
        free(rk);
    }
    if (!st) st = mn_graph_remove_units(g, (const unsigned char *const *)keep, out);
    for (int k = 0; gkeep && k < cg.ngroups; k++) free(gkeep[k]);
    free(gkeep);
    free(keep);
    free(gt);
    mn__chgroups_free(&cg);
    return st;
}
