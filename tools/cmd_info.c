/* minnow info */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *HELP =
    "usage: minnow info FILE [--json]\n"
    "Per layer: output shape, parameters, nonzeros, bytes and MACs; totals and file size.\n";

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

int cmd_info(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "json", HELP);
    const char *path = cli_pos(&a, 0, "model FILE");
    mn_graph g;
    cli_load_model(path, &g);
    int json = cli_flag(&a, "json");
    int64_t params = 0, nz = 0;
    long fbytes = cli_file_size(path);
    if (json) printf("{\"file\":\"%s\",\"layers\":[", path);
    else printf("%-12s %-10s %-12s %10s %10s %8s %12s\n", "layer", "op", "output", "params", "nonzero", "density", "MACs");
    int first = 1;
    for (int i = 0; i < g.nnodes; i++) {
        const mn_node *n = &g.nodes[i];
        int64_t np = 0, nn = 0;
        for (int k = 0; k < n->np; k++) {
            if (!g.params[n->p[k]].trainable) continue;
            np += g.params[n->p[k]].n;
            nn += nonzeros(&g, n->p[k]);
        }
        params += np;
        nz += nn;
        char shp[64];
        shape_str(&n->out, shp, sizeof shp);
        int64_t macs = mn_node_macs(&g, i);
        if (json) {
            printf("%s{\"name\":\"%s\",\"op\":\"%s\",\"output\":\"%s\",\"params\":%lld,\"nonzero\":%lld,"
                   "\"dense_fp32_bytes\":%lld,\"macs\":%lld}",
                   first ? "" : ",", n->name, mn_op_name(n->op), shp, (long long)np, (long long)nn,
                   (long long)np * 4, (long long)macs);
            first = 0;
        } else if (np || macs) {
            printf("%-12s %-10s %-12s %10lld %10lld %7.1f%% %12lld\n", n->name, mn_op_name(n->op), shp,
                   (long long)np, (long long)nn, np ? 100.0 * nn / np : 100.0, (long long)macs);
        }
    }
    if (json) {
        printf("],\"params\":%lld,\"nonzero\":%lld,\"file_bytes\":%ld,\"dense_fp32_bytes\":%lld,\"macs\":%lld}\n",
               (long long)params, (long long)nz, fbytes, (long long)params * 4, (long long)mn_graph_macs(&g));
    } else {
        printf("total: %lld params, %lld nonzero (%.1f%%), %lld MACs per sample\n", (long long)params,
               (long long)nz, params ? 100.0 * nz / params : 0.0, (long long)mn_graph_macs(&g));
        printf("file: %ld bytes (dense fp32 weights: %lld bytes, %.2fx)\n", fbytes, (long long)params * 4,
               fbytes > 0 ? (double)params * 4 / fbytes : 0.0);
    }
    mn_graph_free(&g);
    return 0;
}
