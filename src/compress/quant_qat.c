/* Quantization-aware training through the train loop's hooks, without
 * touching the layers: g->w always holds the quantized weights Q(ghost),
 * so the forward pass and the gradient are those of the quantized network;
 * after each optimizer step the step it took (w' - Q(ghost)) is added to the
 * float ghosts instead (straight-through estimator), except where a ghost
 * lies outside its quantizer's clipping range (clipped STE), and g->w is
 * set to Q(ghost) again.  The quantizer is mn_wquant_vec, the very one the
 * AFFINE store is made with at the end, so training sees the final grid. */
#include <stdlib.h>
#include <string.h>

#include "minnow/quant.h"

typedef struct qat {
    mn_graph *g;
    const mn_wquant *wq;
    int n;
    int p[MN_QREPORT_MAX];
    float *ghost[MN_QREPORT_MAX], *prev[MN_QREPORT_MAX];
    unsigned char *clip[MN_QREPORT_MAX]; /* 1 where the ghost is outside the range */
    const mn_train_cfg *user;
} qat;

/* w = Q(ghost), remembered in prev; marks clipped ghosts. */
static void requant(qat *q, int k) {
    mn_graph *g = q->g;
    int rows, cols;
    mn_param_matrix(g, q->p[k], &rows, &cols);
    float *w = mn_param_data(g, q->p[k]);
    const float *gh = q->ghost[k];
    int per = q->wq->per_channel, nr = per ? rows : 1;
    int64_t len = per ? cols : (int64_t)rows * cols;
    int qmax = (1 << (q->wq->bits - 1)) - 1, qmin = q->wq->symmetric ? -qmax : -qmax - 1;
    for (int r = 0; r < nr; r++) {
        float s;
        int32_t z;
        mn_wquant_vec(gh + r * len, len, q->wq, &s, &z, NULL, w + r * len);
        float lo = s * (float)(qmin - z), hi = s * (float)(qmax - z);
        for (int64_t i = r * len; i < (r + 1) * len; i++) q->clip[k][i] = gh[i] < lo || gh[i] > hi;
    }
    memcpy(q->prev[k], w, sizeof(float) * (size_t)(nr * len));
}

static void on_step(void *ud, mn_graph *g, int64_t step) {
    qat *q = ud;
    for (int k = 0; k < q->n; k++) {
        const float *w = mn_param_data(g, q->p[k]);
        int64_t n = g->params[q->p[k]].n;
        for (int64_t i = 0; i < n; i++)
            if (!q->clip[k][i]) q->ghost[k][i] += w[i] - q->prev[k][i];
        requant(q, k);
    }
    if (q->user->on_step) q->user->on_step(q->user->ud, g, step);
}

static void on_progress(void *ud, const mn_progress *p) {
    qat *q = ud;
    if (q->user->on_progress) q->user->on_progress(q->user->ud, p);
}

static void on_epoch(void *ud, const mn_epoch_stats *s) {
    qat *q = ud;
    if (q->user->on_epoch) q->user->on_epoch(q->user->ud, s);
}

mn_status mn_quantize_qat(mn_graph *g, const mn_affine_cfg *c, const mn_train_cfg *t, const mn_dataset *train,
                          const mn_dataset *val, mn_qreport *rep) {
    if (c->w.bits < 2 || c->w.bits > 8) return mn_error(MN_EARG, "qat: --bits must be 2..8, got %d", c->w.bits);
    if (!train) return mn_error(MN_EARG, "qat: needs training data");
    qat *q = calloc(1, sizeof *q);
    if (!q) return mn_error(MN_ENOMEM, "out of memory");
    q->g = g;
    q->wq = &c->w;
    q->user = t;
    mn_status s = MN_OK;
    mn_graph_drop_stores(g); /* train from the decoded values */
    for (int i = 0; i < g->nnodes && s == MN_OK; i++) {
        mn_op op = g->nodes[i].op;
        if ((op != MN_OP_DENSE && op != MN_OP_CONV) || g->nodes[i].np == 0) continue;
        if (q->n == MN_QREPORT_MAX) { s = mn_error(MN_EUNSUPPORTED, "qat: more than %d layers", MN_QREPORT_MAX); break; }
        int k = q->n++, p = g->nodes[i].p[0];
        size_t n = (size_t)g->params[p].n;
        q->p[k] = p;
        q->ghost[k] = malloc(sizeof(float) * n);
        q->prev[k] = malloc(sizeof(float) * n);
        q->clip[k] = malloc(n);
        if (!q->ghost[k] || !q->prev[k] || !q->clip[k]) { s = mn_error(MN_ENOMEM, "out of memory"); break; }
        memcpy(q->ghost[k], mn_param_data(g, p), sizeof(float) * n);
        requant(q, k);
    }
    if (s == MN_OK) {
        mn_train_cfg tc = *t;
        tc.on_step = on_step;
        tc.on_progress = on_progress;
        tc.on_epoch = on_epoch;
        tc.ud = q;
        s = mn_train(g, train, val, &tc);
    }
    /* The ghosts are the trained model; the store quantizes them with the
     * same quantizer, giving exactly the weights training ended with. */
    for (int k = 0; k < q->n; k++)
        if (q->ghost[k]) memcpy(mn_param_data(g, q->p[k]), q->ghost[k], sizeof(float) * (size_t)g->params[q->p[k]].n);
    if (s == MN_OK) s = mn_quantize_affine(g, c, c->act_bits ? train : NULL, rep);
    for (int k = 0; k < q->n; k++) { free(q->ghost[k]); free(q->prev[k]); free(q->clip[k]); }
    free(q);
    return s;
}
