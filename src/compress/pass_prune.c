/* Pruning passes: magnitude, snip, obd, random (scores -> masks), neuron and filter
 * (remove units), blocks (remove residual blocks), lottery (tickets).  Options are `minnow prune`'s. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/pass_impl.h"
#include "minnow/prune.h"

typedef struct prune_opts {
    mn_pass_base b;
    char sparsity[MN_PASS_STR_MAX];
    int scope;                 /* 0 layer, 1 global */
    int steps, finetune, samples, criterion;
    int schedule, dt;          /* magnitude: 0 oneshot, 1 gradual */
    double s_init, begin, end;
    double threshold;          /* magnitude: prune |w| < threshold (instead of sparsity) */
    int rounds, rewind_iter, control, control_all, holdout, shuffle;
    int scratch_epochs;        /* control scratch: 0 = the model's training epochs + the fine-tuning */
    mn_pass_train t;
    mn_prune_score score;      /* set by the method's defaults */
    mn_prune_sel sel;
    int lottery;
} prune_opts;

#define O(name, type, field, lo, hi, open, choices, help) \
    {name, type, offsetof(prune_opts, field), lo, hi, open, 0, choices, help, 0, 0, 0}
#define SPARSITY O("sparsity", MN_OPT_SPEC, sparsity, 0, 1, 1, NULL, "fraction removed: one number or per layer")
#define SCOPE O("scope", MN_OPT_ENUM, scope, 0, 0, 0, "layer|global", "one threshold per layer or across layers")
#define STEPS O("steps", MN_OPT_INT, steps, 1, 1000, 0, NULL, "iterative: prune in N steps")
#define FINETUNE O("finetune", MN_OPT_INT, finetune, 0, 100000, 0, NULL, "fine-tune epochs after each step")
#define SAMPLES O("samples", MN_OPT_INT, samples, 1, 1 << 24, 0, NULL, "obd: samples; snip: mini-batches")
#define CONTROL                                                                                                    \
    O("control", MN_OPT_ENUM, control, 0, 0, 0, "none|scratch|random",                                          \
      "also train the pruned structure from scratch, or random pruning at the same per-layer sparsity"),         \
    O("scratch-epochs", MN_OPT_INT, scratch_epochs, 1, 100000, 0, NULL,                                           \
      "control scratch: epochs (default: the model's training epochs + the fine-tuning)")

static const mn_pass_opt MAGNITUDE_OPTS[] = {
    SPARSITY, SCOPE, STEPS, FINETUNE, CONTROL,
    O("threshold", MN_OPT_NUM, threshold, 0, 1e30, 1, NULL, "remove |w| below it (instead of 'sparsity')"),
    O("schedule", MN_OPT_ENUM, schedule, 0, 0, 0, "oneshot|gradual", "gradual: Zhu & Gupta's cubic schedule"),
    O("dt", MN_OPT_INT, dt, 1, 1 << 30, 0, NULL, "gradual: steps between mask updates"),
    O("s-init", MN_OPT_NUM, s_init, 0, 0.999999, 0, NULL, "gradual: initial sparsity"),
    O("begin", MN_OPT_NUM, begin, 0, 1, 0, NULL, "gradual: start, a fraction of training"),
    O("end", MN_OPT_NUM, end, 0, 1, 0, NULL, "gradual: end, a fraction of training"),
    MN_PASS_TRAIN_OPTS(prune_opts, t),
};
static const mn_pass_opt SNIP_OPTS[] = {
    SPARSITY, SCOPE, STEPS, FINETUNE, SAMPLES,
    O("shuffle", MN_OPT_BOOL, shuffle, 0, 1, 0, NULL,
      "control: shuffle the mask within each layer before training (Frankle et al. 2021)"),
    /* epochs: train afterwards with the mask fixed (pruning at initialisation) */
    MN_PASS_TRAIN_OPTS(prune_opts, t),
};
/* Random pruning, the control beside every method: of a trained model
 * (steps, finetune) or at initialisation (epochs: train after, as snip). */
static const mn_pass_opt RANDOM_OPTS[] = {SPARSITY, STEPS, FINETUNE, MN_PASS_TRAIN_OPTS(prune_opts, t)};
static const mn_pass_opt OBD_OPTS[] = {SPARSITY, SCOPE, STEPS, FINETUNE, SAMPLES, CONTROL, MN_PASS_TUNE_OPTS(prune_opts, t)};
static const mn_pass_opt UNIT_OPTS[] = {
    SPARSITY, FINETUNE, CONTROL,
    O("criterion", MN_OPT_ENUM, criterion, 0, 0, 0, "l1|l2|activity|bn", "unit score (bn: |gamma| of its batch norm, network slimming)"),
    MN_PASS_TUNE_OPTS(prune_opts, t),
};
static const mn_pass_opt LOTTERY_OPTS[] = {
    SPARSITY,
    O("rounds", MN_OPT_INT, rounds, 1, 100, 0, NULL, "prune/rewind/retrain rounds"),
    O("rewind-iter", MN_OPT_INT, rewind_iter, 0, 1 << 30, 0, NULL, "rewind to the weights after K steps"),
    O("control", MN_OPT_ENUM, control, 0, 0, 0, "none|scratch|random",
      "also train the ticket's mask re-initialised (scratch) or a random mask of its sparsity (random)"),
    O("control-all", MN_OPT_BOOL, control_all, 0, 1, 0, NULL, "the control after every round (default scratch)"),
    O("holdout", MN_OPT_INT, holdout, 0, 1 << 30, 0, NULL, "hold out the last N training samples"),
    MN_PASS_TRAIN_OPTS(prune_opts, t),
};
/* Layer pruning: whole residual blocks, scored on `samples` training images. */
static const mn_pass_opt BLOCK_OPTS[] = {
    O("sparsity", MN_OPT_SPEC, sparsity, 0, 1, 1, NULL, "fraction of the residual blocks removed"),
    STEPS, FINETUNE,
    O("samples", MN_OPT_INT, samples, 1, 1 << 24, 0, NULL, "training images the blocks are scored on"),
    O("control", MN_OPT_ENUM, control, 0, 0, 0, "none|scratch",
      "also train the smaller net from scratch (Liu et al. 2019)"),
    O("scratch-epochs", MN_OPT_INT, scratch_epochs, 1, 100000, 0, NULL,
      "control scratch: epochs (default: the model's training epochs + the fine-tuning)"),
    MN_PASS_TUNE_OPTS(prune_opts, t),
};
#define N(a) (int)(sizeof a / sizeof a[0])

static void base_defaults(prune_opts *o, int epochs) {
    o->steps = 1;
    o->dt = 100;
    o->end = 0.75;
    o->rounds = 1;
    mn_pass_train_default(&o->t, epochs);
}
static void def_magnitude(void *v) { prune_opts *o = v; base_defaults(o, 15); o->score = MN_SCORE_MAGNITUDE; }
static void def_snip(void *v) { prune_opts *o = v; base_defaults(o, 0); o->score = MN_SCORE_SNIP; }
static void def_random(void *v) { prune_opts *o = v; base_defaults(o, 0); o->score = MN_SCORE_RANDOM; }
static void def_obd(void *v) { prune_opts *o = v; base_defaults(o, 0); o->score = MN_SCORE_OBD; }
static void def_neuron(void *v) { prune_opts *o = v; base_defaults(o, 0); o->sel = MN_SEL_NEURONS; }
static void def_filter(void *v) { prune_opts *o = v; base_defaults(o, 0); o->sel = MN_SEL_FILTERS; }
static void def_blocks(void *v) { prune_opts *o = v; base_defaults(o, 0); o->samples = 2000; }
static void def_lottery(void *v) {
    prune_opts *o = v;
    base_defaults(o, 15);
    o->lottery = 1;
    strcpy(o->sparsity, "0.8");
}

/* 1 if the options' def says option `name` was set. */
static int given(const mn_pass_def *d, const prune_opts *o, const char *name) { return mn_pass_opt_given(d, o, name); }

static mn_status finish_common(const mn_pass_def *d, prune_opts *o) {
    if (o->threshold > 0) {
        if (given(d, o, "sparsity") || given(d, o, "scope") || o->schedule)
            return mn_error(MN_EARG, "'threshold' sets the sparsity: it excludes 'sparsity', 'scope' and 'schedule'");
        strcpy(o->sparsity, "0");
        return MN_OK;
    }
    if (!o->lottery && !given(d, o, "sparsity")) return mn_error(MN_EARG, "pass 'prune' needs 'sparsity' (or 'threshold')");
    if ((o->scope || o->lottery) && strchr(o->sparsity, '='))
        return mn_error(MN_EARG, "%s takes one sparsity for all layers, not a map",
                        o->lottery ? "lottery" : "'scope: global'");
    return MN_OK;
}

static mn_status finish_magnitude(void *v) {
    prune_opts *o = v;
    const mn_pass_def *d = &mn_pass_prune_magnitude;
    mn_status st = finish_common(d, o);
    if (st) return st;
    if (o->schedule) {
        if (given(d, o, "steps")) return mn_error(MN_EARG, "'steps' and 'schedule: gradual' exclude each other");
        if (given(d, o, "finetune")) return mn_error(MN_EARG, "'finetune' does not apply to 'schedule: gradual'; use 'epochs'");
    } else if (given(d, o, "dt") || given(d, o, "s-init") || given(d, o, "begin") || given(d, o, "end") ||
               given(d, o, "epochs")) {
        return mn_error(MN_EARG, "'dt', 's-init', 'begin', 'end' and 'epochs' apply to 'schedule: gradual'");
    }
    return MN_OK;
}
static mn_status finish_snip(void *v) { return finish_common(&mn_pass_prune_snip, v); }
static mn_status finish_random(void *v) {
    prune_opts *o = v;
    mn_status st = finish_common(&mn_pass_prune_random, o);
    if (!st && given(&mn_pass_prune_random, o, "epochs") && (o->steps > 1 || o->finetune))
        return mn_error(MN_EARG, "random: 'epochs' (prune at init, then train) excludes 'steps' and 'finetune'");
    return st;
}
static mn_status finish_obd(void *v) { return finish_common(&mn_pass_prune_obd, v); }
static mn_status finish_neuron(void *v) { return finish_common(&mn_pass_prune_neuron, v); }
static mn_status finish_filter(void *v) { return finish_common(&mn_pass_prune_filter, v); }
static mn_status finish_lottery(void *v) { return finish_common(&mn_pass_prune_lottery, v); }
static mn_status finish_blocks(void *v) {
    prune_opts *o = v;
    mn_status st = finish_common(&mn_pass_prune_blocks, o);
    char *end;
    double f = strtod(o->sparsity, &end);
    if (!st && (*end || !(f > 0 && f < 1)))
        return mn_error(MN_EARG, "blocks: 'sparsity' is one fraction of the residual blocks in (0, 1), not '%s'", o->sparsity);
    return st;
}

static int train_magnitude(const void *v) { const prune_opts *o = v; return o->finetune > 0 || o->schedule; }
static int train_random(const void *v) { const prune_opts *o = v; return o->finetune > 0 || o->t.epochs > 0; }
static int train_always(const void *v) { (void)v; return 1; }
static int train_units(const void *v) {
    const prune_opts *o = v;
    return o->finetune > 0 || o->criterion == MN_CRIT_ACTIVITY;
}
static int val_lottery(const void *v) { (void)v; return 1; }
static int train_blocks(const void *v) { (void)v; return 1; } /* scored on training images */

/* Per-layer targets t[g->nparams] and, for one number over a pool, gl. */
static mn_status targets(const prune_opts *o, const mn_graph *g, float *t, float *gl) {
    *gl = 0;
    if (o->threshold > 0) { /* the fraction of each layer below it, now */
        int any = 0;
        for (int p = 0; p < g->nparams; p++) {
            t[p] = -1;
            if (!mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) continue;
            const float *w = mn_param_data(g, p);
            int64_t n = g->params[p].n, k = 0;
            for (int64_t i = 0; i < n; i++) k += fabsf(w[i]) < o->threshold;
            /* at least one weight per layer stays */
            t[p] = k == n ? (float)(n - 1) / (float)n : (float)k / (float)n;
            any = 1;
        }
        return any ? MN_OK : mn_error(MN_EARG, "the model has no layer that can be pruned");
    }
    if (!o->scope && !o->lottery) return mn_prune_parse_targets(g, o->sparsity, o->sel, t);
    *gl = strtof(o->sparsity, NULL);
    int any = 0;
    for (int p = 0; p < g->nparams; p++) any |= (t[p] = mn_prune_selectable(g, p, o->sel) ? 0 : -1) >= 0;
    return any ? MN_OK : mn_error(MN_EARG, "the model has no layer that can be pruned this way");
}

/* (Recipes check their passes; minnow prune runs its pass directly.) */
static mn_status check(const void *v, const mn_graph *g, mn_pass_state *s) {
    const prune_opts *o = v;
    mn_status st = MN_OK;
    if (o->control && !o->lottery)
        return mn_error(MN_EARG, "'control' runs from minnow prune, which reports it (--json: control); "
                                 "a recipe has nowhere to report it");
    if (!s->reshaped) {
        float *t = malloc(sizeof(float) * (size_t)(g->nparams + 1)), gl;
        if (!t) return mn_error(MN_ENOMEM, "out of memory");
        st = targets(o, g, t, &gl);
        free(t);
    }
    s->codebooks = 0; /* pruning drops stores */
    return st;
}

static mn_status run_scores(const mn_pass_def *d, const prune_opts *o, mn_graph *g, const mn_pass_env *env) {
    float *t = malloc(sizeof(float) * (size_t)(g->nparams + 1)), gl;
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = targets(o, g, t, &gl);
    if (!st) {
        mn_prune_cfg pc;
        mn_prune_cfg_default(&pc);
        pc.score = o->score;
        pc.scope = o->scope ? MN_SCOPE_GLOBAL : MN_SCOPE_LAYER;
        pc.target = t;
        pc.global = gl;
        pc.steps = o->steps;
        pc.score_samples = o->samples;
        pc.on_stage = env->on_stage;
        pc.ud = env->ud;
        mn_pass_train_cfg(d, o, &o->t, env, &pc.ft);
        mn_train_cfg tc = pc.ft;
        if (o->schedule) {
            pc.dt = o->dt;
            pc.s_init = (float)o->s_init;
            pc.begin = (float)o->begin;
            pc.end = (float)o->end;
            st = mn_prune_gradual(g, env->train, env->val, &pc);
        } else if ((o->score == MN_SCORE_SNIP || o->score == MN_SCORE_RANDOM) && given(d, o, "epochs")) {
            /* Pruning at initialisation: prune, then train with the mask
             * fixed (the steps' val errors mean nothing yet). */
            pc.ft.epochs = o->finetune;
            float *init = o->shuffle ? malloc(sizeof(float) * (size_t)g->nw) : NULL;
            if (o->shuffle && !init) st = mn_error(MN_ENOMEM, "out of memory");
            if (init) memcpy(init, g->w, sizeof(float) * (size_t)g->nw);
            if (!st) st = mn_prune_iterative(g, env->train, NULL, &pc);
            if (!st && init) st = mn_prune_shuffle_masks(g, init, tc.seed);
            free(init);
            if (!st) {
                mn_optim_reset(g, &tc.opt);
                st = mn_train(g, env->train, env->val, &tc);
            }
        } else {
            pc.ft.epochs = o->finetune;
            st = mn_prune_iterative(g, env->train, env->val, &pc);
        }
    }
    free(t);
    return st;
}

/* The method's fine-tuning epochs, for the controls' budgets. */
static int tune_epochs(const prune_opts *o) {
    if (o->schedule) return o->t.epochs;
    return (o->steps > 0 ? o->steps : 1) * o->finetune;
}

typedef mn_status (*run_fn)(const mn_pass_def *, const prune_opts *, mn_graph *, const mn_pass_env *);

/* Runs the method, then its control when asked (on a copy of the model as
 * it was before): scratch trains the pruned structure from a fresh init for
 * the model's own training epochs plus the fine-tuning (Liu et al.'s
 * Scratch-E counts the first only; the fine-tuning is added so that the
 * control trains as long as the pruned model did in all), random
 * fine-tunes a random pruning as long as the method fine-tuned. */
static mn_status with_control(run_fn run, const mn_pass_def *d, const prune_opts *o, mn_graph *g,
                              const mn_pass_env *env, int structured) {
    if (!o->control) return run(d, o, g, env);
    if (!env->control)
        return mn_error(MN_EARG, "'control' runs from minnow prune, which reports it (--json: control); "
                                 "a recipe has nowhere to report it");
    mn_train_cfg tc;
    mn_pass_train_cfg(d, o, &o->t, env, &tc);
    tc.epochs = tune_epochs(o);
    if (o->control == MN_CONTROL_SCRATCH) {
        if (o->scratch_epochs > 0) {
            tc.epochs = o->scratch_epochs;
        } else {
            const char *e = mn_graph_get_meta(g, "epochs");
            int dense = e ? atoi(e) : 0;
            if (dense < 1)
                return mn_error(MN_EARG, "control scratch: the model does not say how many epochs trained it; "
                                         "give 'scratch-epochs' (--scratch-epochs)");
            tc.epochs += dense;
        }
    }
    mn_graph before;
    mn_status st = mn_graph_clone(g, &before);
    if (st) return st;
    st = run(d, o, g, env);
    if (!st) st = mn_prune_control(&before, g, structured, (mn_control_kind)o->control, &tc, env->train, env->val,
                                   env->control);
    mn_graph_free(&before);
    return st;
}

static mn_status run_magnitude(const void *v, mn_graph *g, const mn_pass_env *e) {
    return with_control(run_scores, &mn_pass_prune_magnitude, v, g, e, 0);
}
static mn_status run_snip(const void *v, mn_graph *g, const mn_pass_env *e) { return run_scores(&mn_pass_prune_snip, v, g, e); }
static mn_status run_random(const void *v, mn_graph *g, const mn_pass_env *e) { return run_scores(&mn_pass_prune_random, v, g, e); }
static mn_status run_obd(const void *v, mn_graph *g, const mn_pass_env *e) {
    return with_control(run_scores, &mn_pass_prune_obd, v, g, e, 0);
}

static mn_status run_units(const mn_pass_def *d, const prune_opts *o, mn_graph *g, const mn_pass_env *env) {
    float *t = malloc(sizeof(float) * (size_t)(g->nparams + 1)), gl;
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = targets(o, g, t, &gl);
    mn_graph small;
    if (!st) st = mn_prune_units(g, t, (mn_unit_crit)o->criterion, env->train, &small);
    free(t);
    if (st) return st;
    mn_graph_free(g);
    *g = small;
    if (o->finetune > 0) {
        mn_train_cfg tc;
        mn_pass_train_cfg(d, o, &o->t, env, &tc);
        tc.epochs = o->finetune;
        st = mn_train(g, env->train, env->val, &tc);
    }
    return st;
}
static mn_status run_neuron(const void *v, mn_graph *g, const mn_pass_env *e) {
    return with_control(run_units, &mn_pass_prune_neuron, v, g, e, 1);
}
static mn_status run_filter(const void *v, mn_graph *g, const mn_pass_env *e) {
    return with_control(run_units, &mn_pass_prune_filter, v, g, e, 1);
}

static mn_status run_blocks_once(const mn_pass_def *d, const prune_opts *o, mn_graph *g, const mn_pass_env *env) {
    mn_blocks_cfg c;
    memset(&c, 0, sizeof c);
    c.fraction = strtof(o->sparsity, NULL);
    c.steps = o->steps;
    c.samples = o->samples;
    mn_pass_train_cfg(d, o, &o->t, env, &c.ft);
    c.ft.epochs = o->finetune;
    c.on_stage = env->on_stage;
    c.ud = env->ud;
    return mn_prune_blocks(g, &c, env->train, env->val);
}
static mn_status run_blocks(const void *v, mn_graph *g, const mn_pass_env *e) {
    return with_control(run_blocks_once, &mn_pass_prune_blocks, v, g, e, 1);
}
static mn_status check_blocks(const void *v, const mn_graph *g, mn_pass_state *s) {
    const prune_opts *o = v;
    if (o->control) return check(v, g, s);
    mn_status st = MN_OK;
    if (!s->reshaped) {
        mn_res_block b[MN_MAX_BLOCKS];
        if (mn_res_blocks(g, b, MN_MAX_BLOCKS) <= 0)
            st = mn_error(MN_EARG, "blocks: the model has no residual block with an identity shortcut");
    }
    s->reshaped = 1; /* nodes go */
    s->codebooks = 0;
    return st;
}

static mn_status run_lottery(const void *v, mn_graph *g, const mn_pass_env *env) {
    const prune_opts *o = v;
    float *t = malloc(sizeof(float) * (size_t)(g->nparams + 1)), gl;
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = targets(o, g, t, &gl);
    free(t);
    if (st) return st;
    mn_lottery_cfg lc;
    memset(&lc, 0, sizeof lc);
    mn_pass_train_cfg(&mn_pass_prune_lottery, o, &o->t, env, &lc.train);
    lc.sparsity = gl;
    lc.rounds = o->rounds;
    lc.rewind_iter = o->rewind_iter;
    lc.control = o->control ? o->control : o->control_all ? MN_CONTROL_SCRATCH : MN_CONTROL_NONE;
    lc.control_all = o->control_all;
    lc.control_seed = lc.train.seed + 1000003;
    lc.holdout = o->holdout;
    lc.on_round = env->on_round;
    lc.ud = env->ud;
    mn_lottery_result res;
    return mn_prune_lottery(g, env->train, env->val, &lc, env->lottery ? env->lottery : &res);
}

#define DEF(id, m, dflt, opts, fin, tr, val, runf, defs)                                                      \
    const mn_pass_def id = {"prune", m, dflt, opts, N(opts), sizeof(prune_opts), defs, fin, tr, val, check, runf}
DEF(mn_pass_prune_magnitude, "magnitude", 1, MAGNITUDE_OPTS, finish_magnitude, train_magnitude, NULL, run_magnitude, def_magnitude);
DEF(mn_pass_prune_snip, "snip", 0, SNIP_OPTS, finish_snip, train_always, NULL, run_snip, def_snip);
DEF(mn_pass_prune_obd, "obd", 0, OBD_OPTS, finish_obd, train_always, NULL, run_obd, def_obd);
DEF(mn_pass_prune_random, "random", 0, RANDOM_OPTS, finish_random, train_random, NULL, run_random, def_random);
DEF(mn_pass_prune_neuron, "neuron", 0, UNIT_OPTS, finish_neuron, train_units, NULL, run_neuron, def_neuron);
DEF(mn_pass_prune_filter, "filter", 0, UNIT_OPTS, finish_filter, train_units, NULL, run_filter, def_filter);
DEF(mn_pass_prune_lottery, "lottery", 0, LOTTERY_OPTS, finish_lottery, train_always, val_lottery, run_lottery, def_lottery);
const mn_pass_def mn_pass_prune_blocks = {"prune", "blocks", 0, BLOCK_OPTS, N(BLOCK_OPTS), sizeof(prune_opts), def_blocks,
                                          finish_blocks, train_blocks, NULL, check_blocks, run_blocks};
