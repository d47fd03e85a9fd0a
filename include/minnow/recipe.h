/* minnow recipe: a compression pipeline written down in YAML, e.g. Deep
 * Compression (Han et al. 2016): prune -> share weights -> Huffman-code.
 *
 *   name: deep-compression-lenet300
 *   seed: 1
 *   passes:
 *     - prune:                      # magnitude pruning, fine-tuned
 *         method: magnitude         # any `minnow prune --method`
 *         sparsity: {fc1: 0.92, fc2: 0.91, fc3: 0.74}   # or one number
 *         scope: layer              # layer | global (global: one number)
 *         steps: 3                  # iterative: prune, fine-tune, repeat
 *         finetune: 4               # epochs after each step
 *         lr: 1.2e-3                # Adam (batch, too)
 *     - quantize:                   # k-means weight sharing
 *         method: kmeans            # any `minnow quantize --method`
 *         bits: {fc1: 6, fc2: 6, fc3: 6}                # or one number
 *         finetune: 3               # centroid fine-tuning epochs
 *         lr: 1e-4                  # centroids (bias_lr: biases)
 *     - encode:
 *         huffman: true
 *
 * A recipe may instead (or also) have a 'train:' mapping: the options of
 * `minnow train --recipe` (recipes/train-lenet5.yaml).  Either 'passes' or
 * 'train' must be there.
 *
 * A pass is a verb of the CLI (prune, quantize, binarize, factorize,
 * distill, encode) with its method, and its options are that verb's long options
 * (`--rewind-iter 3` is `rewind-iter: 3`, or `rewind_iter`; a flag is
 * `true`); minnow/pass.h is the registry they come from.  Every key is
 * checked: an unknown pass, method or key, a bad value or malformed YAML
 * is MN_EARG with the line it is on.  Parsing uses libyaml. */
#ifndef MINNOW_RECIPE_H
#define MINNOW_RECIPE_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/pass.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MN_RECIPE_MAX_PASSES 16
#define MN_RECIPE_SPEC_MAX 512
#define MN_RECIPE_MAX_OPTS 16
/* Checked on the raw text before libyaml sees it (its scanner is quadratic in
 * the nesting depth): a recipe is at most 64 KiB, nests flow collections
 * ([ {) at most 32 deep, indents at most 128 columns (which bounds the
 * block nesting), and holds one YAML document. */
#define MN_RECIPE_MAX_BYTES 65536
#define MN_RECIPE_MAX_DEPTH 32
#define MN_RECIPE_MAX_INDENT 128

typedef enum mn_pass_kind {
    MN_PASS_PRUNE = 0, MN_PASS_QUANTIZE, MN_PASS_ENCODE, MN_PASS_BINARIZE, MN_PASS_FACTORIZE, MN_PASS_DISTILL,
    MN_PASS_GATE
} mn_pass_kind;

typedef struct mn_recipe_pass {
    mn_pass_kind kind;                 /* the verb */
    int line;                          /* 1-based line in the recipe */
    char method[16];                   /* as mn_pass_method ("" for encode, factorize) */
    /* The options as written (keys with '-'; {layer: value} maps as
     * "fc1=0.9,fc2=0.8"): what the pass is built from (mn_recipe_pass_make). */
    int nopts;
    char key[MN_RECIPE_MAX_OPTS][24];
    char val[MN_RECIPE_MAX_OPTS][MN_RECIPE_SPEC_MAX];
    /* A digest of the common options, for reports (the pass reads the
     * options above).  prune: the sparsity spec ("0.9", "fc1=0.92,fc2=0.91");
     * quantize: the bits spec of per-layer overrides. */
    char spec[MN_RECIPE_SPEC_MAX];
    int global;                        /* prune: global scope */
    int steps;                         /* prune */
    int bits, iters;                   /* quantize */
    int finetune, batch;               /* epochs of fine-tuning, mini-batch */
    float lr, bias_lr;                 /* < 0: the pass's default */
    int huffman;                       /* encode */
} mn_recipe_pass;

#define MN_RECIPE_MAX_TRAIN 32

typedef struct mn_recipe {
    char name[64];
    uint64_t seed;
    int seed_given;                    /* 'seed:' was written */
    /* A training recipe (recipes/train-*.yaml) has a flat 'train:' mapping
     * of `minnow train` options (arch: lenet5, opt: sgd, augment: 1, ...),
     * as written, keys with '-': the CLI checks them against its options. */
    int ntrain;
    char train_key[MN_RECIPE_MAX_TRAIN][24];
    char train_val[MN_RECIPE_MAX_TRAIN][256];
    int train_line[MN_RECIPE_MAX_TRAIN];
    int npasses;
    mn_recipe_pass pass[MN_RECIPE_MAX_PASSES];
} mn_recipe;

/* Parses a YAML recipe from memory; label names it in messages. */
mn_status mn_recipe_parse(const char *text, size_t len, const char *label,
                          mn_recipe *r);
mn_status mn_recipe_load(const char *path, mn_recipe *r);
/* "prune", "quantize", "encode", "binarize", "factorize", "distill". */
const char *mn_pass_name(mn_pass_kind k);
/* The pass p describes, with its options set and checked (mn_pass_free
 * it).  MN_EARG naming the line. */
mn_status mn_recipe_pass_make(const mn_recipe_pass *p, mn_pass *out);
/* 1 if some pass of r reads training data (mn_pass_needs_train). */
int mn_recipe_needs_train(const mn_recipe *r);

typedef struct mn_recipe_hooks {
    void (*on_pass)(void *ud, int i, const mn_recipe_pass *p);   /* starting */
    void (*on_pass_done)(void *ud, int i, const mn_recipe_pass *p,
                         const mn_graph *g, float val_error);   /* -1: no val */
    void (*on_progress)(void *ud, const mn_progress *p);        /* training */
    void (*on_epoch)(void *ud, const mn_epoch_stats *s);
    void *ud;
} mn_recipe_hooks;

/* Checks r against g before anything runs: layer names in every per-layer
 * setting (up to the first pass that renames layers: factorize, binarize),
 * training data for passes that train (have_train), and that an encode
 * pass has codebook layers to code.  MN_EARG naming the line. */
mn_status mn_recipe_check(const mn_graph *g, const mn_recipe *r, int have_train);

/* Runs the passes on g in order, after mn_recipe_check.  Passes that
 * fine-tune need train; val (may be NULL) is reported after each pass
 * (lottery tickets need it).  A distill pass learns from g as it was
 * before the first pass.  Passes that build a new graph (neuron and
 * filter pruning, binarize, factorize) replace *g.  At
 * the end, pruned weights that were not shared are stored sparse (CSR)
 * where that is smaller. */
mn_status mn_recipe_run(mn_graph *g, const mn_recipe *r, const mn_dataset *train,
                        const mn_dataset *val, const mn_recipe_hooks *h);

/* One row of the Deep Compression table for a dense/conv layer. */
typedef struct mn_dc_row {
    char name[MN_NAME_MAX];
    int64_t weights, nonzero;          /* of its weight */
    const char *storage;               /* "f32", "csr", "codebook", ... */
    int bits;                          /* codebook index bits (0: not shared) */
    double index_bits, gap_bits;       /* per stored entry, as in the file */
    size_t weight_bytes, bytes;        /* the weight; all its parameters */
} mn_dc_row;
/* Fills up to max rows (one per dense/conv layer) and returns the count. */
int mn_dc_table(const mn_graph *g, mn_dc_row *rows, int max);

#ifdef __cplusplus
}
#endif
#endif
