/* Training a slimmable network (Yu et al. 2019, Algorithm 1): each step
 * runs the batch at every width and sums their gradients into the shared
 * weights before one optimizer step.
 *
 * Each narrower width is its own plain graph (mn_slim_select), so that it
 * runs only its units with the ordinary kernels.  A map from each of its
 * floats to the float of the full model it was cut from lets every step
 * copy the current weights in, and add its gradients (and, for batch
 * norm's running statistics, copy its values) back.  The map is found by
 * cutting out a copy of the model whose every value is its own index
 * (12 bits at a time, so that float holds it exactly): selection only ever
 * copies values, so the cut-out copy holds the source positions. */
#include <stdlib.h>
#include <string.h>

#include "minnow/slim.h"

typedef struct slim_run {
    int n;                  /* narrower widths */
    mn_graph sub[MN_SLIM_MAX];
    int64_t *map[MN_SLIM_MAX];
    float *dl;              /* dlogits scratch */
    mn_loss_fn loss;        /* the full width's (NULL: cross-entropy) */
    void *loss_ud;
} slim_run;

/* map[j]: the float of g that float j of g's width-w model comes from. */
static mn_status index_map(const mn_graph *g, float w, mn_graph *sub, int64_t **map) {
    mn_graph t;
    mn_status st = mn_graph_clone(g, &t);
    if (st) return st;
    mn_graph part[2];
    int made = 0;
    for (int h = 0; h < 2 && !st; h++) {
        for (int64_t i = 0; i < t.nw; i++) t.w[i] = (float)((i >> (12 * h)) & 0xfff);
        if (!(st = mn_slim_select(&t, w, &part[h]))) made++;
    }
    if (!st && (t.nw >> 24)) st = mn_error(MN_EUNSUPPORTED, "slim: more than 2^24 parameters");
    if (!st) st = mn_slim_select(g, w, sub);
    if (!st && !(*map = malloc(sizeof(int64_t) * (size_t)(sub->nw ? sub->nw : 1)))) st = mn_error(MN_ENOMEM, "out of memory");
    if (!st) {
        for (int64_t j = 0; j < sub->nw; j++) (*map)[j] = (int64_t)part[0].w[j] | (int64_t)part[1].w[j] << 12;
        /* The masks came along; the values in sub are g's own. */
    }
    for (int h = 0; h < made; h++) mn_graph_free(&part[h]);
    mn_graph_free(&t);
    return st;
}

static float slim_loss(void *ud, mn_graph *g, const float *x, const int32_t *y, int batch, const float *logits,
                       float *dlogits) {
    slim_run *r = ud;
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    float total = 0;
    for (int s = 0; s < r->n; s++) {
        mn_graph *sg = &r->sub[s];
        const int64_t *map = r->map[s];
        for (int64_t j = 0; j < sg->nw; j++) sg->w[j] = g->w[map[j]];
        /* A data-parallel step runs its slice here too; dropout draws from
         * the full width's stream, which it does not advance. */
        sg->dist_off = g->dist_off;
        sg->dist_batch = g->dist_batch;
        sg->rng = g->rng;
        const float *z = mn_graph_forward(sg, x, batch, 1);
        total += mn_xent_hard(z, y, batch, k, 1, r->dl);
        mn_graph_zero_grad(sg);
        mn_graph_backward(sg, r->dl, batch);
        for (int p = 0; p < sg->nparams; p++) {
            const mn_param *pp = &sg->params[p];
            const int64_t *mp = map + pp->off;
            if (pp->trainable) {
                const float *gw = sg->gw + pp->off;
                for (int64_t j = 0; j < pp->n; j++) g->gw[mp[j]] += gw[j];
            } else { /* batch norm's running statistics, the input's norm */
                const float *w = sg->w + pp->off;
                for (int64_t j = 0; j < pp->n; j++) g->w[mp[j]] = w[j];
            }
        }
    }
    float l = r->loss ? r->loss(r->loss_ud, g, x, y, batch, logits, dlogits)
                      : mn_xent_hard(logits, y, batch, k, 1, dlogits);
    return total + l;
}

mn_status mn_slim_train(mn_graph *g, const mn_dataset *train, const mn_dataset *val, const mn_train_cfg *c) {
    float ws[MN_SLIM_MAX];
    int n = mn_slim_widths(g, ws);
    if (n < 0) return MN_EFORMAT;
    if (n == 0) return mn_error(MN_EARG, "slim: the model is not slimmable (mn_slim_make)");
    slim_run *r = calloc(1, sizeof *r);
    if (!r) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    for (int s = 0; s < n - 1 && !st; s++) {
        if (!(st = index_map(g, ws[s], &r->sub[s], &r->map[s]))) r->n++;
        if (!st) st = mn_graph_reserve(&r->sub[s], c->batch);
    }
    int k = (int)mn_shape_numel(mn_graph_output_shape(g));
    if (!st && !(r->dl = malloc(sizeof(float) * (size_t)c->batch * (size_t)k))) st = mn_error(MN_ENOMEM, "out of memory");
    if (!st) {
        mn_train_cfg t = *c;
        r->loss = c->loss;
        r->loss_ud = c->loss_ud;
        t.loss = slim_loss;
        t.loss_ud = r;
        st = mn_train(g, train, val, &t);
    }
    for (int s = 0; s < r->n; s++) {
        mn_graph_free(&r->sub[s]);
        free(r->map[s]);
    }
    free(r->dl);
    free(r);
    return st;
}
