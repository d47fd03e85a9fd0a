/* Dense (fully connected): y[b, u] = sum_i x[b, i] W[u, i] + bias[u].
 * Any input shape is read as a flat feature vector. */
#include <string.h>

#include "minnow/core.h"
#include "kernels/kernels.h"
#include "store/store.h"
#include "nn/ops.h"

static mn_status infer(mn_graph *g, mn_node *n) {
    int64_t in = mn__numel_in(g, n, 0);
    if (n->a.units <= 0) return mn_error(MN_ESHAPE, "dense '%s': units must be > 0", n->name);
    if (in > (1 << 30)) return mn_error(MN_ESHAPE, "dense '%s': input too large", n->name);
    n->out.ndim = 1;
    n->out.d[0] = n->a.units;
    int wd[2] = {n->a.units, (int)in}, bd[1] = {n->a.units};
    if (mn__declare_param(g, n, "weight", 2, wd, 1, 1) < 0) return MN_ESHAPE;
    if (mn__declare_param(g, n, "bias", 1, bd, 1, 0) < 0) return MN_ESHAPE;
    return MN_OK;
}

/* From NT_MIN_BATCH samples on, with AVX-512, y += x W^T runs on minnow's
 * own GEMM (mn_sgemm_small), which wants its B row-major: against W^T
 * copied into the scratch, or as y^T = W x^T with x and the result
 * transposed instead, whichever moves fewer floats (nt_on_x).  The W^T
 * copy (~40 us for LeNet-300's fc1) was paid back at every batch we
 * measured against OpenBLAS's NT sgemm, whose Haswell kernel this machine
 * runs: 1.3x at 8 samples, 1.6-1.8x at 64 and 256 (docs/BENCHMARKS.md).
 * Transposing x instead took LeNet-300 batch 8 from 81 to 62 us, 64 from
 * 251-265 to 193, and a training epoch ~5%.  Below 4 samples one sgemv
 * per sample is as fast (LeNet-300: 12.5 us each; the GEMM path ~55 us
 * from 4 to 16 samples, streaming W).  One thread: splitting the samples
 * across this machine's two vCPUs made a LeNet-300 training epoch 1.4x
 * slower and gained nothing at batch 256 (LeNet-300, mlp1200). */
#define NT_MIN_BATCH 4
/* Up to 2^24 weights (64 MB of copy): beyond LeNet-to-mlp1200 sizes the
 * unblocked small GEMM is unmeasured, and the copy would double a big
 * layer's memory. */
#define NT_MAX_WEIGHTS ((int64_t)1 << 24)

/* Which operand the GEMM path transposes: W (u x in) or, when that moves
 * fewer floats, x and the result (batch x in, then u x batch back): it
 * computes y^T = W x^T + b, where W is already the row-major A the GEMM
 * wants and the bias is per row of y^T, as mn_sgemm_small adds it.
 * LeNet-300's fc1 at batch 60 moves 65k floats that way instead of 235k. */
static int nt_on_x(int64_t batch, int64_t in, int64_t u) { return batch * (in + u) < u * in; }

/* Floats of scratch the GEMM path takes at this batch, 0 where it does not
 * run: what reserve sizes and what forward checks. */
static size_t nt_floats(const mn_graph *g, const mn_node *n, int batch) {
    int64_t in = mn__numel_in(g, n, 0), nw = in * n->a.units;
    if (batch < NT_MIN_BATCH || nw > NT_MAX_WEIGHTS || !mn_sgemm_small_preferred()) return 0;
    return (size_t)(nt_on_x(batch, in, n->a.units) ? (int64_t)batch * (in + n->a.units) : nw);
}

/* Scratch: the GEMM path's, or the work area of the weight's store (the
 * two never run in the same call). */
static size_t scratch(const mn_graph *g, const mn_node *n, int batch) {
    size_t nt = nt_floats(g, n, batch);
    size_t sw = (mn_store_scratch_bytes(g->params[n->p[0]].store, batch) + 3) / 4;
    return nt > sw ? nt : sw;
}

static void forward(mn_graph *g, mn_node *n, int batch, int train) {
    int in = (int)mn__numel_in(g, n, 0), u = n->a.units;
    const float *x = mn__in(g, n, 0)->y, *w = mn__w(g, n, 0), *b = mn__w(g, n, 1);
    /* A compressed weight runs on its own kernel at inference. */
    const mn_store *st = g->params[n->p[0]].store;
    const mn_store_traits *t = (!train && st) ? mn_store_traits_of(st->kind) : NULL;
    /* (A store attached after mn_graph_reserve, whose work area the
     * scratch cannot hold, runs on the decoded f32 weights instead.) */
    int sparse = t && t->xwt && mn_store_scratch_bytes(st, batch) <= g->scratch_floats * sizeof(float);
    size_t nt = sparse ? 0 : nt_floats(g, n, batch);
    int gemm = nt && g->scratch_floats >= nt;
    if (gemm && nt_on_x(batch, in, u)) {
        float *xt = g->scratch, *yt = g->scratch + (int64_t)batch * in;
        mn_transpose(x, batch, in, in, xt, batch);
        mn_sgemm_small(u, batch, in, w, in, 1, xt, batch, 0, b, yt, batch);
        mn_transpose(yt, u, batch, batch, n->y, u);
        return;
    }
    for (int i = 0; i < batch; i++) memcpy(n->y + (int64_t)i * u, b, sizeof(float) * u);
    if (sparse) { t->xwt(st, x, batch, n->y, g->scratch); return; }
    if (gemm) {
        mn_transpose(w, u, in, in, g->scratch, u);
        mn_sgemm_small(batch, u, in, x, in, 1, g->scratch, u, 1, NULL, n->y, u);
        return;
    }
    /* Below NT_MIN_BATCH (without AVX-512: below 8), one sgemv per sample:
     * OpenBLAS's sgemm at 2-7 rows took 70-120 us on LeNet-300 where its
     * sgemv takes 12.5 per sample. */
    if (batch < 2 * NT_MIN_BATCH) {
        for (int i = 0; i < batch; i++)
            mn_sgemm(0, 1, 1, u, in, 1.0f, x + (int64_t)i * in, in, w, in, 1.0f, n->y + (int64_t)i * u, u);
        return;
    }
    mn_sgemm(0, 1, batch, u, in, 1.0f, x, in, w, in, 1.0f, n->y, u);
}

static void backward(mn_graph *g, mn_node *n, int batch) {
    int in = (int)mn__numel_in(g, n, 0), u = n->a.units;
    const float *x = mn__in(g, n, 0)->y, *w = mn__w(g, n, 0);
    float *gw = mn__gw(g, n, 0), *gb = mn__gw(g, n, 1);
    mn_sgemm(1, 0, u, in, batch, 1.0f, n->dy, u, x, in, 1.0f, gw, in);
    for (int i = 0; i < batch; i++)
        for (int j = 0; j < u; j++) gb[j] += n->dy[(int64_t)i * u + j];
    if (mn__needs_dx(g, n, 0))
        mn_sgemm(0, 0, batch, in, u, 1.0f, n->dy, u, w, in, 1.0f, g->nodes[n->in[0]].dy, in);
}

static int64_t macs(const mn_graph *g, const mn_node *n) {
    return mn__numel_in(g, n, 0) * n->a.units;
}

const mn_opdef mn_op_dense = {"dense", 1, 1, infer, NULL, scratch, forward, backward, macs};
