/* The greedy search of minnow/search.h: one notch at a time, on the layer
 * where it costs least error per unit of cost saved. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "minnow/dist.h"
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

/* An estimate another rank made, into this rank's cache (the state file of
 * a resumable search is rank 0's). */
static void cache_from(ctx *x, const mn_search_policy *q, double cost, float err) {
    if (!x->c->cache_put) return;
    char key[MN_SEARCH_KEY_MAX];
    mn_search_key(q, x->c->dims, key, sizeof key);
    x->c->cache_put(x->c->ud, key, cost, err);
}

/* estimate() outside the candidate sweeps (the start, bisection, the final
 * check): run by rank 0 alone under MPI and shared, so that every rank
 * takes the same value (a latency differs between ranks; a rank's cache
 * may hold what another's lacks). */
typedef struct one_est { ctx *x; const mn_search_policy *q; int need_err; } one_est;

static mn_status one_job(void *ud, int j, double *row) {
    (void)j;
    one_est *o = ud;
    int ev0 = o->x->r->evals;
    float e;
    mn_status st = estimate(o->x, o->q, o->need_err, &row[0], &e);
    row[1] = e;
    row[2] = o->x->r->evals - ev0;
    return st;
}

static mn_status estimate_shared(ctx *x, const mn_search_policy *q, int need_err, double *cost, float *err) {
    if (mn_dist_size() == 1) return estimate(x, q, need_err, cost, err);
    one_est o = {x, q, need_err};
    double row[3];
    int ev0 = x->r->evals;
    mn_status st = mn_dist_sweep(1, 3, row, one_job, &o);
    if (st) return st;
    *cost = row[0];
    *err = (float)row[1];
    x->r->evals = ev0 + (int)row[2];
    if (mn_dist_rank() != 0) cache_from(x, q, *cost, *err);
    return MN_OK;
}

static int eligible(const mn_search_policy *p, unsigned dim, int l) {
    return dim != MN_SEARCH_UNITS || p->units_ok[l];
}

/* Moves layer l (every layer when l < 0) one notch along dim; 0, with q
 * unchanged, when a layer is at its last notch (so that a candidate can be
 * replayed from its count of notches). */
static int advance_all(mn_search_policy *q, unsigned dim, int l);
static int advance(mn_search_policy *q, unsigned dim, int l) {
    mn_search_policy t = *q;
    if (!advance_all(&t, dim, l)) return 0;
    *q = t;
    return 1;
}
static int advance_all(mn_search_policy *q, unsigned dim, int l) {
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
        mn_status st = estimate_shared(x, &m, 0, &c, &e);
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

/* One greedy step's candidates (a notch of one dimension on one layer, or
 * on every layer with --uniform), run as mn_dist_sweep jobs: under MPI each
 * rank estimates its share and all ranks then choose from the same table. */
#define MAX_CANDS (4 * (MN_SEARCH_MAX_LAYERS + 1))
enum { C_MOVED, C_FAILED, C_COST, C_ERR, C_NADV, C_EVALS, C_WIDTH };
typedef struct cands {
    ctx *x;
    const mn_search_policy *p;
    double cost;
    int n;
    unsigned dim[MAX_CANDS];
    int layer[MAX_CANDS];
    char why[256];
} cands;

static mn_status cand_job(void *ud, int j, double *row) {
    cands *cs = ud;
    ctx *x = cs->x;
    unsigned dim = cs->dim[j];
    mn_search_policy q = *cs->p;
    double cq = cs->cost;
    float eq = -1;
    int moved = 0, nadv = 0, ev0 = x->r->evals;
    mn_status st = MN_OK;
    /* Sparse storage pays only past some sparsity (its indices cost
     * bytes): sparsity jumps notches until it saves. */
    while (advance(&q, dim, cs->layer[j])) {
        moved = 1;
        nadv++;
        if ((st = estimate(x, &q, 0, &cq, &eq)) || cq < cs->cost || dim != MN_SEARCH_PRUNE) break;
    }
    if (moved && !st && cq < cs->cost) st = estimate(x, &q, 1, &cq, &eq);
    if (st) {
        /* a candidate the passes refuse is skipped; the limit is not */
        if (x->c->max_evals && x->r->evals >= x->c->max_evals) return st;
        snprintf(cs->why, sizeof cs->why, "%s", mn_errmsg());
    }
    row[C_MOVED] = moved;
    row[C_FAILED] = st != MN_OK;
    row[C_COST] = cq;
    row[C_ERR] = eq;
    row[C_NADV] = nadv;
    row[C_EVALS] = x->r->evals - ev0;
    return MN_OK;
}

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
    if ((st = estimate_shared(&x, p, 1, &cost, &err))) return st;
    r->cost0 = cost;
    r->err0 = err;
    char why[256] = "";
    while (cost > c->budget) {
        mn_search_policy best;
        double bc = 0, bscore = INFINITY, bsaved = 0;
        float be = 0;
        unsigned bdim = 0;
        int bl = 0;
        cands cs = {&x, p, cost, 0, {0}, {0}, ""};
        for (int d = 0; d < 4; d++) {
            if (!(c->dims & DIMS[d])) continue;
            for (int l = c->uniform ? -1 : 0; l < (c->uniform ? 0 : p->nlayers) && cs.n < MAX_CANDS; l++)
                cs.dim[cs.n] = DIMS[d], cs.layer[cs.n++] = l;
        }
        double table[MAX_CANDS * C_WIDTH];
        int ev0 = r->evals;
        if ((st = mn_dist_sweep(cs.n, C_WIDTH, table, cand_job, &cs))) return st;
        r->evals = ev0;
        for (int j = 0; j < cs.n; j++) r->evals += (int)table[j * C_WIDTH + C_EVALS];
        if (cs.why[0]) snprintf(why, sizeof why, "%s", cs.why);
        for (int j = 0; j < cs.n; j++) {
            const double *row = table + j * C_WIDTH;
            if (row[C_FAILED]) {
                if (!why[0]) snprintf(why, sizeof why, "a candidate was refused on another rank");
                continue;
            }
            double cq = row[C_COST];
            float eq = (float)row[C_ERR];
            double saved = cost - cq;
            if (!row[C_MOVED] || saved <= 0) continue;
            /* The candidate's policy, replayed from its notch count. */
            mn_search_policy q = *p;
            for (int k = 0; k < (int)row[C_NADV]; k++) advance(&q, cs.dim[j], cs.layer[j]);
            if (j % mn_dist_size() != mn_dist_rank()) cache_from(&x, &q, cq, eq);
            double score = fmax(eq - err, 0) / saved;
            if (score < bscore || (score == bscore && saved > bsaved)) {
                best = q, bc = cq, be = eq, bscore = score, bsaved = saved, bdim = cs.dim[j], bl = cs.layer[j];
            }
        }
        if (!bdim)
            return mn_error(MN_EARG, "search: the budget %g cannot be met in this space: the smallest policy found costs %g%s%s%s",
                            c->budget, cost, why[0] ? " (a candidate failed: " : "", why, why[0] ? ")" : "");
        if (bc <= c->budget && (bdim == MN_SEARCH_PRUNE || bdim == MN_SEARCH_UNITS)) {
            if ((st = bisect(&x, p, bdim, bl, &best, &bc))) return st;
            double c2;
            if ((st = estimate_shared(&x, &best, 1, &c2, &be))) return st;
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
