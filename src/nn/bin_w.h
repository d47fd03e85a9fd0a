/* Private (src/nn): binarized weights of bdense/bconv (src/nn/bin_w.c),
 * shared by the ops, the binarize passes and the C exporter. */
#ifndef MINNOW_NN_BIN_W_H
#define MINNOW_NN_BIN_W_H

#include "minnow/graph.h"

/* The BinaryConnect scale H = sqrt(1.5 / (fan_in + fan_out)). */
float mn_bin_glorot(int fan_in, int fan_out);
/* Effective weights wb[rows, cols] of ghost weights w.  thresh > 0 makes
 * |w| < thresh zero (DET, XNOR, BITWISE).  r: random source for STOCH
 * (NULL = deterministic sign, the inference form).  sign(0) = +1. */
void mn_bin_effective(mn_bin_mode m, const float *w, int rows, int cols, float H,
                      float thresh, mn_rng *r, float *wb);
/* Straight-through backward: ADDS into gw the gradient w.r.t. the ghost
 * weights given gwb, the gradient w.r.t. the effective weights. */
void mn_bin_ste(mn_bin_mode m, const float *w, const float *gwb, int rows, int cols,
                float H, float thresh, float *gw);

/* 1 if node i's output is exactly +-1 at inference. */
int mn_node_binary_valued(const mn_graph *g, int i);

#endif
