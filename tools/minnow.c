/* minnow: the command-line front end.  Verbs live in cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minnow/dist.h"
#include "cmds.h"

static const struct { const char *name; int (*fn)(int, char **); const char *what; } verbs[] = {
    {"train", cmd_train, "train a network (built-in architecture or spec) on a data set"},
    {"eval", cmd_eval, "error and loss of a model on a data split"},
    {"info", cmd_info, "per-layer parameters, nonzeros, bytes and MACs of a model"},
    {"bench", cmd_bench, "inference latency of a model"},
    {"demo", cmd_demo, "train and compress LeNet-300-100 on MNIST (else Fashion-MNIST), end to end"},
    {"distill", cmd_distill, "train a student from teacher models (knowledge distillation)"},
    {"factorize", cmd_factorize, "low-rank (SVD) factorisation of dense/conv layers, then fine-tune"},
    {"prune", cmd_prune, "prune weights (magnitude, snip, obd, lottery) or units (neuron, filter)"},
    {"sensitivity", cmd_sensitivity, "per-layer val error under magnitude pruning (table, JSON, SVG)"},
    {"encode", cmd_encode, "Huffman-code the indices of weight-shared (codebook) layers"},
    {"search", cmd_search, "a per-layer compression policy within a budget (bytes, MACs, RAM, flash, latency)"},
    {"compress", cmd_compress, "run a compression recipe (YAML), e.g. Deep Compression: prune, share, encode"},
    {"quantize", cmd_quantize, "fixed-point, affine int8/int4/int2 (integer kernels) or quantization-aware training"},
    {"binarize", cmd_binarize, "binarized networks (BinaryConnect, XNOR-Net, bitwise) with XNOR/popcount inference"},
    {"gate", cmd_gate, "SkipNet-style gates on residual blocks: depth chosen per sample, against a MACs cost"},
    {"slim", cmd_slim, "one width of a slimmable network (train --widths) as a plain model"},
    {"fold", cmd_fold, "batch norm folded into the conv/dense layer before it (inference)"},
    {"import", cmd_import, "read an ONNX model (e.g. exported from PyTorch) into a minnow model"},
    {"export-onnx", cmd_export_onnx, "write a model (float, pruned, int8) as ONNX for ONNX Runtime"},
    {"export-c", cmd_export_c, "standalone C99 source (weights in their compressed storage) for a device"},
    {"arch", cmd_arch, "architectures side by side: params and MACs (e.g. lenet5 vs lenet5dw)"},
    {"plot", cmd_plot, "a line plot (SVG) of tab-separated numbers, e.g. reproduce.sh's curves"},
    {"data", cmd_data, "data sets by name: list, verify against published checksums, fetch"},
};
#define NVERBS (int)(sizeof verbs / sizeof verbs[0])

static void help(FILE *f) {
    fputs("usage: minnow VERB [options]   (minnow VERB --help for each)\n\nverbs:\n", f);
    for (int i = 0; i < NVERBS; i++) fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].what);
}

int main(int argc, char **argv) {
    cli_dist_start(&argc, &argv);
    if (argc < 2) {
        fputs("minnow: usage: minnow VERB [options] (see minnow --help)\n", stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { help(stdout); mn_dist_finalize(); return 0; }
    for (int i = 0; i < NVERBS; i++)
        if (strcmp(argv[1], verbs[i].name) == 0) {
            cli_signals();
            cli_json_hold(argc - 2, argv + 2);
            int rc = verbs[i].fn(argc - 2, argv + 2);
            if (cli_json_release() && rc == 0) rc = 1;
            /* A failing rank leaves without it: the launcher then ends
             * the job instead of the others waiting in MPI_Finalize. */
            if (rc == 0) mn_dist_finalize();
            return rc;
        }
    fprintf(stderr, "minnow: unknown verb '%s' (see minnow --help)\n", argv[1]);
    return 2;
}
