/* minnow quantization: fixed-point and affine (uniform) quantization of
 * weights and activations, the MN_ST_AFFINE storage kind that runs them on
 * integer kernels, and quantization-aware training.
 *
 * Affine:  x ~ scale * (q - zero), q an integer in [qmin, qmax].
 * Fixed:   the special case scale = 2^-frac, zero = 0, q signed of `bits`
 *          bits = 1 (sign) + int bits + frac bits; int bits may be negative
 *          (values well below 1 need no integer part: dynamic fixed point).
 *
 * A quantized dense/conv weight carries an affine store (src/store/affine.h):
 * its codes are packed `bits` per value in the file (2 per byte at 4 bits,
 * 4 per byte at 2 bits) and unpacked to int8 at load.  When the store also
 * has its input activation format (from calibration), inference is integer:
 * the layer input is quantized to int8 with that format, int8 x int8
 * products are summed in int32 (src/kernels/int8.h), then zero points are
 * corrected in integer arithmetic and the sum is scaled back to f32. */
#ifndef MINNOW_QUANT_H
#define MINNOW_QUANT_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/qformat.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* ---- fixed point (src/compress/quant_fixed.c) ---------------------------- */

/* The smallest int bits I such that a fraction `coverage` of the |v| are
 * below 2^I (I may be negative; 0 if all are 0). */
int mn_fixed_int_bits(const float *v, int64_t n, double coverage);

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
    const char *layer_bits; /* per-layer weight bits "fc1=8,conv1=0" (0: the
                               layer stays f32), or NULL */
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

/* The PTQ debugger: how far each layer's output in the quantized model q
 * is from the float model's (f, the same graph before quantization), on the
 * first n samples of d: signal-to-quantization-noise ratio (dB) and the
 * largest absolute difference, per dense/conv layer and for the output.
 * The error accumulates along the net; `added_db` is the SQNR of the noise
 * the layer itself adds (its output's relative noise power less its
 * input's), and `flag` marks the layer that adds most (1) and any layer
 * whose output is under 20 dB (2). */
typedef struct mn_qdebug_layer {
    int node;
    double sqnr_db, in_sqnr_db, added_db; /* 1e9: no error; -1e9: no signal left */
    float max_abs;
    int flag;            /* 1: adds the most noise; 2: output under 20 dB */
} mn_qdebug_layer;
typedef struct mn_qdebug {
    int n, samples;
    mn_qdebug_layer l[MN_QREPORT_MAX];
    double out_sqnr_db;
    float out_max_abs;
    double out_agree;    /* fraction of samples whose argmax is unchanged */
} mn_qdebug;
mn_status mn_quant_debug(mn_graph *f, mn_graph *q, const mn_dataset *d, int n, mn_qdebug *out);

#ifdef __cplusplus
}
#endif
#endif
