/* A parameter's storage: attaching, dropping and sizing the compressed
 * form a weight carries (src/store), from the graph's side. */
#include "nn/param_store.h"

#include <stdlib.h>

void mn_param_matrix(const mn_graph *g, int p, int *rows, int *cols) {
    const mn_param *pp = &g->params[p];
    *rows = pp->shape.d[0];
    *cols = (int)(pp->n / pp->shape.d[0]);
}

mn_status mn_param_set_store(mn_graph *g, int p, mn_store *s) {
    int rows, cols;
    mn_param_matrix(g, p, &rows, &cols);
    const mn_store_traits *t = mn_store_traits_of(s->kind);
    if (!t) return mn_error(MN_EUNSUPPORTED, "storage kind %d is not available", (int)s->kind);
    if (s->rows != rows || s->cols != cols)
        return mn_error(MN_ESHAPE, "store for '%s' is %dx%d, weight is %dx%d", g->params[p].name, s->rows, s->cols, rows, cols);
    mn_store_free(g->params[p].store);
    g->params[p].store = s;
    t->decode(s, mn_param_data(g, p));
    return MN_OK;
}

void mn_param_drop_store(mn_graph *g, int p) {
    mn_store_free(g->params[p].store);
    g->params[p].store = NULL;
}

void mn_graph_drop_stores(mn_graph *g) {
    for (int i = 0; i < g->nparams; i++) mn_param_drop_store(g, i);
}

size_t mn_param_file_bytes(const mn_graph *g, int p) {
    const mn_store *s = g->params[p].store;
    const mn_store_traits *t = s ? mn_store_traits_of(s->kind) : NULL;
    return t ? t->bytes(s) : (size_t)g->params[p].n * 4;
}


const char *mn_param_storage(const mn_graph *g, int p) {
    const mn_store *s = g->params[p].store;
    return mn_storage_name(s ? s->kind : MN_ST_F32);
}
