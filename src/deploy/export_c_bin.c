/* The C generator's binarized layers (sign, bdense, bconv; docs/BINARY.md).
 *
 * Weights stay 1 bit each: the sign plane (and the nonzero plane of bitwise
 * networks) as the .mnw keeps it, row-major bits LSB first, in 64-bit words
 * with one spare word at the end (the reader fetches 64 bits at any offset),
 * plus the per-row scales (one when shared) and the bias or, for folded
 * nodes, the thresholds k and T.  The emitted code computes exactly what
 * minnow's inference does:
 *   +-1 inputs:  acc = nnz - 2 popcount((x ^ w) & nonzero), an integer
 *                (conv: padding positions are left out, as minnow's
 *                correction does), by XNOR and a portable SWAR popcount;
 *   real inputs: acc = sum of +-x in the order of minnow's reference kernels
 *                (dense: 64 interleaved partial sums and the fixed tree of
 *                mn_signacc; conv: c order like mn_signacc_cols), so the
 *                results are bit-identical where minnow runs those kernels;
 *   then y = scale * acc * beta + bias, or (folded) +1 if k * acc >= T
 *   else -1; sign(0) = +1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/export_c_impl.h"
#include "minnow/binary.h"
#include "nn/bin_w.h"
#include "store/binary.h"

/* The largest packed input kept on the device's stack, in 64-bit words. */
enum { MAX_STACK_WORDS = 8192 };

static void u64array(mn_sb *b, const char *name, const uint64_t *v, int64_t n, size_t *bytes) {
    mn_sb_printf(b, "static const uint64_t %s[%lld] = {", name, (long long)n);
    for (int64_t i = 0; i < n; i++)
        mn_sb_printf(b, "%s0x%016llxULL", i % 4 ? ", " : (i ? ",\n    " : "\n    "), (unsigned long long)v[i]);
    mn_sb_printf(b, "\n};\n");
    *bytes += 8 * (size_t)n;
}

/* The run-time store's row-padded words as the tight row-major stream. */
static void tight(const mn_bin_store *bs, const uint64_t *src, uint64_t *dst, int64_t nw) {
    memset(dst, 0, sizeof(uint64_t) * (size_t)nw);
    int64_t i = 0;
    for (int r = 0; r < bs->rows; r++)
        for (int c = 0; c < bs->cols; c++, i++)
            if (src[(int64_t)r * bs->words + (c >> 6)] >> (c & 63) & 1) dst[i >> 6] |= (uint64_t)1 << (i & 63);
}

mn_status mn_cb_emit_planes(const mn_graph *g, int p, const mn_store *st, int scales, mn_sb *d, size_t *bytes,
                            int *has_mask) {
    const mn_bin_store *bs = mn_binary_store(st);
    if (!bs) return mn_error(MN_EFORMAT, "export-c: %s: not a binary store", g->params[p].name);
    int64_t nw = ((int64_t)bs->rows * bs->cols + 63) / 64 + 1;
    uint64_t *t = malloc(sizeof(uint64_t) * (size_t)nw);
    if (!t) return mn_error(MN_ENOMEM, "out of memory");
    char nm[48];
    tight(bs, bs->bits, t, nw);
    snprintf(nm, sizeof nm, "p%d_w", p);
    u64array(d, nm, t, nw, bytes);
    if (bs->mask) {
        tight(bs, bs->mask, t, nw);
        snprintf(nm, sizeof nm, "p%d_m", p);
        u64array(d, nm, t, nw, bytes);
    }
    free(t);
    snprintf(nm, sizeof nm, "p%d_s", p);
    if (scales) mn_sb_farray(d, nm, bs->scale, bs->shared_scale ? 1 : bs->rows, bytes);
    *has_mask = bs->mask != NULL;
    return MN_OK;
}

void mn_cb_emit_helpers(mn_sb *c) {
    mn_sb_printf(c,
        "/* Binary layers: bit planes of 64-bit words, bit i = weight i (row-major,\n"
        " * LSB first): sign (1 = +) and, with zero weights, nonzero; one spare word\n"
        " * at the end.  Value = nonzero ? scale * (sign ? +1 : -1) : 0. */\n"
        "static inline int mdl_popc(uint64_t v) { /* SWAR; compilers make it popcnt */\n"
        "    v = v - ((v >> 1) & 0x5555555555555555ULL);\n"
        "    v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);\n"
        "    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;\n"
        "    return (int)((v * 0x0101010101010101ULL) >> 56);\n"
        "}\n"
        "/* The 64 bits of plane p from bit o on. */\n"
        "static inline uint64_t mdl_bits(const uint64_t *p, unsigned long o) {\n"
        "    unsigned long i = o >> 6;\n"
        "    unsigned s = (unsigned)(o & 63);\n"
        "    return s ? (p[i] >> s) | (p[i + 1] << (64 - s)) : p[i];\n"
        "}\n"
        "static inline int mdl_bit(const uint64_t *p, unsigned long b) { return (int)(p[b >> 6] >> (b & 63) & 1); }\n"
        "/* Row r of a binary matrix decoded into rb (a plain dense/conv layer). */\n"
        "static inline const float *mdl_bin_row(const uint64_t *w, const uint64_t *m, const float *sc, int ns,\n"
        "                                long r, int cols, float *rb) {\n"
        "    int c;\n"
        "    float s = sc[ns > 1 ? r : 0];\n"
        "    for (c = 0; c < cols; c++) {\n"
        "        unsigned long b = (unsigned long)r * (unsigned long)cols + (unsigned long)c;\n"
        "        rb[c] = m && !mdl_bit(m, b) ? 0.0f : mdl_bit(w, b) ? s : -s;\n"
        "    }\n"
        "    return rb;\n"
        "}\n"
        "/* x[0..n) as bits (x >= 0: 1) in nw words. */\n"
        "static inline void mdl_pack(const float *x, int n, uint64_t *xb, int nw) {\n"
        "    int c;\n"
        "    memset(xb, 0, sizeof(uint64_t) * (size_t)nw);\n"
        "    for (c = 0; c < n; c++)\n"
        "        if (x[c] >= 0) xb[c >> 6] |= (uint64_t)1 << (c & 63);\n"
        "}\n"
        "/* sum_c w_c x_c for x in {-1,+1} (packed xb) and the cols weights from bit o\n"
        " * of planes w, m (m 0: no zeros), leaving out inputs whose xv bit is clear\n"
        " * (xv 0: none): nonzeros - 2 * popcount(differing). */\n"
        "static inline int mdl_xnor(const uint64_t *xb, const uint64_t *xv, const uint64_t *w, const uint64_t *m,\n"
        "                           unsigned long o, int cols) {\n"
        "    int k, nw = (cols + 63) >> 6, acc = 0;\n"
        "    for (k = 0; k < nw; k++) {\n"
        "        int left = cols - 64 * k;\n"
        "        unsigned long b = o + 64ul * (unsigned long)k;\n"
        "        uint64_t use = left < 64 ? ((uint64_t)1 << left) - 1 : ~(uint64_t)0;\n"
        "        if (m) use &= mdl_bits(m, b);\n"
        "        if (xv) use &= xv[k];\n"
        "        acc += mdl_popc(use) - 2 * mdl_popc((xb[k] ^ mdl_bits(w, b)) & use);\n"
        "    }\n"
        "    return acc;\n"
        "}\n"
        "/* sum_c s_c x[c] for real x: 64 interleaved partial sums p[c %% 64] and a\n"
        " * fixed tree, minnow's mn_signacc order (bit-identical to it).  No branch\n"
        " * per weight: x * +-1 is exactly +-x, and a zero weight's term is masked to\n"
        " * +0, which leaves p unchanged (p is never -0), as skipping it does. */\n"
        "static inline float mdl_sacc(const float *x, int K, const uint64_t *w, const uint64_t *m, unsigned long o) {\n"
        "    float p[64], q[16];\n"
        "    int c, l, h;\n"
        "    for (l = 0; l < 64; l++) p[l] = 0;\n"
        "    for (c = 0; c < K; c += 64) {\n"
        "        int n = K - c < 64 ? K - c : 64;\n"
        "        uint64_t ww = mdl_bits(w, o + (unsigned long)c), mm = m ? mdl_bits(m, o + (unsigned long)c) : ~(uint64_t)0;\n"
        "        const float *xc = x + c;\n"
        "        for (l = 0; l < n; l++) {\n"
        "            float v = xc[l] * (float)((int)(ww >> l & 1) * 2 - 1);\n"
        "            uint32_t u;\n"
        "            memcpy(&u, &v, 4);\n"
        "            u &= 0u - (uint32_t)(mm >> l & 1);\n"
        "            memcpy(&v, &u, 4);\n"
        "            p[l] += v;\n"
        "        }\n"
        "    }\n"
        "    for (l = 0; l < 16; l++) q[l] = (p[l] + p[16 + l]) + (p[32 + l] + p[48 + l]);\n"
        "    for (h = 8; h >= 1; h >>= 1)\n"
        "        for (l = 0; l < h; l++) q[l] = q[l] + q[l + h];\n"
        "    return q[0];\n"
        "}\n"
        "/* Output (oy, ox)'s receptive field of x (C x H x W) in (c, i, j) order:\n"
        " * signs into xb, inside-the-image into xv. */\n"
        "static inline void mdl_field(const float *x, int C, int H, int W, int k, int s, int p, int oy, int ox,\n"
        "                             uint64_t *xb, uint64_t *xv, int nw) {\n"
        "    int c, i, j, q = 0;\n"
        "    memset(xb, 0, sizeof(uint64_t) * (size_t)nw);\n"
        "    memset(xv, 0, sizeof(uint64_t) * (size_t)nw);\n"
        "    for (c = 0; c < C; c++)\n"
        "        for (i = 0; i < k; i++)\n"
        "            for (j = 0; j < k; j++, q++) {\n"
        "                int iy = oy * s - p + i, ix = ox * s - p + j;\n"
        "                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;\n"
        "                xv[q >> 6] |= (uint64_t)1 << (q & 63);\n"
        "                if (x[((long)c * H + iy) * W + ix] >= 0) xb[q >> 6] |= (uint64_t)1 << (q & 63);\n"
        "            }\n"
        "}\n"
        "/* The same field against real x: sum of +-x in (c, i, j) order, padding\n"
        " * adding 0, as minnow's im2col + mn_signacc_cols (bit-identical to it). */\n"
        "static inline float mdl_cacc(const float *x, int C, int H, int W, int k, int s, int p, int oy, int ox,\n"
        "                             const uint64_t *w, const uint64_t *m, unsigned long o) {\n"
        "    float acc = 0;\n"
        "    int c, i, j;\n"
        "    unsigned long b = o;\n"
        "    for (c = 0; c < C; c++)\n"
        "        for (i = 0; i < k; i++)\n"
        "            for (j = 0; j < k; j++, b++) {\n"
        "                int iy = oy * s - p + i, ix = ox * s - p + j;\n"
        "                float v;\n"
        "                if (m && !mdl_bit(m, b)) continue;\n"
        "                v = iy < 0 || iy >= H || ix < 0 || ix >= W ? 0.0f : x[((long)c * H + iy) * W + ix];\n"
        "                acc += v * (float)(mdl_bit(w, b) * 2 - 1);\n"
        "            }\n"
        "    return acc;\n"
        "}\n"
        "/* XNOR-Net's input scales: beta = mean |x| (dense), K = the k x k box sum\n"
        " * of |x| over all channels / (C k k) (conv), summed in double like minnow. */\n"
        "static inline float mdl_absmean(const float *x, int n) {\n"
        "    double s = 0;\n"
        "    int c;\n"
        "    for (c = 0; c < n; c++) s += x[c] < 0 ? -x[c] : x[c];\n"
        "    return (float)(s / n);\n"
        "}\n"
        "static inline float mdl_kbox(const float *x, int C, int H, int W, int k, int s, int p, int oy, int ox) {\n"
        "    double t = 0;\n"
        "    int c, i, j;\n"
        "    for (i = 0; i < k; i++)\n"
        "        for (j = 0; j < k; j++) {\n"
        "            int iy = oy * s - p + i, ix = ox * s - p + j;\n"
        "            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;\n"
        "            for (c = 0; c < C; c++) {\n"
        "                float v = x[((long)c * H + iy) * W + ix];\n"
        "                t += v < 0 ? -v : v;\n"
        "            }\n"
        "        }\n"
        "    return (float)(t / ((double)C * k * k));\n"
        "}\n\n");
}

/* Node n's binary store: its own, or one made from the weights it runs
 * (bmode != 0: the deterministic effective weights); *own is then the
 * caller's to free.  Weights that are not +-one value per row (tanh mode)
 * have no bit form. */
static mn_status node_store(const mn_graph *g, const mn_node *n, const mn_store **st, mn_store **own) {
    const mn_param *pp = &g->params[n->p[0]];
    *own = NULL;
    *st = pp->store;
    if (pp->store) {
        if (pp->store->kind != MN_ST_BINARY)
            return mn_error(MN_EUNSUPPORTED, "export-c: node '%s': %s storage in a %s layer is not supported", n->name,
                            mn_storage_name(pp->store->kind), mn_op_name(n->op));
        return MN_OK;
    }
    int rows, cols;
    mn_param_matrix(g, n->p[0], &rows, &cols);
    float *wb = malloc(sizeof(float) * (size_t)pp->n);
    if (!wb) return mn_error(MN_ENOMEM, "out of memory");
    int kk = pp->shape.ndim == 4 ? pp->shape.d[2] * pp->shape.d[3] : 1;
    mn_bin_effective((mn_bin_mode)n->a.bmode, mn_param_data(g, n->p[0]), rows, cols, mn_bin_glorot(cols, rows * kk),
                     n->a.bsparse, NULL, wb);
    mn_status s = mn_binary_store_make(wb, rows, cols, own);
    free(wb);
    if (s)
        return mn_error(MN_EUNSUPPORTED, "export-c: node '%s': its weights are not binary (bmode %d); export a frozen "
                        "model (minnow binarize)", n->name, n->a.bmode);
    *st = *own;
    return MN_OK;
}

static mn_status bx(const mn_graph *g, int i, const mn_cb_bufs *b, mn_sb *d, mn_sb *c, size_t *bytes) {
    const mn_node *n = &g->nodes[i];
    const mn_store *st;
    mn_store *own;
    mn_status s = node_store(g, n, &st, &own);
    if (s) return s;
    int has_mask = 0, p = n->p[0], q = n->p[1], fold = n->a.bfold != 0, xs = n->a.xscale != 0;
    const mn_bin_store *bs = mn_binary_store(st);
    int rows = bs->rows, cols = bs->cols, nsc = bs->shared_scale ? 0 : 1;
    s = mn_cb_emit_planes(g, p, st, !fold, d, bytes, &has_mask); /* thresholds replace the scales */
    mn_store_free(own);
    if (s) return s;
    if (xs && !b->pre) return mn_error(MN_EUNSUPPORTED, "export-c: node '%s': input scale without a sign input", n->name);
    char nm[32];
    snprintf(nm, sizeof nm, "p%d", q);
    mn_sb_farray(d, nm, mn_param_data(g, q), g->params[q].n, bytes);
    int bin = mn_node_binary_valued(g, n->in[0]), nw = (cols + 63) / 64;
    if (bin && nw > MAX_STACK_WORDS)
        return mn_error(MN_EUNSUPPORTED, "export-c: node '%s': %d inputs per unit, more than %d packed on the stack",
                        n->name, cols, 64 * MAX_STACK_WORDS);
    char m[16], acc[256], out[256], ix[8];
    if (has_mask) snprintf(m, sizeof m, "p%d_m", p);
    else snprintf(m, sizeof m, "0");
    int dense = n->op == MN_OP_BDENSE;
    snprintf(ix, sizeof ix, "%s", dense ? "r" : "f");
    if (dense && bin)
        snprintf(acc, sizeof acc, "(float)mdl_xnor(xb, 0, p%d_w, %s, (unsigned long)r * %dul, %d)", p, m, cols, cols);
    else if (dense)
        snprintf(acc, sizeof acc, "mdl_sacc(x, %d, p%d_w, %s, (unsigned long)r * %dul)", cols, p, m, cols);
    else if (bin)
        snprintf(acc, sizeof acc, "(float)mdl_xnor(xb, xv, p%d_w, %s, (unsigned long)f * %dul, %d)", p, m, cols, cols);
    else {
        const mn_shape *in = &g->nodes[n->in[0]].out;
        snprintf(acc, sizeof acc, "mdl_cacc(x, %d, %d, %d, %d, %d, %d, oy, ox, p%d_w, %s, (unsigned long)f * %dul)",
                 in->d[0], in->d[1], in->d[2], n->a.k, n->a.stride, n->a.pad, p, m, cols);
    }
    /* minnow: fire = k * acc >= T; otherwise scale * acc * beta + bias, in that order. */
    if (fold)
        snprintf(out, sizeof out, "p%d[%s] * acc >= p%d[%d + %s] ? 1.0f : -1.0f", q, ix, q, rows, ix);
    else
        snprintf(out, sizeof out, "p%d_s[%s] * acc%s + p%d[%s]", p, nsc ? ix : "0", xs ? (dense ? " * bb" : " * kk") : "", q, ix);
    mn_sb_printf(c, "    {\n        const float *x = %s;\n        float *y = %s;\n", b->x, b->y);
    if (dense) {
        mn_sb_printf(c, "        long r;\n");
        if (bin) mn_sb_printf(c, "        uint64_t xb[%d];\n        mdl_pack(x, %d, xb, %d);\n", nw, cols, nw);
        if (xs) mn_sb_printf(c, "        const float bb = mdl_absmean(%s, %d);\n", b->pre, cols);
        mn_sb_printf(c, "        for (r = 0; r < %d; r++) {\n            float acc = %s;\n            y[r] = %s;\n        }\n",
                     rows, acc, out);
    } else {
        const mn_shape *in = &g->nodes[n->in[0]].out;
        int OH = n->out.d[1], OW = n->out.d[2];
        char geo[96];
        snprintf(geo, sizeof geo, "%d, %d, %d, %d, %d, %d, oy, ox", in->d[0], in->d[1], in->d[2], n->a.k, n->a.stride, n->a.pad);
        mn_sb_printf(c, "        int oy, ox, f;\n");
        if (bin) mn_sb_printf(c, "        uint64_t xb[%d], xv[%d];\n", nw, nw);
        mn_sb_printf(c, "        for (oy = 0; oy < %d; oy++)\n            for (ox = 0; ox < %d; ox++) {\n", OH, OW);
        if (xs) mn_sb_printf(c, "                const float kk = mdl_kbox(%s, %s);\n", b->pre, geo);
        if (bin) mn_sb_printf(c, "                mdl_field(x, %s, xb, xv, %d);\n", geo, nw);
        mn_sb_printf(c, "                for (f = 0; f < %d; f++) {\n                    float acc = %s;\n"
                        "                    y[((long)f * %d + oy) * %d + ox] = %s;\n                }\n            }\n",
                     rows, acc, OH, OW, out);
    }
    mn_sb_printf(c, "    }\n");
    return MN_OK;
}

mn_status mn_cb_node(const mn_graph *g, int i, const mn_cb_bufs *b, mn_sb *data, mn_sb *code, size_t *bytes) {
    const mn_node *n = &g->nodes[i];
    if (n->op == MN_OP_SIGN) {
        mn_sb_printf(code, "    {\n        const float *x = %s;\n        float *y = %s;\n        long i;\n"
                           "        for (i = 0; i < %lld; i++) y[i] = x[i] >= 0 ? 1.0f : -1.0f;\n    }\n",
                     b->x, b->y, (long long)mn_shape_numel(&n->out));
        return MN_OK;
    }
    if (n->op != MN_OP_BDENSE && n->op != MN_OP_BCONV)
        return mn_error(MN_EUNSUPPORTED, "export-c: node '%s': op %s is not a binary op", n->name, mn_op_name(n->op));
    return bx(g, i, b, data, code, bytes);
}
