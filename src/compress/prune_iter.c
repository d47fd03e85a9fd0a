/* Unstructured pruning schedules: iterative prune + fine-tune in steps
 * (Han et al. 2015) and the gradual polynomial schedule applied during
 * training (Zhu & Gupta 2017). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/prune.h"

void mn_prune_cfg_default(mn_prune_cfg *c) {
    memset(c, 0, sizeof *c);
    c->steps = 1;
    mn_train_default(&c->ft);
    c->ft.epochs = 0;
    c->dt = 100;
    c->end = 0.75f;
}

/* Pruned fraction over the targeted weights. */
static float pool_sparsity(const mn_graph *g, const float *t) {
    int64_t n = 0, z = 0;
    for (int p = 0; p < g->nparams; p++)
        if (t[p] >= 0) { n += g->params[p].n; z += g->params[p].n - mn_param_nonzeros(g, p); }
    return n ? (float)z / n : 0;
}

static float val_error(mn_graph *g, const mn_dataset *val, mn_status *st) {
    if (!val) return -1;
    mn_eval_result r;
    *st = mn_eval(g, val, 250, &r);
    return *st ? -1 : r.error;
}

/* Scores of the chosen criterion (NULL for magnitude); caller frees. */
static mn_status make_scores(mn_graph *g, const mn_dataset *train, const mn_prune_cfg *c, float **out) {
    *out = NULL;
    if (c->score == MN_SCORE_MAGNITUDE) return MN_OK;
    float *s = malloc(sizeof(float) * (size_t)g->nw);
    if (!s) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st;
    if (c->score == MN_SCORE_RANDOM) {
        /* One random ranking for every step (the same seed): iterative
         * random pruning removes the next-lowest of it each time. */
        mn_rng r;
        mn_rng_seed(&r, c->ft.seed ^ 0x52414e444f4dULL);
        for (int64_t i = 0; i < g->nw; i++) s[i] = mn_rng_uniform(&r);
        *out = s;
        return MN_OK;
    }
    if (c->score == MN_SCORE_OBD)
        st = mn_prune_obd_scores(g, train, c->score_samples > 0 ? c->score_samples : 500, c->ft.seed, s);
    else
        st = mn_prune_snip_scores(g, train, c->score_samples > 0 ? c->score_samples : 10, 100, c->ft.seed, s);
    if (st) { free(s); return st; }
    *out = s;
    return MN_OK;
}

mn_status mn_prune_iterative(mn_graph *g, const mn_dataset *train,
                             const mn_dataset *val, const mn_prune_cfg *c) {
    if (c->steps < 1) return mn_error(MN_EARG, "steps must be >= 1");
    if (!c->target) return mn_error(MN_EARG, "no pruning targets");
    float *t = malloc(sizeof(float) * (size_t)(g->nparams ? g->nparams : 1));
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    for (int step = 1; step <= c->steps && !st; step++) {
        /* Each step removes the same share of what is left, so that the
         * network loses little at once when it is already sparse. */
        double e = (double)step / c->steps;
        for (int p = 0; p < g->nparams; p++)
            t[p] = c->target[p] < 0 ? -1 : (c->scope == MN_SCOPE_GLOBAL ? 0 : (float)(1 - pow(1 - c->target[p], e)));
        float gl = (float)(1 - pow(1 - c->global, e));
        if (step == c->steps) { /* exactly the targets at the end */
            for (int p = 0; p < g->nparams; p++)
                if (c->target[p] >= 0 && c->scope == MN_SCOPE_LAYER) t[p] = c->target[p];
            gl = c->global;
        }
        float *scores;
        if ((st = make_scores(g, train, c, &scores))) break;
        st = mn_prune_by_score(g, t, c->scope, gl, scores);
        free(scores);
        if (st) break;
        mn_prune_stage s = {step, c->steps, pool_sparsity(g, t), val_error(g, val, &st), -1};
        if (st) break;
        if (c->ft.epochs > 0) {
            mn_train_cfg ft = c->ft;
            mn_optim_reset(g, &ft.opt);
            if ((st = mn_train(g, train, val, &ft))) break;
            s.val_error_ft = val_error(g, val, &st);
            if (st) break;
        }
        if (c->on_stage) c->on_stage(c->ud, &s);
    }
    free(t);
    return st;
}

float mn_prune_gradual_at(float s_i, float s_f, int64_t t0, int64_t dt, int n, int64_t t) {
    if (t < t0) return s_i;
    if (n <= 0 || dt <= 0 || t >= t0 + n * dt) return s_f;
    double r = 1 - (double)(t - t0) / ((double)n * dt);
    return (float)(s_f + (s_i - s_f) * r * r * r);
}

/* State of the on_step hook; the user's own hooks are chained through it. */
typedef struct gradual_state {
    const mn_prune_cfg *c;
    mn_train_cfg user;
    float *t;
    int64_t t0, dt;
    int n;
    mn_status st;
} gradual_state;

static void g_progress(void *ud, const mn_progress *p) {
    gradual_state *s = ud;
    if (s->user.on_progress) s->user.on_progress(s->user.ud, p);
}

static void g_epoch(void *ud, const mn_epoch_stats *e) {
    gradual_state *s = ud;
    if (s->user.on_epoch) s->user.on_epoch(s->user.ud, e);
}

static void g_step(void *ud, mn_graph *g, int64_t step) {
    gradual_state *s = ud;
    const mn_prune_cfg *c = s->c;
    if (s->user.on_step) s->user.on_step(s->user.ud, g, step);
    if (s->st || step < s->t0 || (step - s->t0) % s->dt || step > s->t0 + s->n * s->dt) return;
    float gl = 0;
    for (int p = 0; p < g->nparams; p++) {
        float f = c->scope == MN_SCOPE_GLOBAL ? c->global : c->target[p];
        float si = c->s_init < f ? c->s_init : f;
        float v = mn_prune_gradual_at(si, f, s->t0, s->dt, s->n, step);
        if (c->scope == MN_SCOPE_GLOBAL) gl = v;
        s->t[p] = c->target[p] < 0 ? -1 : (c->scope == MN_SCOPE_GLOBAL ? 0 : v);
    }
    if ((s->st = mn_prune_by_score(g, s->t, c->scope, gl, NULL))) return;
    if (c->on_stage) {
        int k = (int)((step - s->t0) / s->dt);
        mn_prune_stage st = {k + 1, s->n + 1, pool_sparsity(g, s->t), -1, -1};
        c->on_stage(c->ud, &st);
    }
}

mn_status mn_prune_gradual(mn_graph *g, const mn_dataset *train,
                           const mn_dataset *val, const mn_prune_cfg *c) {
    if (!c->target) return mn_error(MN_EARG, "no pruning targets");
    if (c->score != MN_SCORE_MAGNITUDE) return mn_error(MN_EUNSUPPORTED, "the gradual schedule prunes by magnitude only");
    if (c->dt < 1) return mn_error(MN_EARG, "mask update interval must be >= 1 step");
    if (!(c->begin >= 0 && c->begin <= c->end && c->end <= 1))
        return mn_error(MN_EARG, "gradual pruning needs 0 <= begin <= end <= 1");
    if (c->ft.epochs < 1 || c->ft.batch < 1) return mn_error(MN_EARG, "gradual pruning needs at least one training epoch");
    gradual_state s = {c, c->ft, NULL, 0, c->dt, 0, MN_OK};
    s.t = malloc(sizeof(float) * (size_t)(g->nparams ? g->nparams : 1));
    if (!s.t) return mn_error(MN_ENOMEM, "out of memory");
    int64_t total = (int64_t)c->ft.epochs * ((train->n + c->ft.batch - 1) / c->ft.batch);
    s.t0 = (int64_t)(c->begin * (double)total);
    s.n = (int)(((int64_t)(c->end * (double)total) - s.t0) / c->dt);
    mn_train_cfg tc = c->ft;
    tc.on_step = g_step;
    tc.on_progress = g_progress;
    tc.on_epoch = g_epoch;
    tc.ud = &s;
    mn_optim_reset(g, &tc.opt);
    mn_status st = mn_train(g, train, val, &tc);
    if (!st) st = s.st;
    free(s.t);
    return st;
}
