/* minnow binary: binarized networks with real XNOR / popcount inference.
 *
 * Training (float "ghost" weights, straight-through estimator):
 *   BinaryConnect (Courbariaux et al. 2015): W_b = H * sign(w), or +H with
 *     probability hard_sigmoid(w) (stochastic); ghost weights clipped to
 *     [-1, 1]; H = sqrt(1.5 / (fan_in + fan_out)) is the Glorot constant of
 *     the BinaryConnect code, so a layer's outputs keep a sane scale.
 *   XNOR-Net (Rastegari et al. 2016): W_b = alpha_r * sign(w), alpha_r =
 *     mean |w| of output unit / filter r; optional input scale beta (dense:
 *     mean |x| per sample) or K (conv: the k x k box average of mean_c |x|).
 *   Bitwise networks (Kim & Smaragdis 2016): pretrain with H * tanh(w) and
 *     tanh activations, then H * sign(w) and sign activations with the tanh
 *     derivative as the backward ("noisy back-propagation"); weights with
 *     |w| below a threshold become 0 (a second bit plane in the file).
 *   Activations are binarized by the `sign` op (hard-tanh gradient).
 *
 * Graph form: the ops `bdense` and `bconv` hold ghost weights in g->w and
 * binarize them in the forward pass as their `bmode` attribute says.
 * mn_binary_freeze turns a trained graph into its inference form: each
 * weight becomes an MN_ST_BINARY store (1 bit per weight, per-row scales,
 * optional nonzero plane), bmode becomes MN_BIN_FROZEN (g->w then holds the
 * decoded values), and every bX -> [batchnorm] -> sign chain is folded into
 * per-unit thresholds on the popcount (bfold=1: the node outputs +-1).
 * At inference a frozen node runs XNOR + popcount when its input is +-1
 * valued (a sign, a folded node, or max-pool / flatten of those) and adds /
 * subtracts its real inputs by the sign bits otherwise. */
#ifndef MINNOW_BINARY_H
#define MINNOW_BINARY_H

#include "minnow/graph.h"
#include "minnow/storage.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mn_bin_mode {
    MN_BIN_FROZEN = 0,  /* g->w holds the effective (binary) values */
    MN_BIN_DET = 1,     /* BinaryConnect deterministic: H * sign(w) */
    MN_BIN_STOCH = 2,   /* BinaryConnect stochastic: +-H, P(+) = hard_sigmoid(w) */
    MN_BIN_XNOR = 3,    /* XNOR-Net: alpha_r * sign(w) */
    MN_BIN_TANH = 4,    /* bitwise pretraining: H * tanh(w) */
    MN_BIN_BITWISE = 5, /* bitwise: H * sign(w), tanh' backward */
    MN_BIN__COUNT
} mn_bin_mode;

/* ---- weights ------------------------------------------------------------ */

/* The BinaryConnect scale H = sqrt(1.5 / (fan_in + fan_out)). */
float mn_bin_glorot(int fan_in, int fan_out);
/* Effective weights wb[rows, cols] of ghost weights w.  thresh > 0 makes
 * |w| < thresh zero (DET, XNOR, BITWISE).  r: random source for STOCH
 * (NULL = deterministic sign, the inference form).  sign(0) = +1. */
void mn_bin_effective(mn_bin_mode m, const float *w, int rows, int cols, float H,
                      float thresh, mn_rng *r, float *wb);
/* Straight-through backward: ADDS into gw the gradient w.r.t. the ghost
 * weights given gwb, the gradient w.r.t. the effective weights. */
void mn_bin_ste(mn_bin_mode m, const float *w, const float *gwb, int rows, int cols,
                float H, float thresh, float *gw);

/* ---- kernels ------------------------------------------------------------ */

/* 64-bit words per packed row of n values: rounded up to a multiple of 8
 * (512 bits) so wide loads never cross rows; padding bits are zero. */
static inline int mn_bin_words(int n) { return ((n + 511) / 512) * 8; }

/* bits[0..words) of x[0..n): bit c = (x[c] >= 0); padding zero. */
void mn_bin_pack(const float *x, int n, uint64_t *bits);
void mn_bin_pack_ref(const float *x, int n, uint64_t *bits);
void mn_bin_pack_avx512(const float *x, int n, uint64_t *bits); /* avx512f only */
/* rows rows of n values (row stride ldx) into rows * mn_bin_words(n) words. */
void mn_bin_pack_rows(const float *x, int rows, int n, int64_t ldx, uint64_t *bits);

/* XNOR / popcount: out[i * ldo + j] = popcount((X_i ^ W_j) & Mw_j) over
 * `words` words (a multiple of 8), for i < N rows of X and j < M rows of W.
 * Mw (W's nonzero plane) may be NULL (all ones).  With x, w in {-1,+1}
 * packed as bits, dot(x, w) = nnz_j - 2 * out.  Exact: every variant gives
 * the same integers. */
void mn_xnor_popc(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                  int M, int words, int32_t *out, int64_t ldo);
void mn_xnor_popc_ref(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                      int M, int words, int32_t *out, int64_t ldo);
/* Only when mn_cpu_features() has avx2 / avx512vpopcntdq. */
void mn_xnor_popc_avx2(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                       int M, int words, int32_t *out, int64_t ldo);
void mn_xnor_popc_avx512(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                         int M, int words, int32_t *out, int64_t ldo);

/* Real inputs, binary weights: out[i * ldo + j] = sum_{c < K} s_jc x[i * ldx + c]
 * with s = +1 (bit set), -1 (bit clear), 0 (Mw bit clear).  Summed in 64
 * interleaved partial sums (c mod 64) reduced by a fixed tree, so every
 * variant gives bit-identical floats. */
void mn_signacc(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
void mn_signacc_ref(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                    const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
void mn_signacc_avx2(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                     const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
void mn_signacc_avx512(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                       const uint64_t *Mw, int M, int words, float *out, int64_t ldo);
/* The conv (after im2col) form: C[j * ldc + n] = sum_{c < K} s_jc B[c * ldb + n]
 * for j < M, n < N; summed in c order (bit-identical across variants). */
void mn_signacc_cols(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                     const float *B, int N, int64_t ldb, float *C, int64_t ldc);
void mn_signacc_cols_ref(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                         const float *B, int N, int64_t ldb, float *C, int64_t ldc);
void mn_signacc_cols_avx2(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                          const float *B, int N, int64_t ldb, float *C, int64_t ldc);
void mn_signacc_cols_avx512(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                            const float *B, int N, int64_t ldb, float *C, int64_t ldc);

/* ---- storage (MN_ST_BINARY) --------------------------------------------- */

/* The run-time form of a binary store; the file form is tighter (see
 * docs/BINARY.md).  Value (r, c) = mask ? scale[r] * (bit ? +1 : -1) : 0. */
typedef struct mn_bin_store {
    int rows, cols, words;   /* words per row = mn_bin_words(cols) */
    int shared_scale;        /* all rows have scale[0]'s value */
    float *scale;            /* rows */
    uint64_t *bits;          /* rows * words */
    uint64_t *mask;          /* rows * words, or NULL when no weight is 0 */
    int32_t *nnz;            /* rows: nonzeros per row */
} mn_bin_store;

/* A store holding w[rows, cols] exactly; MN_EARG if a row's nonzeros do not
 * all have one magnitude (the values are not binary).  *out is owned by the
 * caller (mn_store_free), or by the graph after mn_param_set_store. */
mn_status mn_binary_store_make(const float *w, int rows, int cols, mn_store **out);
/* The run-time form of an MN_ST_BINARY store (NULL for other kinds). */
const mn_bin_store *mn_binary_store(const mn_store *s);

/* ---- graphs -------------------------------------------------------------- */

/* 1 if node i's output is exactly +-1 at inference. */
int mn_node_binary_valued(const mn_graph *g, int i);
/* 1 if g has a bdense or bconv node. */
int mn_graph_is_binary(const mn_graph *g);

typedef enum mn_binarize_method {
    MN_BINARIZE_BC = 0,      /* BinaryConnect: binary weights, real activations */
    MN_BINARIZE_XNOR,        /* XNOR-Net: binary weights and activations */
    MN_BINARIZE_BITWISE,     /* bitwise: tanh pretraining, then sign */
} mn_binarize_method;

typedef struct mn_binarize_opts {
    mn_binarize_method method;
    int keep_first_last;     /* first and last weight layers stay f32 */
    int stochastic;          /* BinaryConnect: stochastic binarization */
    int input_scale;         /* XNOR-Net: beta / K input scaling */
    float sparsity;          /* bitwise: fraction of each layer's weights set to 0 */
    int pre_epochs;          /* bitwise: tanh-phase epochs (-1: as many as cfg) */
    int fold;                /* fold batchnorm + sign into thresholds (default 1) */
    float ghost_lr_scale;    /* ghost weights' steps are scaled by this (BinaryConnect's
                                W_LR_scale): their [-1, 1] range wants larger steps than
                                the f32 layers (default: BC 10, others 1) */
} mn_binarize_opts;

/* Defaults for a method named "binaryconnect" (or "bc"), "xnor", "bitwise";
 * MN_EARG for anything else. */
mn_status mn_binarize_opts_init(mn_binarize_opts *o, const char *method);
/* A new graph dst (initialised here) for training src binarized: dense /
 * conv (groups 1) become bdense / bconv with ghost weights from src's
 * weights; for XNOR and bitwise each hidden relu/tanh becomes batchnorm +
 * sign (bitwise: + tanh for the pretraining phase).  src must be finalized
 * and not binary already. */
mn_status mn_binarize_convert(const mn_graph *src, const mn_binarize_opts *o, mn_graph *dst);
/* Bitwise phase two in place: tanh activations become sign, tanh weights
 * sign, and the `sparsity` fraction of each layer's smallest weights 0. */
mn_status mn_binarize_bitwise_phase2(mn_graph *g, float sparsity);
/* Clips BinaryConnect ghost weights to [-1, 1] (after every step). */
void mn_binary_clip(mn_graph *g);
/* The inference form of a trained binary graph (see the top of this file)
 * into dst (initialised here); fold = 0 keeps batchnorm and sign nodes. */
mn_status mn_binary_freeze(const mn_graph *src, int fold, mn_graph *dst);
/* Convert, train (both phases for bitwise), freeze: *g is replaced by the
 * frozen binary graph.  cfg's hooks are called as mn_train calls them. */
mn_status mn_binarize_train(mn_graph *g, const mn_binarize_opts *o, const mn_dataset *train,
                            const mn_dataset *val, const mn_train_cfg *cfg);

#ifdef __cplusplus
}
#endif
#endif
