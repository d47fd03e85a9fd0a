/* minnow import */
#include <stdio.h>

#include "cli.h"
#include "minnow/io.h"
#include "minnow/onnx.h"

static const char *HELP =
    "usage: minnow import MODEL.onnx -o OUT.mnw [--json]\n"
    "Reads an ONNX model (e.g. from torch.onnx.export) into a minnow model, to be\n"
    "compressed and run here.  Supported ops: Gemm, MatMul (+ Add bias), Conv\n"
    "(groups, strides, symmetric pads), Relu, Tanh, MaxPool, AveragePool,\n"
    "GlobalAveragePool, Flatten, Reshape to [N, -1], BatchNormalization, Add,\n"
    "Softmax, Dropout, Identity, Constant; one float input [N, F] or [N, C, H, W].\n"
    "The model takes the same input the ONNX model took (no normalisation added).\n"
    "  -o FILE           output model, written atomically\n"
    "  --json            one JSON object on stdout\n";

int cmd_import(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 o: json", HELP);
    const char *in = cli_pos(&a, 0, "input model MODEL.onnx"), *out = cli_str(&a, "o", NULL);
    if (!out) cli_die("-o OUT.mnw is required (see --help)");
    if (!mn_onnx_available()) cli_die("built without ONNX support (protobuf-c / onnx.proto were missing at build time)");
    mn_graph g;
    mn_status st = mn_onnx_import(in, &g);
    if (st == MN_EIO) cli_die("%s", mn_errmsg());
    if (st) cli_die("%s: %s", in, mn_errmsg());
    cli_check(mn_graph_set_meta(&g, "source", "onnx"));
    cli_check(mn_model_save(&g, out));
    int64_t params = 0;
    for (int p = 0; p < g.nparams; p++) params += g.params[p].n;
    if (cli_flag(&a, "json"))
        printf("{\"nodes\":%d,\"params\":%lld,\"macs\":%lld,\"bytes\":%ld}\n", g.nnodes, (long long)params,
               (long long)mn_graph_macs(&g), cli_file_size(out));
    else
        fprintf(stderr, "imported %d nodes, %lld parameters -> %s\n", g.nnodes, (long long)params, out);
    mn_graph_free(&g);
    return 0;
}
