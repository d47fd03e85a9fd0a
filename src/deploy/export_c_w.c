/* The C generator's weights: each storage kind as const arrays plus the
 * helper that yields one row of the matrix at run time (binary planes and
 * the binarized ops are in export_c_bin.c).
 *
 * Codebook layers are re-encoded for the device: the nonzero weights in
 * row-major order as (gap, centroid index) pairs, both canonical-Huffman
 * coded in one MSB-first bit stream (a gap symbol F means "skip F zeros,
 * no weight"), decoded a row at a time while the layer runs.  This keeps
 * the bytes close to the .mnw's own Huffman form without a decode table
 * in RAM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/export_c_impl.h"
#include "minnow/cluster.h"
#include "minnow/quant.h"
#include "minnow/sparse.h"
#include "kernels/sparse.h"
#include "store/affine.h"
#include "store/codebook.h"
#include "store/huffman.h"

#define HMAX 16 /* longest Huffman code on the device */

static void iarray(mn_sb *b, const char *type, const char *name, const long *v, int64_t n, size_t esz, size_t *bytes) {
    mn_sb_printf(b, "static const %s %s[%lld] = {", type, name, (long long)n);
    for (int64_t i = 0; i < n; i++) mn_sb_printf(b, "%s%ld", i % 16 ? ", " : (i ? ",\n    " : "\n    "), v[i]);
    mn_sb_printf(b, "\n};\n");
    *bytes += esz * (size_t)n;
}

/* ---- codebook: canonical Huffman ---- */

typedef struct bits { unsigned char *p; size_t nbits, cap; } bits;

static int put(bits *o, uint32_t code, int len) {
    for (int i = len - 1; i >= 0; i--) {
        if (o->nbits / 8 >= o->cap) {
            size_t cap = o->cap ? 2 * o->cap : 1024;
            unsigned char *p = realloc(o->p, cap);
            if (!p) return -1;
            memset(p + o->cap, 0, cap - o->cap);
            o->p = p;
            o->cap = cap;
        }
        if ((code >> i) & 1) o->p[o->nbits / 8] |= (unsigned char)(0x80 >> (o->nbits % 8));
        o->nbits++;
    }
    return 0;
}

/* Canonical codes from lengths: shorter first, ties by symbol (puff's rule). */
typedef struct hcode { uint8_t len[300]; uint32_t code[300]; long cnt[HMAX + 1]; long sym[300]; int nsym; } hcode;

static mn_status hbuild(const uint64_t *freq, int nsym, hcode *h) {
    h->nsym = nsym;
    mn_status st = mn_huff_code_lengths(freq, (uint32_t)nsym, HMAX, h->len);
    if (st) return st;
    memset(h->cnt, 0, sizeof h->cnt);
    int k = 0;
    uint32_t code = 0;
    for (int l = 1; l <= HMAX; l++) {
        for (int s = 0; s < nsym; s++)
            if (h->len[s] == l) { h->code[s] = code++; h->sym[k++] = s; h->cnt[l]++; }
        code <<= 1;
    }
    for (int s = k; s < nsym; s++) h->sym[s] = 0;
    h->nsym = k ? k : 1;
    return MN_OK;
}

static size_t hbits(const uint64_t *freq, int nsym, const hcode *h) {
    size_t t = 0;
    for (int s = 0; s < nsym; s++) t += freq[s] * h->len[s];
    return t;
}

static mn_status emit_codebook(const mn_graph *g, int p, const mn_store *st, mn_sb *d, size_t *bytes, mn_cw *cw) {
    int k;
    const float *cb = mn_codebook_centroids(st, &k);
    if (!cb || k < 1 || k > 256) return mn_error(MN_EFORMAT, "export-c: %s: bad codebook", g->params[p].name);
    const float *w = mn_param_data(g, p);
    int64_t n = g->params[p].n, nnz = 0;
    uint8_t *idx = malloc((size_t)n);
    if (!idx) return mn_error(MN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        if (w[i] == 0) continue;
        int j = 0;
        while (j < k && cb[j] != w[i]) j++;
        if (j == k) { free(idx); return mn_error(MN_EFORMAT, "export-c: %s: a weight is no centroid", g->params[p].name); }
        idx[i] = (uint8_t)j;
        nnz++;
    }
    int dense = nnz == n;
    cw->nnz = nnz;
    /* The filler length that gives the fewest bits. */
    static const int fills[] = {4, 8, 16, 32, 64, 128, 256};
    int best = 8;
    size_t bestbits = (size_t)-1;
    uint64_t gf[300], ifr[300] = {0};
    hcode hg, hi;
    for (int64_t i = 0; i < n; i++) if (w[i] != 0) ifr[idx[i]]++;
    for (int fi = 0; fi < 7 && !dense; fi++) {
        int F = fills[fi];
        memset(gf, 0, sizeof gf);
        int64_t last = -1;
        for (int64_t i = 0; i < n; i++) {
            if (w[i] == 0) continue;
            int64_t gap = i - last - 1;
            gf[F] += (uint64_t)(gap / F);
            gf[gap % F]++;
            last = i;
        }
        if (hbuild(gf, F + 1, &hg)) continue;
        size_t b = hbits(gf, F + 1, &hg) + 16 * (size_t)(F + 1 + HMAX);
        if (b < bestbits) { bestbits = b; best = F; }
    }
    mn_status s;
    if ((s = hbuild(ifr, k, &hi))) { free(idx); return s; }
    int F = best;
    memset(gf, 0, sizeof gf);
    if (!dense) {
        int64_t last = -1;
        for (int64_t i = 0; i < n; i++)
            if (w[i] != 0) { int64_t gap = i - last - 1; gf[F] += (uint64_t)(gap / F); gf[gap % F]++; last = i; }
        if ((s = hbuild(gf, F + 1, &hg))) { free(idx); return s; }
    }
    bits o = {0};
    int64_t last = -1;
    int err = 0;
    for (int64_t i = 0; i < n && !err; i++) {
        if (w[i] == 0) continue;
        if (!dense) {
            int64_t gap = i - last - 1;
            for (; gap >= F && !err; gap -= F) err = put(&o, hg.code[F], hg.len[F]);
            if (!err) err = put(&o, hg.code[gap], hg.len[gap]);
        }
        if (!err) err = put(&o, hi.code[idx[i]], hi.len[idx[i]]);
        last = i;
    }
    free(idx);
    if (err) { free(o.p); return mn_error(MN_ENOMEM, "out of memory"); }
    char nm[64];
    snprintf(nm, sizeof nm, "p%d_cb", p);
    mn_sb_farray(d, nm, cb, k, bytes);
    size_t nb = (o.nbits + 7) / 8;
    mn_sb_printf(d, "static const unsigned char p%d_bits[%zu] = {", p, nb ? nb : 1);
    for (size_t i = 0; i < (nb ? nb : 1); i++)
        mn_sb_printf(d, "%s%u", i % 20 ? "," : (i ? ",\n    " : "\n    "), nb ? o.p[i] : 0u);
    mn_sb_printf(d, "\n};\n");
    *bytes += nb ? nb : 1;
    free(o.p);
    snprintf(nm, sizeof nm, "p%d_icnt", p);
    iarray(d, "unsigned short", nm, hi.cnt, HMAX + 1, 2, bytes);
    snprintf(nm, sizeof nm, "p%d_isym", p);
    iarray(d, "unsigned short", nm, hi.sym, hi.nsym, 2, bytes);
    if (!dense) {
        snprintf(nm, sizeof nm, "p%d_gcnt", p);
        iarray(d, "unsigned short", nm, hg.cnt, HMAX + 1, 2, bytes);
        snprintf(nm, sizeof nm, "p%d_gsym", p);
        iarray(d, "unsigned short", nm, hg.sym, hg.nsym, 2, bytes);
    }
    if (dense)
        mn_sb_printf(d, "static const mdl_cb p%d_d = {p%d_bits, 0, 0, p%d_icnt, p%d_isym, p%d_cb, %lldL, 0};\n", p, p,
                     p, p, p, (long long)nnz);
    else
        mn_sb_printf(d, "static const mdl_cb p%d_d = {p%d_bits, p%d_gcnt, p%d_gsym, p%d_icnt, p%d_isym, p%d_cb, %lldL, %d};\n",
                     p, p, p, p, p, p, p, (long long)nnz, F);
    return MN_OK;
}

static mn_status emit_csr(const mn_graph *g, int p, const mn_store *st, mn_sb *d, size_t *bytes) {
    const mn_csr *c = (const mn_csr *)st->impl;
    if (!c || c->cols > 65535)
        return mn_error(MN_EUNSUPPORTED, "export-c: %s: CSR with more than 65535 columns", g->params[p].name);
    long *v = malloc(sizeof(long) * (size_t)(c->nnz > c->rows ? c->nnz + 1 : c->rows + 1));
    if (!v) return mn_error(MN_ENOMEM, "out of memory");
    char nm[64];
    for (int r = 0; r <= c->rows; r++) v[r] = (long)c->rowptr[r];
    snprintf(nm, sizeof nm, "p%d_rp", p);
    iarray(d, "unsigned int", nm, v, c->rows + 1, 4, bytes);
    for (int64_t k = 0; k < c->nnz; k++) v[k] = c->col[k];
    snprintf(nm, sizeof nm, "p%d_ci", p);
    iarray(d, "unsigned short", nm, v, c->nnz ? c->nnz : 1, 2, bytes);
    free(v);
    snprintf(nm, sizeof nm, "p%d_v", p);
    float zero = 0;
    mn_sb_farray(d, nm, c->nnz ? c->val : &zero, c->nnz ? c->nnz : 1, bytes);
    return MN_OK;
}

static mn_status emit_affine(const mn_graph *g, int p, const mn_store *st, mn_sb *d, size_t *bytes, mn_cw *w) {
    mn_affine_info a;
    mn_status s = mn_affine_store_info(st, &a);
    if (s) return s;
    int64_t n = (int64_t)st->rows * st->cols;
    long *v = malloc(sizeof(long) * (size_t)(n > a.nscale ? n : a.nscale));
    if (!v) return mn_error(MN_ENOMEM, "out of memory");
    char nm[64];
    /* Codes of 4 bits or fewer go two to a byte, as offsets from the
     * smallest code (folded into the zero points): the device's flash
     * holds the bits the file does. */
    int qlo = 127, qhi = -128;
    for (int64_t i = 0; i < n; i++) {
        if (a.q[i] < qlo) qlo = a.q[i];
        if (a.q[i] > qhi) qhi = a.q[i];
    }
    w->nib = a.bits <= 4 && n > 0 && qhi - qlo <= 15;
    if (w->nib) {
        for (int64_t i = 0; i < (n + 1) / 2; i++) {
            int lo = a.q[2 * i] - qlo, hi = 2 * i + 1 < n ? a.q[2 * i + 1] - qlo : 0;
            v[i] = lo | hi << 4;
        }
        snprintf(nm, sizeof nm, "p%d_q4", p);
        iarray(d, "unsigned char", nm, v, (n + 1) / 2, 1, bytes);
    } else {
        for (int64_t i = 0; i < n; i++) v[i] = a.q[i];
        snprintf(nm, sizeof nm, "p%d_q", p);
        iarray(d, "signed char", nm, v, n, 1, bytes);
        qlo = 0;
    }
    for (int i = 0; i < a.nscale; i++) v[i] = a.zero[i] - qlo;
    snprintf(nm, sizeof nm, "p%d_z", p);
    iarray(d, "int", nm, v, a.nscale, 4, bytes);
    free(v);
    snprintf(nm, sizeof nm, "p%d_s", p);
    mn_sb_farray(d, nm, a.scale, a.nscale, bytes);
    w->has_act = a.has_act;
    if (a.has_act) {
        w->act_inv = 1.0f / a.act.scale;
        w->act_lo = (float)(a.act.qmin - a.act.zero);
        w->act_hi = (float)(a.act.qmax - a.act.zero);
        w->act_scale = a.act.scale;
    }
    (void)g;
    return MN_OK;
}

mn_status mn_cw_emit_weight(const mn_graph *g, int p, mn_sb *data, size_t *bytes, mn_cw *w) {
    const mn_store *st = g->params[p].store;
    memset(w, 0, sizeof *w);
    w->p = p;
    mn_param_matrix(g, p, &w->rows, &w->cols);
    char nm[32];
    if (!st) {
        w->kind = MN_CW_F32;
        snprintf(nm, sizeof nm, "p%d", p);
        mn_sb_farray(data, nm, mn_param_data(g, p), g->params[p].n, bytes);
        return MN_OK;
    }
    if (st->rows != w->rows || st->cols != w->cols)
        return mn_error(MN_EFORMAT, "export-c: %s: store shape does not match", g->params[p].name);
    switch (st->kind) {
    case MN_ST_CSR: w->kind = MN_CW_CSR; return emit_csr(g, p, st, data, bytes);
    case MN_ST_AFFINE: w->kind = MN_CW_AFFINE; return emit_affine(g, p, st, data, bytes, w);
    case MN_ST_CODEBOOK: w->kind = MN_CW_CODEBOOK; return emit_codebook(g, p, st, data, bytes, w);
    case MN_ST_BINARY: w->kind = MN_CW_BINARY; return mn_cb_emit_planes(g, p, st, 1, data, bytes, &w->bin_mask);
    default:
        return mn_error(MN_EUNSUPPORTED, "export-c: %s: storage %s is not supported by export-c", g->params[p].name,
                        mn_storage_name(st->kind));
    }
}

void mn_cw_emit_helpers(mn_sb *c, mn_cw_kind kind) {
    switch (kind) {
    case MN_CW_F32:
    case MN_CW__COUNT: break;
    case MN_CW_BINARY: mn_cb_emit_helpers(c); break;
    case MN_CW_CSR:
        mn_sb_printf(c,
            "/* CSR: row pointers, u16 columns, f32 values. */\n"
            "static inline void mdl_dense_csr(const float *x, const unsigned int *rp, const unsigned short *ci,\n"
            "                          const float *v, const float *b, int units, float *y) {\n"
            "    int r;\n"
            "    unsigned int k;\n"
            "    for (r = 0; r < units; r++) {\n"
            "        float s = 0;\n"
            "        for (k = rp[r]; k < rp[r + 1]; k++) s += v[k] * x[ci[k]];\n"
            "        y[r] = b[r] + s;\n"
            "    }\n"
            "}\n"
            "static inline const float *mdl_csr_row(const unsigned int *rp, const unsigned short *ci, const float *v,\n"
            "                                long r, int cols, float *rb) {\n"
            "    unsigned int k;\n"
            "    memset(rb, 0, sizeof(float) * (size_t)cols);\n"
            "    for (k = rp[r]; k < rp[r + 1]; k++) rb[ci[k]] = v[k];\n"
            "    return rb;\n"
            "}\n\n");
        break;
    case MN_CW_AFFINE:
        mn_sb_printf(c,
            "/* int8 affine: w = scale * (q - zero), per tensor (ns 1) or per row. */\n"
            "static inline const float *mdl_aff_row(const signed char *q, const float *sc, const int *z, int ns,\n"
            "                                long r, int cols, float *rb) {\n"
            "    int c, k = ns > 1 ? (int)r : 0;\n"
            "    for (c = 0; c < cols; c++) rb[c] = sc[k] * (float)(q[r * cols + c] - z[k]);\n"
            "    return rb;\n"
            "}\n"
            "/* The same with 4-bit codes, two to a byte (low nibble first). */\n"
            "static inline const float *mdl_aff4_row(const unsigned char *q, const float *sc, const int *z, int ns,\n"
            "                                 long r, int cols, float *rb) {\n"
            "    int c, k = ns > 1 ? (int)r : 0;\n"
            "    for (c = 0; c < cols; c++) {\n"
            "        unsigned long i = (unsigned long)r * (unsigned long)cols + (unsigned long)c;\n"
            "        rb[c] = sc[k] * (float)((int)(q[i >> 1] >> ((i & 1) * 4) & 15) - z[k]);\n"
            "    }\n"
            "    return rb;\n"
            "}\n"
            "/* Round half to even without libm (|t| <= 255 here). */\n"
            "static inline float mdl_rne(float t) {\n"
            "    long i = (long)t;\n"
            "    float d = t - (float)i;\n"
            "    if (d > 0.5f || (d == 0.5f && (i & 1))) i++;\n"
            "    else if (d < -0.5f || (d == -0.5f && (i & 1))) i--;\n"
            "    return (float)i;\n"
            "}\n"
            "\n");
        break;
    case MN_CW_CODEBOOK:
        mn_sb_printf(c,
            "/* Codebook layers: (gap, centroid index) pairs of the nonzeros in row-major\n"
            " * order, canonical Huffman codes MSB first; gap symbol `fill` skips `fill`\n"
            " * zeros (fill 0: no gaps, every weight stored). */\n"
            "typedef struct {\n"
            "    const unsigned char *bits;\n"
            "    const unsigned short *gcnt, *gsym, *icnt, *isym;\n"
            "    const float *cb;\n"
            "    long nnz;\n"
            "    int fill;\n"
            "} mdl_cb;\n"
            "typedef struct { unsigned long bit; long left, pos; float pv; int has; } mdl_cbs;\n"
            "static inline int mdl_huff(const unsigned char *p, unsigned long *bit, const unsigned short *cnt,\n"
            "                    const unsigned short *sym) {\n"
            "    int code = 0, first = 0, index = 0, len;\n"
            "    for (len = 1; len <= %d; len++) {\n"
            "        code |= (p[*bit >> 3] >> (7 - (*bit & 7))) & 1;\n"
            "        (*bit)++;\n"
            "        if (code - first < (int)cnt[len]) return sym[index + code - first];\n"
            "        index += cnt[len];\n"
            "        first = (first + cnt[len]) << 1;\n"
            "        code <<= 1;\n"
            "    }\n"
            "    return 0;\n"
            "}\n"
            "static inline void mdl_cb_reset(mdl_cbs *s, const mdl_cb *d) {\n"
            "    s->bit = 0;\n"
            "    s->left = d->nnz;\n"
            "    s->pos = -1;\n"
            "    s->has = 0;\n"
            "}\n"
            "/* Row r into rb; rows are asked for in order 0, 1, ... */\n"
            "static inline const float *mdl_cb_row(const mdl_cb *d, mdl_cbs *s, long r, int cols, float *rb) {\n"
            "    long lo = r * cols, hi = lo + cols;\n"
            "    memset(rb, 0, sizeof(float) * (size_t)cols);\n"
            "    for (;;) {\n"
            "        if (!s->has) {\n"
            "            if (s->left == 0) break;\n"
            "            if (d->fill) {\n"
            "                int gp;\n"
            "                while ((gp = mdl_huff(d->bits, &s->bit, d->gcnt, d->gsym)) == d->fill) s->pos += gp;\n"
            "                s->pos += gp + 1;\n"
            "            } else {\n"
            "                s->pos++;\n"
            "            }\n"
            "            s->pv = d->cb[mdl_huff(d->bits, &s->bit, d->icnt, d->isym)];\n"
            "            s->left--;\n"
            "            s->has = 1;\n"
            "        }\n"
            "        if (s->pos >= hi) break;\n"
            "        rb[s->pos - lo] = s->pv;\n"
            "        s->has = 0;\n"
            "    }\n"
            "    return rb;\n"
            "}\n"
            "/* Decoded once (export-c --decode startup): the stream as row pointers,\n"
            " * u16 columns and u8 centroid indices in RAM. */\n"
            "static inline void mdl_cb_unpack(const mdl_cb *d, int rows, int cols, unsigned int *rp, unsigned short *ci,\n"
            "                                 unsigned char *ix) {\n"
            "    unsigned long bit = 0;\n"
            "    long pos = -1, k;\n"
            "    int r = 0;\n"
            "    rp[0] = 0;\n"
            "    for (k = 0; k < d->nnz; k++) {\n"
            "        if (d->fill) {\n"
            "            int gp;\n"
            "            while ((gp = mdl_huff(d->bits, &bit, d->gcnt, d->gsym)) == d->fill) pos += gp;\n"
            "            pos += gp + 1;\n"
            "        } else {\n"
            "            pos++;\n"
            "        }\n"
            "        while (pos >= (long)(r + 1) * cols) rp[++r] = (unsigned int)k;\n"
            "        ci[k] = (unsigned short)(pos - (long)r * cols);\n"
            "        ix[k] = (unsigned char)mdl_huff(d->bits, &bit, d->icnt, d->isym);\n"
            "    }\n"
            "    while (r < rows) rp[++r] = (unsigned int)d->nnz;\n"
            "}\n"
            "static inline const float *mdl_cbu_row(const unsigned int *rp, const unsigned short *ci, const unsigned char *ix,\n"
            "                                       const float *cb, long r, int cols, float *rb) {\n"
            "    unsigned int k;\n"
            "    memset(rb, 0, sizeof(float) * (size_t)cols);\n"
            "    for (k = rp[r]; k < rp[r + 1]; k++) rb[ci[k]] = cb[ix[k]];\n"
            "    return rb;\n"
            "}\n"
            "static inline void mdl_dense_cbu(const float *x, const unsigned int *rp, const unsigned short *ci,\n"
            "                                 const unsigned char *ix, const float *cb, const float *b, int units, float *y) {\n"
            "    int r;\n"
            "    unsigned int k;\n"
            "    for (r = 0; r < units; r++) {\n"
            "        float acc = 0;\n"
            "        for (k = rp[r]; k < rp[r + 1]; k++) acc += cb[ix[k]] * x[ci[k]];\n"
            "        y[r] = b[r] + acc;\n"
            "    }\n"
            "}\n\n", HMAX);
        break;
    }
}

void mn_cw_row_expr(mn_sb *c, const mn_cw *w, const char *rb) {
    int p = w->p;
    switch (w->kind) {
    case MN_CW_F32: mn_sb_printf(c, "p%d + (long)r * %d", p, w->cols); break;
    case MN_CW_CSR: mn_sb_printf(c, "mdl_csr_row(p%d_rp, p%d_ci, p%d_v, r, %d, %s)", p, p, p, w->cols, rb); break;
    case MN_CW_AFFINE:
        mn_sb_printf(c, "%s(p%d_q%s, p%d_s, p%d_z, (int)(sizeof p%d_s / sizeof p%d_s[0]), r, %d, %s)",
                     w->nib ? "mdl_aff4_row" : "mdl_aff_row", p, w->nib ? "4" : "", p, p, p, p, w->cols, rb);
        break;
    case MN_CW_CODEBOOK:
        if (w->unpacked) mn_sb_printf(c, "mdl_cbu_row(p%d_urp, p%d_uci, p%d_uix, p%d_cb, r, %d, %s)", p, p, p, p, w->cols, rb);
        else mn_sb_printf(c, "mdl_cb_row(&p%d_d, &cbs, r, %d, %s)", p, w->cols, rb);
        break;
    case MN_CW_BINARY:
        if (w->bin_mask) mn_sb_printf(c, "mdl_bin_row(p%d_w, p%d_m, ", p, p);
        else mn_sb_printf(c, "mdl_bin_row(p%d_w, 0, ", p);
        mn_sb_printf(c, "p%d_s, (int)(sizeof p%d_s / sizeof p%d_s[0]), r, %d, %s)", p, p, p, w->cols, rb);
        break;
    case MN_CW__COUNT: break;
    }
}
