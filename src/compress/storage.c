/* The table of storage kinds and the param <-> store plumbing. */
#include "minnow/storage.h"

#include <stdlib.h>
#include <string.h>

/* Each kind's traits live in its own file; a kind not built yet is NULL. */
extern const mn_store_traits mn_st_csr;
extern const mn_store_traits mn_st_codebook;
extern const mn_store_traits mn_st_affine;
extern const mn_store_traits mn_st_binary;
static const mn_store_traits *g_kinds[MN_ST__COUNT] = {
    [MN_ST_F32] = NULL,
    [MN_ST_BINARY] = &mn_st_binary,
    [MN_ST_CSR] = &mn_st_csr,
    [MN_ST_CODEBOOK] = &mn_st_codebook,
    [MN_ST_AFFINE] = &mn_st_affine,
};

const mn_store_traits *mn_store_traits_of(mn_storage_kind k) {
    return (k > 0 && k < MN_ST__COUNT) ? g_kinds[k] : NULL;
}

const char *mn_storage_name(mn_storage_kind k) {
    if (k == MN_ST_F32) return "f32";
    const mn_store_traits *t = mn_store_traits_of(k);
    return t ? t->name : "unknown";
}

void mn_store_free(mn_store *s) {
    if (!s) return;
    const mn_store_traits *t = mn_store_traits_of(s->kind);
    if (t && t->free) t->free(s);
    free(s);
}

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

mn_status mn_store_clone(const mn_store *s, mn_store **out) {
    const mn_store_traits *t = mn_store_traits_of(s->kind);
    if (!t) return mn_error(MN_EUNSUPPORTED, "storage kind %d is not available", (int)s->kind);
    unsigned char *buf;
    size_t len;
    mn_status st = t->serialize(s, &buf, &len);
    if (st) return st;
    mn_store *c = calloc(1, sizeof *c);
    if (!c) { free(buf); return mn_error(MN_ENOMEM, "out of memory"); }
    c->kind = s->kind;
    st = t->deserialize(buf, len, s->rows, s->cols, c);
    free(buf);
    if (st) { free(c); return st; }
    *out = c;
    return MN_OK;
}
