/* Low-rank factorisation of dense and conv nodes: SVD each chosen weight,
 * then rebuild the graph with each chosen node split in two. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/lowrank.h"
#include "store/store.h"

typedef struct {
    int node;            /* index in src */
    int r;               /* rank used */
    float *wa, *wb;      /* r x n and m x r */
} factor;

/* out = name + "_" + suffix, cut to fit (callers check the length first). */
static void name_ab(char *out, const char *name, char suffix) {
    size_t n = strlen(name);
    if (n > MN_NAME_MAX - 3) n = MN_NAME_MAX - 3;
    memcpy(out, name, n);
    out[n] = '_';
    out[n + 1] = suffix;
    out[n + 2] = 0;
}

/* Chooses the rank, fills the report and, when factorised, the factors. */
static mn_status split_one(const mn_graph *g, mn_lowrank_layer *L, factor *f) {
    int ni = mn_graph_find_node(g, L->name);
    if (ni < 0) return mn_error(MN_EARG, "no node named '%s'", L->name);
    const mn_node *nd = &g->nodes[ni];
    if (nd->op != MN_OP_DENSE && nd->op != MN_OP_CONV)
        return mn_error(MN_EARG, "'%s' is a %s node; only dense and conv nodes can be factorised", L->name, mn_op_name(nd->op));
    if (nd->op == MN_OP_CONV && nd->a.groups > 1)
        return mn_error(MN_EUNSUPPORTED, "'%s' is a grouped conv (groups %d); only groups 1 can be factorised", L->name, nd->a.groups);
    if (strlen(L->name) + 2 >= MN_NAME_MAX)
        return mn_error(MN_EARG, "node name '%s' is too long to add the _a/_b suffixes", L->name);
    char na[MN_NAME_MAX], nb[MN_NAME_MAX];
    name_ab(na, L->name, 'a');
    name_ab(nb, L->name, 'b');
    if (mn_graph_find_node(g, na) >= 0 || mn_graph_find_node(g, nb) >= 0)
        return mn_error(MN_EARG, "cannot factorise '%s': a node named '%s' or '%s' exists", L->name, na, nb);
    if (L->rank <= 0 && !(L->energy > 0 && L->energy <= 1))
        return mn_error(MN_EARG, "'%s': give a rank > 0 or an energy in (0, 1]", L->name);
    int m, n;
    mn_param_matrix(g, nd->p[0], &m, &n);
    int p = m < n ? m : n;
    L->rows = m;
    L->cols = n;
    L->full_rank = p;
    float *s = malloc(sizeof(float) * p), *u = malloc(sizeof(float) * m * p), *vt = malloc(sizeof(float) * p * n);
    mn_status st = MN_OK;
    if (!s || !u || !vt) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    if ((st = mn_svd(mn_param_data(g, nd->p[0]), m, n, s, u, vt))) goto out;
    int r = L->rank > 0 ? (L->rank < p ? L->rank : p) : mn_rank_for_energy(s, p, L->energy);
    double tot = 0, kept = 0;
    for (int i = 0; i < p; i++) {
        tot += (double)s[i] * s[i];
        if (i < r) kept += (double)s[i] * s[i];
    }
    L->rank = r;
    L->kept_energy = tot > 0 ? kept / tot : 1;
    L->rel_error = tot > 0 ? sqrt(fmax(tot - kept, 0) / tot) : 0;
    L->params_before = (int64_t)m * n + m;
    L->params_after = (int64_t)r * n + r + (int64_t)m * r + m;
    L->factorized = !(L->only_if_smaller && L->params_after >= L->params_before);
    if (!L->factorized) { L->params_after = L->params_before; goto out; }
    f->node = ni;
    f->r = r;
    f->wa = malloc(sizeof(float) * r * n);
    f->wb = malloc(sizeof(float) * m * r);
    if (!f->wa || !f->wb) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    /* W = (U_r S_r) V_r^T: the first layer projects onto the top right
     * singular vectors, the second maps back with the scaled left ones. */
    memcpy(f->wa, vt, sizeof(float) * r * n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < r; j++) f->wb[(int64_t)i * r + j] = u[(int64_t)i * p + j] * s[j];
out:
    free(s); free(u); free(vt);
    return st;
}

static const factor *factor_of(const factor *fs, int nf, int node) {
    for (int i = 0; i < nf; i++)
        if (fs[i].node == node) return &fs[i];
    return NULL;
}

static mn_status add_nodes(const mn_graph *src, const factor *fs, int nf, mn_graph *dst) {
    for (int i = 0; i < src->nnodes; i++) {
        const mn_node *nd = &src->nodes[i];
        char inb[MN_MAX_IN][MN_NAME_MAX];
        const char *in[MN_MAX_IN];
        for (int k = 0; k < nd->nin; k++) {
            /* Whoever read a factorised node now reads its second half. */
            if (factor_of(fs, nf, nd->in[k])) name_ab(inb[k], nd->in_names[k], 'b');
            else snprintf(inb[k], MN_NAME_MAX, "%s", nd->in_names[k]);
            in[k] = inb[k];
        }
        const factor *f = factor_of(fs, nf, i);
        if (!f) {
            if (mn_graph_add(dst, nd->op, nd->name, in, nd->nin, &nd->a) < 0) return MN_EARG;
            continue;
        }
        char na[MN_NAME_MAX], nb[MN_NAME_MAX];
        name_ab(na, nd->name, 'a');
        name_ab(nb, nd->name, 'b');
        mn_attrs a = nd->a, b = nd->a;
        const char *pa = na;
        if (nd->op == MN_OP_DENSE) {
            a.units = f->r;
        } else {
            a.filters = f->r;
            a.groups = 1;
            b.k = 1; b.stride = 1; b.pad = 0; b.groups = 1;
        }
        if (mn_graph_add(dst, nd->op, na, in, nd->nin, &a) < 0) return MN_EARG;
        if (mn_graph_add(dst, nd->op, nb, &pa, 1, &b) < 0) return MN_EARG;
    }
    return MN_OK;
}

static mn_status copy_param(const mn_graph *src, int ps, mn_graph *dst, int pd) {
    const mn_param *a = &src->params[ps];
    mn_param *b = &dst->params[pd];
    if (a->n != b->n) return mn_error(MN_ESHAPE, "parameter '%s' changed size", a->name);
    memcpy(mn_param_data(dst, pd), mn_param_data(src, ps), sizeof(float) * a->n);
    if (a->mask) {
        float *m = mn_param_mask(dst, pd);
        if (!m) return mn_error(MN_ENOMEM, "out of memory");
        memcpy(m, a->mask, sizeof(float) * a->n);
    }
    if (a->store) return mn_store_clone(a->store, &b->store);
    return MN_OK;
}

static mn_status fill_params(const mn_graph *src, const factor *fs, int nf, mn_graph *dst) {
    mn_status st;
    for (int i = 0; i < src->nnodes; i++) {
        const mn_node *nd = &src->nodes[i];
        const factor *f = factor_of(fs, nf, i);
        if (!f) {
            int di = mn_graph_find_node(dst, nd->name);
            for (int k = 0; k < nd->np; k++)
                if ((st = copy_param(src, nd->p[k], dst, dst->nodes[di].p[k]))) return st;
            continue;
        }
        char na[MN_NAME_MAX], nb[MN_NAME_MAX];
        name_ab(na, nd->name, 'a');
        name_ab(nb, nd->name, 'b');
        const mn_node *A = &dst->nodes[mn_graph_find_node(dst, na)];
        const mn_node *B = &dst->nodes[mn_graph_find_node(dst, nb)];
        memcpy(mn_param_data(dst, A->p[0]), f->wa, sizeof(float) * dst->params[A->p[0]].n);
        memcpy(mn_param_data(dst, B->p[0]), f->wb, sizeof(float) * dst->params[B->p[0]].n);
        /* X_a's bias is redundant (X_b's absorbs it): zero, pinned by a mask. */
        float *ba = mn_param_data(dst, A->p[1]), *mask = mn_param_mask(dst, A->p[1]);
        if (!mask) return mn_error(MN_ENOMEM, "out of memory");
        for (int64_t k = 0; k < dst->params[A->p[1]].n; k++) ba[k] = mask[k] = 0;
        if ((st = copy_param(src, nd->p[1], dst, B->p[1]))) return st;
    }
    return MN_OK;
}

static void set_meta(const mn_graph *src, mn_graph *dst, const mn_lowrank_layer *ls, int nl) {
    dst->nmeta = src->nmeta;
    memcpy(dst->meta, src->meta, sizeof src->meta);
    char buf[128] = "";
    const char *prev = mn_graph_get_meta(src, "lowrank");
    if (prev) snprintf(buf, sizeof buf, "%s", prev);
    for (int i = 0; i < nl; i++) {
        if (!ls[i].factorized) continue;
        size_t len = strlen(buf);
        int w = snprintf(buf + len, sizeof buf - len, "%s%s=%d", len ? "," : "", ls[i].name, ls[i].rank);
        if (w < 0 || (size_t)w >= sizeof buf - len) { buf[len] = 0; break; } /* keep what fits */
    }
    if (buf[0]) mn_graph_set_meta(dst, "lowrank", buf);
}

mn_status mn_factorize(const mn_graph *src, mn_lowrank_layer *layers, int nlayers,
                       mn_graph *dst) {
    mn_graph_init(dst);
    if (!src->finalized) return mn_error(MN_EARG, "model is not finalized");
    if (nlayers < 0 || (nlayers > 0 && !layers)) return mn_error(MN_EARG, "bad layer list");
    for (int i = 0; i < nlayers; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(layers[i].name, layers[j].name) == 0)
                return mn_error(MN_EARG, "layer '%s' is listed twice", layers[i].name);
    factor *fs = calloc(nlayers > 0 ? nlayers : 1, sizeof *fs);
    if (!fs) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    int nf = 0;
    for (int i = 0; i < nlayers && !st; i++) {
        layers[i].factorized = 0;
        st = split_one(src, &layers[i], &fs[nf]);
        if (!st && layers[i].factorized) nf++;
    }
    if (!st) st = add_nodes(src, fs, nf, dst);
    if (!st) st = mn_graph_finalize(dst);
    if (!st) st = fill_params(src, fs, nf, dst);
    if (!st) {
        set_meta(src, dst, layers, nlayers);
        dst->rng = src->rng;
    }
    for (int i = 0; i <= nf && i < (nlayers > 0 ? nlayers : 1); i++) { free(fs[i].wa); free(fs[i].wb); }
    free(fs);
    if (st) mn_graph_free(dst);
    return st;
}
