/* minnow training: losses, optimizers, learning-rate schedules, the training
 * loop and evaluation.  The loop never prints: progress goes to a callback. */
#ifndef MINNOW_TRAIN_H
#define MINNOW_TRAIN_H

#include "minnow/data.h"
#include "minnow/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Softmax cross-entropy of logits[b, k] / T against hard labels; returns the
 * mean loss and, if dlogits is non-NULL, writes d(mean loss)/d(logits). */
float mn_xent_hard(const float *logits, const int32_t *y, int batch, int k,
                   float T, float *dlogits);
/* The same against soft targets q[b, k] (rows summing to 1). */
float mn_xent_soft(const float *logits, const float *q, int batch, int k,
                   float T, float *dlogits);
/* p[b, k] = softmax(logits / T) row by row. */
void mn_softmax_t(const float *logits, int batch, int k, float T, float *p);

typedef enum mn_opt_kind { MN_OPT_SGD = 0, MN_OPT_ADAM } mn_opt_kind;
typedef enum mn_sched_kind { MN_SCHED_CONST = 0, MN_SCHED_STEP, MN_SCHED_COSINE } mn_sched_kind;

typedef struct mn_optim {
    mn_opt_kind kind;
    float lr, momentum, beta1, beta2, eps, weight_decay;
    int64_t t;   /* steps taken (Adam's bias correction) */
} mn_optim;

/* Adam 1.2e-3 (betas 0.9/0.999, eps 1e-8) or SGD 0.1 with momentum 0.9. */
void mn_optim_default(mn_optim *o, mn_opt_kind kind);
/* One step on every trainable parameter using g->gw, at learning rate lr.
 * Masks are honoured: masked gradients are dropped and masked weights stay 0. */
void mn_optim_step(mn_graph *g, mn_optim *o, float lr);
/* Clears Adam/momentum state (g->m, g->v, o->t). */
void mn_optim_reset(mn_graph *g, mn_optim *o);

typedef struct mn_progress {
    int epoch, epochs, step, steps;   /* 1-based epoch, 0-based step in it */
    float loss, acc;                  /* running means over the epoch so far */
} mn_progress;

typedef struct mn_epoch_stats {
    int epoch;
    float loss, train_acc;
    float val_error, val_loss;        /* -1 if no validation set */
    double seconds;                   /* training time of this epoch (no eval) */
} mn_epoch_stats;

/* A loss over a batch: writes dlogits and returns the mean loss.  The
 * default is mn_xent_hard at T = 1.  Distillation and multi-exit training
 * plug in here; x is the (raw) batch, handy for running a teacher.  g->gw
 * is zeroed before the forward pass, so a loss may add gradients of its
 * own; the backward pass of dlogits adds to them. */
typedef float (*mn_loss_fn)(void *ud, mn_graph *g, const float *x,
                            const int32_t *y, int batch, const float *logits,
                            float *dlogits);

typedef struct mn_train_cfg {
    int epochs, batch;
    mn_optim opt;
    mn_sched_kind sched;
    int step_epochs;        /* step schedule: multiply by gamma every N epochs */
    float gamma;
    uint64_t seed;          /* shuffling, augmentation, dropout */
    int augment_shift;      /* random shift of up to N pixels (0 = off) */
    mn_loss_fn loss;        /* NULL: hard-label cross-entropy */
    void *loss_ud;
    /* Called after every optimizer step (masks, schedules of other passes). */
    void (*on_step)(void *ud, mn_graph *g, int64_t step);
    void (*on_progress)(void *ud, const mn_progress *p);
    void (*on_epoch)(void *ud, const mn_epoch_stats *s);
    void *ud;
    /* Checkpoints (minnow/checkpoint.h): resume, if non-NULL, continues a
     * run from the state saved after its last completed epoch (g holding
     * that epoch's weights and moments); on_state, if set, is called after
     * each epoch (after on_epoch) and a non-OK status stops the run. */
    const struct mn_train_state *resume;
    mn_status (*on_state)(void *ud, mn_graph *g, const struct mn_train_state *s);
} mn_train_cfg;

/* What the loop carries from one epoch to the next besides g->w, g->m and
 * g->v: with it a resumed run is bit-for-bit the uninterrupted one. */
typedef struct mn_train_state {
    int epoch;          /* epochs completed */
    int64_t step;       /* optimizer steps taken (the on_step counter) */
    mn_rng rng;         /* shuffling and augmentation */
    mn_rng graph_rng;   /* g->rng: dropout */
    mn_optim opt;       /* the optimizer, its step count opt.t included */
} mn_train_state;

/* epochs 15, batch 60, Adam 1.2e-3, constant lr, seed 1. */
void mn_train_default(mn_train_cfg *c);
/* Learning rate for an epoch (0-based) and step within it. */
float mn_lr_at(const mn_train_cfg *c, int epoch, int step, int steps);

/* Trains g on `train`, evaluating on `val` (may be NULL) after each epoch.
 * Stops with MN_ENAN naming the step and the first layer whose output went
 * non-finite.  Labels must fit the output (MN_EARG otherwise). */
mn_status mn_train(mn_graph *g, const mn_dataset *train, const mn_dataset *val,
                   const mn_train_cfg *c);

typedef struct mn_eval_result {
    int n, errors;
    float error, loss;      /* error in [0, 1]; mean cross-entropy */
} mn_eval_result;
mn_status mn_eval(mn_graph *g, const mn_dataset *d, int batch, mn_eval_result *r);
/* Checks that d's per-sample shape equals the model input and its labels fit
 * the model output; MN_ESHAPE / MN_EARG with a clear message otherwise. */
mn_status mn_check_data(const mn_graph *g, const mn_dataset *d);
/* Sets the input node's per-channel mean/std from the data set. */
mn_status mn_set_input_norm(mn_graph *g, const mn_dataset *d);

#ifdef __cplusplus
}
#endif
#endif
