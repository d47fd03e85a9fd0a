/* Pruning sensitivity (Han et al. 2015, fig. 6): how much each layer alone
 * tolerates magnitude pruning without fine-tuning, the guide for choosing
 * per-layer rates. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/dist.h"
#include "minnow/prune.h"
#include "store/store.h"

typedef struct { float a; int64_t i; } mag;
static int mag_cmp(const void *x, const void *y) {
    const mag *p = x, *q = y;
    if (p->a < q->a) return -1;
    if (p->a > q->a) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

typedef struct sens_job {
    mn_graph *g;
    const mn_dataset *val;
    const float *levels;
    int nlevels;
    const int *layers;
} sens_job;

/* Layer l's error at each level, its other weights untouched (put back). */
static mn_status layer_job(void *ud, int l, double *row) {
    sens_job *j = ud;
    mn_graph *g = j->g;
    const mn_param *pp = &g->params[j->layers[l]];
    float *w = g->w + pp->off;
    float *saved = malloc(sizeof(float) * (size_t)pp->n);
    mag *order = malloc(sizeof(mag) * (size_t)pp->n);
    if (!saved || !order) { free(saved); free(order); return mn_error(MN_ENOMEM, "out of memory"); }
    memcpy(saved, w, sizeof(float) * (size_t)pp->n);
    for (int64_t i = 0; i < pp->n; i++) order[i] = (mag){fabsf(w[i]), i};
    qsort(order, (size_t)pp->n, sizeof(mag), mag_cmp);
    mn_status st = MN_OK;
    for (int k = 0; k < j->nlevels && !st; k++) {
        int64_t cut = llround((double)j->levels[k] * pp->n);
        memcpy(w, saved, sizeof(float) * (size_t)pp->n);
        for (int64_t i = 0; i < cut; i++) w[order[i].i] = 0;
        mn_eval_result r;
        st = mn_eval(g, j->val, 250, &r);
        row[k] = r.error;
    }
    memcpy(w, saved, sizeof(float) * (size_t)pp->n);
    free(saved);
    free(order);
    return st;
}

mn_status mn_prune_sensitivity(mn_graph *g, const mn_dataset *val,
                               const float *levels, int nlevels, int *layers,
                               int max_layers, int *nlayers, float *err) {
    mn_status st;
    *nlayers = 0;
    if ((st = mn_check_data(g, val))) return st;
    for (int j = 0; j < nlevels; j++)
        if (!(levels[j] >= 0 && levels[j] <= 1)) return mn_error(MN_EARG, "sparsity level %g is outside [0, 1]", levels[j]);
    /* Inference would run a compressed store, not the edited g->w. */
    mn_graph_drop_stores(g);
    int nl = 0;
    for (int p = 0; p < g->nparams && nl < max_layers; p++)
        if (mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) layers[nl++] = p;
    /* One job per layer: under MPI the layers are spread over the ranks
     * (minnow/dist.h) and every rank ends with the whole table. */
    sens_job j = {g, val, levels, nlevels, layers};
    double *table = malloc(sizeof(double) * (size_t)(nl ? nl : 1) * (size_t)(nlevels ? nlevels : 1));
    if (!table) return mn_error(MN_ENOMEM, "out of memory");
    st = mn_dist_sweep(nl, nlevels, table, layer_job, &j);
    for (int i = 0; !st && i < nl * nlevels; i++) err[i] = (float)table[i];
    free(table);
    if (st) return st;
    *nlayers = nl;
    return MN_OK;
}
