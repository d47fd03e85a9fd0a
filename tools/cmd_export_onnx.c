/* minnow export-onnx */
#include <stdio.h>

#include "cli.h"
#include "minnow/onnx.h"
#include "store/store.h"

static const char *HELP =
    "usage: minnow export-onnx MODEL.mnw -o OUT.onnx [--json]\n"
    "Writes the model as ONNX (opset 13) for ONNX Runtime and other runtimes:\n"
    "dense -> Gemm, conv -> Conv, pools, BatchNormalization, Add, Relu, Tanh,\n"
    "Softmax, Flatten.  Pruned, k-means shared and sparse layers are written as\n"
    "their f32 values (zeros included); int8 affine layers as int8 initializers\n"
    "through DequantizeLinear, their input through QuantizeLinear/DequantizeLinear\n"
    "when the layer runs integer.  Binary layers (sign, bdense, bconv) as float\n"
    "weights (sign x scale) and sign as Where(x >= 0, 1, -1): the same outputs,\n"
    "but not the 1-bit size (export-c keeps the bits).\n"
    "  -o FILE           output, written atomically\n"
    "  --json            one JSON object on stdout\n";

int cmd_export_onnx(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 o: json", HELP);
    const char *in = cli_pos(&a, 0, "input model MODEL.mnw"), *out = cli_str(&a, "o", NULL);
    if (!out) cli_die("-o OUT.onnx is required (see --help)");
    if (!mn_onnx_available()) cli_die("built without ONNX support (protobuf-c / onnx.proto were missing at build time)");
    mn_graph g;
    cli_load_model(in, &g);
    cli_check(mn_onnx_export(&g, out));
    int q = 0;
    for (int p = 0; p < g.nparams; p++) q += g.params[p].store && g.params[p].store->kind == MN_ST_AFFINE;
    if (cli_flag(&a, "json"))
        printf("{\"nodes\":%d,\"int8_layers\":%d,\"bytes\":%ld,\"mnw_bytes\":%ld}\n", g.nnodes, q, cli_file_size(out),
               cli_file_size(in));
    else
        fprintf(stderr, "wrote %s (%ld bytes, %d int8 layers)\n", out, cli_file_size(out), q);
    mn_graph_free(&g);
    return 0;
}
