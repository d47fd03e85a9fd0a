/* minnow exits: multi-exit networks (a classifier head after intermediate
 * blocks), trained jointly, evaluated with early exit (docs/EARLY_EXIT.md).
 *
 * A graph's exits are its sinks, the nodes no other node consumes, in
 * topological order; the last one is g->output.  Every exit must give as
 * many logits as the output.  Exit e "costs" the MACs of every node it
 * depends on, so stopping at an early exit skips the rest of the graph. */
#ifndef MINNOW_EXITS_H
#define MINNOW_EXITS_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MN_EXITS_MAX 8

typedef struct mn_exits {
    int n;                        /* exits, 1..MN_EXITS_MAX */
    int node[MN_EXITS_MAX];       /* their node indices, in order */
    int64_t macs[MN_EXITS_MAX];   /* per sample, cumulative: exit e and all before it */
    int nnodes;
    unsigned char *seg;           /* n * nnodes: seg[e*nnodes+i] = 1 if node i runs for
                                     exit e and not for any earlier exit */
    int nclass;
} mn_exits;

/* Finds the exits of a finalized graph and their segments.  MN_ESHAPE if an
 * exit's logits differ in size from the output's or there are more than
 * MN_EXITS_MAX.  Free with mn_exits_free. */
mn_status mn_exits_init(mn_exits *x, const mn_graph *g);
void mn_exits_free(mn_exits *x);

/* Joint training: the loss is sum_e weight[e] * xent(exit e).  Plugs into
 * cfg->loss / cfg->loss_ud; the inner heads' gradients reach the graph
 * through their nodes' dy_extra.  nweights must equal the number of exits.
 * Call mn_exits_train_done after mn_train (it clears the dy_extra
 * pointers and frees the buffers). */
typedef struct mn_exits_trainer {
    mn_exits ex;
    float weight[MN_EXITS_MAX];
    float loss[MN_EXITS_MAX];     /* each exit's unweighted loss on the last batch */
    float *buf;                   /* (n-1) * batch * nclass floats */
    float *q, *ds;                /* self-distillation: soft targets, a gradient */
    float self_alpha, self_T;     /* mn_exits_self_distill */
    int batch;
    mn_graph *g;
} mn_exits_trainer;
mn_status mn_exits_train_setup(mn_exits_trainer *t, mn_graph *g, const float *weight,
                               int nweights, mn_train_cfg *cfg);
/* Self-distillation from the network's own deepest head (Zhang et al. 2019,
 * "Be Your Own Teacher"): each inner head's loss becomes
 * (1 - alpha) xent(y) + alpha T^2 xent(softmax(z_last / T)), the last head's
 * softened prediction on the same batch taken as a fixed target.  After
 * mn_exits_train_setup; alpha in [0, 1], T > 0. */
mn_status mn_exits_self_distill(mn_exits_trainer *t, float alpha, float T);
void mn_exits_train_done(mn_exits_trainer *t);

/* Early-exit evaluation: each sample stops at the first exit whose top
 * softmax probability is >= threshold (the last exit always answers).
 * The graph really runs piecewise: samples still undecided after exit e are
 * packed together and only exit e+1's segment runs on them. */
typedef struct mn_exit_result {
    int n, errors;
    float error;                  /* in [0, 1] */
    double avg_macs;              /* mean MACs per sample actually run */
    int64_t full_macs;            /* MACs of running to the last exit */
    int nexits;
    int taken[MN_EXITS_MAX];      /* samples that stopped at each exit */
    int exit_errors[MN_EXITS_MAX];/* errors of each exit alone (probe only) */
} mn_exit_result;
mn_status mn_exits_eval(mn_graph *g, const mn_dataset *d, float threshold, int batch,
                        mn_exit_result *r);

/* What early exit answers for n samples x (n * input floats): each one's
 * logits at the first exit whose top softmax probability is >= threshold
 * (the last exit otherwise) into out (n * nclass floats), the exit into
 * taken[i] (may be NULL).  One full forward pass of the n samples. */
mn_status mn_exits_answer(mn_graph *g, const float *x, int n, float threshold, float *out, int *taken);

/* For threshold sweeps: one full forward pass records, per sample and exit,
 * the top probability and whether the exit is right; mn_exits_at then gives
 * what mn_exits_eval would at any threshold, without running the graph. */
typedef struct mn_exits_probe {
    int n, nexits;
    int64_t macs[MN_EXITS_MAX];
    float *conf;                  /* n * nexits */
    unsigned char *right;         /* n * nexits */
} mn_exits_probe;
mn_status mn_exits_probe_run(mn_graph *g, const mn_dataset *d, int batch, mn_exits_probe *p);
void mn_exits_at(const mn_exits_probe *p, float threshold, mn_exit_result *r);
void mn_exits_probe_free(mn_exits_probe *p);

#ifdef __cplusplus
}
#endif
#endif
