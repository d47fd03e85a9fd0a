/* minnow info */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minnow/io.h"
#include "minnow/slim.h"
#include "store/store.h"

static const char *HELP =
    "usage: minnow info FILE [--width W] [--json]\n"
    "Per layer: output shape, parameters, nonzeros, density, how the weight is stored\n"
    "(f32, csr, ...), its bytes in the file and MACs; totals and file size.\n"
    "  params/nonzero/density count trainable parameters; bytes counts every\n"
    "  parameter of the layer as the file stores it.\n"
    "  --width W     slimmable models: the network of width W (layers, MACs); without\n"
    "                it the stored model and each width's parameters and MACs\n";

static int64_t nonzeros(const mn_graph *g, int p) {
    const float *w = mn_param_data(g, p);
    int64_t nz = 0;
    for (int64_t i = 0; i < g->params[p].n; i++) nz += w[i] != 0;
    return nz;
}

static void shape_str(const mn_shape *s, char *buf, size_t n) {
    buf[0] = 0;
    for (int i = 0; i < s->ndim; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%d", i ? "x" : "", s->d[i]);
    }
}

/* The storage of a layer's first parameter (its weight), or NULL if none. */
static const char *storage_of(const mn_graph *g, const mn_node *n) {
    if (n->np == 0) return NULL;
    const mn_store *s = g->params[n->p[0]].store;
    return mn_storage_name(s ? s->kind : MN_ST_F32);
}

/* A slimmable model: each width's parameters and MACs (what it runs). */
static void print_widths(const mn_graph *g, const float *ws, int nw, int json) {
    if (json) printf("],\"widths\":[");
    else printf("widths (slimmable):\n%8s %10s %12s\n", "width", "params", "MACs");
    for (int i = 0; i < nw; i++) {
        mn_graph s;
        cli_check(mn_slim_select(g, ws[i], &s));
        if (json) printf("%s{\"width\":%g,\"params\":%lld,\"macs\":%lld}", i ? "," : "", (double)ws[i],
                         (long long)cli_trainable_params(&s), (long long)mn_graph_macs(&s));
        else printf("%8g %10lld %12lld\n", (double)ws[i], (long long)cli_trainable_params(&s), (long long)mn_graph_macs(&s));
        mn_graph_free(&s);
    }
}

int cmd_info(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 width: json", HELP);
    const char *path = cli_pos(&a, 0, "model FILE");
    mn_graph g;
    float ws[MN_SLIM_MAX];
    int nw = 0;
    if (cli_width(&a) > 0) {
        cli_load_model_width(path, &g, cli_width(&a), NULL);
    } else {
        cli_check(mn_model_load(path, &g));
        if ((nw = mn_slim_widths(&g, ws)) < 0) cli_die("%s: %s", path, mn_errmsg());
    }
    int json = cli_flag(&a, "json");
    int64_t params = 0, nz = 0, pbytes = 0;
    long fbytes = cli_file_size(path);
    if (json) { printf("{\"file\":"); cli_json_str(path); printf(",\"layers\":["); }
    else printf("%-12s %-10s %-12s %10s %10s %8s %-8s %10s %12s\n", "layer", "op", "output", "params", "nonzero",
                "density", "storage", "bytes", "MACs");
    int first = 1;
    for (int i = 0; i < g.nnodes; i++) {
        const mn_node *n = &g.nodes[i];
        int64_t np = 0, nn = 0, nb = 0;
        for (int k = 0; k < n->np; k++) {
            nb += (int64_t)mn_param_file_bytes(&g, n->p[k]);
            if (!g.params[n->p[k]].trainable) continue;
            np += g.params[n->p[k]].n;
            nn += nonzeros(&g, n->p[k]);
        }
        params += np;
        nz += nn;
        pbytes += nb;
        char shp[64];
        shape_str(&n->out, shp, sizeof shp);
        int64_t macs = mn_node_macs(&g, i);
        double dens = np ? (double)nn / np : 1.0;
        const char *stor = storage_of(&g, n);
        if (json) {
            printf("%s{\"name\":", first ? "" : ",");
            cli_json_str(n->name);
            printf(",\"op\":\"%s\",\"output\":\"%s\",\"params\":%lld,\"nonzero\":%lld,\"density\":%.6g,"
                   "\"storage\":%s%s%s,\"bytes\":%lld,\"dense_fp32_bytes\":%lld,\"macs\":%lld}",
                   mn_op_name(n->op), shp, (long long)np, (long long)nn, dens, stor ? "\"" : "",
                   stor ? stor : "null", stor ? "\"" : "", (long long)nb, (long long)np * 4, (long long)macs);
            first = 0;
        } else if (np || macs) {
            printf("%-12s %-10s %-12s %10lld %10lld %7.2f%% %-8s %10lld %12lld\n", n->name, mn_op_name(n->op), shp,
                   (long long)np, (long long)nn, 100.0 * dens, stor ? stor : "-", (long long)nb, (long long)macs);
        }
    }
    if (nw > 0) print_widths(&g, ws, nw, json);
    if (json) {
        printf("],\"params\":%lld,\"nonzero\":%lld,\"density\":%.6g,\"param_bytes\":%lld,\"file_bytes\":%ld,"
               "\"dense_fp32_bytes\":%lld,\"macs\":%lld}\n",
               (long long)params, (long long)nz, params ? (double)nz / params : 1.0, (long long)pbytes, fbytes,
               (long long)params * 4, (long long)mn_graph_macs(&g));
    } else {
        printf("total: %lld params, %lld nonzero (%.2f%%), %lld MACs per sample\n", (long long)params,
               (long long)nz, params ? 100.0 * nz / params : 0.0, (long long)mn_graph_macs(&g));
        if (cli_width(&a) > 0)
            printf("width %g: %lld bytes of parameters (the slimmable file, every width: %ld bytes)\n", cli_width(&a),
                   (long long)pbytes, fbytes);
        else
            printf("file: %ld bytes, %lld of them parameters (dense fp32 weights: %lld bytes, %.2fx)\n", fbytes,
                   (long long)pbytes, (long long)params * 4, fbytes > 0 ? (double)params * 4 / fbytes : 0.0);
    }
    mn_graph_free(&g);
    return 0;
}
