/* The C generator's integer layers: an affine layer whose input is
 * quantized too (int8/int4 weights, int8 activations) runs in integers, as
 * minnow's own kernels do: the input's centred codes and each weight row's
 * centred codes as int16, products summed in int32, one float scale per row
 * at the end.  The dot product uses the Cortex-M DSP extension's SMLAD (two
 * 16-bit multiply-accumulates per instruction, on M4, M7, M33 and any core
 * with __ARM_FEATURE_DSP) through inline assembly; its portable twin is the
 * plain loop beside it, which every other compiler and core runs, and which
 * -DMDL_PORTABLE forces so that the two can be compared on the device. */
#include "deploy/export_c_impl.h"
#include "store/affine.h"

void mn_ci_emit_helpers(mn_sb *c) {
    mn_sb_printf(c,
        "/* Integer dot product of n int16 pairs, summed in int32. */\n"
        "static inline long mdl_dot16(const short *a, const short *b, int n) {\n"
        "    long acc = 0;\n"
        "    int i = 0;\n"
        "#if defined(__ARM_FEATURE_DSP) && !defined(MDL_PORTABLE)\n"
        "    for (; i + 1 < n; i += 2) { /* SMLAD: acc += a0*b0 + a1*b1 */\n"
        "        unsigned int u, v;\n"
        "        memcpy(&u, a + i, sizeof u);\n"
        "        memcpy(&v, b + i, sizeof v);\n"
        "        __asm__(\"smlad %%0, %%1, %%2, %%0\" : \"+r\"(acc) : \"r\"(u), \"r\"(v));\n"
        "    }\n"
        "#endif\n"
        "    for (; i < n; i++) acc += (long)a[i] * b[i];\n"
        "    return acc;\n"
        "}\n"
        "/* The input's centred codes: rne(x / scale) clamped to [lo, hi]. */\n"
        "static inline void mdl_q16(const float *x, long n, float inv, float lo, float hi, short *q) {\n"
        "    long i;\n"
        "    for (i = 0; i < n; i++) {\n"
        "        float t = x[i] * inv;\n"
        "        if (t != t) t = 0.0f;\n"
        "        t = t < lo ? lo : t;\n"
        "        t = t > hi ? hi : t;\n"
        "        q[i] = (short)mdl_rne(t);\n"
        "    }\n"
        "}\n"
        "/* Weight row r's centred codes q - z (8-bit codes, or 4-bit two to a byte). */\n"
        "static inline const short *mdl_row16(const signed char *q8, const unsigned char *q4, const int *z, int ns,\n"
        "                                     long r, int cols, short *w) {\n"
        "    int c, zz = z[ns > 1 ? r : 0];\n"
        "    unsigned long i0 = (unsigned long)r * (unsigned long)cols;\n"
        "    for (c = 0; c < cols; c++) {\n"
        "        unsigned long i = i0 + (unsigned long)c;\n"
        "        w[c] = (short)((q8 ? (int)q8[i] : (int)(q4[i >> 1] >> ((i & 1) * 4) & 15)) - zz);\n"
        "    }\n"
        "    return w;\n"
        "}\n"
        "/* One output plane of an integer convolution: each kernel row is one\n"
        " * contiguous run of the input row, clipped at the padding. */\n"
        "static inline void mdl_conv_plane16(const short *x, int H, int W, int c0, int cg, int k, int s, int p,\n"
        "                                    const short *wr, float scale, float bias, float *y, int OH, int OW) {\n"
        "    int oy, ox, c, i;\n"
        "    for (oy = 0; oy < OH; oy++)\n"
        "        for (ox = 0; ox < OW; ox++) {\n"
        "            long acc = 0;\n"
        "            int x0 = ox * s - p, j0 = x0 < 0 ? -x0 : 0, j1 = W - x0 < k ? W - x0 : k;\n"
        "            for (c = 0; c < cg && j1 > j0; c++)\n"
        "                for (i = 0; i < k; i++) {\n"
        "                    int iy = oy * s - p + i;\n"
        "                    if (iy < 0 || iy >= H) continue;\n"
        "                    acc += mdl_dot16(wr + ((long)c * k + i) * k + j0,\n"
        "                                     x + ((long)(c0 + c) * H + iy) * W + x0 + j0, j1 - j0);\n"
        "                }\n"
        "            y[oy * OW + ox] = scale * (float)acc + bias;\n"
        "        }\n"
        "}\n\n");
}

/* Dense and groups-1 conv layers, and depthwise ones with a small window:
 * the layers minnow's runtime runs on integer kernels (grouped convs that
 * are not depthwise run in f32 on the decoded weights there, and here). */
int mn_cw_int_layer(const mn_graph *g, const mn_node *n) {
    if (n->op != MN_OP_DENSE && n->op != MN_OP_CONV) return 0;
    if (n->op == MN_OP_CONV && n->a.groups > 1) {
        int C = g->nodes[n->in[0]].out.d[0];
        if (n->a.groups != C || n->a.filters % C || n->a.k * n->a.k > MN_AFFINE_DW_MAX_K) return 0;
    }
    const mn_store *st = g->params[n->p[0]].store;
    mn_affine_info a;
    return st && st->kind == MN_ST_AFFINE && mn_affine_store_info(st, &a) == MN_OK && a.has_act;
}

void mn_ci_node(mn_sb *c, const mn_graph *g, const mn_node *n, const mn_cw *w, int64_t xq, int64_t wq16) {
    const mn_shape *in = &g->nodes[n->in[0]].out;
    int p = w->p, b = n->p[1];
    mn_sb_printf(c, "        short *xq = (short *)(s + %lld), *wq = xq + %lld;\n"
                    "        mdl_q16(x, %lld, ", (long long)xq, (long long)wq16, (long long)mn_shape_numel(in));
    mn_sb_float(c, w->act_inv);
    mn_sb_printf(c, ", ");
    mn_sb_float(c, w->act_lo);
    mn_sb_printf(c, ", ");
    mn_sb_float(c, w->act_hi);
    mn_sb_printf(c, ", xq);\n");
    int rows = n->op == MN_OP_DENSE ? w->rows : n->a.filters;
    mn_sb_printf(c, "        for (r = 0; r < %d; r++) {\n"
                    "            const int ns = (int)(sizeof p%d_s / sizeof p%d_s[0]);\n"
                    "            const float sc = p%d_s[ns > 1 ? r : 0] * ", rows, p, p, p);
    mn_sb_float(c, w->act_scale);
    mn_sb_printf(c, ";\n            const short *wr = mdl_row16(%s%d%s, %s%d%s, p%d_z, ns, r, %d, wq);\n",
                 w->nib ? "" : "p", w->nib ? 0 : p, w->nib ? "" : "_q", w->nib ? "p" : "", w->nib ? p : 0,
                 w->nib ? "_q4" : "", p, w->cols);
    if (n->op == MN_OP_DENSE) {
        mn_sb_printf(c, "            y[r] = sc * (float)mdl_dot16(wr, xq, %d) + p%d[r];\n", w->cols, b);
    } else {
        int F = n->a.filters, G = n->a.groups > 0 ? n->a.groups : 1, cg = in->d[0] / G;
        mn_sb_printf(c, "            mdl_conv_plane16(xq, %d, %d, (int)(r / %d) * %d, %d, %d, %d, %d, wr, sc, p%d[r], y + r * %d, %d, %d);\n",
                     in->d[1], in->d[2], F / G, cg, cg, n->a.k, n->a.stride, n->a.pad, b, n->out.d[1] * n->out.d[2],
                     n->out.d[1], n->out.d[2]);
    }
    mn_sb_printf(c, "        }\n    }\n");
}
