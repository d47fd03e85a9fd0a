/* Private to the pruning code: channel groups of a graph; graph surgery. */
#ifndef MINNOW_COMPRESS_PRUNE_IMPL_H
#define MINNOW_COMPRESS_PRUNE_IMPL_H
#include "minnow/graph.h"

/* Every node's output channels (features) belong to a group: a dense or
 * conv layer starts one; ops that keep channels apart (batch norm, relu,
 * pools, dropout, flatten) and a depthwise conv carry their input's; an
 * add merges its inputs' groups (their channels must stay aligned).  A
 * group is "bad" when its units cannot be removed: it holds the input or
 * the graph output, or feeds an op that mixes channels in another way
 * (softmax, a grouped conv that is not depthwise, binary layers).  A
 * concat starts a (bad) group of its own and maps its inputs' channels:
 * they stay removable unless the concat's channels are tied further (an
 * add with another producer, the output, a mixing op).
 * gid[node] is the group (0..ngroups-1). */
typedef struct mn_chgroups {
    int ngroups;
    int *gid;            /* per node */
    unsigned char *bad;  /* per group */
} mn_chgroups;

mn_status mn__chgroups(const mn_graph *g, mn_chgroups *cg);
void mn__chgroups_free(mn_chgroups *cg);
/* A conv whose every filter reads one input channel of its own. */
int mn__is_depthwise(const mn_graph *g, const mn_node *n);

/* out = g without the nodes marked in drop; a reference to a dropped node
 * goes to redirect[node] (followed until a kept node).  The kept nodes'
 * parameters, masks and compressed stores are copied, and the metadata
 * (prune_blocks.c; fold_bn.c). */
mn_status mn__graph_without(const mn_graph *g, const unsigned char *drop, const int *redirect, mn_graph *out);

/* Parameter q of out (finalized, the same shape) takes parameter p of g:
 * its values, whether it trains, its mask and a clone of its compressed
 * store (prune_blocks.c; graph rebuilds in fold_bn.c, slim.c, gate.c). */
mn_status mn__copy_param(const mn_graph *g, int p, mn_graph *out, int q);

#endif
