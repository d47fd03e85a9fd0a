/* minnow sensitivity: per-layer val error under magnitude pruning, as a
 * table, JSON and an SVG line plot (Han et al. 2015, fig. 6). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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

/* The plot: x = sparsity, y = val error, one line per layer. */
static void write_svg(const char *path, const mn_graph *g, const int *layers, int nl, const float *lv,
                      int nlv, const float *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) cli_die("out of memory writing %s", path);
    static const char *colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    const double W = 640, H = 420, L = 60, R = 150, T = 30, B = 50, pw = W - L - R, ph = H - T - B;
    float ymax = 0;
    for (int i = 0; i < nl * nlv; i++) if (err[i] > ymax) ymax = err[i];
    double top = 100 * ymax <= 10 ? 10 : 100 * ymax <= 25 ? 25 : 100 * ymax <= 50 ? 50 : 100;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%g\" height=\"%g\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%g\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Pruning sensitivity (%s)</text>\n",
            L + pw / 2, mn_graph_get_meta(g, "arch") ? mn_graph_get_meta(g, "arch") : "model");
    for (int k = 0; k <= 5; k++) { /* grid and ticks */
        double y = T + ph - ph * k / 5, x = L + pw * k / 5;
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#ddd\"/>\n", L, y, L + pw, y);
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%g%%</text>\n", L - 6, y + 4, top * k / 5);
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#ddd\"/>\n", x, T, x, T + ph);
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%d%%</text>\n", x, T + ph + 16, 20 * k);
    }
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">weights pruned</text>\n", L + pw / 2, H - 10);
    fprintf(f, "<text transform=\"translate(16 %g) rotate(-90)\" text-anchor=\"middle\">val error</text>\n", T + ph / 2);
    for (int l = 0; l < nl; l++) {
        const char *c = colors[l % 10];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
        for (int j = 0; j < nlv; j++) {
            double e = 100 * err[l * nlv + j];
            fprintf(f, "%s%.1f,%.1f", j ? " " : "", L + pw * lv[j], T + ph - ph * (e > top ? top : e) / top);
        }
        fprintf(f, "\"/>\n");
        for (int j = 0; j < nlv; j++) {
            double e = 100 * err[l * nlv + j];
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", L + pw * lv[j],
                    T + ph - ph * (e > top ? top : e) / top, c);
        }
        double ly = T + 10 + 18 * l;
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>\n", W - R + 12,
                ly, W - R + 32, ly, c);
        /* Layer names come from the file: escape what XML cares about. */
        fprintf(f, "<text x=\"%g\" y=\"%g\">", W - R + 38, ly + 4);
        for (const char *s = g->params[layers[l]].name; *s; s++) {
            if (*s == '<') fputs("&lt;", f);
            else if (*s == '>') fputs("&gt;", f);
            else if (*s == '&') fputs("&amp;", f);
            else if ((unsigned char)*s >= 32 && *s != '"') fputc(*s, f);
        }
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) cli_die("out of memory writing %s", path);
    mn_status st = mn_write_file_atomic(path, buf, len);
    free(buf);
    cli_check(st);
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
