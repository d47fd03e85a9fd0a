/* minnow fold: batch norm folded into the conv or dense layer before it
 * (src/compress/fold_bn.c), for inference and export. */
#ifndef MINNOW_FOLD_H
#define MINNOW_FOLD_H
#include "minnow/graph.h"
#ifdef __cplusplus
extern "C" {
#endif

/* A copy of g into out (initialised here) where every batch norm whose
 * input is a conv or dense layer feeding it alone, with plain f32 weights
 * and no fixed-point activations, is folded into that layer (W' = s W,
 * b' = s (b - mean) + beta, s = gamma / sqrt(var + eps), per output
 * channel) when every folded value is finite; the others stay.  Inference outputs are equal up to rounding;
 * *nfolded counts the folded nodes.  The folded graph trains differently
 * (no batch statistics): fold a trained model. */
mn_status mn_graph_fold_bn(const mn_graph *g, mn_graph *out, int *nfolded);

#ifdef __cplusplus
}
#endif
#endif
