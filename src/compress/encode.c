/* Huffman coding of a model's codebook stores (Deep Compression's last
 * stage), as a pass over the graph. */
#include "minnow/cluster.h"

#include "nn/param_store.h"
#include "store/codebook.h"

mn_status mn_graph_codebook_huffman(mn_graph *g, int huffman, int *nstores) {
    int n = 0;
    for (int p = 0; p < g->nparams; p++) {
        const mn_store *s = g->params[p].store;
        if (!s || s->kind != MN_ST_CODEBOOK) continue;
        mn_store *ns = NULL;
        mn_status st = mn_codebook_recode(s, huffman, &ns);
        if (!st) st = mn_param_set_store(g, p, ns);
        if (st) { mn_store_free(ns); return st; }
        n++;
    }
    if (nstores) *nstores = n;
    return MN_OK;
}
