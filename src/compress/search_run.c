/* The greedy search of minnow/search.h: one notch at a time, on the layer
 * where it costs least error per unit of cost saved. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "minnow/search.h"
#include "minnow/train.h"

static const float SPARSITY[] = {0, .3f, .5f, .6f, .7f, .8f, .85f, .9f, .93f, .95f, .97f, .98f, .99f};
static const float UNITS[] = {0, .125f, .25f, .375f, .5f, .625f, .75f};
static const int BITS[] = {8, 6, 5, 4, 3, 2};
#define N(a) ((int)(sizeof a / sizeof a[0]))

typedef struct ctx {
    const mn_graph *g;
    const mn_dataset *calib, *val;
    const mn_search_cfg *c;
    mn_search_result *r;
} ctx;

/* Cost (and, when asked, error) of policy q, from the cache or measured. */
static mn_status estimate(ctx *x, const mn_search_policy *q, int need_err, double *cost, float *err) {
    const mn_search_cfg *c = x->c;
    char key[MN_SEARCH_KEY_MAX];
    mn_search_key(q, c->dims, key, sizeof key);
    if (c->cache_get && c->cache_get(c->ud, key, cost, err) && (*err >= 0 || !need_err)) return MN_OK;
    if (c->max_evals && x->r->evals >= c->max_evals)
        return mn_error(MN_EARG, "search: stopped at the limit of %d estimates", c->max_evals);
    mn_graph h;
    mn_status st = mn_graph_clone(x->g, &h);
    if (!st) st = mn_search_apply(&h, q, c->dims, c->probe, x->calib, NULL);
    if (!st) st = c->cost(c->ud, &h, cost);
    *err = -1;
    if (!st && need_err) {
        mn_eval_result e;
        if (!(st = mn_eval(&h, x->val, 250, &e))) *err = e.error;
    }
    mn_graph_free(&h);
    if (st) return st;
    if (!isfinite(*cost) || *cost < 0) return mn_error(MN_EARG, "search: the cost of '%s' is %g", key, *cost);
    x->r->evals++;
    if (c->cache_put) c->cache_put(c->ud, key, *cost, *err);
    if (c->on_eval) c->on_eval(c->ud, x->r->evals, key, *cost, *err);
    return MN_OK;
}

static int eligible(const mn_search_policy *p, unsigned dim, int l) {
    return dim != MN_SEARCH_UNITS || p->units_ok[l];
}

/* Moves layer l (every layer when l < 0) one notch along dim; 0 when a
 * layer is at its last notch. */
static int advance(mn_search_policy *q, unsigned dim, int l) {
    int moved = 0;
    for (int k = l < 0 ? 0 : l; k < (l < 0 ? q->nlayers : l + 1); k++) {
        if (!eligible(q, dim, k)) continue;
        int i;
        if (dim == MN_SEARCH_PRUNE) {
            for (i = 0; i < N(SPARSITY) && SPARSITY[i] <= q->sparsity[k] + 1e-6f; i++) {}
            if (i == N(SPARSITY)) return 0;
            q->sparsity[k] = SPARSITY[i];
        } else if (dim == MN_SEARCH_UNITS) {
            for (i = 0; i < N(UNITS) && UNITS[i] <= q->units[k] + 1e-6f; i++) {}
            if (i == N(UNITS)) return 0;
            q->units[k] = UNITS[i];
        } else {
            for (i = 0; i < N(BITS) && BITS[i] >= q->bits[k]; i++) {}
            if (i == N(BITS)) return 0;
            q->bits[k] = BITS[i];
        }
        moved = 1;
    }
    return moved;
}

static void set_cont(mn_search_policy *q, const mn_search_policy *from, unsigned dim, int l, float t) {
    for (int k = l < 0 ? 0 : l; k < (l < 0 ? q->nlayers : l + 1); k++) {
        if (!eligible(q, dim, k)) continue;
        float *v = dim == MN_SEARCH_PRUNE ? q->sparsity : q->units;
        const float *a = dim == MN_SEARCH_PRUNE ? from->sparsity : from->units;
        v[k] = roundf(1e4f * (a[k] + t * (v[k] - a[k]))) / 1e4f;
    }
}

/* The last notch of a continuous setting went past the budget: bisect
 * between p (over) and q (within) so the cost lands just under it. */
static mn_status bisect(ctx *x, const mn_search_policy *p, unsigned dim, int l, mn_search_policy *q, double *cost) {
    mn_search_policy hi = *q;
    double lo_t = 0, hi_t = 1;
    for (int it = 0; it < 7; it++) {
        double t = 0.5 * (lo_t + hi_t), c;
        float e;
        mn_search_policy m = hi;
        set_cont(&m, p, dim, l, (float)t);
        mn_status st = estimate(x, &m, 0, &c, &e);
        if (st) return st;
        if (c <= x->c->budget) {
            hi_t = t;
            *q = m;
            *cost = c;
        } else {
            lo_t = t;
        }
    }
    return MN_OK;
}

static const unsigned DIMS[] = {MN_SEARCH_UNITS, MN_SEARCH_PRUNE, MN_SEARCH_KMEANS, MN_SEARCH_AFFINE};

mn_status mn_search_run(const mn_graph *g, const mn_dataset *calib, const mn_dataset *val,
                        const mn_search_cfg *c, mn_search_policy *p, mn_search_result *r) {
    memset(r, 0, sizeof *r);
    if (!c->cost) return mn_error(MN_EARG, "search: no cost function");
    if (c->probe && !calib) return mn_error(MN_EARG, "search: fine-tuned estimates need training data");
    if (!(c->budget > 0)) return mn_error(MN_EARG, "search: the budget must be positive");
    mn_status st = mn_check_data(g, val);
    if (!st && calib) st = mn_check_data(g, calib);
    if (st) return st;
    ctx x = {g, calib, val, c, r};
    double cost;
    float err;
    if ((st = estimate(&x, p, 1, &cost, &err))) return st;
    r->cost0 = cost;
    r->err0 = err;
    char why[256] = "";
    while (cost > c->budget) {
        mn_search_policy best;
        double bc = 0, bscore = INFINITY, bsaved = 0;
        float be = 0;
        unsigned bdim = 0;
        int bl = 0;
        for (int d = 0; d < 4; d++) {
            if (!(c->dims & DIMS[d])) continue;
            for (int l = c->uniform ? -1 : 0; l < (c->uniform ? 0 : p->nlayers); l++) {
                mn_search_policy q = *p;
                double cq = cost;
                float eq;
                /* Sparse storage pays only past some sparsity (its indices
                 * cost bytes): sparsity jumps notches until it saves. */
                int moved = 0;
                while (advance(&q, DIMS[d], l)) {
                    moved = 1;
                    if ((st = estimate(&x, &q, 0, &cq, &eq)) || cq < cost || DIMS[d] != MN_SEARCH_PRUNE) break;
                }
                if (moved && !st && cq < cost) st = estimate(&x, &q, 1, &cq, &eq);
                if (st) {
                    /* a candidate the passes refuse is skipped; the limit is not */
                    if (c->max_evals && r->evals >= c->max_evals) return st;
                    snprintf(why, sizeof why, "%s", mn_errmsg());
                    continue;
                }
                double saved = cost - cq;
                if (!moved || saved <= 0) continue;
                double score = fmax(eq - err, 0) / saved;
                if (score < bscore || (score == bscore && saved > bsaved)) {
                    best = q, bc = cq, be = eq, bscore = score, bsaved = saved, bdim = DIMS[d], bl = l;
                }
            }
        }
        if (!bdim)
            return mn_error(MN_EARG, "search: the budget %g cannot be met in this space: the smallest policy found costs %g%s%s%s",
                            c->budget, cost, why[0] ? " (a candidate failed: " : "", why, why[0] ? ")" : "");
        if (bc <= c->budget && (bdim == MN_SEARCH_PRUNE || bdim == MN_SEARCH_UNITS)) {
            if ((st = bisect(&x, p, bdim, bl, &best, &bc))) return st;
            double c2;
            if ((st = estimate(&x, &best, 1, &c2, &be))) return st;
        }
        *p = best;
        cost = bc;
        err = be;
        r->steps++;
        if (c->on_step) c->on_step(c->ud, r->steps, p, cost, err);
    }
    r->cost = cost;
    r->err = err;
    return MN_OK;
}
