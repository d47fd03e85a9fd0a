/* Online distillation: deep mutual learning (Zhang et al., CVPR 2018).
 * Two or more students train together from scratch; on every mini-batch
 * each one's loss is the hard-label cross-entropy plus the distillation
 * term towards the mean of the others' softened predictions on that batch
 * (mn_kd_loss, with T and alpha).  Peer 0 trains through mn_train; its loss
 * hook runs the other peers forward, takes one optimizer step on each
 * towards the others' predictions (peer 0's included), and returns peer 0's
 * loss towards the peers' predictions from before their step: all peers see
 * the same batches, in the same order, at the same learning rate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/distill.h"
#include "minnow/dist.h"

struct mn_mutual {
    mn_graph **peers;      /* peers[0] is the one mn_train runs */
    int n, k, steps_per_epoch;
    int64_t calls;
    float T, alpha;
    mn_train_cfg cfg;      /* peers 1..: their optimizers and schedule */
    mn_optim *opts;
    float *z, *p, *q, *dz; /* n * batch * k logits, softened probabilities; targets; a gradient */
    int cap;
};

void mn_mutual_free(mn_mutual *m) {
    if (!m) return;
    free(m->opts);
    free(m->z);
    free(m->p);
    free(m->q);
    free(m->dz);
    free(m);
}

mn_status mn_mutual_new(mn_graph **peers, int n, const mn_train_cfg *cfg, float T, float alpha, int ntrain,
                        mn_mutual **out) {
    *out = NULL;
    if (n < 2 || n > MN_DISTILL_MAX_TEACHERS) return mn_error(MN_EARG, "mutual learning needs 2..%d peers, got %d", MN_DISTILL_MAX_TEACHERS, n);
    if (!(T > 0) || !(alpha >= 0 && alpha <= 1)) return mn_error(MN_EARG, "mutual learning: T must be > 0 and alpha in [0, 1]");
    if (cfg->batch < 1 || ntrain < 1) return mn_error(MN_EARG, "mutual learning: needs a batch size and training samples");
    for (int i = 0; i < n; i++) {
        if (!peers[i] || !peers[i]->finalized) return mn_error(MN_EARG, "mutual learning: peer %d is not a finalized model", i + 1);
        for (int j = 0; j < i; j++)
            if (peers[j] == peers[i]) return mn_error(MN_EARG, "mutual learning: peer %d is peer %d", i + 1, j + 1);
    }
    int k = (int)mn_shape_numel(mn_graph_output_shape(peers[0]));
    int64_t isz = mn_shape_numel(mn_graph_input_shape(peers[0]));
    for (int i = 1; i < n; i++)
        if (mn_shape_numel(mn_graph_output_shape(peers[i])) != k || mn_shape_numel(mn_graph_input_shape(peers[i])) != isz)
            return mn_error(MN_ESHAPE, "mutual learning: peer %d's input or output size differs from peer 1's", i + 1);
    mn_mutual *m = calloc(1, sizeof *m);
    if (!m) return mn_error(MN_ENOMEM, "out of memory");
    m->peers = peers;
    m->n = n;
    m->k = k;
    m->T = T;
    m->alpha = alpha;
    m->cfg = *cfg;
    m->steps_per_epoch = (ntrain + cfg->batch - 1) / cfg->batch;
    m->cap = cfg->batch;
    size_t zb = (size_t)n * m->cap * k;
    m->opts = calloc((size_t)n, sizeof *m->opts);
    m->z = malloc(sizeof(float) * zb);
    m->p = malloc(sizeof(float) * zb);
    m->q = malloc(sizeof(float) * (size_t)m->cap * k);
    m->dz = malloc(sizeof(float) * (size_t)m->cap * k);
    if (!m->opts || !m->z || !m->p || !m->q || !m->dz) { mn_mutual_free(m); return mn_error(MN_ENOMEM, "out of memory"); }
    for (int i = 1; i < n; i++) {
        m->opts[i] = cfg->opt;
        mn_optim_reset(peers[i], &m->opts[i]);
        /* their own dropout masks (mn_train seeds peer 0's from cfg->seed) */
        mn_rng_seed(&peers[i]->rng, (cfg->seed + (uint64_t)i) ^ 0x5eed5eedULL);
        mn_status st = mn_graph_reserve(peers[i], m->cap);
        if (st) { mn_mutual_free(m); return st; }
    }
    *out = m;
    return MN_OK;
}

/* q = mean over peers j != i of p_j. */
static void others(const mn_mutual *m, int i, int batch) {
    int64_t bk = (int64_t)batch * m->k;
    memset(m->q, 0, sizeof(float) * (size_t)bk);
    for (int j = 0; j < m->n; j++) {
        if (j == i) continue;
        const float *pj = m->p + (int64_t)j * m->cap * m->k;
        for (int64_t t = 0; t < bk; t++) m->q[t] += pj[t];
    }
    for (int64_t t = 0; t < bk; t++) m->q[t] /= (float)(m->n - 1);
}

float mn_mutual_loss(void *ud, mn_graph *g, const float *x, const int32_t *y, int batch, const float *logits,
                     float *dlogits) {
    mn_mutual *m = ud;
    if (batch > m->cap) return NAN;
    /* In a data-parallel step (mn_train under MPI) the peers run the same
     * slice of the global batch as peer 0 and sum their gradients too. */
    for (int i = 1; i < m->n; i++) {
        m->peers[i]->dist_off = g->dist_off;
        m->peers[i]->dist_batch = g->dist_batch;
    }
    int k = m->k;
    int64_t bk = (int64_t)batch * k;
    /* Every peer's predictions on this batch, before anyone's step. */
    memcpy(m->z, logits, sizeof(float) * (size_t)bk);
    for (int i = 1; i < m->n; i++)
        memcpy(m->z + (int64_t)i * m->cap * k, mn_graph_forward(m->peers[i], x, batch, 1), sizeof(float) * (size_t)bk);
    for (int i = 0; i < m->n; i++)
        mn_softmax_t(m->z + (int64_t)i * m->cap * k, batch, k, m->T, m->p + (int64_t)i * m->cap * k);
    /* Peers 1..: one step each towards the others.  Their forward above
     * left their activations for this backward. */
    int epoch = (int)(m->calls / m->steps_per_epoch), step = (int)(m->calls % m->steps_per_epoch);
    float lr = mn_lr_at(&m->cfg, epoch, step, m->steps_per_epoch);
    for (int i = 1; i < m->n; i++) {
        others(m, i, batch);
        mn_kd_loss(m->z + (int64_t)i * m->cap * k, m->q, y, batch, k, m->T, m->alpha, m->dz);
        mn_graph_zero_grad(m->peers[i]);
        mn_graph_backward(m->peers[i], m->dz, batch);
        if (g->dist_batch && mn_dist_sum_f32(m->peers[i]->gw, m->peers[i]->nw)) return NAN;
        mn_optim_step(m->peers[i], &m->opts[i], lr);
        m->peers[i]->dist_off = m->peers[i]->dist_batch = 0;
    }
    m->calls++;
    others(m, 0, batch);
    return mn_kd_loss(logits, m->q, y, batch, k, m->T, m->alpha, dlogits);
}

void mn_mutual_attach(mn_mutual *m, mn_train_cfg *c) {
    c->loss = mn_mutual_loss;
    c->loss_ud = m;
}
