/* The training loop and evaluation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "store/store.h"
#include "minnow/train.h"
#include "minnow/dist.h"

void mn_train_default(mn_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 15;
    c->batch = 60;
    mn_optim_default(&c->opt, MN_OPT_ADAM);
    c->step_epochs = 5;
    c->gamma = 0.1f;
    c->seed = 1;
}

float mn_lr_at(const mn_train_cfg *c, int epoch, int step, int steps) {
    float lr = c->opt.lr;
    switch (c->sched) {
    case MN_SCHED_CONST: return lr;
    case MN_SCHED_STEP: return lr * powf(c->gamma, (float)(epoch / (c->step_epochs > 0 ? c->step_epochs : 1)));
    case MN_SCHED_COSINE: {
        double total = (double)c->epochs * steps, t = (double)epoch * steps + step;
        return (float)(0.5 * lr * (1 + cos(3.141592653589793 * t / total)));
    }
    }
    return lr;
}

mn_status mn_check_data(const mn_graph *g, const mn_dataset *d) {
    const mn_shape *in = mn_graph_input_shape(g), *out = mn_graph_output_shape(g);
    if (!in || !out) return mn_error(MN_EARG, "model is not finalized");
    int64_t want = mn_shape_numel(in), have = (int64_t)d->c * d->h * d->w;
    int ok = want == have && in->d[0] == d->c;
    /* Images must match H and W too (56x14 is not 28x28); flat data (CSV) of
     * the right size feeds any model. */
    if (ok && in->ndim == 3 && d->h > 1 && (in->d[1] != d->h || in->d[2] != d->w))
        return mn_error(MN_ESHAPE, "data samples are %dx%dx%d but the model takes %dx%dx%d (c x h x w)",
                        d->c, d->h, d->w, in->d[0], in->d[1], in->d[2]);
    if (!ok) return mn_error(MN_ESHAPE, "data samples are %dx%dx%d but the model takes %d values (%s)",
                             d->c, d->h, d->w, (int)want, in->ndim == 3 ? "c x h x w" : "features");
    int k = (int)mn_shape_numel(out);
    for (int i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= k)
            return mn_error(MN_EARG, "label %d of sample %d is out of range for a model with %d outputs", d->y[i], i, k);
    if (d->n <= 0) return mn_error(MN_EARG, "data set is empty");
    return MN_OK;
}

mn_status mn_set_input_norm(mn_graph *g, const mn_dataset *d) {
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        if (n->op != MN_OP_INPUT) continue;
        if (n->a.c != d->c) return mn_error(MN_ESHAPE, "data has %d channels, model input %d", d->c, n->a.c);
        float *mean = mn_param_data(g, n->p[0]), *sd = mn_param_data(g, n->p[1]);
        mn_data_stats(d, mean, sd);
        for (int c = 0; c < d->c; c++) if (!(sd[c] > 1e-6f)) sd[c] = 1;
        return MN_OK;
    }
    return mn_error(MN_EARG, "model has no input node");
}

/* Names the first node whose output holds a NaN or Inf. */
static const char *first_bad_layer(const mn_graph *g, int batch) {
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        int64_t cnt = batch * mn_shape_numel(&n->out);
        for (int64_t j = 0; j < cnt; j++)
            if (!isfinite(n->y[j])) return n->name;
    }
    for (int i = 0; i < g->nparams; i++) {
        const float *w = g->w + g->params[i].off;
        for (int64_t j = 0; j < g->params[i].n; j++)
            if (!isfinite(w[j])) return g->params[i].name;
    }
    return "loss";
}

/* The first parameter holding a NaN or Inf, or NULL.  Checked after every
 * update because a relu downstream maps NaN to 0, so a poisoned weight need
 * not show in the loss.  mn_all_finite is one pass of OR chains (an
 * unsigned max, an earlier form, was 17% of a LeNet-300 step; the
 * compiler's SSE2 version of the OR chain 5%). */
static const char *bad_param(const mn_graph *g) {
    if (mn_all_finite(g->w, g->nw)) return NULL;
    for (int i = 0; i < g->nparams; i++)
        for (int64_t j = 0; j < g->params[i].n; j++)
            if (!isfinite(g->w[g->params[i].off + j])) return g->params[i].name;
    return NULL;
}

static float default_loss(void *ud, mn_graph *g, const float *x, const int32_t *y,
                          int batch, const float *logits, float *dlogits) {
    (void)ud; (void)x;
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    return mn_xent_hard(logits, y, batch, k, 1.0f, dlogits);
}

static int count_correct(const float *logits, const int32_t *y, int batch, int k) {
    int ok = 0;
    for (int b = 0; b < batch; b++) {
        const float *z = logits + (int64_t)b * k;
        int best = 0;
        for (int i = 1; i < k; i++) if (z[i] > z[best]) best = i;
        ok += best == y[b];
    }
    return ok;
}

/* A classifier needs two classes: one label everywhere (say, a CSV's
 * constant column taken as the label) trains a model that is always
 * "right" and means nothing. */
static mn_status check_classes(const mn_dataset *d) {
    for (int i = 1; i < d->n; i++)
        if (d->y[i] != d->y[0]) return MN_OK;
    return mn_error(MN_EARG, "the training data has one class only (every label is %d): nothing to learn "
                    "(wrong label column?)", d->n ? d->y[0] : 0);
}

/* Divergence that stays finite: the loss, smoothed over about 20 steps,
 * far above where it started (e.g. --lr 1e9 reaches 5.8e30 with finite
 * weights).  The reference is the first step's loss, at least 1, so a
 * resumed run whose loss starts near 0 is not stopped by a normal bump. */
#define DIVERGE_FACTOR 100.0
#define DIVERGE_EMA 0.1

/* Rank r of R runs samples [slice_start(b, r, R), slice_start(b, r + 1, R))
 * of a batch of b: the first b % R ranks one more. */
static int slice_start(int b, int r, int R) {
    return r * (b / R) + (r < b % R ? r : b % R);
}

/* Before the first data-parallel step: every rank holds rank 0's weights,
 * moments and loop state (a resumed or freshly initialised model is the
 * same on all ranks when they read the same files, but a checkpoint seen by
 * rank 0 alone would otherwise run the ranks through different epochs), and
 * every step gives each rank a sample, since a rank with none would skip
 * the collectives of batch norm and of the loss hooks (distillation peers,
 * the hint regressor) and the random draws the others make. */
typedef struct loop_state { int ep0; int64_t gstep; mn_rng rng, graph_rng; int64_t t; } loop_state;

static mn_status dist_start(mn_graph *g, const mn_dataset *train, const mn_train_cfg *c, int ranks, loop_state *ls) {
    if (c->batch < ranks)
        return mn_error(MN_EARG, "a mini-batch of %d cannot be split over %d ranks (use --batch >= %d)", c->batch, ranks, ranks);
    int last = train->n % c->batch;
    if (last && last < ranks)
        return mn_error(MN_EARG, "the last mini-batch of each epoch has %d samples (%d %% %d), fewer than the %d ranks: "
                        "every rank needs a sample (choose another --batch)", last, train->n, c->batch, ranks);
    mn_status st;
    if ((st = mn_dist_bcast(ls, sizeof *ls, 0))) return st;
    if ((st = mn_dist_bcast_f32(g->w, g->nw, 0))) return st;
    if (g->m && (st = mn_dist_bcast_f32(g->m, g->nw, 0))) return st;
    if (g->v && (st = mn_dist_bcast_f32(g->v, g->nw, 0))) return st;
    return MN_OK;
}

mn_status mn_train(mn_graph *g, const mn_dataset *train, const mn_dataset *val,
                   const mn_train_cfg *c) {
    mn_status st;
    int rank = mn_dist_rank(), ranks = mn_dist_size();
    if (c->epochs < 0 || c->batch <= 0) return mn_error(MN_EARG, "epochs must be >= 0 and batch > 0");
    if ((st = mn_check_data(g, train))) return st;
    if (val && (st = mn_check_data(g, val))) return st;
    if ((st = check_classes(train))) return st;
    if ((st = mn_graph_reserve(g, c->batch))) return st;
    /* Training changes the weights, so compressed forms would go stale: the
     * pass that trains re-encodes afterwards. */
    mn_graph_drop_stores(g);
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    int64_t isz = (int64_t)train->c * train->h * train->w;
    int *perm = malloc(sizeof(int) * train->n);
    float *x = mn_alloc((size_t)c->batch * isz, sizeof(float));
    float *dl = mn_alloc((size_t)c->batch * k, sizeof(float));
    int32_t *y = malloc(sizeof(int32_t) * c->batch);
    if (!perm || !x || !dl || !y) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    mn_rng rng;
    mn_rng_seed(&rng, c->seed);
    mn_rng_seed(&g->rng, c->seed ^ 0x5eed5eedULL);
    mn_optim opt = c->opt;
    mn_loss_fn loss = c->loss ? c->loss : default_loss;
    int steps = (train->n + c->batch - 1) / c->batch;
    int64_t gstep = 0;
    double lref = -1, lema = 0;
    int ep0 = 0;
    if (c->resume) { /* the state saved after epoch ep0 (minnow/checkpoint.h) */
        if (c->resume->epoch < 0 || c->resume->epoch > c->epochs) {
            st = mn_error(MN_EARG, "cannot resume after epoch %d of a %d-epoch run", c->resume->epoch, c->epochs);
            goto out;
        }
        ep0 = c->resume->epoch;
        gstep = c->resume->step;
        rng = c->resume->rng;
        g->rng = c->resume->graph_rng;
        opt.t = c->resume->opt.t;
    }
    if (ranks > 1) {
        loop_state ls = {ep0, gstep, rng, g->rng, opt.t};
        if ((st = dist_start(g, train, c, ranks, &ls))) goto out;
        ep0 = ls.ep0, gstep = ls.gstep, rng = ls.rng, g->rng = ls.graph_rng, opt.t = ls.t;
    }
    for (int ep = ep0; ep < c->epochs; ep++) {
        double t0 = mn_now(), lsum = 0;
        int correct = 0, seen = 0;
        mn_data_shuffle(perm, train->n, &rng);
        for (int s = 0; s < steps; s++) {
            int b = train->n - s * c->batch < c->batch ? train->n - s * c->batch : c->batch;
            /* Every rank gathers and augments the whole global batch (the
             * same draws as one process) and runs its slice of it. */
            mn_data_gather(train, perm + s * c->batch, b, x, y);
            if (c->augment_shift > 0) mn_data_augment_shift(x, b, train->c, train->h, train->w, c->augment_shift, &rng);
            int off = 0, nb = b;
            if (ranks > 1) {
                off = slice_start(b, rank, ranks);
                nb = slice_start(b, rank + 1, ranks) - off;
                g->dist_off = off;
                g->dist_batch = b;
            }
            /* nb >= 1 on every rank (dist_start).  Gradients are zeroed
             * before the loss: a loss may add some of its own (slimmable
             * training adds the narrower widths'). */
            mn_graph_zero_grad(g);
            const float *z = mn_graph_forward(g, x + off * isz, nb, 1);
            float l = loss(c->loss_ud, g, x + off * isz, y + off, nb, z, dl);
            int ok = count_correct(z, y + off, nb, k);
            const char *badl = isfinite(l) ? NULL : first_bad_layer(g, nb);
            if (ranks > 1) { /* the global mean loss and count; one decision on every rank */
                double r3[3] = {(double)l * nb, ok, badl != NULL};
                if ((st = mn_dist_sum_f64(r3, 3))) goto out;
                l = r3[2] > 0 ? NAN : (float)(r3[0] / b);
                ok = (int)r3[1];
            }
            if (!isfinite(l)) {
                /* The message of the lowest rank that saw it. */
                st = badl ? mn_error(MN_ENAN, "training diverged at epoch %d step %d: loss %g, non-finite values first in '%s'%s (learning rate too high? try a lower --lr)",
                                     ep + 1, s, (double)l, badl, ranks > 1 ? " on this rank's samples" : "")
                          : MN_OK;
                if (ranks > 1) st = mn_dist_agree(st);
                if (!st) st = mn_error(MN_ENAN, "training diverged at epoch %d step %d", ep + 1, s);
                goto out;
            }
            if (lref < 0) lref = l > 1 ? l : 1, lema = l;
            lema += DIVERGE_EMA * (l - lema);
            if (lema > DIVERGE_FACTOR * lref) {
                st = mn_error(MN_ENAN, "training diverged at epoch %d step %d: loss %.3g, over %gx its start "
                              "%.3g (learning rate too high? try a lower --lr)",
                              ep + 1, s, (double)l, DIVERGE_FACTOR, lref);
                goto out;
            }
            correct += ok;
            mn_graph_backward(g, dl, nb);
            /* One all-reduce of the whole gradient arena per step: each
             * rank's share is already weighted (graph.c), so the sum is the
             * global batch's gradient, the same on every rank. */
            if (ranks > 1 && (st = mn_dist_sum_f32(g->gw, g->nw))) goto out;
            mn_optim_step(g, &opt, mn_lr_at(c, ep, s, steps));
            if (c->on_step) c->on_step(c->ud, g, gstep);
            const char *bad = bad_param(g);
            if (bad) {
                st = mn_error(MN_ENAN, "training diverged at epoch %d step %d: parameter '%s' became non-finite (try a lower --lr)",
                              ep + 1, s, bad);
                goto out;
            }
            gstep++;
            lsum += (double)l * b;
            seen += b;
            if (c->on_progress) {
                mn_progress p = {ep + 1, c->epochs, s, steps, (float)(lsum / seen), (float)correct / seen};
                c->on_progress(c->ud, &p);
            }
        }
        mn_epoch_stats es = {ep + 1, (float)(lsum / seen), (float)correct / seen, -1, -1, mn_now() - t0};
        if (val) {
            mn_eval_result r;
            if ((st = mn_eval(g, val, 250, &r))) goto out;
            es.val_error = r.error;
            es.val_loss = r.loss;
        }
        if (c->on_epoch) c->on_epoch(c->ud, &es);
        if (c->on_state) {
            mn_train_state ts = {ep + 1, gstep, rng, g->rng, opt};
            if ((st = c->on_state(c->ud, g, &ts))) goto out;
        }
    }
    st = MN_OK;
out:
    g->dist_off = g->dist_batch = 0;
    free(perm); mn_free(x); mn_free(dl); free(y);
    return st;
}

mn_status mn_eval(mn_graph *g, const mn_dataset *d, int batch, mn_eval_result *r) {
    mn_status st;
    memset(r, 0, sizeof *r);
    if ((st = mn_check_data(g, d))) return st;
    if (batch <= 0) batch = 250;
    /* A graph already reserved for training evaluates at that batch: growing
     * it to 250 allocated and faulted in ~100 MB for LeNet-5 (activations,
     * their gradients, conv columns) at every training run's first
     * evaluation, ~0.4 s, and per-sample speed hardly differs. */
    if (g->batch_cap >= 32 && batch > g->batch_cap) batch = g->batch_cap;
    if ((st = mn_graph_reserve(g, batch))) return st;
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    int64_t isz = (int64_t)d->c * d->h * d->w;
    double lsum = 0;
    int correct = 0;
    /* Under MPI each rank evaluates its share of the samples. */
    int ranks = mn_dist_size(), lo = slice_start(d->n, mn_dist_rank(), ranks);
    int hi = slice_start(d->n, mn_dist_rank() + 1, ranks);
    for (int s = lo; s < hi; s += batch) {
        int b = hi - s < batch ? hi - s : batch;
        const float *z = mn_graph_forward(g, d->x + s * isz, b, 0);
        lsum += (double)mn_xent_hard(z, d->y + s, b, k, 1.0f, NULL) * b;
        correct += count_correct(z, d->y + s, b, k);
    }
    if (ranks > 1) {
        double r2[2] = {lsum, correct};
        if ((st = mn_dist_sum_f64(r2, 2))) return st;
        lsum = r2[0];
        correct = (int)r2[1];
    }
    r->n = d->n;
    r->errors = d->n - correct;
    r->error = (float)r->errors / d->n;
    r->loss = (float)(lsum / d->n);
    return MN_OK;
}
