/* Fixed-point quantization: values rounded to multiples of 2^-F within the
 * signed range of 1 + I + F bits, I (int bits) chosen per tensor from its
 * values so that a given fraction of them fit.  Weights become MN_ST_AFFINE
 * stores with scale 2^-F (when they fit 8 bits); the activations entering a
 * layer are rounded by the node producing them (act_bits/act_frac
 * attributes, applied in mn_graph_forward), and run through the int8
 * kernels when they fit 8 bits too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/quant.h"
#include "kernels/fixed.h"
#include "nn/param_store.h"
#include "store/affine.h"

void mn_fixed_default(mn_fixed_cfg *c) {
    memset(c, 0, sizeof *c);
    c->frac_bits = 4;
    c->int_bits = MN_FIXED_AUTO;
    c->coverage = 0.9999;
    c->target = MN_QT_BOTH;
    mn_calib_default(&c->calib);
    c->store = 1;
}

static int int_bits_of(float m) {
    if (!(m > 0)) return 0;
    int e;
    frexpf(m, &e); /* m = f * 2^e, f in [0.5, 1): m < 2^e */
    return e;
}

int mn_fixed_int_bits(const float *v, int64_t n, double coverage) {
    if (n <= 0) return 0;
    float *a = malloc(sizeof(float) * (size_t)n);
    float m = 0;
    if (a) {
        for (int64_t i = 0; i < n; i++) a[i] = isfinite(v[i]) ? fabsf(v[i]) : 0;
        m = mn_quantile(a, n, coverage);
        free(a);
    } else {
        for (int64_t i = 0; i < n; i++) if (fabsf(v[i]) > m) m = fabsf(v[i]); /* no memory: all in range */
    }
    return int_bits_of(m);
}

static int is_q(const mn_graph *g, int i) {
    return (g->nodes[i].op == MN_OP_DENSE || g->nodes[i].op == MN_OP_CONV) && g->nodes[i].np > 0;
}

static int fbits(int I, int F) { return 1 + I + F < 2 ? 2 : 1 + I + F; }

/* Weight codes of a fixed-point format as an AFFINE store. */
static mn_status fixed_store(mn_graph *g, int p, int bits, int F, const mn_qact *act) {
    int rows, cols;
    mn_param_matrix(g, p, &rows, &cols);
    const float *w = mn_param_data(g, p);
    int64_t n = (int64_t)rows * cols;
    int8_t *q = malloc((size_t)n);
    if (!q) return mn_error(MN_ENOMEM, "out of memory");
    float up = ldexpf(1.0f, F), s = ldexpf(1.0f, -F);
    int32_t z = 0;
    for (int64_t i = 0; i < n; i++) q[i] = (int8_t)lrintf(w[i] * up); /* w is on the grid already */
    mn_store *st;
    mn_status r = mn_affine_store_new(rows, cols, bits, q, &s, &z, 1, act, 1, &st);
    free(q);
    if (r == MN_OK && (r = mn_param_set_store(g, p, st))) mn_store_free(st);
    return r;
}

mn_status mn_quantize_fixed(mn_graph *g, const mn_fixed_cfg *c, const mn_dataset *calib, mn_qreport *rep) {
    int F = c->frac_bits, acts = (c->target & MN_QT_ACTS) != 0, wts = (c->target & MN_QT_WEIGHTS) != 0;
    if (F < 0 || F > 20) return mn_error(MN_EARG, "fixed point: fraction bits must be 0..20, got %d", F);
    if (c->int_bits != MN_FIXED_AUTO && (c->int_bits < -20 || c->int_bits > 20))
        return mn_error(MN_EARG, "fixed point: int bits must be -20..20, got %d", c->int_bits);
    if (acts && !calib) return mn_error(MN_EARG, "fixed point: activations need calibration data");
    mn_act_stats *st = NULL;
    mn_status s = MN_OK;
    if (acts) {
        mn_calib_cfg cc = c->calib;
        cc.kind = MN_CALIB_PERCENTILE;
        cc.percentile = c->coverage * 100;
        if (!(st = calloc(g->nnodes, sizeof *st))) return mn_error(MN_ENOMEM, "out of memory");
        if ((s = mn_calibrate(g, calib, &cc, st))) { free(st); return s; }
    }
    if (rep) rep->n = 0;
    for (int i = 0; i < g->nnodes && s == MN_OK; i++) {
        if (!is_q(g, i)) continue;
        mn_qlayer L;
        memset(&L, 0, sizeof L);
        L.node = i;
        L.param = g->nodes[i].p[0];
        L.fixed = 1;
        if (acts) {
            /* The producer rounds its output; every consumer sees the same
             * values, so the widest format any of them asks for wins. */
            mn_node *pr = &g->nodes[g->nodes[i].in[0]];
            L.aint = c->int_bits == MN_FIXED_AUTO ? int_bits_of(st[i].absmax) : c->int_bits;
            L.afrac = F;
            L.abits = fbits(L.aint, F);
            if (pr->a.act_bits < L.abits || pr->a.act_frac != F) {
                pr->a.act_bits = L.abits;
                pr->a.act_frac = F;
            }
            L.abits = pr->a.act_bits;
            L.aint = L.abits - 1 - F;
        }
        if (wts) {
            int p = L.param;
            float *w = mn_param_data(g, p);
            int64_t n = g->params[p].n;
            L.wint = c->int_bits == MN_FIXED_AUTO ? mn_fixed_int_bits(w, n, c->coverage) : c->int_bits;
            L.wfrac = F;
            L.wbits = fbits(L.wint, F);
            mn_param_drop_store(g, p);
            mn_fixed_round(w, n, L.wbits, F);
            if (c->store && L.wbits <= 8) {
                L.has_act = acts && L.abits <= 8;
                if (L.has_act) L.act = (mn_qact){ldexpf(1.0f, -F), 0, -(1 << (L.abits - 1)), (1 << (L.abits - 1)) - 1};
                s = fixed_store(g, p, L.wbits, F, L.has_act ? &L.act : NULL);
                L.stored = s == MN_OK;
            }
        }
        if (rep && rep->n < MN_QREPORT_MAX) rep->l[rep->n++] = L;
    }
    free(st);
    return s;
}
