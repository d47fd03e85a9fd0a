/* minnow arch: architectures side by side (params and MACs), e.g. a
 * standard CNN against its depthwise-separable or multi-exit variant
 * (docs/EFFICIENT.md).  Works on built-in names, spec files/inline specs
 * and saved models. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minnow/arch.h"

static const char *HELP =
    "usage: minnow arch ARCH|MODEL.mnw [ARCH|MODEL.mnw ...] [--shape C,H,W] [--classes K] [--json]\n"
    "Parameters (all, in conv layers, in dense layers) and multiply-accumulates per\n"
    "sample of each architecture, and their ratios to the first one.\n"
    "  --shape C,H,W     input shape for built-ins and specs (default 1,28,28: MNIST)\n"
    "  --classes K       classes (default 10)\n"
    "example: minnow arch lenet5 lenet5dw    minnow arch conv4 conv4dw --shape 3,32,32\n";

typedef struct { int64_t params, conv, dense, macs; } arch_stats;

static arch_stats stats_of(const mn_graph *g) {
    arch_stats s = {0, 0, 0, mn_graph_macs(g)};
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *n = &g->nodes[i];
        if (n->op == MN_OP_INPUT) continue;
        for (int k = 0; k < n->np; k++) {
            const mn_param *p = &g->params[n->p[k]];
            if (!p->trainable) continue;
            s.params += p->n;
            if (n->op == MN_OP_CONV || n->op == MN_OP_BCONV) s.conv += p->n;
            if (n->op == MN_OP_DENSE || n->op == MN_OP_BDENSE) s.dense += p->n;
        }
    }
    return s;
}

int cmd_arch(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "shape: classes: json", HELP); /* any number of archs: compared */
    int c = 1, h = 28, w = 28, nclass = (int)cli_int(&a, "classes", 10, 1, 1 << 20);
    const char *shape = cli_str(&a, "shape", NULL);
    char tail;
    if (shape && sscanf(shape, "%d,%d,%d%c", &c, &h, &w, &tail) != 3)
        cli_die("--shape: expected C,H,W (three integers), got '%s'", shape);
    if (shape && (c <= 0 || h <= 0 || w <= 0 || c > 4096 || h > 4096 || w > 4096))
        cli_die("--shape %s: each of C, H and W must be in 1..4096", shape);
    cli_pos(&a, 0, "ARCH");
    int json = cli_flag(&a, "json");
    arch_stats first = {0, 0, 0, 0};
    if (json) printf("{\"archs\":[");
    else printf("%-12s %10s %10s %10s %12s %8s %8s\n", "arch", "params", "conv", "dense", "MACs", "conv x", "MACs x");
    for (int i = 0; i < a.npos; i++) {
        const char *name = a.pos[i];
        mn_graph g;
        size_t l = strlen(name);
        if (l > 4 && strcmp(name + l - 4, ".mnw") == 0) cli_load_model(name, &g);
        else cli_check(mn_arch_build(&g, name, c, h, w, nclass));
        arch_stats s = stats_of(&g);
        if (i == 0) first = s;
        /* "x" columns: how many times smaller than the first architecture. */
        double cr = s.conv ? (double)first.conv / s.conv : 0, mr = s.macs ? (double)first.macs / s.macs : 0;
        if (json)
            printf("%s{\"arch\":%s,\"params\":%lld,\"conv_params\":%lld,\"dense_params\":%lld,\"macs\":%lld,"
                   "\"conv_params_ratio\":%.4g,\"macs_ratio\":%.4g}",
                   i ? "," : "", cli_jq(strchr(name, ';') ? "custom" : name),
                   (long long)s.params, (long long)s.conv, (long long)s.dense, (long long)s.macs, cr, mr);
        else
            printf("%-12.12s %10lld %10lld %10lld %12lld %8.2f %8.2f\n", strchr(name, ';') ? "custom" : name,
                   (long long)s.params, (long long)s.conv, (long long)s.dense, (long long)s.macs, cr, mr);
        mn_graph_free(&g);
    }
    if (json) printf("]}\n");
    return 0;
}
