/* The controls that keep a pruning result honest (minnow/prune.h).
 *
 * Liu et al. 2019 ("Rethinking the Value of Network Pruning") train the
 * pruned structure from a fresh initialisation: if that matches the pruned
 * and fine-tuned model, pruning found an architecture, not weights.
 * Blalock et al. 2020 ask for random pruning at the same per-layer sparsity
 * beside every method: if that matches, the method's choice of weights did
 * not matter.  Both run on copies; the models passed in are not changed. */
#include <stdlib.h>
#include <string.h>

#include "minnow/prune.h"

static float density(const mn_graph *g) {
    int64_t n = 0, nz = 0;
    for (int p = 0; p < g->nparams; p++)
        if (mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) { n += g->params[p].n; nz += mn_param_nonzeros(g, p); }
    return n ? (float)nz / (float)n : 1;
}

/* Random control of structured pruning: the units each layer lost in
 * `pruned`, removed at random from `before`. */
static mn_status random_units(const mn_graph *before, const mn_graph *pruned, uint64_t seed, mn_graph *out) {
    float *t = malloc(sizeof(float) * (size_t)(before->nparams + 1));
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    for (int p = 0; p < before->nparams && !st; p++) {
        t[p] = -1;
        if (!mn_prune_selectable(before, p, MN_SEL_FILTERS) && !mn_prune_selectable(before, p, MN_SEL_NEURONS)) continue;
        int q = mn_graph_find_param(pruned, before->params[p].name);
        if (q < 0) { st = mn_error(MN_EARG, "control: '%s' is not in the pruned model", before->params[p].name); break; }
        int r0 = before->params[p].shape.d[0], r1 = pruned->params[q].shape.d[0];
        if (r1 < r0) t[p] = (float)(r0 - r1) / (float)r0;
    }
    mn_graph tmp;
    if (!st) st = mn_graph_clone(before, &tmp);
    if (!st) {
        st = mn_prune_units_random(&tmp, t, seed, out);
        mn_graph_free(&tmp);
    }
    free(t);
    return st;
}

mn_status mn_prune_control(const mn_graph *before, const mn_graph *pruned, int structured, mn_control_kind kind,
                           const mn_train_cfg *tc, const mn_dataset *train, const mn_dataset *val,
                           mn_control_result *res) {
    memset(res, 0, sizeof *res);
    res->kind = kind;
    res->val_error = -1;
    if (kind != MN_CONTROL_SCRATCH && kind != MN_CONTROL_RANDOM) return mn_error(MN_EARG, "control: unknown kind");
    if (!train || tc->epochs < 0) return mn_error(MN_EARG, "control: it needs training data");
    if (kind == MN_CONTROL_SCRATCH && tc->epochs < 1) return mn_error(MN_EARG, "control scratch: it needs epochs to train");
    uint64_t seed = tc->seed + 7919;
    mn_graph c;
    mn_status st;
    if (kind == MN_CONTROL_SCRATCH) {
        /* The pruned structure, fresh values from the init distribution. */
        if ((st = mn_graph_clone(pruned, &c))) return st;
        mn_rng rng;
        mn_rng_seed(&rng, seed);
        mn_graph_init_params(&c, &rng);
        mn_graph_apply_masks(&c);
    } else if (structured) {
        if ((st = random_units(before, pruned, seed, &c))) return st;
    } else {
        /* The trained weights before pruning under masks of pruned's
         * per-layer counts at random positions. */
        if (before->nw != pruned->nw || before->nparams != pruned->nparams)
            return mn_error(MN_EARG, "control: the pruned model's layers differ from the model before pruning");
        if ((st = mn_graph_clone(pruned, &c))) return st;
        st = mn_prune_shuffle_masks(&c, before->w, seed);
        if (st) { mn_graph_free(&c); return st; }
    }
    mn_train_cfg t = *tc;
    mn_optim_reset(&c, &t.opt);
    st = t.epochs > 0 ? mn_train(&c, train, val, &t) : MN_OK; /* random, no fine-tuning: as pruned */
    if (!st && val) {
        mn_eval_result r;
        if (!(st = mn_eval(&c, val, 250, &r))) res->val_error = r.error;
    }
    res->epochs = t.epochs;
    res->density = density(&c);
    mn_graph_free(&c);
    return st;
}
