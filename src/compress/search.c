/* minnow search (minnow/search.h): a greedy, cost-aware allocation of
 * per-layer compression under a budget, each candidate scored as AMC does
 * (validation error of the compressed model, not fine-tuned). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/prune.h"
#include "minnow/recipe.h"
#include "minnow/search.h"
#include "minnow/train.h"

mn_status mn_search_init(const mn_graph *g, unsigned dims, mn_search_policy *p) {
    memset(p, 0, sizeof *p);
    if (!dims || dims & ~15u) return mn_error(MN_EARG, "search: no or unknown dimensions %#x", dims);
    if ((dims & MN_SEARCH_KMEANS) && (dims & MN_SEARCH_AFFINE))
        return mn_error(MN_EARG, "search: k-means sharing and affine bits exclude each other");
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        if ((n->op != MN_OP_DENSE && n->op != MN_OP_CONV) || n->np < 1) continue;
        int w = n->p[0];
        if (!mn_prune_selectable(g, w, MN_SEL_WEIGHTS)) continue;
        if (p->nlayers == MN_SEARCH_MAX_LAYERS)
            return mn_error(MN_EARG, "search: more than %d layers", MN_SEARCH_MAX_LAYERS);
        int l = p->nlayers++;
        snprintf(p->layer[l], MN_NAME_MAX, "%s", n->name);
        p->is_conv[l] = n->op == MN_OP_CONV;
        p->units_ok[l] = mn_prune_selectable(g, w, n->op == MN_OP_DENSE ? MN_SEL_NEURONS : MN_SEL_FILTERS);
        p->bits[l] = (dims & (MN_SEARCH_KMEANS | MN_SEARCH_AFFINE)) ? 8 : 0; /* the search starts from 8 bits */
    }
    if (!p->nlayers) return mn_error(MN_EARG, "search: the model has no dense or conv layer to compress");
    if (dims == MN_SEARCH_UNITS) {
        int any = 0;
        for (int l = 0; l < p->nlayers; l++) any |= p->units_ok[l];
        if (!any) return mn_error(MN_EARG, "search: no layer of the model can lose units (filters or neurons)");
    }
    return MN_OK;
}

/* ---- the policy as text ---------------------------------------------- */

typedef struct sb { char *p; size_t n, cap; int over; } sb;
static void put(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->n < b->cap ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0 || b->n + (size_t)k >= b->cap) b->over = 1;
    else b->n += (size_t)k;
}

/* "{fc1: 0.9, fc2: 0.8}" of the layers with a non-zero value; 0 if none. */
static int fmap(sb *b, const mn_search_policy *p, const float *v) {
    int k = 0;
    for (int l = 0; l < p->nlayers; l++) {
        if (v[l] <= 0) continue;
        put(b, "%s%s: %.6g", k++ ? ", " : "{", p->layer[l], v[l]);
    }
    if (k) put(b, "}");
    return k;
}

static void train_opts(sb *b, const mn_search_ft *ft, const char *ind) {
    if (ft->batch > 0) put(b, "%sbatch: %d\n", ind, ft->batch);
    if (ft->opt) put(b, "%sopt: %s\n", ind, ft->opt);
    if (ft->lr > 0) put(b, "%slr: %.6g\n", ind, ft->lr);
    if (ft->wd > 0) put(b, "%swd: %.6g\n", ind, ft->wd);
    if (ft->sched) put(b, "%ssched: %s\n", ind, ft->sched);
}

/* Units are removed by two passes: neurons of dense layers, filters of
 * conv layers. */
static void units_pass(sb *b, const mn_search_policy *p, int conv, const mn_search_ft *ft) {
    float v[MN_SEARCH_MAX_LAYERS];
    int any = 0;
    for (int l = 0; l < p->nlayers; l++) {
        v[l] = p->units_ok[l] && p->is_conv[l] == conv ? p->units[l] : 0;
        any |= v[l] > 0;
    }
    if (!any) return;
    put(b, "  - prune:\n      method: %s\n      sparsity: ", conv ? "filter" : "neuron");
    fmap(b, p, v);
    put(b, "\n      criterion: l1\n      finetune: %d\n", ft ? ft->finetune : 0);
    if (ft && ft->finetune) train_opts(b, ft, "      ");
}

mn_status mn_search_recipe(const mn_search_policy *p, unsigned dims, const mn_search_ft *ft,
                           const char *name, char *buf, size_t cap) {
    sb b = {buf, 0, cap, 0};
    if (cap) buf[0] = 0;
    put(&b, "name: %s\nseed: %llu\npasses:\n", name, (unsigned long long)(ft ? ft->seed : 1));
    int npass = 0;
    if (dims & MN_SEARCH_UNITS) {
        size_t at = b.n;
        units_pass(&b, p, 1, ft);
        units_pass(&b, p, 0, ft);
        npass += b.n != at;
    }
    if (dims & MN_SEARCH_PRUNE) {
        size_t at = b.n;
        put(&b, "  - prune:\n      method: magnitude\n      sparsity: ");
        if (fmap(&b, p, p->sparsity)) {
            int steps = ft && ft->steps > 1 ? ft->steps : 1;
            put(&b, "\n      steps: %d\n      finetune: %d\n", steps, ft ? ft->finetune : 0);
            if (ft && ft->finetune) train_opts(&b, ft, "      ");
            npass++;
        } else {
            b.n = at;
            buf[at] = 0;
        }
    }
    if (dims & MN_SEARCH_KMEANS) {
        put(&b, "  - quantize:\n      method: kmeans\n      bits: {");
        for (int l = 0; l < p->nlayers; l++) put(&b, "%s%s: %d", l ? ", " : "", p->layer[l], p->bits[l]);
        put(&b, "}\n      epochs: %d\n", ft ? ft->share_epochs : 0);
        if (ft && ft->share_epochs && ft->batch > 0) put(&b, "      batch: %d\n", ft->batch);
        put(&b, "  - encode:\n      huffman: true\n");
        npass += 2;
    }
    if (dims & MN_SEARCH_AFFINE) {
        put(&b, "  - quantize:\n      method: affine\n      bits: 8\n      layer-bits: \"");
        for (int l = 0; l < p->nlayers; l++) put(&b, "%s%s=%d", l ? "," : "", p->layer[l], p->bits[l]);
        put(&b, "\"\n");
        npass++;
    }
    if (!npass) /* the policy changes nothing: a pass that does nothing */
        put(&b, "  - prune:\n      method: magnitude\n      sparsity: 0\n      finetune: 0\n");
    if (b.over) return mn_error(MN_EARG, "search: the recipe does not fit in %zu bytes", cap);
    return MN_OK;
}

void mn_search_key(const mn_search_policy *p, unsigned dims, char *buf, size_t cap) {
    sb b = {buf, 0, cap, 0};
    if (cap) buf[0] = 0;
    for (int l = 0; l < p->nlayers; l++) {
        put(&b, "%s%s:", l ? " " : "", p->layer[l]);
        if (dims & MN_SEARCH_UNITS) put(&b, "u%.4g", p->units[l]);
        if (dims & MN_SEARCH_PRUNE) put(&b, "s%.4g", p->sparsity[l]);
        if (dims & (MN_SEARCH_KMEANS | MN_SEARCH_AFFINE)) put(&b, "b%d", p->bits[l]);
    }
}

mn_status mn_search_apply(mn_graph *g, const mn_search_policy *p, unsigned dims, const mn_search_ft *ft,
                          const mn_dataset *train, const mn_dataset *val) {
    const size_t cap = 16384;
    char *text = malloc(cap);
    mn_recipe *r = malloc(sizeof *r);
    mn_status st = text && r ? MN_OK : mn_error(MN_ENOMEM, "out of memory");
    if (!st) st = mn_search_recipe(p, dims, ft, "search", text, cap);
    if (!st) st = mn_recipe_parse(text, strlen(text), "search policy", r);
    if (!st) st = mn_recipe_check(g, r, train != NULL);
    if (!st) st = mn_recipe_run(g, r, train, val, NULL);
    free(text);
    free(r);
    return st;
}
