/* Pruning basics shared by every method: which layers may be pruned, the
 * per-layer target spec, and the exact score -> mask selection. */
#include "minnow/prune.h"
#include "compress/prune_impl.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* The node owning parameter p (-1 if none). */
static int owner_of(const mn_graph *g, int p) {
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < g->nodes[i].np; k++)
            if (g->nodes[i].p[k] == p) return i;
    return -1;
}

static int is_weight(const mn_graph *g, int p, int *node) {
    int i = owner_of(g, p);
    if (node) *node = i;
    if (i < 0) return 0;
    const mn_node *n = &g->nodes[i];
    return (n->op == MN_OP_DENSE || n->op == MN_OP_CONV) && n->np > 0 && n->p[0] == p;
}

/* Can the output units of node `start` be removed?  Its channel group
 * (prune_impl.h) must not hold the input or the output, nor feed an op that
 * mixes channels; a residual add ties the groups of its inputs, which then
 * lose the same units together. */
static int units_removable(const mn_graph *g, int start) {
    mn_chgroups cg;
    if (mn__chgroups(g, &cg)) return 0;
    int ok = !cg.bad[cg.gid[start]];
    mn__chgroups_free(&cg);
    return ok;
}

int mn_prune_selectable(const mn_graph *g, int p, mn_prune_sel sel) {
    int node;
    if (p < 0 || p >= g->nparams || !is_weight(g, p, &node)) return 0;
    const mn_node *n = &g->nodes[node];
    switch (sel) {
    case MN_SEL_WEIGHTS: return 1;
    case MN_SEL_NEURONS: return n->op == MN_OP_DENSE && units_removable(g, node);
    case MN_SEL_FILTERS: return n->op == MN_OP_CONV && n->a.groups <= 1 && units_removable(g, node);
    /* (a depthwise conv keeps its input's channels: it is pruned with them) */
    }
    return 0;
}

int mn_prune_is_output_layer(const mn_graph *g, int p) {
    int node;
    if (!is_weight(g, p, &node)) return 0;
    /* Walk back from the output through parameter-free nodes. */
    int cur = g->output;
    while (cur >= 0) {
        if (cur == node) return 1;
        const mn_node *n = &g->nodes[cur];
        if (n->op == MN_OP_DENSE || n->op == MN_OP_CONV || n->op == MN_OP_INPUT || n->nin != 1) return 0;
        cur = n->in[0];
    }
    return 0;
}

int64_t mn_param_nonzeros(const mn_graph *g, int p) {
    const float *w = mn_param_data(g, p);
    int64_t nz = 0;
    for (int64_t i = 0; i < g->params[p].n; i++) nz += w[i] != 0;
    return nz;
}

/* Finds a layer by node name or parameter name; -1 if none. */
static int find_layer(const mn_graph *g, const char *name) {
    int p = mn_graph_find_param(g, name);
    if (p >= 0) return p;
    int n = mn_graph_find_node(g, name);
    return n >= 0 && g->nodes[n].np > 0 ? g->nodes[n].p[0] : -1;
}

static mn_status parse_frac(const char *s, size_t len, float *out) {
    char buf[64];
    if (len == 0 || len >= sizeof buf) return mn_error(MN_EARG, "sparsity '%.*s' is not a number", (int)len, s);
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end || end == buf) return mn_error(MN_EARG, "sparsity '%s' is not a number", buf);
    if (!(v >= 0 && v < 1)) return mn_error(MN_EARG, "sparsity %s is outside [0, 1)", buf);
    *out = (float)v;
    return MN_OK;
}

mn_status mn_prune_parse_targets(const mn_graph *g, const char *spec,
                                 mn_prune_sel sel, float *t) {
    static const char *what[] = {"a dense/conv layer", "a dense hidden layer whose units can be removed",
                                 "a conv layer whose filters can be removed"};
    for (int p = 0; p < g->nparams; p++) t[p] = -1;
    if (!spec || !*spec) return mn_error(MN_EARG, "empty sparsity spec");
    int any = 0;
    const char *s = spec;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len && isspace((unsigned char)*s)) { s++; len--; }
        while (len && isspace((unsigned char)s[len - 1])) len--;
        const char *eq = memchr(s, '=', len);
        float v;
        mn_status st;
        if (!eq) { /* a default for every selectable layer not named */
            if ((st = parse_frac(s, len, &v))) return st;
            for (int p = 0; p < g->nparams; p++)
                if (mn_prune_selectable(g, p, sel) && t[p] == -1) t[p] = -2 - v; /* provisional */
        } else {
            char name[2 * MN_NAME_MAX];
            size_t nl = (size_t)(eq - s);
            if (nl == 0 || nl >= sizeof name) return mn_error(MN_EARG, "bad layer name in '%s'", spec);
            memcpy(name, s, nl);
            name[nl] = 0;
            if ((st = parse_frac(eq + 1, len - nl - 1, &v))) return st;
            int p = find_layer(g, name);
            if (p < 0) return mn_error(MN_EARG, "unknown layer '%s' in sparsity spec", name);
            if (!mn_prune_selectable(g, p, sel)) return mn_error(MN_EARG, "layer '%s' is not %s", name, what[sel]);
            t[p] = v;
        }
        any = 1;
        s += (e ? (size_t)(e - s) + 1 : strlen(s));
        if (e && !*s) return mn_error(MN_EARG, "sparsity spec '%s' ends with ','", spec);
    }
    if (!any) return mn_error(MN_EARG, "empty sparsity spec");
    /* Defaults were stored as -2 - v so that named layers, which may come
     * before or after the default, win. */
    int n = 0;
    for (int p = 0; p < g->nparams; p++) {
        if (t[p] <= -2) t[p] = -2 - t[p];
        n += t[p] >= 0;
    }
    if (n == 0) return mn_error(MN_EARG, "the model has no layer that can be pruned this way");
    return MN_OK;
}

/* ---- exact selection ----------------------------------------------------- */

typedef struct { float key; uint32_t pos; } cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->key < y->key) return -1;
    if (x->key > y->key) return 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Pruned already (masked or exactly zero) sorts first, NaN last. */
static float key_of(const mn_graph *g, int p, int64_t i, const float *scores) {
    const mn_param *pp = &g->params[p];
    float w = g->w[pp->off + i];
    if ((pp->mask && pp->mask[i] == 0) || w == 0) return -1;
    float s = scores ? scores[pp->off + i] : fabsf(w);
    return isfinite(s) ? (s < 0 ? 0 : s) : FLT_MAX;
}

/* Masks the first k of the pool (sorted) and unmasks nothing. */
static mn_status mask_pool(mn_graph *g, const int *ps, int np, int64_t k, const float *scores) {
    int64_t total = 0;
    for (int j = 0; j < np; j++) total += g->params[ps[j]].n;
    if (total > UINT32_MAX) return mn_error(MN_ENOMEM, "too many weights to prune at once");
    cand *c = malloc(sizeof(cand) * (size_t)(total ? total : 1));
    if (!c) return mn_error(MN_ENOMEM, "out of memory sorting %lld weights", (long long)total);
    int64_t at = 0;
    for (int j = 0; j < np; j++)
        for (int64_t i = 0; i < g->params[ps[j]].n; i++, at++)
            c[at] = (cand){key_of(g, ps[j], i, scores), (uint32_t)at};
    qsort(c, (size_t)total, sizeof(cand), cand_cmp);
    /* Every weight already pruned stays pruned, even beyond k. */
    int64_t cut = k;
    while (cut < total && c[cut].key < 0) cut++;
    for (int j = 0; j < np; j++)
        if (!mn_param_mask(g, ps[j])) { free(c); return mn_error(MN_ENOMEM, "out of memory"); }
    for (int64_t r = 0; r < cut; r++) {
        uint32_t pos = c[r].pos;
        int j = 0;
        while (pos >= g->params[ps[j]].n) pos -= (uint32_t)g->params[ps[j++]].n;
        g->params[ps[j]].mask[pos] = 0;
    }
    free(c);
    for (int j = 0; j < np; j++) {
        mn_param *pp = &g->params[ps[j]];
        float *w = g->w + pp->off;
        for (int64_t i = 0; i < pp->n; i++) w[i] *= pp->mask[i];
    }
    return MN_OK;
}

mn_status mn_prune_by_score(mn_graph *g, const float *t, mn_prune_scope scope,
                            float global, const float *scores) {
    int *ps = malloc(sizeof(int) * (size_t)(g->nparams ? g->nparams : 1)), np = 0;
    if (!ps) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    for (int p = 0; p < g->nparams; p++)
        if (t[p] >= 0) {
            if (!mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) { st = mn_error(MN_EARG, "'%s' is not a prunable weight", g->params[p].name); goto out; }
            if (scope == MN_SCOPE_LAYER && !(t[p] < 1)) { st = mn_error(MN_EARG, "sparsity %g for '%s' is outside [0, 1)", t[p], g->params[p].name); goto out; }
            ps[np++] = p;
        }
    if (scope == MN_SCOPE_GLOBAL && !(global >= 0 && global < 1)) { st = mn_error(MN_EARG, "sparsity %g is outside [0, 1)", global); goto out; }
    /* A sparsity that leaves fewer weights than output units (rows of a
     * dense weight, filters of a conv) must cut some unit off entirely:
     * `--sparsity 0.99999` removed every weight of a layer.  Refused. */
    int64_t pool = 0, units = 0;
    for (int j = 0; j < np && !st; j++) {
        const mn_param *pp = &g->params[ps[j]];
        int64_t rows = pp->shape.ndim > 1 ? pp->shape.d[0] : 1;
        pool += pp->n, units += rows;
        int64_t k = llround((double)t[ps[j]] * pp->n);
        if (scope == MN_SCOPE_LAYER && k > 0 && k > pp->n - rows)
            st = mn_error(MN_EARG, "sparsity %g would leave %s %lld of %lld weights, fewer than its %lld output units: "
                          "at most %.6g keeps one weight per unit", t[ps[j]], pp->name, (long long)(pp->n - k),
                          (long long)pp->n, (long long)rows, (double)(pp->n - rows) / (double)pp->n);
    }
    if (!st && scope == MN_SCOPE_GLOBAL && llround((double)global * pool) > pool - units)
        st = mn_error(MN_EARG, "sparsity %g would leave %lld of %lld weights, fewer than the %lld output units: at most "
                      "%.6g keeps one weight per unit", global, (long long)(pool - llround((double)global * pool)),
                      (long long)pool, (long long)units, (double)(pool - units) / (double)pool);
    if (st) goto out;
    /* The weights change, so compressed forms would go stale. */
    for (int j = 0; j < np; j++) mn_param_drop_store(g, ps[j]);
    if (scope == MN_SCOPE_GLOBAL) {
        int64_t total = 0;
        for (int j = 0; j < np; j++) total += g->params[ps[j]].n;
        st = mask_pool(g, ps, np, llround((double)global * total), scores);
    } else {
        for (int j = 0; j < np && !st; j++)
            st = mask_pool(g, ps + j, 1, llround((double)t[ps[j]] * g->params[ps[j]].n), scores);
    }
out:
    free(ps);
    return st;
}
