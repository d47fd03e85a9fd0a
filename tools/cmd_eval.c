/* minnow eval */
#include <stdio.h>

#include "cli.h"

static const char *HELP =
    "usage: minnow eval FILE [--data DIR] [--split NAME] [--batch B] [--json]\n"
    "Error (fraction in [0,1]) and mean cross-entropy of a model on a split.\n"
    "  --split NAME      default val\n";

int cmd_eval(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "data: split: batch: json threads:", HELP);
    const char *path = cli_pos(&a, 0, "model FILE");
    cli_threads(&a);
    mn_graph g;
    cli_load_model(path, &g);
    mn_dataset d;
    cli_load_data(cli_data_dir(&a), cli_str(&a, "split", "val"), &d);
    mn_eval_result r;
    cli_check(mn_eval(&g, &d, (int)cli_int(&a, "batch", 250, 1, 1 << 16), &r));
    if (cli_flag(&a, "json"))
        printf("{\"n\":%d,\"errors\":%d,\"error\":%.6g,\"loss\":%.6g}\n", r.n, r.errors, r.error, r.loss);
    else
        printf("%s on %s: error %.2f%% (%d of %d), loss %.4f\n", path, cli_str(&a, "split", "val"),
               100 * r.error, r.errors, r.n, r.loss);
    mn_graph_free(&g);
    mn_dataset_free(&d);
    return 0;
}
