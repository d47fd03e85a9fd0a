/* minnow binary: binarized networks with real XNOR / popcount inference.
 *
 * Training (float "ghost" weights, straight-through estimator):
 *   BinaryConnect (Courbariaux et al. 2015): W_b = H * sign(w), or +H with
 *     probability hard_sigmoid(w) (stochastic); ghost weights clipped to
 *     [-1, 1]; H = sqrt(1.5 / (fan_in + fan_out)) is the Glorot constant of
 *     the BinaryConnect code, so a layer's outputs keep a sane scale.
 *   XNOR-Net (Rastegari et al. 2016): W_b = alpha_r * sign(w), alpha_r =
 *     mean |w| of output unit / filter r; optional input scale beta (dense:
 *     mean |x| per sample) or K (conv: the k x k box average of mean_c |x|).
 *   Bitwise networks (Kim & Smaragdis 2016): pretrain with H * tanh(w) and
 *     tanh activations, then H * sign(w) and sign activations with the tanh
 *     derivative as the backward ("noisy back-propagation"); weights with
 *     |w| below a threshold become 0 (a second bit plane in the file).
 *   Activations are binarized by the `sign` op (hard-tanh gradient).
 *
 * Graph form: the ops `bdense` and `bconv` hold ghost weights in g->w and
 * binarize them in the forward pass as their `bmode` attribute says.
 * mn_binary_freeze turns a trained graph into its inference form: each
 * weight becomes an MN_ST_BINARY store (1 bit per weight, per-row scales,
 * optional nonzero plane), bmode becomes MN_BIN_FROZEN (g->w then holds the
 * decoded values), and every bX -> [batchnorm] -> sign chain is folded into
 * per-unit thresholds on the popcount (bfold=1: the node outputs +-1).
 * At inference a frozen node runs XNOR + popcount when its input is +-1
 * valued (a sign, a folded node, or max-pool / flatten of those) and adds /
 * subtracts its real inputs by the sign bits otherwise. */
#ifndef MINNOW_BINARY_H
#define MINNOW_BINARY_H

#include "minnow/graph.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- graphs -------------------------------------------------------------- */


typedef enum mn_binarize_method {
    MN_BINARIZE_BC = 0,      /* BinaryConnect: binary weights, real activations */
    MN_BINARIZE_XNOR,        /* XNOR-Net: binary weights and activations */
    MN_BINARIZE_BITWISE,     /* bitwise: tanh pretraining, then sign */
} mn_binarize_method;

typedef struct mn_binarize_opts {
    mn_binarize_method method;
    int keep_first_last;     /* first and last weight layers stay f32 */
    int stochastic;          /* BinaryConnect: stochastic binarization */
    int input_scale;         /* XNOR-Net: beta / K input scaling */
    float sparsity;          /* bitwise: fraction of each layer's weights set to 0 */
    int pre_epochs;          /* bitwise: tanh-phase epochs (-1: as many as cfg) */
    int fold;                /* fold batchnorm + sign into thresholds (default 1) */
    float ghost_lr_scale;    /* ghost weights' steps are scaled by this (BinaryConnect's
                                W_LR_scale): their [-1, 1] range wants larger steps than
                                the f32 layers (default: BC 10, others 1) */
} mn_binarize_opts;

/* Defaults for a method named "binaryconnect" (or "bc"), "xnor", "bitwise";
 * MN_EARG for anything else. */
mn_status mn_binarize_opts_init(mn_binarize_opts *o, const char *method);
/* A new graph dst (initialised here) for training src binarized: dense /
 * conv (groups 1) become bdense / bconv with ghost weights from src's
 * weights; for XNOR and bitwise each hidden relu/tanh becomes batchnorm +
 * sign (bitwise: + tanh for the pretraining phase).  src must be finalized
 * and not binary already. */
mn_status mn_binarize_convert(const mn_graph *src, const mn_binarize_opts *o, mn_graph *dst);
/* Bitwise phase two in place: tanh activations become sign, tanh weights
 * sign, and the `sparsity` fraction of each layer's smallest weights 0. */
mn_status mn_binarize_bitwise_phase2(mn_graph *g, float sparsity);
/* Clips BinaryConnect ghost weights to [-1, 1] (after every step). */
void mn_binary_clip(mn_graph *g);
/* The inference form of a trained binary graph (see the top of this file)
 * into dst (initialised here); fold = 0 keeps batchnorm and sign nodes. */
mn_status mn_binary_freeze(const mn_graph *src, int fold, mn_graph *dst);
/* Convert, train (both phases for bitwise), freeze: *g is replaced by the
 * frozen binary graph.  cfg's hooks are called as mn_train calls them. */
mn_status mn_binarize_train(mn_graph *g, const mn_binarize_opts *o, const mn_dataset *train,
                            const mn_dataset *val, const mn_train_cfg *cfg);

#ifdef __cplusplus
}
#endif
#endif
