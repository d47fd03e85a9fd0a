/* The inside of the pass registry (minnow/pass.h): what one method file
 * defines, and the option table every method's options are parsed by.
 *
 * A method is an mn_pass_def (pass_prune.c, pass_quantize.c, ...) listed
 * once in REGISTRY in pass.c.  Its options are a struct of its own, and a
 * table of mn_pass_opt saying for each option its name (the CLI's long
 * option), its type and range and where in the struct it goes.  pass.c
 * parses every value by the table, so every method reports bad values the
 * same way. */
#ifndef MINNOW_COMPRESS_PASS_IMPL_H
#define MINNOW_COMPRESS_PASS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "minnow/pass.h"

#define MN_PASS_STR_MAX 512   /* a per-layer spec or a name list */
#define MN_PASS_MAX_OPTS 64   /* options of one method: bits of mn_pass_base.given */

typedef enum mn_opt_type {
    MN_OPT_INT,       /* int, in [lo, hi] */
    MN_OPT_NUM,       /* double, in [lo, hi] ([lo, hi) with open) */
    MN_OPT_BOOL,      /* int 0/1: a CLI flag, true/false in a recipe */
    MN_OPT_ENUM,      /* int: the index of the value in `choices` ("a|b|c") */
    MN_OPT_STR,       /* char[MN_PASS_STR_MAX], any text */
    MN_OPT_SPEC,      /* char[MN_PASS_STR_MAX]: a number in [lo, hi] for every
                         layer, or "name=x,..." (each in [lo, hi]), or
                         "x,name=y"; integers when `integer` */
} mn_opt_type;

typedef struct mn_pass_opt {
    const char *name;      /* the CLI's long option, without dashes */
    mn_opt_type type;
    size_t off;            /* offsetof in the method's options */
    double lo, hi;
    int open;              /* NUM / SPEC: hi excluded */
    int integer;           /* SPEC: integer values */
    const char *choices;   /* ENUM */
    const char *help;
    /* SPEC with one number: the range a per-layer entry may take when it
     * differs (k-means bits: 1..8 for all, 0..8 per layer) */
    double item_lo;
    int has_item_lo;
    int alias_of;          /* > 0: 1 + the index of the option this one is
                              another name of (not listed) */
} mn_pass_opt;

/* Every method's options start with this. */
typedef struct mn_pass_base {
    uint64_t given;        /* bit i: option i was set */
} mn_pass_base;

/* Training options shared by the methods that train (the CLI's
 * CLI_TRAIN_OPTS less threads). */
typedef struct mn_pass_train {
    int epochs, batch, opt, sched, augment, seed;
    double lr, momentum, wd;
} mn_pass_train;

/* Table entries for an mn_pass_train member `t` of options struct S:
 * all of them, or all but epochs (passes whose 'finetune' counts them). */
#define MN_PASS_TRAIN_OPTS(S, t)                                                                           \
    {"epochs", MN_OPT_INT, offsetof(S, t.epochs), 0, 100000, 0, 0, NULL, "training epochs", 0, 0, 0},      \
    MN_PASS_TUNE_OPTS(S, t)
#define MN_PASS_TUNE_OPTS(S, t)                                                                            \
    {"batch", MN_OPT_INT, offsetof(S, t.batch), 1, 1 << 16, 0, 0, NULL, "mini-batch size", 0, 0, 0},       \
    {"opt", MN_OPT_ENUM, offsetof(S, t.opt), 0, 0, 0, 0, "adam|sgd", "optimizer", 0, 0, 0},                 \
    {"lr", MN_OPT_NUM, offsetof(S, t.lr), 0, 1e30, 0, 0, NULL, "learning rate", 0, 0, 0},                  \
    {"momentum", MN_OPT_NUM, offsetof(S, t.momentum), 0, 1, 0, 0, NULL, "SGD momentum", 0, 0, 0},          \
    {"wd", MN_OPT_NUM, offsetof(S, t.wd), 0, 10, 0, 0, NULL, "weight decay", 0, 0, 0},                     \
    {"sched", MN_OPT_ENUM, offsetof(S, t.sched), 0, 0, 0, 0, "const|step|cosine", "learning-rate schedule", \
     0, 0, 0},                                                                                             \
    {"seed", MN_OPT_INT, offsetof(S, t.seed), 0, 0x7fffffffL, 0, 0, NULL, "seed (default: the recipe's)", 0,  \
     0, 0},                                                                                                \
    {"augment", MN_OPT_INT, offsetof(S, t.augment), 0, 8, 0, 0, NULL, "random shifts of up to N pixels", 0,  \
     0, 0}

/* Defaults of mn_pass_train for `epochs` epochs. */
void mn_pass_train_default(mn_pass_train *t, int epochs);
/* The mn_train_cfg the options t (inside o, options of d) say, with env's
 * hooks, and env's seed unless o has 'seed' set. */
void mn_pass_train_cfg(const mn_pass_def *d, const void *o, const mn_pass_train *t, const mn_pass_env *env,
                       mn_train_cfg *c);

struct mn_pass_def {
    const char *verb, *method;
    int is_default;                    /* the verb's method when none is named */
    const mn_pass_opt *opts;
    int nopts;
    size_t size;                       /* of the options struct */
    void (*defaults)(void *o);
    /* after the last set: options that must go together (may be NULL) */
    mn_status (*finish)(void *o);
    int (*needs_train)(const void *o);
    int (*needs_val)(const void *o);   /* may be NULL: never */
    mn_status (*check)(const void *o, const mn_graph *g, mn_pass_state *st);   /* may be NULL */
    mn_status (*run)(const void *o, mn_graph *g, const mn_pass_env *env);
};

/* 1 if option `name` of d was given in o. */
int mn_pass_opt_given(const mn_pass_def *d, const void *o, const char *name);

/* The registry's entries, one per method (pass_*.c). */
extern const mn_pass_def mn_pass_prune_magnitude, mn_pass_prune_snip, mn_pass_prune_obd, mn_pass_prune_random, mn_pass_prune_neuron,
    mn_pass_prune_filter, mn_pass_prune_lottery, mn_pass_prune_blocks;
extern const mn_pass_def mn_pass_quantize_fixed, mn_pass_quantize_affine, mn_pass_quantize_qat,
    mn_pass_quantize_kmeans;
extern const mn_pass_def mn_pass_binarize_bc, mn_pass_binarize_xnor, mn_pass_binarize_bitwise;
extern const mn_pass_def mn_pass_factorize, mn_pass_distill, mn_pass_encode, mn_pass_gate;

#endif
