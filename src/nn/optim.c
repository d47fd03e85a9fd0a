/* SGD with momentum and Adam, both in PyTorch's formulation so that the same
 * hyper-parameters mean the same thing, with decoupled-from-nothing (L2)
 * weight decay added to the gradient as torch.optim does. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "minnow/core.h"
#include "minnow/train.h"
#include "kernels/avx512.h"
#include "core/cpu.h"

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

/* One parameter's Adam update.  The AVX-512 version does the same IEEE
 * operations in the same order, 16 weights at a time (multiplies and adds
 * stay separate: ISO C mode does not contract them into FMAs), so both
 * give the same bits; it is 4x fewer sqrt and div instructions than the
 * compiler's SSE2 loop, which had been 20% of a LeNet-300 step. */
typedef void adam_f(float *w, const float *gr, float *m, float *v, const float *mask, int64_t n, float wd, float b1,
                    float b2, float step, float rbc2, float eps);

static void adam_plain(float *w, const float *gr, float *m, float *v, const float *mask, int64_t n, float wd,
                       float b1, float b2, float step, float rbc2, float eps) {
    for (int64_t i = 0; i < n; i++) {
        float gi = gr[i] + wd * w[i];
        if (mask) gi *= mask[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
    }
}

__attribute__((target("avx512f"))) static void adam_avx512(float *w, const float *gr, float *m, float *v,
                                                            const float *mask, int64_t n, float wd, float b1,
                                                            float b2, float step, float rbc2, float eps) {
    const __m512 vwd = _mm512_set1_ps(wd), vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2);
    const __m512 c1 = _mm512_set1_ps(1 - b1), c2 = _mm512_set1_ps(1 - b2), vs = _mm512_set1_ps(step);
    const __m512 vr = _mm512_set1_ps(rbc2), ve = _mm512_set1_ps(eps);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = mn__lanes16(n - i);
        __m512 wi = _mm512_maskz_loadu_ps(k, w + i);
        __m512 gi = _mm512_add_ps(_mm512_maskz_loadu_ps(k, gr + i), _mm512_mul_ps(vwd, wi));
        if (mask) gi = _mm512_mul_ps(gi, _mm512_maskz_loadu_ps(k, mask + i));
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_maskz_loadu_ps(k, m + i)), _mm512_mul_ps(c1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_maskz_loadu_ps(k, v + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
        __m512 d = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), vr), ve);
        wi = _mm512_sub_ps(wi, _mm512_div_ps(_mm512_mul_ps(vs, mi), d));
        _mm512_mask_storeu_ps(m + i, k, mi);
        _mm512_mask_storeu_ps(v + i, k, vi);
        _mm512_mask_storeu_ps(w + i, k, wi);
    }
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
            adam_f *f = mn_cpu_features()->avx512f ? adam_avx512 : adam_plain;
            f(w, gr, m, v, mask, n, wd, o->beta1, o->beta2, step, rbc2, o->eps);
        }
        if (mask) for (int64_t i = 0; i < n; i++) w[i] *= mask[i];
    }
}
