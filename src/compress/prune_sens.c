/* Pruning sensitivity (Han et al. 2015, fig. 6): how much each layer alone
 * tolerates magnitude pruning without fine-tuning, the guide for choosing
 * per-layer rates. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/prune.h"
#include "store/store.h"

typedef struct { float a; int64_t i; } mag;
static int mag_cmp(const void *x, const void *y) {
    const mag *p = x, *q = y;
    if (p->a < q->a) return -1;
    if (p->a > q->a) return 1;
    return (p->i > q->i) - (p->i < q->i);
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
    for (int l = 0; l < nl; l++) {
        const mn_param *pp = &g->params[layers[l]];
        float *w = g->w + pp->off;
        float *saved = malloc(sizeof(float) * (size_t)pp->n);
        mag *order = malloc(sizeof(mag) * (size_t)pp->n);
        if (!saved || !order) { free(saved); free(order); return mn_error(MN_ENOMEM, "out of memory"); }
        memcpy(saved, w, sizeof(float) * (size_t)pp->n);
        for (int64_t i = 0; i < pp->n; i++) order[i] = (mag){fabsf(w[i]), i};
        qsort(order, (size_t)pp->n, sizeof(mag), mag_cmp);
        for (int j = 0; j < nlevels && !st; j++) {
            int64_t k = llround((double)levels[j] * pp->n);
            memcpy(w, saved, sizeof(float) * (size_t)pp->n);
            for (int64_t i = 0; i < k; i++) w[order[i].i] = 0;
            mn_eval_result r;
            st = mn_eval(g, val, 250, &r);
            err[l * nlevels + j] = r.error;
        }
        memcpy(w, saved, sizeof(float) * (size_t)pp->n);
        free(saved);
        free(order);
        if (st) return st;
    }
    *nlayers = nl;
    return MN_OK;
}
