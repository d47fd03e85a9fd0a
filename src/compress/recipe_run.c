/* Running a recipe's passes, and the Deep Compression table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/cluster.h"
#include "minnow/prune.h"
#include "minnow/recipe.h"
#include "minnow/sparse.h"
#include "store/store.h"
#include "store/codebook.h"

/* Re-tags the last message with the recipe line it came from. */
static mn_status at_line(mn_status st, const mn_recipe_pass *p) {
    char m[400];
    snprintf(m, sizeof m, "%s", mn_errmsg()); /* mn_error overwrites it */
    return mn_error(st, "line %d: %s: %s", p->line, mn_pass_name(p->kind), m);
}

static int needs_train(const mn_recipe_pass *p) {
    return p->kind != MN_PASS_ENCODE && (p->finetune > 0 || (p->kind == MN_PASS_PRUNE && strcmp(p->method, "magnitude")));
}

mn_status mn_recipe_check(const mn_graph *g, const mn_recipe *r, int have_train) {
    int codebooks = 0;
    for (int i = 0; i < g->nparams; i++) codebooks |= g->params[i].store && g->params[i].store->kind == MN_ST_CODEBOOK;
    float *t = malloc(sizeof(float) * (size_t)(g->nparams + 1));
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    for (int i = 0; i < r->npasses && !st; i++) {
        const mn_recipe_pass *p = &r->pass[i];
        if (needs_train(p) && !have_train)
            st = mn_error(MN_EARG, "line %d: %s (%s%s) needs training data", p->line, mn_pass_name(p->kind), p->method,
                          p->finetune ? ", finetune" : "");
        else if (p->kind == MN_PASS_PRUNE && !p->global && mn_prune_parse_targets(g, p->spec, MN_SEL_WEIGHTS, t))
            st = at_line(MN_EARG, p);
        else if (p->kind == MN_PASS_QUANTIZE && mn_kmeans_check_spec(g, p->spec[0] ? p->spec : NULL))
            st = at_line(MN_EARG, p);
        else if (p->kind == MN_PASS_ENCODE && !codebooks)
            st = mn_error(MN_EARG, "line %d: encode: the model has no codebook layers (a quantize pass must come first)", p->line);
        if (p->kind == MN_PASS_QUANTIZE) codebooks = 1;
        if (p->kind == MN_PASS_PRUNE) codebooks = 0; /* pruning drops stores */
    }
    free(t);
    return st;
}

static mn_status run_prune(mn_graph *g, const mn_recipe *r, const mn_recipe_pass *p, const mn_dataset *train,
                           const mn_dataset *val, const mn_recipe_hooks *h) {
    float *t = malloc(sizeof(float) * (size_t)(g->nparams + 1));
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    float gl = 0;
    if (p->global) {
        gl = strtof(p->spec, NULL);
        for (int i = 0; i < g->nparams; i++) t[i] = mn_prune_selectable(g, i, MN_SEL_WEIGHTS) ? 0 : -1;
    } else if ((st = mn_prune_parse_targets(g, p->spec, MN_SEL_WEIGHTS, t))) {
        st = at_line(st, p);
    }
    if (!st) {
        mn_prune_cfg pc;
        mn_prune_cfg_default(&pc);
        pc.score = !strcmp(p->method, "snip") ? MN_SCORE_SNIP : !strcmp(p->method, "obd") ? MN_SCORE_OBD : MN_SCORE_MAGNITUDE;
        pc.scope = p->global ? MN_SCOPE_GLOBAL : MN_SCOPE_LAYER;
        pc.target = t;
        pc.global = gl;
        pc.steps = p->steps;
        mn_train_default(&pc.ft);
        pc.ft.epochs = p->finetune;
        pc.ft.batch = p->batch;
        pc.ft.seed = r->seed;
        if (p->lr >= 0) pc.ft.opt.lr = p->lr;
        pc.ft.on_progress = h ? h->on_progress : NULL;
        pc.ft.on_epoch = h ? h->on_epoch : NULL;
        pc.ft.ud = h ? h->ud : NULL;
        st = mn_prune_iterative(g, train, val, &pc);
    }
    free(t);
    return st;
}

static mn_status run_quantize(mn_graph *g, const mn_recipe *r, const mn_recipe_pass *p, const mn_dataset *train,
                              const mn_dataset *val, const mn_recipe_hooks *h) {
    mn_kmeans_cfg kc;
    mn_kmeans_default(&kc);
    kc.bits = p->bits;
    kc.layer_bits = p->spec[0] ? p->spec : NULL;
    kc.iters = p->iters;
    kc.epochs = p->finetune;
    kc.batch = p->batch;
    kc.seed = r->seed;
    if (p->lr >= 0) kc.lr = p->lr;
    if (p->bias_lr >= 0) kc.bias_lr = p->bias_lr;
    kc.on_progress = h ? h->on_progress : NULL;
    kc.on_epoch = h ? h->on_epoch : NULL;
    kc.ud = h ? h->ud : NULL;
    mn_status st = mn_quantize_kmeans(g, &kc, train, val);
    return st == MN_EARG ? at_line(st, p) : st;
}

mn_status mn_recipe_run(mn_graph *g, const mn_recipe *r, const mn_dataset *train, const mn_dataset *val,
                        const mn_recipe_hooks *h) {
    /* Everything that can be checked before the (long) run is. */
    mn_status st0 = mn_recipe_check(g, r, train != NULL);
    if (st0) return st0;
    for (int i = 0; i < r->npasses; i++) {
        const mn_recipe_pass *p = &r->pass[i];
        if (h && h->on_pass) h->on_pass(h->ud, i, p);
        mn_status st;
        if (p->kind == MN_PASS_PRUNE) st = run_prune(g, r, p, train, val, h);
        else if (p->kind == MN_PASS_QUANTIZE) st = run_quantize(g, r, p, train, val, h);
        else {
            int n = 0;
            st = mn_graph_codebook_huffman(g, p->huffman, &n);
            if (!st && n == 0) st = mn_error(MN_EARG, "line %d: encode: the model has no codebook layers (a quantize pass must come first)", p->line);
        }
        if (st) return st;
        float e = -1;
        if (val) {
            mn_eval_result er;
            if ((st = mn_eval(g, val, 250, &er))) return st;
            e = er.error;
        }
        if (h && h->on_pass_done) h->on_pass_done(h->ud, i, p, g, e);
    }
    /* Pruned layers that no pass shared are kept sparse (CSR) where that is
     * smaller; codebook stores are left alone. */
    return mn_graph_sparsify(g, MN_SPARSE_DEFAULT_DENSITY);
}

int mn_dc_table(const mn_graph *g, mn_dc_row *rows, int max) {
    int n = 0;
    for (int i = 0; i < g->nnodes && n < max; i++) {
        const mn_node *nd = &g->nodes[i];
        if (nd->op != MN_OP_DENSE && nd->op != MN_OP_CONV) continue;
        mn_dc_row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", nd->name);
        int p = nd->p[0];
        const float *w = mn_param_data(g, p);
        r->weights = g->params[p].n;
        for (int64_t j = 0; j < r->weights; j++) r->nonzero += w[j] != 0;
        const mn_store *s = g->params[p].store;
        r->storage = mn_storage_name(s ? s->kind : MN_ST_F32);
        mn_codebook_info ci;
        if (s && s->kind == MN_ST_CODEBOOK && mn_codebook_info_of(s, &ci) == MN_OK && ci.entries) {
            r->bits = ci.bits;
            r->index_bits = 8.0 * (double)ci.index_bytes / (double)ci.entries;
            r->gap_bits = 8.0 * (double)ci.gap_bytes / (double)ci.entries;
        }
        r->weight_bytes = mn_param_file_bytes(g, p);
        for (int k = 0; k < nd->np; k++) r->bytes += mn_param_file_bytes(g, nd->p[k]);
    }
    return n;
}
