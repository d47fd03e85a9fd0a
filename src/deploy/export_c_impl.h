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
 * buffer per node would take; rb / xq: the row buffer and the quantized
 * input copy after the arena; total = all of the scratch. */
typedef struct mn_cplan {
    int64_t *off;
    int *alias;
    int64_t arena, naive, rb, xq, total;
} mn_cplan;
mn_status mn_cplan_layout(const mn_graph *g, mn_cplan *p);

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
 * declared; closes the block.  rb, xq: scratch offsets (floats). */
void mn_ci_emit_helpers(mn_sb *code);
void mn_ci_node(mn_sb *code, const mn_graph *g, const mn_node *n, const mn_cw *w, int64_t rb, int64_t xq);

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
