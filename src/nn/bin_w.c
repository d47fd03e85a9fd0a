/* Binarized weights: the forward binarization of ghost weights and its
 * straight-through backward, one case per mn_bin_mode. */
#include <math.h>
#include <string.h>

#include "nn/bin_w.h"

float mn_bin_glorot(int fan_in, int fan_out) {
    return sqrtf(1.5f / (float)(fan_in + fan_out));
}

static int zeroed(float w, float thresh) { return thresh > 0 && fabsf(w) < thresh; }

/* XNOR-Net's alpha: mean |w| over the row's kept weights (0 if none). */
static float xnor_alpha(const float *w, int cols, float thresh, int *kept) {
    double s = 0;
    int n = 0;
    for (int c = 0; c < cols; c++)
        if (!zeroed(w[c], thresh)) { s += fabsf(w[c]); n++; }
    *kept = n;
    return n ? (float)(s / n) : 0.0f;
}

void mn_bin_effective(mn_bin_mode m, const float *w, int rows, int cols, float H,
                      float thresh, mn_rng *r, float *wb) {
    int64_t n = (int64_t)rows * cols;
    switch (m) {
    case MN_BIN_FROZEN:
        memcpy(wb, w, sizeof(float) * (size_t)n);
        break;
    case MN_BIN_DET:
    case MN_BIN_BITWISE:
        for (int64_t i = 0; i < n; i++) wb[i] = zeroed(w[i], thresh) ? 0.0f : w[i] >= 0 ? H : -H;
        break;
    case MN_BIN_STOCH:
        for (int64_t i = 0; i < n; i++) {
            if (!r) { wb[i] = w[i] >= 0 ? H : -H; continue; }
            float p = fminf(fmaxf((w[i] + 1) * 0.5f, 0.0f), 1.0f); /* hard sigmoid */
            wb[i] = mn_rng_uniform(r) < p ? H : -H;
        }
        break;
    case MN_BIN_XNOR:
        for (int rr = 0; rr < rows; rr++) {
            const float *wr = w + (int64_t)rr * cols;
            float *o = wb + (int64_t)rr * cols;
            int kept;
            float a = xnor_alpha(wr, cols, thresh, &kept);
            for (int c = 0; c < cols; c++) o[c] = zeroed(wr[c], thresh) ? 0.0f : wr[c] >= 0 ? a : -a;
        }
        break;
    case MN_BIN_TANH:
        for (int64_t i = 0; i < n; i++) wb[i] = H * tanhf(w[i]);
        break;
    default:
        break;
    }
}

void mn_bin_ste(mn_bin_mode m, const float *w, const float *gwb, int rows, int cols,
                float H, float thresh, float *gw) {
    int64_t n = (int64_t)rows * cols;
    switch (m) {
    case MN_BIN_FROZEN:
        for (int64_t i = 0; i < n; i++) gw[i] += gwb[i];
        break;
    case MN_BIN_DET:
    case MN_BIN_STOCH:
        /* sign's straight-through gradient, cancelled where |w| > 1. */
        for (int64_t i = 0; i < n; i++) gw[i] += fabsf(w[i]) <= 1 ? H * gwb[i] : 0.0f;
        break;
    case MN_BIN_XNOR:
        /* d(alpha s_j)/dw_i = s_i s_j / n (exact: alpha = mean |w|) plus
         * alpha * STE(sign) on the diagonal. */
        for (int rr = 0; rr < rows; rr++) {
            const float *wr = w + (int64_t)rr * cols, *g = gwb + (int64_t)rr * cols;
            float *o = gw + (int64_t)rr * cols;
            int kept;
            float a = xnor_alpha(wr, cols, thresh, &kept);
            double S = 0;
            for (int c = 0; c < cols; c++)
                if (!zeroed(wr[c], thresh)) S += wr[c] >= 0 ? g[c] : -g[c];
            float sn = kept ? (float)(S / kept) : 0.0f;
            for (int c = 0; c < cols; c++) {
                float d = fabsf(wr[c]) <= 1 ? a * g[c] : 0.0f;
                if (!zeroed(wr[c], thresh)) d += wr[c] >= 0 ? sn : -sn;
                o[c] += d;
            }
        }
        break;
    case MN_BIN_TANH:
    case MN_BIN_BITWISE:
        /* Exact for tanh; for sign it is the tanh surrogate (noisy backprop). */
        for (int64_t i = 0; i < n; i++) {
            float t = tanhf(w[i]);
            gw[i] += H * gwb[i] * (1 - t * t);
        }
        break;
    default:
        break;
    }
}

int mn_node_binary_valued(const mn_graph *g, int i) {
    const mn_node *n = &g->nodes[i];
    switch (n->op) {
    case MN_OP_SIGN: return 1;
    case MN_OP_BDENSE:
    case MN_OP_BCONV: return n->a.bfold != 0;
    /* Max-pool padding never wins, so these keep +-1 values +-1. */
    case MN_OP_MAXPOOL:
    case MN_OP_FLATTEN:
    case MN_OP_DROPOUT: return mn_node_binary_valued(g, n->in[0]);
    default: return 0;
    }
}

int mn_graph_is_binary(const mn_graph *g) {
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MN_OP_BDENSE || g->nodes[i].op == MN_OP_BCONV) return 1;
    return 0;
}
