/* minnow slim: slimmable networks (Yu et al., ICLR 2019, arXiv 1812.08928).
 *
 * One set of weights runs at several widths: at width w every hidden layer
 * keeps its first ceil(w * units) units (filters, features), and the layers
 * it feeds read only those.  Batch norm is switchable: each width has its
 * own statistics and affine parameters (op sbn, one row per width).  The
 * input and the output layer keep their size, and so do the layers whose
 * units cannot be cut apart (channels mixed by concat, grouped convs, ...;
 * the channel groups of structured pruning, src/compress/prune_groups.c).
 *
 * A slimmable model is an ordinary graph whose batch norms are sbn nodes
 * and whose metadata "widths" lists the widths, ascending, the last 1.  Run
 * as it is, it is the full width.  mn_slim_select cuts out the plain model
 * of one width: nothing of the unused units is stored or computed. */
#ifndef MINNOW_SLIM_H
#define MINNOW_SLIM_H
#include "minnow/train.h"
#ifdef __cplusplus
extern "C" {
#endif

#define MN_SLIM_MAX MN_SLOTS_MAX

/* Parses "0.25,0.5,0.75,1": ascending, each in (0, 1], at most
 * MN_SLIM_MAX; *n gets the count. */
mn_status mn_slim_parse(const char *s, float *widths, int *n);

/* The model's widths (from its metadata, checked against its sbn nodes):
 * their count, 0 for a plain model, -1 (message set) if inconsistent. */
int mn_slim_widths(const mn_graph *g, float *widths);

/* A slimmable copy of plain model g (out initialised here): every
 * batchnorm becomes an sbn whose rows all start as g's values.  widths
 * ascending, the last 1.  Compressed stores are refused. */
mn_status mn_slim_make(const mn_graph *g, const float *widths, int n, mn_graph *out);

/* Units a layer of `units` keeps at width w: ceil(w * units), at least 1. */
int mn_slim_units(int units, float w);

/* The plain model of width w (out initialised here): for a slimmable g,
 * one of its widths (its batch norm rows); for a plain g, any w in (0, 1]
 * (the narrower network with g's first units).  Metadata is carried, with
 * "widths" dropped and "width" set. */
mn_status mn_slim_select(const mn_graph *g, float w, mn_graph *out);

/* Trains slimmable g (Yu et al.'s Algorithm 1): every step runs the batch
 * at each width, sums the widths' losses, and takes one optimizer step on
 * the shared weights (and each width's batch norm row).  The loss reported
 * is that sum; accuracy and val are the full width's.  c->loss, if set,
 * is the full width's loss (the narrower ones use cross-entropy). */
mn_status mn_slim_train(mn_graph *g, const mn_dataset *train, const mn_dataset *val, const mn_train_cfg *c);

#ifdef __cplusplus
}
#endif
#endif
