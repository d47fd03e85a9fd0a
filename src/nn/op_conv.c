/* Conv2d (any stride, padding, groups).  groups 1 (the common case) runs
 * one image at a time: im2col of one image, then mn_sgemm_small, whose
 * operands (conv2 of lenet5: 500 x 64 floats of columns) stay in L2, where
 * whole-batch columns (7.7 MB at batch 60) streamed through DRAM three
 * times a step.  The GEMM writes [F, P] straight into the NCHW output with
 * the bias, and backward recomputes the columns instead of keeping them.
 * Threads split the batch, each with its own scratch and dW accumulator,
 * summed in thread order at the end: one fork/join per conv and pass.
 * Grouped convs and compressed stores keep the whole-batch im2col + GEMM. */
#include <string.h>

#include <omp.h>

#include "kernels/kernels.h"
#include "store/store.h"
#include "nn/ops.h"

typedef struct { int C, H, W, F, k, s, p, G, OH, OW, P, CKK; } cdims;

static cdims dims_of(const mn_graph *g, const mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    cdims d = {in->d[0], in->d[1], in->d[2], n->a.filters, n->a.k, n->a.stride,
               n->a.pad, n->a.groups, n->out.d[1], n->out.d[2], 0, 0};
    d.P = d.OH * d.OW;
    d.CKK = d.C * d.k * d.k;
    return d;
}

static mn_status infer(mn_graph *g, mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    mn_attrs *a = &n->a;
    if (in->ndim != 3) return mn_error(MN_ESHAPE, "conv '%s': input must be c x h x w", n->name);
    if (a->stride == 0) a->stride = 1;
    if (a->groups == 0) a->groups = 1;
    if (a->filters <= 0 || a->k <= 0 || a->stride <= 0 || a->pad < 0 || a->pad >= a->k)
        return mn_error(MN_ESHAPE, "conv '%s': bad filters/k/stride/pad", n->name);
    if (in->d[0] % a->groups || a->filters % a->groups)
        return mn_error(MN_ESHAPE, "conv '%s': groups %d must divide channels %d and filters %d",
                        n->name, a->groups, in->d[0], a->filters);
    int oh = mn_conv_out(in->d[1], a->k, a->stride, a->pad), ow = mn_conv_out(in->d[2], a->k, a->stride, a->pad);
    if (in->d[1] + 2 * (int64_t)a->pad < a->k || in->d[2] + 2 * (int64_t)a->pad < a->k || oh <= 0 || ow <= 0)
        return mn_error(MN_ESHAPE, "conv '%s': kernel %d larger than input %dx%d", n->name, a->k, in->d[1], in->d[2]);
    n->out = (mn_shape){3, {a->filters, oh, ow, 0}};
    int wd[4] = {a->filters, in->d[0] / a->groups, a->k, a->k}, bd[1] = {a->filters};
    if (mn__declare_param(g, n, "weight", 4, wd, 1, 1) < 0) return MN_ESHAPE;
    if (mn__declare_param(g, n, "bias", 1, bd, 1, 0) < 0) return MN_ESHAPE;
    return MN_OK;
}

/* The column matrix is kept per node from forward to backward (im2col
 * once per step, not twice); the shared scratch holds the [F, batch*P]
 * GEMM output. */
static size_t aux(const mn_graph *g, const mn_node *n, int batch) {
    if (mn__dw_applies(g, n)) return 0; /* direct depthwise: no columns */
    cdims d = dims_of(g, n);
    return (size_t)batch * d.P * d.CKK;
}

/* Per thread of the per-image path: columns (reused for their gradient),
 * dy^T [P, F], dW^T [CKK, F] and the bias gradient, each 16-float aligned. */
#define A16(x) (((size_t)(x) + 15) & ~(size_t)15)
static size_t per_thread(const cdims *d) {
    return A16((size_t)d->CKK * d->P) + A16((size_t)d->P * d->F) + A16((size_t)d->CKK * d->F) + A16(d->F);
}

/* The per-image path's buffers per thread, or the whole [F, batch*P]
 * result followed by the work area of the weight's store (wb at
 * inference). */
static size_t scratch(const mn_graph *g, const mn_node *n, int batch) {
    if (mn__dw_applies(g, n)) return mn__dw_scratch(g, n);
    cdims d = dims_of(g, n);
    size_t whole = A16((size_t)batch * d.P * d.F) + A16((mn_store_scratch_bytes(g->params[n->p[0]].store, batch) + 3) / 4);
    int nt = mn_get_threads() < batch ? mn_get_threads() : batch;
    size_t per = (size_t)(nt > 1 ? nt : 1) * per_thread(&d);
    return whole > per ? whole : per;
}

/* Threads for the per-image path: as asked, at most one per image and as
 * many as the scratch (sized at reserve time) holds. */
static int img_threads(const mn_graph *g, const cdims *d, int batch) {
    int nt = mn_get_threads();
    size_t fit = g->scratch_floats / per_thread(d);
    if (nt > batch) nt = batch;
    if ((size_t)nt > fit) nt = (int)fit;
    return nt > 1 ? nt : 1;
}

/* Images [b0, b1) through one thread's column buffer. */
static void img_forward_range(mn_graph *g, mn_node *n, const cdims *d, int b0, int b1, float *col) {
    const float *x = mn__in(g, n, 0)->y, *w = mn__w(g, n, 0), *bias = mn__w(g, n, 1);
    int64_t isz = (int64_t)d->C * d->H * d->W, osz = (int64_t)d->F * d->P;
    /* Stride 1: the columns read in place from a padded copy (kernels/conv_s1.c),
     * when that fits the thread's buffer; the same bits as im2col + GEMM. */
    int s1 = d->s == 1 && d->k > 1 && mn_conv_s1_floats(d->C, d->H, d->W, d->k, d->p, d->F) <= per_thread(d);
    for (int b = b0; b < b1; b++) {
        if (s1 && !mn_conv_s1(x + b * isz, d->C, d->H, d->W, d->k, d->p, d->F, w, bias, n->y + b * osz, col))
            continue;
        mn_im2col(x + b * isz, d->C, d->H, d->W, d->k, d->s, d->p, d->OH, d->OW, col, d->P);
        mn_sgemm_small(d->F, d->P, d->CKK, w, d->CKK, 1, col, d->P, 0, bias, n->y + b * osz, d->P);
    }
}

static void img_forward(mn_graph *g, mn_node *n, const cdims *d, int batch) {
    size_t per = per_thread(d);
    int nt = img_threads(g, d, batch);
    /* One thread: no parallel region at all (libgomp sets up a one-thread
     * team even for a false `if` clause, ~1 us: a batch-1 conv's share). */
    if (nt == 1) {
        img_forward_range(g, n, d, 0, batch, g->scratch);
        return;
    }
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), nth = omp_get_num_threads();
        img_forward_range(g, n, d, batch * t / nth, batch * (t + 1) / nth, g->scratch + t * per);
    }
}

/* Per image: dW^T[CKK, F] += cols[CKK, P] * dy^T[P, F] (dy^T is the small
 * operand to transpose), then dcols = W^T * dy into the same buffer and
 * col2im into dx. */
static void img_backward(mn_graph *g, mn_node *n, const cdims *d, int batch) {
    const float *x = mn__in(g, n, 0)->y, *w = mn__w(g, n, 0);
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    float *dx = mn__needs_dx(g, n, 0) ? g->nodes[n->in[0]].dy : NULL;
    int64_t isz = (int64_t)d->C * d->H * d->W, osz = (int64_t)d->F * d->P;
    size_t per = per_thread(d), o_dyt = A16((size_t)d->CKK * d->P);
    size_t o_gwt = o_dyt + A16((size_t)d->P * d->F), o_gb = o_gwt + A16((size_t)d->CKK * d->F);
    int nt = img_threads(g, d, batch), used = 1;
    (void)nt; /* unused where OpenMP is off (the TSan build) */
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), nth = omp_get_num_threads();
        float *col = g->scratch + t * per, *dyt = col + o_dyt, *gwt = col + o_gwt, *gbt = col + o_gb;
        if (t == 0) used = nth;
        memset(gwt, 0, sizeof(float) * d->CKK * d->F);
        memset(gbt, 0, sizeof(float) * d->F);
        for (int b = batch * t / nth; b < batch * (t + 1) / nth; b++) {
            const float *dy = n->dy + b * osz;
            for (int f = 0; f < d->F; f++) {
                const float *r = dy + (int64_t)f * d->P;
                float s = 0;
                for (int p = 0; p < d->P; p++) { dyt[(int64_t)p * d->F + f] = r[p]; s += r[p]; }
                gbt[f] += s;
            }
            mn_im2col(x + b * isz, d->C, d->H, d->W, d->k, d->s, d->p, d->OH, d->OW, col, d->P);
            mn_sgemm_small(d->CKK, d->F, d->P, col, d->P, 1, dyt, d->F, 1, NULL, gwt, d->F);
            if (!dx) continue;
            mn_sgemm_small(d->CKK, d->P, d->F, w, 1, d->CKK, dy, d->P, 0, NULL, col, d->P);
            mn_col2im(col, d->C, d->H, d->W, d->k, d->s, d->p, d->OH, d->OW, d->P, dx + b * isz);
        }
    }
    /* The threads' partial sums, always in thread order. */
    for (int f = 0; f < d->F; f++) {
        for (int t = 0; t < used; t++) gb[f] += g->scratch[t * per + o_gb + f];
        for (int j = 0; j < d->CKK; j++) {
            float s = gw[(int64_t)f * d->CKK + j];
            for (int t = 0; t < used; t++) s += g->scratch[t * per + o_gwt + (size_t)j * d->F + f];
            gw[(int64_t)f * d->CKK + j] = s;
        }
    }
}

static void fill_cols(const mn_graph *g, const mn_node *n, const cdims *d, int batch, float *col) {
    const float *x = mn__in(g, n, 0)->y;
    int64_t ld = (int64_t)batch * d->P, isz = (int64_t)d->C * d->H * d->W;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        mn_im2col(x + b * isz, d->C, d->H, d->W, d->k, d->s, d->p, d->OH, d->OW, col + (int64_t)b * d->P, ld);
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    if (mn__dw_applies(g, n)) {
        if (train || !mn__dw_store_forward(g, n, batch)) mn__dw_forward(g, n, batch);
        return;
    }
    cdims d = dims_of(g, n);
    if (d.G == 1 && (train || !g->params[n->p[0]].store)) { img_forward(g, n, &d, batch); return; }
    int64_t ld = (int64_t)batch * d.P;
    float *col = n->aux, *tmp = g->scratch;
    const float *w = mn__w(g, n, 0), *bias = mn__w(g, n, 1);
    /* A compressed weight runs on its own kernel at inference: the whole
     * conv from the raw input when the store has one (no f32 columns). */
    const mn_store *st = g->params[n->p[0]].store;
    const mn_store_traits *t = (!train && st && d.G == 1) ? mn_store_traits_of(st->kind) : NULL;
    /* The store's work area follows the [F, batch*P] result in the scratch
     * (a store attached after mn_graph_reserve whose work area does not fit
     * there runs on the decoded f32 weights instead). */
    size_t used = A16((size_t)d.F * ld), work = mn_store_scratch_bytes(st, batch);
    int fits = used + (work + 3) / 4 <= g->scratch_floats;
    mn_conv_geom cg = {d.C, d.H, d.W, d.k, d.s, d.p, d.OH, d.OW};
    if (t && t->conv && fits &&
        !t->conv(st, &cg, mn__in(g, n, 0)->y, batch, bias, n->y, col, aux(g, n, batch) * sizeof(float), tmp + used))
        return;
    fill_cols(g, n, &d, batch, col);
    int fg = d.F / d.G, kg = d.CKK / d.G;
    if (t && t->wb && fits) t->wb(st, col, (int)ld, ld, tmp, ld, tmp + used);
    else for (int gi = 0; gi < d.G; gi++)
        mn_sgemm(0, 0, fg, (int)ld, kg, 1.0f, w + (int64_t)gi * fg * kg, kg,
                 col + (int64_t)gi * kg * ld, (int)ld, 0.0f, tmp + (int64_t)gi * fg * ld, (int)ld);
    /* tmp is [F, batch*P]; the output is [batch, F, P]. */
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        for (int f = 0; f < d.F; f++) {
            float *y = n->y + ((int64_t)b * d.F + f) * d.P;
            const float *t = tmp + f * ld + (int64_t)b * d.P;
            for (int p = 0; p < d.P; p++) y[p] = t[p] + bias[f];
        }
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    if (mn__dw_applies(g, n)) { mn__dw_backward(g, n, batch); return; }
    cdims d = dims_of(g, n);
    if (d.G == 1) { img_backward(g, n, &d, batch); return; }
    int64_t ld = (int64_t)batch * d.P;
    float *col = n->aux, *dt = g->scratch;
    const float *w = mn__w(g, n, 0);
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    #pragma omp parallel for schedule(static)
    for (int f = 0; f < d.F; f++) {
        float s = 0;
        for (int b = 0; b < batch; b++) {
            const float *dy = n->dy + ((int64_t)b * d.F + f) * d.P;
            float *t = dt + f * ld + (int64_t)b * d.P;
            for (int p = 0; p < d.P; p++) { t[p] = dy[p]; s += dy[p]; }
        }
        gb[f] += s;
    }
    int fg = d.F / d.G, kg = d.CKK / d.G;
    for (int gi = 0; gi < d.G; gi++)
        mn_sgemm(0, 1, fg, kg, (int)ld, 1.0f, dt + (int64_t)gi * fg * ld, (int)ld,
                 col + (int64_t)gi * kg * ld, (int)ld, 1.0f, gw + (int64_t)gi * fg * kg, kg);
    if (!mn__needs_dx(g, n, 0)) return;
    for (int gi = 0; gi < d.G; gi++)
        mn_sgemm(1, 0, kg, (int)ld, fg, 1.0f, w + (int64_t)gi * fg * kg, kg,
                 dt + (int64_t)gi * fg * ld, (int)ld, 0.0f, col + (int64_t)gi * kg * ld, (int)ld);
    float *dx = g->nodes[n->in[0]].dy;
    int64_t isz = (int64_t)d.C * d.H * d.W;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++)
        mn_col2im(col + (int64_t)b * d.P, d.C, d.H, d.W, d.k, d.s, d.p, d.OH, d.OW, ld, dx + b * isz);
}

static int64_t macs(const mn_graph *g, const mn_node *n) {
    cdims d = dims_of(g, n);
    return (int64_t)d.P * d.F * (d.CKK / d.G);
}

const mn_opdef mn_op_conv = {"conv", 1, 1, infer, aux, scratch, forward, backward, macs};
