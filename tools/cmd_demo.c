/* minnow demo: the whole story on real MNIST (else Fashion-MNIST, which
 * Debian packages, so the demo runs on a fresh machine), through the same verbs a user
 * types, so the demo can never drift from the CLI: train LeNet-300-100, then
 * Deep Compression (prune -> k-means share -> Huffman) and int8 quantization,
 * each with its real file size, val error and measured latency. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmds.h"
#include "minnow/dist.h"
#include "minnow/datasets.h"
#include "core/file.h"

static const char *HELP =
    "usage: minnow demo [--data DIR|NAME] [--out DIR] [--epochs N] [--recipe FILE]\n"
    "Trains LeNet-300-100 on the train split (reporting val), compresses it with\n"
    "Deep Compression (recipes/deep-compression-lenet300.yaml) and with int8\n"
    "quantization, and shows each model's val error, file size and batch-1\n"
    "latency.  Files go to --out (default out/).  Without --data: MNIST if it is\n"
    "found (minnow data list), else Fashion-MNIST (Debian: dataset-fashion-mnist).\n";

static void run(const char *title, int (*fn)(int, char **), int n, const char **args) {
    printf("\n== %s\n$ minnow", title);
    for (int i = 0; i < n; i++) printf(" %s", args[i]);
    printf("\n");
    fflush(stdout);
    /* args[0] is the verb, as typed; the verb functions take what follows. */
    if (fn(n - 1, (char **)args + 1) != 0) cli_die("demo step '%s' failed", title);
    fflush(stdout);
    /* Under MPI the next step reads what rank 0 has just written: every
     * rank waits for it here. */
    cli_check(mn_dist_agree(MN_OK));
}

int cmd_demo(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@0 data: out:dir epochs: recipe:", HELP);
    const char *data = cli_str(&a, "data", NULL), *out = cli_str(&a, "out", "out");
    const char *epochs = cli_str(&a, "epochs", "15");
    static char dir[4096];
    if (!data) {
        /* MNIST if it is here, else Fashion-MNIST; say which. */
        if (mn_data_find("mnist", dir, sizeof dir) == MN_OK) {
            printf("data: MNIST in %s\n", dir);
        } else if (mn_data_find("fashion-mnist", dir, sizeof dir) == MN_OK) {
            printf("data: Fashion-MNIST in %s (MNIST not found: `minnow data fetch mnist` downloads it)\n", dir);
        } else {
            cli_die("neither MNIST nor Fashion-MNIST found: `minnow data fetch mnist`, or apt-get install "
                    "dataset-fashion-mnist (minnow data list shows where minnow looks)");
        }
        data = dir;
    }
    const char *recipe = cli_str(&a, "recipe", "recipes/deep-compression-lenet300.yaml");
    if (mn_dist_root()) mkdir(out, 0755);
    /* --out was checked (cli_spec_checks): at most MN_PATH_MAX - 64 bytes */
    static char dense[MN_PATH_MAX], dc[MN_PATH_MAX], q8[MN_PATH_MAX];
    snprintf(dense, sizeof dense, "%s/lenet300.mnw", out);
    snprintf(dc, sizeof dc, "%s/lenet300-deep-compressed.mnw", out);
    snprintf(q8, sizeof q8, "%s/lenet300-int8.mnw", out);
    const char *train[] = {"train", "--arch", "lenet300", "--data", data, "--epochs", epochs, "-o", dense};
    run("train LeNet-300-100 (Adam 1.2e-3, batch 60) on train, validate on val", cmd_train, 9, train);
    const char *ev[] = {"eval", dense, "--data", data, "--split", "val"};
    run("evaluate the dense model on val", cmd_eval, 6, ev);
    const char *comp[] = {"compress", dense, "--recipe", recipe, "--data", data, "-o", dc};
    run("Deep Compression: prune, share weights (k-means), Huffman-code", cmd_compress, 8, comp);
    const char *ev2[] = {"eval", dc, "--data", data, "--split", "val"};
    run("evaluate the compressed model on val", cmd_eval, 6, ev2);
    const char *info[] = {"info", dc};
    run("what is in the compressed file", cmd_info, 2, info);
    const char *quant[] = {"quantize", dense, "--method", "affine", "--bits", "8", "--data", data, "-o", q8};
    run("int8 post-training quantization (per channel, calibrated on train)", cmd_quantize, 10, quant);
    const char *b1[] = {"bench", dense, "--batch", "1"};
    run("batch-1 latency: dense fp32", cmd_bench, 4, b1);
    const char *b2[] = {"bench", dc, "--batch", "1"};
    run("batch-1 latency: deep-compressed (sparse codebook kernels)", cmd_bench, 4, b2);
    const char *b3[] = {"bench", q8, "--batch", "1"};
    run("batch-1 latency: int8", cmd_bench, 4, b3);
    printf("\nfiles: %s (%ld bytes), %s (%ld bytes), %s (%ld bytes)\n", dense, cli_file_size(dense), dc,
           cli_file_size(dc), q8, cli_file_size(q8));
    return 0;
}
