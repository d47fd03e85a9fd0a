/* Channel groups (prune_impl.h): which layers' units can be removed, and
 * which must lose the same ones (the producers of a residual add). */
#include <stdlib.h>

#include "compress/prune_impl.h"

int mn__is_depthwise(const mn_graph *g, const mn_node *n) {
    if (n->op != MN_OP_CONV || n->nin != 1) return 0;
    int cin = g->nodes[n->in[0]].out.d[0];
    return n->a.groups > 1 && n->a.groups == cin && n->a.filters == cin;
}

static int find(int *up, int x) {
    while (up[x] != x) x = up[x] = up[up[x]];
    return x;
}

mn_status mn__chgroups(const mn_graph *g, mn_chgroups *cg) {
    int N = g->nnodes;
    cg->ngroups = 0;
    cg->gid = malloc(sizeof(int) * (size_t)N);
    int *up = malloc(sizeof(int) * (size_t)N), *root_id = malloc(sizeof(int) * (size_t)N);
    unsigned char *bad = calloc((size_t)N, 1);
    cg->bad = calloc((size_t)N, 1);
    if (!cg->gid || !up || !root_id || !bad || !cg->bad) {
        free(up), free(root_id), free(bad), mn__chgroups_free(cg);
        return mn_error(MN_ENOMEM, "out of memory");
    }
    /* Nodes are in topological order: a node's inputs have their sets. */
    for (int i = 0; i < N; i++) {
        const mn_node *n = &g->nodes[i];
        up[i] = i;
        switch (n->op) {
        case MN_OP_INPUT: bad[i] = 1; break;
        case MN_OP_DENSE: break;
        case MN_OP_CONV:
            if (mn__is_depthwise(g, n)) up[i] = find(up, n->in[0]);
            else if (n->a.groups > 1) bad[find(up, n->in[0])] = bad[i] = 1;
            break;
        case MN_OP_RELU: case MN_OP_TANH: case MN_OP_DROPOUT: case MN_OP_MAXPOOL:
        case MN_OP_AVGPOOL: case MN_OP_BATCHNORM: case MN_OP_FLATTEN:
            up[i] = find(up, n->in[0]);
            break;
        case MN_OP_ADD:
            up[i] = find(up, n->in[0]);
            for (int k = 1; k < n->nin; k++) {
                int a = find(up, up[i]), b = find(up, n->in[k]);
                if (a != b) { up[b] = a; bad[a] |= bad[b]; }
            }
            break;
        case MN_OP_CONCAT: break; /* a set of its own; its inputs keep theirs (below) */
        default: /* softmax, sign, binary layers: channels mix */
            for (int k = 0; k < n->nin; k++) bad[find(up, n->in[k])] = 1;
            bad[i] = 1;
        }
    }
    if (g->output >= 0) bad[find(up, g->output)] = 1;
    /* A concat maps its inputs' channels to ranges of its own, so their
     * units can go (remove_units cuts the same channels out of it) unless
     * its channels are tied to something else: an add with another
     * producer, the output, an op that mixes them.  Then its inputs are
     * stuck too, and so on through concats of concats. */
    unsigned char *layer = calloc((size_t)N, 1);
    if (!layer) {
        free(up), free(root_id), free(bad), mn__chgroups_free(cg);
        return mn_error(MN_ENOMEM, "out of memory");
    }
    for (int i = 0; i < N; i++)
        if ((g->nodes[i].op == MN_OP_DENSE || g->nodes[i].op == MN_OP_CONV) && !mn__is_depthwise(g, &g->nodes[i]))
            layer[find(up, i)] = 1;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < N; i++) {
            const mn_node *n = &g->nodes[i];
            if (n->op != MN_OP_CONCAT || !(bad[find(up, i)] || layer[find(up, i)])) continue;
            for (int k = 0; k < n->nin; k++)
                if (!bad[find(up, n->in[k])]) bad[find(up, n->in[k])] = 1, changed = 1;
        }
    }
    for (int i = 0; i < N; i++) /* no weights of its own to choose by */
        if (g->nodes[i].op == MN_OP_CONCAT) bad[find(up, i)] = 1;
    free(layer);
    for (int i = 0; i < N; i++) root_id[i] = -1;
    for (int i = 0; i < N; i++) {
        int r = find(up, i);
        if (root_id[r] < 0) {
            root_id[r] = cg->ngroups++;
            cg->bad[root_id[r]] = 0;
        }
        cg->gid[i] = root_id[r];
    }
    for (int i = 0; i < N; i++)
        if (bad[i]) cg->bad[cg->gid[i]] = 1;
    free(up);
    free(root_id);
    free(bad);
    return MN_OK;
}

void mn__chgroups_free(mn_chgroups *cg) {
    free(cg->gid);
    free(cg->bad);
    cg->gid = NULL;
    cg->bad = NULL;
    cg->ngroups = 0;
}
