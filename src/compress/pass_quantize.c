/* Quantization passes: fixed point, affine, QAT and k-means weight sharing.
 * Options are `minnow quantize`'s (less --sweep, a report of the CLI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/pass_impl.h"
#include "minnow/cluster.h"
#include "minnow/quant.h"

typedef struct quant_opts {
    mn_pass_base b;
    /* fixed */
    int frac_bits, int_bits, target;
    double coverage;
    /* affine, qat */
    int wbits;
    char bits[MN_PASS_STR_MAX];           /* kmeans: a number or per layer */
    int granularity, scheme, clip, act_bits;
    /* calibration (fixed, affine, qat) */
    int calib, calib_batches;
    double percentile;
    /* kmeans, affine */
    char layer_bits[MN_PASS_STR_MAX];
    int iters, huffman;
    double lr, bias_lr;
    mn_pass_train t;                      /* qat; kmeans: epochs, batch, seed */
} quant_opts;

#define O(name, type, field, lo, hi, choices, help) \
    {name, type, offsetof(quant_opts, field), lo, hi, 0, 0, choices, help, 0, 0, 0}
#define CALIB                                                                                          \
    O("calib", MN_OPT_ENUM, calib, 0, 0, "minmax|percentile", "activation ranges"),                    \
    O("percentile", MN_OPT_NUM, percentile, 50, 100, NULL, "central percent kept by percentile"),      \
    O("calib-batches", MN_OPT_INT, calib_batches, 1, 100000, NULL, "batches of 64 calibration samples")
#define AFFINE                                                                                         \
    O("bits", MN_OPT_INT, wbits, 2, 8, NULL, "weight bits"),                                           \
    O("granularity", MN_OPT_ENUM, granularity, 0, 0, "tensor|channel", "a scale per unit or one"),     \
    O("scheme", MN_OPT_ENUM, scheme, 0, 0, "asymmetric|symmetric", "zero points or none"),             \
    O("clip", MN_OPT_ENUM, clip, 0, 0, "minmax|mse", "weight range"),                                  \
    O("act-bits", MN_OPT_INT, act_bits, 0, 8, NULL, "8 (integer inference) or 0 (f32 activations)"), \
    CALIB

static const mn_pass_opt FIXED_OPTS[] = {
    O("frac-bits", MN_OPT_INT, frac_bits, 0, 20, NULL, "fraction bits"),
    O("int-bits", MN_OPT_INT, int_bits, -20, 20, NULL, "integer bits (default: per tensor)"),
    O("coverage", MN_OPT_NUM, coverage, 50, 100, NULL, "percent of values in range for automatic int bits"),
    O("target", MN_OPT_ENUM, target, 0, 0, "weights|acts|both", "what is quantized"),
    CALIB,
};
static const mn_pass_opt AFFINE_OPTS[] = {
    AFFINE,
    O("layer-bits", MN_OPT_STR, layer_bits, 0, 0, NULL, "per-layer weight bits, e.g. fc1=8,conv1=0 (0: the layer stays f32)"),
};
static const mn_pass_opt QAT_OPTS[] = {AFFINE, MN_PASS_TRAIN_OPTS(quant_opts, t)};
static const mn_pass_opt KMEANS_OPTS[] = {
    {"bits", MN_OPT_SPEC, offsetof(quant_opts, bits), 1, MN_KMEANS_MAX_BITS, 0, 1, NULL,
     "2^B shared values per layer, or per layer (0: leave the layer)", 0, 1, 0},
    O("layer-bits", MN_OPT_STR, layer_bits, 0, 0, NULL, "per-layer bits, e.g. fc1=6,conv1=8"),
    O("iters", MN_OPT_INT, iters, 0, 100000, NULL, "Lloyd iterations"),
    O("epochs", MN_OPT_INT, t.epochs, 0, 100000, NULL, "centroid fine-tuning epochs"),
    O("batch", MN_OPT_INT, t.batch, 1, 1 << 16, NULL, "mini-batch size"),
    O("lr", MN_OPT_NUM, lr, 0, 10, NULL, "centroid learning rate"),
    O("bias-lr", MN_OPT_NUM, bias_lr, 0, 10, NULL, "bias learning rate"),
    O("seed", MN_OPT_INT, t.seed, 0, 0x7fffffffL, NULL, "seed (default: the recipe's)"),
    O("huffman", MN_OPT_BOOL, huffman, 0, 1, NULL, "Huffman-code the indices"),
    /* a recipe's name for epochs */
    {"finetune", MN_OPT_INT, offsetof(quant_opts, t.epochs), 0, 100000, 0, 0, NULL, NULL, 0, 0, 1 + 3},
};
#define N(a) (int)(sizeof a / sizeof a[0])

static void common_defaults(quant_opts *o) {
    o->frac_bits = 4;
    o->int_bits = MN_FIXED_AUTO;
    o->coverage = 99.99;
    o->target = 2; /* both */
    o->wbits = 8;
    o->granularity = 1;
    o->clip = 1;
    o->act_bits = 8;
    o->calib = 1;
    o->percentile = 99.99;
    o->calib_batches = 8;
    o->iters = 50;
    o->lr = 1e-3;
    o->bias_lr = 1e-4;
}
static void def_fixed(void *v) { quant_opts *o = v; common_defaults(o); mn_pass_train_default(&o->t, 0); }
static void def_affine(void *v) { quant_opts *o = v; common_defaults(o); mn_pass_train_default(&o->t, 0); }
static void def_qat(void *v) { quant_opts *o = v; common_defaults(o); mn_pass_train_default(&o->t, 3); o->t.lr = 1e-4; }
static void def_kmeans(void *v) {
    quant_opts *o = v;
    common_defaults(o);
    mn_pass_train_default(&o->t, 0);
    strcpy(o->bits, "5");
}

static mn_status finish_affine(void *v) {
    const quant_opts *o = v;
    if (o->act_bits == 1) return mn_error(MN_EARG, "'act-bits' must be 0 (float) or 2..8");
    return MN_OK;
}
static mn_status finish_kmeans(void *v) {
    const quant_opts *o = v;
    if (!mn_pass_opt_given(&mn_pass_quantize_kmeans, o, "bits")) return mn_error(MN_EARG, "pass 'quantize' needs 'bits'");
    if (strchr(o->bits, '=') && o->layer_bits[0])
        return mn_error(MN_EARG, "give per-layer bits in 'bits' or in 'layer-bits', not both");
    return MN_OK;
}

static int train_fixed(const void *v) { const quant_opts *o = v; return o->target != 0; /* acts or both */ }
static int train_affine(const void *v) { const quant_opts *o = v; return o->act_bits > 0; }
static int train_qat(const void *v) { (void)v; return 1; }
static int train_kmeans(const void *v) { const quant_opts *o = v; return o->t.epochs > 0; }

static void calib_cfg(const quant_opts *o, mn_calib_cfg *c) {
    mn_calib_default(c);
    c->kind = (mn_calib_kind)o->calib;
    c->percentile = o->percentile;
    c->batches = o->calib_batches;
}

static void affine_cfg(const quant_opts *o, mn_affine_cfg *c) {
    mn_affine_default(c);
    c->w.bits = o->wbits;
    c->w.per_channel = o->granularity;
    c->w.symmetric = c->act_symmetric = o->scheme;
    c->w.clip = (mn_wclip)o->clip;
    c->act_bits = o->act_bits;
    c->layer_bits = o->layer_bits[0] ? o->layer_bits : NULL;
    calib_cfg(o, &c->calib);
}

static mn_status check_affine(const void *v, const mn_graph *g, mn_pass_state *s) {
    const quant_opts *o = v;
    s->codebooks = 0; /* affine stores replace codebooks */
    if (!o->layer_bits[0]) return MN_OK;
    mn_status st = s->reshaped ? mn_kmeans_layer_bits(o->layer_bits, "", 0) < 0 ? MN_EARG : MN_OK
                               : mn_kmeans_check_spec(g, o->layer_bits);
    if (st) return st;
    for (int i = 0; i < g->nnodes && !s->reshaped; i++) {
        int b = mn_kmeans_layer_bits(o->layer_bits, g->nodes[i].name, o->wbits);
        if ((g->nodes[i].op == MN_OP_DENSE || g->nodes[i].op == MN_OP_CONV) && b != 0 && (b < 2 || b > 8))
            return mn_error(MN_EARG, "layer bits for '%s' must be 0 (float) or 2..8, got %d", g->nodes[i].name, b);
    }
    return MN_OK;
}

/* The report to fill: the caller's, or a scratch one. */
static mn_qreport *report(const mn_pass_env *env, mn_qreport **own) {
    *own = NULL;
    if (env->qreport) return env->qreport;
    return *own = malloc(sizeof(mn_qreport));
}

static mn_status run_fixed(const void *v, mn_graph *g, const mn_pass_env *env) {
    const quant_opts *o = v;
    mn_fixed_cfg c;
    mn_fixed_default(&c);
    c.frac_bits = o->frac_bits;
    c.int_bits = o->int_bits;
    c.coverage = o->coverage / 100;
    c.target = (mn_qtarget)(1 + o->target);
    calib_cfg(o, &c.calib);
    mn_qreport *own, *rep = report(env, &own);
    if (!rep) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = mn_quantize_fixed(g, &c, c.target & MN_QT_ACTS ? env->train : NULL, rep);
    for (int i = 0; !st && i < rep->n; i++) {
        const mn_qlayer *L = &rep->l[i];
        if ((c.target & MN_QT_WEIGHTS) && !L->stored)
            st = mn_error(MN_EARG, "fixed point: '%s' needs %d-bit weights (I=%d, F=%d); the affine store holds 2..8 bits: "
                          "lower --frac-bits or --int-bits", g->nodes[L->node].name, L->wbits, L->wint, L->wfrac);
    }
    free(own);
    return st;
}

static mn_status run_affine(const void *v, mn_graph *g, const mn_pass_env *env) {
    const quant_opts *o = v;
    mn_affine_cfg c;
    affine_cfg(o, &c);
    mn_qreport *own, *rep = report(env, &own);
    if (!rep) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = mn_quantize_affine(g, &c, c.act_bits ? env->train : NULL, rep);
    free(own);
    return st;
}

static mn_status run_qat(const void *v, mn_graph *g, const mn_pass_env *env) {
    const quant_opts *o = v;
    mn_affine_cfg c;
    affine_cfg(o, &c);
    mn_train_cfg t;
    mn_pass_train_cfg(&mn_pass_quantize_qat, o, &o->t, env, &t);
    mn_qreport *own, *rep = report(env, &own);
    if (!rep) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = mn_quantize_qat(g, &c, &t, env->train, env->val, rep);
    free(own);
    return st;
}

/* k-means: the default bits and the per-layer overrides, from 'bits'
 * ("5", "fc1=6,fc2=6" or "5,fc1=6") and 'layer-bits'. */
static int kmeans_bits(const quant_opts *o, char *layers) {
    int bits = 0;
    layers[0] = 0;
    if (o->layer_bits[0]) snprintf(layers, MN_PASS_STR_MAX, "%s", o->layer_bits);
    if (!strchr(o->bits, '=')) return atoi(o->bits);
    const char *s = o->bits;
    if (strcspn(s, ",") < strcspn(s, "=")) { /* a leading default */
        bits = atoi(s);
        s += strcspn(s, ",") + 1;
    }
    snprintf(layers, MN_PASS_STR_MAX, "%s", s);
    return bits;
}

static mn_status check_kmeans(const void *v, const mn_graph *g, mn_pass_state *s) {
    const quant_opts *o = v;
    char layers[MN_PASS_STR_MAX];
    kmeans_bits(o, layers);
    mn_status st = s->reshaped ? MN_OK : mn_kmeans_check_spec(g, layers[0] ? layers : NULL);
    s->codebooks = 1;
    return st;
}

static mn_status run_kmeans(const void *v, mn_graph *g, const mn_pass_env *env) {
    const quant_opts *o = v;
    char layers[MN_PASS_STR_MAX];
    mn_kmeans_cfg c;
    mn_kmeans_default(&c);
    c.bits = kmeans_bits(o, layers);
    c.layer_bits = layers[0] ? layers : NULL;
    c.iters = o->iters;
    c.huffman = o->huffman;
    c.epochs = o->t.epochs;
    c.batch = o->t.batch;
    c.lr = (float)o->lr;
    c.bias_lr = (float)o->bias_lr;
    c.seed = mn_pass_opt_given(&mn_pass_quantize_kmeans, o, "seed") ? (uint64_t)o->t.seed : env->seed;
    c.on_progress = env->on_progress;
    c.on_epoch = env->on_epoch;
    c.ud = env->ud;
    return mn_quantize_kmeans(g, &c, env->train, env->val);
}

#define DEF(id, m, dflt, opts, defs, fin, tr, chk, runf) \
    const mn_pass_def id = {"quantize", m, dflt, opts, N(opts), sizeof(quant_opts), defs, fin, tr, NULL, chk, runf}
DEF(mn_pass_quantize_fixed, "fixed", 0, FIXED_OPTS, def_fixed, NULL, train_fixed, check_affine, run_fixed);
DEF(mn_pass_quantize_affine, "affine", 0, AFFINE_OPTS, def_affine, finish_affine, train_affine, check_affine, run_affine);
DEF(mn_pass_quantize_qat, "qat", 0, QAT_OPTS, def_qat, finish_affine, train_qat, check_affine, run_qat);
DEF(mn_pass_quantize_kmeans, "kmeans", 1, KMEANS_OPTS, def_kmeans, finish_kmeans, train_kmeans, check_kmeans, run_kmeans);
