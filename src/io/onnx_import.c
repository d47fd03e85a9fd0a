/* ONNX -> minnow graph (minnow/onnx.h).
 *
 * The importer walks the ONNX nodes in dependency order (not trusting the
 * file's order, so a cycle or a dangling input is found rather than
 * followed), tracks every value's per-sample shape itself, adds one minnow
 * node per ONNX compute node, and keeps the weights aside until
 * mn_graph_finalize has allocated the parameters.  Every size read from
 * the file is bounded before it is multiplied or used. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/io.h"
#include "kernels/kernels.h"
#include "minnow/onnx.h"

#ifndef MINNOW_HAVE_ONNX

int mn_onnx_available(void) { return 0; }
mn_status mn_onnx_import_mem(const unsigned char *buf, size_t len, mn_graph *g) {
    (void)buf;
    (void)len;
    mn_graph_init(g);
    return mn_error(MN_EUNSUPPORTED, "minnow was built without ONNX support (protobuf-c / onnx.proto missing)");
}
mn_status mn_onnx_import(const char *path, mn_graph *g) { return mn_onnx_import_mem((const unsigned char *)path, 0, g); }

#else

#include "onnx.pb-c.h"
#include "core/file.h"

#define MAX_NODES 4096
#define MAX_VALUES (4 * MAX_NODES)
#define MAX_TENSOR (1 << 28)  /* elements of one initializer */
#define MAX_ACT (1 << 24)     /* elements of one activation, per sample */

int mn_onnx_available(void) { return 1; }

/* One ONNX value: an activation (a minnow node's output) or a constant. */
typedef struct val {
    const char *name;
    const Onnx__TensorProto *t;  /* constant, else NULL */
    int node;                    /* minnow node index (activation) */
    mn_shape sh;                 /* per-sample shape */
    int bias;                    /* fill index of the producing dense/conv bias, -1 if none */
} val;

/* Parameter values kept until finalize. */
typedef struct fill {
    char param[2 * MN_NAME_MAX];
    float *v;
    int64_t n;
} fill;

typedef struct imp {
    const Onnx__GraphProto *gp;
    mn_graph *g;
    val *vals;
    int nvals;
    fill *fills;
    int nfills, capfills;
    int64_t act_total;
    int input, norm_mean, norm_std, norm_stage; /* input node, its mean/std fills, Sub/Div seen */
} imp;

static val *find(imp *m, const char *name) {
    for (int i = m->nvals - 1; i >= 0; i--)
        if (strcmp(m->vals[i].name, name) == 0) return &m->vals[i];
    return NULL;
}

static mn_status add_val(imp *m, const char *name, const val *v) {
    if (!name || !*name) return mn_error(MN_EFORMAT, "onnx: a value has an empty name");
    if (find(m, name)) return mn_error(MN_EFORMAT, "onnx: value '%s' is produced twice", name);
    if (m->nvals >= MAX_VALUES) return mn_error(MN_EFORMAT, "onnx: more than %d values", MAX_VALUES);
    if (!v->t) {
        int64_t n = mn_shape_numel(&v->sh);
        if (n <= 0 || n > MAX_ACT || (m->act_total += n) > 4 * (int64_t)MAX_ACT)
            return mn_error(MN_EFORMAT, "onnx: value '%s' is too large (%lld elements per sample)", name, (long long)n);
    }
    m->vals[m->nvals] = *v;
    m->vals[m->nvals].name = name;
    m->nvals++;
    return MN_OK;
}

static const char *nname(const Onnx__NodeProto *n) { return n->name && *n->name ? n->name : "(unnamed)"; }

/* ---- tensors ---- */

/* Dims of t, each in [1, MAX_TENSOR], product bounded; returns numel or -1. */
static int64_t tensor_dims(const Onnx__TensorProto *t, int64_t *dims, int maxd, int *nd) {
    const char *tn = t->name ? t->name : "(unnamed)";
    if (t->n_dims > (size_t)maxd) {
        mn_error(MN_EFORMAT, "onnx: tensor '%s' has %zu dims (at most %d here)", tn, t->n_dims, maxd);
        return -1;
    }
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 1 || t->dims[i] > MAX_TENSOR || (n *= t->dims[i]) > MAX_TENSOR) {
            mn_error(MN_EFORMAT, "onnx: tensor '%s' has a bad or huge dim %lld", tn, (long long)t->dims[i]);
            return -1;
        }
        dims[i] = t->dims[i];
    }
    *nd = (int)t->n_dims;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        mn_error(MN_EUNSUPPORTED, "onnx: tensor '%s' keeps its data in an external file", tn);
        return -1;
    }
    return n;
}

/* The float values of a constant, malloc'd; checks the byte count against
 * the dims before copying. */
static mn_status tensor_f32(const Onnx__TensorProto *t, float **out, int64_t *n, int64_t *dims, int *nd) {
    const char *tn = t->name ? t->name : "(unnamed)";
    *out = NULL;
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return mn_error(MN_EFORMAT, "onnx: tensor '%s' is not float32 (data_type %d)", tn, (int)t->data_type);
    int64_t d[8];
    int ndd;
    int64_t cnt = tensor_dims(t, dims ? dims : d, dims ? 4 : 8, nd ? nd : &ndd);
    if (cnt < 0) return MN_EFORMAT;
    float *v = malloc(sizeof(float) * (size_t)cnt);
    if (!v) return mn_error(MN_ENOMEM, "onnx: out of memory for tensor '%s'", tn);
    if (t->has_raw_data) {
        if (t->raw_data.len != (size_t)cnt * 4 || t->n_float_data) {
            free(v);
            return mn_error(MN_EFORMAT, "onnx: tensor '%s' holds %zu bytes, its dims need %lld", tn,
                            t->raw_data.len, (long long)cnt * 4);
        }
        memcpy(v, t->raw_data.data, (size_t)cnt * 4); /* little-endian, as the host */
    } else if (t->n_float_data == (size_t)cnt) {
        memcpy(v, t->float_data, (size_t)cnt * 4);
    } else {
        free(v);
        return mn_error(MN_EFORMAT, "onnx: tensor '%s' holds %zu floats, its dims need %lld", tn,
                        t->n_float_data, (long long)cnt);
    }
    /* Refused here, naming the tensor, rather than imported into a model
     * that every reader then refuses. */
    for (int64_t i = 0; i < cnt; i++)
        if (!isfinite(v[i])) {
            float x = v[i];
            free(v);
            return mn_error(MN_EFORMAT, "onnx: tensor '%s' holds a non-finite value (%s at index %lld)", tn,
                            isnan(x) ? "NaN" : "Inf", (long long)i);
        }
    *out = v;
    *n = cnt;
    return MN_OK;
}

/* An int64 constant (Reshape's shape), at most 8 values. */
static mn_status tensor_i64(const Onnx__TensorProto *t, int64_t *v, int *n) {
    const char *tn = t->name ? t->name : "(unnamed)";
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
        return mn_error(MN_EFORMAT, "onnx: tensor '%s' is not int64", tn);
    int64_t d[1];
    int nd;
    int64_t cnt = tensor_dims(t, d, 1, &nd);
    if (cnt < 0) return MN_EFORMAT;
    if (cnt > 8) return mn_error(MN_EFORMAT, "onnx: shape tensor '%s' has %lld entries", tn, (long long)cnt);
    if (t->has_raw_data) {
        if (t->raw_data.len != (size_t)cnt * 8) return mn_error(MN_EFORMAT, "onnx: tensor '%s': bad byte count", tn);
        memcpy(v, t->raw_data.data, (size_t)cnt * 8);
    } else if (t->n_int64_data == (size_t)cnt) {
        memcpy(v, t->int64_data, (size_t)cnt * 8);
    } else {
        return mn_error(MN_EFORMAT, "onnx: tensor '%s': value count does not match its dims", tn);
    }
    *n = (int)cnt;
    return MN_OK;
}

/* ---- attributes ---- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static mn_status attr_int(const Onnx__NodeProto *n, const char *name, int64_t def, int64_t *out) {
    const Onnx__AttributeProto *a = attr(n, name);
    *out = def;
    if (!a) return MN_OK;
    if (!a->has_i) return mn_error(MN_EFORMAT, "onnx: node '%s': attribute %s is not an int", nname(n), name);
    *out = a->i;
    return MN_OK;
}

static mn_status attr_float(const Onnx__NodeProto *n, const char *name, float def, float *out) {
    const Onnx__AttributeProto *a = attr(n, name);
    *out = def;
    if (!a) return MN_OK;
    if (!a->has_f) return mn_error(MN_EFORMAT, "onnx: node '%s': attribute %s is not a float", nname(n), name);
    *out = a->f;
    return MN_OK;
}

/* ints attribute of exactly `want` entries (absent: all def). */
static mn_status attr_ints(const Onnx__NodeProto *n, const char *name, size_t want, int64_t def, int64_t *out) {
    const Onnx__AttributeProto *a = attr(n, name);
    for (size_t i = 0; i < want; i++) out[i] = def;
    if (!a) return MN_OK;
    if (a->n_ints != want)
        return mn_error(MN_EFORMAT, "onnx: node '%s': attribute %s needs %zu values, has %zu", nname(n), name, want,
                        a->n_ints);
    for (size_t i = 0; i < want; i++) out[i] = a->ints[i];
    return MN_OK;
}

static int attr_str_is(const Onnx__NodeProto *n, const char *name, const char *def, const char *want) {
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a || !a->has_s) return strcmp(def, want) == 0;
    return a->s.len == strlen(want) && memcmp(a->s.data, want, a->s.len) == 0;
}

/* ---- building ---- */

/* A minnow node name from the ONNX one: "/layer1/conv1/Conv" -> "layer1_conv1". */
static void make_name(imp *m, const Onnx__NodeProto *n, char *out) {
    char base[MN_NAME_MAX];
    size_t k = 0;
    const char *s = n->name ? n->name : "";
    const char *last = strrchr(s, '/');
    size_t len = (last && last != s) ? (size_t)(last - s) : strlen(s);
    if (last == s) len = 0;
    for (size_t i = 0; i < len && k < 20; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (ok) base[k++] = c;
        else if (k && base[k - 1] != '_') base[k++] = '_';
    }
    while (k && base[k - 1] == '_') k--;
    base[k] = 0;
    if (!k) {
        const char *op = n->op_type ? n->op_type : "node";
        for (k = 0; op[k] && k < 12; k++) base[k] = (char)((op[k] >= 'A' && op[k] <= 'Z') ? op[k] + 32 : op[k]);
        base[k] = 0;
    }
    snprintf(out, MN_NAME_MAX, "%s", base);
    for (int i = 1; mn_graph_find_node(m->g, out) >= 0 || strcmp(out, "input") == 0; i++)
        snprintf(out, MN_NAME_MAX, "%.20s_%d", base, i);
}

static int add_fill(imp *m, const char *node, const char *role, float *v, int64_t n) {
    if (m->nfills == m->capfills) {
        int cap = m->capfills ? 2 * m->capfills : 32;
        fill *f = realloc(m->fills, sizeof(fill) * (size_t)cap);
        if (!f) { free(v); mn_error(MN_ENOMEM, "onnx: out of memory"); return -1; }
        m->fills = f;
        m->capfills = cap;
    }
    fill *f = &m->fills[m->nfills];
    snprintf(f->param, sizeof f->param, "%s.%s", node, role);
    f->v = v;
    f->n = n;
    return m->nfills++;
}

/* Adds a minnow node fed by activation `in` (and `in2`), producing value `out`. */
static mn_status add_node(imp *m, const Onnx__NodeProto *n, mn_op op, const mn_attrs *a, const val *in,
                          const val *in2, mn_shape out, int bias, char *name_out) {
    char name[MN_NAME_MAX];
    make_name(m, n, name);
    /* copies: mn_graph_add may move g->nodes while it reads the names */
    char n0[MN_NAME_MAX], n1[MN_NAME_MAX] = "";
    memcpy(n0, m->g->nodes[in->node].name, MN_NAME_MAX);
    if (in2) memcpy(n1, m->g->nodes[in2->node].name, MN_NAME_MAX);
    const char *ins[2] = {n0, in2 ? n1 : NULL};
    int idx = mn_graph_add(m->g, op, name, ins, in2 ? 2 : 1, a);
    if (idx < 0) return MN_EFORMAT;
    if (name_out) memcpy(name_out, name, MN_NAME_MAX);
    val v = {0};
    v.node = idx;
    v.sh = out;
    v.bias = bias;
    return add_val(m, n->output[0], &v);
}

static mn_status alias(imp *m, const Onnx__NodeProto *n, const val *in) {
    val v = *in;
    return add_val(m, n->output[0], &v);
}

/* Activation input i of node n (a constant there is an error). */
static mn_status act_in(imp *m, const Onnx__NodeProto *n, size_t i, val **out) {
    if (i >= n->n_input || !n->input[i] || !*n->input[i])
        return mn_error(MN_EFORMAT, "onnx: node '%s' (%s) lacks input %zu", nname(n), n->op_type, i);
    val *v = find(m, n->input[i]);
    if (!v) return mn_error(MN_EFORMAT, "onnx: node '%s': input '%s' is missing", nname(n), n->input[i]);
    if (v->t)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): input '%s' is a constant where minnow needs an activation",
                        nname(n), n->op_type, n->input[i]);
    *out = v;
    return MN_OK;
}

/* Constant input i (NULL if optional and absent). */
static mn_status const_in(imp *m, const Onnx__NodeProto *n, size_t i, int optional, const Onnx__TensorProto **out) {
    *out = NULL;
    if (i >= n->n_input || !n->input[i] || !*n->input[i]) {
        if (optional) return MN_OK;
        return mn_error(MN_EFORMAT, "onnx: node '%s' (%s) lacks input %zu", nname(n), n->op_type, i);
    }
    val *v = find(m, n->input[i]);
    if (!v) return mn_error(MN_EFORMAT, "onnx: node '%s': initializer '%s' is missing", nname(n), n->input[i]);
    if (!v->t)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): input '%s' must be an initializer (constant)", nname(n),
                        n->op_type, n->input[i]);
    *out = v->t;
    return MN_OK;
}

static int consumers(const imp *m, const char *name) {
    int c = 0;
    for (size_t i = 0; i < m->gp->n_node; i++)
        for (size_t j = 0; j < m->gp->node[i]->n_input; j++)
            if (m->gp->node[i]->input[j] && strcmp(m->gp->node[i]->input[j], name) == 0) c++;
    for (size_t i = 0; i < m->gp->n_output; i++)
        if (m->gp->output[i] && m->gp->output[i]->name && strcmp(m->gp->output[i]->name, name) == 0) c++;
    return c;
}

/* Optional bias (numel units) scaled by beta into a fresh array. */
static mn_status bias_of(const Onnx__NodeProto *n, const Onnx__TensorProto *t, int units, float beta, float **out) {
    float *b = calloc((size_t)units, sizeof(float));
    if (!b) return mn_error(MN_ENOMEM, "onnx: out of memory");
    if (t) {
        float *v;
        int64_t cnt;
        mn_status st = tensor_f32(t, &v, &cnt, NULL, NULL);
        if (st) { free(b); return st; }
        if (cnt != units && cnt != 1) {
            free(v);
            free(b);
            return mn_error(MN_EFORMAT, "onnx: node '%s': bias has %lld values for %d units", nname(n), (long long)cnt, units);
        }
        for (int i = 0; i < units; i++) b[i] = beta * v[cnt == 1 ? 0 : i];
        free(v);
    }
    *out = b;
    return MN_OK;
}

static mn_status dense_node(imp *m, const Onnx__NodeProto *n, const val *x, float *w, int units, int in, float *b) {
    if (x->sh.ndim != 1 || x->sh.d[0] != in) {
        free(w);
        free(b);
        return mn_error(MN_ESHAPE, "onnx: node '%s' (%s): input has %lld features per sample, weight expects %d "
                        "(a rank-2 [N, %d] input)", nname(n), n->op_type, (long long)mn_shape_numel(&x->sh), in, in);
    }
    mn_attrs a = {0};
    a.units = units;
    char name[MN_NAME_MAX];
    make_name(m, n, name);
    int wi = add_fill(m, name, "weight", w, (int64_t)units * in);
    if (wi < 0) { free(b); return MN_ENOMEM; }
    int bi = add_fill(m, name, "bias", b, units);
    if (bi < 0) return MN_ENOMEM;
    mn_shape out = {1, {units, 0, 0, 0}};
    return add_node(m, n, MN_OP_DENSE, &a, x, NULL, out, bi, NULL);
}

static mn_status do_gemm(imp *m, const Onnx__NodeProto *n, int matmul) {
    val *x;
    const Onnx__TensorProto *tb, *tc = NULL;
    mn_status st;
    if ((st = act_in(m, n, 0, &x)) || (st = const_in(m, n, 1, 0, &tb))) return st;
    if (!matmul && (st = const_in(m, n, 2, 1, &tc))) return st;
    int64_t ta = 0, tbt = 0;
    float alpha = 1, beta = 1;
    if (!matmul && ((st = attr_int(n, "transA", 0, &ta)) || (st = attr_int(n, "transB", 0, &tbt)) ||
                    (st = attr_float(n, "alpha", 1, &alpha)) || (st = attr_float(n, "beta", 1, &beta))))
        return st;
    if (ta) return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Gemm): transA=1 is not supported", nname(n));
    float *B;
    int64_t cnt, d[4];
    int nd;
    if ((st = tensor_f32(tb, &B, &cnt, d, &nd))) return st;
    if (nd != 2) {
        free(B);
        return mn_error(MN_EFORMAT, "onnx: node '%s' (%s): weight must be 2-D", nname(n), n->op_type);
    }
    /* minnow keeps W[units, in]: Gemm with transB holds exactly that. */
    int units = (int)(tbt ? d[0] : d[1]), in = (int)(tbt ? d[1] : d[0]);
    float *w = malloc(sizeof(float) * (size_t)cnt);
    if (!w) { free(B); return mn_error(MN_ENOMEM, "onnx: out of memory"); }
    for (int u = 0; u < units; u++)
        for (int i = 0; i < in; i++) w[(int64_t)u * in + i] = alpha * (tbt ? B[(int64_t)u * in + i] : B[(int64_t)i * units + u]);
    free(B);
    float *b;
    if ((st = bias_of(n, tc, units, beta, &b))) { free(w); return st; }
    return dense_node(m, n, x, w, units, in, b);
}

/* Square kernel, equal strides, symmetric pads, unit dilations. */
static mn_status window(const Onnx__NodeProto *n, int64_t kdef, int *k, int *s, int *p) {
    int64_t ks[2], st2[2], pd[4], dl[2];
    mn_status st;
    if ((st = attr_ints(n, "kernel_shape", 2, kdef, ks)) || (st = attr_ints(n, "strides", 2, 1, st2)) ||
        (st = attr_ints(n, "pads", 4, 0, pd)) || (st = attr_ints(n, "dilations", 2, 1, dl)))
        return st;
    if (!attr_str_is(n, "auto_pad", "NOTSET", "NOTSET") && !attr_str_is(n, "auto_pad", "NOTSET", "VALID"))
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): auto_pad SAME_* is not supported (give explicit pads)",
                        nname(n), n->op_type);
    if (ks[0] != ks[1] || ks[0] < 1 || ks[0] > 4096)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): only square kernels are supported (%lldx%lld)", nname(n),
                        n->op_type, (long long)ks[0], (long long)ks[1]);
    if (st2[0] != st2[1] || st2[0] < 1 || st2[0] > 4096)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): strides must be equal and positive", nname(n), n->op_type);
    if (pd[0] != pd[1] || pd[0] != pd[2] || pd[0] != pd[3] || pd[0] < 0 || pd[0] > 4096)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): asymmetric pads [%lld,%lld,%lld,%lld] are not supported",
                        nname(n), n->op_type, (long long)pd[0], (long long)pd[1], (long long)pd[2], (long long)pd[3]);
    if (dl[0] != 1 || dl[1] != 1)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): dilations are not supported", nname(n), n->op_type);
    *k = (int)ks[0];
    *s = (int)st2[0];
    *p = (int)pd[0];
    return MN_OK;
}

static mn_status do_conv(imp *m, const Onnx__NodeProto *n) {
    val *x;
    const Onnx__TensorProto *tw, *tb;
    mn_status st;
    if ((st = act_in(m, n, 0, &x)) || (st = const_in(m, n, 1, 0, &tw)) || (st = const_in(m, n, 2, 1, &tb))) return st;
    if (x->sh.ndim != 3) return mn_error(MN_ESHAPE, "onnx: node '%s' (Conv): input must be N x C x H x W", nname(n));
    float *w;
    int64_t cnt, d[4];
    int nd, k, s, p;
    int64_t grp;
    if ((st = attr_int(n, "group", 1, &grp))) return st;
    if ((st = tensor_f32(tw, &w, &cnt, d, &nd))) return st;
    if (nd != 4 || d[2] != d[3]) {
        free(w);
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Conv): weight must be 4-D with a square kernel", nname(n));
    }
    if ((st = window(n, d[2], &k, &s, &p))) { free(w); return st; }
    int C = x->sh.d[0], H = x->sh.d[1], W = x->sh.d[2];
    if (k != d[2] || grp < 1 || grp > C || C % grp || d[0] % grp || d[1] * grp != C || p >= k ||
        H + 2 * p < k || W + 2 * p < k) {
        free(w);
        return mn_error(MN_ESHAPE, "onnx: node '%s' (Conv): weight %lldx%lldx%lldx%lld, group %lld, pad %d do not fit "
                        "input %dx%dx%d (minnow needs pad < kernel)", nname(n), (long long)d[0], (long long)d[1],
                        (long long)d[2], (long long)d[3], (long long)grp, p, C, H, W);
    }
    int F = (int)d[0];
    float *b;
    if ((st = bias_of(n, tb, F, 1.0f, &b))) { free(w); return st; }
    mn_attrs a = {0};
    a.filters = F;
    a.k = k;
    a.stride = s;
    a.pad = p;
    a.groups = (int)grp;
    char name[MN_NAME_MAX];
    make_name(m, n, name);
    if (add_fill(m, name, "weight", w, cnt) < 0) { free(b); return MN_ENOMEM; }
    int bi = add_fill(m, name, "bias", b, F);
    if (bi < 0) return MN_ENOMEM;
    mn_shape out = {3, {F, mn_conv_out(H, k, s, p), mn_conv_out(W, k, s, p), 0}};
    return add_node(m, n, MN_OP_CONV, &a, x, NULL, out, bi, NULL);
}

static mn_status do_pool(imp *m, const Onnx__NodeProto *n, mn_op op) {
    val *x;
    mn_status st;
    if ((st = act_in(m, n, 0, &x))) return st;
    if (x->sh.ndim != 3) return mn_error(MN_ESHAPE, "onnx: node '%s' (%s): input must be N x C x H x W", nname(n), n->op_type);
    if (n->n_output > 1 && n->output[1] && *n->output[1])
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (MaxPool): the Indices output is not supported", nname(n));
    int k, s, p;
    if (!attr(n, "kernel_shape"))
        return mn_error(MN_EFORMAT, "onnx: node '%s' (%s): kernel_shape is required", nname(n), n->op_type);
    if ((st = window(n, 1, &k, &s, &p))) return st;
    int H = x->sh.d[1], W = x->sh.d[2];
    if (2 * p > k || H + 2 * p < k || W + 2 * p < k)
        return mn_error(MN_ESHAPE, "onnx: node '%s' (%s): kernel %d / pad %d do not fit input %dx%d", nname(n),
                        n->op_type, k, p, H, W);
    int64_t ceil_mode, cip;
    if ((st = attr_int(n, "ceil_mode", 0, &ceil_mode)) || (st = attr_int(n, "count_include_pad", 0, &cip))) return st;
    int oh = mn_conv_out(H, k, s, p), ow = mn_conv_out(W, k, s, p);
    if (ceil_mode && ((H + 2 * p - k) % s || (W + 2 * p - k) % s))
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): ceil_mode=1 changes the output size here; not supported",
                        nname(n), n->op_type);
    /* minnow's average divides by k*k, padding included. */
    if (op == MN_OP_AVGPOOL && p > 0 && !cip)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (AveragePool): padding with count_include_pad=0 is not supported",
                        nname(n));
    mn_attrs a = {0};
    a.k = k;
    a.stride = s;
    a.pad = p;
    mn_shape out = {3, {x->sh.d[0], oh, ow, 0}};
    return add_node(m, n, op, &a, x, NULL, out, -1, NULL);
}

static mn_status do_flatten(imp *m, const Onnx__NodeProto *n, const val *x) {
    if (x->sh.ndim == 1) return alias(m, n, x);
    mn_attrs a = {0};
    mn_shape out = {1, {(int)mn_shape_numel(&x->sh), 0, 0, 0}};
    return add_node(m, n, MN_OP_FLATTEN, &a, x, NULL, out, -1, NULL);
}

static mn_status do_reshape(imp *m, const Onnx__NodeProto *n) {
    val *x;
    const Onnx__TensorProto *ts;
    mn_status st;
    if ((st = act_in(m, n, 0, &x)) || (st = const_in(m, n, 1, 0, &ts))) return st;
    int64_t s[8] = {0};
    int ns = 0;
    if ((st = tensor_i64(ts, s, &ns))) return st;
    int64_t numel = mn_shape_numel(&x->sh);
    /* Only the flattening reshape [N, -1] (or [N, numel], N as 0 or -1). */
    int ok = ns == 2 && (s[1] == numel || (s[1] == -1 && s[0] != -1)) && (s[0] == 0 || s[0] == -1 || s[0] > 0);
    if (!ok)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Reshape): only flattening to [N, -1] is supported", nname(n));
    return do_flatten(m, n, x);
}

/* PyTorch writes a Pad of zeros before some pools: only that is an identity. */
static mn_status do_pad(imp *m, const Onnx__NodeProto *n) {
    val *x;
    const Onnx__TensorProto *tp;
    mn_status st;
    if ((st = act_in(m, n, 0, &x)) || (st = const_in(m, n, 1, 0, &tp))) return st;
    int64_t p[8] = {0};
    int np = 0;
    if ((st = tensor_i64(tp, p, &np))) return st;
    for (int i = 0; i < np; i++)
        if (p[i])
            return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Pad): only all-zero pads are supported (use the conv/pool "
                            "pads attribute)", nname(n));
    return alias(m, n, x);
}

/* Sub then Div of per-channel constants right at the input: the input
 * node's normalisation (what export-onnx writes for it). */
static mn_status do_norm(imp *m, const Onnx__NodeProto *n, int div) {
    val *x;
    const Onnx__TensorProto *t;
    mn_status st;
    if ((st = act_in(m, n, 0, &x)) || (st = const_in(m, n, 1, 0, &t))) return st;
    if (x->node != m->input || m->norm_stage >= 1 + div || consumers(m, n->input[0]) != 1)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (%s): only per-channel input normalisation (Sub then Div of "
                        "constants right after the input) is supported", nname(n), n->op_type);
    fill *f = &m->fills[div ? m->norm_std : m->norm_mean];
    float *v;
    int64_t cnt;
    if ((st = tensor_f32(t, &v, &cnt, NULL, NULL))) return st;
    int ok = cnt == f->n || cnt == 1;
    for (int64_t i = 0; ok && i < f->n; i++) {
        f->v[i] = v[cnt == 1 ? 0 : i];
        if (div && !(f->v[i] != 0)) ok = 0;
    }
    free(v);
    if (!ok) return mn_error(MN_EFORMAT, "onnx: node '%s' (%s): constant does not fit the input channels", nname(n), n->op_type);
    m->norm_stage = 1 + div;
    return alias(m, n, x);
}

/* Clip(x, 0, M) with constant bounds, M > 0: a relu clipped at M (ReLU6). */
static mn_status do_clip(imp *m, const Onnx__NodeProto *n, val *x) {
    float b[2];
    mn_status st;
    for (int k = 0; k < 2; k++) {
        const Onnx__TensorProto *t;
        float *v;
        int64_t cnt;
        if (n->n_input < (size_t)k + 2 || !n->input[k + 1][0])
            return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Clip): only Clip with constant min 0 and max > 0 (ReLU6)", nname(n));
        if ((st = const_in(m, n, k + 1, 0, &t)) || (st = tensor_f32(t, &v, &cnt, NULL, NULL))) return st;
        b[k] = cnt == 1 ? v[0] : NAN;
        free(v);
    }
    if (!(b[0] == 0 && b[1] > 0 && isfinite(b[1])))
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Clip): only min 0 and a finite max > 0 (ReLU6) are supported",
                        nname(n));
    mn_attrs a = {0};
    a.max = b[1];
    return add_node(m, n, MN_OP_RELU, &a, x, NULL, x->sh, -1, NULL);
}

static mn_status do_bn(imp *m, const Onnx__NodeProto *n) {
    val *x;
    mn_status st;
    if ((st = act_in(m, n, 0, &x))) return st;
    int64_t tm;
    float eps, mom;
    if ((st = attr_int(n, "training_mode", 0, &tm)) || (st = attr_float(n, "epsilon", 1e-5f, &eps)) ||
        (st = attr_float(n, "momentum", 0.9f, &mom)))
        return st;
    if (tm) return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (BatchNormalization): training_mode=1 is not supported", nname(n));
    if (!(eps > 0 && eps < 1)) return mn_error(MN_EFORMAT, "onnx: node '%s': bad epsilon", nname(n));
    int C = x->sh.d[0];
    static const char *roles[4] = {"gamma", "beta", "mean", "var"};
    float *v[4] = {0};
    char name[MN_NAME_MAX];
    make_name(m, n, name);
    for (int i = 0; i < 4; i++) {
        const Onnx__TensorProto *t;
        int64_t cnt;
        if (!(st = const_in(m, n, (size_t)i + 1, 0, &t)) && !(st = tensor_f32(t, &v[i], &cnt, NULL, NULL)) && cnt != C)
            st = mn_error(MN_EFORMAT, "onnx: node '%s' (BatchNormalization): %s has %lld values for %d channels",
                          nname(n), roles[i], (long long)cnt, C);
        if (st) {
            for (int j = 0; j <= i; j++) free(v[j]);
            return st;
        }
    }
    for (int i = 0; i < 4; i++)
        if (add_fill(m, name, roles[i], v[i], C) < 0) {
            for (int j = i + 1; j < 4; j++) free(v[j]);
            return MN_ENOMEM;
        }
    mn_attrs a = {0};
    a.eps = eps;
    /* ONNX keeps the running stats' weight, PyTorch (and minnow) the new batch's. */
    a.momentum = (mom > 0 && mom < 1) ? 1 - mom : 0.1f;
    return add_node(m, n, MN_OP_BATCHNORM, &a, x, NULL, x->sh, -1, NULL);
}

static mn_status do_add(imp *m, const Onnx__NodeProto *n) {
    if (n->n_input != 2 || !n->input[0] || !n->input[1])
        return mn_error(MN_EFORMAT, "onnx: node '%s' (Add) needs two inputs", nname(n));
    val *a = find(m, n->input[0]), *b = find(m, n->input[1]);
    if (!a || !b) return mn_error(MN_EFORMAT, "onnx: node '%s' (Add): an input is missing", nname(n));
    if (a->t && b->t) return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Add) of two constants", nname(n));
    if (!a->t && !b->t) {
        if (a->sh.ndim != b->sh.ndim || mn_shape_numel(&a->sh) != mn_shape_numel(&b->sh) ||
            memcmp(a->sh.d, b->sh.d, sizeof(int) * (size_t)a->sh.ndim))
            return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Add): broadcasting between activations is not supported",
                            nname(n));
        mn_attrs at = {0};
        return add_node(m, n, MN_OP_ADD, &at, a, b, a->sh, -1, NULL);
    }
    /* activation + constant: a bias after MatMul/Gemm/Conv, folded into it. */
    val *x = a->t ? b : a;
    const Onnx__TensorProto *t = a->t ? a->t : b->t;
    const char *xname = a->t ? n->input[1] : n->input[0];
    if (x->bias < 0 || consumers(m, xname) != 1)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Add): adding a constant is supported only as the bias of "
                        "MatMul/Gemm/Conv", nname(n));
    fill *f = &m->fills[x->bias];
    float *v;
    int64_t cnt;
    mn_status st = tensor_f32(t, &v, &cnt, NULL, NULL);
    if (st) return st;
    if (cnt != f->n && cnt != 1) {
        free(v);
        return mn_error(MN_EFORMAT, "onnx: node '%s' (Add): bias has %lld values for %lld units", nname(n),
                        (long long)cnt, (long long)f->n);
    }
    for (int64_t i = 0; i < f->n; i++) f->v[i] += v[cnt == 1 ? 0 : i];
    free(v);
    return alias(m, n, x);
}

static mn_status do_concat(imp *m, const Onnx__NodeProto *n) {
    if (n->n_input < 2 || n->n_input > MN_MAX_IN)
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Concat): 2..%d inputs supported", nname(n), MN_MAX_IN);
    val *x[MN_MAX_IN];
    mn_status st;
    for (size_t i = 0; i < n->n_input; i++)
        if ((st = act_in(m, n, i, &x[i]))) return st;
    int64_t axis;
    if ((st = attr_int(n, "axis", 1, &axis))) return st;
    int rank = x[0]->sh.ndim + 1;
    if (axis < 0) axis += rank;
    if (axis != 1) return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Concat): only axis 1 (channels) is supported", nname(n));
    mn_shape out = x[0]->sh;
    for (size_t i = 1; i < n->n_input; i++) {
        const mn_shape *s = &x[i]->sh;
        if (s->ndim != out.ndim || (s->ndim == 3 && (s->d[1] != out.d[1] || s->d[2] != out.d[2])))
            return mn_error(MN_ESHAPE, "onnx: node '%s' (Concat): inputs differ in rank or spatial size", nname(n));
        out.d[0] += s->d[0];
    }
    char name[MN_NAME_MAX];
    make_name(m, n, name);
    const char *ins[MN_MAX_IN];
    char copies[MN_MAX_IN][MN_NAME_MAX]; /* mn_graph_add may move g->nodes */
    for (size_t i = 0; i < n->n_input; i++) {
        memcpy(copies[i], m->g->nodes[x[i]->node].name, MN_NAME_MAX);
        ins[i] = copies[i];
    }
    mn_attrs a = {0};
    int idx = mn_graph_add(m->g, MN_OP_CONCAT, name, ins, (int)n->n_input, &a);
    if (idx < 0) return MN_EFORMAT;
    val v = {0};
    v.node = idx;
    v.sh = out;
    v.bias = -1;
    return add_val(m, n->output[0], &v);
}

static mn_status do_node(imp *m, const Onnx__NodeProto *n) {
    const char *op = n->op_type;
    val *x;
    mn_status st;
    mn_attrs a = {0};
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return mn_error(MN_EUNSUPPORTED, "onnx: node '%s': op %s of domain '%s' is not supported", nname(n), op, n->domain);
    if (n->n_output < 1 || !n->output[0] || !*n->output[0])
        return mn_error(MN_EFORMAT, "onnx: node '%s' (%s) has no output", nname(n), op);
    if (!strcmp(op, "Constant")) {
        const Onnx__AttributeProto *v = attr(n, "value");
        if (!v || !v->t) return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Constant): only a tensor 'value' is supported", nname(n));
        val c = {0};
        c.t = v->t;
        c.bias = -1;
        return add_val(m, n->output[0], &c);
    }
    if (!strcmp(op, "Gemm")) return do_gemm(m, n, 0);
    if (!strcmp(op, "MatMul")) return do_gemm(m, n, 1);
    if (!strcmp(op, "Conv")) return do_conv(m, n);
    if (!strcmp(op, "MaxPool")) return do_pool(m, n, MN_OP_MAXPOOL);
    if (!strcmp(op, "AveragePool")) return do_pool(m, n, MN_OP_AVGPOOL);
    if (!strcmp(op, "BatchNormalization")) return do_bn(m, n);
    if (!strcmp(op, "Add")) return do_add(m, n);
    if (!strcmp(op, "Concat")) return do_concat(m, n);
    if (!strcmp(op, "Reshape")) return do_reshape(m, n);
    if (!strcmp(op, "Pad")) return do_pad(m, n);
    if (!strcmp(op, "Sub")) return do_norm(m, n, 0);
    if (!strcmp(op, "Div")) return do_norm(m, n, 1);
    if ((st = act_in(m, n, 0, &x))) return st;
    if (!strcmp(op, "Relu")) return add_node(m, n, MN_OP_RELU, &a, x, NULL, x->sh, -1, NULL);
    if (!strcmp(op, "Clip")) return do_clip(m, n, x);
    if (!strcmp(op, "Tanh")) return add_node(m, n, MN_OP_TANH, &a, x, NULL, x->sh, -1, NULL);
    if (!strcmp(op, "Dropout") || !strcmp(op, "Identity")) return alias(m, n, x);
    if (!strcmp(op, "GlobalAveragePool")) {
        if (x->sh.ndim != 3) return mn_error(MN_ESHAPE, "onnx: node '%s' (GlobalAveragePool): input must be 4-D", nname(n));
        mn_shape out = {3, {x->sh.d[0], 1, 1, 0}};
        return add_node(m, n, MN_OP_AVGPOOL, &a, x, NULL, out, -1, NULL);
    }
    if (!strcmp(op, "Flatten")) {
        int64_t axis;
        if ((st = attr_int(n, "axis", 1, &axis))) return st;
        if (axis != 1 && !(axis == -1 && x->sh.ndim == 1))
            return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Flatten): only axis=1 is supported", nname(n));
        return do_flatten(m, n, x);
    }
    if (!strcmp(op, "Softmax")) {
        int64_t axis;
        if ((st = attr_int(n, "axis", -1, &axis))) return st;
        if (x->sh.ndim != 1 || (axis != 1 && axis != -1))
            return mn_error(MN_EUNSUPPORTED, "onnx: node '%s' (Softmax): only over the features of [N, F] is supported", nname(n));
        return add_node(m, n, MN_OP_SOFTMAX, &a, x, NULL, x->sh, -1, NULL);
    }
    return mn_error(MN_EUNSUPPORTED, "onnx: node '%s': op %s is not supported", nname(n), op);
}

/* The single non-initializer graph input: [N, F] or [N, C, H, W] float. */
static mn_status do_input(imp *m) {
    const Onnx__GraphProto *gp = m->gp;
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *v = gp->input[i];
        if (!v || !v->name || !*v->name) return mn_error(MN_EFORMAT, "onnx: a graph input has no name");
        if (find(m, v->name)) continue; /* an initializer listed as input (old exporters) */
        if (in) return mn_error(MN_EUNSUPPORTED, "onnx: the model has more than one input ('%s', '%s')", in->name, v->name);
        in = v;
    }
    if (!in) return mn_error(MN_EFORMAT, "onnx: the model has no input");
    const Onnx__TypeProto *tp = in->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
        tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !tp->tensor_type->shape)
        return mn_error(MN_EUNSUPPORTED, "onnx: input '%s' must be a float tensor with a shape", in->name);
    const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
    if (sh->n_dim != 2 && sh->n_dim != 4)
        return mn_error(MN_EUNSUPPORTED, "onnx: input '%s' must be [N, F] or [N, C, H, W] (rank %zu)", in->name, sh->n_dim);
    int d[3] = {1, 1, 1};
    for (size_t i = 1; i < sh->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dd = sh->dim[i];
        if (!dd || dd->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dd->dim_value < 1 ||
            dd->dim_value > (1 << 24))
            return mn_error(MN_EUNSUPPORTED, "onnx: input '%s': dim %zu must be a fixed positive size", in->name, i);
        d[i - 1] = (int)dd->dim_value;
    }
    if ((int64_t)d[0] * d[1] * d[2] > (1 << 24)) return mn_error(MN_EFORMAT, "onnx: input '%s' is too large", in->name);
    int idx = mn_g_input(m->g, "input", d[0], sh->n_dim == 4 ? d[1] : 1, sh->n_dim == 4 ? d[2] : 1);
    if (idx < 0) return MN_EFORMAT;
    m->input = idx;
    float *mean = calloc((size_t)d[0], sizeof(float)), *sd = malloc(sizeof(float) * (size_t)d[0]);
    if (!mean || !sd) { free(mean); free(sd); return mn_error(MN_ENOMEM, "onnx: out of memory"); }
    for (int c = 0; c < d[0]; c++) sd[c] = 1;
    if ((m->norm_mean = add_fill(m, "input", "mean", mean, d[0])) < 0) { free(sd); return MN_ENOMEM; }
    if ((m->norm_std = add_fill(m, "input", "std", sd, d[0])) < 0) return MN_ENOMEM;
    val v = {0};
    v.node = idx;
    v.bias = -1;
    v.sh = sh->n_dim == 4 ? (mn_shape){3, {d[0], d[1], d[2], 0}} : (mn_shape){1, {d[0], 0, 0, 0}};
    return add_val(m, in->name, &v);
}

static int ready(imp *m, const Onnx__NodeProto *n) {
    for (size_t j = 0; j < n->n_input; j++)
        if (n->input[j] && *n->input[j] && !find(m, n->input[j])) return 0;
    return 1;
}

static mn_status build(imp *m, const Onnx__ModelProto *mp) {
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp) return mn_error(MN_EFORMAT, "onnx: the model has no graph");
    m->gp = gp;
    if (gp->n_node > MAX_NODES || gp->n_initializer > MAX_VALUES / 2)
        return mn_error(MN_EFORMAT, "onnx: too many nodes (%zu) or initializers (%zu)", gp->n_node, gp->n_initializer);
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (o && (!o->domain || !*o->domain) && o->has_version && (o->version < 7 || o->version > 21))
            return mn_error(MN_EUNSUPPORTED, "onnx: opset %lld is not supported (7..21)", (long long)o->version);
    }
    mn_status st;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        if (!t) return mn_error(MN_EFORMAT, "onnx: empty initializer");
        val c = {0};
        c.t = t;
        c.bias = -1;
        if ((st = add_val(m, t->name, &c))) return st;
    }
    if ((st = do_input(m))) return st;
    /* Dependency order: repeatedly take the first node whose inputs exist. */
    unsigned char *done = calloc(gp->n_node + 1, 1);
    if (!done) return mn_error(MN_ENOMEM, "onnx: out of memory");
    for (size_t left = gp->n_node; left > 0; left--) {
        size_t i;
        for (i = 0; i < gp->n_node; i++)
            if (!done[i] && gp->node[i] && ready(m, gp->node[i])) break;
        if (i == gp->n_node) {
            for (i = 0; i < gp->n_node && (done[i] || !gp->node[i]); i++) {}
            const Onnx__NodeProto *n = i < gp->n_node ? gp->node[i] : NULL;
            free(done);
            if (!n) return mn_error(MN_EFORMAT, "onnx: an empty node");
            for (size_t j = 0; j < n->n_input; j++)
                if (n->input[j] && *n->input[j] && !find(m, n->input[j])) {
                    int produced = 0;
                    for (size_t a = 0; a < gp->n_node && !produced; a++)
                        for (size_t b = 0; gp->node[a] && b < gp->node[a]->n_output; b++)
                            if (gp->node[a]->output[b] && !strcmp(gp->node[a]->output[b], n->input[j])) produced = 1;
                    if (produced)
                        return mn_error(MN_EFORMAT, "onnx: the graph has a cycle (through node '%s', input '%s')",
                                        nname(n), n->input[j]);
                    return mn_error(MN_EFORMAT, "onnx: node '%s' (%s): input '%s' is missing (no initializer, "
                                    "graph input or node makes it)", nname(n), n->op_type ? n->op_type : "?", n->input[j]);
                }
            return mn_error(MN_EFORMAT, "onnx: the graph has a cycle");
        }
        done[i] = 1;
        if (!gp->node[i]->op_type) { free(done); return mn_error(MN_EFORMAT, "onnx: node '%s' has no op", nname(gp->node[i])); }
        if ((st = do_node(m, gp->node[i]))) { free(done); return st; }
    }
    free(done);
    if (gp->n_output != 1 || !gp->output[0] || !gp->output[0]->name)
        return mn_error(MN_EUNSUPPORTED, "onnx: the model must have exactly one output (has %zu)", gp->n_output);
    val *out = find(m, gp->output[0]->name);
    if (!out || out->t) return mn_error(MN_EFORMAT, "onnx: output '%s' is not computed by the graph", gp->output[0]->name);
    int64_t total = 0;
    for (int i = 0; i < m->nfills; i++) total += m->fills[i].n;
    if ((st = mn_graph_finalize_max(m->g, total + 2 * (int64_t)MAX_ACT))) return st;
    if (m->g->output != out->node)
        return mn_error(MN_EUNSUPPORTED, "onnx: output '%s' is not the graph's last node", gp->output[0]->name);
    for (int i = 0; i < m->nfills; i++) {
        int p = mn_graph_find_param(m->g, m->fills[i].param);
        if (p < 0 || m->g->params[p].n != m->fills[i].n)
            return mn_error(MN_ESHAPE, "onnx: parameter %s does not fit (%lld values)", m->fills[i].param,
                            (long long)m->fills[i].n);
        memcpy(mn_param_data(m->g, p), m->fills[i].v, sizeof(float) * (size_t)m->fills[i].n);
    }
    return MN_OK;
}

/* protobuf-c unpacks nested messages recursively with no depth limit, so a
 * small file of deeply nested attribute graphs would overflow the stack.
 * This scan follows every length-delimited field that parses as a message
 * and refuses nesting deeper than MAX_DEPTH (real models nest < 20).
 * Returns 1 if buf is fine (or not a message at all), 0 if too deep. */
#define MAX_DEPTH 64
static int varint(const unsigned char *b, size_t len, size_t *pos, uint64_t *v) {
    *v = 0;
    for (int sh = 0; sh < 64; sh += 7) {
        if (*pos >= len) return 0;
        unsigned char c = b[(*pos)++];
        *v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) return 1;
    }
    return 0;
}

static int depth_ok(const unsigned char *b, size_t len, int depth) {
    if (depth > MAX_DEPTH) return 0;
    size_t pos = 0;
    while (pos < len) {
        uint64_t tag, v;
        if (!varint(b, len, &pos, &tag) || (tag >> 3) == 0) return 1;
        switch (tag & 7) {
        case 0: if (!varint(b, len, &pos, &v)) return 1; break;
        case 1: if (len - pos < 8) return 1; pos += 8; break;
        case 5: if (len - pos < 4) return 1; pos += 4; break;
        case 2:
            if (!varint(b, len, &pos, &v) || v > len - pos) return 1;
            if (!depth_ok(b + pos, (size_t)v, depth + 1)) return 0;
            pos += (size_t)v;
            break;
        default: return 1; /* groups: not ONNX, protobuf-c will refuse or skip them */
        }
    }
    return 1;
}

mn_status mn_onnx_import_mem(const unsigned char *buf, size_t len, mn_graph *g) {
    mn_graph_init(g);
    if (!buf || len == 0) return mn_error(MN_EFORMAT, "onnx: empty file");
    if (len > ((size_t)1 << 31)) return mn_error(MN_EFORMAT, "onnx: file too large (%zu bytes)", len);
    if (!depth_ok(buf, len, 0)) return mn_error(MN_EFORMAT, "onnx: messages nested deeper than %d levels", MAX_DEPTH);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp) return mn_error(MN_EFORMAT, "onnx: not an ONNX model (protobuf parse failed: truncated or corrupt)");
    imp m = {0};
    m.g = g;
    m.vals = malloc(sizeof(val) * MAX_VALUES);
    mn_status st = m.vals ? build(&m, mp) : mn_error(MN_ENOMEM, "onnx: out of memory");
    for (int i = 0; i < m.nfills; i++) free(m.fills[i].v);
    free(m.fills);
    free(m.vals);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st) {
        mn_graph_free(g);
        mn_graph_init(g);
    }
    return st;
}

mn_status mn_onnx_import(const char *path, mn_graph *g) {
    unsigned char *buf;
    size_t len;
    mn_graph_init(g);
    mn_status st = mn_read_file(path, &buf, &len);
    if (st) return st;
    st = mn_onnx_import_mem(buf, len, g);
    free(buf);
    return st;
}

#endif
