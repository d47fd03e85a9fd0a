/* minnow prune: removing weights and units from a trained (or freshly
 * initialised) network.
 *
 * Unstructured methods (magnitude, SNIP, OBD, lottery tickets) choose which
 * weights to drop by a score and record the choice in each parameter's 0/1
 * mask (mn_param_mask): the weight is set to zero and the optimizer keeps it
 * there during fine-tuning.  The pruned graph is still a dense graph with
 * zeros; `mn_graph_sparsify` (sparse.h) then stores it as CSR.
 *
 * Structured methods (neuron, filter) remove whole hidden units or conv
 * filters: the result is a new, smaller dense graph.
 *
 * "Prunable" weights are the ".weight" parameters of dense and conv nodes;
 * biases, batch-norm and input-normalisation parameters are never pruned.
 * Fractions are always the fraction REMOVED (sparsity), in [0, 1).
 *
 * None of these functions prints; progress is reported through callbacks. */
#ifndef MINNOW_PRUNE_H
#define MINNOW_PRUNE_H

#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- which layers ------------------------------------------------------- */

typedef enum mn_prune_sel {
    MN_SEL_WEIGHTS = 0, /* every dense/conv weight (unstructured pruning) */
    MN_SEL_NEURONS,     /* dense weights whose units can be removed */
    MN_SEL_FILTERS      /* conv weights whose filters can be removed */
} mn_prune_sel;

/* 1 if parameter p can be pruned under sel.  For NEURONS/FILTERS the layer's
 * output must not reach the graph output or a residual add before the next
 * dense/conv layer, and no grouped conv may consume it. */
int mn_prune_selectable(const mn_graph *g, int p, mn_prune_sel sel);

/* Fills t[g->nparams] from a text spec: "0.9" gives every selectable layer
 * 0.9; "fc1=0.92,fc2=0.91" gives the named layers (node or parameter names)
 * and leaves the rest at -1 (untouched); "0.5,fc1=0.9" is a default plus
 * overrides.  Non-selectable parameters get -1.  MN_EARG with a clear message
 * for a value outside [0, 1), an unknown or non-selectable layer name, or
 * junk. */
mn_status mn_prune_parse_targets(const mn_graph *g, const char *spec,
                                 mn_prune_sel sel, float *t);

/* 1 if p is an output layer: a dense/conv weight from which the graph output
 * is reached through parameter-free nodes only (the lottery ticket recipe
 * prunes it at half the rate). */
int mn_prune_is_output_layer(const mn_graph *g, int p);

/* Nonzero count of parameter p's values. */
int64_t mn_param_nonzeros(const mn_graph *g, int p);

/* ---- unstructured: scores -> masks --------------------------------------- */

typedef enum mn_prune_scope { MN_SCOPE_LAYER = 0, MN_SCOPE_GLOBAL } mn_prune_scope;

typedef enum mn_prune_score {
    MN_SCORE_MAGNITUDE = 0, /* |w| (Han et al. 2015) */
    MN_SCORE_OBD,           /* h_kk w^2 / 2 (LeCun et al. 1990), Gauss-Newton h_kk */
    MN_SCORE_SNIP,          /* |dL/dw * w| (Lee et al. 2019) */
    MN_SCORE_RANDOM         /* uniform random (seeded): the control of every pruning
                               comparison (Blalock et al. 2020) */
} mn_prune_score;

/* Masks the lowest-scoring weights.  scores has g->nw floats aligned with
 * g->w (NULL: |w|).  Weights already masked (or exactly zero) go first, so
 * pruning only ever grows; ties are broken by position, so the count is
 * exact.
 *   MN_SCOPE_LAYER: layer p (t[p] >= 0) ends with round(t[p] * n) pruned.
 *   MN_SCOPE_GLOBAL: the layers with t[p] >= 0 form one pool, and
 *     round(global * pool size) of it is pruned below one common threshold.
 * Masked weights are set to zero.  Drops stale compressed stores. */
mn_status mn_prune_by_score(mn_graph *g, const float *t, mn_prune_scope scope,
                            float global, const float *scores);

/* Connection sensitivity |g * w| summed over `batches` mini-batches of
 * `batch` samples drawn (seeded) from d; scores: g->nw floats. */
mn_status mn_prune_snip_scores(mn_graph *g, const mn_dataset *d, int batches,
                               int batch, uint64_t seed, float *scores);
/* OBD saliency h_kk w_k^2 / 2 with h_kk the diagonal of the Gauss-Newton
 * (generalised Gauss-Newton = Fisher for softmax cross-entropy) matrix,
 * summed exactly over classes per sample, over `samples` samples of d. */
mn_status mn_prune_obd_scores(mn_graph *g, const mn_dataset *d, int samples,
                              uint64_t seed, float *scores);

/* Frankle et al. 2021's control for pruning at initialisation: each
 * selectable layer's mask is permuted at random (seeded), keeping its
 * sparsity, and the weights become init[] (g->nw floats, the values before
 * pruning) under the new masks. */
mn_status mn_prune_shuffle_masks(mn_graph *g, const float *init, uint64_t seed);

/* Reports one stage of a multi-step prune. */
typedef struct mn_prune_stage {
    int step, steps;      /* 1-based */
    float sparsity;       /* pruned fraction over the targeted layers */
    float val_error;      /* after pruning, before fine-tune (-1: no val) */
    float val_error_ft;   /* after fine-tune (-1: no val or no fine-tune) */
} mn_prune_stage;

typedef struct mn_prune_cfg {
    mn_prune_score score;
    mn_prune_scope scope;
    const float *target;  /* g->nparams: final per-layer fraction (LAYER) or
                             pool membership, >= 0 (GLOBAL) */
    float global;         /* GLOBAL: final fraction of the pool */
    int steps;            /* >= 1: pruned fraction rises geometrically, each
                             step removing the same share of what is left */
    mn_train_cfg ft;      /* fine-tune after each step: ft.epochs (0 = none) */
    int score_samples;    /* OBD: samples (default 500); SNIP: batches (default 10) */
    /* gradual schedule (mn_prune_gradual) */
    float s_init;         /* initial sparsity s_i (default 0) */
    int dt;               /* optimizer steps between mask updates (default 100) */
    float begin, end;     /* pruning runs from begin to end, as fractions of the
                             training steps (defaults 0 and 0.75) */
    void (*on_stage)(void *ud, const mn_prune_stage *s);
    void *ud;
} mn_prune_cfg;

/* Zero-initialised defaults: magnitude, layer scope, 1 step, no fine-tune. */
void mn_prune_cfg_default(mn_prune_cfg *c);

/* Prune in c->steps steps to the final targets, fine-tuning c->ft.epochs on
 * `train` after each with masks fixed.  val may be NULL. */
mn_status mn_prune_iterative(mn_graph *g, const mn_dataset *train,
                             const mn_dataset *val, const mn_prune_cfg *c);

/* Zhu & Gupta 2017: s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3 for
 * t0 <= t <= t0 + n dt (s_i before, s_f after). */
float mn_prune_gradual_at(float s_i, float s_f, int64_t t0, int64_t dt, int n,
                          int64_t t);
/* Trains c->ft.epochs on `train` while the magnitude masks follow the
 * schedule above (updated every c->dt steps through on_step). */
mn_status mn_prune_gradual(mn_graph *g, const mn_dataset *train,
                           const mn_dataset *val, const mn_prune_cfg *c);

/* ---- structured: remove units -------------------------------------------- */

typedef enum mn_unit_crit { MN_CRIT_L1 = 0, MN_CRIT_L2, MN_CRIT_ACTIVITY, MN_CRIT_BN } mn_unit_crit;

/* One score per output unit (row) of weight p: the l1/l2 norm of its
 * incoming weights, its activity on d: the fraction of (sample, position)
 * where the unit's post-activation (the first relu/tanh after it) is
 * non-zero, or (MN_CRIT_BN, network slimming, Liu et al. 2017) |gamma| of
 * the batch norm that reads the layer (MN_EARG when there is none).  score has rows floats.  d is only read for ACTIVITY. */
mn_status mn_unit_scores(mn_graph *g, int p, mn_unit_crit crit,
                         const mn_dataset *d, float *score);

/* Builds `out` (initialised here) from g with the rows of weight p where
 * keep[p][r] == 0 removed: from that layer's weight and bias, and from the
 * input of every layer that consumes it (through relu, pooling, batch norm,
 * flatten...).  keep[p] == NULL keeps the layer whole.  Values, masks and
 * metadata are carried over.  The result is a smaller dense model. */
mn_status mn_graph_remove_units(const mn_graph *g,
                                const unsigned char *const *keep, mn_graph *out);

/* Removes round(t[p] * rows) lowest-scoring units of every layer with
 * t[p] >= 0 (at least one unit stays) and writes the smaller graph to out. */
mn_status mn_prune_units(mn_graph *g, const float *t, mn_unit_crit crit,
                         const mn_dataset *d, mn_graph *out);
/* The same number of units per layer, chosen at random (seeded). */
mn_status mn_prune_units_random(mn_graph *g, const float *t, uint64_t seed, mn_graph *out);

/* ---- controls (Liu et al. 2019; Blalock et al. 2020) ---------------------- */

typedef enum mn_control_kind {
    MN_CONTROL_NONE = 0,
    MN_CONTROL_SCRATCH, /* the pruned structure (mask, or smaller architecture)
                           from a fresh random init, trained from scratch */
    MN_CONTROL_RANDOM   /* the model before pruning, pruned at random to the
                           same per-layer sparsity (or unit counts), fine-tuned */
} mn_control_kind;

typedef struct mn_control_result {
    mn_control_kind kind;
    float val_error;      /* -1 without val */
    int epochs;
    float density;        /* kept fraction of the prunable weights */
} mn_control_result;

/* The control of one pruning result.  before: the model pruning started
 * from; pruned: the result (masks for unstructured pruning, a smaller graph
 * when `structured`).  Scratch: pruned's structure re-initialised (seed
 * tc->seed + 7919) and trained tc->epochs with masks fixed.  Random: before
 * pruned at random (seed tc->seed + 7919) to pruned's per-layer nonzero
 * counts (unstructured) or unit counts (structured), then fine-tuned
 * tc->epochs.  Neither model is changed. */
mn_status mn_prune_control(const mn_graph *before, const mn_graph *pruned, int structured,
                           mn_control_kind kind, const mn_train_cfg *tc,
                           const mn_dataset *train, const mn_dataset *val,
                           mn_control_result *res);

/* ---- layer pruning: whole residual blocks (prune_blocks.c) --------------- */

/* A residual block y = x + f(x) whose shortcut is the identity: removing it
 * (f and the add, and a relu after the add when x is itself a relu's output,
 * since relu(x) = x then) leaves x where y was. */
typedef struct mn_res_block {
    int add;     /* the add node */
    int input;   /* x, the shortcut input */
    int relu;    /* the relu removed with it, or -1 */
    int nodes;   /* nodes removed with the block */
} mn_res_block;
#define MN_MAX_BLOCKS 256
/* The removable blocks of g, in graph order (-1: out of memory). */
int mn_res_blocks(const mn_graph *g, mn_res_block *b, int max);
/* Residual blocks of g, removable or not (its add nodes). */
int mn_res_adds(const mn_graph *g);
/* out = g without blocks b[0..n) (from mn_res_blocks of this g). */
mn_status mn_graph_drop_blocks(const mn_graph *g, const mn_res_block *b, int n, mn_graph *out);

typedef struct mn_blocks_cfg {
    float fraction;     /* of all residual blocks (add nodes) to remove */
    int steps;          /* remove them in this many rounds, re-scoring each */
    int samples;        /* training images the score is measured on (0: all) */
    mn_train_cfg ft;    /* fine-tuning after each round: ft.epochs (0: none) */
    void (*on_stage)(void *ud, const mn_prune_stage *s);
    void *ud;
} mn_blocks_cfg;
/* Layer pruning: in each round, bypasses each removable block alone and
 * measures the training loss on c->samples training images; removes those
 * whose bypass raises it least, then fine-tunes.  g is replaced by the
 * smaller graph.  val (may be NULL) is only reported on. */
mn_status mn_prune_blocks(mn_graph *g, const mn_blocks_cfg *c, const mn_dataset *train, const mn_dataset *val);

/* ---- lottery tickets ----------------------------------------------------- */

typedef struct mn_lottery_round {
    int round, rounds;    /* 1-based; round 0 is the dense training */
    float density;        /* kept fraction of the prunable weights */
    float val_error;      /* after (re)training */
    /* With a hold-out (mn_lottery_cfg.holdout > 0): the epoch kept (1-based,
     * lowest held-out loss) and the held-out error there; else the last
     * epoch and -1. */
    int epoch;
    float holdout_error;
    /* With mn_lottery_cfg.control_all: the random re-initialisation of this
     * round's mask, trained the same way (else -1, 0). */
    float control_error, control_holdout;
    int control_epoch;
} mn_lottery_round;

typedef struct mn_lottery_cfg {
    float sparsity;       /* final pruned fraction of each hidden layer */
    int rounds;           /* >= 1; each prunes the same share of what is left */
    int64_t rewind_iter;  /* 0: rewind to init; K: to the weights after K steps */
    int control;          /* an mn_control_kind: also train the ticket's mask
                             re-initialised at random (SCRATCH), or a random
                             mask of the same per-layer sparsity rewound like
                             the ticket (RANDOM) */
    int control_all;      /* ... after every round, not only the last (the
                             curves of Frankle & Carbin's Figures 3-4) */
    uint64_t control_seed;
    mn_train_cfg train;   /* every (re)training: train.epochs */
    void (*on_round)(void *ud, const mn_lottery_round *r);
    void *ud;
    /* Early stopping (Frankle & Carbin report every network at the iteration
     * of minimum validation loss).  holdout > 0: the LAST `holdout` samples
     * of `train` are set aside; every training (dense, ticket rounds,
     * control) runs on the rest, evaluates the held-out part after each
     * epoch and ends with the weights of the epoch of lowest held-out loss.
     * `val` is then only reported on, never used to choose.  0: train on all
     * of `train` and keep the last epoch. */
    int holdout;
} mn_lottery_cfg;

typedef struct mn_lottery_result {
    float dense_error;    /* the dense network after training */
    float ticket_error;   /* the rewound, retrained ticket */
    float control_error;  /* random re-init with the same mask (-1 if none) */
    float density;        /* kept fraction of the prunable weights */
    /* With a hold-out: held-out error of each at its kept epoch (else -1)
     * and that epoch (1-based; without a hold-out the last). */
    float dense_holdout, ticket_holdout, control_holdout;
    int dense_epoch, ticket_epoch, control_epoch;
} mn_lottery_result;

/* g: built and initialised (its current weights are the init).  On return g
 * holds the trained ticket (masked).  val is required.  MN_EARG if the
 * hold-out leaves no sample on either side. */
mn_status mn_prune_lottery(mn_graph *g, const mn_dataset *train,
                           const mn_dataset *val, const mn_lottery_cfg *c,
                           mn_lottery_result *res);

/* ---- sensitivity --------------------------------------------------------- */

/* For each selectable weight layer alone, val error with its lowest-|w|
 * fraction levels[j] zeroed (no fine-tune).  layers: out, the parameter
 * indices (up to max_layers); err: nlayers * nlevels, row per layer.
 * Returns the layer count through *nlayers.  g keeps its values (its
 * compressed stores, if any, are dropped). */
mn_status mn_prune_sensitivity(mn_graph *g, const mn_dataset *val,
                               const float *levels, int nlevels, int *layers,
                               int max_layers, int *nlayers, float *err);

#ifdef __cplusplus
}
#endif
#endif
