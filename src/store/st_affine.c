/* MN_ST_AFFINE: weights as b-bit affine codes (2 <= b <= 8), per tensor or
 * per output row, optionally with the layer's input activation format so
 * that inference runs on the int8 kernels (kernels/int8.h).
 *
 * File form (little-endian), specified in docs/QUANTIZATION.md:
 *   u8 version (1), u8 bits, u8 flags (1 per-row, 2 has-act, 4 pow2 scales),
 *   u8 0, u32 rows, u32 cols, f32 scale[ns], i32 zero[ns] (ns = rows or 1),
 *   [f32 act scale, i32 act zero, i32 act qmin, i32 act qmax],
 *   codes: rows*cols b-bit two's complement fields packed LSB first
 *   (2 per byte at 4 bits, 4 per byte at 2 bits), unused high bits zero.
 * At load the codes are unpacked to int8 and packed again into the layout of
 * the kernel this CPU runs; the per-row constants of the integer epilogue
 * and the layout of the kernels' scratch are made once; the scratch itself
 * is the caller's (traits `scratch`), so one store runs from many threads. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "store/affine.h"

#define NB 32 /* dense: samples per kernel call */
#define F_ROW 1u
#define F_ACT 2u
#define F_POW2 4u

typedef struct aff {
    int bits, nscale, pow2, has_act;
    mn_qact act;
    int8_t *q;
    float *scale;
    int32_t *zero;
    /* run time */
    mn_i8_isa isa;
    void *wp, *wr;   /* codes packed as panels (dense) and as rows (conv) */
    float *mul;      /* per row: act scale * weight scale */
    double *c0;      /* per row: cols*za*zw - za*sum(q), the zero-point terms */
    double *zw;      /* per row weight zero */
    float *wf;       /* weight-only stores: decoded weights for f32 products */
    int nbj;         /* conv: output pixels per kernel call */
    int32_t *c0i, *zwi; /* conv trait: c0 and zw for the int32 epilogue */
    int16_t *wz;     /* dw trait (cols <= MN_AFFINE_DW_MAX_K): codes less their zero point */
    /* The caller's scratch, laid out as: activation rows (dense), a panel
     * (conv), int32 sums, per-row/column code sums, 16 im2col rows of codes
     * (conv trait); each part 64-byte aligned. */
    size_t o_pbuf, o_acc, o_sumq, o_rbuf, work;
} aff;

static void aff_free(aff *a) {
    if (!a) return;
    free(a->q); free(a->scale); free(a->zero);
    mn_free(a->wp); mn_free(a->wr); free(a->mul); free(a->c0); free(a->zw); mn_free(a->wf);
    free(a->c0i); free(a->zwi); free(a->wz);
    free(a);
}

/* The parts of the caller's scratch (see aff). */
typedef struct { void *xbuf, *pbuf, *rbuf; int32_t *acc, *sumq; } parts;
static parts parts_of(const aff *a, void *work) {
    unsigned char *w = work;
    return (parts){w, w + a->o_pbuf, w + a->o_rbuf, (int32_t *)(void *)(w + a->o_acc),
                   (int32_t *)(void *)(w + a->o_sumq)};
}

static size_t header_bytes(int nscale, int has_act) { return 12 + (size_t)8 * nscale + (has_act ? 16 : 0); }
static size_t code_bytes(int rows, int cols, int bits) { return ((uint64_t)rows * cols * bits + 7) / 8; }

static int scale_ok(float s) { return isfinite(s) && s >= FLT_MIN && s <= 1e30f; }
static int is_pow2(float s) { int e; return frexpf(s, &e) == 0.5f; }

/* Checks everything but the codes (any b-bit pattern is a valid code). */
static mn_status check(int rows, int cols, int bits, const float *scale, const int32_t *zero, int nscale,
                       const mn_qact *act, int pow2) {
    if (rows < 1 || cols < 1) return mn_error(MN_EFORMAT, "affine: empty %dx%d matrix", rows, cols);
    if (bits < 2 || bits > 8) return mn_error(MN_EFORMAT, "affine: %d bits (2..8 supported)", bits);
    if (nscale != 1 && nscale != rows) return mn_error(MN_EFORMAT, "affine: %d scales for %d rows", nscale, rows);
    int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    for (int i = 0; i < nscale; i++) {
        if (!scale_ok(scale[i]) || (pow2 && !is_pow2(scale[i])))
            return mn_error(MN_EFORMAT, "affine: bad scale %g in row %d", (double)scale[i], i);
        if (zero[i] < lo || zero[i] > hi)
            return mn_error(MN_EFORMAT, "affine: zero point %d outside [%d, %d]", (int)zero[i], lo, hi);
    }
    if (act) {
        if (!scale_ok(act->scale)) return mn_error(MN_EFORMAT, "affine: bad activation scale %g", (double)act->scale);
        if (act->qmin < -128 || act->qmax > 127 || act->qmin >= act->qmax || act->zero < act->qmin ||
            act->zero > act->qmax)
            return mn_error(MN_EFORMAT, "affine: bad activation range [%d, %d] zero %d", (int)act->qmin,
                            (int)act->qmax, (int)act->zero);
        if (cols > MN_I8_MAX_K)
            return mn_error(MN_EUNSUPPORTED, "affine: %d inputs, the int8 kernels take at most %d", cols, MN_I8_MAX_K);
    }
    return MN_OK;
}

/* The run-time form: packed codes for this CPU's kernel, epilogue constants,
 * scratch (or the decoded weights of a weight-only store). */
static mn_status prepare(aff *a, int rows, int cols) {
    int64_t n = (int64_t)rows * cols;
    if (!a->has_act) {
        if (!(a->wf = mn_alloc((size_t)n, sizeof(float)))) return mn_error(MN_ENOMEM, "out of memory");
        for (int r = 0; r < rows; r++) {
            int k = a->nscale > 1 ? r : 0;
            for (int c = 0; c < cols; c++)
                a->wf[(int64_t)r * cols + c] = a->scale[k] * (float)(a->q[(int64_t)r * cols + c] - a->zero[k]);
        }
        return MN_OK;
    }
    a->isa = mn_i8_best_isa();
    /* conv: enough output pixels per call to amortise, few enough that the
     * quantized panels stay near 64 KB (in cache while every row uses them) */
    size_t p16 = mn_i8_pbytes(a->isa, 16, cols);
    a->nbj = 16 * (int)(p16 >= 65536 ? 1 : 65536 / p16 > 32 ? 32 : 65536 / p16);
    int ld = mn_i8_ldacc(rows), na = NB * ld > rows * a->nbj ? NB * ld : rows * a->nbj;
    a->wp = mn_alloc(mn_i8_wbytes(a->isa, rows, cols), 1);
    a->wr = mn_alloc(mn_i8_wrbytes(a->isa, rows, cols), 1);
    a->mul = malloc(sizeof(float) * rows);
    a->c0 = malloc(sizeof(double) * rows);
    a->zw = malloc(sizeof(double) * rows);
    a->c0i = malloc(sizeof(int32_t) * rows);
    a->zwi = malloc(sizeof(int32_t) * rows);
    a->o_pbuf = mn_up64(mn_i8_xbytes(a->isa, NB, cols));
    a->o_acc = a->o_pbuf + mn_up64(mn_i8_pbytes(a->isa, a->nbj, cols));
    a->o_sumq = a->o_acc + mn_up64((size_t)na * sizeof(int32_t));
    a->o_rbuf = a->o_sumq + mn_up64(sizeof(int32_t) * (size_t)(NB > a->nbj ? NB : a->nbj));
    a->work = a->o_rbuf + mn_up64(mn_i8_im2panel_rbytes(a->isa, cols));
    if (cols <= MN_AFFINE_DW_MAX_K && !(a->wz = malloc(sizeof(int16_t) * (size_t)n))) return mn_error(MN_ENOMEM, "out of memory");
    if (!a->wp || !a->wr || !a->mul || !a->c0 || !a->zw || !a->c0i || !a->zwi)
        return mn_error(MN_ENOMEM, "out of memory");
    mn_i8_pack_w(a->isa, a->q, rows, cols, a->wp);
    mn_i8_pack_wrows(a->isa, a->q, rows, cols, a->wr);
    /* Exact integers in doubles (|.| < 2^53): the epilogue's sum is exact
     * and rounds to float once, whatever the ISA. */
    int64_t za = a->act.zero;
    for (int r = 0; r < rows; r++) {
        int k = a->nscale > 1 ? r : 0;
        int64_t sq = 0;
        for (int c = 0; c < cols; c++) sq += a->q[(int64_t)r * cols + c];
        a->zw[r] = a->zero[k];
        a->c0[r] = (double)((int64_t)cols * za * a->zero[k] - za * sq);
        a->mul[r] = a->act.scale * a->scale[k];
        /* |c0| <= 2 * 128 * 128 * cols: int32 where the conv trait runs */
        a->zwi[r] = a->zero[k];
        a->c0i[r] = cols <= MN_I8_OUT_MAX_K ? (int32_t)((int64_t)cols * za * a->zero[k] - za * sq) : 0;
        for (int c = 0; a->wz && c < cols; c++)
            a->wz[(int64_t)r * cols + c] = (int16_t)(a->q[(int64_t)r * cols + c] - a->zero[k]);
    }
    return MN_OK;
}

static mn_status make(int rows, int cols, int bits, const int8_t *q, const float *scale, const int32_t *zero,
                      int nscale, const mn_qact *act, int pow2, mn_store *s) {
    mn_status st = check(rows, cols, bits, scale, zero, nscale, act, pow2);
    if (st) return st;
    int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    int64_t n = (int64_t)rows * cols;
    for (int64_t i = 0; i < n; i++)
        if (q[i] < lo || q[i] > hi) return mn_error(MN_EARG, "affine: code %d does not fit %d bits", q[i], bits);
    aff *a = calloc(1, sizeof *a);
    if (!a) return mn_error(MN_ENOMEM, "out of memory");
    a->bits = bits; a->nscale = nscale; a->pow2 = pow2; a->has_act = act != NULL;
    if (act) a->act = *act;
    a->q = malloc((size_t)n);
    a->scale = malloc(sizeof(float) * nscale);
    a->zero = malloc(sizeof(int32_t) * nscale);
    if (!a->q || !a->scale || !a->zero) { aff_free(a); return mn_error(MN_ENOMEM, "out of memory"); }
    memcpy(a->q, q, (size_t)n);
    memcpy(a->scale, scale, sizeof(float) * nscale);
    memcpy(a->zero, zero, sizeof(int32_t) * nscale);
    if ((st = prepare(a, rows, cols))) { aff_free(a); return st; }
    s->kind = MN_ST_AFFINE; s->rows = rows; s->cols = cols; s->impl = a;
    return MN_OK;
}

mn_status mn_affine_store_new(int rows, int cols, int bits, const int8_t *q, const float *scale,
                              const int32_t *zero, int nscale, const mn_qact *act, int pow2, mn_store **out) {
    mn_store *s = calloc(1, sizeof *s);
    if (!s) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = make(rows, cols, bits, q, scale, zero, nscale, act, pow2, s);
    if (st) { free(s); return st == MN_EFORMAT ? MN_EARG : st; } /* keeps make()'s message */
    *out = s;
    return MN_OK;
}

mn_status mn_affine_store_info(const mn_store *s, mn_affine_info *o) {
    if (!s || s->kind != MN_ST_AFFINE || !s->impl) return mn_error(MN_EARG, "not an affine store");
    const aff *a = s->impl;
    *o = (mn_affine_info){a->bits, a->nscale, a->pow2, a->has_act, a->act, a->isa, a->q, a->scale, a->zero};
    return MN_OK;
}

/* ---- traits ---- */

static size_t bytes(const mn_store *s) {
    const aff *a = s->impl;
    return header_bytes(a->nscale, a->has_act) + code_bytes(s->rows, s->cols, a->bits);
}

static void decode(const mn_store *s, float *w) {
    const aff *a = s->impl;
    for (int r = 0; r < s->rows; r++) {
        int k = a->nscale > 1 ? r : 0;
        for (int c = 0; c < s->cols; c++)
            w[(int64_t)r * s->cols + c] = a->scale[k] * (float)(a->q[(int64_t)r * s->cols + c] - a->zero[k]);
    }
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void putf(unsigned char *p, float f) { uint32_t u; memcpy(&u, &f, 4); put32(p, u); }
static float getf(const unsigned char *p) { uint32_t u = get32(p); float f; memcpy(&f, &u, 4); return f; }

static mn_status serialize(const mn_store *s, unsigned char **buf, size_t *len) {
    const aff *a = s->impl;
    size_t hb = header_bytes(a->nscale, a->has_act), n = hb + code_bytes(s->rows, s->cols, a->bits);
    unsigned char *p = calloc(n, 1);
    if (!p) return mn_error(MN_ENOMEM, "out of memory");
    p[0] = 1;
    p[1] = (unsigned char)a->bits;
    p[2] = (unsigned char)((a->nscale > 1 ? F_ROW : 0) | (a->has_act ? F_ACT : 0) | (a->pow2 ? F_POW2 : 0));
    put32(p + 4, (uint32_t)s->rows);
    put32(p + 8, (uint32_t)s->cols);
    unsigned char *o = p + 12;
    for (int i = 0; i < a->nscale; i++, o += 4) putf(o, a->scale[i]);
    for (int i = 0; i < a->nscale; i++, o += 4) put32(o, (uint32_t)a->zero[i]);
    if (a->has_act) {
        putf(o, a->act.scale);
        put32(o + 4, (uint32_t)a->act.zero);
        put32(o + 8, (uint32_t)a->act.qmin);
        put32(o + 12, (uint32_t)a->act.qmax);
    }
    uint32_t mask = (1u << a->bits) - 1;
    uint64_t n_codes = (uint64_t)s->rows * s->cols, bit = 0;
    for (uint64_t i = 0; i < n_codes; i++, bit += a->bits) {
        uint32_t u = ((uint32_t)(int32_t)a->q[i] & mask) << (bit & 7);
        p[hb + bit / 8] |= (unsigned char)u;
        if ((bit & 7) + a->bits > 8) p[hb + bit / 8 + 1] |= (unsigned char)(u >> 8);
    }
    *buf = p;
    *len = n;
    return MN_OK;
}

static mn_status deserialize(const unsigned char *buf, size_t len, int rows, int cols, mn_store *s) {
    if (len < 12) return mn_error(MN_EFORMAT, "affine: %zu bytes, too short for a header", len);
    int bits = buf[1];
    unsigned flags = buf[2];
    if (buf[0] != 1) return mn_error(MN_EFORMAT, "affine: unknown version %d", buf[0]);
    if (flags & ~(F_ROW | F_ACT | F_POW2) || buf[3]) return mn_error(MN_EFORMAT, "affine: unknown flags");
    if (get32(buf + 4) != (uint32_t)rows || get32(buf + 8) != (uint32_t)cols)
        return mn_error(MN_EFORMAT, "affine: stored as %ux%u, weight is %dx%d", get32(buf + 4), get32(buf + 8), rows, cols);
    if (bits < 2 || bits > 8) return mn_error(MN_EFORMAT, "affine: %d bits (2..8 supported)", bits);
    int ns = flags & F_ROW ? rows : 1, has_act = (flags & F_ACT) != 0;
    size_t hb = header_bytes(ns, has_act), want = hb + code_bytes(rows, cols, bits);
    if (len != want) return mn_error(MN_EFORMAT, "affine: %zu bytes, expected %zu", len, want);
    int64_t n = (int64_t)rows * cols;
    float *scale = malloc(sizeof(float) * ns);
    int32_t *zero = malloc(sizeof(int32_t) * ns);
    int8_t *q = malloc((size_t)n);
    mn_status st = MN_OK;
    if (!scale || !zero || !q) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    const unsigned char *o = buf + 12;
    for (int i = 0; i < ns; i++, o += 4) scale[i] = getf(o);
    for (int i = 0; i < ns; i++, o += 4) zero[i] = (int32_t)get32(o);
    mn_qact act = {0};
    if (has_act) act = (mn_qact){getf(o), (int32_t)get32(o + 4), (int32_t)get32(o + 8), (int32_t)get32(o + 12)};
    uint64_t bit = 0;
    for (int64_t i = 0; i < n; i++, bit += bits) {
        uint32_t u = buf[hb + bit / 8] >> (bit & 7);
        if ((bit & 7) + bits > 8) u |= (uint32_t)buf[hb + bit / 8 + 1] << (8 - (bit & 7));
        u &= (1u << bits) - 1;
        q[i] = (int8_t)(u >= (1u << (bits - 1)) ? (int32_t)u - (1 << bits) : (int32_t)u);
    }
    if (bit & 7 && buf[len - 1] >> (bit & 7))
        { st = mn_error(MN_EFORMAT, "affine: padding bits are not zero"); goto out; }
    st = make(rows, cols, bits, q, scale, zero, ns, has_act ? &act : NULL, (flags & F_POW2) != 0, s);
out:
    free(scale); free(zero); free(q);
    return st;
}

static void st_free(mn_store *s) { aff_free(s->impl); s->impl = NULL; }

/* y[b, r] += act.scale * wscale[r] * sum_c (qx - za)(qw - zw), the sum
 * taken as acc + c0[r] - zw[r] * sum(qx): exact in double, rounded once. */
static void xwt(const mn_store *s, const float *x, int batch, float *y, void *work) {
    const aff *a = s->impl;
    int R = s->rows, K = s->cols, ld = mn_i8_ldacc(R);
    if (!a->has_act) { mn_sgemm(0, 1, batch, R, K, 1.0f, x, K, a->wf, K, 1.0f, y, R); return; }
    parts w = parts_of(a, work);
    for (int b0 = 0; b0 < batch; b0 += NB) {
        int nb = batch - b0 < NB ? batch - b0 : NB;
        mn_i8_quant_rows(a->isa, x + (int64_t)b0 * K, nb, K, &a->act, w.xbuf, w.sumq);
        mn_i8_gemm_xw(a->isa, a->wp, R, K, w.xbuf, nb, w.acc, ld);
        for (int i = 0; i < nb; i++) {
            float *yr = y + (int64_t)(b0 + i) * R;
            const int32_t *ar = w.acc + (int64_t)i * ld;
            double sq = w.sumq[i];
            for (int r = 0; r < R; r++) yr[r] += (float)((double)ar[r] + a->c0[r] - a->zw[r] * sq) * a->mul[r];
        }
    }
}

/* C[r, j] = the same for conv, with activations quantized as panels
 * straight from the rows of the im2col matrix B. */
static void wb(const mn_store *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc, void *work) {
    const aff *a = s->impl;
    int R = s->rows, K = s->cols;
    if (!a->has_act) {
        mn_sgemm(0, 0, R, n, K, 1.0f, a->wf, K, B, (int)ldb, 0.0f, C, (int)ldc);
        return;
    }
    parts w = parts_of(a, work);
    for (int j0 = 0; j0 < n; j0 += a->nbj) {
        int nb = n - j0 < a->nbj ? n - j0 : a->nbj, ld = mn_i8_ldacc(nb);
        mn_i8_quant_panel(a->isa, B + j0, ldb, nb, K, &a->act, w.pbuf, w.sumq);
        mn_i8_gemm_wx(a->isa, a->wr, R, K, w.pbuf, nb, w.acc, ld);
        for (int r = 0; r < R; r++) {
            float *cr = C + r * ldc + j0, m = a->mul[r];
            const int32_t *ar = w.acc + (int64_t)r * ld;
            double c0 = a->c0[r], zw = a->zw[r];
            for (int j = 0; j < nb; j++) cr[j] = (float)((double)ar[j] + c0 - zw * w.sumq[j]) * m;
        }
    }
}

/* The whole conv from the raw input: each image quantized once into a
 * padded code image (in the caller's scratch), its panels gathered from
 * those codes (no f32 im2col, no quantizing of 25x-duplicated columns), the
 * same int8 GEMM, and an int32 epilogue that adds the bias.  Gives the
 * same bits as im2col + wb + bias. */
static int conv(const mn_store *s, const mn_conv_geom *g, const float *x, int batch, const float *bias, float *y,
                void *scratch, size_t sbytes, void *work) {
    const aff *a = s->impl;
    int R = s->rows, K = s->cols;
    if (!a->has_act || K > MN_I8_OUT_MAX_K || (int64_t)g->C * g->k * g->k != K || g->OH <= 0 || g->OW <= 0 ||
        (int64_t)g->OH * g->OW > INT32_MAX)
        return 1;
    /* The scratch holds the code image. */
    size_t need = mn_i8_image_bytes(a->isa, g->C, g->H, g->W, g->pad);
    if (!need || need > sbytes || need > INT32_MAX) return 1; /* the gathers index it with int */
    parts w = parts_of(a, work);
    unsigned char *img = scratch;
    int P = g->OH * g->OW;
    int64_t isz = (int64_t)g->C * g->H * g->W;
    for (int b = 0; b < batch; b++) {
        mn_i8_quant_image(a->isa, x + b * isz, g->C, g->H, g->W, g->pad, &a->act, img);
        float *yb = y + (int64_t)b * R * P;
        for (int j0 = 0; j0 < P; j0 += a->nbj) {
            int nb = P - j0 < a->nbj ? P - j0 : a->nbj, ld = mn_i8_ldacc(nb);
            mn_i8_im2panel(a->isa, img, g->C, g->H, g->W, g->k, g->stride, g->pad, g->OW, j0, nb, w.pbuf,
                           w.sumq, w.rbuf);
            mn_i8_gemm_wx(a->isa, a->wr, R, K, w.pbuf, nb, w.acc, ld);
            mn_i8_wx_out(a->isa, w.acc, ld, R, nb, a->c0i, a->zwi, a->mul, w.sumq, bias, yb + j0, P);
        }
    }
    return 0;
}

/* Depthwise: each sample quantized once into a padded code image, then
 * the integer window sums of mn_i8_dw (no GEMM: k*k products per output). */
static int dw(const mn_store *s, const mn_conv_geom *g, int mult, const float *x, int batch, const float *bias,
              float *y, void *scratch, size_t sbytes) {
    const aff *a = s->impl;
    if (!a->has_act || !a->wz || mult < 1 || (int64_t)g->k * g->k != s->cols || (int64_t)g->C * mult != s->rows ||
        g->OH <= 0 || g->OW <= 0)
        return 1;
    size_t need = mn_i8_image_bytes(a->isa, g->C, g->H, g->W, g->pad);
    if (!need || need > sbytes) return 1;
    int64_t isz = (int64_t)g->C * g->H * g->W, osz = (int64_t)s->rows * g->OH * g->OW;
    for (int b = 0; b < batch; b++) {
        mn_i8_quant_image(a->isa, x + b * isz, g->C, g->H, g->W, g->pad, &a->act, scratch);
        mn_i8_dw(a->isa, scratch, g->C, g->H, g->W, g->pad, g->k, g->stride, g->OH, g->OW, mult, a->wz,
                 a->act.zero, a->mul, bias, y + b * osz);
    }
    return 0;
}

/* Whatever the batch: xwt and wb run NB samples / nbj columns at a time. */
static size_t scratch_bytes(const mn_store *s, int batch) {
    (void)batch;
    const aff *a = s->impl;
    return a->has_act ? a->work : 0;
}

const mn_store_traits mn_st_affine = {"affine", bytes, decode, serialize, deserialize, st_free, xwt, wb, conv,
                                      scratch_bytes, dw};
