/* minnow quantization: fixed-point and affine (uniform) quantization of
 * weights and activations, the MN_ST_AFFINE storage kind that runs them on
 * integer kernels, and quantization-aware training.
 *
 * Affine:  x ~ scale * (q - zero), q an integer in [qmin, qmax].
 * Fixed:   the special case scale = 2^-frac, zero = 0, q signed of `bits`
 *          bits = 1 (sign) + int bits + frac bits; int bits may be negative
 *          (values well below 1 need no integer part: dynamic fixed point).
 *
 * A quantized dense/conv weight carries an MN_ST_AFFINE store: its codes are
 * packed `bits` per value in the file (2 per byte at 4 bits, 4 per byte at
 * 2 bits) and unpacked to int8 at load.  When the store also has its input
 * activation format (from calibration), inference is integer: the layer
 * input is quantized to int8 with that format, int8 x int8 products are
 * summed in int32 by the kernels below (reference, AVX2, AVX-512BW,
 * AVX-512 VNNI, chosen at run time), then zero points are corrected in
 * integer arithmetic and the sum is scaled back to f32 for the next op. */
#ifndef MINNOW_QUANT_H
#define MINNOW_QUANT_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/storage.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- integer kernels (src/kernels/int8*.c) ------------------------------
 *
 * Exact int32 sums of int8 x int8 products; every ISA gives the same bits as
 * MN_I8_REF.  Dense layers (xw): acc[b, r] = sum_c qx[b, c] qw[r, c], the
 * weights packed once into panels of 16 rows (mn_i8_pack_w), activations
 * quantized per call into rows (mn_i8_quant_rows).  Conv layers (wx):
 * acc[r, j] = sum_c qw[r, c] qB[c, j] over the im2col matrix B[cols, n],
 * activations quantized per call into panels of 16 columns straight from
 * B's rows (mn_i8_quant_panel), weights packed as rows (mn_i8_pack_wrows).
 * Panels interleave 4 int8 (VNNI: it runs on uint8 activations q + 128 and
 * subtracts 128 * the weights' row sums) or 2 int16 (AVX2 / AVX-512BW:
 * vpmaddwd, exact, no saturation).  Layouts are described in int8.c. */
typedef enum mn_i8_isa {
    MN_I8_REF = 0,
    MN_I8_AVX2,
    MN_I8_AVX512BW,
    MN_I8_VNNI,
    MN_I8__COUNT
} mn_i8_isa;

/* Largest cols the kernels take: the VNNI sum (qx + 128) * qw stays exact. */
#define MN_I8_MAX_K 65535

/* The fastest ISA this CPU runs (MINNOW_NO_SIMD=1 gives MN_I8_REF;
 * MINNOW_I8_ISA=ref|avx2|avx512bw|avx512vnni caps it). */
mn_i8_isa mn_i8_best_isa(void);
int mn_i8_isa_ok(mn_i8_isa isa);
const char *mn_i8_isa_name(mn_i8_isa isa);

/* Row stride, in elements, of the row layout (cols padded to the k group). */
int mn_i8_ldx(mn_i8_isa isa, int cols);
/* Accumulator row stride for `n` panel rows: n rounded up to 16 (the
 * kernels write 0 to the padded entries). */
int mn_i8_ldacc(int n);
/* Bytes of activations: nrows in the row layout, n columns in panels. */
size_t mn_i8_xbytes(mn_i8_isa isa, int nrows, int cols);
size_t mn_i8_pbytes(mn_i8_isa isa, int n, int cols);
/* Bytes of packed weights: as panels (dense) or as rows (conv). */
size_t mn_i8_wbytes(mn_i8_isa isa, int rows, int cols);
size_t mn_i8_wrbytes(mn_i8_isa isa, int rows, int cols);
/* Packs q[rows, cols] (row-major int8 codes); buffers 64-byte aligned. */
void mn_i8_pack_w(mn_i8_isa isa, const int8_t *q, int rows, int cols, void *wp);
void mn_i8_pack_wrows(mn_i8_isa isa, const int8_t *q, int rows, int cols, void *wr);

/* Input activation format of a quantized layer: x ~ scale * (q - zero),
 * q in [qmin, qmax] within [-128, 127]. */
typedef struct mn_qact {
    float scale;
    int32_t zero, qmin, qmax;
} mn_qact;

/* One code: round(x / scale) + zero computed as x * (1 / scale), NaN as 0,
 * clamped, rounded half to even; every quantizer below gives these codes. */
int32_t mn_i8_quant1(float x, const mn_qact *a);
/* Quantizes x[nrows, cols] (dense) into the row layout xr; sumq[i] (may be
 * NULL) gets row i's sum of codes. */
void mn_i8_quant_rows(mn_i8_isa isa, const float *x, int nrows, int cols, const mn_qact *a, void *xr,
                      int32_t *sumq);
/* Quantizes columns j < n of B[cols, ldb] (im2col) into panels xp; sumq
 * (mn_i8_ldacc(n) entries, may be NULL) gets each column's sum of codes. */
void mn_i8_quant_panel(mn_i8_isa isa, const float *B, int64_t ldb, int n, int cols, const mn_qact *a, void *xp,
                       int32_t *sumq);
/* The plain scalar twins of the two above, for any ISA's layout. */
void mn_i8_quant_rows_ref(mn_i8_isa isa, const float *x, int nrows, int cols, const mn_qact *a, void *xr,
                          int32_t *sumq);
void mn_i8_quant_panel_ref(mn_i8_isa isa, const float *B, int64_t ldb, int n, int cols, const mn_qact *a,
                           void *xp, int32_t *sumq);
/* Layouts from int8 codes (q[nrows or n, cols], row-major; tests). */
void mn_i8_prep_rows(mn_i8_isa isa, const int8_t *q, int nrows, int cols, void *xr);
void mn_i8_prep_panel(mn_i8_isa isa, const int8_t *q, int n, int cols, void *xp);

/* Dense: acc[b * ldacc + r], b < nrows, ldacc >= mn_i8_ldacc(rows).
 * Conv:  acc[r * ldacc + j], r < rows, ldacc >= mn_i8_ldacc(n).
 * Never allocate.  1 <= cols <= MN_I8_MAX_K. */
void mn_i8_gemm_xw(mn_i8_isa isa, const void *wp, int rows, int cols, const void *xr, int nrows, int32_t *acc,
                   int ldacc);
void mn_i8_gemm_wx(mn_i8_isa isa, const void *wr, int rows, int cols, const void *xp, int n, int32_t *acc,
                   int ldacc);

/* ---- conv without the f32 im2col (src/kernels/int8_conv*.c) ------------
 *
 * The layer input x[C, H, W] of one image is quantized once into a padded
 * image of codes in the ISA's activation element (int8, uint8 q + 128 for
 * VNNI, int16 for AVX2 / AVX-512BW), rows of ld = mn_i8_image_ld elements,
 * the border holding the code of 0.0 (act->zero), so that it gives the
 * same codes as quantizing the f32 im2col matrix.  mn_i8_im2panel then
 * gathers those codes into the panels mn_i8_gemm_wx takes (byte for byte
 * what mn_i8_quant_panel makes of the f32 columns), and mn_i8_wx_out turns
 * the int32 sums into f32 outputs. */
int mn_i8_image_ld(mn_i8_isa isa, int W, int pad);
/* Bytes of one padded image (with slack for wide reads); 0 on overflow. */
size_t mn_i8_image_bytes(mn_i8_isa isa, int C, int H, int W, int pad);
void mn_i8_quant_image(mn_i8_isa isa, const float *x, int C, int H, int W, int pad, const mn_qact *a, void *xq);
void mn_i8_quant_image_ref(mn_i8_isa isa, const float *x, int C, int H, int W, int pad, const mn_qact *a,
                           void *xq);
/* Panels of the output pixels p0 .. p0+n-1 (p = oy * OW + ox) of a k x k
 * conv (stride s) over the padded image xq; sumq (mn_i8_ldacc(n) entries)
 * gets each pixel's sum of codes.  rb: mn_i8_im2panel_rbytes of scratch. */
size_t mn_i8_im2panel_rbytes(mn_i8_isa isa, int cols);
void mn_i8_im2panel(mn_i8_isa isa, const void *xq, int C, int H, int W, int k, int s, int pad, int OW, int p0,
                    int n, void *xp, int32_t *sumq, void *rb);
void mn_i8_im2panel_ref(mn_i8_isa isa, const void *xq, int C, int H, int W, int k, int s, int pad, int OW,
                        int p0, int n, void *xp, int32_t *sumq);

/* Largest cols for which every zero-point-corrected sum fits int32. */
#define MN_I8_OUT_MAX_K 33025
/* y[r * ldy + j] = (float)(acc[r * ldacc + j] + c0[r] - zw[r] * sumq[j]) *
 * mul[r] (+ bias[r] if bias), r < rows, j < n: the int32 sum is exact for
 * cols <= MN_I8_OUT_MAX_K (the fast one wraps, the _ref one sums in
 * int64), then the same two float operations as the wb path. */
void mn_i8_wx_out(mn_i8_isa isa, const int32_t *acc, int ldacc, int rows, int n, const int32_t *c0,
                  const int32_t *zw, const float *mul, const int32_t *sumq, const float *bias, float *y,
                  int64_t ldy);
void mn_i8_wx_out_ref(const int32_t *acc, int ldacc, int rows, int n, const int32_t *c0, const int32_t *zw,
                      const float *mul, const int32_t *sumq, const float *bias, float *y, int64_t ldy);

/* ---- per-tensor / per-row weight quantization (src/compress/quant_affine.c) */

typedef enum mn_wclip {
    MN_WCLIP_MINMAX = 0, /* the range is [min, max] (always holding 0) */
    MN_WCLIP_MSE         /* the range shrunk to the least squared error */
} mn_wclip;

typedef struct mn_wquant {
    int bits;            /* 2..8 */
    int per_channel;     /* a scale (and zero) per output unit / filter */
    int symmetric;       /* zero = 0, q in [-(2^(b-1)-1), 2^(b-1)-1] */
    mn_wclip clip;
} mn_wquant;

/* Chooses scale/zero for n values and writes their codes (q may be NULL)
 * and their decoded values (deq may be NULL, may alias v). */
void mn_wquant_vec(const float *v, int64_t n, const mn_wquant *c, float *scale,
                   int32_t *zero, int8_t *q, float *deq);
/* Decoded values of a rows x cols matrix quantized as the store would be
 * (per row or per tensor): what QAT trains against. */
void mn_wquant_mat(const float *w, int rows, int cols, const mn_wquant *c,
                   float *deq);

/* ---- the MN_ST_AFFINE store (src/compress/st_affine.c) ------------------
 *
 * q: rows*cols codes in [-2^(bits-1), 2^(bits-1)-1]; scale/zero: nscale = 1
 * (per tensor) or rows (per row) entries; act: the input format, or NULL
 * for a weight-only store (it then runs f32 products on decoded weights).
 * pow2 marks a fixed-point store (every scale a power of two). */
mn_status mn_affine_store_new(int rows, int cols, int bits, const int8_t *q,
                              const float *scale, const int32_t *zero,
                              int nscale, const mn_qact *act, int pow2,
                              mn_store **out);
/* Quantizes w[rows, cols] per c into a new store. */
mn_status mn_affine_store_quantize(const float *w, int rows, int cols,
                                   const mn_wquant *c, const mn_qact *act,
                                   mn_store **out);

typedef struct mn_affine_info {
    int bits, nscale, pow2, has_act;
    mn_qact act;
    mn_i8_isa isa;       /* the kernel it runs on */
    const int8_t *q;     /* rows*cols codes, owned by the store */
    const float *scale;
    const int32_t *zero;
} mn_affine_info;
/* MN_EARG if s is not an MN_ST_AFFINE store. */
mn_status mn_affine_store_info(const mn_store *s, mn_affine_info *out);

/* ---- fixed point (src/compress/quant_fixed.c) ---------------------------- */

/* The smallest int bits I such that a fraction `coverage` of the |v| are
 * below 2^I (I may be negative; 0 if all are 0). */
int mn_fixed_int_bits(const float *v, int64_t n, double coverage);
/* Rounds v in place to the signed fixed-point format with `bits` total bits
 * and `frac` fraction bits, saturating.  Also the forward rule of a node
 * with the act_bits/act_frac attributes. */
void mn_fixed_round(float *v, int64_t n, int bits, int frac);

/* ---- calibration (src/compress/quant_calib.c) ---------------------------- */

typedef enum mn_calib_kind { MN_CALIB_MINMAX = 0, MN_CALIB_PERCENTILE } mn_calib_kind;

typedef struct mn_calib_cfg {
    mn_calib_kind kind;
    double percentile;   /* e.g. 99.99: the central range kept */
    int batches, batch;  /* samples used: batches * batch, from the set's start */
} mn_calib_cfg;

/* The p-quantile (0 <= p <= 1) of n values; reorders v (quickselect). */
float mn_quantile(float *v, int64_t n, double p);

/* Defaults: percentile 99.99, 8 batches of 64. */
void mn_calib_default(mn_calib_cfg *c);

/* Range of the input of a dense/conv node over the calibration samples. */
typedef struct mn_act_stats {
    int valid;           /* 1 for dense/conv nodes */
    float lo, hi;        /* clipped per the cfg (min/max or percentiles) */
    float absmax;        /* max |x| or its percentile */
    int64_t n;           /* values seen */
} mn_act_stats;

/* Runs the model (train = 0) on d and fills st[node] for every dense/conv
 * node (st has g->nnodes entries). */
mn_status mn_calibrate(mn_graph *g, const mn_dataset *d, const mn_calib_cfg *c,
                       mn_act_stats *st);
/* The 8-bit (or `bits`) input format for a range: asymmetric maps
 * [min(lo,0), max(hi,0)] onto [-2^(b-1), 2^(b-1)-1]; symmetric maps
 * [-absmax, absmax] onto [-(2^(b-1)-1), 2^(b-1)-1] with zero 0. */
mn_qact mn_qact_from_range(const mn_act_stats *s, int bits, int symmetric);

/* ---- whole-model passes (quant_fixed.c, quant_affine.c, quant_qat.c) ----- */

typedef enum mn_qtarget { MN_QT_WEIGHTS = 1, MN_QT_ACTS = 2, MN_QT_BOTH = 3 } mn_qtarget;

/* Per quantized layer, what was done (for reports). */
typedef struct mn_qlayer {
    int node, param;
    int wbits, wint, wfrac;  /* weights: bits; fixed point: int/frac bits */
    int abits, aint, afrac;  /* input activations (0 = float) */
    mn_qact act;             /* affine input format when has_act */
    int stored, has_act;     /* an AFFINE store was attached; it runs integer */
    int fixed;               /* fixed point: the int/frac fields are meaningful */
} mn_qlayer;

#define MN_QREPORT_MAX 256
typedef struct mn_qreport {
    int n;
    mn_qlayer l[MN_QREPORT_MAX];
} mn_qreport;

#define MN_FIXED_AUTO (-1000)
typedef struct mn_fixed_cfg {
    int frac_bits;       /* F */
    int int_bits;        /* I, or MN_FIXED_AUTO: per tensor from its values */
    double coverage;     /* for AUTO: fraction of values in range (0.9999) */
    mn_qtarget target;
    mn_calib_cfg calib;  /* activations: which samples give their ranges */
    int store;           /* attach AFFINE stores to weights that fit 8 bits */
} mn_fixed_cfg;
void mn_fixed_default(mn_fixed_cfg *c);

/* Fixed-point quantization of every dense/conv layer: weights rounded to
 * their format (stored as AFFINE with scale 2^-F when 1+I+F <= 8 and
 * c->store), activations entering each layer rounded in the forward pass
 * through the act_bits/act_frac attributes of the node producing them (and
 * run in integer by the store when they fit 8 bits too).  calib may be NULL
 * when the target is weights only. */
mn_status mn_quantize_fixed(mn_graph *g, const mn_fixed_cfg *c,
                            const mn_dataset *calib, mn_qreport *rep);

typedef struct mn_affine_cfg {
    mn_wquant w;
    int act_bits;        /* 8, or 0 for weight-only storage (f32 compute) */
    int act_symmetric;
    mn_calib_cfg calib;
} mn_affine_cfg;
/* 8 bits, per channel, asymmetric, MSE clipping, 8-bit asymmetric inputs. */
void mn_affine_default(mn_affine_cfg *c);

/* Post-training affine quantization of every dense/conv weight, with input
 * formats calibrated on `calib` (may be NULL when act_bits is 0). */
mn_status mn_quantize_affine(mn_graph *g, const mn_affine_cfg *c,
                             const mn_dataset *calib, mn_qreport *rep);

/* Quantization-aware training: float "ghost" weights are kept aside; every
 * forward pass uses their quantized values (the same quantizer the store
 * uses), the gradient taken there updates the ghosts straight through (no
 * update where a ghost lies outside the quantizer's clipping range), then
 * the ghosts are quantized for good with mn_quantize_affine (inputs
 * calibrated on `train`).  t: the fine-tuning run (its hooks are chained). */
mn_status mn_quantize_qat(mn_graph *g, const mn_affine_cfg *c,
                          const mn_train_cfg *t, const mn_dataset *train,
                          const mn_dataset *val, mn_qreport *rep);

#ifdef __cplusplus
}
#endif
#endif
