/* minnow fold: batch norm folded into the layers before it, in the stored
 * model (minnow/fold.h).  The exporters fold by themselves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/fold.h"
#include "minnow/io.h"

static const char *HELP =
    "usage: minnow fold IN.mnw -o OUT.mnw [--json]\n"
    "Folds every batch norm whose input is a conv or dense layer feeding it alone\n"
    "(with f32 weights) into that layer: W' = s W, b' = s (b - mean) + beta with\n"
    "s = gamma / sqrt(var + eps) per output channel.  Inference gives the same\n"
    "outputs (the largest difference on 64 random inputs is printed) with one node\n"
    "fewer per pair; export-c and export-onnx fold by themselves.  Fold a trained\n"
    "model: the folded one trains without batch statistics.\n"
    "  -o FILE    output model, written atomically\n"
    "  --json     one JSON object on stdout\n";

static int count_bn(const mn_graph *g) {
    int n = 0;
    for (int i = 0; i < g->nnodes; i++) n += g->nodes[i].op == MN_OP_BATCHNORM;
    return n;
}

int cmd_fold(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 o: json", HELP);
    const char *in = cli_pos(&a, 0, "input model IN.mnw"), *out = cli_str(&a, "o", NULL);
    if (!out) cli_die("-o OUT.mnw is required (see --help)");
    mn_graph g, f;
    cli_load_model(in, &g);
    int nf = 0, before = count_bn(&g);
    if (!before) cli_die("%s has no batch norm to fold", in);
    cli_check(mn_graph_fold_bn(&g, &f, &nf));
    if (!nf) cli_die("%s: none of its %d batch norms follows a conv or dense layer with f32 weights that feeds it alone",
                     in, before);
    /* The same outputs, checked on random inputs. */
    const int batch = 64;
    int64_t isz = mn_shape_numel(mn_graph_input_shape(&g)), osz = mn_shape_numel(mn_graph_output_shape(&g));
    float *x = mn_alloc((size_t)(batch * isz), sizeof(float)), *y = mn_alloc((size_t)(batch * osz), sizeof(float));
    if (!x || !y) cli_die("out of memory");
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int64_t i = 0; i < batch * isz; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    cli_check(mn_graph_reserve(&g, batch));
    cli_check(mn_graph_reserve(&f, batch));
    memcpy(y, mn_graph_forward(&g, x, batch, 0), sizeof(float) * (size_t)(batch * osz));
    const float *z = mn_graph_forward(&f, x, batch, 0);
    double d = 0;
    for (int64_t i = 0; i < batch * osz; i++) d = fmax(d, fabs((double)y[i] - z[i]));
    cli_check(mn_model_save(&f, out));
    if (cli_flag(&a, "json"))
        printf("{\"input\":%s,\"output\":%s,\"folded\":%d,\"batchnorm_left\":%d,\"nodes_before\":%d,\"nodes\":%d,"
               "\"max_abs_diff\":%.6g,\"file_bytes\":%ld}\n",
               cli_jq(in), cli_jq(out), nf, before - nf, g.nnodes, f.nnodes, d, cli_file_size(out));
    else
        printf("%s -> %s: %d of %d batch norms folded, %d -> %d nodes; largest output difference on %d random "
               "inputs %.3g\n", in, out, nf, before, g.nnodes, f.nnodes, batch, d);
    mn_free(x);
    mn_free(y);
    mn_graph_free(&f);
    mn_graph_free(&g);
    return 0;
}
