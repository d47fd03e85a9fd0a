/* minnow demo: the whole story on real MNIST, through the same verbs a user
 * types, so the demo can never drift from the CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmds.h"

static const char *HELP =
    "usage: minnow demo [--data DIR] [--out DIR] [--epochs N]\n"
    "Trains LeNet-300-100 on DIR/train, reports DIR/val, then shows the model's\n"
    "size and speed.  Files go to --out (default out/).\n";

static void run(const char *title, int (*fn)(int, char **), int n, const char **args) {
    printf("\n== %s\n$ minnow", title);
    for (int i = 0; i < n; i++) printf(" %s", args[i]);
    printf("\n");
    fflush(stdout);
    if (fn(n, (char **)args) != 0) cli_die("demo step '%s' failed", title);
    fflush(stdout);
}

int cmd_demo(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "data: out: epochs:", HELP);
    const char *data = cli_data_dir(&a), *out = cli_str(&a, "out", "out");
    const char *epochs = cli_str(&a, "epochs", "15");
    mkdir(out, 0755);
    char dense[1024];
    snprintf(dense, sizeof dense, "%s/lenet300.mnw", out);
    const char *train[] = {"train", "--arch", "lenet300", "--data", data, "--epochs", epochs, "-o", dense};
    run("train LeNet-300-100 (Adam 1.2e-3, batch 60) on train, validate on val", cmd_train, 9, train);
    const char *ev[] = {"eval", dense, "--data", data, "--split", "val"};
    run("evaluate on val", cmd_eval, 6, ev);
    const char *info[] = {"info", dense};
    run("size", cmd_info, 2, info);
    const char *bench[] = {"bench", dense, "--batch", "1"};
    run("batch-1 latency", cmd_bench, 4, bench);
    return 0;
}
