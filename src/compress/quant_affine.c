/* Affine (uniform) post-training quantization: per-tensor or per-row
 * scales and zero points for 2..8-bit weights, ranges from min/max or
 * shrunk to the least squared error, and the whole-model pass that stores
 * every dense/conv weight as MN_ST_AFFINE with its calibrated input format. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/cluster.h"
#include "minnow/quant.h"
#include "compress/quant_impl.h"
#include "kernels/int8.h"
#include "nn/param_store.h"
#include "store/affine.h"
#include "store/store.h"

void mn_affine_default(mn_affine_cfg *c) {
    memset(c, 0, sizeof *c);
    c->w = (mn_wquant){8, 1, 0, MN_WCLIP_MSE};
    c->act_bits = 8;
    c->act_symmetric = 0;
    mn_calib_default(&c->calib);
}

static float clamp_scale(float s) {
    if (!(s >= FLT_MIN * 16)) return s > 0 ? FLT_MIN * 16 : 1.0f;
    return s > 1e30f ? 1e30f : s;
}

static int32_t rne(float t) { return (int32_t)((t + 12582912.0f) - 12582912.0f); }

/* scale/zero mapping [lo, hi] (lo <= 0 <= hi) onto the code range. */
static void params(float lo, float hi, int qmin, int qmax, int sym, float *s, int32_t *z) {
    if (sym) {
        float m = fmaxf(-lo, hi);
        *s = clamp_scale(m / (float)qmax);
        *z = 0;
    } else {
        *s = clamp_scale((hi - lo) / (float)(qmax - qmin));
        int32_t zz = qmin - rne(lo / *s); /* |lo / s| <= qmax - qmin */
        *z = zz < qmin ? qmin : zz > qmax ? qmax : zz;
    }
}

/* inv = 1 / s: a multiply, not a divide, in the MSE search's inner loop. */
static int32_t code(float v, float inv, int32_t z, int qmin, int qmax) {
    float t = v * inv;
    if (!(t >= (float)(qmin - z))) t = (float)(qmin - z); /* NaN too */
    if (t > (float)(qmax - z)) t = (float)(qmax - z);
    return rne(t) + z;
}

static double sse(const float *v, int64_t n, float s, int32_t z, int qmin, int qmax) {
    float inv = 1.0f / s, e = 0;
    for (int64_t i = 0; i < n; i++) {
        float d = v[i] - s * (float)(code(v[i], inv, z, qmin, qmax) - z);
        e += d * d;
    }
    return e;
}

void mn_wquant_vec(const float *v, int64_t n, const mn_wquant *c, float *scale, int32_t *zero, int8_t *q,
                   float *deq) {
    int qmax = (1 << (c->bits - 1)) - 1, qmin = c->symmetric ? -qmax : -qmax - 1;
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) hi = v[i];
    }
    float s;
    int32_t z;
    params(lo, hi, qmin, qmax, c->symmetric, &s, &z);
    if (c->clip == MN_WCLIP_MSE && n > 0) {
        /* Shrinking the range trades clipping of the few largest values for
         * finer steps for all the others: try 5% steps, keep the best. */
        double best = sse(v, n, s, z, qmin, qmax);
        for (int k = 19; k >= 6; k--) {
            float a = (float)k / 20, ts;
            int32_t tz;
            params(lo * a, hi * a, qmin, qmax, c->symmetric, &ts, &tz);
            double e = sse(v, n, ts, tz, qmin, qmax);
            if (e < best) { best = e; s = ts; z = tz; }
        }
    }
    *scale = s;
    *zero = z;
    float inv = 1.0f / s;
    for (int64_t i = 0; i < n; i++) {
        int32_t k = code(v[i], inv, z, qmin, qmax);
        if (q) q[i] = (int8_t)k;
        if (deq) deq[i] = s * (float)(k - z);
    }
}

void mn_wquant_mat(const float *w, int rows, int cols, const mn_wquant *c, float *deq) {
    float s;
    int32_t z;
    if (!c->per_channel) { mn_wquant_vec(w, (int64_t)rows * cols, c, &s, &z, NULL, deq); return; }
    for (int r = 0; r < rows; r++)
        mn_wquant_vec(w + (int64_t)r * cols, cols, c, &s, &z, NULL, deq + (int64_t)r * cols);
}

mn_status mn_affine_store_quantize(const float *w, int rows, int cols, const mn_wquant *c, const mn_qact *act,
                                   mn_store **out) {
    if (c->bits < 2 || c->bits > 8) return mn_error(MN_EARG, "quantize: %d bits (2..8 supported)", c->bits);
    int ns = c->per_channel ? rows : 1;
    int8_t *q = malloc((size_t)rows * cols);
    float *s = malloc(sizeof(float) * ns);
    int32_t *z = malloc(sizeof(int32_t) * ns);
    mn_status st;
    if (!q || !s || !z) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    if (c->per_channel)
        for (int r = 0; r < rows; r++)
            mn_wquant_vec(w + (int64_t)r * cols, cols, c, &s[r], &z[r], q + (int64_t)r * cols, NULL);
    else
        mn_wquant_vec(w, (int64_t)rows * cols, c, &s[0], &z[0], q, NULL);
    st = mn_affine_store_new(rows, cols, c->bits, q, s, z, ns, act, 0, out);
out:
    free(q); free(s); free(z);
    return st;
}

/* True for the weight of a dense or conv node (what quantization touches). */
static int qparam(const mn_graph *g, int node) {
    mn_op op = g->nodes[node].op;
    return (op == MN_OP_DENSE || op == MN_OP_CONV) && g->nodes[node].np > 0;
}

mn_status mn_quantize_affine(mn_graph *g, const mn_affine_cfg *c, const mn_dataset *calib, mn_qreport *rep) {
    if (c->w.bits < 2 || c->w.bits > 8) return mn_error(MN_EARG, "quantize: --bits must be 2..8, got %d", c->w.bits);
    if (c->act_bits && (c->act_bits < 2 || c->act_bits > 8))
        return mn_error(MN_EARG, "quantize: activation bits must be 2..8 (or 0 for float), got %d", c->act_bits);
    if (c->act_bits && !calib) return mn_error(MN_EARG, "quantize: integer inference needs calibration data");
    if (c->layer_bits) { /* every layer's bits checked before any layer changes */
        mn_status ls = mn_kmeans_check_spec(g, c->layer_bits);
        if (ls) return ls;
        for (int i = 0; i < g->nnodes; i++) {
            if (!qparam(g, i)) continue;
            int b = mn_kmeans_layer_bits(c->layer_bits, g->nodes[i].name, c->w.bits);
            if (b != 0 && (b < 2 || b > 8))
                return mn_error(MN_EARG, "layer bits for '%s' must be 0 (float) or 2..8, got %d", g->nodes[i].name, b);
        }
    }
    mn_act_stats *st = NULL;
    mn_status s = MN_OK;
    if (c->act_bits) {
        if (!(st = calloc(g->nnodes, sizeof *st))) return mn_error(MN_ENOMEM, "out of memory");
        if ((s = mn_calibrate(g, calib, &c->calib, st))) { free(st); return s; }
    }
    if (rep) rep->n = 0;
    for (int i = 0; i < g->nnodes && s == MN_OK; i++) {
        if (!qparam(g, i)) continue;
        mn_wquant w = c->w;
        w.bits = mn_kmeans_layer_bits(c->layer_bits, g->nodes[i].name, c->w.bits);
        if (w.bits == 0) continue; /* kept in float, as asked */
        int p = g->nodes[i].p[0], rows, cols;
        mn_param_matrix(g, p, &rows, &cols);
        mn_qact act = {0};
        /* Rows longer than the int8 kernels take keep f32 activations. */
        int integer = c->act_bits && cols <= MN_I8_MAX_K;
        if (integer) act = mn_qact_from_range(&st[i], c->act_bits, c->act_symmetric);
        mn_store *store;
        s = mn_affine_store_quantize(mn_param_data(g, p), rows, cols, &w, integer ? &act : NULL, &store);
        if (s == MN_OK && (s = mn_param_set_store(g, p, store))) mn_store_free(store);
        if (s == MN_OK && rep && rep->n < MN_QREPORT_MAX)
            rep->l[rep->n++] = (mn_qlayer){i, p, w.bits, 0, 0, integer ? c->act_bits : 0, 0, 0, act, 1, integer, 0};
    }
    free(st);
    return s;
}
