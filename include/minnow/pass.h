/* minnow pass: the registry of compression passes, one entry per method,
 * shared by the CLI verbs (`minnow prune`, `quantize`, `binarize`,
 * `factorize`, `distill`, `encode`) and by recipes (minnow/recipe.h).
 *
 * A pass is named by its verb and method ("prune" "filter", "quantize"
 * "affine", "factorize" with no method).  Its options are key = value text
 * with the names of the verb's long options: `--sparsity 0.9` on the command
 * line is `sparsity: 0.9` in a recipe; a flag (`--shuffle`) is `shuffle:
 * true`.  Per-layer values are "fc1=0.9,fc2=0.8" text (a {layer: value} map
 * in a recipe).  '_' and '-' are the same in option names.
 *
 *   mn_pass p;
 *   mn_pass_init(&p, mn_pass_find("prune", "filter"));
 *   mn_pass_set(&p, "sparsity", "0.5");
 *   mn_pass_env env = {.train = &train, .val = &val, .seed = 1};
 *   mn_pass_run(&p, &g, &env);
 *   mn_pass_free(&p);
 *
 * docs/HACKING.md says how to add a pass (one file and one registry line). */
#ifndef MINNOW_PASS_H
#define MINNOW_PASS_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/prune.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_pass_def mn_pass_def; /* one method; the registry holds them */

/* The registry: mn_pass_count() passes, in a fixed order. */
int mn_pass_count(void);
const mn_pass_def *mn_pass_at(int i);
/* The pass for verb and method; method NULL or "": the verb's default
 * method (prune: magnitude, quantize: kmeans, binarize: none).  NULL if
 * there is none. */
const mn_pass_def *mn_pass_find(const char *verb, const char *method);
const char *mn_pass_verb(const mn_pass_def *d);
const char *mn_pass_method(const mn_pass_def *d);   /* "" for one-method verbs */
/* The options: names (the CLI's, without dashes) and one line of help. */
int mn_pass_nopts(const mn_pass_def *d);
const char *mn_pass_opt_name(const mn_pass_def *d, int i);
const char *mn_pass_opt_help(const mn_pass_def *d, int i);
/* 1 if the option is a flag (on the command line: no value). */
int mn_pass_opt_is_flag(const mn_pass_def *d, int i);

/* A pass with its options. */
typedef struct mn_pass {
    const mn_pass_def *def;
    void *opts;                /* the method's options, private */
} mn_pass;

/* Default options for d.  MN_EARG for d NULL. */
mn_status mn_pass_init(mn_pass *p, const mn_pass_def *d);
void mn_pass_free(mn_pass *p);
/* Sets one option from text (val NULL: a flag, "true").  MN_EARG with a
 * message naming the option for an unknown one or a bad value. */
mn_status mn_pass_set(mn_pass *p, const char *key, const char *val);
/* 1 if the option was set. */
int mn_pass_given(const mn_pass *p, const char *key);
/* Checks that the options go together and that every option the method
 * cannot do without was given; call it after the last mn_pass_set. */
mn_status mn_pass_finish(mn_pass *p);
/* 1 if the pass reads training data (fine-tuning, training, calibration,
 * data-driven scores), as its options stand. */
int mn_pass_needs_train(const mn_pass *p);
/* 1 if it needs validation data (lottery tickets). */
int mn_pass_needs_val(const mn_pass *p);

/* What a run gets besides the graph. */
typedef struct mn_pass_env {
    const mn_dataset *train, *val;   /* either may be NULL */
    uint64_t seed;                   /* used unless the pass has 'seed' set */
    void (*on_progress)(void *ud, const mn_progress *p);
    void (*on_epoch)(void *ud, const mn_epoch_stats *s);
    void (*on_stage)(void *ud, const mn_prune_stage *s);      /* prune steps */
    void (*on_round)(void *ud, const mn_lottery_round *r);    /* lottery */
    void *ud;
    /* Optional reports, filled where the method has them (may be NULL). */
    mn_lottery_result *lottery;
    struct mn_control_result *control; /* prune 'control: scratch|random' (minnow/prune.h) */
    struct mn_qreport *qreport;      /* quantize fixed/affine/qat (minnow/quant.h) */
    /* factorize: the layers it considered, malloc'd (the caller frees
     * *lowrank), and their count */
    struct mn_lowrank_layer **lowrank;
    int *nlowrank;
    /* distill: the teachers (a recipe's: the model it started from), and
     * the loss parts of the last epoch (minnow/distill.h; may be NULL) */
    mn_graph *const *teachers;
    int nteachers;
    struct mn_distill_parts *distill_parts;
} mn_pass_env;

/* What a recipe tracks between passes for mn_pass_check. */
typedef struct mn_pass_state {
    int codebooks;     /* the model has codebook (k-means) layers */
    int reshaped;      /* a pass before renamed or retyped layers: names are
                          checked when the pass runs */
} mn_pass_state;

/* Checks the options against g (layer names in per-layer settings, a
 * layer to work on) before anything runs, and updates st for the next
 * pass.  MN_EARG with a message. */
mn_status mn_pass_check(const mn_pass *p, const mn_graph *g, mn_pass_state *st);

/* Runs the pass on g.  Methods that build a new graph (neuron and filter
 * pruning, binarize, factorize) replace *g (the old one is freed); those
 * that train leave compressed stores decoded (dense). */
mn_status mn_pass_run(const mn_pass *p, mn_graph *g, const mn_pass_env *env);

#ifdef __cplusplus
}
#endif
#endif
