/* Softmax cross-entropy with temperature, hard and soft targets. */
#include <math.h>

#include "minnow/train.h"

void mn_softmax_t(const float *logits, int batch, int k, float T, float *p) {
    float invT = 1.0f / T;
    for (int b = 0; b < batch; b++) {
        const float *z = logits + (int64_t)b * k;
        float *pr = p + (int64_t)b * k, mx = z[0];
        for (int i = 1; i < k; i++) if (z[i] > mx) mx = z[i];
        double s = 0;
        for (int i = 0; i < k; i++) { pr[i] = expf((z[i] - mx) * invT); s += pr[i]; }
        float inv = (float)(1.0 / s);
        for (int i = 0; i < k; i++) pr[i] *= inv;
    }
}

/* log softmax row and the gradient (p - target) / (T * batch). */
float mn_xent_hard(const float *logits, const int32_t *y, int batch, int k,
                   float T, float *dlogits) {
    double loss = 0;
    float invT = 1.0f / T;
    for (int b = 0; b < batch; b++) {
        const float *z = logits + (int64_t)b * k;
        float mx = z[0];
        for (int i = 1; i < k; i++) if (z[i] > mx) mx = z[i];
        double s = 0;
        for (int i = 0; i < k; i++) s += exp((double)(z[i] - mx) * invT);
        double lse = log(s);
        loss -= (z[y[b]] - mx) * invT - lse;
        if (dlogits) {
            float *d = dlogits + (int64_t)b * k;
            for (int i = 0; i < k; i++) {
                double p = exp((double)(z[i] - mx) * invT - lse);
                d[i] = (float)((p - (i == y[b])) * invT / batch);
            }
        }
    }
    return (float)(loss / batch);
}

float mn_xent_soft(const float *logits, const float *q, int batch, int k,
                   float T, float *dlogits) {
    double loss = 0;
    float invT = 1.0f / T;
    for (int b = 0; b < batch; b++) {
        const float *z = logits + (int64_t)b * k, *qb = q + (int64_t)b * k;
        float mx = z[0];
        for (int i = 1; i < k; i++) if (z[i] > mx) mx = z[i];
        double s = 0;
        for (int i = 0; i < k; i++) s += exp((double)(z[i] - mx) * invT);
        double lse = log(s);
        for (int i = 0; i < k; i++) {
            double lp = (z[i] - mx) * invT - lse;
            loss -= qb[i] * lp;
            if (dlogits) dlogits[(int64_t)b * k + i] = (float)((exp(lp) - qb[i]) * invT / batch);
        }
    }
    return (float)(loss / batch);
}
