/* Refusals instead of silently wrong results (docs/HARDENING.md, "silently
 * wrong results"): training that would train nothing, labels that would make
 * a nonsense classifier, a compression verb that did nothing, undid an
 * earlier compression or grew a compressed layer. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/io.h"
#include "store/store.h"

void cli_check_train_cfg(const mn_train_cfg *c) {
    if (c->epochs == 0) cli_die("--epochs 0 trains nothing: the model would be written untrained (give 1 or more)");
    if (!(c->opt.lr > 0)) cli_die("--lr 0 leaves every weight as initialised: the model would be untrained");
}

int64_t cli_trainable_params(const mn_graph *g) {
    int64_t n = 0;
    for (int i = 0; i < g->nparams; i++)
        if (g->params[i].trainable) n += g->params[i].n;
    return n;
}

void cli_check_trainable(const mn_graph *g, const char *arch) {
    if (cli_trainable_params(g) == 0)
        cli_die("architecture '%s' has no trainable parameters (no dense or conv layer): training would change "
                "nothing", strchr(arch, ';') ? "custom" : arch);
}

void cli_check_labels(const mn_dataset *d, const char *what) {
    if (d->nclass <= 2 || d->n <= 0) return;
    char *seen = calloc((size_t)d->nclass, 1);
    if (!seen) cli_die("out of memory");
    int distinct = 0;
    for (int i = 0; i < d->n; i++)
        if (d->y[i] >= 0 && d->y[i] < d->nclass && !seen[d->y[i]]) seen[d->y[i]] = 1, distinct++;
    free(seen);
    /* Labels must be 0..K-1; a stray 65535 among 0..9 would make a
     * 65,536-output model whose classes almost all have no sample. */
    if (2 * distinct < d->nclass)
        cli_die("%s: labels run up to %d but only %d distinct values appear: a stray label? (labels must be "
                "0..K-1 for K classes)", what, d->nclass - 1, distinct);
}

static int kind_of(const mn_param *p) { return p->store ? (int)p->store->kind : MN_ST_F32; }

void cli_check_kept(const char *verb, const char *in_path, const mn_graph *out, int other_change) {
    mn_graph in;
    cli_load_model(in_path, &in);
    int changed = other_change;
    size_t bin = 0, bout = 0;
    for (int i = 0; i < in.nparams; i++) bin += mn_param_file_bytes(&in, i);
    for (int i = 0; i < out->nparams; i++) bout += mn_param_file_bytes(out, i);
    if (in.nparams != out->nparams) changed = 1;
    for (int i = 0; i < in.nparams; i++) {
        const mn_param *p = &in.params[i];
        int j = 0;
        while (j < out->nparams && strcmp(out->params[j].name, p->name) != 0) j++;
        if (j == out->nparams) { changed = 1; continue; }
        const mn_param *q = &out->params[j];
        int ki = kind_of(p), ko = kind_of(q);
        size_t si = mn_param_file_bytes(&in, i), so = mn_param_file_bytes(out, j);
        if (ki != ko || p->n != q->n || memcmp(in.w + p->off, out->w + q->off, sizeof(float) * (size_t)p->n) != 0)
            changed = 1;
        if (ki != MN_ST_F32 && ko == MN_ST_F32)
            cli_die("%s would store %s as f32, undoing its %s storage (%zu -> %zu bytes; the model %zu -> %zu): "
                    "refusing; %s the uncompressed model instead", verb, p->name, mn_storage_name((mn_storage_kind)ki),
                    si, so, bin, bout, verb);
        if (ki != MN_ST_F32 && ko != ki && so > si && bout > bin)
            cli_die("%s would replace the %s storage of %s by %s, growing it from %zu to %zu bytes and the "
                    "model's weights from %zu to %zu (what the %s form saves would be lost): refusing", verb, mn_storage_name((mn_storage_kind)ki), p->name,
                    mn_storage_name((mn_storage_kind)ko), si, so, bin, bout, mn_storage_name((mn_storage_kind)ki));
        if (ki != MN_ST_F32 && ko != ki && so > si) /* the model as a whole still shrinks: say so, go on */
            fprintf(stderr, "minnow: warning: %s replaced the %s storage of %s by %s (%zu -> %zu bytes)\n", verb,
                    mn_storage_name((mn_storage_kind)ki), p->name, mn_storage_name((mn_storage_kind)ko), si, so);
    }
    mn_graph_free(&in);
    if (!changed)
        cli_die("%s: nothing to do: every layer of %s would be left as it is (already in that form, or no layer "
                "it applies to)", verb, in_path);
}

void cli_refuse_stored(const mn_graph *g, const char *verb, unsigned allowed, const char *instead) {
    for (int i = 0; i < g->nparams; i++) {
        int k = kind_of(&g->params[i]);
        if (!(allowed >> k & 1u))
            cli_die("%s would drop the %s storage of %s (it works on float weights) and could grow the model: "
                    "refusing; %s", verb, mn_storage_name((mn_storage_kind)k), g->params[i].name, instead);
    }
}
