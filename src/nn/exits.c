/* Multi-exit networks: finding the exits and the graph segment each one
 * adds, joint training through the loss hook, and early-exit evaluation
 * that really runs only the segments a sample needs. */
#include "minnow/exits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mn_status mn_exits_init(mn_exits *x, const mn_graph *g) {
    memset(x, 0, sizeof *x);
    if (!g->finalized) return mn_error(MN_EARG, "graph is not finalized");
    int nn = g->nnodes;
    x->nnodes = nn;
    x->nclass = (int)mn_shape_numel(&g->nodes[g->output].out);
    for (int i = 0; i < nn; i++) {
        int used = 0;
        for (int j = i + 1; j < nn && !used; j++)
            for (int k = 0; k < g->nodes[j].nin; k++)
                if (g->nodes[j].in[k] == i) used = 1;
        if (used) continue;
        if (x->n == MN_EXITS_MAX) return mn_error(MN_ESHAPE, "more than %d exits (sinks) in the graph", MN_EXITS_MAX);
        if (mn_shape_numel(&g->nodes[i].out) != x->nclass)
            return mn_error(MN_ESHAPE, "exit '%s' gives %lld values, the output '%s' %d", g->nodes[i].name,
                            (long long)mn_shape_numel(&g->nodes[i].out), g->nodes[g->output].name, x->nclass);
        x->node[x->n++] = i;
    }
    x->seg = calloc((size_t)x->n * nn, 1);
    unsigned char *covered = calloc((size_t)nn, 1), *anc = calloc((size_t)nn, 1);
    if (!x->seg || !covered || !anc) {
        free(covered); free(anc); mn_exits_free(x);
        return mn_error(MN_ENOMEM, "out of memory");
    }
    int64_t macs = 0;
    for (int e = 0; e < x->n; e++) {
        /* Ancestors by one backward sweep: inputs always come earlier. */
        memset(anc, 0, (size_t)nn);
        anc[x->node[e]] = 1;
        for (int i = x->node[e]; i >= 0; i--)
            if (anc[i])
                for (int k = 0; k < g->nodes[i].nin; k++) anc[g->nodes[i].in[k]] = 1;
        for (int i = 0; i < nn; i++)
            if (anc[i] && !covered[i]) {
                x->seg[(size_t)e * nn + i] = 1;
                covered[i] = 1;
                macs += mn_node_macs(g, i);
            }
        x->macs[e] = macs;
    }
    free(covered); free(anc);
    return MN_OK;
}

void mn_exits_free(mn_exits *x) {
    free(x->seg);
    memset(x, 0, sizeof *x);
}

/* ---- joint training ---- */

static float exits_loss(void *ud, mn_graph *g, const float *x, const int32_t *y, int batch,
                        const float *logits, float *dlogits) {
    (void)x;
    mn_exits_trainer *t = ud;
    int k = t->ex.nclass, last = t->ex.n - 1;
    int64_t m = (int64_t)batch * k;
    float total = 0;
    /* Self-distillation: the last head's softened prediction is every
     * inner head's soft target (no gradient through it). */
    if (t->self_alpha > 0 && batch <= t->batch) mn_softmax_t(logits, batch, k, t->self_T, t->q);
    for (int e = 0; e <= last; e++) {
        mn_node *n = &g->nodes[t->ex.node[e]];
        float *d = e == last ? dlogits : t->buf + (int64_t)e * t->batch * k;
        float l = mn_xent_hard(e == last ? logits : n->y, y, batch, k, 1.0f, d);
        if (e != last && t->self_alpha > 0 && batch <= t->batch) {
            float a = t->self_alpha, T2 = t->self_T * t->self_T;
            float ls = mn_xent_soft(n->y, t->q, batch, k, t->self_T, t->ds);
            for (int64_t j = 0; j < m; j++) d[j] = (1 - a) * d[j] + a * T2 * t->ds[j];
            l = (1 - a) * l + a * T2 * ls;
        }
        for (int64_t j = 0; j < m; j++) d[j] *= t->weight[e];
        /* Inner heads are sinks: backward adds dy_extra to their (zero) dy. */
        if (e != last) n->dy_extra = d;
        t->loss[e] = l;
        total += t->weight[e] * l;
    }
    return total;
}

mn_status mn_exits_train_setup(mn_exits_trainer *t, mn_graph *g, const float *weight,
                               int nweights, mn_train_cfg *cfg) {
    memset(t, 0, sizeof *t);
    mn_status st = mn_exits_init(&t->ex, g);
    if (st) return st;
    if (nweights != t->ex.n) {
        int n = t->ex.n;
        mn_exits_free(&t->ex);
        return mn_error(MN_EARG, "%d exit weights given, the graph has %d exits", nweights, n);
    }
    for (int e = 0; e < nweights; e++) {
        if (!(weight[e] >= 0) || !isfinite(weight[e])) {
            mn_exits_free(&t->ex);
            return mn_error(MN_EARG, "exit weight %d is not a non-negative number", e + 1);
        }
        t->weight[e] = weight[e];
    }
    t->batch = cfg->batch > 0 ? cfg->batch : 1;
    size_t nb = (size_t)(t->ex.n > 1 ? t->ex.n - 1 : 1) * t->batch * t->ex.nclass;
    t->buf = mn_alloc(nb, sizeof(float));
    if (!t->buf) { mn_exits_free(&t->ex); return mn_error(MN_ENOMEM, "out of memory"); }
    t->g = g;
    cfg->loss = exits_loss;
    cfg->loss_ud = t;
    return MN_OK;
}

mn_status mn_exits_self_distill(mn_exits_trainer *t, float alpha, float T) {
    if (!(alpha >= 0 && alpha <= 1)) return mn_error(MN_EARG, "self-distillation: alpha must be in [0, 1]");
    if (!(T > 0) || !isfinite(T)) return mn_error(MN_EARG, "self-distillation: the temperature must be > 0");
    if (t->ex.n < 2) return mn_error(MN_EARG, "self-distillation needs a network with inner exit heads");
    if (!t->q) {
        t->q = mn_alloc((size_t)t->batch * t->ex.nclass, sizeof(float));
        t->ds = mn_alloc((size_t)t->batch * t->ex.nclass, sizeof(float));
        if (!t->q || !t->ds) return mn_error(MN_ENOMEM, "out of memory");
    }
    t->self_alpha = alpha;
    t->self_T = T;
    return MN_OK;
}

void mn_exits_train_done(mn_exits_trainer *t) {
    if (t->g)
        for (int e = 0; e < t->ex.n; e++) t->g->nodes[t->ex.node[e]].dy_extra = NULL;
    mn_free(t->q);
    mn_free(t->ds);
    mn_free(t->buf);
    mn_exits_free(&t->ex);
    memset(t, 0, sizeof *t);
}

/* ---- evaluation ---- */

/* Top softmax probability of one row of logits, and its class. */
static float top_prob(const float *z, int k, int *pred) {
    int a = 0;
    for (int j = 1; j < k; j++)
        if (z[j] > z[a]) a = j;
    double s = 0;
    for (int j = 0; j < k; j++) s += exp((double)z[j] - z[a]);
    *pred = a;
    return (float)(1.0 / s);
}

static void result_init(mn_exit_result *r, const mn_exits *ex, int n) {
    memset(r, 0, sizeof *r);
    r->n = n;
    r->nexits = ex->n;
    r->full_macs = ex->macs[ex->n - 1];
}

mn_status mn_exits_eval(mn_graph *g, const mn_dataset *d, float threshold, int batch,
                        mn_exit_result *r) {
    mn_status st;
    mn_exits ex;
    memset(r, 0, sizeof *r);
    if ((st = mn_check_data(g, d))) return st;
    if (batch <= 0) batch = 250;
    if ((st = mn_graph_reserve(g, batch))) return st;
    if ((st = mn_exits_init(&ex, g))) return st;
    int nn = g->nnodes, k = ex.nclass;
    int *idx = malloc(sizeof(int) * batch), *keep = malloc(sizeof(int) * batch);
    unsigned char *done = malloc((size_t)nn);
    if (!idx || !keep || !done) {
        free(idx); free(keep); free(done); mn_exits_free(&ex);
        return mn_error(MN_ENOMEM, "out of memory");
    }
    result_init(r, &ex, d->n);
    int64_t isz = (int64_t)d->c * d->h * d->w;
    double macs = 0;
    for (int s = 0; s < d->n; s += batch) {
        int cnt = d->n - s < batch ? d->n - s : batch;
        for (int i = 0; i < cnt; i++) idx[i] = s + i;
        memset(done, 0, (size_t)nn);
        for (int e = 0; e < ex.n && cnt > 0; e++) {
            const unsigned char *seg = ex.seg + (size_t)e * nn;
            mn_graph_forward_nodes(g, e == 0 ? d->x + s * isz : NULL, cnt, 0, seg);
            for (int i = 0; i < nn; i++) done[i] |= seg[i];
            const float *z = g->nodes[ex.node[e]].y;
            int nk = 0;
            for (int i = 0; i < cnt; i++) {
                int pred;
                float p = top_prob(z + (int64_t)i * k, k, &pred);
                if (e == ex.n - 1 || p >= threshold) {
                    r->taken[e]++;
                    r->errors += pred != d->y[idx[i]];
                    macs += (double)ex.macs[e];
                } else {
                    idx[nk] = idx[i];
                    keep[nk++] = i;
                }
            }
            /* Pack the undecided samples' rows to the front of every buffer
             * computed so far; later segments read only those. */
            if (nk < cnt)
                for (int i = 0; i < nn; i++) {
                    if (!done[i]) continue;
                    int64_t q = mn_shape_numel(&g->nodes[i].out);
                    float *y = g->nodes[i].y;
                    for (int j = 0; j < nk; j++)
                        if (keep[j] != j) memmove(y + j * q, y + keep[j] * q, sizeof(float) * q);
                }
            cnt = nk;
        }
    }
    r->error = d->n ? (float)r->errors / d->n : 0;
    r->avg_macs = d->n ? macs / d->n : 0;
    free(idx); free(keep); free(done);
    mn_exits_free(&ex);
    return MN_OK;
}

mn_status mn_exits_answer(mn_graph *g, const float *x, int n, float threshold, float *out, int *taken) {
    mn_exits ex;
    mn_status st = mn_graph_reserve(g, n);
    if (st || (st = mn_exits_init(&ex, g))) return st;
    mn_graph_forward(g, x, n, 0);
    int k = ex.nclass;
    for (int i = 0; i < n; i++) {
        int e = 0, pred;
        while (e < ex.n - 1 && top_prob(g->nodes[ex.node[e]].y + (int64_t)i * k, k, &pred) < threshold) e++;
        memcpy(out + (int64_t)i * k, g->nodes[ex.node[e]].y + (int64_t)i * k, sizeof(float) * (size_t)k);
        if (taken) taken[i] = e;
    }
    mn_exits_free(&ex);
    return MN_OK;
}

mn_status mn_exits_probe_run(mn_graph *g, const mn_dataset *d, int batch, mn_exits_probe *p) {
    mn_status st;
    mn_exits ex;
    memset(p, 0, sizeof *p);
    if ((st = mn_check_data(g, d))) return st;
    if (batch <= 0) batch = 250;
    if ((st = mn_graph_reserve(g, batch))) return st;
    if ((st = mn_exits_init(&ex, g))) return st;
    p->n = d->n;
    p->nexits = ex.n;
    memcpy(p->macs, ex.macs, sizeof p->macs);
    p->conf = malloc(sizeof(float) * ((size_t)d->n * ex.n + 1));
    p->right = malloc((size_t)d->n * ex.n + 1);
    if (!p->conf || !p->right) {
        mn_exits_probe_free(p); mn_exits_free(&ex);
        return mn_error(MN_ENOMEM, "out of memory");
    }
    int64_t isz = (int64_t)d->c * d->h * d->w;
    for (int s = 0; s < d->n; s += batch) {
        int b = d->n - s < batch ? d->n - s : batch;
        mn_graph_forward(g, d->x + s * isz, b, 0);
        for (int e = 0; e < ex.n; e++) {
            const float *z = g->nodes[ex.node[e]].y;
            for (int i = 0; i < b; i++) {
                int pred;
                size_t at = (size_t)(s + i) * ex.n + e;
                p->conf[at] = top_prob(z + (int64_t)i * ex.nclass, ex.nclass, &pred);
                p->right[at] = pred == d->y[s + i];
            }
        }
    }
    mn_exits_free(&ex);
    return MN_OK;
}

void mn_exits_at(const mn_exits_probe *p, float threshold, mn_exit_result *r) {
    memset(r, 0, sizeof *r);
    r->n = p->n;
    r->nexits = p->nexits;
    r->full_macs = p->nexits ? p->macs[p->nexits - 1] : 0;
    double macs = 0;
    for (int i = 0; i < p->n; i++) {
        const float *c = p->conf + (size_t)i * p->nexits;
        const unsigned char *ok = p->right + (size_t)i * p->nexits;
        for (int e = 0; e < p->nexits; e++) r->exit_errors[e] += !ok[e];
        for (int e = 0; e < p->nexits; e++)
            if (e == p->nexits - 1 || c[e] >= threshold) {
                r->taken[e]++;
                r->errors += !ok[e];
                macs += (double)p->macs[e];
                break;
            }
    }
    r->error = p->n ? (float)r->errors / p->n : 0;
    r->avg_macs = p->n ? macs / p->n : 0;
}

void mn_exits_probe_free(mn_exits_probe *p) {
    free(p->conf);
    free(p->right);
    memset(p, 0, sizeof *p);
}
