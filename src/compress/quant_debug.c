/* The PTQ debugger (minnow/quant.h): the float model and its quantized copy
 * run side by side on the same samples, and every layer's output is
 * compared.  Where post-training quantization collapses, this says which
 * layer loses the signal: its output's SQNR falls much further below its
 * input's than the others' do. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/quant.h"

#define NO_ERROR_DB 1e9

/* NO_ERROR_DB: no error; -NO_ERROR_DB: no signal left (a zero signal, or a
 * non-finite error). */
static double sqnr(double sig, double err) {
    if (!isfinite(err)) return -NO_ERROR_DB;
    if (err <= 0) return NO_ERROR_DB;
    if (sig <= 0) return -NO_ERROR_DB;
    return 10 * log10(sig / err);
}

static int src_of(const mn_graph *g, int v) {
    while (g->nodes[v].op == MN_OP_FLATTEN || g->nodes[v].op == MN_OP_DROPOUT) v = g->nodes[v].in[0];
    return v;
}

static int argmax(const float *v, int k) {
    int a = 0;
    for (int i = 1; i < k; i++)
        if (v[i] > v[a]) a = i;
    return a;
}

mn_status mn_quant_debug(mn_graph *f, mn_graph *q, const mn_dataset *d, int n, mn_qdebug *out) {
    memset(out, 0, sizeof *out);
    if (f->nnodes != q->nnodes) return mn_error(MN_EARG, "quantize --report: the two models differ in their nodes");
    for (int i = 0; i < f->nnodes; i++)
        if (f->nodes[i].op != q->nodes[i].op || mn_shape_numel(&f->nodes[i].out) != mn_shape_numel(&q->nodes[i].out))
            return mn_error(MN_EARG, "quantize --report: node '%s' differs between the two models", f->nodes[i].name);
    mn_status cs = mn_check_data(f, d);
    if (!cs) cs = mn_check_data(q, d);
    if (cs) return cs;
    if (n > d->n) n = d->n;
    if (n < 1) return mn_error(MN_EARG, "quantize --report: no samples");
    const int B = 64;
    int N = f->nnodes, k = (int)mn_shape_numel(mn_graph_output_shape(f));
    int64_t isz = (int64_t)d->c * d->h * d->w;
    double *sig = calloc((size_t)N, sizeof(double)), *err = calloc((size_t)N, sizeof(double));
    float *mx = calloc((size_t)N, sizeof(float)), *x = malloc(sizeof(float) * (size_t)(B * isz));
    int32_t *y = malloc(sizeof(int32_t) * B);
    int *idx = malloc(sizeof(int) * B);
    mn_status st = (sig && err && mx && x && y && idx) ? MN_OK : mn_error(MN_ENOMEM, "out of memory");
    if (!st) st = mn_graph_reserve(f, B);
    if (!st) st = mn_graph_reserve(q, B);
    int agree = 0;
    for (int s0 = 0; s0 < n && !st; s0 += B) {
        int b = n - s0 < B ? n - s0 : B;
        for (int j = 0; j < b; j++) idx[j] = s0 + j;
        mn_data_gather(d, idx, b, x, y);
        const float *of = mn_graph_forward(f, x, b, 0);
        const float *oq = mn_graph_forward(q, x, b, 0);
        for (int j = 0; j < b; j++) agree += argmax(of + (int64_t)j * k, k) == argmax(oq + (int64_t)j * k, k);
        for (int i = 0; i < N; i++) {
            if (f->nodes[i].op == MN_OP_FLATTEN || f->nodes[i].op == MN_OP_DROPOUT) continue;
            const float *a = f->nodes[i].y, *c = q->nodes[i].y;
            int64_t m = (int64_t)b * mn_shape_numel(&f->nodes[i].out);
            for (int64_t t = 0; t < m; t++) {
                double e = (double)a[t] - (double)c[t];
                sig[i] += (double)a[t] * a[t];
                err[i] += e * e;
                if (!(fabs(e) <= mx[i])) mx[i] = isnan(e) ? INFINITY : (float)fabs(e);
            }
        }
    }
    if (!st) {
        out->samples = n;
        out->out_agree = (double)agree / n;
        int o = src_of(f, f->output);
        out->out_sqnr_db = sqnr(sig[o], err[o]);
        out->out_max_abs = mx[o];
        int worst = -1;
        for (int i = 0; i < N && out->n < MN_QREPORT_MAX; i++) {
            if (f->nodes[i].op != MN_OP_DENSE && f->nodes[i].op != MN_OP_CONV) continue;
            int v = src_of(f, f->nodes[i].in[0]);
            mn_qdebug_layer *L = &out->l[out->n];
            L->node = i;
            L->sqnr_db = sqnr(sig[i], err[i]);
            L->in_sqnr_db = f->nodes[v].op == MN_OP_INPUT ? NO_ERROR_DB : sqnr(sig[v], err[v]);
            /* The noise this layer adds, relative to its signal: its
             * output's relative noise power less its input's. */
            double rel_in = f->nodes[v].op == MN_OP_INPUT || sig[v] <= 0 ? 0 : err[v] / sig[v];
            double rel_out = sig[i] > 0 ? err[i] / sig[i] : (err[i] > 0 ? INFINITY : 0);
            if (!isfinite(rel_in)) rel_in = INFINITY;
            if (!isfinite(rel_out) || isnan(err[i])) L->added_db = isfinite(rel_in) ? -NO_ERROR_DB : NO_ERROR_DB;
            else L->added_db = rel_out > rel_in ? -10 * log10(rel_out - rel_in) : NO_ERROR_DB;
            L->max_abs = mx[i];
            L->flag = L->sqnr_db < 20 ? 2 : 0;
            if (worst < 0 || L->added_db < out->l[worst].added_db) worst = out->n;
            out->n++;
        }
        if (worst >= 0 && out->l[worst].added_db < NO_ERROR_DB) out->l[worst].flag |= 1;
    }
    free(sig); free(err); free(mx); free(x); free(y); free(idx);
    return st;
}
