/* minnow eval: error and loss, and early exit for multi-exit models
 * (minnow/exits.h, docs/EARLY_EXIT.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_svg.h"
#include "minnow/exits.h"
#include "minnow/io.h"
#include "minnow/gate.h"
#include "minnow/slim.h"
#include "core/file.h"

static const char *HELP =
    "usage: minnow eval FILE [--data DIR|NAME] [--split train|val|test] [--label COL] [--batch B] [--json]\n"
    "       minnow eval FILE --exit-threshold P | --sweep [--svg FILE] [--json]\n"
    "       minnow eval FILE --width W | --sweep-width [--svg FILE] [--json]\n"
    "Error (fraction in [0,1]) and mean cross-entropy of a model on a split.\n"
    "  --split NAME      default val\n"
    "  --threads N       threads (default 1)\n"
    "Multi-exit models (several heads, e.g. minnow train --arch lenet5x3 --exit-weights ...):\n"
    "  --exit-threshold P  each sample stops at the first head whose top softmax\n"
    "                    probability is >= P (later layers really skipped); reports\n"
    "                    error, average MACs per sample and how many left at each head\n"
    "  --sweep           error vs average MACs over thresholds (table, or --json)\n"
    "  --svg FILE        with --sweep or --sweep-width: also write the curve as an SVG plot\n"
    "Slimmable models (minnow train --widths ...; docs/DYNAMIC.md):\n"
    "  --width W         run width W only (default the full width)\n"
    "  --sweep-width     error, parameters and MACs at each of the model's widths\n"
    "Gated models (minnow gate): each sample runs alone (batch 1), as its gates decide;\n"
    "avg_macs is what ran, with the latency by how many gates opened.\n";

static const float g_sweep[] = {0.0f, 0.5f, 0.6f, 0.7f, 0.8f, 0.85f, 0.9f, 0.95f, 0.97f, 0.98f,
                                0.99f, 0.995f, 0.999f, 0.9999f, 1.01f};
#define NSWEEP (int)(sizeof g_sweep / sizeof g_sweep[0])

static void print_taken_json(const mn_exit_result *r) {
    printf("\"taken\":[");
    for (int e = 0; e < r->nexits; e++) printf("%s%d", e ? "," : "", r->taken[e]);
    printf("]");
}

static void exit_names(const mn_graph *g, const mn_exits *ex, char *buf, size_t n) {
    buf[0] = 0;
    for (int e = 0; e < ex->n; e++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", e ? ", " : "", g->nodes[ex->node[e]].name);
    }
}

/* Error (%) against average MMACs: one line, a point per threshold. */
static void write_svg(const char *path, const mn_exit_result *r, int n, const char *title) {
    double x[64], y[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) x[i] = r[i].avg_macs / 1e6, y[i] = 100.0 * r[i].error;
    cli_series s = {"thresholds", n, x, y, NULL, NULL};
    cli_plot pl = {title, "average MMACs per sample", "error (%)", 0, 0, 0, 1, &s};
    cli_svg_plot(path, &pl);
}

static int early_exit(const cli_args *a, const char *path, mn_graph *g, const mn_dataset *d, int batch) {
    int json = cli_flag(a, "json"), sweep = cli_flag(a, "sweep");
    const char *split = cli_str(a, "split", "val"), *svg = cli_str(a, "svg", NULL);
    if (svg && !sweep) cli_die("--svg needs --sweep");
    mn_exits ex;
    cli_check(mn_exits_init(&ex, g));
    if (ex.n < 2) cli_die("%s has one head: early exit needs a multi-exit model (e.g. --arch lenet5x3)", path);
    char names[512];
    exit_names(g, &ex, names, sizeof names);
    if (!sweep) {
        float th = (float)cli_num(a, "exit-threshold", 0.9, 0.0, 1.01);
        mn_exit_result r;
        double t0 = mn_now();
        cli_check(mn_exits_eval(g, d, th, batch, &r));
        double secs = mn_now() - t0;
        if (json) {
            printf("{\"n\":%d,\"threshold\":%g,\"errors\":%d,\"error\":%.6g,\"avg_macs\":%.1f,\"full_macs\":%lld,"
                   "\"macs_saved\":%.6g,\"seconds\":%.4f,",
                   r.n, (double)th, r.errors, r.error, r.avg_macs, (long long)r.full_macs,
                   1.0 - r.avg_macs / (double)r.full_macs, secs);
            print_taken_json(&r);
            printf("}\n");
        } else {
            printf("%s on %s, exit at top probability >= %g: error %.2f%% (%d of %d)\n", path, split, (double)th,
                   100 * r.error, r.errors, r.n);
            printf("average MACs per sample %.0f of %lld (%.1f%% fewer); %.3f s\n", r.avg_macs,
                   (long long)r.full_macs, 100 * (1 - r.avg_macs / (double)r.full_macs), secs);
            for (int e = 0; e < r.nexits; e++)
                printf("  exit %d %-10s %5d samples (%.1f%%), %lld MACs\n", e + 1, g->nodes[ex.node[e]].name,
                       r.taken[e], 100.0 * r.taken[e] / r.n, (long long)ex.macs[e]);
        }
        mn_exits_free(&ex);
        return 0;
    }
    mn_exits_probe p;
    cli_check(mn_exits_probe_run(g, d, batch, &p));
    mn_exit_result r[NSWEEP];
    for (int i = 0; i < NSWEEP; i++) mn_exits_at(&p, g_sweep[i], &r[i]);
    if (json) {
        printf("{\"n\":%d,\"exits\":[", p.n);
        for (int e = 0; e < ex.n; e++)
            printf("%s{\"node\":%s,\"macs\":%lld,\"error_alone\":%.6g}", e ? "," : "", cli_jq(g->nodes[ex.node[e]].name),
                   (long long)ex.macs[e], (double)r[0].exit_errors[e] / p.n);
        printf("],\"sweep\":[");
        for (int i = 0; i < NSWEEP; i++) {
            printf("%s{\"threshold\":%g,\"error\":%.6g,\"avg_macs\":%.1f,", i ? "," : "", (double)g_sweep[i],
                   r[i].error, r[i].avg_macs);
            print_taken_json(&r[i]);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%s on %s: exits %s\n", path, split, names);
        for (int e = 0; e < ex.n; e++)
            printf("  exit %d alone: error %.2f%%, %lld MACs\n", e + 1, 100.0 * r[0].exit_errors[e] / p.n,
                   (long long)ex.macs[e]);
        printf("%10s %8s %12s %8s  %s\n", "threshold", "error%", "avg MACs", "saved%", "samples per exit");
        for (int i = 0; i < NSWEEP; i++) {
            printf("%10g %8.2f %12.0f %8.1f  ", (double)g_sweep[i], 100 * r[i].error, r[i].avg_macs,
                   100 * (1 - r[i].avg_macs / (double)r[i].full_macs));
            for (int e = 0; e < r[i].nexits; e++) printf("%s%d", e ? "/" : "", r[i].taken[e]);
            printf("\n");
        }
    }
    if (svg) write_svg(svg, r, NSWEEP, "early exit: error vs average MACs");
    mn_exits_probe_free(&p);
    mn_exits_free(&ex);
    return 0;
}

/* --sweep-width: each width of a slimmable model cut out and evaluated. */
static int sweep_width(const cli_args *a, const char *path, const mn_dataset *d, int batch) {
    mn_graph g;
    cli_check(mn_model_load(path, &g));
    float ws[MN_SLIM_MAX];
    int n = mn_slim_widths(&g, ws), json = cli_flag(a, "json");
    if (n < 0) cli_die("%s: %s", path, mn_errmsg());
    if (n == 0) cli_die("--sweep-width: %s is not a slimmable model (minnow train --widths)", path);
    double x[MN_SLIM_MAX], y[MN_SLIM_MAX];
    const char *split = cli_str(a, "split", "val");
    if (json) printf("{\"split\":%s,\"widths\":[", cli_jq(split));
    else printf("%s on %s:\n%8s %8s %10s %12s\n", path, split, "width", "error%", "params", "MACs");
    for (int i = 0; i < n; i++) {
        mn_graph s;
        cli_check(mn_slim_select(&g, ws[i], &s));
        mn_eval_result r;
        cli_check(mn_eval(&s, d, batch, &r));
        int64_t params = cli_trainable_params(&s), macs = mn_graph_macs(&s);
        x[i] = macs / 1e6, y[i] = 100.0 * r.error;
        if (json)
            printf("%s{\"width\":%g,\"n\":%d,\"errors\":%d,\"error\":%.6g,\"loss\":%.6g,\"params\":%lld,\"avg_macs\":%lld}",
                   i ? "," : "", (double)ws[i], r.n, r.errors, r.error, r.loss, (long long)params, (long long)macs);
        else
            printf("%8g %8.2f %10lld %12lld\n", (double)ws[i], 100.0 * r.error, (long long)params, (long long)macs);
        mn_graph_free(&s);
    }
    if (json) printf("]}\n");
    const char *svg = cli_str(a, "svg", NULL);
    if (svg) {
        cli_series sr = {"widths", n, x, y, NULL, NULL};
        cli_plot pl = {"slimmable network: error vs MACs per width", "MMACs per sample", "error (%)", 0, 0, 0, 1, &sr};
        cli_svg_plot(svg, &pl);
    }
    mn_graph_free(&g);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 data: split: batch: json threads: exit-threshold: sweep svg: width: sweep-width", HELP);
    const char *path = cli_pos(&a, 0, "model FILE");
    cli_threads(&a);
    int xflags = cli_flag(&a, "exit-threshold") || cli_flag(&a, "sweep");
    if (cli_flag(&a, "sweep-width") && (xflags || cli_flag(&a, "width")))
        cli_die("--sweep-width runs every width; it excludes --width, --sweep and --exit-threshold");
    int batch = (int)cli_int(&a, "batch", 250, 1, 1 << 16);
    mn_dataset d;
    if (cli_flag(&a, "sweep-width")) {
        cli_load_data(cli_data_dir(&a), cli_str(&a, "split", "val"), &d);
        int rc = sweep_width(&a, path, &d, batch);
        mn_dataset_free(&d);
        return rc;
    }
    mn_graph g;
    cli_load_model_width(path, &g, cli_width(&a), NULL);
    cli_load_data(cli_data_dir(&a), cli_str(&a, "split", "val"), &d);
    if (cli_str(&a, "exit-threshold", NULL) || cli_flag(&a, "sweep") || cli_str(&a, "svg", NULL)) {
        int rc = early_exit(&a, path, &g, &d, batch);
        mn_graph_free(&g);
        mn_dataset_free(&d);
        return rc;
    }
    if (mn_graph_is_gated(&g)) { /* per-sample decisions: run one sample at a time */
        mn_gate_eval ge;
        cli_check(mn_gate_evaluate(&g, &d, &ge));
        int json = cli_flag(&a, "json");
        if (json) printf("{\"split\":%s,\"n\":%d,\"errors\":%d,\"error\":%.6g,\"avg_macs\":%.1f,", cli_jq(cli_str(&a, "split", "val")),
                         ge.n, ge.errors, ge.n ? (double)ge.errors / ge.n : 0.0, ge.avg_macs);
        cli_gate_report(json ? "gates" : path, &ge, json);
        if (json) printf("}\n");
        mn_graph_free(&g);
        mn_dataset_free(&d);
        return 0;
    }
    mn_eval_result r;
    cli_check(mn_eval(&g, &d, batch, &r));
    /* Without run-time decisions every sample runs the whole graph (with
     * --exit-threshold, above, the average is over the exits taken). */
    int64_t macs = mn_graph_macs(&g);
    if (cli_flag(&a, "json"))
        printf("{\"split\":%s,\"n\":%d,\"errors\":%d,\"error\":%.6g,\"loss\":%.6g,\"avg_macs\":%lld}\n",
               cli_jq(cli_str(&a, "split", "val")), r.n, r.errors, r.error, r.loss, (long long)macs);
    else
        printf("%s on %s: error %.2f%% (%d of %d), loss %.4f, %lld MACs per sample\n", path, cli_str(&a, "split", "val"),
               100 * r.error, r.errors, r.n, r.loss, (long long)macs);
    mn_graph_free(&g);
    mn_dataset_free(&d);
    return 0;
}
