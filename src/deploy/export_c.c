/* The C generator (minnow/export_c.h): walks the finalized graph in its
 * topological order and writes, per node, a call on its buffers in one
 * scratch block, laid out by the liveness plan of export_c_plan.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy/export_c_impl.h"
#include "minnow/dist.h"
#include "minnow/export_c.h"
#include "minnow/exits.h"
#include "minnow/fold.h"
#include "core/file.h"

typedef struct gen {
    const mn_graph *g;
    mn_sb helpers, data, code;
    size_t bytes;
    mn_cplan plan;     /* where each node's output lives in scratch */
    mn_export_c_info *info; /* per-layer bytes go here (may be NULL) */
    int nemitted;      /* nodes that emitted code */
    size_t stack;      /* largest local arrays of one node, bytes */
    int decode_startup; /* codebooks decoded once into RAM */
    mn_sb init;        /* mdl_init's body: the decoding */
    size_t decoded;    /* bytes of RAM the decoded codebooks take */
    int used[16];      /* helper groups emitted */
    int math;
    int u64;           /* binary layers: model.c includes stdint.h */
} gen;

enum { H_DENSE, H_CONV, H_POOL, H_MISC, H_INT, H_KIND0, H__COUNT = H_KIND0 + MN_CW__COUNT };
_Static_assert(H__COUNT <= 16, "gen.used has room for every helper group");

static void need(gen *G, int h) {
    if (G->used[h]) return;
    G->used[h] = 1;
    mn_sb *c = &G->helpers;
    switch (h) {
    case H_DENSE:
        mn_sb_printf(c,
            "static inline void mdl_dense(const float *x, int in, const float *w, const float *b, int units, float *y) {\n"
            "    int r, i;\n"
            "    for (r = 0; r < units; r++) {\n"
            "        const float *wr = w + (long)r * in;\n"
            "        float s = 0;\n"
            "        for (i = 0; i < in; i++) s += wr[i] * x[i];\n"
            "        y[r] = b[r] + s;\n"
            "    }\n"
            "}\n\n");
        break;
    case H_CONV:
        mn_sb_printf(c,
            "/* One output plane of a convolution: filter row wr (cg*k*k) over input\n"
            " * channels c0.. of x (C x H x W), zero padding p, stride s. */\n"
            "static inline void mdl_conv_plane(const float *x, int H, int W, int c0, int cg, int k, int s, int p,\n"
            "                                  const float *wr, float bias, float *y, int OH, int OW) {\n"
            "    int oy, ox, c, i, j;\n"
            "    for (oy = 0; oy < OH; oy++)\n"
            "        for (ox = 0; ox < OW; ox++) {\n"
            "            float acc = 0;\n"
            "            for (c = 0; c < cg; c++) {\n"
            "                const float *xp = x + (long)(c0 + c) * H * W;\n"
            "                const float *wp = wr + (long)c * k * k;\n"
            "                for (i = 0; i < k; i++) {\n"
            "                    int iy = oy * s - p + i;\n"
            "                    if (iy < 0 || iy >= H) continue;\n"
            "                    for (j = 0; j < k; j++) {\n"
            "                        int ix = ox * s - p + j;\n"
            "                        if (ix >= 0 && ix < W) acc += wp[i * k + j] * xp[iy * W + ix];\n"
            "                    }\n"
            "                }\n"
            "            }\n"
            "            y[oy * OW + ox] = acc + bias;\n"
            "        }\n"
            "}\n\n");
        break;
    case H_POOL:
        mn_sb_printf(c,
            "/* Pools over k x k windows; padding never wins a max, averages divide by k*k. */\n"
            "static inline void mdl_pool(const float *x, int C, int H, int W, int k, int s, int p, int avg,\n"
            "                            float inv, float *y, int OH, int OW) {\n"
            "    int ch, oy, ox, i, j;\n"
            "    for (ch = 0; ch < C; ch++) {\n"
            "        const float *xp = x + (long)ch * H * W;\n"
            "        float *yp = y + (long)ch * OH * OW;\n"
            "        for (oy = 0; oy < OH; oy++)\n"
            "            for (ox = 0; ox < OW; ox++) {\n"
            "                float best = 0, sum = 0;\n"
            "                int any = 0;\n"
            "                for (i = 0; i < k; i++) {\n"
            "                    int iy = oy * s - p + i;\n"
            "                    if (iy < 0 || iy >= H) continue;\n"
            "                    for (j = 0; j < k; j++) {\n"
            "                        int ix = ox * s - p + j;\n"
            "                        float v;\n"
            "                        if (ix < 0 || ix >= W) continue;\n"
            "                        v = xp[iy * W + ix];\n"
            "                        sum += v;\n"
            "                        if (!any || v > best) best = v;\n"
            "                        any = 1;\n"
            "                    }\n"
            "                }\n"
            "                yp[oy * OW + ox] = avg ? sum * inv : best;\n"
            "            }\n"
            "    }\n"
            "}\n\n");
        break;
    case H_INT: mn_ci_emit_helpers(c); break;
    default:
        if (h == H_KIND0 + MN_CW_BINARY) G->u64 = 1;
        mn_cw_emit_helpers(c, (mn_cw_kind)(h - H_KIND0));
        break;
    }
}

/* "in" or "s + OFF" for node i's buffer. */
static void buf(gen *G, mn_sb *b, int i) {
    i = G->plan.alias[i];
    if (G->plan.off[i] < 0) mn_sb_printf(b, "in");
    else mn_sb_printf(b, "s + %lld", (long long)G->plan.off[i]);
}

/* "{ const float *x = <in>; float *y = <out>": the opening of an
 * elementwise node's block (the caller goes on from ';'). */
static void xy_open(gen *G, mn_sb *c, int in, int out) {
    mn_sb_printf(c, "    {\n        const float *x = ");
    buf(G, c, in);
    mn_sb_printf(c, ";\n        float *y = ");
    buf(G, c, out);
}

/* One weighted layer's bytes for the report. */
static void layer(gen *G, const char *name, const char *storage, size_t bytes) {
    if (!G->info) return;
    int k = G->info->nlayers++;
    if (k >= (int)(sizeof G->info->layers / sizeof G->info->layers[0])) return;
    snprintf(G->info->layers[k].name, sizeof G->info->layers[k].name, "%s", name);
    G->info->layers[k].storage = storage;
    G->info->layers[k].bytes = bytes;
}

static mn_status weighted(gen *G, int i) {
    const mn_graph *g = G->g;
    const mn_node *n = &g->nodes[i];
    mn_sb *c = &G->code;
    mn_cw w;
    size_t before = G->bytes;
    mn_status st = mn_cw_emit_weight(g, n->p[0], &G->data, &G->bytes, &w);
    if (st) return st;
    static const char *const kinds[] = {"f32", "csr", "affine", "codebook", "binary"};
    layer(G, n->name, kinds[w.kind], G->bytes - before);
    char nm[32];
    snprintf(nm, sizeof nm, "p%d", n->p[1]);
    mn_sb_farray(&G->data, nm, mn_param_data(g, n->p[1]), g->params[n->p[1]].n, &G->bytes);
    need(G, H_KIND0 + (int)w.kind);
    xy_open(G, c, n->in[0], i);
    mn_sb_printf(c, ";\n        long r;\n");
    if (w.kind == MN_CW_CODEBOOK && G->decode_startup) {
        int p = n->p[0];
        if (w.cols > 65535) return mn_error(MN_EUNSUPPORTED, "export-c: %s: --decode startup needs at most 65535 columns", n->name);
        w.unpacked = 1;
        mn_sb_printf(&G->data, "static unsigned int p%d_urp[%d];\nstatic unsigned short p%d_uci[%ld];\n"
                               "static unsigned char p%d_uix[%ld];\n", p, w.rows + 1, p, w.nnz ? w.nnz : 1, p,
                     w.nnz ? w.nnz : 1);
        mn_sb_printf(&G->init, "    mdl_cb_unpack(&p%d_d, %d, %d, p%d_urp, p%d_uci, p%d_uix);\n", p, w.rows, w.cols, p, p, p);
        G->decoded += 4 * (size_t)(w.rows + 1) + 3 * (size_t)(w.nnz ? w.nnz : 1);
    }
    if (w.kind == MN_CW_CODEBOOK && !w.unpacked)
        mn_sb_printf(c, "        mdl_cbs cbs;\n        mdl_cb_reset(&cbs, &p%d_d);\n", n->p[0]);
    if (mn_cw_int_layer(g, n)) { /* int8 activations: the integer kernels (export_c_int.c) */
        need(G, H_INT);
        mn_ci_node(c, g, n, &w, G->plan.xq, G->plan.wq16);
        return MN_OK;
    }
    char rb[48];
    snprintf(rb, sizeof rb, "s + %lld", (long long)G->plan.rb);
    if (n->op == MN_OP_DENSE) {
        if (w.kind == MN_CW_F32) {
            need(G, H_DENSE);
            mn_sb_printf(c, "        (void)r;\n        mdl_dense(x, %d, p%d, p%d, %d, y);\n", w.cols, n->p[0], n->p[1], w.rows);
        } else if (w.kind == MN_CW_CSR) {
            mn_sb_printf(c, "        (void)r;\n        mdl_dense_csr(x, p%d_rp, p%d_ci, p%d_v, p%d, %d, y);\n", n->p[0], n->p[0],
                         n->p[0], n->p[1], w.rows);
        } else if (w.kind == MN_CW_CODEBOOK && w.unpacked) {
            mn_sb_printf(c, "        (void)r;\n        mdl_dense_cbu(x, p%d_urp, p%d_uci, p%d_uix, p%d_cb, p%d, %d, y);\n",
                         n->p[0], n->p[0], n->p[0], n->p[0], n->p[1], w.rows);
        } else {
            mn_sb_printf(c, "        for (r = 0; r < %d; r++) {\n            const float *wr = ", w.rows);
            mn_cw_row_expr(c, &w, rb);
            mn_sb_printf(c, ";\n            float acc = 0;\n            int i;\n"
                            "            for (i = 0; i < %d; i++) acc += wr[i] * x[i];\n"
                            "            y[r] = p%d[r] + acc;\n        }\n", w.cols, n->p[1]);
        }
    } else {
        const mn_shape *in = &g->nodes[n->in[0]].out;
        int F = n->a.filters, G_ = n->a.groups > 0 ? n->a.groups : 1, cg = in->d[0] / G_;
        need(G, H_CONV);
        mn_sb_printf(c, "        for (r = 0; r < %d; r++) {\n            const float *wr = ", F);
        mn_cw_row_expr(c, &w, rb);
        mn_sb_printf(c, ";\n            mdl_conv_plane(x, %d, %d, (int)(r / %d) * %d, %d, %d, %d, %d, wr, p%d[r], y + r * %d, %d, %d);\n"
                        "        }\n", in->d[1], in->d[2], F / G_, cg, cg, n->a.k, n->a.stride, n->a.pad, n->p[1],
                     n->out.d[1] * n->out.d[2], n->out.d[1], n->out.d[2]);
    }
    mn_sb_printf(c, "    }\n");
    return MN_OK;
}

/* buf() as a string. */
static mn_status bufstr(gen *G, int i, char **out) {
    mn_sb b = {0};
    buf(G, &b, i);
    *out = b.s;
    return b.err || !b.s ? mn_error(MN_ENOMEM, "out of memory") : MN_OK;
}

/* sign, bdense, bconv (export_c_bin.c).  An XNOR-Net input scale reads the
 * values the sign in front of the node binarized (through a flatten). */
static mn_status binary(gen *G, int i) {
    const mn_graph *g = G->g;
    const mn_node *n = &g->nodes[i];
    char *x = NULL, *y = NULL, *pre = NULL;
    mn_status st = bufstr(G, n->in[0], &x);
    if (!st) st = bufstr(G, i, &y);
    if (!st && n->op != MN_OP_SIGN && n->a.xscale) {
        int k = n->in[0];
        if (g->nodes[k].op == MN_OP_FLATTEN) k = g->nodes[k].in[0];
        if (g->nodes[k].op == MN_OP_SIGN) st = bufstr(G, g->nodes[k].in[0], &pre);
    }
    if (!st) {
        if (n->op != MN_OP_SIGN) need(G, H_KIND0 + MN_CW_BINARY);
        mn_cb_bufs b = {x, y, pre};
        size_t before = G->bytes;
        st = mn_cb_node(g, i, &b, &G->data, &G->code, &G->bytes);
        if (!st && n->op != MN_OP_SIGN) {
            int rows, cols;
            mn_param_matrix(g, n->p[0], &rows, &cols);
            size_t words = 2 * 8 * (size_t)((cols + 63) / 64); /* xb[], xv[] of packed bits */
            if (words > G->stack) G->stack = words;
            layer(G, n->name, "binary", G->bytes - before);
        }
    }
    free(x);
    free(y);
    free(pre);
    return st;
}

static mn_status node_code(gen *G, int i) {
    const mn_graph *g = G->g;
    const mn_node *n = &g->nodes[i];
    mn_sb *c = &G->code;
    int64_t numel = mn_shape_numel(&n->out);
    char nm[32];
    if (n->a.act_bits)
        return mn_error(MN_EUNSUPPORTED, "export-c: node '%s' rounds its output to fixed point; not supported", n->name);
    mn_sb_printf(c, "    /* %s: %s */\n", n->name, mn_op_name(n->op));
    switch (n->op) {
    case MN_OP_INPUT: {
        const float *mean = mn_param_data(g, n->p[0]), *sd = mn_param_data(g, n->p[1]);
        int C = n->out.d[0], ident = 1;
        for (int k = 0; k < C; k++) ident &= mean[k] == 0 && sd[k] == 1;
        if (ident) return MN_OK; /* the node reads `in` directly */
        for (int k = 0; k < 2; k++) {
            snprintf(nm, sizeof nm, "p%d", n->p[k]);
            mn_sb_farray(&G->data, nm, mn_param_data(g, n->p[k]), C, &G->bytes);
        }
        mn_sb_printf(c, "    {\n        int ch;\n        long i;\n        for (ch = 0; ch < %d; ch++) {\n"
                        "            float m = p%d[ch], inv = 1.0f / p%d[ch];\n"
                        "            for (i = 0; i < %lld; i++) s[%lld + ch * %lld + i] = (in[ch * %lld + i] - m) * inv;\n"
                        "        }\n    }\n",
                     C, n->p[0], n->p[1], (long long)(numel / C), (long long)G->plan.off[i], (long long)(numel / C),
                     (long long)(numel / C));
        return MN_OK;
    }
    case MN_OP_DENSE:
    case MN_OP_CONV: return weighted(G, i);
    case MN_OP_SIGN:
    case MN_OP_BDENSE:
    case MN_OP_BCONV: return binary(G, i);
    case MN_OP_MAXPOOL:
    case MN_OP_AVGPOOL: {
        const mn_shape *in = &g->nodes[n->in[0]].out;
        int glob = n->op == MN_OP_AVGPOOL && n->a.k == 0;
        int k = glob ? (in->d[1] > in->d[2] ? in->d[1] : in->d[2]) : n->a.k;
        need(G, H_POOL);
        mn_sb_printf(c, "    mdl_pool(");
        buf(G, c, n->in[0]);
        mn_sb_printf(c, ", %d, %d, %d, %d, %d, %d, %d, ", in->d[0], in->d[1], in->d[2], k, glob ? 1 : n->a.stride,
                     glob ? 0 : n->a.pad, n->op == MN_OP_AVGPOOL);
        mn_sb_float(c, glob ? 1.0f / (float)(in->d[1] * in->d[2]) : 1.0f / (float)(k * k));
        mn_sb_printf(c, ", ");
        buf(G, c, i);
        mn_sb_printf(c, ", %d, %d);\n", n->out.d[1], n->out.d[2]);
        return MN_OK;
    }
    case MN_OP_RELU:
    case MN_OP_TANH:
        if (n->op == MN_OP_TANH) G->math = 1;
        xy_open(G, c, n->in[0], i);
        if (n->op == MN_OP_RELU && n->a.max > 0) { /* ReLU6 */
            mn_sb_printf(c, ";\n        long i;\n        for (i = 0; i < %lld; i++) y[i] = x[i] > 0 ? (x[i] < ", (long long)numel);
            mn_sb_float(c, n->a.max);
            mn_sb_printf(c, " ? x[i] : ");
            mn_sb_float(c, n->a.max);
            mn_sb_printf(c, ") : 0;\n    }\n");
            return MN_OK;
        }
        mn_sb_printf(c, ";\n        long i;\n        for (i = 0; i < %lld; i++) y[i] = %s;\n    }\n", (long long)numel,
                     n->op == MN_OP_RELU ? "x[i] > 0 ? x[i] : 0" : "tanhf(x[i])");
        return MN_OK;
    case MN_OP_DROPOUT:
    case MN_OP_FLATTEN: return MN_OK; /* aliases */
    case MN_OP_ADD:
        mn_sb_printf(c, "    {\n        float *y = ");
        buf(G, c, i);
        mn_sb_printf(c, ";\n        long i;\n        for (i = 0; i < %lld; i++) y[i] = ", (long long)numel);
        for (int k = 0; k < n->nin; k++) {
            mn_sb_printf(c, "%s(", k ? " + " : "");
            buf(G, c, n->in[k]);
            mn_sb_printf(c, ")[i]");
        }
        mn_sb_printf(c, ";\n    }\n");
        return MN_OK;
    case MN_OP_CONCAT: {
        int64_t o = 0;
        for (int k = 0; k < n->nin; k++) {
            int64_t m = mn_shape_numel(&g->nodes[n->in[k]].out);
            mn_sb_printf(c, "    memcpy(");
            buf(G, c, i);
            mn_sb_printf(c, " + %lld, ", (long long)o);
            buf(G, c, n->in[k]);
            mn_sb_printf(c, ", sizeof(float) * %lld);\n", (long long)m);
            o += m;
        }
        return MN_OK;
    }
    case MN_OP_BATCHNORM: {
        int C = n->out.d[0];
        const float *var = mn_param_data(g, n->p[3]);
        float *inv = malloc(sizeof(float) * (size_t)C);
        if (!inv) return mn_error(MN_ENOMEM, "out of memory");
        for (int k = 0; k < C; k++) inv[k] = 1.0f / sqrtf(var[k] + n->a.eps); /* as minnow's inference does */
        for (int k = 0; k < 3; k++) {
            snprintf(nm, sizeof nm, "p%d", n->p[k]);
            mn_sb_farray(&G->data, nm, mn_param_data(g, n->p[k]), C, &G->bytes);
        }
        snprintf(nm, sizeof nm, "p%d_inv", n->p[3]);
        mn_sb_farray(&G->data, nm, inv, C, &G->bytes);
        free(inv);
        xy_open(G, c, n->in[0], i);
        mn_sb_printf(c, ";\n        int ch;\n        long i;\n        for (ch = 0; ch < %d; ch++)\n"
                        "            for (i = 0; i < %lld; i++)\n"
                        "                y[ch * %lld + i] = p%d[ch] * ((x[ch * %lld + i] - p%d[ch]) * p%d_inv[ch]) + p%d[ch];\n    }\n",
                     C, (long long)(numel / C), (long long)(numel / C), n->p[0], (long long)(numel / C), n->p[2],
                     n->p[3], n->p[1]);
        return MN_OK;
    }
    case MN_OP_GATE: { /* the same sums, in the same order, as the runtime: the same decision */
        const mn_shape *in = &g->nodes[n->in[0]].out;
        int C = in->d[0];
        int64_t plane = mn_shape_numel(in) / C;
        for (int k = 0; k < 2; k++) {
            snprintf(nm, sizeof nm, "p%d", n->p[k]);
            mn_sb_farray(&G->data, nm, mn_param_data(g, n->p[k]), k ? 1 : C, &G->bytes);
        }
        xy_open(G, c, n->in[0], i);
        mn_sb_printf(c, ";\n        double z = p%d[0];\n        int ch;\n        long i;\n"
                        "        for (ch = 0; ch < %d; ch++) {\n            double t = 0;\n"
                        "            for (i = 0; i < %lld; i++) t += x[ch * %lld + i];\n"
                        "            z += p%d[ch] * (t / %lld);\n        }\n        y[0] = z >= 0 ? 1.0f : 0.0f;\n    }\n",
                     n->p[1], C, (long long)plane, (long long)plane, n->p[0], (long long)plane);
        return MN_OK;
    }
    case MN_OP_GADD: /* y = x + f where the gate is open, else x (f did not run) */
        xy_open(G, c, n->in[0], i);
        mn_sb_printf(c, ";\n        long i;\n        if ((");
        buf(G, c, n->in[2]);
        mn_sb_printf(c, ")[0] != 0) {\n            const float *f = ");
        buf(G, c, n->in[1]);
        mn_sb_printf(c, ";\n            for (i = 0; i < %lld; i++) y[i] = x[i] + f[i];\n        } else {\n"
                        "            for (i = 0; i < %lld; i++) y[i] = x[i];\n        }\n    }\n",
                     (long long)numel, (long long)numel);
        return MN_OK;
    case MN_OP_SOFTMAX:
        G->math = 1;
        xy_open(G, c, n->in[0], i);
        mn_sb_printf(c, ";\n        float mx = x[0], sum = 0;\n        long i;\n"
                        "        for (i = 1; i < %lld; i++) if (x[i] > mx) mx = x[i];\n"
                        "        for (i = 0; i < %lld; i++) { y[i] = expf(x[i] - mx); sum += y[i]; }\n"
                        "        for (i = 0; i < %lld; i++) y[i] /= sum;\n    }\n",
                     (long long)numel, (long long)numel, (long long)numel);
        return MN_OK;
    default:
        return mn_error(MN_EUNSUPPORTED, "export-c: node '%s': op %s is not supported", n->name, mn_op_name(n->op));
    }
}

/* After inner exit e's head (node i): its top softmax probability, as
 * minnow computes it (exits.c: 1 / sum exp(z - max) in double); at or above
 * the threshold the sample stops there.  The head's buffer is read before
 * any later node can reuse it. */
static void exit_check(gen *G, int i, int e, int k, float threshold) {
    mn_sb *c = &G->code;
    mn_sb_printf(c, "    {\n        const float *z = ");
    buf(G, c, i);
    mn_sb_printf(c, ";\n        int a = 0, j;\n        double t = 0;\n"
                    "        for (j = 1; j < %d; j++) if (z[j] > z[a]) a = j;\n"
                    "        for (j = 0; j < %d; j++) t += exp((double)z[j] - z[a]);\n"
                    "        if ((float)(1.0 / t) >= ", k, k);
    mn_sb_float(c, threshold);
    mn_sb_printf(c, ") {\n            memcpy(out, z, sizeof(float) * %d);\n            return %d;\n        }\n    }\n", k, e);
}

static mn_status write_in(const char *dir, const char *name, const mn_sb *b) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return mn_error(MN_EARG, "path too long");
    return mn_write_file_atomic(path, b->s ? b->s : "", b->n);
}

static mn_status test_prog(const mn_graph *g, const char *dir, const float *x, const float *y, int nt, float tol) {
    int64_t ni = mn_shape_numel(mn_graph_input_shape(g)), no = mn_shape_numel(mn_graph_output_shape(g));
    mn_sb b = {0};
    size_t dummy = 0;
    mn_sb_printf(&b, "/* Generated by minnow export-c: checks model_run against minnow's own outputs\n"
                     " * on %d inputs.  cc -std=c99 model_test.c model.c -lm && ./a.out */\n"
                     "#include <stdio.h>\n#include \"model.h\"\n\n#define NT %d\n", nt, nt);
    mn_sb_farray(&b, "tx", x, ni * nt, &dummy);
    mn_sb_farray(&b, "ty", y, no * nt, &dummy);
    mn_sb_printf(&b, "static float scratch[(MODEL_SCRATCH_BYTES + 3) / 4];\n\n"
                     "int main(void) {\n    float out[MODEL_OUT_SIZE], worst = 0;\n    int t, i, agree = 0;\n"
                     "    for (t = 0; t < NT; t++) {\n        int a = 0, b = 0;\n"
                     "        model_run(tx + (long)t * MODEL_IN_SIZE, out, scratch);\n"
                     "        for (i = 0; i < MODEL_OUT_SIZE; i++) {\n"
                     "            float r = ty[(long)t * MODEL_OUT_SIZE + i], d = out[i] - r;\n"
                     "            if (d < 0) d = -d;\n            if (!(d <= worst)) worst = d;\n"
                     "            if (out[i] > out[a]) a = i;\n            if (r > ty[(long)t * MODEL_OUT_SIZE + b]) b = i;\n"
                     "        }\n        agree += a == b;\n    }\n"
                     "    printf(\"inputs %%d max_abs_diff %%g argmax_agree %%d\\n\", NT, worst, agree);\n"
                     "    return worst <= ");
    mn_sb_float(&b, tol); /* "%gf" would print "1f" for 1 */
    mn_sb_printf(&b, " ? 0 : 1;\n}\n");
    mn_status st = b.err ? mn_error(MN_ENOMEM, "out of memory") : write_in(dir, "model_test.c", &b);
    free(b.s);
    return st;
}

static mn_status emit(const mn_graph *g, const char *dir, const float *test_x, const float *test_y, int ntest,
                      float tol, const mn_export_c_opts *opts, mn_export_c_info *info) {
    if (dir && mn_dist_root() && mkdir(dir, 0777) != 0 && errno != EEXIST) return mn_error(MN_EIO, "%s: cannot create directory", dir);
    gen G = {0};
    G.g = g;
    if (info) memset(info, 0, sizeof *info);
    G.info = info;
    G.decode_startup = opts && opts->decode_startup;
    G.plan.off = calloc((size_t)g->nnodes, sizeof(int64_t));
    G.plan.alias = calloc((size_t)g->nnodes, sizeof(int));
    mn_status st = (G.plan.off && G.plan.alias) ? mn_cplan_layout(g, &G.plan) : mn_error(MN_ENOMEM, "out of memory");
    /* Early exit: after each inner head, stop if it is sure enough. */
    mn_exits ex = {0};
    if (!st && opts && opts->exit_threshold > 0) {
        st = mn_exits_init(&ex, g); /* checked by mn_export_c: two or more */
        G.math = 1;
    }
    int64_t ni = mn_shape_numel(mn_graph_input_shape(g)), no = mn_shape_numel(mn_graph_output_shape(g));
    for (int i = 0; i < g->nnodes && !st; i++) {
        size_t before = G.code.n;
        /* A gated block's branch runs where its gate is open (SkipNet). */
        int gate = g->nodes[i].gate;
        if (gate >= 0) {
            mn_sb_printf(&G.code, "    if ((");
            buf(&G, &G.code, gate);
            mn_sb_printf(&G.code, ")[0] != 0) {\n");
        }
        st = node_code(&G, i);
        if (gate >= 0) mn_sb_printf(&G.code, "    }\n");
        for (int e = 0; e + 1 < ex.n && !st; e++)
            if (ex.node[e] == i) exit_check(&G, i, e, ex.nclass, opts->exit_threshold);
        /* flatten, dropout and an identity input only print their comment */
        const mn_node *n = &g->nodes[i];
        G.nemitted += G.code.n > before && n->op != MN_OP_FLATTEN && n->op != MN_OP_DROPOUT &&
                      !(n->op == MN_OP_INPUT && G.plan.off[i] < 0);
    }
    if (!st) {
        mn_sb_printf(&G.code, "    memcpy(out, ");
        buf(&G, &G.code, g->output);
        mn_sb_printf(&G.code, ", sizeof(float) * %lld);\n    return %d;\n}\n", (long long)no, ex.n ? ex.n - 1 : 0);
    }
    size_t scratch = sizeof(float) * (size_t)G.plan.total;
    mn_sb h = {0}, c = {0};
    if (!st) {
        mn_sb_printf(&h, "/* Generated by minnow export-c.  Standalone C99: no malloc, no dependencies. */\n"
                         "#ifndef MODEL_H\n#define MODEL_H\n\n"
                         "#define MODEL_IN_SIZE %lld   /* input floats */\n"
                         "#define MODEL_OUT_SIZE %lld  /* output floats */\n"
                         "#define MODEL_SCRATCH_BYTES %zu  /* float-aligned scratch for model_run */\n"
                         "#define MODEL_WEIGHT_BYTES %zu  /* bytes of the const weight arrays */\n\n"
                         "/* Runs the model on one input; returns 0 (exported with an exit\n"
                         " * threshold: the exit it stopped at, 0 the first). */\n"
                         "int model_run(const float *in, float *out, void *scratch);\n\n#endif\n",
                     (long long)ni, (long long)no, scratch, G.bytes);
        mn_sb_printf(&c, "/* Generated by minnow export-c: %d nodes, %zu bytes of weights. */\n"
                         "#include <string.h>\n%s%s#include \"model.h\"\n\n%s\n%s\n",
                     g->nnodes, G.bytes, G.math ? "#include <math.h>\n" : "", G.u64 ? "#include <stdint.h>\n" : "",
                     G.helpers.s ? G.helpers.s : "", G.data.s ? G.data.s : "");
        if (G.init.s)
            mn_sb_printf(&c, "/* Codebooks decoded into RAM on the first call (--decode startup). */\n"
                             "static int mdl_ready;\nstatic void mdl_init(void) {\n%s}\n\n", G.init.s);
        mn_sb_printf(&c, "int model_run(const float *in, float *out, void *scratch) {\n"
                         "    float *s = (float *)scratch;\n    (void)s;\n%s%s",
                     G.init.s ? "    if (!mdl_ready) {\n        mdl_init();\n        mdl_ready = 1;\n    }\n" : "",
                     G.code.s ? G.code.s : "");
        if (h.err || c.err || G.helpers.err || G.data.err || G.code.err || G.init.err) st = mn_error(MN_ENOMEM, "out of memory");
    }
    if (!st && dir) st = write_in(dir, "model.c", &c);
    if (!st && dir) st = write_in(dir, "model.h", &h);
    if (!st && dir && test_x && test_y && ntest > 0) st = test_prog(g, dir, test_x, test_y, ntest, tol);
    if (!st && info) {
        /* Thumb-2 bytes at -O2 per helper group, as measured on the test
         * models' model.o (tests/cli_mcu.sh); the rest per node below. */
        static const int hcost[H__COUNT] = {[H_DENSE] = 50, [H_CONV] = 250, [H_POOL] = 200,
                                            [H_INT] = 900, [H_KIND0 + MN_CW_CSR] = 200,
                                            [H_KIND0 + MN_CW_AFFINE] = 150, [H_KIND0 + MN_CW_CODEBOOK] = 550,
                                            [H_KIND0 + MN_CW_BINARY] = 300};
        size_t helpers = 0;
        for (int k = 0; k < H__COUNT; k++) helpers += G.used[k] ? (size_t)hcost[k] : 0;
        info->weight_bytes = G.bytes;
        info->scratch_bytes = scratch;
        info->arena_bytes = sizeof(float) * (size_t)G.plan.arena;
        info->naive_bytes = sizeof(float) * (size_t)G.plan.naive;
        /* `scripts/mcu.sh` prints the real size beside this. */
        size_t bconv = 0; /* a binary convolution's field packing is unrolled per node */
        size_t conv = 0;  /* a conv call passes a dozen shape arguments: ~95 bytes more */
        for (int i = 0; i < g->nnodes; i++) bconv += g->nodes[i].op == MN_OP_BCONV, conv += g->nodes[i].op == MN_OP_CONV;
        info->code_bytes_est = 64 + helpers + 80 * (size_t)G.nemitted + 95 * conv + 1000 * bconv + (G.init.s ? 800 : 0);
        info->stack_bytes_est = G.stack + 256;
        info->io_bytes = sizeof(float) * (size_t)(ni + no);
        info->flash_bytes = info->weight_bytes + info->code_bytes_est;
        info->decoded_bytes = G.decoded;
        info->ram_bytes = info->scratch_bytes + info->io_bytes + info->stack_bytes_est + G.decoded;
        info->in_size = (int)ni;
        info->out_size = (int)no;
        info->needs_math = G.math;
    }
    free(h.s);
    free(c.s);
    free(G.helpers.s);
    free(G.data.s);
    free(G.code.s);
    free(G.init.s);
    free(G.plan.off);
    free(G.plan.alias);
    mn_exits_free(&ex);
    return st;
}

/* Batch norm is folded into the layer before it first (minnow/fold.h): the
 * device runs one conv instead of a conv and a pass over its output. */
mn_status mn_export_c(const mn_graph *g, const char *dir, const float *test_x, const float *test_y, int ntest,
                      float tol, const mn_export_c_opts *opts, mn_export_c_info *info) {
    if (!g->finalized) return mn_error(MN_EARG, "export-c: graph not finalized");
    if (opts && opts->exit_threshold > 0) { /* refused before the directory is made */
        mn_exits ex;
        mn_status st = mn_exits_init(&ex, g);
        if (st) return st;
        int n = ex.n;
        mn_exits_free(&ex);
        if (n < 2) return mn_error(MN_EARG, "export-c: an exit threshold needs a multi-exit model; this one has one head");
        if (!(opts->exit_threshold <= 1)) return mn_error(MN_EARG, "export-c: the exit threshold must be in (0, 1]");
    }
    mn_graph f;
    int nf = 0;
    mn_status st = mn_graph_fold_bn(g, &f, &nf);
    if (st) return st;
    st = emit(nf ? &f : g, dir, test_x, test_y, ntest, tol, opts, info);
    mn_graph_free(&f);
    return st;
}
