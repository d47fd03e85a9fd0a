/* minnow binarize */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minnow/binary.h"
#include "minnow/io.h"
#include "store/store.h"
#include "store/binary.h"

static const char *HELP =
    "usage: minnow binarize IN.mnw --method binaryconnect|xnor|bitwise -o OUT.mnw [options]\n"
    "Trains a binarized copy of a model on DIR/train (float ghost weights, straight-through\n"
    "gradients) starting from its weights, then stores every binary weight as 1 bit (plus a\n"
    "scale per unit) and folds batchnorm + sign into integer thresholds on the popcount.\n"
    "  --method M        binaryconnect: binary weights, real activations (Courbariaux 2015)\n"
    "                    xnor: binary weights and activations, per-unit scales (Rastegari 2016)\n"
    "                    bitwise: tanh pretraining, then sign (Kim & Smaragdis 2016)\n"
    "  --keep-first-last the first and last weight layers stay f32\n"
    "  --stochastic      binaryconnect: stochastic binarization while training\n"
    "  --input-scale     xnor: XNOR-Net's input scale (beta for dense, K for conv)\n"
    "  --sparsity F      bitwise: fraction of each binary layer's weights set to 0 (default 0)\n"
    "  --pretrain-epochs N  bitwise: epochs of the tanh phase (default --epochs)\n"
    "  --no-fold         keep batchnorm and sign nodes instead of thresholds\n"
    "  --ghost-lr-scale X  multiplies the ghost weights' steps (default 10 binaryconnect, else 1)\n"
    "  --data DIR|NAME   data directory or data set name (default mnist; minnow data list),\n"
    "                    CSV label column: --label NAME|INDEX (default: the column headed label)\n"
    "  --split NAME      training split (default train)\n"
    "  --val NAME        validation split, 'none' to skip (default val)\n"
    "  -o FILE           output model (.mnw), written atomically at the end\n"
    "  --json            print a JSON report on stdout\n";

#define BIN_OPTS "method: keep-first-last stochastic input-scale sparsity: pretrain-epochs: no-fold ghost-lr-scale: "

/* Options shared with `minnow train --binary`. */
static void binarize_opts(const cli_args *a, const char *method, mn_binarize_opts *o) {
    cli_check(mn_binarize_opts_init(o, method));
    o->keep_first_last = cli_flag(a, "keep-first-last");
    o->stochastic = cli_flag(a, "stochastic");
    o->input_scale = cli_flag(a, "input-scale");
    o->sparsity = (float)cli_num(a, "sparsity", 0, 0, 0.999);
    o->pre_epochs = (int)cli_int(a, "pretrain-epochs", -1, 0, 100000);
    o->fold = !cli_flag(a, "no-fold");
    o->ghost_lr_scale = (float)cli_num(a, "ghost-lr-scale", o->ghost_lr_scale, 1e-3, 1e3);
    if (o->stochastic && o->method != MN_BINARIZE_BC) cli_die("--stochastic is for --method binaryconnect");
    if (o->input_scale && o->method != MN_BINARIZE_XNOR) cli_die("--input-scale is for --method xnor");
    if ((o->sparsity > 0 || o->pre_epochs >= 0) && o->method != MN_BINARIZE_BITWISE)
        cli_die("--sparsity and --pretrain-epochs are for --method bitwise");
}

static int64_t bits_of(const mn_graph *g, int64_t *binary_weights) {
    int64_t bytes = 0;
    *binary_weights = 0;
    for (int p = 0; p < g->nparams; p++) {
        bytes += (int64_t)mn_param_file_bytes(g, p);
        if (mn_binary_store(g->params[p].store)) *binary_weights += g->params[p].n;
    }
    return bytes;
}

int cmd_binarize(int argc, char **argv) {
    char help[4096];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 10);
    cli_args a;
    cli_parse(&a, argc, argv, BIN_OPTS "@1 data: split: val: o: json " CLI_TRAIN_OPTS, help);
    const char *in = cli_pos(&a, 0, "model IN.mnw"), *out = cli_str(&a, "o", NULL);
    const char *method = cli_str(&a, "method", NULL);
    if (!method) cli_die("--method is required (binaryconnect, xnor or bitwise)");
    if (!out) cli_die("-o FILE is required (see --help)");
    mn_binarize_opts bo;
    binarize_opts(&a, method, &bo);
    cli_threads(&a);
    mn_train_cfg cfg; /* checks the training options (usage errors) before the loads */
    cli_train_cfg(&a, &cfg, 10);
    mn_graph g;
    cli_load_model(in, &g);
    if (mn_graph_is_binary(&g)) cli_die("%s is binarized already", in);
    const char *dir = cli_data_dir(&a), *vsplit = cli_str(&a, "val", "val");
    mn_dataset tr, va;
    cli_load_data(dir, cli_str(&a, "split", "train"), &tr);
    int have_val = strcmp(vsplit, "none") != 0;
    if (have_val) cli_load_data(dir, vsplit, &va);
    mn_eval_result before = {0}, after = {0};
    if (have_val) cli_check(mn_eval(&g, &va, 250, &before));
    static cli_log log;
    double t0 = mn_now();
    mn_pass pass; /* the registry's pass for the method, as a recipe's */
    cli_pass(&a, "binarize", bo.method == MN_BINARIZE_BC ? "binaryconnect" : method, NULL, &pass);
    mn_pass_env env;
    cli_pass_env(&a, &env, &log);
    env.train = &tr;
    env.val = have_val ? &va : NULL;
    cli_check(mn_pass_run(&pass, &g, &env));
    mn_pass_free(&pass);
    double secs = mn_now() - t0;
    if (have_val) {
        cli_check(mn_eval(&g, &va, 250, &after));
        char buf[64];
        snprintf(buf, sizeof buf, "%.6f", after.error);
        cli_check(mn_graph_set_meta(&g, "val_error", buf));
    }
    cli_check(mn_model_save(&g, out));
    long in_bytes = cli_file_size(in), out_bytes = cli_file_size(out);
    int64_t nbin, param_bytes = bits_of(&g, &nbin);
    double ratio = out_bytes > 0 ? (double)in_bytes / out_bytes : 0;
    if (cli_flag(&a, "json")) {
        printf("{\"method\":\"%s\",\"input\":%s,\"output\":%s,\"keep_first_last\":%d,"
               "\"input_bytes\":%ld,\"output_bytes\":%ld,\"ratio\":%.4f,\"param_bytes\":%lld,"
               "\"binary_weights\":%lld,\"seconds\":%.4f,\"epochs\":",
               method, cli_jq(in), cli_jq(out), bo.keep_first_last, in_bytes, out_bytes, ratio, (long long)param_bytes,
               (long long)nbin, secs);
        cli_print_epochs_json(stdout, &log);
        printf(",\"val_error_before\":%.6g,\"val_error\":%.6g}\n", have_val ? before.error : -1.0,
               have_val ? after.error : -1.0);
    } else {
        if (have_val)
            printf("val error: %.2f%% f32 -> %.2f%% binary (%s)\n", 100 * before.error, 100 * after.error, method);
        printf("%s: %ld bytes -> %s: %ld bytes (%.1fx smaller, %lld weights at 1 bit)\n", in, in_bytes, out,
               out_bytes, ratio, (long long)nbin);
    }
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    if (have_val) mn_dataset_free(&va);
    return 0;
}
