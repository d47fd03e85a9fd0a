/* The lottery ticket procedure (Frankle & Carbin 2019): train, prune a share
 * of each layer's remaining weights (the output layer at half the rate),
 * rewind the survivors to their initial values (or to those after K steps,
 * Frankle et al. 2020), retrain; repeat.  The controls re-initialise the
 * same sparse structure at random (scratch), or rewind a random mask of the
 * same per-layer sparsity (random).  With a hold-out, every training is
 * early-stopped as in the paper: it keeps the weights of the epoch with the
 * lowest loss on the last `holdout` training samples, which it never trains
 * on, so the val split is only reported on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/dist.h"
#include "minnow/prune.h"

typedef struct lt_state {
    mn_train_cfg user;
    int64_t k;          /* capture after k steps (0: never) */
    float *wk;          /* captured weights */
    const mn_graph *g;
    int captured;
    /* early stopping on the hold-out */
    float *wbest;       /* weights of the best epoch so far (NULL: no hold-out) */
    float *wlast;       /* hold-out: the weights training ended with, as |w| */
    float best_loss, best_err;
    int best_epoch;
} lt_state;

static void lt_progress(void *ud, const mn_progress *p) {
    lt_state *s = ud;
    if (s->user.on_progress) s->user.on_progress(s->user.ud, p);
}
static void lt_epoch(void *ud, const mn_epoch_stats *e) {
    lt_state *s = ud;
    if (s->user.on_epoch) s->user.on_epoch(s->user.ud, e);
    /* Strictly lower only: on a tie the earlier epoch stays, as an
     * "iteration of minimum loss" would. */
    if (s->wbest && e->val_loss >= 0 && e->val_loss < s->best_loss) {
        s->best_loss = e->val_loss;
        s->best_err = e->val_error;
        s->best_epoch = e->epoch;
        memcpy(s->wbest, s->g->w, sizeof(float) * (size_t)s->g->nw);
    }
}
static void lt_step(void *ud, mn_graph *g, int64_t step) {
    lt_state *s = ud;
    if (s->user.on_step) s->user.on_step(s->user.ud, g, step);
    if (s->k > 0 && step + 1 == s->k) {
        memcpy(s->wk, g->w, sizeof(float) * (size_t)g->nw);
        s->captured = 1;
    }
}

/* Trains on tr (evaluating hold, if any, after each epoch and ending at its
 * best epoch), then measures the error on va.  *epoch and *herr: the epoch
 * kept and its held-out error (-1 without a hold-out). */
static mn_status train_once(mn_graph *g, const mn_dataset *tr, const mn_dataset *hold,
                            const mn_dataset *va, lt_state *s, float *err, int *epoch, float *herr) {
    mn_train_cfg tc = s->user;
    tc.on_step = lt_step;
    tc.on_progress = lt_progress;
    tc.on_epoch = lt_epoch;
    tc.ud = s;
    s->best_loss = INFINITY;
    s->best_err = -1;
    s->best_epoch = 0;
    mn_optim_reset(g, &tc.opt);
    /* Without a hold-out the per-epoch evaluation is on val, for progress
     * only: nothing is chosen by it. */
    mn_status st = mn_train(g, tr, hold ? hold : va, &tc);
    if (st) return st;
    *epoch = tc.epochs;
    *herr = -1;
    if (hold && s->best_epoch > 0) {
        /* The paper prunes the weights at the end of training and reports
         * the network at the early-stopping iteration: keep both. */
        for (int64_t i = 0; i < g->nw; i++) s->wlast[i] = fabsf(g->w[i]);
        memcpy(g->w, s->wbest, sizeof(float) * (size_t)g->nw);
        *epoch = s->best_epoch;
        *herr = s->best_err;
    }
    mn_eval_result r;
    if ((st = mn_eval(g, va, 250, &r))) return st;
    *err = r.error;
    return MN_OK;
}

/* The random control: masks of the ticket's per-layer sparsity at random
 * positions (seeded), rewound to the ticket's rewind point, trained like
 * it; the ticket (weights, masks, end-of-training magnitudes) is put back. */
static mn_status random_control(mn_graph *g, const mn_dataset *fit, const mn_dataset *hp, const mn_dataset *val,
                                lt_state *s, const mn_lottery_cfg *c, const float *save, const float *rewind,
                                mn_lottery_round *r) {
    size_t bytes = sizeof(float) * (size_t)g->nw;
    float **masks = calloc((size_t)g->nparams + 1, sizeof *masks), *wl = NULL;
    mn_status st = masks ? MN_OK : mn_error(MN_ENOMEM, "out of memory");
    for (int p = 0; p < g->nparams && !st; p++) {
        if (!g->params[p].mask) continue;
        if (!(masks[p] = malloc(sizeof(float) * (size_t)g->params[p].n))) st = mn_error(MN_ENOMEM, "out of memory");
        else memcpy(masks[p], g->params[p].mask, sizeof(float) * (size_t)g->params[p].n);
    }
    if (!st && hp && s->best_epoch > 0 && !(wl = malloc(bytes))) st = mn_error(MN_ENOMEM, "out of memory");
    if (wl) memcpy(wl, s->wlast, bytes);
    int ticket_best = s->best_epoch;
    if (!st) st = mn_prune_shuffle_masks(g, rewind, c->control_seed + (uint64_t)(r->rounds - r->round));
    if (!st) st = train_once(g, fit, hp, val, s, &r->control_error, &r->control_epoch, &r->control_holdout);
    for (int p = 0; p < g->nparams && masks; p++)
        if (masks[p]) memcpy(g->params[p].mask, masks[p], sizeof(float) * (size_t)g->params[p].n);
    memcpy(g->w, save, bytes);
    if (wl) memcpy(s->wlast, wl, bytes);
    s->best_epoch = ticket_best;
    for (int p = 0; p < g->nparams && masks; p++) free(masks[p]);
    free(masks);
    free(wl);
    return st;
}

/* The control of one round: the ticket's mask with fresh values from the
 * same init distribution (another seed), trained like the ticket; the
 * ticket (its weights and, with a hold-out, its end-of-training magnitudes
 * that the next round prunes by) is put back after. */
static mn_status control(mn_graph *g, const mn_dataset *fit, const mn_dataset *hp, const mn_dataset *val,
                         lt_state *s, const mn_lottery_cfg *c, float *save, const float *rewind, mn_lottery_round *r) {
    size_t bytes = sizeof(float) * (size_t)g->nw;
    memcpy(save, g->w, bytes);
    if (c->control == MN_CONTROL_RANDOM) return random_control(g, fit, hp, val, s, c, save, rewind, r);
    float *wl = NULL;
    if (hp && s->best_epoch > 0 && !(wl = malloc(bytes))) return mn_error(MN_ENOMEM, "out of memory");
    if (wl) memcpy(wl, s->wlast, bytes);
    int ticket_best = s->best_epoch;
    mn_rng rng;
    mn_rng_seed(&rng, c->control_seed + (uint64_t)(r->rounds - r->round)); /* the last: control_seed */
    mn_graph_init_params(g, &rng);
    mn_graph_apply_masks(g);
    mn_status st = train_once(g, fit, hp, val, s, &r->control_error, &r->control_epoch, &r->control_holdout);
    memcpy(g->w, save, bytes);
    if (wl) memcpy(s->wlast, wl, bytes);
    s->best_epoch = ticket_best;
    free(wl);
    return st;
}

/* Under MPI with a control after every round (the curves), the controls
 * do not wait for each other: the ticket rounds run first, data-parallel
 * over all ranks (each round needs the last), keeping each round's masks;
 * the controls are then mn_dist_sweep jobs, one per round, each trained
 * alone on one rank, and the rounds are reported in order at the end. */
typedef struct ctl_sweep {
    mn_graph *g;
    const mn_dataset *fit, *hp, *val;
    lt_state *s;
    const mn_lottery_cfg *c;
    float *save;
    const float *rewind;
    float **masks;      /* masks[round - 1][param] (NULL where no mask) */
} ctl_sweep;

static void set_masks(mn_graph *g, float *const *m) {
    for (int p = 0; p < g->nparams; p++)
        if (m[p] && g->params[p].mask) memcpy(g->params[p].mask, m[p], sizeof(float) * (size_t)g->params[p].n);
}

static mn_status ctl_job(void *ud, int j, double *row) {
    ctl_sweep *x = ud;
    mn_graph *g = x->g;
    float **now = x->masks + (size_t)x->c->rounds * g->nparams; /* the last round's, kept after */
    set_masks(g, x->masks + (size_t)j * g->nparams);
    mn_lottery_round r = {j + 1, x->c->rounds, 0, 0, 0, -1, -1, -1, 0};
    mn_status st = control(g, x->fit, x->hp, x->val, x->s, x->c, x->save, x->rewind, &r);
    set_masks(g, now);
    row[0] = r.control_error;
    row[1] = r.control_holdout;
    row[2] = r.control_epoch;
    return st;
}

/* A copy of every mask of g into m[0 .. nparams). */
static mn_status keep_masks(const mn_graph *g, float **m) {
    for (int p = 0; p < g->nparams; p++) {
        if (!g->params[p].mask) continue;
        if (!(m[p] = malloc(sizeof(float) * (size_t)g->params[p].n))) return mn_error(MN_ENOMEM, "out of memory");
        memcpy(m[p], g->params[p].mask, sizeof(float) * (size_t)g->params[p].n);
    }
    return MN_OK;
}

static float density(const mn_graph *g) {
    int64_t n = 0, nz = 0;
    for (int p = 0; p < g->nparams; p++)
        if (mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) { n += g->params[p].n; nz += mn_param_nonzeros(g, p); }
    return n ? (float)nz / n : 1;
}

/* w = src, masked. */
static void rewind_to(mn_graph *g, const float *src) {
    memcpy(g->w, src, sizeof(float) * (size_t)g->nw);
    mn_graph_apply_masks(g);
}

mn_status mn_prune_lottery(mn_graph *g, const mn_dataset *train,
                           const mn_dataset *val, const mn_lottery_cfg *c,
                           mn_lottery_result *res) {
    if (!val) return mn_error(MN_EARG, "the lottery procedure needs a validation set");
    if (c->rounds < 1) return mn_error(MN_EARG, "rounds must be >= 1");
    if (!(c->sparsity >= 0 && c->sparsity < 1)) return mn_error(MN_EARG, "sparsity %g is outside [0, 1)", c->sparsity);
    if (c->rewind_iter < 0) return mn_error(MN_EARG, "rewind iteration must be >= 0");
    if (c->train.batch < 1 || c->train.epochs < 1) return mn_error(MN_EARG, "the lottery procedure needs training epochs");
    if (c->holdout < 0 || (c->holdout > 0 && c->holdout >= train->n))
        return mn_error(MN_EARG, "a hold-out of %d samples leaves nothing to train on (the training set has %d)",
                        c->holdout, train->n);
    /* Views, not copies: the first n - holdout samples train, the rest
     * choose the early-stopping epoch. */
    mn_dataset fit = *train, hold = *train;
    int64_t isz = (int64_t)train->c * train->h * train->w;
    fit.n = train->n - c->holdout;
    hold.n = c->holdout;
    hold.x = train->x + (int64_t)fit.n * isz;
    hold.y = train->y + fit.n;
    const mn_dataset *hp = c->holdout > 0 ? &hold : NULL;
    int64_t total = (int64_t)c->train.epochs * ((fit.n + c->train.batch - 1) / c->train.batch);
    if (c->rewind_iter > total)
        return mn_error(MN_EARG, "rewind iteration %lld is past the end of training (%lld steps)",
                        (long long)c->rewind_iter, (long long)total);
    mn_status st = MN_OK;
    float **rounds_kept = NULL;
    mn_lottery_round *rlog = NULL;
    size_t bytes = sizeof(float) * (size_t)g->nw;
    float *w0 = malloc(bytes), *wk = malloc(bytes), *t = malloc(sizeof(float) * (size_t)(g->nparams + 1));
    float *wb = hp ? malloc(bytes) : NULL, *wl = hp ? malloc(bytes) : NULL, *cw = c->control ? malloc(bytes) : NULL;
    if (!w0 || !wk || !t || (hp && (!wb || !wl)) || (c->control && !cw)) {
        st = mn_error(MN_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(w0, g->w, bytes);
    lt_state s = {c->train, c->rewind_iter, wk, g, 0, wb, wl, INFINITY, -1, 0};
    memset(res, 0, sizeof *res);
    res->control_error = res->control_holdout = -1;
    if ((st = train_once(g, &fit, hp, val, &s, &res->dense_error, &res->dense_epoch, &res->dense_holdout))) goto out;
    s.k = 0; /* capture during the first training only */
    const float *rewind = c->rewind_iter > 0 ? wk : w0;
    if (c->on_round) {
        mn_lottery_round r = {0, c->rounds, density(g), res->dense_error, res->dense_epoch, res->dense_holdout, -1, -1, 0};
        c->on_round(c->ud, &r);
    }
    float err = res->dense_error, herr = res->dense_holdout;
    int ep = res->dense_epoch;
    int defer = c->control && c->control_all && mn_dist_size() > 1;
    if (defer) {
        /* rounds + 1 sets of masks: each round's, and the last one again */
        rounds_kept = calloc((size_t)(c->rounds + 1) * g->nparams + 1, sizeof(float *));
        rlog = calloc((size_t)c->rounds, sizeof *rlog);
        if (!rounds_kept || !rlog) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    }
    for (int round = 1; round <= c->rounds; round++) {
        /* Cumulative pruned fraction after `round` rounds of rate ph (hidden
         * layers) and ph / 2 (output layer).  Pruning is by the magnitude
         * of the weights at the end of training (also with early stopping:
         * wl holds them, g the early-stopped ones). */
        double ph = 1 - pow(1 - c->sparsity, 1.0 / c->rounds);
        for (int p = 0; p < g->nparams; p++) {
            if (!mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) { t[p] = -1; continue; }
            double rate = mn_prune_is_output_layer(g, p) ? ph / 2 : ph;
            t[p] = (float)(1 - pow(1 - rate, round));
        }
        if ((st = mn_prune_by_score(g, t, MN_SCOPE_LAYER, 0, hp && s.best_epoch > 0 ? wl : NULL))) goto out;
        rewind_to(g, rewind);
        if ((st = train_once(g, &fit, hp, val, &s, &err, &ep, &herr))) goto out;
        mn_lottery_round r = {round, c->rounds, density(g), err, ep, herr, -1, -1, 0};
        if (defer) {
            if ((st = keep_masks(g, rounds_kept + (size_t)(round - 1) * g->nparams))) goto out;
            rlog[round - 1] = r;
            continue;
        }
        if (c->control && (c->control_all || round == c->rounds)) {
            if ((st = control(g, &fit, hp, val, &s, c, cw, rewind, &r))) goto out;
            res->control_error = r.control_error;
            res->control_holdout = r.control_holdout;
            res->control_epoch = r.control_epoch;
        }
        if (c->on_round) c->on_round(c->ud, &r);
    }
    if (defer) {
        if ((st = keep_masks(g, rounds_kept + (size_t)c->rounds * g->nparams))) goto out;
        ctl_sweep x = {g, &fit, hp, val, &s, c, cw, rewind, rounds_kept};
        double *table = malloc(sizeof(double) * 3 * (size_t)c->rounds);
        if (!table) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
        st = mn_dist_sweep(c->rounds, 3, table, ctl_job, &x);
        for (int i = 0; !st && i < c->rounds; i++) {
            rlog[i].control_error = (float)table[3 * i];
            rlog[i].control_holdout = (float)table[3 * i + 1];
            rlog[i].control_epoch = (int)table[3 * i + 2];
            if (c->on_round) c->on_round(c->ud, &rlog[i]);
        }
        if (!st) {
            res->control_error = rlog[c->rounds - 1].control_error;
            res->control_holdout = rlog[c->rounds - 1].control_holdout;
            res->control_epoch = rlog[c->rounds - 1].control_epoch;
        }
        free(table);
        if (st) goto out;
    }
    res->ticket_error = err;
    res->ticket_holdout = herr;
    res->ticket_epoch = ep;
    res->density = density(g);
out:
    if (rounds_kept)
        for (size_t i = 0; i < (size_t)(c->rounds + 1) * g->nparams; i++) free(rounds_kept[i]);
    free(rounds_kept);
    free(rlog);
    free(cw);
    free(w0);
    free(wk);
    free(wb);
    free(wl);
    free(t);
    return st;
}
