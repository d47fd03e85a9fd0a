/* minnow gate: depth chosen per sample (SkipNet, Wang et al., ECCV 2018).
 *
 * Each residual block with an identity shortcut, y = x + f(x), gets a gate:
 * a dense layer on x's global average whose sigmoid decides, per sample,
 * whether f runs (op gate, then gadd: y = x + b f; graph.h).  Training
 * minimises cross-entropy + cost * (the fraction of the network's MACs the
 * sample's open gates execute), the hard decisions trained with the
 * straight-through estimator (SkipNet's supervised stage; no REINFORCE).
 * At inference a closed gate's branch is not computed. */
#ifndef MINNOW_GATE_H
#define MINNOW_GATE_H
#include "minnow/train.h"
#ifdef __cplusplus
extern "C" {
#endif

/* A copy of g (out initialised here) with a gate on every residual block
 * with an identity shortcut (those mn_res_blocks finds), each starting
 * open for every sample (weight 0, bias `open`, > 0).  *ngates gets their
 * count; none is MN_EARG. */
mn_status mn_gate_add(const mn_graph *g, float open, mn_graph *out, int *ngates);

/* Trains gated g: c's loss (cross-entropy if NULL) + cost * the sample's
 * executed MACs / the full network's MACs, averaged over the batch. */
mn_status mn_gate_train(mn_graph *g, const mn_dataset *train, const mn_dataset *val, const mn_train_cfg *c, float cost);

/* Per-sample decisions on d (inference, batch 1: exactly what runs). */
typedef struct mn_gate_eval {
    int n, errors;
    double avg_macs;          /* executed MACs per sample */
    int64_t full_macs;        /* every gate open */
    int ngates;
    int open[64];             /* samples for which gate i (graph order) was open */
    double seconds;           /* wall time of the n batch-1 forward passes */
    /* by how many gates were open: samples, errors, mean microseconds */
    int by_count_n[65], by_count_err[65];
    double by_count_us[65];
} mn_gate_eval;
mn_status mn_gate_evaluate(mn_graph *g, const mn_dataset *d, mn_gate_eval *r);

#ifdef __cplusplus
}
#endif
#endif
