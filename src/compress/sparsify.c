/* mn_graph_sparsify: store each pruned dense/conv weight as CSR where
 * that is both sparse enough to run faster and smaller than f32. */
#include "minnow/sparse.h"

#include <stdio.h>
#include <string.h>

#include "nn/param_store.h"
#include "store/csr.h"

static int is_weight(const mn_graph *g, const mn_node *n) {
    if ((n->op != MN_OP_DENSE && n->op != MN_OP_CONV) || n->np < 1) return 0;
    const char *nm = g->params[n->p[0]].name;
    size_t l = strlen(nm);
    return l >= 7 && strcmp(nm + l - 7, ".weight") == 0;
}

mn_status mn_graph_sparsify(mn_graph *g, float max_density) {
    if (!(max_density >= 0 && max_density <= 1))
        return mn_error(MN_EARG, "sparsify: max density %g is outside [0, 1]", (double)max_density);
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        if (!is_weight(g, n)) continue;
        int p = n->p[0];
        const mn_store *old = g->params[p].store;
        if (old && old->kind != MN_ST_CSR) continue;
        int rows, cols;
        mn_param_matrix(g, p, &rows, &cols);
        const float *w = mn_param_data(g, p);
        int64_t nz = 0, total = g->params[p].n;
        for (int64_t k = 0; k < total; k++) nz += w[k] != 0;
        if ((double)nz > (double)max_density * (double)total ||
            mn_csr_file_bytes(w, rows, cols) >= (size_t)total * 4) {
            mn_param_drop_store(g, p);
            continue;
        }
        mn_store *s;
        mn_status st = mn_csr_from_dense(w, rows, cols, &s);
        if (st) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", mn_errmsg());
            return mn_error(st, "sparsify '%s': %s", g->params[p].name, msg);
        }
        if ((st = mn_param_set_store(g, p, s))) { mn_store_free(s); return st; }
    }
    return MN_OK;
}
