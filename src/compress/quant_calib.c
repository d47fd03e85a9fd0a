/* Calibration: the range of the input of every dense/conv layer over some
 * samples, from which each layer's input activation format is chosen.
 * Min/max is exact over every value seen; percentiles come from a uniform
 * reservoir sample of at most CAP values per layer (quickselect, no sort). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/quant.h"

#define CAP (1 << 20)

void mn_calib_default(mn_calib_cfg *c) {
    c->kind = MN_CALIB_PERCENTILE;
    c->percentile = 99.99;
    c->batches = 8;
    c->batch = 64;
}

float mn_quantile(float *v, int64_t n, double p) {
    if (n <= 0) return 0;
    if (!(p > 0)) p = 0;
    if (p > 1) p = 1;
    int64_t k = (int64_t)ceil(p * (double)n) - 1, lo = 0, hi = n - 1;
    if (k < 0) k = 0;
    /* Hoare partition around the median of three until k is in place. */
    while (lo < hi) {
        int64_t m = lo + (hi - lo) / 2;
        float a = v[lo], b = v[m], c = v[hi];
        float piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) { float t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return v[k];
}

static int is_q(const mn_graph *g, int i) {
    return (g->nodes[i].op == MN_OP_DENSE || g->nodes[i].op == MN_OP_CONV) && g->nodes[i].nin > 0;
}

typedef struct col { float *buf; int64_t cnt, seen; float mn, mx; } col;

mn_status mn_calibrate(mn_graph *g, const mn_dataset *d, const mn_calib_cfg *c, mn_act_stats *st) {
    mn_status s;
    if ((s = mn_check_data(g, d))) return s;
    int bs = c->batch > 0 ? c->batch : 64, nb = c->batches > 0 ? c->batches : 8;
    int64_t total = (int64_t)bs * nb < d->n ? (int64_t)bs * nb : d->n;
    if (total <= 0) return mn_error(MN_EARG, "calibration: no samples");
    if ((s = mn_graph_reserve(g, bs))) return s;
    double p = c->percentile / 100.0;
    int pct = c->kind == MN_CALIB_PERCENTILE && p < 1.0;
    col *cl = calloc(g->nnodes, sizeof *cl);
    if (!cl) return mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < g->nnodes; i++) {
        memset(&st[i], 0, sizeof st[i]);
        cl[i].mn = FLT_MAX;
        cl[i].mx = -FLT_MAX;
        if (pct && is_q(g, i) && !(cl[i].buf = malloc(sizeof(float) * CAP))) {
            s = mn_error(MN_ENOMEM, "out of memory");
            goto out;
        }
    }
    mn_rng r;
    mn_rng_seed(&r, 12345);
    int64_t isz = (int64_t)d->c * d->h * d->w;
    for (int64_t b0 = 0; b0 < total; b0 += bs) {
        int b = total - b0 < bs ? (int)(total - b0) : bs;
        mn_graph_forward(g, d->x + b0 * isz, b, 0);
        for (int i = 0; i < g->nnodes; i++) {
            if (!is_q(g, i)) continue;
            const mn_node *in = &g->nodes[g->nodes[i].in[0]];
            int64_t m = (int64_t)b * mn_shape_numel(&in->out);
            col *q = &cl[i];
            for (int64_t k = 0; k < m; k++) {
                float v = in->y[k];
                if (!isfinite(v)) continue;
                if (v < q->mn) q->mn = v;
                if (v > q->mx) q->mx = v;
                if (!q->buf) continue;
                if (q->cnt < CAP) q->buf[q->cnt++] = v;
                else {
                    uint64_t j = mn_rng_u64(&r) % (uint64_t)(q->seen + 1);
                    if (j < CAP) q->buf[j] = v;
                }
                q->seen++;
            }
        }
    }
    for (int i = 0; i < g->nnodes; i++) {
        if (!is_q(g, i)) continue;
        col *q = &cl[i];
        mn_act_stats *o = &st[i];
        o->valid = 1;
        if (q->mn > q->mx) q->mn = q->mx = 0; /* nothing finite seen */
        o->lo = q->mn;
        o->hi = q->mx;
        o->absmax = fmaxf(-q->mn, q->mx);
        o->n = q->buf ? q->seen : 0;
        if (q->buf && q->cnt) {
            o->lo = mn_quantile(q->buf, q->cnt, 1 - p);
            o->hi = mn_quantile(q->buf, q->cnt, p);
            for (int64_t k = 0; k < q->cnt; k++) q->buf[k] = fabsf(q->buf[k]);
            o->absmax = mn_quantile(q->buf, q->cnt, p);
        }
    }
out:
    for (int i = 0; i < g->nnodes; i++) free(cl[i].buf);
    free(cl);
    return s;
}

static int32_t rne(float t) { return (int32_t)((t + 12582912.0f) - 12582912.0f); }

static float sane(float s) { return s >= FLT_MIN * 16 && s <= 1e30f ? s : (s > 1e30f ? 1e30f : 1.0f); }

mn_qact mn_qact_from_range(const mn_act_stats *s, int bits, int symmetric) {
    int qmax = (1 << (bits - 1)) - 1;
    mn_qact a;
    if (symmetric) {
        a.scale = sane(s->absmax / (float)qmax);
        a.zero = 0;
        a.qmin = -qmax;
        a.qmax = qmax;
        return a;
    }
    float lo = fminf(s->lo, 0), hi = fmaxf(s->hi, 0);
    a.qmin = -qmax - 1;
    a.qmax = qmax;
    a.scale = sane((hi - lo) / (float)(a.qmax - a.qmin));
    int32_t z = a.qmin - rne(lo / a.scale);
    a.zero = z < a.qmin ? a.qmin : z > a.qmax ? a.qmax : z;
    return a;
}
