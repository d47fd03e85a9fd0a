/* Slimmable networks: widths, the switch between batchnorm and sbn, and
 * cutting out one width (minnow/slim.h).  Training is in slim_train.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/prune.h"
#include "minnow/slim.h"
#include "compress/prune_impl.h"

mn_status mn_slim_parse(const char *s, float *widths, int *n) {
    *n = 0;
    if (!s || !*s) return mn_error(MN_EARG, "widths: empty list");
    for (const char *q = s; *q;) {
        char *end;
        float v = strtof(q, &end);
        if (end == q || (*end && *end != ',')) return mn_error(MN_EARG, "widths: '%s' is not a comma-separated list of numbers", s);
        if (!(v > 0 && v <= 1)) return mn_error(MN_EARG, "widths: %g is not in (0, 1]", (double)v);
        if (*n == MN_SLIM_MAX) return mn_error(MN_EARG, "widths: more than %d", MN_SLIM_MAX);
        if (*n && v <= widths[*n - 1]) return mn_error(MN_EARG, "widths: '%s' is not ascending", s);
        widths[(*n)++] = v;
        q = *end ? end + 1 : end;
    }
    return MN_OK;
}

int mn_slim_widths(const mn_graph *g, float *widths) {
    const char *s = mn_graph_get_meta(g, "widths");
    int n = 0, slots = 0, plain = 0;
    for (int i = 0; i < g->nnodes; i++) {
        if (g->nodes[i].op == MN_OP_SBN) {
            if (slots && g->nodes[i].a.slots != slots) {
                mn_error(MN_EFORMAT, "slimmable model: sbn nodes with %d and %d rows", slots, g->nodes[i].a.slots);
                return -1;
            }
            slots = g->nodes[i].a.slots;
        }
        plain |= g->nodes[i].op == MN_OP_BATCHNORM;
    }
    if (!s) {
        if (!slots) return 0;
        mn_error(MN_EFORMAT, "sbn nodes but no 'widths' in the metadata");
        return -1;
    }
    if (mn_slim_parse(s, widths, &n)) return -1;
    if (widths[n - 1] != 1.0f) { mn_error(MN_EFORMAT, "slimmable model: its widths '%s' do not end at 1", s); return -1; }
    if ((slots && slots != n) || plain) {
        mn_error(MN_EFORMAT, "slimmable model: %d widths but %s", n,
                 plain ? "a plain batchnorm node" : "sbn nodes of another row count");
        return -1;
    }
    return n;
}

int mn_slim_units(int units, float w) {
    int k = (int)ceil((double)w * units - 1e-4);
    return k < 1 ? 1 : k > units ? units : k;
}

static void drop_meta(mn_graph *g, const char *key) {
    for (int i = 0; i < g->nmeta; i++)
        if (!strcmp(g->meta[i].key, key)) {
            memmove(&g->meta[i], &g->meta[i + 1], sizeof g->meta[0] * (size_t)(g->nmeta - i - 1));
            g->nmeta--;
            return;
        }
}

/* out = g with every batchnorm made an sbn of `slots` rows (slot < 0), or
 * every sbn made a batchnorm holding row `slot`; other nodes and their
 * values (and masks) as they are. */
static mn_status switch_bn(const mn_graph *g, int slots, int slot, mn_graph *out) {
    mn_graph_init(out);
    mn_status st = MN_OK;
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i];
        mn_attrs a = n->a;
        mn_op op = n->op;
        if (slot < 0 && op == MN_OP_BATCHNORM) op = MN_OP_SBN, a.slots = slots;
        else if (slot >= 0 && op == MN_OP_SBN) op = MN_OP_BATCHNORM, a.slots = 0;
        const char *ins[MN_MAX_IN];
        for (int k = 0; k < n->nin; k++) ins[k] = n->in_names[k];
        if (mn_graph_add(out, op, n->name, ins, n->nin, &a) < 0) st = MN_EARG;
    }
    if (!st) st = mn_graph_finalize(out);
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i], *m = &out->nodes[mn_graph_find_node(out, n->name)];
        for (int k = 0; k < n->np && !st; k++) {
            const mn_param *sp = &g->params[n->p[k]];
            float *d = mn_param_data(out, m->p[k]);
            const float *s = mn_param_data(g, n->p[k]);
            if (sp->store) { st = mn_error(MN_EUNSUPPORTED, "slim: '%s' is stored compressed; slim a plain f32 model", sp->name); break; }
            if (n->op == MN_OP_BATCHNORM && m->op == MN_OP_SBN) {
                for (int r = 0; r < slots; r++) memcpy(d + r * sp->n, s, sizeof(float) * (size_t)sp->n);
            } else if (n->op == MN_OP_SBN && m->op == MN_OP_BATCHNORM) {
                int64_t C = out->params[m->p[k]].n;
                memcpy(d, s + slot * C, sizeof(float) * (size_t)C);
            } else {
                st = mn__copy_param(g, n->p[k], out, m->p[k]);
            }
        }
    }
    if (!st) {
        out->nmeta = g->nmeta;
        memcpy(out->meta, g->meta, sizeof g->meta);
    }
    if (st) mn_graph_free(out);
    return st;
}

mn_status mn_slim_make(const mn_graph *g, const float *widths, int n, mn_graph *out) {
    mn_graph_init(out);
    float cur[MN_SLIM_MAX];
    int have = mn_slim_widths(g, cur);
    if (have < 0) return MN_EFORMAT;
    if (have > 0) return mn_error(MN_EARG, "the model is slimmable already");
    if (n < 1 || n > MN_SLIM_MAX || widths[n - 1] != 1.0f)
        return mn_error(MN_EARG, "widths: 1 to %d of them, the last 1", MN_SLIM_MAX);
    for (int i = 1; i < n; i++)
        if (!(widths[i] > widths[i - 1]) || !(widths[i - 1] > 0)) return mn_error(MN_EARG, "widths: not ascending in (0, 1]");
    if (mn_graph_is_binary(g)) return mn_error(MN_EUNSUPPORTED, "slim: binary layers are not slimmable");
    mn_status st = switch_bn(g, n, -1, out);
    char buf[128] = "";
    for (int i = 0; i < n && !st; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s%g", i ? "," : "", (double)widths[i]);
    }
    if (!st) st = mn_graph_set_meta(out, "widths", buf);
    if (st) mn_graph_free(out);
    return st;
}

/* keep[p] for every layer of a removable channel group: its first
 * mn_slim_units(rows, w) rows (NULL: all).  Caller frees keep[p]. */
static mn_status width_keep(const mn_graph *g, float w, unsigned char **keep) {
    mn_chgroups cg;
    mn_status st = mn__chgroups(g, &cg);
    if (st) return st;
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i];
        if ((n->op != MN_OP_DENSE && n->op != MN_OP_CONV) || mn__is_depthwise(g, n) || cg.bad[cg.gid[i]]) continue;
        int p = n->p[0], rows = g->params[p].shape.d[0], k = mn_slim_units(rows, w);
        if (k == rows) continue;
        if (!(keep[p] = calloc((size_t)rows, 1))) { st = mn_error(MN_ENOMEM, "out of memory"); break; }
        memset(keep[p], 1, (size_t)k);
    }
    mn__chgroups_free(&cg);
    return st;
}

mn_status mn_slim_select(const mn_graph *g, float w, mn_graph *out) {
    mn_graph_init(out);
    float ws[MN_SLIM_MAX];
    int n = mn_slim_widths(g, ws), slot = -1;
    if (n < 0) return MN_EFORMAT;
    if (!(w > 0 && w <= 1)) return mn_error(MN_EARG, "width %g is not in (0, 1]", (double)w);
    for (int i = 0; i < n; i++)
        if (fabsf(ws[i] - w) < 1e-6f) slot = i;
    if (n > 0 && slot < 0)
        return mn_error(MN_EARG, "width %g is not one of the model's widths (%s)", (double)w, mn_graph_get_meta(g, "widths"));
    mn_graph plain;
    mn_status st = n > 0 ? switch_bn(g, 0, slot, &plain) : mn_graph_clone(g, &plain);
    if (st) return st;
    unsigned char **keep = calloc((size_t)plain.nparams + 1, sizeof *keep);
    if (!keep) st = mn_error(MN_ENOMEM, "out of memory");
    if (!st) st = width_keep(&plain, w, keep);
    if (!st) st = mn_graph_remove_units(&plain, (const unsigned char *const *)keep, out);
    for (int p = 0; keep && p < plain.nparams; p++) free(keep[p]);
    free(keep);
    mn_graph_free(&plain);
    if (!st) {
        char buf[32];
        snprintf(buf, sizeof buf, "%g", (double)w);
        drop_meta(out, "widths");
        st = mn_graph_set_meta(out, "width", buf);
    }
    if (st) mn_graph_free(out);
    return st;
}
