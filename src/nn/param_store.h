/* Private: attaching a store (src/store) to a graph parameter. */
#ifndef MINNOW_NN_PARAM_STORE_H
#define MINNOW_NN_PARAM_STORE_H

#include "minnow/graph.h"
#include "store/store.h"

/* Attaches s (ownership moves to the graph) to parameter p and rewrites
 * g->w for p with the decoded values; frees any previous store. */
mn_status mn_param_set_store(mn_graph *g, int p, mn_store *s);

#endif
