/* The graph: building, topological sort, shape inference, arenas, and the
 * forward/backward drivers. */
#include "minnow/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "nn/ops.h"
#include "kernels/fixed.h"

static const mn_opdef *const g_ops[MN_OP__COUNT] = {
    [MN_OP_INPUT] = &mn_op_input,     [MN_OP_DENSE] = &mn_op_dense,
    [MN_OP_CONV] = &mn_op_conv,       [MN_OP_MAXPOOL] = &mn_op_maxpool,
    [MN_OP_AVGPOOL] = &mn_op_avgpool, [MN_OP_RELU] = &mn_op_relu,
    [MN_OP_TANH] = &mn_op_tanh,       [MN_OP_DROPOUT] = &mn_op_dropout,
    [MN_OP_FLATTEN] = &mn_op_flatten, [MN_OP_BATCHNORM] = &mn_op_batchnorm,
    [MN_OP_ADD] = &mn_op_add,         [MN_OP_SOFTMAX] = &mn_op_softmax,
    [MN_OP_SIGN] = &mn_op_sign, [MN_OP_BDENSE] = &mn_op_bdense, [MN_OP_BCONV] = &mn_op_bconv,
    [MN_OP_CONCAT] = &mn_op_concat,   [MN_OP_SBN] = &mn_op_sbn,
    [MN_OP_GATE] = &mn_op_gate,       [MN_OP_GADD] = &mn_op_gadd,
};

const mn_opdef *mn__opdef(mn_op op) {
    return (op >= 0 && op < MN_OP__COUNT) ? g_ops[op] : NULL;
}

const char *mn_op_name(mn_op op) {
    const mn_opdef *d = mn__opdef(op);
    return d ? d->name : NULL;
}

mn_op mn_op_from_name(const char *name) {
    for (int i = 0; i < MN_OP__COUNT; i++)
        if (name && strcmp(g_ops[i]->name, name) == 0) return (mn_op)i;
    return MN_OP__COUNT;
}

/* -1 for a non-positive dimension or a product past 2^62: a shape read
 * from a file can hold any dims, and callers treat <= 0 as "bad shape". */
int64_t mn_shape_numel(const mn_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] <= 0 || n > (INT64_C(1) << 62) / s->d[i]) return -1;
        n *= s->d[i];
    }
    return n;
}

void mn_graph_init(mn_graph *g) {
    memset(g, 0, sizeof *g);
    g->output = -1;
    mn_rng_seed(&g->rng, 1);
}

static void free_runtime(mn_graph *g) {
    mn_free(g->act); mn_free(g->dact); mn_free(g->auxbuf); mn_free(g->scratch);
    g->act = g->dact = g->auxbuf = g->scratch = NULL;
    g->batch_cap = 0;
    g->scratch_floats = 0;
}

void mn_graph_free(mn_graph *g) {
    free_runtime(g);
    if (g->model) { /* a view: the parameters are the model's */
        free(g->params);
        free(g->nodes);
        mn_graph_init(g);
        return;
    }
    for (int i = 0; i < g->nparams; i++) {
        mn_free(g->params[i].mask);
        mn_store_free(g->params[i].store);
    }
    free(g->params);
    free(g->nodes);
    mn_free(g->w); mn_free(g->gw); mn_free(g->m); mn_free(g->v);
    mn_graph_init(g);
}

int mn_graph_find_node(const mn_graph *g, const char *name) {
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

int mn_graph_find_param(const mn_graph *g, const char *name) {
    for (int i = 0; i < g->nparams; i++)
        if (strcmp(g->params[i].name, name) == 0) return i;
    return -1;
}

int mn_graph_add(mn_graph *g, mn_op op, const char *name,
                 const char *const *inputs, int nin, const mn_attrs *a) {
    const mn_opdef *d = mn__opdef(op);
    if (!d) { mn_error(MN_EARG, "unknown op %d", (int)op); return -1; }
    if (g->finalized) { mn_error(MN_EARG, "graph is finalized"); return -1; }
    if (!name || !*name || strlen(name) >= MN_NAME_MAX) {
        mn_error(MN_EARG, "node name '%s' is empty or longer than %d", name ? name : "", MN_NAME_MAX - 1);
        return -1;
    }
    if (mn_graph_find_node(g, name) >= 0) {
        mn_error(MN_EARG, "duplicate node name '%s'", name);
        return -1;
    }
    if (nin < d->min_in || nin > d->max_in) {
        mn_error(MN_EARG, "node '%s' (%s) takes %d..%d inputs, got %d", name, d->name, d->min_in, d->max_in, nin);
        return -1;
    }
    if (g->nnodes == g->cap) {
        int cap = g->cap ? g->cap * 2 : 16;
        mn_node *nn = realloc(g->nodes, sizeof *nn * cap);
        if (!nn) { mn_error(MN_ENOMEM, "out of memory adding node '%s'", name); return -1; }
        g->nodes = nn;
        g->cap = cap;
    }
    mn_node *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    strcpy(n->name, name);
    n->op = op;
    n->nin = nin;
    for (int i = 0; i < nin; i++) {
        if (!inputs[i] || strlen(inputs[i]) >= MN_NAME_MAX) {
            mn_error(MN_EARG, "node '%s': bad input name", name);
            return -1;
        }
        strcpy(n->in_names[i], inputs[i]);
    }
    if (a) n->a = *a;
    return g->nnodes++;
}

int mn_g_input(mn_graph *g, const char *name, int c, int h, int w) {
    mn_attrs a = {.c = c, .h = h, .w = w};
    return mn_graph_add(g, MN_OP_INPUT, name, NULL, 0, &a);
}
int mn_g_dense(mn_graph *g, const char *name, const char *in, int units) {
    mn_attrs a = {.units = units};
    return mn_graph_add(g, MN_OP_DENSE, name, &in, 1, &a);
}
int mn_g_conv(mn_graph *g, const char *name, const char *in, int filters, int k,
              int stride, int pad, int groups) {
    mn_attrs a = {.filters = filters, .k = k, .stride = stride, .pad = pad, .groups = groups};
    return mn_graph_add(g, MN_OP_CONV, name, &in, 1, &a);
}
int mn_g_pool(mn_graph *g, mn_op op, const char *name, const char *in, int k,
              int stride, int pad) {
    mn_attrs a = {.k = k, .stride = stride, .pad = pad};
    return mn_graph_add(g, op, name, &in, 1, &a);
}
int mn_g_act(mn_graph *g, mn_op op, const char *name, const char *in) {
    return mn_graph_add(g, op, name, &in, 1, NULL);
}
int mn_g_dropout(mn_graph *g, const char *name, const char *in, float rate) {
    mn_attrs a = {.rate = rate};
    return mn_graph_add(g, MN_OP_DROPOUT, name, &in, 1, &a);
}
int mn_g_bn(mn_graph *g, const char *name, const char *in) {
    mn_attrs a = {.eps = 1e-5f, .momentum = 0.1f};
    return mn_graph_add(g, MN_OP_BATCHNORM, name, &in, 1, &a);
}
int mn_g_add(mn_graph *g, const char *name, const char *x, const char *y) {
    const char *in[2] = {x, y};
    return mn_graph_add(g, MN_OP_ADD, name, in, 2, NULL);
}

int mn__declare_param(mn_graph *g, mn_node *n, const char *role, int ndim,
                      const int *dims, int trainable, int decay) {
    if (n->np >= MN_MAX_PARAMS) { mn_error(MN_EARG, "node '%s': too many params", n->name); return -1; }
    mn_param *np = realloc(g->params, sizeof *np * (g->nparams + 1));
    if (!np) { mn_error(MN_ENOMEM, "out of memory"); return -1; }
    g->params = np;
    mn_param *p = &g->params[g->nparams];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", n->name, role);
    p->shape.ndim = ndim;
    int64_t cnt = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0 || cnt > (INT64_C(1) << 31) / dims[i]) {
            mn_error(MN_ESHAPE, "param '%s' has a bad or too large shape", p->name);
            return -1;
        }
        p->shape.d[i] = dims[i];
        cnt *= dims[i];
    }
    p->n = cnt;
    /* 16-float alignment keeps every parameter on a 64-byte boundary. */
    p->off = g->nw;
    g->nw += (cnt + 15) & ~(int64_t)15;
    p->trainable = trainable;
    p->decay = decay;
    n->p[n->np++] = g->nparams;
    return g->nparams++;
}

/* Kahn's algorithm, taking the earliest-added ready node each time so that
 * a graph built in order keeps its order. */
static mn_status topo_sort(mn_graph *g) {
    int n = g->nnodes;
    size_t un = (size_t)(n > 0 ? n : 1);
    int *indeg = calloc(un, sizeof *indeg), *order = calloc(un, sizeof *order);
    int *inidx = calloc(un * MN_MAX_IN, sizeof *inidx);
    char *done = calloc(un, 1);
    mn_status st = MN_OK;
    if (!indeg || !order || !inidx || !done) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int j = mn_graph_find_node(g, g->nodes[i].in_names[k]);
            if (j < 0) { st = mn_error(MN_ESHAPE, "node '%s': no input named '%s'", g->nodes[i].name, g->nodes[i].in_names[k]); goto out; }
            if (j == i) { st = mn_error(MN_ESHAPE, "node '%s' takes itself as input", g->nodes[i].name); goto out; }
            inidx[i * MN_MAX_IN + k] = j;
            indeg[i]++;
        }
    for (int cnt = 0; cnt < n; cnt++) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++) {
            if (done[i]) continue;
            int ready = 1;
            for (int k = 0; k < g->nodes[i].nin; k++)
                if (!done[inidx[i * MN_MAX_IN + k]]) ready = 0;
            if (ready) pick = i;
        }
        if (pick < 0) { st = mn_error(MN_ESHAPE, "graph has a cycle"); goto out; }
        done[pick] = 1;
        order[cnt] = pick;
    }
    /* Reorder nodes and remap input indices. */
    mn_node *sorted = calloc((size_t)(n > 0 ? n : 1), sizeof *sorted);
    int *pos = calloc((size_t)(n > 0 ? n : 1), sizeof *pos);
    if (!sorted || !pos) { free(sorted); free(pos); st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    for (int i = 0; i < n; i++) pos[order[i]] = i;
    for (int i = 0; i < n; i++) {
        sorted[i] = g->nodes[order[i]];
        for (int k = 0; k < sorted[i].nin; k++) sorted[i].in[k] = pos[inidx[order[i] * MN_MAX_IN + k]];
    }
    memcpy(g->nodes, sorted, sizeof *sorted * n);
    free(sorted);
    free(pos);
out:
    free(indeg); free(order); free(inidx); free(done);
    return st;
}

mn_status mn_graph_finalize(mn_graph *g) { return mn_graph_finalize_max(g, INT64_MAX); }

/* The branch of each gadd (x, f, gate): the chain of one-input nodes from
 * f back to x, each feeding the next alone, run only where the gate is
 * open.  The gate reads x and comes first in the order, so that its
 * decision is known before the branch would run. */
static mn_status mark_gated(mn_graph *g) {
    for (int i = 0; i < g->nnodes; i++) g->nodes[i].gate = -1;
    for (int s = 0; s < g->nnodes; s++) {
        const mn_node *n = &g->nodes[s];
        if (n->op != MN_OP_GADD) continue;
        int x = n->in[0], gt = n->in[2], cur = n->in[1], next = s;
        if (g->nodes[gt].in[0] != x) return mn_error(MN_ESHAPE, "gadd '%s': its gate must read its first input", n->name);
        while (cur != x) {
            const mn_node *c = &g->nodes[cur];
            int users = 0;
            for (int j = 0; j < g->nnodes; j++)
                for (int k = 0; k < g->nodes[j].nin; k++) users += g->nodes[j].in[k] == cur;
            if (c->nin != 1 || users != 1 || c->gate >= 0 || cur < gt)
                return mn_error(MN_ESHAPE, "gadd '%s': its branch must be a chain of one-input nodes from its first "
                                "input, each feeding only the next, after the gate ('%s' is not)", n->name, c->name);
            g->nodes[cur].gate = gt;
            next = cur;
            cur = c->in[0];
        }
        if (next == s) return mn_error(MN_ESHAPE, "gadd '%s': its branch is empty", n->name);
    }
    return MN_OK;
}

mn_status mn_graph_finalize_max(mn_graph *g, int64_t max_values) {
    if (g->finalized) return MN_OK;
    if (g->nnodes == 0) return mn_error(MN_ESHAPE, "graph has no nodes");
    mn_status st = topo_sort(g);
    if (st) return st;
    int ninput = 0;
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        if (n->op == MN_OP_INPUT) ninput++;
        n->np = 0;
        if ((st = mn__opdef(n->op)->infer(g, n))) return st;
        if (mn_shape_numel(&n->out) <= 0 || mn_shape_numel(&n->out) > (INT64_C(1) << 28))
            return mn_error(MN_ESHAPE, "node '%s' has an empty or too large output", n->name);
    }
    if (ninput != 1) return mn_error(MN_ESHAPE, "graph needs exactly one input node, has %d", ninput);
    /* The output is the last node that nothing consumes. */
    g->output = -1;
    for (int i = g->nnodes - 1; i >= 0 && g->output < 0; i--) {
        int used = 0;
        for (int j = i + 1; j < g->nnodes && !used; j++)
            for (int k = 0; k < g->nodes[j].nin; k++)
                if (g->nodes[j].in[k] == i) used = 1;
        if (!used) g->output = i;
    }
    if (g->nw > max_values)
        return mn_error(MN_ENOMEM, "graph declares %lld parameter values, more than the %lld allowed",
                        (long long)g->nw, (long long)max_values);
    g->w = mn_alloc(g->nw, sizeof(float));
    g->gw = mn_alloc(g->nw, sizeof(float));
    g->m = mn_alloc(g->nw, sizeof(float));
    g->v = mn_alloc(g->nw, sizeof(float));
    if (!g->w || !g->gw || !g->m || !g->v) return mn_error(MN_ENOMEM, "out of memory for %lld parameters", (long long)g->nw);
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        /* Identity defaults so a fresh graph computes something sensible. */
        if (n->op == MN_OP_INPUT) {
            float *s = mn__w(g, n, 1);
            for (int64_t k = 0; k < g->params[n->p[1]].n; k++) s[k] = 1;
        } else if (n->op == MN_OP_BATCHNORM || n->op == MN_OP_SBN) {
            float *ga = mn__w(g, n, 0), *var = mn__w(g, n, 3);
            for (int64_t k = 0; k < g->params[n->p[0]].n; k++) ga[k] = var[k] = 1;
        }
    }
    if ((st = mark_gated(g))) return st;
    /* Topological order: a node's inputs are settled before it. */
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        n->needs_grad = 0;
        for (int k = 0; k < n->np; k++) n->needs_grad |= g->params[n->p[k]].trainable;
        for (int k = 0; k < n->nin; k++) n->needs_grad |= g->nodes[n->in[k]].needs_grad;
    }
    g->finalized = 1;
    return MN_OK;
}

void mn_graph_init_params(mn_graph *g, mn_rng *r) {
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        if (n->op == MN_OP_BATCHNORM || n->op == MN_OP_SBN) { /* a fresh init: the identity, whatever was learned */
            for (int k = 0; k < 4; k++) {
                float *d = mn__w(g, n, k);
                for (int64_t j = 0; j < g->params[n->p[k]].n; j++) d[j] = k == 0 || k == 3 ? 1.0f : 0.0f;
            }
            continue;
        }
        if (n->op != MN_OP_DENSE && n->op != MN_OP_CONV && n->op != MN_OP_BDENSE && n->op != MN_OP_BCONV) continue;
        const mn_param *w = &g->params[n->p[0]];
        int64_t fan_in = w->n / w->shape.d[0];
        float bound = 1.0f / sqrtf((float)fan_in);
        for (int k = 0; k < n->np; k++) {
            if (!g->params[n->p[k]].trainable) continue; /* e.g. folded thresholds */
            float *d = mn__w(g, n, k);
            for (int64_t j = 0; j < g->params[n->p[k]].n; j++)
                d[j] = (2 * mn_rng_uniform(r) - 1) * bound;
        }
    }
}

/* The most scratch any node takes at this batch. */
static size_t scratch_need(const mn_graph *g, int batch) {
    size_t need = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const mn_opdef *d = mn__opdef(g->nodes[i].op);
        size_t s = d->scratch ? d->scratch(g, &g->nodes[i], batch) : 0;
        if (s > need) need = s;
    }
    return need;
}

/* A store attached since the last reserve may take more scratch (its
 * kernels' work area): only the scratch grows, no node buffer moves. */
static mn_status grow_scratch(mn_graph *g) {
    size_t need = scratch_need(g, g->batch_cap);
    if (need <= g->scratch_floats) return MN_OK;
    float *s = mn_alloc(need, sizeof(float));
    if (!s) return mn_error(MN_ENOMEM, "out of memory for scratch");
    mn_free(g->scratch);
    g->scratch = s;
    g->scratch_floats = need;
    return MN_OK;
}

mn_status mn_graph_reserve(mn_graph *g, int batch) {
    if (!g->finalized) return mn_error(MN_EARG, "graph is not finalized");
    if (batch <= g->batch_cap) return grow_scratch(g);
    free_runtime(g);
    size_t act = 0, aux = 0, scratch = scratch_need(g, batch);
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        const mn_opdef *d = mn__opdef(n->op);
        act += ((size_t)mn_shape_numel(&n->out) * batch + 15) & ~(size_t)15;
        if (d->aux) aux += (d->aux(g, n, batch) + 15) & ~(size_t)15;
    }
    g->act = mn_alloc(act, sizeof(float));
    g->dact = mn_alloc(act, sizeof(float));
    g->auxbuf = mn_alloc(aux, sizeof(float));
    g->scratch = mn_alloc(scratch, sizeof(float));
    if (!g->act || !g->dact || !g->auxbuf || !g->scratch) {
        free_runtime(g);
        return mn_error(MN_ENOMEM, "out of memory for batch %d", batch);
    }
    size_t ao = 0, xo = 0;
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        const mn_opdef *d = mn__opdef(n->op);
        n->y = g->act + ao;
        n->dy = g->dact + ao;
        ao += ((size_t)mn_shape_numel(&n->out) * batch + 15) & ~(size_t)15;
        n->aux = g->auxbuf + xo;
        if (d->aux) xo += (d->aux(g, n, batch) + 15) & ~(size_t)15;
    }
    g->scratch_floats = scratch;
    g->batch_cap = batch;
    g->act_floats = act;
    return MN_OK;
}

/* Inference skips a gated branch closed for the whole batch; training runs
 * every branch (the gate learns from what f would add). */
static int skipped(const mn_graph *g, const mn_node *n, int batch, int train) {
    if (train || n->gate < 0) return 0;
    const float *b = g->nodes[n->gate].y;
    for (int i = 0; i < batch; i++)
        if (b[i] != 0) return 0;
    return 1;
}

const float *mn_graph_forward(mn_graph *g, const float *x, int batch, int train) {
    g->in_x = x;
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        if (skipped(g, n, batch, train)) continue;
        mn__opdef(n->op)->forward(g, n, batch, train);
        if (n->a.act_bits) mn_fixed_round(n->y, batch * mn_shape_numel(&n->out), n->a.act_bits, n->a.act_frac);
    }
    return g->nodes[g->output].y;
}

/* dy for `batch` samples, not the whole buffer: after an evaluation at a
 * larger batch the buffer is sized for that one (LeNet-5: zeroing all of it
 * was 9% of a training step).  Only nodes that need a gradient: no op
 * writes another's dy unless it does (mn__needs_dx), and LeNet-300's input
 * and flatten were three quarters of what was zeroed. */
static void zero_dy(mn_graph *g, int batch) {
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].needs_grad)
            memset(g->nodes[i].dy, 0, sizeof(float) * (size_t)batch * (size_t)mn_shape_numel(&g->nodes[i].out));
}

/* Losses give the gradient of their mean over the batch they saw; a rank of
 * a data-parallel step saw `batch` of dist_batch samples, so its share of
 * the global mean's gradient is that times batch / dist_batch (the
 * training loop then sums the ranks' parameter gradients).  Alone the
 * share is 1, and 1.0f * x is x exactly. */
static float share(const mn_graph *g, int batch) {
    return g->dist_batch ? (float)batch / (float)g->dist_batch : 1.0f;
}

void mn_graph_backward(mn_graph *g, const float *dout, int batch) {
    zero_dy(g, batch);
    mn_node *o = &g->nodes[g->output];
    float s = share(g, batch);
    for (int64_t j = 0; j < batch * mn_shape_numel(&o->out); j++) o->dy[j] = s * dout[j];
    for (int i = g->nnodes - 1; i >= 0; i--) {
        mn_node *n = &g->nodes[i];
        if (n->op == MN_OP_INPUT) continue;
        if (n->dy_extra) /* every consumer has run, so dy is complete here */
            for (int64_t j = 0; j < batch * mn_shape_numel(&n->out); j++) n->dy[j] += s * n->dy_extra[j];
        mn__opdef(n->op)->backward(g, n, batch);
    }
}

void mn_graph_backward_multi(mn_graph *g, const int *nodes, const float *const *douts, int n, int batch) {
    zero_dy(g, batch);
    float s = share(g, batch);
    for (int e = 0; e < n; e++) {
        if (!douts[e]) continue;
        mn_node *o = &g->nodes[nodes[e]];
        for (int64_t j = 0; j < batch * mn_shape_numel(&o->out); j++) o->dy[j] += s * douts[e][j];
    }
    for (int i = g->nnodes - 1; i >= 0; i--) {
        mn_node *n = &g->nodes[i];
        if (n->op == MN_OP_INPUT) continue;
        if (n->dy_extra)
            for (int64_t j = 0; j < batch * mn_shape_numel(&n->out); j++) n->dy[j] += s * n->dy_extra[j];
        mn__opdef(n->op)->backward(g, n, batch);
    }
}

void mn_graph_forward_nodes(mn_graph *g, const float *x, int batch, int train, const unsigned char *run) {
    if (x) g->in_x = x;
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        if (!run[i] || skipped(g, n, batch, train)) continue;
        mn__opdef(n->op)->forward(g, n, batch, train);
        if (n->a.act_bits) mn_fixed_round(n->y, batch * mn_shape_numel(&n->out), n->a.act_bits, n->a.act_frac);
    }
}

void mn_graph_zero_grad(mn_graph *g) { memset(g->gw, 0, sizeof(float) * g->nw); }

float *mn_param_mask(mn_graph *g, int p) {
    mn_param *pp = &g->params[p];
    if (!pp->mask) {
        pp->mask = mn_alloc(pp->n, sizeof(float));
        if (!pp->mask) return NULL;
        for (int64_t i = 0; i < pp->n; i++) pp->mask[i] = 1;
    }
    return pp->mask;
}

void mn_graph_apply_masks(mn_graph *g) {
    for (int i = 0; i < g->nparams; i++) {
        const mn_param *p = &g->params[i];
        if (!p->mask) continue;
        float *w = g->w + p->off;
        for (int64_t k = 0; k < p->n; k++) w[k] *= p->mask[k];
    }
}

const mn_shape *mn_graph_input_shape(const mn_graph *g) {
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MN_OP_INPUT) return &g->nodes[i].out;
    return NULL;
}

const mn_shape *mn_graph_output_shape(const mn_graph *g) {
    return g->output >= 0 ? &g->nodes[g->output].out : NULL;
}

int64_t mn_node_macs(const mn_graph *g, int node) {
    const mn_node *n = &g->nodes[node];
    const mn_opdef *d = mn__opdef(n->op);
    return d->macs ? d->macs(g, n) : 0;
}

int64_t mn_graph_macs(const mn_graph *g) {
    int64_t s = 0;
    for (int i = 0; i < g->nnodes; i++) s += mn_node_macs(g, i);
    return s;
}

int64_t mn_graph_run_macs(const mn_graph *g, int batch) {
    int64_t s = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        int64_t m = mn_node_macs(g, i), k = batch;
        if (n->gate >= 0) {
            k = 0;
            for (int b = 0; b < batch; b++) k += g->nodes[n->gate].y[b] != 0;
        }
        s += m * k;
    }
    return s;
}

int mn_graph_is_gated(const mn_graph *g) {
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MN_OP_GATE || g->nodes[i].op == MN_OP_GADD) return 1;
    return 0;
}

mn_status mn_graph_set_meta(mn_graph *g, const char *key, const char *val) {
    if (strlen(key) >= MN_NAME_MAX || strlen(val) >= sizeof g->meta[0].val)
        return mn_error(MN_EARG, "metadata '%s' too long", key);
    for (int i = 0; i < g->nmeta; i++)
        if (strcmp(g->meta[i].key, key) == 0) { strcpy(g->meta[i].val, val); return MN_OK; }
    if (g->nmeta == MN_META_MAX) return mn_error(MN_EARG, "too many metadata entries");
    strcpy(g->meta[g->nmeta].key, key);
    strcpy(g->meta[g->nmeta].val, val);
    g->nmeta++;
    return MN_OK;
}

const char *mn_graph_get_meta(const mn_graph *g, const char *key) {
    for (int i = 0; i < g->nmeta; i++)
        if (strcmp(g->meta[i].key, key) == 0) return g->meta[i].val;
    return NULL;
}

mn_status mn_graph_view(const mn_graph *model, mn_graph *view) {
    mn_graph_init(view);
    if (!model->finalized) return mn_error(MN_EARG, "graph view: the model is not finalized");
    mn_graph v = *model;
    v.nodes = malloc(sizeof *v.nodes * (size_t)(model->nnodes ? model->nnodes : 1));
    v.params = malloc(sizeof *v.params * (size_t)(model->nparams ? model->nparams : 1));
    if (!v.nodes || !v.params) {
        free(v.nodes); free(v.params);
        return mn_error(MN_ENOMEM, "out of memory");
    }
    memcpy(v.nodes, model->nodes, sizeof *v.nodes * (size_t)model->nnodes);
    memcpy(v.params, model->params, sizeof *v.params * (size_t)model->nparams);
    v.cap = model->nnodes;
    v.model = model->model ? model->model : model;
    v.gw = v.m = v.v = NULL; /* nothing to train */
    v.act = v.dact = v.auxbuf = v.scratch = NULL;
    v.batch_cap = 0;
    v.scratch_floats = v.act_floats = 0;
    v.in_x = NULL;
    for (int i = 0; i < v.nnodes; i++) {
        v.nodes[i].y = v.nodes[i].dy = v.nodes[i].aux = NULL;
        v.nodes[i].dy_extra = NULL;
    }
    *view = v;
    return MN_OK;
}

mn_status mn_graph_clone(const mn_graph *src, mn_graph *dst) {
    mn_graph_init(dst);
    for (int i = 0; i < src->nnodes; i++) {
        const mn_node *n = &src->nodes[i];
        const char *in[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) in[k] = n->in_names[k];
        if (mn_graph_add(dst, n->op, n->name, in, n->nin, &n->a) < 0) { mn_graph_free(dst); return MN_EARG; }
    }
    mn_status st = src->finalized ? mn_graph_finalize(dst) : MN_OK;
    if (st) { mn_graph_free(dst); return st; }
    if (src->finalized) {
        memcpy(dst->w, src->w, sizeof(float) * src->nw);
        for (int i = 0; i < src->nparams; i++)
            if (src->params[i].mask) {
                float *m = mn_param_mask(dst, i);
                if (!m) { mn_graph_free(dst); return mn_error(MN_ENOMEM, "out of memory"); }
                memcpy(m, src->params[i].mask, sizeof(float) * src->params[i].n);
            }
        for (int i = 0; i < src->nparams; i++)
            if (src->params[i].store && (st = mn_store_clone(src->params[i].store, &dst->params[i].store))) {
                mn_graph_free(dst);
                return st;
            }
    }
    dst->nmeta = src->nmeta;
    memcpy(dst->meta, src->meta, sizeof src->meta);
    dst->rng = src->rng;
    return MN_OK;
}
