/* Saliency scores that need the data: SNIP's connection sensitivity and
 * Optimal Brain Damage's second-order saliency. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/prune.h"

/* A seeded random order of d's samples (the first few are the choice). */
static int *shuffled(const mn_dataset *d, uint64_t seed) {
    int *perm = malloc(sizeof(int) * (size_t)d->n);
    if (!perm) return NULL;
    mn_rng r;
    mn_rng_seed(&r, seed ^ 0x9e3779b97f4a7c15ULL);
    mn_data_shuffle(perm, d->n, &r);
    return perm;
}

mn_status mn_prune_snip_scores(mn_graph *g, const mn_dataset *d, int batches,
                               int batch, uint64_t seed, float *scores) {
    mn_status st;
    if (batches < 1 || batch < 1) return mn_error(MN_EARG, "SNIP needs at least one batch");
    if ((st = mn_check_data(g, d))) return st;
    if (batch > d->n) batch = d->n;
    if ((int64_t)batches * batch > d->n) batches = d->n / batch;
    if ((st = mn_graph_reserve(g, batch))) return st;
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    int64_t isz = (int64_t)d->c * d->h * d->w;
    int *perm = shuffled(d, seed);
    float *x = mn_alloc((size_t)batch * isz, sizeof(float)), *dl = mn_alloc((size_t)batch * k, sizeof(float));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    if (!perm || !x || !dl || !y) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    /* The gradient of the loss over all the batches together: SNIP's
     * one-batch sensitivity, with less noise. */
    mn_graph_zero_grad(g);
    for (int b = 0; b < batches; b++) {
        mn_data_gather(d, perm + b * batch, batch, x, y);
        const float *z = mn_graph_forward(g, x, batch, 0);
        mn_xent_hard(z, y, batch, k, 1.0f, dl);
        mn_graph_backward(g, dl, batch);
    }
    memset(scores, 0, sizeof(float) * (size_t)g->nw);
    for (int p = 0; p < g->nparams; p++) {
        if (!mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) continue;
        const float *w = mn_param_data(g, p), *gr = mn_param_grad(g, p);
        float *s = scores + g->params[p].off;
        for (int64_t i = 0; i < g->params[p].n; i++) s[i] = fabsf(gr[i] * w[i]) / batches;
    }
    mn_graph_zero_grad(g);
    st = MN_OK;
out:
    free(perm); mn_free(x); mn_free(dl); free(y);
    return st;
}

/* For softmax cross-entropy the Hessian of the loss w.r.t. the logits is
 * H = diag(p) - p p^T = sum_c p_c (e_c - p)(e_c - p)^T, so the Gauss-Newton
 * matrix J^T H J is sum_c p_c g_c g_c^T with g_c the gradient of -log p_c.
 * Its diagonal is therefore sum_c p_c g_c^2: one backward pass per class,
 * per sample.  Classes with p_c below 1e-6 add under 1e-6 of a squared
 * gradient and are skipped. */
mn_status mn_prune_obd_scores(mn_graph *g, const mn_dataset *d, int samples,
                              uint64_t seed, float *scores) {
    mn_status st;
    if (samples < 1) return mn_error(MN_EARG, "OBD needs at least one sample");
    if ((st = mn_check_data(g, d))) return st;
    if (samples > d->n) samples = d->n;
    if ((st = mn_graph_reserve(g, 1))) return st;
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    int64_t isz = (int64_t)d->c * d->h * d->w;
    int *perm = shuffled(d, seed);
    float *prob = malloc(sizeof(float) * (size_t)k), *dl = malloc(sizeof(float) * (size_t)k);
    float *h = calloc((size_t)g->nw, sizeof(float));
    int *ps = malloc(sizeof(int) * (size_t)(g->nparams + 1)), np = 0;
    if (!perm || !prob || !dl || !h || !ps) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    for (int p = 0; p < g->nparams; p++)
        if (mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) ps[np++] = p;
    for (int s = 0; s < samples; s++) {
        const float *z = mn_graph_forward(g, d->x + (int64_t)perm[s] * isz, 1, 0);
        mn_softmax_t(z, 1, k, 1.0f, prob);
        for (int c = 0; c < k; c++) {
            if (prob[c] < 1e-6f) continue;
            for (int j = 0; j < k; j++) dl[j] = prob[j] - (j == c);
            mn_graph_zero_grad(g);
            mn_graph_backward(g, dl, 1);
            for (int j = 0; j < np; j++) {
                const mn_param *pp = &g->params[ps[j]];
                const float *gr = g->gw + pp->off;
                float *hp = h + pp->off;
                for (int64_t i = 0; i < pp->n; i++) hp[i] += prob[c] * gr[i] * gr[i];
            }
        }
    }
    memset(scores, 0, sizeof(float) * (size_t)g->nw);
    for (int j = 0; j < np; j++) {
        const mn_param *pp = &g->params[ps[j]];
        const float *w = g->w + pp->off, *hp = h + pp->off;
        float *sc = scores + pp->off;
        for (int64_t i = 0; i < pp->n; i++) sc[i] = 0.5f * hp[i] / samples * w[i] * w[i];
    }
    mn_graph_zero_grad(g);
    st = MN_OK;
out:
    free(perm); free(prob); free(dl); free(h); free(ps);
    return st;
}

mn_status mn_prune_shuffle_masks(mn_graph *g, const float *init, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed ^ 0x53485546ULL);
    memcpy(g->w, init, sizeof(float) * (size_t)g->nw);
    for (int p = 0; p < g->nparams; p++) {
        if (!mn_prune_selectable(g, p, MN_SEL_WEIGHTS) || !g->params[p].mask) continue;
        float *m = g->params[p].mask;
        int64_t n = g->params[p].n;
        if (n > 0xffffffffLL) return mn_error(MN_EUNSUPPORTED, "a layer of more than 2^32 weights");
        for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
            int64_t j = mn_rng_below(&r, (uint32_t)(i + 1));
            float t = m[i];
            m[i] = m[j];
            m[j] = t;
        }
    }
    mn_graph_apply_masks(g);
    return MN_OK;
}
