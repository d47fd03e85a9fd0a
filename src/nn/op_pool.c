/* Max and average pooling (square window, stride, zero padding that never
 * wins a max).  Average pooling divides by k*k as PyTorch's default does;
 * k == 0 means global average pooling. */
#include <float.h>
#include <string.h>

#include "kernels/kernels.h"
#include "nn/ops.h"

static mn_status infer(mn_graph *g, mn_node *n) {
    const mn_shape *in = mn__in_shape(g, n, 0);
    mn_attrs *a = &n->a;
    if (in->ndim != 3) return mn_error(MN_ESHAPE, "pool '%s': input must be c x h x w", n->name);
    if (n->op == MN_OP_AVGPOOL && a->k == 0) {
        n->out = (mn_shape){3, {in->d[0], 1, 1, 0}};
        return MN_OK;
    }
    if (a->stride == 0) a->stride = a->k;
    /* 64-bit sums and a window bound: the attributes may come from a
     * hostile file, and k*k appears in the kernels and the MAC count. */
    if (a->k <= 0 || a->k > (1 << 16) || a->stride <= 0 || a->pad < 0 || 2 * (int64_t)a->pad > a->k ||
        in->d[1] + 2 * (int64_t)a->pad < a->k || in->d[2] + 2 * (int64_t)a->pad < a->k)
        return mn_error(MN_ESHAPE, "pool '%s': bad k/stride/pad for input %dx%d", n->name, in->d[1], in->d[2]);
    n->out = (mn_shape){3, {in->d[0], mn_conv_out(in->d[1], a->k, a->stride, a->pad),
                            mn_conv_out(in->d[2], a->k, a->stride, a->pad), 0}};
    return MN_OK;
}

/* A fork/join costs more than pooling a small batch, and on a loaded
 * machine a lot more (a descheduled thread stalls the barrier): only big
 * inputs (batch 256 of 32x32 maps and up) are split over threads, and
 * smaller ones never enter OpenMP at all (MN_PAR_FOR). */
#define PAR_MIN (1 << 22)

static size_t aux_max(const mn_graph *g, const mn_node *n, int batch) {
    (void)g;
    return (size_t)batch * mn_shape_numel(&n->out);
}

/* argmax is kept as an int32 index into the input plane. */
static void max_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    const mn_shape *in = mn__in_shape(g, n, 0);
    int C = in->d[0], H = in->d[1], W = in->d[2], OH = n->out.d[1], OW = n->out.d[2];
    int k = n->a.k, s = n->a.stride, p = n->a.pad;
    const float *x = mn__in(g, n, 0)->y;
    int32_t *am = (int32_t *)n->aux;
    int par = mn_par_worth((int64_t)batch * C * H * W, PAR_MIN);
    if (k == 2 && s == 2 && p == 0) {
        /* The LeNet case: non-overlapping 2x2 windows, no bounds checks. */
        MN_PAR_FOR(par, bc, batch * C, {
            mn_maxpool2(x + (int64_t)bc * H * W, W, OH, OW, n->y + (int64_t)bc * OH * OW, am + (int64_t)bc * OH * OW);
        });
        return;
    }
    MN_PAR_FOR(par, bc, batch * C, {
        const float *xp = x + (int64_t)bc * H * W;
        float *yp = n->y + (int64_t)bc * OH * OW;
        int32_t *ap = am + (int64_t)bc * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float best = -FLT_MAX;
                int bi = -1;
                for (int i = 0; i < k; i++) {
                    int iy = oy * s - p + i;
                    if (iy < 0 || iy >= H) continue;
                    for (int j = 0; j < k; j++) {
                        int ix = ox * s - p + j;
                        if (ix < 0 || ix >= W) continue;
                        float v = xp[iy * W + ix];
                        if (bi < 0 || v > best) { best = v; bi = iy * W + ix; }
                    }
                }
                yp[oy * OW + ox] = best;
                ap[oy * OW + ox] = bi;
            }
    });
}

static void max_bwd(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    const mn_shape *in = mn__in_shape(g, n, 0);
    int64_t ip = (int64_t)in->d[1] * in->d[2], op = (int64_t)n->out.d[1] * n->out.d[2];
    float *dx = g->nodes[n->in[0]].dy;
    const int32_t *am = (const int32_t *)n->aux;
    int par = mn_par_worth(batch * mn_shape_numel(in), PAR_MIN);
    MN_PAR_FOR(par, bc, batch * in->d[0], {
        for (int64_t o = 0; o < op; o++) {
            int32_t i = am[bc * op + o];
            if (i >= 0) dx[bc * ip + i] += n->dy[bc * op + o];
        }
    });
}

static void avg_fwd(mn_graph *g, mn_node *n, int batch, int train) {
    (void)train;
    const mn_shape *in = mn__in_shape(g, n, 0);
    int C = in->d[0], H = in->d[1], W = in->d[2], OH = n->out.d[1], OW = n->out.d[2];
    int k = n->a.k, s = n->a.stride, p = n->a.pad;
    int global = k == 0;
    if (global) { k = H > W ? H : W; s = 1; p = 0; }
    float inv = global ? 1.0f / (H * W) : 1.0f / ((float)k * k);
    const float *x = mn__in(g, n, 0)->y;
    int par = mn_par_worth((int64_t)batch * C * H * W, PAR_MIN);
    MN_PAR_FOR(par, bc, batch * C, {
        const float *xp = x + (int64_t)bc * H * W;
        float *yp = n->y + (int64_t)bc * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float sum = 0;
                for (int i = 0; i < k; i++) {
                    int iy = oy * s - p + i;
                    if (iy < 0 || iy >= H) continue;
                    for (int j = 0; j < k; j++) {
                        int ix = ox * s - p + j;
                        if (ix >= 0 && ix < W) sum += xp[iy * W + ix];
                    }
                }
                yp[oy * OW + ox] = sum * inv;
            }
    });
}

static void avg_bwd(mn_graph *g, mn_node *n, int batch) {
    if (!mn__needs_dx(g, n, 0)) return;
    const mn_shape *in = mn__in_shape(g, n, 0);
    int C = in->d[0], H = in->d[1], W = in->d[2], OH = n->out.d[1], OW = n->out.d[2];
    int k = n->a.k, s = n->a.stride, p = n->a.pad;
    int global = k == 0;
    if (global) { k = H > W ? H : W; s = 1; p = 0; }
    float inv = global ? 1.0f / (H * W) : 1.0f / ((float)k * k);
    float *dx = g->nodes[n->in[0]].dy;
    int par = mn_par_worth((int64_t)batch * C * H * W, PAR_MIN);
    MN_PAR_FOR(par, bc, batch * C, {
        float *dp = dx + (int64_t)bc * H * W;
        const float *dyp = n->dy + (int64_t)bc * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float gv = dyp[oy * OW + ox] * inv;
                for (int i = 0; i < k; i++) {
                    int iy = oy * s - p + i;
                    if (iy < 0 || iy >= H) continue;
                    for (int j = 0; j < k; j++) {
                        int ix = ox * s - p + j;
                        if (ix >= 0 && ix < W) dp[iy * W + ix] += gv;
                    }
                }
            }
    });
}

static int64_t macs(const mn_graph *g, const mn_node *n) {
    (void)g;
    int k = n->a.k ? n->a.k : mn__in_shape(g, n, 0)->d[1];
    return mn_shape_numel(&n->out) * k * k;
}

const mn_opdef mn_op_maxpool = {"maxpool", 1, 1, infer, aux_max, NULL, max_fwd, max_bwd, macs};
const mn_opdef mn_op_avgpool = {"avgpool", 1, 1, infer, NULL, NULL, avg_fwd, avg_bwd, macs};
