/* Binarize passes: BinaryConnect, XNOR-Net, bitwise networks (train a
 * binarized copy, then freeze it to 1-bit stores).  Options are
 * `minnow binarize`'s. */
#include "compress/pass_impl.h"
#include "minnow/binary.h"

typedef struct bin_opts {
    mn_pass_base b;
    int keep_first_last, stochastic, input_scale, pretrain_epochs, no_fold;
    double sparsity, ghost_lr_scale;
    mn_pass_train t;
    const char *method;
} bin_opts;

#define O(name, type, field, lo, hi, help) {name, type, offsetof(bin_opts, field), lo, hi, 0, 0, NULL, help, 0, 0, 0}
#define KEEP O("keep-first-last", MN_OPT_BOOL, keep_first_last, 0, 1, "the first and last weight layers stay f32")
#define NOFOLD O("no-fold", MN_OPT_BOOL, no_fold, 0, 1, "keep batchnorm and sign nodes instead of thresholds")
#define GHOST O("ghost-lr-scale", MN_OPT_NUM, ghost_lr_scale, 1e-3, 1e3, "multiplies the ghost weights' steps")

static const mn_pass_opt BC_OPTS[] = {
    KEEP, O("stochastic", MN_OPT_BOOL, stochastic, 0, 1, "stochastic binarization while training"), NOFOLD, GHOST,
    MN_PASS_TRAIN_OPTS(bin_opts, t),
};
static const mn_pass_opt XNOR_OPTS[] = {
    KEEP, O("input-scale", MN_OPT_BOOL, input_scale, 0, 1, "XNOR-Net's input scale"), NOFOLD, GHOST,
    MN_PASS_TRAIN_OPTS(bin_opts, t),
};
static const mn_pass_opt BITWISE_OPTS[] = {
    KEEP, O("sparsity", MN_OPT_NUM, sparsity, 0, 0.999, "fraction of each binary layer's weights set to 0"),
    O("pretrain-epochs", MN_OPT_INT, pretrain_epochs, 0, 100000, "epochs of the tanh phase (default: epochs)"),
    NOFOLD, GHOST, MN_PASS_TRAIN_OPTS(bin_opts, t),
};
#define N(a) (int)(sizeof a / sizeof a[0])

static void defaults(bin_opts *o, const char *method) {
    o->method = method;
    o->pretrain_epochs = -1;
    o->ghost_lr_scale = -1; /* the method's */
    mn_pass_train_default(&o->t, 10);
}
static void def_bc(void *v) { defaults(v, "binaryconnect"); }
static void def_xnor(void *v) { defaults(v, "xnor"); }
static void def_bitwise(void *v) { defaults(v, "bitwise"); }

static int needs_train(const void *v) { (void)v; return 1; }

static mn_status check(const void *v, const mn_graph *g, mn_pass_state *s) {
    (void)v;
    mn_status st = !s->reshaped && mn_graph_is_binary(g) ? mn_error(MN_EARG, "the model is binarized already") : MN_OK;
    s->codebooks = 0;
    s->reshaped = 1;
    return st;
}

static mn_status run_bin(const mn_pass_def *d, const void *v, mn_graph *g, const mn_pass_env *env) {
    const bin_opts *o = v;
    mn_binarize_opts bo;
    mn_status st = mn_binarize_opts_init(&bo, o->method);
    if (st) return st;
    bo.keep_first_last = o->keep_first_last;
    bo.stochastic = o->stochastic;
    bo.input_scale = o->input_scale;
    bo.sparsity = (float)o->sparsity;
    bo.pre_epochs = o->pretrain_epochs;
    bo.fold = !o->no_fold;
    if (o->ghost_lr_scale > 0) bo.ghost_lr_scale = (float)o->ghost_lr_scale;
    mn_train_cfg cfg;
    mn_pass_train_cfg(d, o, &o->t, env, &cfg);
    return mn_binarize_train(g, &bo, env->train, env->val, &cfg);
}
static mn_status run_bc(const void *v, mn_graph *g, const mn_pass_env *e) { return run_bin(&mn_pass_binarize_bc, v, g, e); }
static mn_status run_xnor(const void *v, mn_graph *g, const mn_pass_env *e) { return run_bin(&mn_pass_binarize_xnor, v, g, e); }
static mn_status run_bitwise(const void *v, mn_graph *g, const mn_pass_env *e) { return run_bin(&mn_pass_binarize_bitwise, v, g, e); }

#define DEF(id, m, dflt, opts, defs, runf) \
    const mn_pass_def id = {"binarize", m, dflt, opts, N(opts), sizeof(bin_opts), defs, NULL, needs_train, NULL, check, runf}
DEF(mn_pass_binarize_bc, "binaryconnect", 0, BC_OPTS, def_bc, run_bc);
DEF(mn_pass_binarize_xnor, "xnor", 0, XNOR_OPTS, def_xnor, run_xnor);
DEF(mn_pass_binarize_bitwise, "bitwise", 0, BITWISE_OPTS, def_bitwise, run_bitwise);
