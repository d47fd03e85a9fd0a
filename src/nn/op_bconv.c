/* bconv: a convolution (groups 1) whose weights are binarized.
 *   training:  im2col + SGEMM with W_b = binarize(ghost w), times K[b, p]
 *              (XNOR-Net: the k x k box average of mean_c |pre-sign x|)
 *   inference: with an MN_ST_BINARY store and +-1 inputs, each output
 *              position's receptive field is packed to bits and run through
 *              XNOR + popcount; zero padding (neither +1 nor -1) is packed as
 *              -1 and corrected exactly per filter and border position.
 *              Real inputs: im2col, then sign-bit add/subtract. */
#include <string.h>

#include "kernels/kernels.h"
#include "nn/op_bin.h"
#include "kernels/xnor.h"
#include "nn/bin_w.h"
#include "store/binary.h"

typedef struct { int C, H, W, F, k, s, p, OH, OW, P, CKK; } bdims;

static bdims dims_of(const mn_graph *g, const mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    bdims d = {in->d[0], in->d[1], in->d[2], n->a.filters, n->a.k, n->a.stride, n->a.pad,
               n->out.d[1], n->out.d[2], 0, 0};
    d.P = d.OH * d.OW;
    d.CKK = d.C * d.k * d.k;
    return d;
}

static mn_status infer(mn_graph *g, mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    mn_attrs *a = &n->a;
    if (in->ndim != 3) return mn_error(MN_ESHAPE, "bconv '%s': input must be c x h x w", n->name);
    if (a->stride == 0) a->stride = 1;
    if (a->groups == 0) a->groups = 1;
    if (a->groups != 1) return mn_error(MN_ESHAPE, "bconv '%s': only groups=1 is supported", n->name);
    if (a->filters <= 0 || a->k <= 0 || a->stride <= 0 || a->pad < 0 || a->pad >= a->k)
        return mn_error(MN_ESHAPE, "bconv '%s': bad filters/k/stride/pad", n->name);
    if (in->d[1] + 2 * (int64_t)a->pad < a->k || in->d[2] + 2 * (int64_t)a->pad < a->k)
        return mn_error(MN_ESHAPE, "bconv '%s': kernel %d larger than input %dx%d", n->name, a->k, in->d[1], in->d[2]);
    if ((int64_t)in->d[0] * a->k * a->k > (1 << 24))
        return mn_error(MN_ESHAPE, "bconv '%s': receptive field too large", n->name);
    mn_status st = mn__bin_check(g, n);
    if (st) return st;
    n->out = (mn_shape){3, {a->filters, mn_conv_out(in->d[1], a->k, a->stride, a->pad),
                            mn_conv_out(in->d[2], a->k, a->stride, a->pad), 0}};
    int wd[4] = {a->filters, in->d[0], a->k, a->k}, bd[1] = {a->filters}, td[2] = {2, a->filters};
    if (mn__declare_param(g, n, "weight", 4, wd, 1, 1) < 0) return MN_ESHAPE;
    if (!a->bfold && mn__declare_param(g, n, "bias", 1, bd, 1, 0) < 0) return MN_ESHAPE;
    if (a->bfold && mn__declare_param(g, n, "thresh", 2, td, 0, 0) < 0) return MN_ESHAPE;
    return MN_OK;
}

/* Saved: effective weights (unless frozen), then K[batch, P]. */
static size_t aux(const mn_graph *g, const mn_node *n, int batch) {
    bdims d = dims_of(g, n);
    return (n->a.bmode ? (size_t)d.F * d.CKK : 0) + (n->a.xscale ? (size_t)batch * d.P : 0);
}

/* Scratch regions start on 64-byte boundaries (counts in floats). */
static size_t al(size_t n) { return (n + 15) & ~(size_t)15; }

/* Training: columns, [F, batch*P] products, gW_b.  Inference: sums, then
 * columns (real inputs) or packed fields, popcounts, border corrections
 * and two one-field bit buffers (+-1 inputs). */
static size_t scratch(const mn_graph *g, const mn_node *n, int batch) {
    bdims d = dims_of(g, n);
    size_t ld = (size_t)batch * d.P, words = (size_t)mn_bin_words(d.CKK);
    size_t train = al(ld * d.CKK) + al(ld * d.F) + al((size_t)d.F * d.CKK);
    size_t real = al(ld * d.F) + al(ld * d.CKK);
    size_t bin = al(ld * d.F) + al(2 * ld * words) + al(ld * d.F) + al((size_t)d.F * d.P) + 2 * al(2 * words);
    size_t m = train > real ? train : real;
    return m > bin ? m : bin;
}

static void fill_cols(const mn_graph *g, const mn_node *n, const bdims *d, int batch, float *col) {
    const float *x = mn__in(g, n, 0)->y;
    int64_t ld = (int64_t)batch * d->P, isz = (int64_t)d->C * d->H * d->W;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        mn_im2col(x + b * isz, d->C, d->H, d->W, d->k, d->s, d->p, d->OH, d->OW, col + (int64_t)b * d->P, ld);
}

/* K[b, p]: mean over channels of |pre-sign input|, averaged over the
 * k x k window of output p (zeros outside, divided by k*k as XNOR-Net's
 * constant filter does). */
static void input_scale(const mn_graph *g, const mn_node *n, const bdims *d, int batch, float *K) {
    const float *pre = g->nodes[mn__pre_sign(g, n)].y;
    int64_t plane = (int64_t)d->H * d->W;
    for (int b = 0; b < batch; b++) {
        for (int oy = 0; oy < d->OH; oy++)
            for (int ox = 0; ox < d->OW; ox++) {
                double s = 0;
                for (int i = 0; i < d->k; i++)
                    for (int j = 0; j < d->k; j++) {
                        int iy = oy * d->s - d->p + i, ix = ox * d->s - d->p + j;
                        if (iy < 0 || iy >= d->H || ix < 0 || ix >= d->W) continue;
                        for (int c = 0; c < d->C; c++)
                            s += fabsf(pre[((int64_t)b * d->C + c) * plane + (int64_t)iy * d->W + ix]);
                    }
                K[(int64_t)b * d->P + oy * d->OW + ox] = (float)(s / ((double)d->C * d->k * d->k));
            }
    }
}

/* Output p's receptive field as bits (c, i, j order, the weight's layout);
 * padding packs as 0 (-1).  Returns 1 if any position was padding. */
static int pack_field(const float *x, const bdims *d, int oy, int ox, int words, uint64_t *bits, uint64_t *pad) {
    memset(bits, 0, sizeof(uint64_t) * words);
    if (pad) memset(pad, 0, sizeof(uint64_t) * words);
    int any = 0;
    for (int c = 0, q = 0; c < d->C; c++)
        for (int i = 0; i < d->k; i++)
            for (int j = 0; j < d->k; j++, q++) {
                int iy = oy * d->s - d->p + i, ix = ox * d->s - d->p + j;
                uint64_t bit = (uint64_t)1 << (q & 63);
                if (iy < 0 || iy >= d->H || ix < 0 || ix >= d->W) {
                    any = 1;
                    if (pad) pad[q >> 6] |= bit;
                } else if (x[((int64_t)c * d->H + iy) * d->W + ix] >= 0) {
                    bits[q >> 6] |= bit;
                }
            }
    return any;
}

static void kernel_forward(mn_graph *g, mn_node *n, const mn_bin_store *bs, const bdims *d,
                           const float *K, int batch) {
    int64_t ld = (int64_t)batch * d->P, words = bs->words, F = d->F;
    const float *x = mn__in(g, n, 0)->y, *p1 = mn__w(g, n, 1);
    float *acc = g->scratch; /* [F, ld] */
    if (mn_node_binary_valued(g, n->in[0])) {
        uint64_t *X = (uint64_t *)(acc + al((size_t)(F * ld)));
        int32_t *pc = (int32_t *)((float *)X + al((size_t)(2 * ld * words)));
        int32_t *corr = (int32_t *)((float *)pc + al((size_t)(ld * F)));
        uint64_t *padm = (uint64_t *)((float *)corr + al((size_t)(F * d->P)));
        uint64_t *fb = (uint64_t *)((float *)padm + al((size_t)(2 * words)));
        int64_t isz = (int64_t)d->C * d->H * d->W;
        #pragma omp parallel for schedule(static)
        for (int64_t bp = 0; bp < ld; bp++) {
            int b = (int)(bp / d->P), p = (int)(bp % d->P);
            pack_field(x + b * isz, d, p / d->OW, p % d->OW, (int)words, X + bp * words, NULL);
        }
        mn_xnor_popc(X, (int)ld, bs->bits, bs->mask, (int)F, (int)words, pc, F);
        /* Padding packed as -1 added -w there: add sum_pad w back.  It
         * depends only on the filter and the output position. */
        memset(corr, 0, sizeof(int32_t) * F * d->P);
        for (int p = 0; d->p > 0 && p < d->P; p++) {
            if (!pack_field(x, d, p / d->OW, p % d->OW, (int)words, fb, padm)) continue;
            for (int64_t f = 0; f < F; f++) {
                const uint64_t *w = bs->bits + f * words, *m = bs->mask ? bs->mask + f * words : NULL;
                int32_t s = 0;
                for (int64_t q = 0; q < words; q++) {
                    uint64_t pm = padm[q] & (m ? m[q] : ~(uint64_t)0);
                    s += __builtin_popcountll(pm & w[q]) - __builtin_popcountll(pm & ~w[q]);
                }
                corr[f * d->P + p] = s;
            }
        }
        for (int64_t bp = 0; bp < ld; bp++)
            for (int64_t f = 0; f < F; f++)
                acc[f * ld + bp] = (float)(bs->nnz[f] - 2 * pc[bp * F + f] + corr[f * d->P + bp % d->P]);
    } else {
        float *col = acc + al((size_t)(F * ld));
        fill_cols(g, n, d, batch, col);
        mn_signacc_cols(bs->bits, bs->mask, (int)F, d->CKK, (int)words, col, (int)ld, ld, acc, ld);
    }
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        for (int f = 0; f < F; f++) {
            float *y = n->y + ((int64_t)b * F + f) * d->P;
            const float *a = acc + f * ld + (int64_t)b * d->P, *k = K ? K + (int64_t)b * d->P : NULL;
            if (n->a.bfold) for (int p = 0; p < d->P; p++) y[p] = mn__fire(p1, (int)F, f, a[p]);
            else for (int p = 0; p < d->P; p++) y[p] = bs->scale[f] * a[p] * (k ? k[p] : 1.0f) + p1[f];
        }
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    bdims d = dims_of(g, n);
    int64_t ld = (int64_t)batch * d.P;
    float *w = mn__w(g, n, 0);
    const float *p1 = mn__w(g, n, 1);
    float *K = n->a.xscale ? n->aux + (n->a.bmode ? (int64_t)d.F * d.CKK : 0) : NULL;
    if (K) input_scale(g, n, &d, batch, K);
    const mn_bin_store *bs = train ? NULL : mn_binary_store(g->params[n->p[0]].store);
    if (bs) { kernel_forward(g, n, bs, &d, K, batch); return; }
    const float *W = w;
    if (n->a.bmode) {
        int stoch = train && n->a.bmode == MN_BIN_STOCH;
        mn_bin_effective((mn_bin_mode)n->a.bmode, w, d.F, d.CKK, mn_bin_glorot(d.CKK, d.F * d.k * d.k),
                         n->a.bsparse, stoch ? &g->rng : NULL, n->aux);
        W = n->aux;
    }
    float *col = g->scratch, *tmp = col + al((size_t)(d.CKK * ld));
    fill_cols(g, n, &d, batch, col);
    mn_sgemm(0, 0, d.F, (int)ld, d.CKK, 1.0f, W, d.CKK, col, (int)ld, 0.0f, tmp, (int)ld);
    int bin = n->a.bfold && mn_node_binary_valued(g, n->in[0]);
    #pragma omp parallel for schedule(static)
    for (int f = 0; f < d.F; f++) {
        float al = n->a.bfold ? mn__row_alpha(W + (int64_t)f * d.CKK, d.CKK) : 0.0f;
        for (int b = 0; b < batch; b++) {
            float *y = n->y + ((int64_t)b * d.F + f) * d.P;
            const float *t = tmp + f * ld + (int64_t)b * d.P, *k = K ? K + (int64_t)b * d.P : NULL;
            for (int p = 0; p < d.P; p++) {
                if (n->a.bfold) {
                    /* f32 fallback of a folded node (its store was dropped). */
                    float acc = al > 0 ? t[p] / al : 0.0f;
                    y[p] = mn__fire(p1, d.F, f, bin ? rintf(acc) : acc);
                } else {
                    y[p] = t[p] * (k ? k[p] : 1.0f) + p1[f];
                }
            }
        }
    }
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    if (n->a.bfold) return; /* thresholds have no useful gradient */
    bdims d = dims_of(g, n);
    int64_t ld = (int64_t)batch * d.P;
    float *col = g->scratch, *dt = col + al((size_t)(d.CKK * ld)), *gwb = dt + al((size_t)(d.F * ld));
    const float *w = mn__w(g, n, 0), *W = n->a.bmode ? n->aux : w;
    const float *K = n->a.xscale ? n->aux + (n->a.bmode ? (int64_t)d.F * d.CKK : 0) : NULL;
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    #pragma omp parallel for schedule(static)
    for (int f = 0; f < d.F; f++) {
        float s = 0;
        for (int b = 0; b < batch; b++) {
            const float *dy = n->dy + ((int64_t)b * d.F + f) * d.P, *k = K ? K + (int64_t)b * d.P : NULL;
            float *t = dt + f * ld + (int64_t)b * d.P;
            for (int p = 0; p < d.P; p++) { t[p] = dy[p] * (k ? k[p] : 1.0f); s += dy[p]; }
        }
        gb[f] += s;
    }
    fill_cols(g, n, &d, batch, col);
    if (n->a.bmode) {
        mn_sgemm(0, 1, d.F, d.CKK, (int)ld, 1.0f, dt, (int)ld, col, (int)ld, 0.0f, gwb, d.CKK);
        mn_bin_ste((mn_bin_mode)n->a.bmode, w, gwb, d.F, d.CKK, mn_bin_glorot(d.CKK, d.F * d.k * d.k),
                   n->a.bsparse, gw);
    } else {
        mn_sgemm(0, 1, d.F, d.CKK, (int)ld, 1.0f, dt, (int)ld, col, (int)ld, 1.0f, gw, d.CKK);
    }
    if (!mn__needs_dx(g, n, 0)) return;
    mn_sgemm(1, 0, d.CKK, (int)ld, d.F, 1.0f, W, d.CKK, dt, (int)ld, 0.0f, col, (int)ld);
    float *dx = g->nodes[n->in[0]].dy;
    int64_t isz = (int64_t)d.C * d.H * d.W;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        mn_col2im(col + (int64_t)b * d.P, d.C, d.H, d.W, d.k, d.s, d.p, d.OH, d.OW, ld, dx + b * isz);
}

static int64_t macs(const mn_graph *g, const mn_node *n) {
    bdims d = dims_of(g, n);
    return (int64_t)d.P * d.F * d.CKK;
}

const mn_opdef mn_op_bconv = {"bconv", 1, 1, infer, aux, scratch, forward, backward, macs};
