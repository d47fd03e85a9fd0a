/* Internal: the pieces of the C generator (src/deploy/export_c*.c). */
#ifndef MINNOW_DEPLOY_EXPORT_C_IMPL_H
#define MINNOW_DEPLOY_EXPORT_C_IMPL_H

#include <stddef.h>

#include "minnow/graph.h"
#include "deploy/strbuf.h"
#include "store/store.h"

/* The activation arena (export_c_plan.c), in floats: per node, the node
 * whose buffer it uses (alias) and that buffer's offset (off; -1: the
 * model's `in` pointer); arena = the planned buffers, naive = what one
 * buffer per node would take; rb: one f32 weight row; xq: the integer
 * layers' int16 region (input codes, then a weight row at short offset
 * wq16); total = all of the scratch. */
typedef struct mn_cplan {
    int64_t *off;
    int *alias;
    int64_t arena, naive, rb, xq, wq16, total;
} mn_cplan;
mn_status mn_cplan_layout(const mn_graph *g, mn_cplan *p);
/* Whether node n (dense/conv) runs on the integer kernels: an affine store
 * with quantized input, in a dense layer or an ungrouped conv (where minnow
 * runs its integer kernels; grouped and depthwise convs run in f32 on the
 * decoded weights there, and so here). */
int mn_cw_int_layer(const mn_graph *g, const mn_node *n);

/* How the emitted code reads a weight matrix (rows x cols). */
typedef enum { MN_CW_F32, MN_CW_CSR, MN_CW_AFFINE, MN_CW_CODEBOOK, MN_CW_BINARY, MN_CW__COUNT } mn_cw_kind;
typedef struct mn_cw {
    mn_cw_kind kind;
    int p, rows, cols;
    int bin_mask;           /* binary: has a nonzero plane */
    int has_act;            /* affine: its input is quantized first */
    int nib;                /* affine: 4-bit codes packed two to a byte (p<P>_q4) */
    long nnz;               /* codebook: stored weights */
    int unpacked;           /* codebook: decoded once into p<P>_urp/_uci/_uix (RAM) */
    float act_inv, act_lo, act_hi, act_scale;
} mn_cw;

/* Emits parameter p's weight arrays (named p<P>...) into data, in its
 * storage, adding their bytes to *bytes; fills *w. */
mn_status mn_cw_emit_weight(const mn_graph *g, int p, mn_sb *data, size_t *bytes, mn_cw *w);
/* The helper functions a kind needs (emitted once per kind). */
void mn_cw_emit_helpers(mn_sb *code, mn_cw_kind kind);
/* An expression giving `const float *` to row r (variable name `r`) of w,
 * using rb (cols floats of scratch) and, for codebooks, the decoder state
 * variable `cbs`. */
void mn_cw_row_expr(mn_sb *code, const mn_cw *w, const char *rb);

/* Integer affine layers (export_c_int.c): the helpers (after the affine
 * kind's), and node n's code inside its block, where x, y and r are
 * declared; closes the block.  xq: the int16 region's offset (floats);
 * wq16: the weight row's offset in it (shorts). */
void mn_ci_emit_helpers(mn_sb *code);
void mn_ci_node(mn_sb *code, const mn_graph *g, const mn_node *n, const mn_cw *w, int64_t xq, int64_t wq16);

/* Binarized layers (export_c_bin.c).  The C expressions of a node's input
 * and output buffers, and of the pre-sign buffer an XNOR-Net input scale
 * reads (NULL when the node has none). */
typedef struct mn_cb_bufs { const char *x, *y, *pre; } mn_cb_bufs;
/* Code (and const data) for node i: a sign, bdense or bconv. */
mn_status mn_cb_node(const mn_graph *g, int i, const mn_cb_bufs *b, mn_sb *data, mn_sb *code, size_t *bytes);
/* A binary store's bit planes p<P>_w (sign), p<P>_m (nonzero, if any) and,
 * if scales, the scales p<P>_s; *has_mask says whether p<P>_m exists. */
mn_status mn_cb_emit_planes(const mn_graph *g, int p, const mn_store *st, int scales, mn_sb *data, size_t *bytes,
                            int *has_mask);
/* The helpers binary code uses (needs <stdint.h> and <string.h>). */
void mn_cb_emit_helpers(mn_sb *code);

#endif
