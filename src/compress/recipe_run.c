/* Running a recipe's passes, and the Deep Compression table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/pass.h"
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

int mn_recipe_needs_train(const mn_recipe *r) {
    int any = 0;
    for (int i = 0; i < r->npasses && !any; i++) {
        mn_pass p;
        if (mn_recipe_pass_make(&r->pass[i], &p)) return 1; /* the run will say what is wrong */
        any = mn_pass_needs_train(&p);
        mn_pass_free(&p);
    }
    return any;
}

static mn_status check(const mn_graph *g, const mn_recipe *r, int have_train, int have_val) {
    mn_pass_state s = {0, 0};
    for (int i = 0; i < g->nparams; i++) s.codebooks |= g->params[i].store && g->params[i].store->kind == MN_ST_CODEBOOK;
    mn_status st = MN_OK;
    for (int i = 0; i < r->npasses && !st; i++) {
        const mn_recipe_pass *rp = &r->pass[i];
        mn_pass p;
        if ((st = mn_recipe_pass_make(rp, &p))) break;
        if (mn_pass_needs_train(&p) && !have_train)
            st = mn_error(MN_EARG, "line %d: %s (%s%s) needs training data", rp->line, mn_pass_name(rp->kind),
                          rp->method[0] ? rp->method : mn_pass_name(rp->kind), mn_pass_given(&p, "finetune") ? ", finetune" : "");
        else if (mn_pass_needs_val(&p) && !have_val)
            st = mn_error(MN_EARG, "line %d: %s (%s) needs validation data", rp->line, mn_pass_name(rp->kind), rp->method);
        else if (mn_pass_check(&p, g, &s))
            st = at_line(MN_EARG, rp);
        mn_pass_free(&p);
    }
    return st;
}

mn_status mn_recipe_check(const mn_graph *g, const mn_recipe *r, int have_train) {
    return check(g, r, have_train, 1);
}

mn_status mn_recipe_run(mn_graph *g, const mn_recipe *r, const mn_dataset *train, const mn_dataset *val,
                        const mn_recipe_hooks *h) {
    /* Everything that can be checked before the (long) run is. */
    mn_status st0 = check(g, r, train != NULL, val != NULL);
    if (st0) return st0;
    mn_pass_env env;
    memset(&env, 0, sizeof env);
    env.train = train;
    env.val = val;
    env.seed = r->seed;
    env.on_progress = h ? h->on_progress : NULL;
    env.on_epoch = h ? h->on_epoch : NULL;
    env.ud = h ? h->ud : NULL;
    /* distill passes learn from the model as it came */
    mn_graph teacher;
    mn_graph *tp = &teacher;
    int have_teacher = 0;
    for (int i = 0; i < r->npasses && !have_teacher; i++)
        if (r->pass[i].kind == MN_PASS_DISTILL) {
            if ((st0 = mn_graph_clone(g, &teacher))) return st0;
            have_teacher = 1;
            env.teachers = &tp;
            env.nteachers = 1;
        }
    mn_status st = MN_OK;
    for (int i = 0; i < r->npasses && !st; i++) {
        const mn_recipe_pass *rp = &r->pass[i];
        if (h && h->on_pass) h->on_pass(h->ud, i, rp);
        mn_pass p;
        if ((st = mn_recipe_pass_make(rp, &p))) break;
        st = mn_pass_run(&p, g, &env);
        mn_pass_free(&p);
        if (st == MN_EARG) st = at_line(st, rp);
        if (st) break;
        float e = -1;
        if (val) {
            mn_eval_result er;
            if ((st = mn_eval(g, val, 250, &er))) break;
            e = er.error;
        }
        if (h && h->on_pass_done) h->on_pass_done(h->ud, i, rp, g, e);
    }
    if (have_teacher) mn_graph_free(&teacher);
    /* Pruned layers that no pass shared are kept sparse (CSR) where that is
     * smaller; codebook stores are left alone. */
    return st ? st : mn_graph_sparsify(g, MN_SPARSE_DEFAULT_DENSITY);
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
