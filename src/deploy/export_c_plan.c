/* The C generator's activation arena: a liveness-based buffer plan.
 *
 * Every node's output is a buffer that lives from the node that writes it
 * to the last node that reads it (the graph's output: to the end).  Flatten
 * and dropout share their input's buffer; an elementwise node (relu, tanh,
 * batch norm, add, softmax) writes over its first input when it is that
 * value's only reader.  Buffers are then placed largest first, each at the
 * lowest offset where it overlaps no placed buffer whose lifetime overlaps
 * its own (the greedy-by-size plan TFLite Micro and others use).  After the
 * arena, only when a layer needs them: one f32 weight row (rb) for the
 * layers that decode rows, and the int16 region (xq) of the integer layers:
 * the input's codes, then one weight row.  Each region is only ever read
 * and written as one type (float, or short), so the generated code never
 * accesses one object through two types. */
#include <stdlib.h>

#include "deploy/export_c_impl.h"
#include "store/store.h"

static int src_of(const mn_graph *g, int v) {
    while (g->nodes[v].op == MN_OP_FLATTEN || g->nodes[v].op == MN_OP_DROPOUT) v = g->nodes[v].in[0];
    return v;
}

static int ident_input(const mn_graph *g, const mn_node *n) {
    const float *mean = mn_param_data(g, n->p[0]), *sd = mn_param_data(g, n->p[1]);
    for (int k = 0; k < n->out.d[0]; k++)
        if (mean[k] != 0 || sd[k] != 1) return 0;
    return 1;
}

/* The value an XNOR-Net input scale reads at node i (the input of the sign
 * in front of it), or -1. */
static int pre_of(const mn_graph *g, int i) {
    const mn_node *n = &g->nodes[i];
    if ((n->op != MN_OP_BDENSE && n->op != MN_OP_BCONV) || !n->a.xscale) return -1;
    int k = n->in[0];
    if (g->nodes[k].op == MN_OP_FLATTEN) k = g->nodes[k].in[0];
    return g->nodes[k].op == MN_OP_SIGN ? src_of(g, g->nodes[k].in[0]) : -1;
}

static int elementwise(mn_op op) {
    return op == MN_OP_RELU || op == MN_OP_TANH || op == MN_OP_BATCHNORM || op == MN_OP_ADD || op == MN_OP_SOFTMAX;
}

mn_status mn_cplan_layout(const mn_graph *g, mn_cplan *p) {
    int N = g->nnodes;
    int *uses = calloc((size_t)N, sizeof(int)), *end = malloc(sizeof(int) * (size_t)N);
    int *order = malloc(sizeof(int) * (size_t)N);
    int64_t *size = calloc((size_t)N, sizeof(int64_t));
    if (!uses || !end || !order || !size) {
        free(uses); free(end); free(order); free(size);
        return mn_error(MN_ENOMEM, "out of memory");
    }
    /* Readers of each value (through flatten/dropout), and the last node
     * reading it. */
    for (int i = 0; i < N; i++) end[i] = i;
    for (int j = 0; j < N; j++) {
        const mn_node *n = &g->nodes[j];
        if (n->op == MN_OP_FLATTEN || n->op == MN_OP_DROPOUT) continue;
        for (int k = 0; k < n->nin; k++) uses[src_of(g, n->in[k])]++;
        int q = pre_of(g, j);
        if (q >= 0) uses[q]++;
    }
    int out = src_of(g, g->output);
    int64_t maxcols = 0, maxin = 0, maxcols16 = 0, naive = 0;
    for (int i = 0; i < N; i++) {
        const mn_node *n = &g->nodes[i];
        p->alias[i] = i;
        p->off[i] = 0;
        if (n->op == MN_OP_FLATTEN || n->op == MN_OP_DROPOUT) { p->alias[i] = p->alias[src_of(g, i)]; continue; }
        if (n->op == MN_OP_INPUT && ident_input(g, n)) { p->off[i] = -1; continue; }
        if (n->op == MN_OP_DENSE || n->op == MN_OP_CONV) {
            const mn_store *st = g->params[n->p[0]].store;
            int rows, cols;
            mn_param_matrix(g, n->p[0], &rows, &cols);
            int64_t in = mn_shape_numel(&g->nodes[n->in[0]].out);
            if (mn_cw_int_layer(g, n)) { /* int16 input codes and one int16 row */
                if (in > maxin) maxin = in;
                if (cols > maxcols16) maxcols16 = cols;
            } else if (st && !(st->kind == MN_ST_CSR && n->op == MN_OP_DENSE) && cols > maxcols) {
                maxcols = cols; /* one f32 row */
            }
        }
        naive += mn_shape_numel(&n->out);
        if (elementwise(n->op) && n->nin >= 1) {
            int v = src_of(g, n->in[0]), b = p->alias[v];
            if (uses[v] == 1 && p->off[b] >= 0 && b != p->alias[out] && v != out) {
                p->alias[i] = b;
                continue;
            }
        }
        size[i] = mn_shape_numel(&n->out);
    }
    /* Lifetimes of buffers (alias roots): the last reader of any value they hold. */
    for (int j = 0; j < N; j++) {
        const mn_node *n = &g->nodes[j];
        if (n->op == MN_OP_FLATTEN || n->op == MN_OP_DROPOUT) continue;
        int b = p->alias[j];
        if (j > end[b]) end[b] = j;
        for (int k = 0; k < n->nin; k++) {
            int r = p->alias[src_of(g, n->in[k])];
            if (j > end[r]) end[r] = j;
        }
        int q = pre_of(g, j);
        if (q >= 0 && j > end[p->alias[q]]) end[p->alias[q]] = j;
    }
    end[p->alias[out]] = N;
    /* Largest first, each at the lowest offset free over its lifetime. */
    int nb = 0;
    for (int i = 0; i < N; i++)
        if (size[i] > 0) order[nb++] = i;
    for (int a = 1; a < nb; a++) { /* insertion sort: size desc, then start */
        int t = order[a], b = a;
        for (; b > 0 && (size[order[b - 1]] < size[t] || (size[order[b - 1]] == size[t] && order[b - 1] > t)); b--)
            order[b] = order[b - 1];
        order[b] = t;
    }
    int64_t arena = 0;
    for (int a = 0; a < nb; a++) {
        int i = order[a];
        int64_t o = 0;
        for (int moved = 1; moved;) { /* bump past every conflicting placed buffer */
            moved = 0;
            for (int c = 0; c < a; c++) {
                int j = order[c];
                int live = !(end[j] < i || end[i] < j);
                if (live && o < p->off[j] + size[j] && p->off[j] < o + size[i]) { o = p->off[j] + size[j]; moved = 1; }
            }
        }
        p->off[i] = o;
        if (o + size[i] > arena) arena = o + size[i];
    }
    p->arena = arena;
    p->naive = naive;
    p->rb = arena;
    p->xq = arena + maxcols;
    p->wq16 = (maxin + 1) & ~(int64_t)1; /* the row after the input codes, 4-byte aligned */
    p->total = p->xq + (p->wq16 + maxcols16 + 1) / 2;
    free(uses); free(end); free(order); free(size);
    if (p->total > (1 << 28)) return mn_error(MN_EUNSUPPORTED, "export-c: activations too large");
    return MN_OK;
}
