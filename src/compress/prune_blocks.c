/* Layer pruning (decks 004): whole residual blocks removed.  A block whose
 * add computes x + f(x), with x its own input (an identity shortcut), can
 * be bypassed: without f it passes x on, so the block's nodes go and its
 * consumers read x.  When x is a relu's output (as in ResNets, where each
 * block ends in add -> relu), the relu after the add is then the identity
 * and goes too.  Blocks are chosen by how much the training loss rises when
 * each alone is bypassed, measured on a share of the training images (val
 * is only reported on), and the smaller net is fine-tuned. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/prune_impl.h"
#include "minnow/prune.h"
#include "minnow/train.h"
#include "store/store.h"

static int *consumer_counts(const mn_graph *g) {
    int *c = calloc((size_t)g->nnodes + 1, sizeof *c);
    if (c)
        for (int i = 0; i < g->nnodes; i++)
            for (int k = 0; k < g->nodes[i].nin; k++) c[g->nodes[i].in[k]]++;
    return c;
}

/* Marks in `in` the nodes of f for the add `a` with shortcut s and branch
 * input b: everything between s and b.  0 if f reaches past s (another
 * input) or one of its nodes feeds something outside the block. */
static int branch(const mn_graph *g, int a, int s, int b, unsigned char *in) {
    /* a node is pushed once per edge into it, so at most MN_MAX_IN per node */
    int *stack = malloc(sizeof(int) * ((size_t)g->nnodes * MN_MAX_IN + 1)), sp = 0, ok = 1;
    if (!stack) return 0;
    memset(in, 0, (size_t)g->nnodes);
    stack[sp++] = b;
    while (sp && ok) {
        int j = stack[--sp];
        if (j == s || in[j]) continue;
        /* nodes are in topological order: one before s is outside */
        if (j < s || g->nodes[j].op == MN_OP_INPUT) { ok = 0; break; }
        in[j] = 1;
        for (int k = 0; k < g->nodes[j].nin; k++) stack[sp++] = g->nodes[j].in[k];
    }
    free(stack);
    if (!ok) return 0;
    /* every consumer of a branch node is in the branch or the add */
    for (int i = 0; i < g->nnodes && ok; i++) {
        if (i == a || in[i]) continue;
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (in[g->nodes[i].in[k]]) { ok = 0; break; }
    }
    return ok;
}

static int same_shape(const mn_shape *x, const mn_shape *y) {
    if (x->ndim != y->ndim) return 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->d[i] != y->d[i]) return 0;
    return 1;
}

int mn_res_adds(const mn_graph *g) {
    int n = 0;
    for (int i = 0; i < g->nnodes; i++) n += g->nodes[i].op == MN_OP_ADD;
    return n;
}

int mn_res_blocks(const mn_graph *g, mn_res_block *out, int max) {
    int *cons = consumer_counts(g), n = 0;
    unsigned char *in = malloc((size_t)g->nnodes + 1);
    if (!cons || !in) { free(cons); free(in); return -1; }
    for (int a = 0; a < g->nnodes && n < max; a++) {
        const mn_node *A = &g->nodes[a];
        if (A->op != MN_OP_ADD || A->nin != 2 || a == g->output || A->a.act_bits) continue;
        for (int k = 0; k < 2; k++) {
            int s = A->in[k], b = A->in[1 - k];
            if (!same_shape(&g->nodes[s].out, &A->out) || !branch(g, a, s, b, in)) continue;
            mn_res_block *r = &out[n++];
            r->add = a;
            r->input = s;
            r->relu = -1;
            r->nodes = 1;
            for (int j = 0; j < g->nnodes; j++) r->nodes += in[j];
            /* add -> relu, x a relu's output: relu(x) = x */
            if (cons[a] == 1 && g->nodes[s].op == MN_OP_RELU && !g->nodes[s].a.max)
                for (int j = a + 1; j < g->nnodes; j++) {
                    const mn_node *R = &g->nodes[j];
                    if (R->nin == 1 && R->in[0] == a) {
                        if (R->op == MN_OP_RELU && !R->a.max && !R->a.act_bits && j != g->output) r->relu = j, r->nodes++;
                        break;
                    }
                }
            break;
        }
    }
    free(cons);
    free(in);
    return n;
}

mn_status mn__copy_param(const mn_graph *g, int p, mn_graph *out, int q) {
    const mn_param *sp = &g->params[p];
    memcpy(out->w + out->params[q].off, g->w + sp->off, sizeof(float) * (size_t)sp->n);
    out->params[q].trainable = sp->trainable;
    if (sp->mask) {
        float *mk = mn_param_mask(out, q);
        if (!mk) return mn_error(MN_ENOMEM, "out of memory");
        memcpy(mk, sp->mask, sizeof(float) * (size_t)sp->n);
    }
    return sp->store ? mn_store_clone(sp->store, &out->params[q].store) : MN_OK;
}

mn_status mn__graph_without(const mn_graph *g, const unsigned char *drop, const int *redirect, mn_graph *out) {
    mn_graph_init(out);
    mn_status st = MN_OK;
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i];
        if (drop[i]) continue;
        const char *ins[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) {
            int j = n->in[k];
            while (drop[j]) j = redirect[j];
            ins[k] = g->nodes[j].name;
        }
        if (mn_graph_add(out, n->op, n->name, ins, n->nin, &n->a) < 0) st = MN_EARG;
    }
    if (!st) st = mn_graph_finalize(out);
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i];
        if (drop[i]) continue;
        const mn_node *m = &out->nodes[mn_graph_find_node(out, n->name)];
        for (int k = 0; k < n->np && !st; k++) st = mn__copy_param(g, n->p[k], out, m->p[k]);
    }
    if (!st) {
        out->nmeta = g->nmeta;
        memcpy(out->meta, g->meta, sizeof g->meta);
        out->rng = g->rng;
    }
    if (st) mn_graph_free(out);
    return st;
}

mn_status mn_graph_drop_blocks(const mn_graph *g, const mn_res_block *b, int n, mn_graph *out) {
    int *redirect = malloc(sizeof(int) * ((size_t)g->nnodes + 1));
    unsigned char *drop = calloc((size_t)g->nnodes + 1, 1), *in = malloc((size_t)g->nnodes + 1);
    mn_status st = redirect && drop && in ? MN_OK : mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < n && !st; i++) {
        const mn_node *A = &g->nodes[b[i].add];
        int k = A->in[0] == b[i].input ? 0 : 1;
        if (A->op != MN_OP_ADD || A->in[k] != b[i].input || !branch(g, b[i].add, b[i].input, A->in[1 - k], in)) {
            st = mn_error(MN_EARG, "layer pruning: '%s' is not a residual block with an identity shortcut", A->name);
            break;
        }
        for (int j = 0; j < g->nnodes; j++) drop[j] |= in[j];
        drop[b[i].add] = 1;
        redirect[b[i].add] = b[i].input;
        if (b[i].relu >= 0) {
            drop[b[i].relu] = 1;
            redirect[b[i].relu] = b[i].input;
        }
    }
    if (!st) st = mn__graph_without(g, drop, redirect, out);
    free(redirect);
    free(drop);
    free(in);
    return st;
}

/* Every k-th training image, about `samples` of them (all when 0 or more
 * than there are), copied once: the training order may be grouped.  *copy
 * says whether sub owns its arrays. */
static mn_status scoring_set(const mn_dataset *d, int samples, mn_dataset *sub, int *copy) {
    *sub = *d;
    *copy = 0;
    int stride = samples > 0 && samples < d->n ? d->n / samples : 1;
    if (stride == 1) return MN_OK;
    int64_t isz = (int64_t)d->c * d->h * d->w;
    sub->n = d->n / stride;
    sub->x = malloc(sizeof(float) * (size_t)sub->n * (size_t)isz);
    sub->y = malloc(sizeof(int32_t) * (size_t)sub->n);
    *copy = 1;
    if (!sub->x || !sub->y) return mn_error(MN_ENOMEM, "out of memory");
    for (int i = 0; i < sub->n; i++) {
        memcpy(sub->x + (int64_t)i * isz, d->x + (int64_t)i * stride * isz, sizeof(float) * (size_t)isz);
        sub->y[i] = d->y[(int64_t)i * stride];
    }
    return MN_OK;
}

/* Mean training loss of g on the scoring set. */
static mn_status score_loss(mn_graph *g, const mn_dataset *set, double *loss) {
    mn_eval_result r;
    mn_status st = mn_eval(g, set, 250, &r);
    if (!st) *loss = r.loss;
    return st;
}

mn_status mn_prune_blocks(mn_graph *g, const mn_blocks_cfg *c, const mn_dataset *train, const mn_dataset *val) {
    mn_res_block b[MN_MAX_BLOCKS];
    int nb = mn_res_blocks(g, b, MN_MAX_BLOCKS), total = mn_res_adds(g);
    if (nb < 0) return mn_error(MN_ENOMEM, "out of memory");
    if (total == 0) return mn_error(MN_EARG, "layer pruning: the model has no residual block (no add node)");
    int want = (int)lround((double)c->fraction * total);
    if (c->fraction > 0 && want == 0) want = 1;
    if (want > nb)
        return mn_error(MN_EARG, "layer pruning: removing %.0f%% of %d residual blocks means %d, but only %d have an "
                        "identity shortcut (the others change the shape)", 100.0 * c->fraction, total, want, nb);
    int steps = c->steps < 1 ? 1 : c->steps > want ? (want ? want : 1) : c->steps, removed = 0, copy;
    mn_dataset set;
    mn_status st = scoring_set(train, c->samples, &set, &copy);
    for (int s = 1; s <= steps && !st; s++) {
        int now = (int)((int64_t)want * s / steps) - removed;
        double base;
        if ((st = score_loss(g, &set, &base))) break;
        nb = mn_res_blocks(g, b, MN_MAX_BLOCKS);
        double score[MN_MAX_BLOCKS];
        for (int i = 0; i < nb && !st; i++) {
            mn_graph h;
            double l = 0;
            if (!(st = mn_graph_drop_blocks(g, &b[i], 1, &h))) {
                st = score_loss(&h, &set, &l);
                mn_graph_free(&h);
            }
            score[i] = l - base;
        }
        if (st) break;
        /* the `now` blocks whose bypass costs least */
        mn_res_block pick[MN_MAX_BLOCKS];
        unsigned char used[MN_MAX_BLOCKS] = {0};
        for (int k = 0; k < now; k++) {
            int best = -1;
            for (int i = 0; i < nb; i++)
                if (!used[i] && (best < 0 || score[i] < score[best])) best = i;
            used[best] = 1;
            pick[k] = b[best];
        }
        mn_graph h;
        if ((st = mn_graph_drop_blocks(g, pick, now, &h))) break;
        mn_graph_free(g);
        *g = h;
        removed += now;
        mn_prune_stage ps = {s, steps, (float)removed / total, -1, -1};
        mn_eval_result r;
        if (val && !(st = mn_eval(g, val, 250, &r))) ps.val_error = r.error;
        if (!st && c->ft.epochs > 0) {
            st = mn_train(g, train, val, &c->ft);
            if (!st && val && !(st = mn_eval(g, val, 250, &r))) ps.val_error_ft = r.error;
        }
        if (!st && c->on_stage) c->on_stage(c->ud, &ps);
    }
    if (copy) {
        free(set.x);
        free(set.y);
    }
    return st;
}
