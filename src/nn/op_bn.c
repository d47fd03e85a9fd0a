/* Batch normalisation over (batch, h, w) per channel, or over the batch per
 * feature for 1-D inputs.  Training uses batch statistics and updates the
 * running ones PyTorch's way (momentum, unbiased variance); inference uses
 * the running statistics. */
#include <math.h>

#include "nn/ops.h"

static mn_status infer(mn_graph *g, mn_node *n) {
    n->out = *mn__in_shape(g, n, 0);
    if (n->a.eps <= 0) n->a.eps = 1e-5f;
    if (n->a.momentum <= 0 || n->a.momentum > 1) n->a.momentum = 0.1f;
    int d[1] = {n->out.d[0]};
    if (mn__declare_param(g, n, "gamma", 1, d, 1, 0) < 0 || mn__declare_param(g, n, "beta", 1, d, 1, 0) < 0 ||
        mn__declare_param(g, n, "mean", 1, d, 0, 0) < 0 || mn__declare_param(g, n, "var", 1, d, 0, 0) < 0)
        return MN_ESHAPE;
    return MN_OK;
}

/* Elements below which one thread beats a fork/join (a conv layer's
 * training batch is well above it, a batch-1 feature vector well below). */
#define BN_PAR_MIN (1 << 15)

/* Saved: per-channel mean and 1/std of the batch, then x-hat. */
static size_t aux(const mn_graph *g, const mn_node *n, int batch) {
    (void)g;
    return 2 * (size_t)n->out.d[0] + (size_t)batch * mn_shape_numel(&n->out);
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    int C = n->out.d[0];
    int64_t plane = mn_shape_numel(&n->out) / C, cnt = plane * batch;
    const float *x = mn__in(g, n, 0)->y;
    const float *gamma = mn__w(g, n, 0), *beta = mn__w(g, n, 1);
    float *rmean = mn__w(g, n, 2), *rvar = mn__w(g, n, 3);
    float *bmean = n->aux, *binv = n->aux + C, *xhat = n->aux + 2 * C;
    /* Batch-1 inference never enters OpenMP (MN_PAR_FOR). */
    MN_PAR_FOR(mn_par_worth(cnt * C, BN_PAR_MIN), c, C, {
        float mean, inv;
        if (train) {
            double s = 0, ss = 0;
            for (int b = 0; b < batch; b++) {
                const float *xp = x + ((int64_t)b * C + c) * plane;
                for (int64_t i = 0; i < plane; i++) s += xp[i];
            }
            mean = (float)(s / cnt);
            for (int b = 0; b < batch; b++) {
                const float *xp = x + ((int64_t)b * C + c) * plane;
                for (int64_t i = 0; i < plane; i++) { double d = xp[i] - mean; ss += d * d; }
            }
            float var = (float)(ss / cnt);
            inv = 1.0f / sqrtf(var + n->a.eps);
            float m = n->a.momentum;
            rmean[c] = (1 - m) * rmean[c] + m * mean;
            rvar[c] = (1 - m) * rvar[c] + m * (cnt > 1 ? (float)(ss / (cnt - 1)) : var);
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

static void backward(mn_graph *g, mn_node *n, int batch) {
    int C = n->out.d[0];
    int64_t plane = mn_shape_numel(&n->out) / C, cnt = plane * batch;
    const float *gamma = mn__w(g, n, 0);
    float *ggamma = mn__gw(g, n, 0), *gbeta = mn__gw(g, n, 1);
    const float *binv = n->aux + C, *xhat = n->aux + 2 * C;
    int need = mn__needs_dx(g, n, 0);
    float *dx = g->nodes[n->in[0]].dy;
    MN_PAR_FOR(mn_par_worth(cnt * C, BN_PAR_MIN), c, C, {
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < batch; b++) {
            int64_t o = ((int64_t)b * C + c) * plane;
            for (int64_t i = 0; i < plane; i++) { sdy += n->dy[o + i]; sdyx += n->dy[o + i] * xhat[o + i]; }
        }
        ggamma[c] += (float)sdyx;
        gbeta[c] += (float)sdy;
        if (!need) continue;
        float k = gamma[c] * binv[c], mdy = (float)(sdy / cnt), mdyx = (float)(sdyx / cnt);
        for (int b = 0; b < batch; b++) {
            int64_t o = ((int64_t)b * C + c) * plane;
            for (int64_t i = 0; i < plane; i++)
                dx[o + i] += k * (n->dy[o + i] - mdy - xhat[o + i] * mdyx);
        }
    });
}

static int64_t macs(const mn_graph *g, const mn_node *n) { (void)g; return mn_shape_numel(&n->out); }

const mn_opdef mn_op_batchnorm = {"batchnorm", 1, 1, infer, aux, NULL, forward, backward, macs};
