/* minnow search: a per-layer compression policy found under a budget
 * (docs/SEARCH.md).
 *
 * AMC (He et al., ECCV 2018) lets a DDPG agent pick each layer's pruning
 * ratio and scores a whole policy by the validation accuracy of the
 * compressed model without fine-tuning.  minnow keeps that estimate and
 * replaces the agent by a greedy, cost-aware allocation (in the spirit of
 * HAWQ's sensitivity-driven bit allocation): from the lightest policy, each
 * step tries one more notch of compression on every layer (more sparsity,
 * fewer units, fewer bits), measures the real cost and the real estimate
 * of every candidate, and keeps the one that loses least error per unit of
 * cost saved, until the cost fits the budget; the last notch of a
 * continuous setting is then bisected so the cost lands just under it.
 * Every candidate is a recipe (minnow/recipe.h) run without fine-tuning,
 * and the cost is a callback: file bytes, MACs, RAM or latency measured on
 * the compressed model itself, never a formula that could drift from it. */
#ifndef MINNOW_SEARCH_H
#define MINNOW_SEARCH_H
#include "minnow/data.h"
#include "minnow/graph.h"
#ifdef __cplusplus
extern "C" {
#endif

#define MN_SEARCH_MAX_LAYERS 64
#define MN_SEARCH_KEY_MAX 1024

/* What a policy may change, per layer (flags; kmeans and affine exclude
 * each other). */
enum {
    MN_SEARCH_PRUNE = 1,   /* unstructured magnitude sparsity */
    MN_SEARCH_UNITS = 2,   /* neurons (dense) / filters (conv) removed, L1 */
    MN_SEARCH_KMEANS = 4,  /* k-means weight sharing bits (+ Huffman) */
    MN_SEARCH_AFFINE = 8   /* uniform affine weight bits */
};

typedef struct mn_search_policy {
    int nlayers;
    char layer[MN_SEARCH_MAX_LAYERS][MN_NAME_MAX];
    int is_conv[MN_SEARCH_MAX_LAYERS];  /* conv (filters) or dense (neurons) */
    int units_ok[MN_SEARCH_MAX_LAYERS]; /* the layer's units can be removed */
    float sparsity[MN_SEARCH_MAX_LAYERS];
    float units[MN_SEARCH_MAX_LAYERS];  /* fraction of units removed */
    int bits[MN_SEARCH_MAX_LAYERS];     /* kmeans/affine bits (dims say which) */
} mn_search_policy;

/* Fine-tuning of the final run (the estimate never fine-tunes). */
typedef struct mn_search_ft {
    int steps;            /* prune rounds (>= 1) */
    int finetune;         /* epochs after each prune round */
    int share_epochs;     /* k-means centroid fine-tuning epochs */
    int batch;
    float lr;             /* <= 0: the passes' defaults */
    const char *opt;      /* "sgd", "adam" or NULL */
    float wd;             /* weight decay (0: none) */
    const char *sched;    /* "const", "step", "cosine" or NULL */
    uint64_t seed;
} mn_search_ft;

typedef struct mn_search_cfg {
    unsigned dims;        /* MN_SEARCH_* */
    double budget;        /* in the cost's unit */
    int uniform;          /* one setting for every layer (the baseline) */
    int max_evals;        /* 0: no limit */
    /* NULL: AMC's estimate, no fine-tuning.  Else NetAdapt's short-term
     * fine-tuning: each candidate is fine-tuned with these options on the
     * calib slice of train before its estimate. */
    const mn_search_ft *probe;
    /* The cost of a compressed candidate. */
    mn_status (*cost)(void *ud, mn_graph *g, double *cost);
    /* Optional: a cache of earlier estimates (resuming), keyed by policy. */
    int (*cache_get)(void *ud, const char *key, double *cost, float *err);
    void (*cache_put)(void *ud, const char *key, double cost, float err);
    /* Optional progress: each estimate, and each accepted step. */
    void (*on_eval)(void *ud, int evals, const char *key, double cost, float err);
    void (*on_step)(void *ud, int step, const mn_search_policy *p, double cost, float err);
    void *ud;
} mn_search_cfg;

typedef struct mn_search_result {
    double cost0, cost;   /* of the lightest policy, of the one found */
    float err0, err;      /* their val-subset errors, without fine-tuning */
    int evals, steps;
} mn_search_result;

/* The lightest policy for g: its dense/conv layers, sparsity 0, no units
 * removed, 8 bits.  MN_EARG when g has no layer to compress. */
mn_status mn_search_init(const mn_graph *g, unsigned dims, mn_search_policy *p);
/* The policy as a recipe (YAML) with ft's fine-tuning (NULL: none), into
 * buf; MN_EARG when it does not fit. */
mn_status mn_search_recipe(const mn_search_policy *p, unsigned dims, const mn_search_ft *ft,
                           const char *name, char *buf, size_t cap);
/* A short text naming the policy (the cache key). */
void mn_search_key(const mn_search_policy *p, unsigned dims, char *buf, size_t cap);
/* Runs the policy's recipe on g (replaced by the compressed model). */
mn_status mn_search_apply(mn_graph *g, const mn_search_policy *p, unsigned dims, const mn_search_ft *ft,
                          const mn_dataset *train, const mn_dataset *val);
/* The search: p starts as given (mn_search_init) and ends as the policy
 * found.  val is what the estimate is measured on (a subset of val, to be
 * quick); calib (a slice of train; may be NULL without affine bits)
 * calibrates activation ranges.  Nothing is fine-tuned.  MN_EARG when no
 * policy in the space fits the budget. */
mn_status mn_search_run(const mn_graph *g, const mn_dataset *calib, const mn_dataset *val,
                        const mn_search_cfg *c, mn_search_policy *p, mn_search_result *r);

#ifdef __cplusplus
}
#endif
#endif
