/* minnow sparse: the pass that stores a pruned graph's weights sparse
 * (CSR, Deep Compression's format: docs/SPARSE.md), where that is smaller
 * and faster than dense. */
#ifndef MINNOW_SPARSE_H
#define MINNOW_SPARSE_H

#include "minnow/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Layers at or below this nonzero fraction are stored and run sparse by
 * mn_graph_sparsify.  Measured with bench/sparse_crossover.c
 * (docs/SPARSE.md): the AVX-512 kernels beat OpenBLAS dense SGEMM up to
 * 50-70% density on every LeNet-sized layer at batch 1 and 64, the AVX2
 * ones up to 30-70% (conv at batch 64: 20-30%), and at 30% the file is
 * still 2.8x smaller than f32. */
#define MN_SPARSE_DEFAULT_DENSITY 0.30f

/* Stores every dense/conv ".weight" sparse whose nonzero fraction is
 * <= max_density and whose CSR form is smaller than f32; other such weights
 * lose any CSR store they had (g->w is taken as the truth).  Weights with
 * another kind of store are left alone. */
mn_status mn_graph_sparsify(mn_graph *g, float max_density);

#ifdef __cplusplus
}
#endif
#endif
