/* bdense: a dense layer whose weights are binarized (minnow/binary.h).
 *   training:  y = beta_b * (x . W_b^T) + bias,  W_b = binarize(ghost w)
 *   inference: with an MN_ST_BINARY store, XNOR + popcount on packed bits
 *              when x is +-1 valued, sign-bit add/subtract otherwise.
 * beta_b = mean |pre-sign input| of sample b when xscale (XNOR-Net), else 1;
 * it is treated as a constant in the backward pass.  A folded node
 * (bfold) outputs +-1 by per-unit thresholds and is inference-only. */
#include <string.h>

#include "kernels/kernels.h"
#include "nn/op_bin.h"
#include "kernels/xnor.h"
#include "nn/bin_w.h"
#include "store/binary.h"

static mn_status infer(mn_graph *g, mn_node *n) {
    int64_t in = mn__numel_in(g, n, 0);
    if (n->a.units <= 0) return mn_error(MN_ESHAPE, "bdense '%s': units must be > 0", n->name);
    if (in > (1 << 30)) return mn_error(MN_ESHAPE, "bdense '%s': input too large", n->name);
    mn_status st = mn__bin_check(g, n);
    if (st) return st;
    n->out.ndim = 1;
    n->out.d[0] = n->a.units;
    int wd[2] = {n->a.units, (int)in}, bd[1] = {n->a.units}, td[2] = {2, n->a.units};
    if (mn__declare_param(g, n, "weight", 2, wd, 1, 1) < 0) return MN_ESHAPE;
    if (!n->a.bfold && mn__declare_param(g, n, "bias", 1, bd, 1, 0) < 0) return MN_ESHAPE;
    if (n->a.bfold && mn__declare_param(g, n, "thresh", 2, td, 0, 0) < 0) return MN_ESHAPE;
    return MN_OK;
}

/* Saved: effective weights (unless frozen), then beta per sample. */
static size_t aux(const mn_graph *g, const mn_node *n, int batch) {
    size_t w = n->a.bmode ? (size_t)mn__numel_in(g, n, 0) * n->a.units : 0;
    return w + (n->a.xscale ? (size_t)batch : 0);
}

/* Backward: gW_b and beta * dy; inference: packed x, then dots. */
static size_t scratch(const mn_graph *g, const mn_node *n, int batch) {
    size_t in = (size_t)mn__numel_in(g, n, 0), u = (size_t)n->a.units;
    size_t train = (n->a.bmode ? in * u : 0) + (size_t)batch * u;
    size_t infer = 2 * (size_t)batch * mn_bin_words((int)in) + 2 * (size_t)batch * u;
    return train > infer ? train : infer;
}

static void input_scale(const mn_graph *g, const mn_node *n, int batch, int in, float *beta) {
    const float *pre = g->nodes[mn__pre_sign(g, n)].y;
    for (int b = 0; b < batch; b++) {
        double s = 0;
        for (int c = 0; c < in; c++) s += fabsf(pre[(int64_t)b * in + c]);
        beta[b] = (float)(s / in);
    }
}

/* Real inputs: below this batch the sign add/subtract kernel (memory-bound
 * on 1-bit weights) wins; above it SGEMM on the decoded f32 weights does. */
enum { SIGNACC_MAX_BATCH = 4 };

static void kernel_forward(mn_graph *g, mn_node *n, const mn_bin_store *bs, const float *beta, int batch) {
    int in = bs->cols, u = bs->rows, fold = n->a.bfold;
    const float *x = mn__in(g, n, 0)->y, *p1 = mn__w(g, n, 1);
    if (mn_node_binary_valued(g, n->in[0])) {
        uint64_t *X = (uint64_t *)g->scratch;
        int32_t *pc = (int32_t *)(g->scratch + 2 * (size_t)batch * bs->words);
        mn_bin_pack_rows(x, batch, in, in, X);
        mn_xnor_popc(X, batch, bs->bits, bs->mask, u, bs->words, pc, u);
        for (int b = 0; b < batch; b++) {
            float *y = n->y + (int64_t)b * u, bb = beta ? beta[b] : 1.0f;
            const int32_t *q = pc + (int64_t)b * u;
            if (fold) for (int r = 0; r < u; r++) y[r] = mn__fire(p1, u, r, (float)(bs->nnz[r] - 2 * q[r]));
            else for (int r = 0; r < u; r++) y[r] = bs->scale[r] * (float)(bs->nnz[r] - 2 * q[r]) * bb + p1[r];
        }
        return;
    }
    float *acc = g->scratch;
    int scaled = batch > SIGNACC_MAX_BATCH; /* acc holds scale * dot */
    if (scaled) mn_sgemm(0, 1, batch, u, in, 1.0f, x, in, mn__w(g, n, 0), in, 0.0f, acc, u);
    else mn_signacc(x, batch, in, in, bs->bits, bs->mask, u, bs->words, acc, u);
    for (int b = 0; b < batch; b++) {
        float *y = n->y + (int64_t)b * u, bb = beta ? beta[b] : 1.0f;
        const float *a = acc + (int64_t)b * u;
        if (fold)
            for (int r = 0; r < u; r++)
                y[r] = mn__fire(p1, u, r, !scaled ? a[r] : bs->scale[r] > 0 ? a[r] / bs->scale[r] : 0.0f);
        else
            for (int r = 0; r < u; r++) y[r] = (scaled ? a[r] : bs->scale[r] * a[r]) * bb + p1[r];
    }
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    int in = (int)mn__numel_in(g, n, 0), u = n->a.units;
    const float *x = mn__in(g, n, 0)->y, *p1 = mn__w(g, n, 1);
    float *w = mn__w(g, n, 0), *beta = n->a.xscale ? n->aux + (n->a.bmode ? (int64_t)in * u : 0) : NULL;
    if (beta) input_scale(g, n, batch, in, beta);
    const mn_bin_store *bs = train ? NULL : mn_binary_store(g->params[n->p[0]].store);
    if (bs) { kernel_forward(g, n, bs, beta, batch); return; }
    const float *W = w;
    if (n->a.bmode) {
        int stoch = train && n->a.bmode == MN_BIN_STOCH;
        mn_bin_effective((mn_bin_mode)n->a.bmode, w, u, in, mn_bin_glorot(in, u), n->a.bsparse,
                         stoch ? &g->rng : NULL, n->aux);
        W = n->aux;
    }
    mn_sgemm(0, 1, batch, u, in, 1.0f, x, in, W, in, 0.0f, n->y, u);
    if (n->a.bfold) {
        /* f32 fallback of a folded node (its store was dropped). */
        int bin = mn_node_binary_valued(g, n->in[0]);
        for (int r = 0; r < u; r++) {
            float al = mn__row_alpha(W + (int64_t)r * in, in);
            for (int b = 0; b < batch; b++) {
                float *y = n->y + (int64_t)b * u + r, acc = al > 0 ? *y / al : 0.0f;
                *y = mn__fire(p1, u, r, bin ? rintf(acc) : acc);
            }
        }
        return;
    }
    for (int b = 0; b < batch; b++) {
        float *y = n->y + (int64_t)b * u, bb = beta ? beta[b] : 1.0f;
        for (int r = 0; r < u; r++) y[r] = y[r] * bb + p1[r];
    }
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    if (n->a.bfold) return; /* thresholds have no useful gradient */
    int in = (int)mn__numel_in(g, n, 0), u = n->a.units;
    const float *x = mn__in(g, n, 0)->y, *w = mn__w(g, n, 0);
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    const float *W = n->a.bmode ? n->aux : w;
    const float *beta = n->a.xscale ? n->aux + (n->a.bmode ? (int64_t)in * u : 0) : NULL;
    for (int b = 0; b < batch; b++)
        for (int r = 0; r < u; r++) gb[r] += n->dy[(int64_t)b * u + r];
    const float *G = n->dy;
    float *gwb = g->scratch, *tmp = g->scratch + (n->a.bmode ? (int64_t)in * u : 0);
    if (beta) {
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < u; r++) tmp[(int64_t)b * u + r] = n->dy[(int64_t)b * u + r] * beta[b];
        G = tmp;
    }
    if (n->a.bmode) {
        mn_sgemm(1, 0, u, in, batch, 1.0f, G, u, x, in, 0.0f, gwb, in);
        mn_bin_ste((mn_bin_mode)n->a.bmode, w, gwb, u, in, mn_bin_glorot(in, u), n->a.bsparse, gw);
    } else {
        mn_sgemm(1, 0, u, in, batch, 1.0f, G, u, x, in, 1.0f, gw, in);
    }
    if (mn__needs_dx(g, n, 0))
        mn_sgemm(0, 0, batch, in, u, 1.0f, G, u, W, in, 1.0f, g->nodes[n->in[0]].dy, in);
}

static int64_t macs(const mn_graph *g, const mn_node *n) {
    return mn__numel_in(g, n, 0) * n->a.units;
}

const mn_opdef mn_op_bdense = {"bdense", 1, 1, infer, aux, scratch, forward, backward, macs};
