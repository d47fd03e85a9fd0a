/* minnow compress */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/datasets.h"
#include "minnow/io.h"
#include "minnow/recipe.h"
#include "store/store.h"

static const char *HELP =
    "usage: minnow compress IN.mnw --recipe FILE -o OUT.mnw [--data DIR] [--json]\n"
    "Runs a compression recipe (YAML: prune, quantize, binarize, factorize and encode\n"
    "passes with those verbs' options and per-layer settings, see recipes/ and\n"
    "docs/RECIPES.md) on a trained model and prints\n"
    "the Deep Compression table: per layer the weights kept, index bits, bytes, and the\n"
    "file's compression ratio against the same model stored dense fp32.\n"
    "  --recipe FILE     the recipe (e.g. recipes/deep-compression-lenet300.yaml)\n"
    "  --data DIR        data for fine-tuning (train) and reports (val); default\n"
    "                    a directory or data set name (default mnist; minnow data list)\n"
    "  -o FILE           output model, written atomically at the end\n"
    "  --threads N       threads (default 1)\n"
    "  --json            one JSON object on stdout (progress stays on stderr)\n"
    "  --passes          list the passes a recipe may use, each with its options\n"
    "                    (those of `minnow VERB --method METHOD`), and exit\n";

typedef struct run {
    cli_log log;      /* first: cli_progress / cli_epoch read it */
    int npass;
    float err[MN_RECIPE_MAX_PASSES];
    const mn_recipe *r;
} run;

static void on_pass(void *ud, int i, const mn_recipe_pass *p) {
    run *u = ud;
    fprintf(stderr, "pass %d/%d: %s%s%s (line %d)\n", i + 1, u->r->npasses, mn_pass_name(p->kind),
            p->method[0] ? " " : "", p->method, p->line);
}

static void on_pass_done(void *ud, int i, const mn_recipe_pass *p, const mn_graph *g, float e) {
    run *u = ud;
    (void)p; (void)g;
    u->err[i] = e;
    u->npass = i + 1;
    if (e >= 0) fprintf(stderr, "pass %d/%d done: val error %.2f%%\n", i + 1, u->r->npasses, 100 * e);
}

/* Bytes of g's file with every weight stored dense fp32: the baseline. */
static long dense_file_bytes(const mn_graph *g) {
    mn_graph d;
    cli_check(mn_graph_clone(g, &d));
    mn_graph_drop_stores(&d);
    unsigned char *buf;
    size_t len;
    cli_check(mn_model_save_mem(&d, &buf, &len));
    free(buf);
    mn_graph_free(&d);
    return (long)len;
}

static float val_error(mn_graph *g, const mn_dataset *va) {
    if (!va) return -1;
    mn_eval_result r;
    cli_check(mn_eval(g, va, 250, &r));
    return r.error;
}

/* --passes: the registry (minnow/pass.h). */
static int list_passes(int json) {
    if (json) printf("{\"passes\":[");
    for (int i = 0; i < mn_pass_count(); i++) {
        const mn_pass_def *d = mn_pass_at(i);
        if (json) printf("%s{\"pass\":\"%s\",\"method\":\"%s\",\"options\":[", i ? "," : "", mn_pass_verb(d), mn_pass_method(d));
        else printf("%s%s%s:", mn_pass_verb(d), *mn_pass_method(d) ? " " : "", mn_pass_method(d));
        for (int j = 0; j < mn_pass_nopts(d); j++) {
            if (json) printf("%s\"%s\"", j ? "," : "", mn_pass_opt_name(d, j));
            else printf(" %s", mn_pass_opt_name(d, j));
        }
        printf(json ? "]}" : "\n");
    }
    if (json) printf("]}\n");
    return 0;
}

int cmd_compress(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 recipe: data: o: json threads: passes", HELP);
    if (cli_flag(&a, "passes")) {
        if (a.npos) cli_die("--passes takes no model, got '%s'", a.pos[0]);
        return list_passes(cli_flag(&a, "json"));
    }
    const char *in = cli_pos(&a, 0, "input model IN.mnw"), *out = cli_str(&a, "o", NULL);
    const char *rpath = cli_str(&a, "recipe", NULL);
    if (!rpath) cli_die("--recipe FILE is required (see --help)");
    if (!out) cli_die("-o OUT.mnw is required (see --help)");
    cli_threads(&a);
    static mn_recipe r;
    cli_check(mn_recipe_load(rpath, &r));
    if (!r.npasses) cli_die("%s: a training recipe (no 'passes'): run it with `minnow train --recipe`", rpath);
    mn_graph g;
    cli_load_model(in, &g);
    for (int i = 0; i < r.npasses; i++)
        if (r.pass[i].kind == MN_PASS_PRUNE)
            cli_refuse_stored(&g, "compress (its prune pass)", 1u << MN_ST_F32 | 1u << MN_ST_CSR,
                              "compress the float model");
    /* Training data only when a pass trains; val whenever it is there. */
    mn_dataset tr, va;
    int have_tr = 0, have_va = 0;
    const char *dir = cli_data_dir(&a);
    if (mn_recipe_needs_train(&r) || cli_flag(&a, "data")) {
        cli_load_data(dir, "train", &tr);
        cli_load_data(dir, "val", &va);
        have_tr = have_va = 1;
    } else if (mn_data_load_split(dir, "val", NULL, &va, NULL) == MN_OK) {
        have_va = 1;
    }
    if (have_tr) cli_check(mn_check_data(&g, &tr));
    if (have_va) cli_check(mn_check_data(&g, &va));
    long dense_bytes = dense_file_bytes(&g), in_bytes = cli_file_size(in);
    float e0 = val_error(&g, have_va ? &va : NULL);
    static run u;
    u.r = &r;
    u.log.quiet = 0;
    mn_recipe_hooks h = {on_pass, on_pass_done, cli_progress, cli_epoch, &u};
    double t0 = mn_now();
    cli_check(mn_recipe_run(&g, &r, have_tr ? &tr : NULL, have_va ? &va : NULL, &h));
    double secs = mn_now() - t0;
    float e1 = val_error(&g, have_va ? &va : NULL);
    cli_check_kept("compress", in, &g, 0);
    cli_check(mn_graph_set_meta(&g, "recipe", r.name));
    if (e1 >= 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.6f", e1);
        cli_check(mn_graph_set_meta(&g, "val_error", buf));
    }
    cli_check(mn_model_save(&g, out));
    long out_bytes = cli_file_size(out);
    static mn_dc_row rows[256];
    int nr = mn_dc_table(&g, rows, 256);
    double ratio = out_bytes > 0 ? (double)dense_bytes / out_bytes : 0;
    if (cli_flag(&a, "json")) {
        printf("{\"input\":");
        cli_json_str(in);
        printf(",\"output\":");
        cli_json_str(out);
        printf(",\"recipe\":");
        cli_json_str(r.name);
        printf(",\"passes\":[");
        for (int i = 0; i < u.npass; i++)
            printf("%s{\"pass\":\"%s\",\"line\":%d,\"val_error\":%.6g}", i ? "," : "", mn_pass_name(r.pass[i].kind),
                   r.pass[i].line, u.err[i]);
        printf("],\"layers\":[");
        for (int i = 0; i < nr; i++) {
            const mn_dc_row *w = &rows[i];
            printf("%s{\"name\":", i ? "," : "");
            cli_json_str(w->name);
            printf(",\"weights\":%lld,\"nonzero\":%lld,\"kept\":%.6g,\"storage\":\"%s\",\"bits\":%d,"
                   "\"index_bits\":%.4f,\"gap_bits\":%.4f,\"weight_bytes\":%zu,\"bytes\":%zu}",
                   (long long)w->weights, (long long)w->nonzero, w->weights ? (double)w->nonzero / w->weights : 0,
                   w->storage, w->bits, w->index_bits, w->gap_bits, w->weight_bytes, w->bytes);
        }
        printf("],\"input_bytes\":%ld,\"dense_file_bytes\":%ld,\"file_bytes\":%ld,\"ratio\":%.6g,"
               "\"val_error_before\":%.6g,\"val_error\":%.6g,\"seconds\":%.4f}\n",
               in_bytes, dense_bytes, out_bytes, ratio, e0, e1, secs);
    } else {
        printf("Deep Compression of %s with recipe '%s' -> %s\n", in, r.name, out);
        printf("%-12s %9s %8s %-9s %5s %8s %8s %9s %8s\n", "layer", "weights", "kept", "storage", "bits",
               "idx b/nz", "gap b/nz", "bytes", "ratio");
        int64_t tw = 0, tn = 0;
        for (int i = 0; i < nr; i++) {
            const mn_dc_row *w = &rows[i];
            tw += w->weights;
            tn += w->nonzero;
            char bits[8] = "32", ib[16] = "-", gb[16] = "-";
            if (w->bits) {
                snprintf(bits, sizeof bits, "%d", w->bits);
                snprintf(ib, sizeof ib, "%.2f", w->index_bits);
                if (w->gap_bits > 0) snprintf(gb, sizeof gb, "%.2f", w->gap_bits);
            }
            printf("%-12s %9lld %7.2f%% %-9s %5s %8s %8s %9zu %7.1fx\n", w->name, (long long)w->weights,
                   w->weights ? 100.0 * w->nonzero / w->weights : 0.0, w->storage, bits, ib, gb, w->weight_bytes,
                   w->weight_bytes ? 4.0 * w->weights / w->weight_bytes : 0.0);
        }
        printf("%-12s %9lld %7.2f%%\n", "total", (long long)tw, tw ? 100.0 * tn / tw : 0.0);
        printf("file: %ld bytes; dense fp32 .mnw: %ld bytes; compression %.1fx\n", out_bytes, dense_bytes, ratio);
        if (e0 >= 0)
            printf("val error: %.2f%% before, %.2f%% after (%+.2f points)\n", 100 * e0, 100 * e1, 100 * (e1 - e0));
    }
    mn_graph_free(&g);
    if (have_tr) mn_dataset_free(&tr);
    if (have_va) mn_dataset_free(&va);
    return 0;
}
