/* Weight sharing on a graph: k-means per layer, centroid fine-tuning, and
 * codebook stores for the result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/cluster.h"
#include "nn/param_store.h"
#include "store/codebook.h"
#include "store/store.h"

#define NONE 0xffffu /* assignment of a zero (pruned) weight */

typedef struct layer {
    int p, rows, cols, bits, k;
    int64_t n;
    float cb[256];
    double m[256], v[256]; /* Adam moments of the centroids */
    uint16_t *a;           /* n assignments, NONE for zeros */
} layer;

void mn_kmeans_default(mn_kmeans_cfg *c) {
    memset(c, 0, sizeof *c);
    c->bits = 5;
    c->iters = 50;
    c->batch = 60;
    c->lr = 1e-3f;
    c->bias_lr = 1e-4f;
    c->seed = 1;
}

static int is_layer(const mn_node *n) { return n->op == MN_OP_DENSE || n->op == MN_OP_CONV; }

mn_status mn_kmeans_check_spec(const mn_graph *g, const char *spec) {
    if (!spec) return MN_OK;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end) return mn_error(MN_EARG, "layer bits '%s': expected name=bits[,name=bits...]", spec);
        char name[MN_NAME_MAX + 1];
        size_t len = (size_t)(eq - p);
        while (len && p[len - 1] == ' ') len--;
        if (len == 0 || len > MN_NAME_MAX) return mn_error(MN_EARG, "layer bits '%s': bad layer name", spec);
        memcpy(name, p, len);
        name[len] = 0;
        int ni = mn_graph_find_node(g, name);
        if (ni < 0 || !is_layer(&g->nodes[ni])) {
            char known[512] = "";
            for (int i = 0; i < g->nnodes; i++)
                if (is_layer(&g->nodes[i]) && strlen(known) + strlen(g->nodes[i].name) + 3 < sizeof known) {
                    if (*known) strcat(known, ", ");
                    strcat(known, g->nodes[i].name);
                }
            return mn_error(MN_EARG, "layer bits: no dense or conv layer '%s' (layers: %s)", name, known);
        }
        p = end;
    }
    return mn_kmeans_layer_bits(spec, "", 0) < 0 ? MN_EARG : MN_OK;
}

/* Clusters the nonzeros of w into k centroids (plus an exact 0 centroid
 * when zero_centroid): fills L->cb, L->k and L->a. */
static mn_status cluster(layer *L, const float *w, int k, int zero_centroid, int iters) {
    int64_t nz = 0;
    for (int64_t i = 0; i < L->n; i++) nz += w[i] != 0;
    float *x = malloc(sizeof(float) * (size_t)(nz ? nz : 1));
    uint8_t *as = malloc((size_t)(nz ? nz : 1));
    if (!x || !as) { free(x); free(as); return mn_error(MN_ENOMEM, "out of memory"); }
    for (int64_t i = 0, j = 0; i < L->n; i++) if (w[i] != 0) x[j++] = w[i];
    int kk = k - (zero_centroid != 0);
    if (kk > nz) kk = nz > 0 ? (int)nz : 1;
    mn_status st = mn_kmeans_1d(x, nz, kk, iters, L->cb, as);
    if (!st) {
        L->k = kk;
        if (zero_centroid) L->cb[L->k++] = 0.0f;
        for (int64_t i = 0, j = 0; i < L->n; i++) L->a[i] = w[i] != 0 ? as[j++] : NONE;
    }
    free(x);
    free(as);
    return st;
}

/* Writes the shared values into w and builds the layer's store. */
static mn_status materialise(const layer *L, float *w, int huffman, mn_store **out) {
    for (int64_t i = 0; i < L->n; i++) w[i] = L->a[i] == NONE ? 0.0f : L->cb[L->a[i]];
    return mn_codebook_new(w, L->rows, L->cols, L->cb, L->k, L->bits, huffman, out);
}

/* Picks the clustering of one layer.  With zeros present there are two
 * ways: 2^bits centroids for the nonzeros stored sparse, or 2^bits - 1 plus
 * an exact zero stored dense; the smaller store wins. */
static mn_status share_layer(mn_graph *g, layer *L, const mn_kmeans_cfg *c) {
    float *w = mn_param_data(g, L->p);
    float *orig = malloc(sizeof(float) * (size_t)L->n);
    if (!orig) return mn_error(MN_ENOMEM, "out of memory");
    memcpy(orig, w, sizeof(float) * (size_t)L->n);
    int64_t nz = 0;
    for (int64_t i = 0; i < L->n; i++) nz += orig[i] != 0;
    mn_store *s = NULL, *s2 = NULL;
    mn_status st = cluster(L, orig, 1 << L->bits, 0, c->iters);
    if (!st) st = materialise(L, w, c->huffman, &s);
    if (!st && nz < L->n && nz > 0) {
        layer alt = *L;
        alt.a = malloc(sizeof(uint16_t) * (size_t)L->n);
        if (!alt.a) st = mn_error(MN_ENOMEM, "out of memory");
        if (!st) st = cluster(&alt, orig, 1 << L->bits, 1, c->iters);
        if (!st) st = materialise(&alt, w, c->huffman, &s2);
        if (!st && mn_store_traits_of(MN_ST_CODEBOOK)->bytes(s2) < mn_store_traits_of(MN_ST_CODEBOOK)->bytes(s)) {
            uint16_t *a = L->a;
            *L = alt;
            alt.a = a;
            mn_store_free(s);
            s = s2;
            s2 = NULL;
        }
        free(alt.a);
    }
    mn_store_free(s2);
    if (!st) st = mn_param_set_store(g, L->p, s);
    else mn_store_free(s);
    if (st) memcpy(w, orig, sizeof(float) * (size_t)L->n);
    free(orig);
    return st;
}

/* ---- centroid fine-tuning ---- */

typedef struct ft {
    layer *L;
    int nl;
    float lr;
    int64_t t;
    const mn_kmeans_cfg *c;
} ft;

/* After each optimizer step (which left shared weights alone: they are
 * frozen): the gradient of a centroid is the sum of its weights' gradients
 * (Han et al. 2016, eq. 3); an Adam step moves it, and every weight is set
 * back to its centroid, zeros to zero. */
static void ft_step(void *ud, mn_graph *g, int64_t step) {
    (void)step;
    ft *f = ud;
    f->t++;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double bc1 = 1 - pow(b1, (double)f->t), bc2 = 1 - pow(b2, (double)f->t);
    for (int l = 0; l < f->nl; l++) {
        layer *L = &f->L[l];
        float *w = mn_param_data(g, L->p);
        const float *gw = mn_param_grad(g, L->p);
        double gs[256] = {0};
        for (int64_t i = 0; i < L->n; i++) if (L->a[i] != NONE) gs[L->a[i]] += gw[i];
        /* An exact-zero centroid (dense-stored pruned layer) has no members,
         * so its gradient is 0 and it stays exactly zero. */
        for (int j = 0; j < L->k; j++) {
            L->m[j] = b1 * L->m[j] + (1 - b1) * gs[j];
            L->v[j] = b2 * L->v[j] + (1 - b2) * gs[j] * gs[j];
            L->cb[j] -= (float)(f->lr * (L->m[j] / bc1) / (sqrt(L->v[j] / bc2) + eps));
        }
        for (int64_t i = 0; i < L->n; i++) w[i] = L->a[i] == NONE ? 0.0f : L->cb[L->a[i]];
    }
}

static void ft_progress(void *ud, const mn_progress *p) {
    const ft *f = ud;
    if (f->c->on_progress) f->c->on_progress(f->c->ud, p);
}

static void ft_epoch(void *ud, const mn_epoch_stats *s) {
    const ft *f = ud;
    if (f->c->on_epoch) f->c->on_epoch(f->c->ud, s);
}

static mn_status finetune(mn_graph *g, layer *L, int nl, const mn_kmeans_cfg *c,
                          const mn_dataset *train, const mn_dataset *val) {
    /* mn_train drops every store: keep copies of the ones that are not
     * being shared, and freeze those parameters and every weight. */
    mn_store **keep = calloc((size_t)g->nparams, sizeof *keep);
    int *tr = malloc(sizeof(int) * (size_t)g->nparams);
    mn_status st = MN_OK;
    if (!keep || !tr) { free(keep); free(tr); return mn_error(MN_ENOMEM, "out of memory"); }
    for (int p = 0; p < g->nparams; p++) {
        tr[p] = g->params[p].trainable;
        int shared = 0;
        for (int l = 0; l < nl; l++) shared |= L[l].p == p;
        if (g->params[p].decay || g->params[p].store) g->params[p].trainable = 0;
        if (g->params[p].store && !shared && (st = mn_store_clone(g->params[p].store, &keep[p]))) goto out;
    }
    ft f = {L, nl, c->lr, 0, c};
    mn_train_cfg tc;
    mn_train_default(&tc);
    tc.epochs = c->epochs;
    tc.batch = c->batch;
    tc.seed = c->seed;
    tc.opt.lr = c->bias_lr;
    tc.on_step = ft_step;
    tc.on_progress = ft_progress;
    tc.on_epoch = ft_epoch;
    tc.ud = &f;
    mn_optim_reset(g, &tc.opt);
    st = mn_train(g, train, val, &tc);
out:
    for (int p = 0; p < g->nparams; p++) {
        g->params[p].trainable = tr[p];
        if (keep[p]) {
            mn_status s2 = mn_param_set_store(g, p, keep[p]);
            if (s2) { mn_store_free(keep[p]); if (!st) st = s2; }
        }
    }
    free(keep);
    free(tr);
    return st;
}

mn_status mn_quantize_kmeans(mn_graph *g, const mn_kmeans_cfg *c, const mn_dataset *train,
                             const mn_dataset *val) {
    if (!g->finalized) return mn_error(MN_EARG, "kmeans: model is not finalized");
    if (c->bits < 0 || c->bits > MN_KMEANS_MAX_BITS) return mn_error(MN_EARG, "kmeans: bits must be in 0..%d, got %d", MN_KMEANS_MAX_BITS, c->bits);
    if (c->iters < 0 || c->epochs < 0 || c->batch <= 0 || !(c->lr >= 0) || !(c->bias_lr >= 0))
        return mn_error(MN_EARG, "kmeans: bad iterations, epochs, batch or learning rate");
    mn_status st = mn_kmeans_check_spec(g, c->layer_bits);
    if (st) return st;
    layer *L = calloc((size_t)g->nnodes, sizeof *L);
    if (!L) return mn_error(MN_ENOMEM, "out of memory");
    int nl = 0;
    for (int i = 0; i < g->nnodes && !st; i++) {
        const mn_node *n = &g->nodes[i];
        if (!is_layer(n)) continue;
        int bits = mn_kmeans_layer_bits(c->layer_bits, n->name, c->bits);
        if (bits <= 0) continue;
        layer *l = &L[nl];
        l->p = n->p[0];
        l->bits = bits;
        l->n = g->params[l->p].n;
        mn_param_matrix(g, l->p, &l->rows, &l->cols);
        l->a = malloc(sizeof(uint16_t) * (size_t)l->n);
        if (!l->a) { st = mn_error(MN_ENOMEM, "out of memory"); break; }
        nl++;
        st = share_layer(g, l, c);
    }
    if (!st && nl && c->epochs > 0 && train) {
        st = finetune(g, L, nl, c, train, val);
        for (int l = 0; l < nl && !st; l++) {
            mn_store *s = NULL;
            st = materialise(&L[l], mn_param_data(g, L[l].p), c->huffman, &s);
            if (!st) st = mn_param_set_store(g, L[l].p, s);
            if (st) mn_store_free(s);
        }
    }
    for (int l = 0; l < nl; l++) free(L[l].a);
    free(L);
    return st;
}
