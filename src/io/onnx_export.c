/* minnow graph -> ONNX (minnow/onnx.h), opset 13.
 *
 * Every protobuf-c message, string and copied array is taken from one pool
 * freed after packing, so no half-built model leaks on an error path. */
#include <stdlib.h>
#include <string.h>

#include "minnow/binary.h"
#include "minnow/io.h"
#include "minnow/onnx.h"
#include "minnow/quant.h"
#include "store/store.h"

#ifndef MINNOW_HAVE_ONNX

mn_status mn_onnx_export_mem(const mn_graph *g, unsigned char **buf, size_t *len) {
    (void)g;
    *buf = NULL;
    *len = 0;
    return mn_error(MN_EUNSUPPORTED, "minnow was built without ONNX support (protobuf-c / onnx.proto missing)");
}

#else

#include <stdio.h>

#include "onnx.pb-c.h"
#include "minnow/fold.h"
#include "core/file.h"
#include "nn/bin_w.h"
#include "store/affine.h"
#include "store/binary.h"

typedef struct pool { void **p; size_t n, cap; int err; } pool;

static void *pal(pool *P, size_t n) {
    if (P->err) return NULL;
    if (P->n == P->cap) {
        size_t cap = P->cap ? 2 * P->cap : 256;
        void **p = realloc(P->p, sizeof(void *) * cap);
        if (!p) { P->err = 1; return NULL; }
        P->p = p;
        P->cap = cap;
    }
    void *v = calloc(1, n ? n : 1);
    if (!v) { P->err = 1; return NULL; }
    return P->p[P->n++] = v;
}

static char *pstr(pool *P, const char *s) {
    char *d = pal(P, strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

typedef struct ex {
    pool P;
    Onnx__GraphProto *gp;
    size_t capn, capi;
    int pm1, zero;     /* the scalar initializers +-1 / 0 are written */
} ex;

static int push(pool *P, void ***arr, size_t *n, size_t *cap, void *v) {
    if (!v) return -1;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        void **a = pal(P, sizeof(void *) * c);
        if (!a) return -1;
        if (*n) memcpy(a, *arr, sizeof(void *) * *n);
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static Onnx__AttributeProto *aint(ex *E, const char *name, int64_t v) {
    Onnx__AttributeProto *a = pal(&E->P, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = pstr(&E->P, name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

static Onnx__AttributeProto *afloat(ex *E, const char *name, float v) {
    Onnx__AttributeProto *a = pal(&E->P, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = pstr(&E->P, name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
    return a;
}

static Onnx__AttributeProto *aints(ex *E, const char *name, int n, int64_t v) {
    Onnx__AttributeProto *a = pal(&E->P, sizeof *a);
    int64_t *x = pal(&E->P, sizeof(int64_t) * (size_t)n);
    if (!a || !x) return NULL;
    onnx__attribute_proto__init(a);
    a->name = pstr(&E->P, name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    for (int i = 0; i < n; i++) x[i] = v;
    a->n_ints = (size_t)n;
    a->ints = x;
    return a;
}

/* A node with up to 5 inputs (NULL ends the list) and attributes. */
static Onnx__NodeProto *node(ex *E, const char *op, const char *name, const char *out, const char *const *in, int nin) {
    Onnx__NodeProto *n = pal(&E->P, sizeof *n);
    char **ins = pal(&E->P, sizeof(char *) * (size_t)(nin ? nin : 1));
    char **outs = pal(&E->P, sizeof(char *));
    if (!n || !ins || !outs) return NULL;
    onnx__node_proto__init(n);
    n->op_type = pstr(&E->P, op);
    n->name = pstr(&E->P, name);
    for (int i = 0; i < nin; i++) ins[i] = pstr(&E->P, in[i]);
    outs[0] = pstr(&E->P, out);
    n->n_input = (size_t)nin;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    if (push(&E->P, (void ***)&E->gp->node, &E->gp->n_node, &E->capn, n)) return NULL;
    return n;
}

static int attr(ex *E, Onnx__NodeProto *n, Onnx__AttributeProto *a) {
    if (!n || !a) return -1;
    Onnx__AttributeProto **x = pal(&E->P, sizeof(void *) * (n->n_attribute + 1));
    if (!x) return -1;
    if (n->n_attribute) memcpy(x, n->attribute, sizeof(void *) * n->n_attribute);
    x[n->n_attribute++] = a;
    n->attribute = x;
    return 0;
}

/* An initializer of `bytes` raw bytes (copied). */
static int init(ex *E, const char *name, int dtype, const int64_t *dims, int nd, const void *data, size_t bytes) {
    Onnx__TensorProto *t = pal(&E->P, sizeof *t);
    int64_t *d = pal(&E->P, sizeof(int64_t) * (size_t)(nd ? nd : 1));
    uint8_t *raw = pal(&E->P, bytes);
    if (!t || !d || !raw) return -1;
    onnx__tensor_proto__init(t);
    t->name = pstr(&E->P, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    if (nd) memcpy(d, dims, sizeof(int64_t) * (size_t)nd);
    t->n_dims = (size_t)nd;
    t->dims = d;
    memcpy(raw, data, bytes);
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = bytes;
    return push(&E->P, (void ***)&E->gp->initializer, &E->gp->n_initializer, &E->capi, t);
}

static int initf(ex *E, const char *name, const int64_t *dims, int nd, const float *v, int64_t n) {
    return init(E, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, nd, v, sizeof(float) * (size_t)n);
}

static Onnx__ValueInfoProto *vinfo(ex *E, const char *name, const mn_shape *s) {
    Onnx__ValueInfoProto *v = pal(&E->P, sizeof *v);
    Onnx__TypeProto *tp = pal(&E->P, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = pal(&E->P, sizeof *tt);
    Onnx__TensorShapeProto *sh = pal(&E->P, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = pal(&E->P, sizeof(void *) * 4);
    if (!v || !tp || !tt || !sh || !dims) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i <= s->ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = pal(&E->P, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = pstr(&E->P, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = s->d[i - 1];
        }
        dims[i] = d;
    }
    sh->n_dim = (size_t)s->ndim + 1;
    sh->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = pstr(&E->P, name);
    v->type = tp;
    return v;
}

#define NM 96
typedef char vname[NM];

/* The weight of node n as an ONNX value: an f32 initializer, or int8 codes
 * through DequantizeLinear for an affine store.  *xin may be replaced by
 * its QuantizeLinear/DequantizeLinear pair when the store quantizes inputs. */
static mn_status weight(ex *E, const mn_graph *g, const mn_node *n, char *wname, char *xin) {
    const mn_param *p = &g->params[n->p[0]];
    int64_t dims[4];
    for (int i = 0; i < p->shape.ndim; i++) dims[i] = p->shape.d[i];
    snprintf(wname, NM, "%s", p->name);
    const mn_store *st = p->store;
    if (!st || st->kind != MN_ST_AFFINE)
        return initf(E, wname, dims, p->shape.ndim, mn_param_data(g, n->p[0]), p->n) ? mn_error(MN_ENOMEM, "out of memory") : MN_OK;
    mn_affine_info a;
    mn_status s = mn_affine_store_info(st, &a);
    if (s) return s;
    int8_t *z = pal(&E->P, (size_t)a.nscale);
    if (!z) return mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < a.nscale; i++) {
        if (a.zero[i] < -128 || a.zero[i] > 127) return mn_error(MN_EUNSUPPORTED, "%s: zero point out of int8 range", p->name);
        z[i] = (int8_t)a.zero[i];
    }
    char q[NM], sc[NM], zp[NM];
    snprintf(q, NM, "%s_q", p->name);
    snprintf(sc, NM, "%s_scale", p->name);
    snprintf(zp, NM, "%s_zero", p->name);
    int64_t ns = a.nscale;
    int per = a.nscale > 1;
    if (init(E, q, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, dims, p->shape.ndim, a.q, (size_t)p->n) ||
        initf(E, sc, &ns, per, a.scale, ns) || init(E, zp, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, &ns, per, z, (size_t)ns))
        return mn_error(MN_ENOMEM, "out of memory");
    const char *in3[3] = {q, sc, zp};
    Onnx__NodeProto *dq = node(E, "DequantizeLinear", wname, wname, in3, 3);
    if (!dq || (per && attr(E, dq, aint(E, "axis", 0)))) return mn_error(MN_ENOMEM, "out of memory");
    if (a.has_act) {
        /* The input as the integer kernel sees it. */
        char asc[NM], azp[NM], aq[NM], adq[NM];
        snprintf(asc, NM, "%s_in_scale", n->name);
        snprintf(azp, NM, "%s_in_zero", n->name);
        snprintf(aq, NM, "%s_in_q", n->name);
        snprintf(adq, NM, "%s_in_dq", n->name);
        int8_t az = (int8_t)a.act.zero;
        if (a.act.zero < -128 || a.act.zero > 127) return mn_error(MN_EUNSUPPORTED, "%s: input zero point out of int8 range", n->name);
        if (initf(E, asc, NULL, 0, &a.act.scale, 1) || init(E, azp, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, NULL, 0, &az, 1))
            return mn_error(MN_ENOMEM, "out of memory");
        const char *qi[3] = {xin, asc, azp}, *di[3] = {aq, asc, azp};
        if (!node(E, "QuantizeLinear", aq, aq, qi, 3) || !node(E, "DequantizeLinear", adq, adq, di, 3))
            return mn_error(MN_ENOMEM, "out of memory");
        snprintf(xin, NM, "%s", adq);
    }
    return MN_OK;
}

static mn_status bias(ex *E, const mn_graph *g, const mn_node *n, char *bname) {
    const mn_param *p = &g->params[n->p[1]];
    int64_t d = p->n;
    snprintf(bname, NM, "%s", p->name);
    return initf(E, bname, &d, 1, mn_param_data(g, n->p[1]), p->n) ? mn_error(MN_ENOMEM, "out of memory") : MN_OK;
}

/* ---- binarized layers: ONNX has no 1-bit type, so weights are floats ---- */

#define NOMEM mn_error(MN_ENOMEM, "out of memory")
static const char ONE[] = "minnow_one", MONE[] = "minnow_minus_one", ZERO[] = "minnow_zero";

/* The scalar initializers +1 and -1, written once; 0 on success. */
static int pm1(ex *E) {
    if (E->pm1) return 0;
    const float one = 1, mone = -1;
    if (initf(E, ONE, NULL, 0, &one, 1) || initf(E, MONE, NULL, 0, &mone, 1)) return -1;
    E->pm1 = 1;
    return 0;
}

/* out = x >= 0 ? +1 : -1 (NaN: -1), minnow's sign exactly. */
static mn_status sign_of(ex *E, const char *x, const char *out) {
    const float zero = 0;
    if (pm1(E) || (!E->zero && initf(E, ZERO, NULL, 0, &zero, 1))) return NOMEM;
    E->zero = 1;
    char ge[NM];
    snprintf(ge, NM, "%s_ge0", out);
    const char *a[2] = {x, ZERO}, *b[3] = {ge, ONE, MONE};
    return node(E, "GreaterOrEqual", ge, ge, a, 2) && node(E, "Where", out, out, b, 3) ? MN_OK : NOMEM;
}

/* The weight initializer of a bdense / bconv.  Folded: the unscaled signs
 * (+1, -1, 0 from the bit planes), so the layer's sum is minnow's integer
 * acc (exact in float for +-1 inputs) before the thresholds.  Otherwise the
 * values minnow's layer multiplies by: the decoded sign * scale (g->w of a
 * frozen layer), or the deterministic effective weights of one that is not
 * frozen. */
static mn_status bweight(ex *E, const mn_graph *g, const mn_node *n, char *wname) {
    const mn_param *p = &g->params[n->p[0]];
    int64_t dims[4];
    for (int i = 0; i < p->shape.ndim; i++) dims[i] = p->shape.d[i];
    int rows, cols;
    mn_param_matrix(g, n->p[0], &rows, &cols);
    snprintf(wname, NM, "%s%s", p->name, n->a.bfold ? "_signs" : "");
    const float *w = mn_param_data(g, n->p[0]);
    float *v = pal(&E->P, sizeof(float) * (size_t)p->n);
    if (!v) return NOMEM;
    const mn_bin_store *bs = mn_binary_store(p->store);
    if (p->store && !bs)
        return mn_error(MN_EUNSUPPORTED, "export-onnx: node '%s': %s storage in a %s layer is not supported", n->name,
                        mn_storage_name(p->store->kind), mn_op_name(n->op));
    if (n->a.bfold && bs) {
        for (int r = 0; r < rows; r++) {
            const uint64_t *b = bs->bits + (int64_t)r * bs->words, *m = bs->mask ? bs->mask + (int64_t)r * bs->words : NULL;
            for (int c = 0; c < cols; c++) {
                int on = !m || (m[c >> 6] >> (c & 63) & 1);
                v[(int64_t)r * cols + c] = !on ? 0.0f : (b[c >> 6] >> (c & 63) & 1) ? 1.0f : -1.0f;
            }
        }
    } else if (n->a.bfold) {
        for (int64_t i = 0; i < p->n; i++) v[i] = w[i] > 0 ? 1.0f : w[i] < 0 ? -1.0f : 0.0f;
    } else if (n->a.bmode != MN_BIN_FROZEN && !p->store) {
        int kk = p->shape.ndim == 4 ? p->shape.d[2] * p->shape.d[3] : 1;
        mn_bin_effective((mn_bin_mode)n->a.bmode, w, rows, cols, mn_bin_glorot(cols, rows * kk), n->a.bsparse, NULL, v);
    } else {
        memcpy(v, w, sizeof(float) * (size_t)p->n);
    }
    return initf(E, wname, dims, p->shape.ndim, v, p->n) ? NOMEM : MN_OK;
}

/* A per-unit vector as [units] (dense) or [units, 1, 1] (conv, broadcasting
 * over the positions). */
static int unitvec(ex *E, const char *name, const float *v, int units, int conv) {
    int64_t d[3] = {units, 1, 1};
    return initf(E, name, d, conv ? 3 : 1, v, units);
}

/* bdense / bconv:
 *   folded:    Where(GreaterOrEqual(Mul(x . signs, k), T), +1, -1)
 *   xscale:    Add(Mul(x . W, beta or K), bias), beta = ReduceMean(Abs(pre)),
 *              K = AveragePool(ReduceMean(Abs(pre)) over channels), the box
 *              average minnow takes (zeros outside, divided by k*k)
 *   otherwise: Gemm / Conv with W and the bias. */
static mn_status bin_layer(ex *E, const mn_graph *g, int i, vname *v, char *x) {
    const mn_node *n = &g->nodes[i];
    const char *nm = n->name;
    int conv = n->op == MN_OP_BCONV, units = conv ? n->a.filters : n->a.units;
    char w[NM], t[NM], bname[NM];
    mn_status st;
    if (!conv && g->nodes[n->in[0]].out.ndim != 1) {
        snprintf(t, NM, "%s_flat", nm);
        const char *fi[1] = {x};
        if (attr(E, node(E, "Flatten", t, t, fi, 1), aint(E, "axis", 1))) return NOMEM;
        snprintf(x, NM, "%s", t);
    }
    if ((st = bweight(E, g, n, w))) return st;
    const float *p1 = mn_param_data(g, n->p[1]);
    int sep = n->a.bfold || n->a.xscale; /* the bias (or thresholds) after the product */
    snprintf(bname, NM, "%s", g->params[n->p[1]].name);
    if (!sep && bias(E, g, n, bname)) return NOMEM;
    char prod[NM];
    snprintf(prod, NM, "%s%s", nm, sep ? "_acc" : "");
    const char *in[3] = {x, w, bname};
    Onnx__NodeProto *o = node(E, conv ? "Conv" : "Gemm", prod, prod, in, sep ? 2 : 3);
    if (conv ? attr(E, o, aints(E, "kernel_shape", 2, n->a.k)) || attr(E, o, aints(E, "strides", 2, n->a.stride)) ||
                   attr(E, o, aints(E, "pads", 4, n->a.pad)) || attr(E, o, aint(E, "group", 1))
             : attr(E, o, aint(E, "transB", 1)))
        return NOMEM;
    if (n->a.bfold) {
        char k[NM], T[NM], ka[NM];
        snprintf(k, NM, "%s.thresh_k", nm);
        snprintf(T, NM, "%s.thresh_T", nm);
        snprintf(ka, NM, "%s_kacc", nm);
        if (unitvec(E, k, p1, units, conv) || unitvec(E, T, p1 + units, units, conv)) return NOMEM;
        const char *a[2] = {prod, k}, *c[2] = {ka, T}, *wh[3] = {NULL, ONE, MONE};
        char ge[NM];
        snprintf(ge, NM, "%s_fire", nm);
        wh[0] = ge;
        if (pm1(E)) return NOMEM;
        return node(E, "Mul", ka, ka, a, 2) && node(E, "GreaterOrEqual", ge, ge, c, 2) && node(E, "Where", nm, nm, wh, 3)
                   ? MN_OK : NOMEM;
    }
    if (!n->a.xscale) return MN_OK;
    int k = n->in[0];
    if (g->nodes[k].op == MN_OP_FLATTEN) k = g->nodes[k].in[0];
    if (g->nodes[k].op != MN_OP_SIGN) return mn_error(MN_EUNSUPPORTED, "export-onnx: node '%s': input scale without a sign input", nm);
    int pre = g->nodes[k].in[0];
    char pa[NM], pf[NM], mean[NM], sc[NM], scaled[NM], bb[NM];
    snprintf(pf, NM, "%s", v[pre]);
    if (!conv && g->nodes[pre].out.ndim != 1) {
        snprintf(pf, NM, "%s_preflat", nm);
        const char *fi[1] = {v[pre]};
        if (attr(E, node(E, "Flatten", pf, pf, fi, 1), aint(E, "axis", 1))) return NOMEM;
    }
    snprintf(pa, NM, "%s_preabs", nm);
    snprintf(mean, NM, "%s_%s", nm, conv ? "premean" : "beta");
    snprintf(sc, NM, "%s_K", nm);
    snprintf(scaled, NM, "%s_scaled", nm);
    snprintf(bb, NM, "%s_b", nm);
    const char *a1[1] = {pf}, *a2[1] = {pa}, *a3[1] = {mean};
    if (!node(E, "Abs", pa, pa, a1, 1)) return NOMEM;
    Onnx__NodeProto *rm = node(E, "ReduceMean", mean, mean, a2, 1); /* over axis 1: features or channels */
    if (attr(E, rm, aints(E, "axes", 1, 1)) || attr(E, rm, aint(E, "keepdims", 1))) return NOMEM;
    if (conv) {
        Onnx__NodeProto *ap = node(E, "AveragePool", sc, sc, a3, 1);
        if (attr(E, ap, aints(E, "kernel_shape", 2, n->a.k)) || attr(E, ap, aints(E, "strides", 2, n->a.stride)) ||
            attr(E, ap, aints(E, "pads", 4, n->a.pad)) || attr(E, ap, aint(E, "count_include_pad", 1)))
            return NOMEM;
    }
    if (unitvec(E, bb, p1, units, conv)) return NOMEM;
    const char *m[2] = {prod, conv ? sc : mean}, *ad[2] = {scaled, bb};
    return node(E, "Mul", scaled, scaled, m, 2) && node(E, "Add", nm, nm, ad, 2) ? MN_OK : NOMEM;
}

static mn_status one(ex *E, const mn_graph *g, int i, vname *v) {
    const mn_node *n = &g->nodes[i];
    char x[NM], w[NM], b[NM], t[NM];
    const char *nm = n->name;
    mn_status st;
    if (n->a.act_bits) return mn_error(MN_EUNSUPPORTED, "export-onnx: node '%s' rounds to fixed point; not supported", nm);
    if (n->op != MN_OP_INPUT) snprintf(x, NM, "%s", v[n->in[0]]);
    snprintf(v[i], NM, "%s", nm);
    Onnx__NodeProto *o = NULL;
    int bad = 0;
    switch (n->op) {
    case MN_OP_INPUT: {
        const float *mean = mn_param_data(g, n->p[0]), *sd = mn_param_data(g, n->p[1]);
        int C = n->out.d[0], ident = 1;
        for (int k = 0; k < C; k++) ident &= mean[k] == 0 && sd[k] == 1;
        snprintf(v[i], NM, "input");
        if (ident) return MN_OK;
        int64_t d[3] = {C, 1, 1};
        int nd = n->out.ndim == 3 ? 3 : 1;
        char mname[NM], sname[NM], sub[NM];
        snprintf(mname, NM, "%s.mean", nm);
        snprintf(sname, NM, "%s.std", nm);
        snprintf(sub, NM, "%s_centered", nm);
        if (initf(E, mname, d, nd, mean, C) || initf(E, sname, d, nd, sd, C)) return mn_error(MN_ENOMEM, "out of memory");
        const char *a1[2] = {"input", mname}, *a2[2] = {sub, sname};
        snprintf(v[i], NM, "%s_normalized", nm);
        if (!node(E, "Sub", sub, sub, a1, 2) || !node(E, "Div", v[i], v[i], a2, 2)) return mn_error(MN_ENOMEM, "out of memory");
        return MN_OK;
    }
    case MN_OP_DENSE:
        if (g->nodes[n->in[0]].out.ndim != 1) {
            snprintf(t, NM, "%s_flat", nm);
            const char *fi[1] = {x};
            if (attr(E, node(E, "Flatten", t, t, fi, 1), aint(E, "axis", 1))) return mn_error(MN_ENOMEM, "out of memory");
            snprintf(x, NM, "%s", t);
        }
        if ((st = weight(E, g, n, w, x)) || (st = bias(E, g, n, b))) return st;
        {
            const char *in[3] = {x, w, b};
            o = node(E, "Gemm", nm, nm, in, 3);
            bad = attr(E, o, aint(E, "transB", 1));
        }
        break;
    case MN_OP_CONV:
        if ((st = weight(E, g, n, w, x)) || (st = bias(E, g, n, b))) return st;
        {
            const char *in[3] = {x, w, b};
            o = node(E, "Conv", nm, nm, in, 3);
            bad = attr(E, o, aints(E, "kernel_shape", 2, n->a.k)) || attr(E, o, aints(E, "strides", 2, n->a.stride)) ||
                  attr(E, o, aints(E, "pads", 4, n->a.pad)) || attr(E, o, aint(E, "group", n->a.groups ? n->a.groups : 1));
        }
        break;
    case MN_OP_MAXPOOL:
    case MN_OP_AVGPOOL: {
        const char *in[1] = {x};
        if (n->op == MN_OP_AVGPOOL && n->a.k == 0) { o = node(E, "GlobalAveragePool", nm, nm, in, 1); bad = !o; break; }
        o = node(E, n->op == MN_OP_MAXPOOL ? "MaxPool" : "AveragePool", nm, nm, in, 1);
        bad = attr(E, o, aints(E, "kernel_shape", 2, n->a.k)) || attr(E, o, aints(E, "strides", 2, n->a.stride)) ||
              attr(E, o, aints(E, "pads", 4, n->a.pad)) ||
              (n->op == MN_OP_AVGPOOL && attr(E, o, aint(E, "count_include_pad", 1)));
        break;
    }
    case MN_OP_RELU:
    case MN_OP_TANH: {
        if (n->op == MN_OP_RELU && n->a.max > 0) { /* ReLU6: Clip(x, 0, max) */
            char lo[NM + 8], hi[NM + 8];
            snprintf(lo, sizeof lo, "%s.min", nm);
            snprintf(hi, sizeof hi, "%s.max", nm);
            const float z = 0, mx = n->a.max;
            const char *in[3] = {x, lo, hi};
            bad = initf(E, lo, NULL, 0, &z, 1) || initf(E, hi, NULL, 0, &mx, 1) || !node(E, "Clip", nm, nm, in, 3);
            break;
        }
        const char *in[1] = {x};
        bad = !node(E, n->op == MN_OP_RELU ? "Relu" : "Tanh", nm, nm, in, 1);
        break;
    }
    case MN_OP_DROPOUT: snprintf(v[i], NM, "%s", x); return MN_OK;
    case MN_OP_FLATTEN: {
        const char *in[1] = {x};
        bad = attr(E, node(E, "Flatten", nm, nm, in, 1), aint(E, "axis", 1));
        break;
    }
    case MN_OP_BATCHNORM: {
        char pn[4][NM];
        int64_t d = n->out.d[0];
        for (int k = 0; k < 4; k++) {
            snprintf(pn[k], NM, "%s", g->params[n->p[k]].name);
            if (initf(E, pn[k], &d, 1, mn_param_data(g, n->p[k]), d)) return mn_error(MN_ENOMEM, "out of memory");
        }
        const char *in[5] = {x, pn[0], pn[1], pn[2], pn[3]};
        o = node(E, "BatchNormalization", nm, nm, in, 5);
        bad = attr(E, o, afloat(E, "epsilon", n->a.eps));
        break;
    }
    case MN_OP_ADD: {
        const char *in[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) in[k] = v[n->in[k]];
        bad = !node(E, n->nin == 2 ? "Add" : "Sum", nm, nm, in, n->nin);
        break;
    }
    case MN_OP_CONCAT: {
        const char *in[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) in[k] = v[n->in[k]];
        bad = attr(E, node(E, "Concat", nm, nm, in, n->nin), aint(E, "axis", 1));
        break;
    }
    case MN_OP_SOFTMAX: {
        const char *in[1] = {x};
        bad = attr(E, node(E, "Softmax", nm, nm, in, 1), aint(E, "axis", 1));
        break;
    }
    case MN_OP_SIGN: return sign_of(E, x, nm);
    case MN_OP_BDENSE:
    case MN_OP_BCONV: return bin_layer(E, g, i, v, x);
    default:
        return mn_error(MN_EUNSUPPORTED, "export-onnx: node '%s': op %s has no ONNX form here", nm, mn_op_name(n->op));
    }
    return bad ? mn_error(MN_ENOMEM, "out of memory") : MN_OK;
}

static mn_status export_mem(const mn_graph *g, unsigned char **buf, size_t *len) {
    ex E = {0};
    Onnx__ModelProto mp;
    Onnx__GraphProto gp;
    Onnx__OperatorSetIdProto ops;
    onnx__model_proto__init(&mp);
    onnx__graph_proto__init(&gp);
    onnx__operator_set_id_proto__init(&ops);
    E.gp = &gp;
    vname *v = calloc((size_t)g->nnodes, sizeof(vname));
    mn_status st = v ? MN_OK : mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < g->nnodes && !st; i++) st = one(&E, g, i, v);
    Onnx__ValueInfoProto *in = NULL, *out = NULL;
    if (!st) {
        int gi = 0;
        while (g->nodes[gi].op != MN_OP_INPUT) gi++;
        in = vinfo(&E, "input", &g->nodes[gi].out);
        out = vinfo(&E, v[g->output], &g->nodes[g->output].out);
        if (!in || !out || E.P.err || strcmp(v[g->output], "input") == 0) st = mn_error(MN_ENOMEM, "export-onnx: out of memory");
    }
    if (!st) {
        gp.name = "minnow";
        gp.n_input = 1;
        gp.input = &in;
        gp.n_output = 1;
        gp.output = &out;
        ops.domain = "";
        ops.has_version = 1;
        ops.version = 13;
        Onnx__OperatorSetIdProto *opp = &ops;
        mp.has_ir_version = 1;
        mp.ir_version = 7;
        mp.producer_name = "minnow";
        mp.producer_version = "0.1";
        mp.n_opset_import = 1;
        mp.opset_import = &opp;
        mp.graph = &gp;
        size_t n = onnx__model_proto__get_packed_size(&mp);
        *buf = malloc(n ? n : 1);
        if (!*buf) st = mn_error(MN_ENOMEM, "out of memory");
        else *len = onnx__model_proto__pack(&mp, *buf);
    }
    for (size_t i = 0; i < E.P.n; i++) free(E.P.p[i]);
    free(E.P.p);
    free(v);
    return st;
}

/* Batch norm goes out folded into the layer before it (minnow/fold.h),
 * as ONNX Runtime would fold it anyway: the file is what runs. */
mn_status mn_onnx_export_mem(const mn_graph *g, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if (!g->finalized) return mn_error(MN_EARG, "export-onnx: graph not finalized");
    mn_graph f;
    int nf = 0;
    mn_status st = mn_graph_fold_bn(g, &f, &nf);
    if (st) return st;
    st = export_mem(nf ? &f : g, buf, len);
    mn_graph_free(&f);
    return st;
}

#endif

mn_status mn_onnx_export(const mn_graph *g, const char *path) {
    unsigned char *buf;
    size_t len;
    mn_status st = mn_onnx_export_mem(g, &buf, &len);
    if (st) return st;
    st = mn_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}
