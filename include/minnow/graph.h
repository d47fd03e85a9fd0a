/* minnow graph: a DAG of nodes with named inputs, run in topological order.
 *
 * Building: mn_graph_init, then mn_graph_add (or the mn_g_* helpers) for each
 * node, naming its inputs; nodes may be added in any order.  mn_graph_finalize
 * sorts them topologically, infers every shape, declares the parameters and
 * allocates them in one arena (plus one each for gradients and optimizer
 * state).  Activations live in a second arena sized by mn_graph_reserve.
 *
 * Shapes are per sample; every buffer holds `batch` samples one after another
 * (NCHW for images).  The graph owns everything it allocates. */
#ifndef MINNOW_GRAPH_H
#define MINNOW_GRAPH_H

#include "minnow/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MN_NAME_MAX 32
#define MN_MAX_IN 4
#define MN_MAX_PARAMS 4
#define MN_MAX_DIMS 4
#define MN_META_MAX 16

typedef enum mn_op {
    MN_OP_INPUT = 0, /* params: mean[c], std[c] (input normalisation) */
    MN_OP_DENSE,     /* params: weight[units, in], bias[units] */
    MN_OP_CONV,      /* params: weight[filters, c/groups, k, k], bias[filters] */
    MN_OP_MAXPOOL,
    MN_OP_AVGPOOL,   /* k == 0: global average pool */
    MN_OP_RELU,
    MN_OP_TANH,
    MN_OP_DROPOUT,
    MN_OP_FLATTEN,
    MN_OP_BATCHNORM, /* params: gamma[c], beta[c], mean[c], var[c] (last two running stats) */
    MN_OP_ADD,       /* elementwise sum of its inputs (residual) */
    MN_OP_SOFTMAX,   /* softmax over features (inference output) */
    MN_OP_SIGN,      /* +1 if x >= 0 else -1; straight-through (hard-tanh) gradient */
    MN_OP_BDENSE,    /* dense with binarized weights (minnow/binary.h) */
    MN_OP_BCONV,     /* conv with binarized weights (groups 1) */
    MN_OP_CONCAT,    /* concatenation along channels (or features) of its inputs */
    MN_OP_SBN,       /* switchable batch norm (slimmable nets, minnow/slim.h): attribute
                        slots; params gamma, beta, mean, var [slots, c]; runs the last slot */
    MN_OP_GATE,      /* per-sample decision b in {0, 1} from x's global average (SkipNet):
                        params weight[1, c], bias[1]; b = [sigmoid(w . mean(x) + bias) >= 0.5] */
    MN_OP_GADD,      /* gated residual add of (x, f, gate): y = x + b f; f's branch is not run
                        at inference where b = 0 (mn_node.gate) */
    MN_OP__COUNT
} mn_op;

/* The name used in files and specs ("dense", "conv", ...); NULL if out of range. */
const char *mn_op_name(mn_op op);
/* MN_OP__COUNT if unknown. */
mn_op mn_op_from_name(const char *name);

/* The `bmode` attribute of bdense/bconv: how ghost weights are binarized
 * in the forward pass (minnow/binary.h has the methods). */
typedef enum mn_bin_mode {
    MN_BIN_FROZEN = 0,  /* g->w holds the effective (binary) values */
    MN_BIN_DET = 1,     /* BinaryConnect deterministic: H * sign(w) */
    MN_BIN_STOCH = 2,   /* BinaryConnect stochastic: +-H, P(+) = hard_sigmoid(w) */
    MN_BIN_XNOR = 3,    /* XNOR-Net: alpha_r * sign(w) */
    MN_BIN_TANH = 4,    /* bitwise pretraining: H * tanh(w) */
    MN_BIN_BITWISE = 5, /* bitwise: H * sign(w), tanh' backward */
    MN_BIN__COUNT
} mn_bin_mode;

typedef struct mn_shape {
    int ndim;             /* 1 (features) or 3 (c, h, w) for activations */
    int d[MN_MAX_DIMS];
} mn_shape;
int64_t mn_shape_numel(const mn_shape *s);

/* Every attribute any op uses; each op reads only its own. */
typedef struct mn_attrs {
    int units;             /* dense: output features */
    int filters;           /* conv: output channels */
    int k, stride, pad;    /* conv and pool: square kernel, stride, zero padding */
    int groups;            /* conv: groups (1 = ordinary, filters = c for depthwise) */
    int c, h, w;           /* input: per-sample shape */
    float rate;            /* dropout: drop probability */
    float eps, momentum;   /* batchnorm */
    int bmode;             /* bdense/bconv: mn_bin_mode (0 = frozen, weights as stored) */
    float bsparse;         /* bdense/bconv: ghost weights with |w| below this become 0 */
    int xscale;            /* bdense/bconv: XNOR-Net input scale (beta / K) */
    int bfold;             /* bdense/bconv: batchnorm + sign folded into thresholds */
    int act_bits, act_frac; /* any node: output rounded to signed fixed point (quant.h); 0 = off */
    float max;             /* relu: upper clip (ReLU6: 6); 0 = none */
    int slots;             /* sbn: parameter rows, one per width (at most MN_SLOTS_MAX) */
} mn_attrs;
#define MN_SLOTS_MAX 16

typedef struct mn_param {
    char name[2 * MN_NAME_MAX];  /* "<node>.<role>", e.g. "fc1.weight" */
    mn_shape shape;
    int64_t n;                   /* numel */
    int64_t off;                 /* offset (floats) into g->w, g->gw, g->m, g->v */
    int trainable;               /* has a gradient and optimizer state */
    int decay;                   /* weight decay applies (weights, not biases) */
    float *mask;                 /* optional, n floats of 0/1 owned by the graph:
                                    gradients and weights are multiplied by it
                                    after each step (pruning keeps zeros zero) */
    struct mn_store *store;      /* compressed form (src/store/store.h), or NULL
                                    for plain f32; owned by the graph */
} mn_param;

typedef struct mn_node {
    char name[MN_NAME_MAX];
    mn_op op;
    int nin;
    char in_names[MN_MAX_IN][MN_NAME_MAX];
    int in[MN_MAX_IN];      /* node indices, valid after finalize */
    mn_attrs a;
    mn_shape out;           /* per-sample output shape, after finalize */
    int np;
    int p[MN_MAX_PARAMS];   /* parameter indices, after finalize */
    /* run-time, valid after mn_graph_reserve */
    float *y, *dy;          /* batch * numel(out) */
    float *aux;             /* per-op saved state (dropout mask, pool argmax, bn stats) */
    int needs_grad;         /* some trainable parameter lies at or before this node,
                               so backward must compute its output gradient */
    const float *dy_extra;  /* optional, batch * numel(out) floats owned by the caller that
                               mn_graph_backward adds to dy (hint losses on inner nodes) */
    int gate;               /* set by finalize: the gate node deciding whether this node runs
                               (it is on the branch of a gadd), or -1 */
} mn_node;

typedef struct mn_meta { char key[MN_NAME_MAX]; char val[128]; } mn_meta;

typedef struct mn_graph {
    int nnodes, cap;
    mn_node *nodes;
    int nparams;
    mn_param *params;
    int64_t nw;                  /* floats in each parameter arena */
    float *w, *gw, *m, *v;       /* values, gradients, optimizer moments */
    int output;                  /* node index of the logits (the last sink) */
    int finalized;
    /* run-time */
    int batch_cap;
    float *act, *dact, *auxbuf, *scratch;
    size_t scratch_floats, act_floats;
    const float *in_x;           /* the batch being run (read by the input node) */
    mn_rng rng;                  /* dropout */
    /* A data-parallel training step (mn_train under MPI, minnow/dist.h):
     * this rank runs samples [dist_off, dist_off + batch) of a global batch
     * of dist_batch.  Batch norm then reduces its statistics over the ranks
     * and dropout draws the whole batch's mask, so that the step is the
     * one-process step.  0 otherwise. */
    int dist_off, dist_batch;
    int nmeta;
    mn_meta meta[MN_META_MAX];
    const struct mn_graph *model; /* set in a view (mn_graph_view): whose parameters it shares */
} mn_graph;

void mn_graph_init(mn_graph *g);
void mn_graph_free(mn_graph *g);

/* Adds a node; inputs are node names.  Returns the node index, or -1 with a
 * message (duplicate name, too many inputs, name too long). */
int mn_graph_add(mn_graph *g, mn_op op, const char *name,
                 const char *const *inputs, int nin, const mn_attrs *a);

/* Convenience builders: the new node takes the single input `in`. */
int mn_g_input(mn_graph *g, const char *name, int c, int h, int w);
int mn_g_dense(mn_graph *g, const char *name, const char *in, int units);
int mn_g_conv(mn_graph *g, const char *name, const char *in, int filters, int k,
              int stride, int pad, int groups);
int mn_g_pool(mn_graph *g, mn_op op, const char *name, const char *in, int k,
              int stride, int pad);
int mn_g_act(mn_graph *g, mn_op op, const char *name, const char *in);
int mn_g_dropout(mn_graph *g, const char *name, const char *in, float rate);
int mn_g_bn(mn_graph *g, const char *name, const char *in);
int mn_g_add(mn_graph *g, const char *name, const char *a, const char *b);

/* Topological sort (inputs resolved by name, cycles and dangling names
 * rejected), shape inference, parameter declaration and allocation (zeros;
 * input std and bn var are set to 1).  Exactly one node may be unused by any
 * other: it is the output. */
mn_status mn_graph_finalize(mn_graph *g);
/* The same, refusing (MN_ENOMEM, before allocating) a graph whose parameters
 * need more than max_values floats: a loader passes what the file holds. */
mn_status mn_graph_finalize_max(mn_graph *g, int64_t max_values);
/* PyTorch's default initialisation: weights and biases U(-1/sqrt(fan_in), +);
 * batch norm back to the identity (gamma 1, beta 0, running mean 0, var 1). */
void mn_graph_init_params(mn_graph *g, mn_rng *r);

/* Makes room for activations of `batch` samples (grows, never shrinks). */
mn_status mn_graph_reserve(mn_graph *g, int batch);
/* Runs the graph on x (batch * numel(input) floats); returns the output
 * node's buffer (batch * numel(out)), owned by the graph.  train != 0 enables
 * dropout and batch statistics. */
const float *mn_graph_forward(mn_graph *g, const float *x, int batch, int train);
/* Back-propagates dout (gradient of the loss w.r.t. the output node) and
 * ADDS parameter gradients into g->gw (zero it with mn_graph_zero_grad). */
void mn_graph_backward(mn_graph *g, const float *dout, int batch);
void mn_graph_zero_grad(mn_graph *g);
/* Multi-output backward (multi-exit heads, minnow/exits.h): seeds node
 * nodes[i] with douts[i] (batch * numel of its output; NULL skips it) and
 * back-propagates, ADDING parameter gradients into g->gw. */
void mn_graph_backward_multi(mn_graph *g, const int *nodes, const float *const *douts, int n, int batch);
/* Partial forward: runs only the nodes with run[i] != 0 (run has g->nnodes
 * entries), in topological order; the others keep whatever their buffers
 * hold, so a caller can run a graph piece by piece.  x may be NULL when the
 * input node is not run. */
void mn_graph_forward_nodes(mn_graph *g, const float *x, int batch, int train, const unsigned char *run);

/* Lookups; -1 if absent. */
int mn_graph_find_node(const mn_graph *g, const char *name);
int mn_graph_find_param(const mn_graph *g, const char *name);
static inline float *mn_param_data(const mn_graph *g, int p) { return g->w + g->params[p].off; }
static inline float *mn_param_grad(const mn_graph *g, int p) { return g->gw + g->params[p].off; }
/* Allocates (if needed) and returns the 0/1 mask of parameter p, all ones. */
float *mn_param_mask(mn_graph *g, int p);
/* Applies every mask to weights (w *= mask). */
void mn_graph_apply_masks(mn_graph *g);

const mn_shape *mn_graph_input_shape(const mn_graph *g);
const mn_shape *mn_graph_output_shape(const mn_graph *g);
/* Multiply-accumulates of one sample's forward pass, per node and total. */
int64_t mn_node_macs(const mn_graph *g, int node);
int64_t mn_graph_macs(const mn_graph *g);
/* After a forward pass of `batch` samples: the multiply-accumulates the
 * samples' own decisions execute, summed over the batch (gated branches
 * count where their gate is open; mn_graph_macs * batch without gates).
 * At batch 1 it is exactly what ran. */
int64_t mn_graph_run_macs(const mn_graph *g, int batch);
/* 1 if g has gated blocks (gate / gadd nodes). */
int mn_graph_is_gated(const mn_graph *g);

/* Metadata key/values, saved with the model. */
mn_status mn_graph_set_meta(mn_graph *g, const char *key, const char *val);
const char *mn_graph_get_meta(const mn_graph *g, const char *key);

/* Compressed storage of a weight (its mn_store, private to the library):
 * drop p's store (g->w keeps the values: back to plain f32), or all of
 * them; the bytes p takes in the file (its store's bytes, or 4 * numel);
 * the rows x cols matrix view of a dense or conv weight. */
void mn_param_drop_store(mn_graph *g, int p);
void mn_graph_drop_stores(mn_graph *g);
size_t mn_param_file_bytes(const mn_graph *g, int p);
void mn_param_matrix(const mn_graph *g, int p, int *rows, int *cols);
/* The storage kind's name of p ("f32", "csr", "affine", ...). */
const char *mn_param_storage(const mn_graph *g, int p);

/* 1 if g has a bdense or bconv node. */
int mn_graph_is_binary(const mn_graph *g);

/* A view of a finalized model, to run it from another thread: the view
 * shares the model's parameters, masks and compressed stores, read only,
 * and owns its activations and scratch (mn_graph_reserve, then
 * mn_graph_forward or mn_eval).  Any number of views of one model may run
 * at once; the model must outlive them and not change meanwhile.  A view
 * runs inference only (forward with train = 0; it has no gradients).
 * mn_graph_free frees what the view owns. */
mn_status mn_graph_view(const mn_graph *model, mn_graph *view);

/* A deep copy (structure, parameters, masks; not run-time buffers). */
mn_status mn_graph_clone(const mn_graph *src, mn_graph *dst);

#ifdef __cplusplus
}
#endif
#endif
