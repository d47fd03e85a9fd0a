/* SGD with momentum and Adam, both in PyTorch's formulation so that the same
 * hyper-parameters mean the same thing, with decoupled-from-nothing (L2)
 * weight decay added to the gradient as torch.optim does. */
#include <math.h>
#include <string.h>

#include "minnow/train.h"

void mn_optim_default(mn_optim *o, mn_opt_kind kind) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->lr = kind == MN_OPT_ADAM ? 1.2e-3f : 0.1f;
    o->momentum = 0.9f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
}

void mn_optim_reset(mn_graph *g, mn_optim *o) {
    memset(g->m, 0, sizeof(float) * g->nw);
    memset(g->v, 0, sizeof(float) * g->nw);
    o->t = 0;
}

void mn_optim_step(mn_graph *g, mn_optim *o, float lr) {
    o->t++;
    double bc1 = 1 - pow(o->beta1, (double)o->t), bc2 = 1 - pow(o->beta2, (double)o->t);
    float step = (float)(lr / bc1), rbc2 = (float)(1 / sqrt(bc2));
    for (int pi = 0; pi < g->nparams; pi++) {
        const mn_param *p = &g->params[pi];
        if (!p->trainable) continue;
        float *w = g->w + p->off, *gr = g->gw + p->off, *m = g->m + p->off, *v = g->v + p->off;
        const float *mask = p->mask;
        float wd = p->decay ? o->weight_decay : 0;
        int64_t n = p->n;
        if (o->kind == MN_OPT_SGD) {
            for (int64_t i = 0; i < n; i++) {
                float gi = gr[i] + wd * w[i];
                if (mask) gi *= mask[i];
                m[i] = o->momentum * m[i] + gi;
                w[i] -= lr * m[i];
            }
        } else {
            float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
            for (int64_t i = 0; i < n; i++) {
                float gi = gr[i] + wd * w[i];
                if (mask) gi *= mask[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                w[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
            }
        }
        if (mask) for (int64_t i = 0; i < n; i++) w[i] *= mask[i];
    }
}
