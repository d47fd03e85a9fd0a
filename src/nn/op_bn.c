/* Batch normalisation over (batch, h, w) per channel, or over the batch per
 * feature for 1-D inputs.  Training uses batch statistics and updates the
 * running ones PyTorch's way (momentum, unbiased variance); inference uses
 * the running statistics.
 *
 * Switchable batch norm ("sbn", slimmable networks, Yu et al. 2019) holds
 * `slots` rows of each parameter, one per width of the network; the node
 * runs the last row (the full width).  The narrower widths run as plain
 * batchnorm nodes of the network that minnow/slim.h cuts out for them. */
#include <math.h>

#include "nn/ops.h"

#include "minnow/dist.h"

/* Parameters of batchnorm: [C]; of sbn: [slots, C]. */
static mn_status infer(mn_graph *g, mn_node *n) {
    n->out = *mn__in_shape(g, n, 0);
    if (n->a.eps <= 0) n->a.eps = 1e-5f;
    if (n->a.momentum <= 0 || n->a.momentum > 1) n->a.momentum = 0.1f;
    int sw = n->op == MN_OP_SBN;
    if (sw && (n->a.slots < 1 || n->a.slots > MN_SLOTS_MAX))
        return mn_error(MN_ESHAPE, "sbn '%s': slots must be 1..%d", n->name, MN_SLOTS_MAX);
    if (!sw && n->a.slots) return mn_error(MN_ESHAPE, "batchnorm '%s': 'slots' is sbn's attribute", n->name);
    int d[2] = {sw ? n->a.slots : n->out.d[0], n->out.d[0]}, nd = sw ? 2 : 1;
    if (mn__declare_param(g, n, "gamma", nd, d, 1, 0) < 0 || mn__declare_param(g, n, "beta", nd, d, 1, 0) < 0 ||
        mn__declare_param(g, n, "mean", nd, d, 0, 0) < 0 || mn__declare_param(g, n, "var", nd, d, 0, 0) < 0)
        return MN_ESHAPE;
    return MN_OK;
}

/* Where the running row starts in each parameter: sbn runs its last slot. */
static inline int64_t row(const mn_node *n) {
    return n->op == MN_OP_SBN ? (int64_t)(n->a.slots - 1) * n->out.d[0] : 0;
}

/* Elements below which one thread beats a fork/join (a conv layer's
 * training batch is well above it, a batch-1 feature vector well below). */
#define BN_PAR_MIN (1 << 15)

/* Saved: per-channel mean and 1/std of the batch; then room for a
 * data-parallel step's statistics (3C floats) and sums (2C doubles), so
 * that no rank can fail an allocation between the others' collectives;
 * then x-hat.  The offsets are even, so the doubles are aligned (the aux
 * arena is). */
#define SYNC_OFF(C) (2 * (size_t)(C))
#define ACC_OFF(C) ((SYNC_OFF(C) + 3 * (size_t)(C) + 1) & ~(size_t)1)
#define XHAT_OFF(C) (ACC_OFF(C) + 4 * (size_t)(C))
static size_t aux(const mn_graph *g, const mn_node *n, int batch) {
    (void)g;
    return XHAT_OFF(n->out.d[0]) + (size_t)batch * mn_shape_numel(&n->out);
}

/* Channel c's sum over `batch` samples of x, or with squares set of
 * (x - mean)^2, in double. */
static inline double channel_sum(const float *x, int batch, int C, int64_t plane, int c, int squares, float mean) {
    double s = 0;
    for (int b = 0; b < batch; b++) {
        const float *xp = x + ((int64_t)b * C + c) * plane;
        if (squares) for (int64_t i = 0; i < plane; i++) { double d = xp[i] - mean; s += d * d; }
        else for (int64_t i = 0; i < plane; i++) s += xp[i];
    }
    return s;
}

/* A data-parallel training step (graph.h dist_batch): the batch's mean,
 * variance and unbiased variance over every rank's samples, as one process
 * would compute them (synchronised batch norm), at the cost of two small
 * all-reduces.  A failed reduction leaves NaNs, which the training loop
 * reports; it still takes part in the next one. */
static void sync_stats(mn_graph *g, mn_node *n, int batch, float *mean, float *var, float *uvar) {
    int C = n->out.d[0];
    int64_t plane = mn_shape_numel(&n->out) / C, cnt = plane * g->dist_batch;
    const float *x = mn__in(g, n, 0)->y;
    double *acc = (double *)(n->aux + ACC_OFF(C));
    int par = mn_par_worth(plane * batch * C, BN_PAR_MIN);
    MN_PAR_FOR(par, c, C, { acc[c] = channel_sum(x, batch, C, plane, c, 0, 0); });
    int bad = mn_dist_sum_f64(acc, C) != MN_OK;
    for (int c = 0; c < C; c++) mean[c] = (float)(acc[c] / cnt);
    MN_PAR_FOR(par, c, C, { acc[c] = channel_sum(x, batch, C, plane, c, 1, mean[c]); });
    bad |= mn_dist_sum_f64(acc, C) != MN_OK;
    for (int c = 0; c < C; c++) {
        var[c] = (float)(acc[c] / cnt);
        uvar[c] = cnt > 1 ? (float)(acc[c] / (cnt - 1)) : var[c];
    }
    if (bad) for (int c = 0; c < C; c++) mean[c] = var[c] = uvar[c] = NAN;
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    int C = n->out.d[0];
    int64_t plane = mn_shape_numel(&n->out) / C, cnt = plane * batch;
    const float *x = mn__in(g, n, 0)->y;
    const int64_t r = row(n);
    const float *gamma = mn__w(g, n, 0) + r, *beta = mn__w(g, n, 1) + r;
    float *rmean = mn__w(g, n, 2) + r, *rvar = mn__w(g, n, 3) + r;
    float *bmean = n->aux, *binv = n->aux + C, *xhat = n->aux + XHAT_OFF(C);
    /* A data-parallel step takes the statistics of the whole global batch. */
    float *st = train && g->dist_batch ? n->aux + SYNC_OFF(C) : NULL;
    if (st) sync_stats(g, n, batch, st, st + C, st + 2 * C);
    /* Batch-1 inference never enters OpenMP (MN_PAR_FOR). */
    MN_PAR_FOR(mn_par_worth(cnt * C, BN_PAR_MIN), c, C, {
        float mean, inv;
        if (train) {
            float var, uvar;
            if (st) {
                mean = st[c], var = st[C + c], uvar = st[2 * C + c];
            } else {
                mean = (float)(channel_sum(x, batch, C, plane, c, 0, 0) / cnt);
                double ss = channel_sum(x, batch, C, plane, c, 1, mean);
                var = (float)(ss / cnt);
                uvar = cnt > 1 ? (float)(ss / (cnt - 1)) : var;
            }
            inv = 1.0f / sqrtf(var + n->a.eps);
            float m = n->a.momentum;
            rmean[c] = (1 - m) * rmean[c] + m * mean;
            rvar[c] = (1 - m) * rvar[c] + m * uvar;
        } else {
            mean = rmean[c];
            inv = 1.0f / sqrtf(rvar[c] + n->a.eps);
        }
        bmean[c] = mean;
        binv[c] = inv;
        for (int b = 0; b < batch; b++) {
            int64_t o = ((int64_t)b * C + c) * plane;
            for (int64_t i = 0; i < plane; i++) {
                xhat[o + i] = (x[o + i] - mean) * inv;
                n->y[o + i] = gamma[c] * xhat[o + i] + beta[c];
            }
        }
    });
}

/* Channel c's sums of dy and of dy * x-hat over `batch` samples (shared by
 * both backward paths, so that they add in the same order). */
static inline void dy_sums(const mn_node *n, const float *xhat, int batch, int C, int64_t plane, int c,
                           double *sdy, double *sdyx) {
    double a = 0, b2 = 0;
    for (int b = 0; b < batch; b++) {
        int64_t o = ((int64_t)b * C + c) * plane;
        for (int64_t i = 0; i < plane; i++) { a += n->dy[o + i]; b2 += n->dy[o + i] * xhat[o + i]; }
    }
    *sdy = a;
    *sdyx = b2;
}

/* dx for channel c from the means of dy and dy * x-hat. */
static inline void dx_channel(const mn_node *n, const float *xhat, float *dx, int batch, int C, int64_t plane, int c,
                              float k, float mdy, float mdyx) {
    for (int b = 0; b < batch; b++) {
        int64_t o = ((int64_t)b * C + c) * plane;
        for (int64_t i = 0; i < plane; i++) dx[o + i] += k * (n->dy[o + i] - mdy - xhat[o + i] * mdyx);
    }
}

/* The data-parallel backward: gamma's and beta's gradients are this rank's
 * share (the training loop sums the gradient arena), the input's needs the
 * means of dy and dy * x-hat over every rank's samples. */
static void backward_sync(mn_graph *g, mn_node *n, int batch, int need, float *dx) {
    int C = n->out.d[0];
    int64_t plane = mn_shape_numel(&n->out) / C, cnt = plane * g->dist_batch;
    const int64_t r = row(n);
    const float *gamma = mn__w(g, n, 0) + r;
    float *ggamma = mn__gw(g, n, 0) + r, *gbeta = mn__gw(g, n, 1) + r;
    const float *binv = n->aux + C, *xhat = n->aux + XHAT_OFF(C);
    double *acc = (double *)(n->aux + ACC_OFF(C));
    int par = mn_par_worth(plane * batch * C, BN_PAR_MIN);
    MN_PAR_FOR(par, c, C, {
        double sdy, sdyx;
        dy_sums(n, xhat, batch, C, plane, c, &sdy, &sdyx);
        ggamma[c] += (float)sdyx;
        gbeta[c] += (float)sdy;
        acc[c] = sdy;
        acc[C + c] = sdyx;
    });
    if (need && mn_dist_sum_f64(acc, 2 * C) != MN_OK)
        for (int c = 0; c < 2 * C; c++) acc[c] = NAN;
    if (need)
        MN_PAR_FOR(par, c, C, {
            dx_channel(n, xhat, dx, batch, C, plane, c, gamma[c] * binv[c], (float)(acc[c] / cnt), (float)(acc[C + c] / cnt));
        });
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    int C = n->out.d[0];
    int64_t plane = mn_shape_numel(&n->out) / C, cnt = plane * batch;
    const int64_t r = row(n);
    const float *gamma = mn__w(g, n, 0) + r;
    float *ggamma = mn__gw(g, n, 0) + r, *gbeta = mn__gw(g, n, 1) + r;
    const float *binv = n->aux + C, *xhat = n->aux + XHAT_OFF(C);
    int need = mn__needs_dx(g, n, 0);
    float *dx = g->nodes[n->in[0]].dy;
    if (g->dist_batch) { backward_sync(g, n, batch, need, dx); return; }
    MN_PAR_FOR(mn_par_worth(cnt * C, BN_PAR_MIN), c, C, {
        double sdy, sdyx;
        dy_sums(n, xhat, batch, C, plane, c, &sdy, &sdyx);
        ggamma[c] += (float)sdyx;
        gbeta[c] += (float)sdy;
        if (!need) continue;
        dx_channel(n, xhat, dx, batch, C, plane, c, gamma[c] * binv[c], (float)(sdy / cnt), (float)(sdyx / cnt));
    });
}

static int64_t macs(const mn_graph *g, const mn_node *n) { (void)g; return mn_shape_numel(&n->out); }

const mn_opdef mn_op_batchnorm = {"batchnorm", 1, 1, infer, aux, NULL, forward, backward, macs};
const mn_opdef mn_op_sbn = {"sbn", 1, 1, infer, aux, NULL, forward, backward, macs};
