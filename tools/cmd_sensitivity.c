/* minnow sensitivity: per-layer val error under magnitude pruning, as a
 * table, JSON and an SVG line plot (Han et al. 2015, fig. 6). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_svg.h"
#include "minnow/io.h"
#include "minnow/prune.h"
#include "core/file.h"

static const char *HELP =
    "usage: minnow sensitivity IN.mnw [--data DIR] [--json] [--svg FILE]\n"
    "For each dense/conv layer alone, val error with its smallest weights pruned at\n"
    "0, 10, ..., 90, 95% (magnitude, no fine-tune): the guide for per-layer rates.\n"
    "  --data DIR|NAME   data directory or data set name (default mnist; minnow data list),\n"
    "                    CSV label column: --label NAME|INDEX (default: the column headed label)\n"
    "  --val NAME        split to measure on (default val)\n"
    "  --levels L        comma-separated sparsities in [0, 1] (default 0,0.1,...,0.9,0.95)\n"
    "  --svg FILE        also write the plot as SVG (atomically)\n"
    "  --json            one JSON object on stdout\n"
    "  --threads N       threads (default 1)\n";

/* s as a JSON string (paths and names from files may hold anything). */
#define MAX_LEVELS 64
#define MAX_LAYERS 64

static void parse_levels(const char *s, float *lv, int *n) {
    *n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        double v = strtod(tok, &end);
        if (end == tok || *end || !(v >= 0 && v <= 1)) cli_die("--levels: '%s' is not a fraction in [0, 1]", tok);
        if (*n == MAX_LEVELS) cli_die("--levels: at most %d levels", MAX_LEVELS);
        lv[(*n)++] = (float)v;
    }
    if (*n == 0) cli_die("--levels is empty");
}

/* The plot: x = weights pruned (%), y = val error (%), one line per layer. */
static void write_svg(const char *path, const mn_graph *g, const int *layers, int nl, const float *lv,
                      int nlv, const float *err) {
    double *x = malloc(sizeof(double) * (size_t)nlv), *y = malloc(sizeof(double) * (size_t)(nl * nlv));
    cli_series *s = malloc(sizeof(cli_series) * (size_t)nl);
    if (!x || !y || !s) cli_die("out of memory writing %s", path);
    for (int j = 0; j < nlv; j++) x[j] = 100.0 * lv[j];
    for (int i = 0; i < nl * nlv; i++) y[i] = 100.0 * err[i];
    for (int l = 0; l < nl; l++) s[l] = (cli_series){g->params[layers[l]].name, nlv, x, y + l * nlv, NULL, NULL};
    char title[160];
    snprintf(title, sizeof title, "Pruning sensitivity (%s)",
             mn_graph_get_meta(g, "arch") ? mn_graph_get_meta(g, "arch") : "model");
    cli_plot pl = {title, "weights pruned (%)", "val error (%)", 0, 0, 0, nl, s};
    cli_svg_plot(path, &pl);
    free(x);
    free(y);
    free(s);
}

int cmd_sensitivity(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 data: val: levels: svg: json threads:", HELP);
    const char *in = cli_pos(&a, 0, "input model IN.mnw");
    if (a.npos > 1) cli_die("unexpected argument '%s'", a.pos[1]);
    float lv[MAX_LEVELS];
    int nlv;
    parse_levels(cli_str(&a, "levels", "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95"), lv, &nlv);
    cli_threads(&a);
    mn_graph g;
    cli_load_model(in, &g);
    mn_dataset va;
    cli_load_data(cli_data_dir(&a), cli_str(&a, "val", "val"), &va);
    static int layers[MAX_LAYERS];
    static float err[MAX_LAYERS * MAX_LEVELS];
    int nl;
    cli_check(mn_prune_sensitivity(&g, &va, lv, nlv, layers, MAX_LAYERS, &nl, err));
    if (nl == 0) cli_die("%s: nothing to analyse: no float dense or conv weight to prune (binarized or compressed model)", in);
    const char *svg = cli_str(&a, "svg", NULL);
    if (svg) write_svg(svg, &g, layers, nl, lv, nlv, err);
    if (cli_flag(&a, "json")) {
        printf("{\"model\":");
        cli_json_str(in);
        printf(",\"levels\":[");
        for (int j = 0; j < nlv; j++) printf("%s%.6g", j ? "," : "", lv[j]);
        printf("],\"layers\":[");
        for (int l = 0; l < nl; l++) {
            printf("%s{\"name\":", l ? "," : "");
            cli_json_str(g.params[layers[l]].name);
            printf(",\"params\":%lld,\"val_error\":[", (long long)g.params[layers[l]].n);
            for (int j = 0; j < nlv; j++) printf("%s%.6g", j ? "," : "", err[l * nlv + j]);
            printf("]}");
        }
        printf("]}\n");
    } else {
        printf("val error (%%) with one layer pruned by magnitude, no fine-tune\n%-14s", "layer");
        for (int j = 0; j < nlv; j++) printf(" %5.0f%%", 100 * lv[j]);
        printf("\n");
        for (int l = 0; l < nl; l++) {
            printf("%-14s", g.params[layers[l]].name);
            for (int j = 0; j < nlv; j++) printf(" %6.2f", 100 * err[l * nlv + j]);
            printf("\n");
        }
        if (svg) printf("plot: %s\n", svg);
    }
    mn_graph_free(&g);
    mn_dataset_free(&va);
    return 0;
}
