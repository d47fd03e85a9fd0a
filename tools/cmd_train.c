/* minnow train */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minnow/arch.h"
#include "minnow/io.h"

static const char *HELP =
    "usage: minnow train --arch NAME|SPEC --data DIR -o FILE [options]\n"
    "Trains a network from scratch on DIR/train and reports DIR/val each epoch.\n"
    "  --arch A          lenet300 lenet5 mlp1200 mlp800 conv2 conv4 conv6, a spec file,\n"
    "                    or an inline spec ('input x; dense fc units=10')\n"
    "  --data DIR        data directory (default $MINNOW_DATA/mnist or ../shared/data/mnist)\n"
    "  --split NAME      training split (default train)\n"
    "  --val NAME        validation split, 'none' to skip (default val)\n"
    "  -o FILE           output model (.mnw), written atomically at the end\n"
    "  --json            print a JSON report on stdout\n";

int cmd_train(int argc, char **argv) {
    char help[4096];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 15);
    cli_args a;
    cli_parse(&a, argc, argv, "arch: data: split: val: o: json " CLI_TRAIN_OPTS, help);
    const char *arch = cli_str(&a, "arch", NULL), *out = cli_str(&a, "o", NULL);
    if (!arch) cli_die("--arch is required (see --help)");
    if (!out) cli_die("-o FILE is required (see --help)");
    cli_threads(&a);
    mn_train_cfg cfg;
    cli_train_cfg(&a, &cfg, 15);
    const char *dir = cli_data_dir(&a), *vsplit = cli_str(&a, "val", "val");
    mn_dataset tr, va;
    cli_load_data(dir, cli_str(&a, "split", "train"), &tr);
    int have_val = strcmp(vsplit, "none") != 0;
    if (have_val) cli_load_data(dir, vsplit, &va);
    mn_graph g;
    /* Classes: as many as the labels seen in train (and val) need. */
    int nclass = have_val && va.nclass > tr.nclass ? va.nclass : tr.nclass;
    cli_check(mn_arch_build(&g, arch, tr.c, tr.h, tr.w, nclass));
    mn_rng rng;
    mn_rng_seed(&rng, cfg.seed);
    mn_graph_init_params(&g, &rng);
    cli_check(mn_set_input_norm(&g, &tr));
    static cli_log log;
    cfg.ud = &log;
    double t0 = mn_now();
    cli_check(mn_train(&g, &tr, have_val ? &va : NULL, &cfg));
    double secs = mn_now() - t0;
    char buf[64];
    snprintf(buf, sizeof buf, "%d", cfg.epochs);
    cli_check(mn_graph_set_meta(&g, "epochs", buf));
    if (log.n && have_val) {
        snprintf(buf, sizeof buf, "%.6f", log.e[log.n - 1].val_error);
        cli_check(mn_graph_set_meta(&g, "val_error", buf));
    }
    cli_check(mn_model_save(&g, out));
    if (cli_flag(&a, "json")) {
        printf("{\"arch\":\"%s\",\"output\":\"%s\",\"params\":%lld,\"seconds\":%.4f,\"epochs\":",
               mn_graph_get_meta(&g, "arch"), out, (long long)g.nw, secs);
        cli_print_epochs_json(stdout, &log);
        printf(",\"val_error\":%.6g}\n", log.n && have_val ? log.e[log.n - 1].val_error : -1.0);
    }
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    if (have_val) mn_dataset_free(&va);
    return 0;
}
