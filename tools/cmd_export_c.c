/* minnow export-c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/export_c.h"

static const char *HELP =
    "usage: minnow export-c MODEL.mnw -o DIR [--check N [--data DIR] [--split val]] [--json]\n"
    "Writes DIR/model.c and DIR/model.h: standalone C99 for a device, holding the\n"
    "weights in their compressed storage (f32, CSR, int8 affine, codebook with\n"
    "Huffman-coded indices, packed sign bits of binary layers with XNOR/popcount)\n"
    "and the inference code for exactly this model:\n"
    "    int model_run(const float *in, float *out, void *scratch);\n"
    "with MODEL_IN_SIZE, MODEL_OUT_SIZE and MODEL_SCRATCH_BYTES.  No malloc, no\n"
    "libc beyond memcpy/memset (expf/tanhf only for softmax/tanh models).\n"
    "  -o DIR            output directory (created if missing)\n"
    "  --check N         also write DIR/model_test.c: model_run on N images of the\n"
    "                    data split against minnow's own outputs\n"
    "  --data DIR        data for --check (DIR or data set name, default mnist)\n"
    "  --split NAME      split for --check (default val)\n"
    "  --tol X           largest |difference| model_test.c accepts (default 1e-4)\n"
    "  --json            one JSON object on stdout\n";

int cmd_export_c(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 o:dir check: data: split: tol: json", HELP);
    const char *in = cli_pos(&a, 0, "input model MODEL.mnw"), *dir = cli_str(&a, "o", NULL);
    if (!dir) cli_die("-o DIR is required (see --help)");
    int nt = (int)cli_int(&a, "check", 0, 0, 10000);
    float tol = (float)cli_num(&a, "tol", 1e-4, 0, 1e30);
    mn_graph g;
    cli_load_model(in, &g);
    float *x = NULL, *y = NULL;
    if (nt > 0) {
        mn_dataset d;
        cli_load_data(cli_data_dir(&a), cli_str(&a, "split", "val"), &d);
        int64_t ni = mn_shape_numel(mn_graph_input_shape(&g)), no = mn_shape_numel(mn_graph_output_shape(&g));
        if ((int64_t)d.c * d.h * d.w != ni) cli_die("the data's samples have %d values, the model takes %lld", d.c * d.h * d.w, (long long)ni);
        if (nt > d.n) nt = d.n;
        x = malloc(sizeof(float) * (size_t)(ni * nt));
        y = malloc(sizeof(float) * (size_t)(no * nt));
        if (!x || !y) cli_die("out of memory");
        memcpy(x, d.x, sizeof(float) * (size_t)(ni * nt));
        mn_dataset_free(&d);
        cli_check(mn_graph_reserve(&g, nt));
        memcpy(y, mn_graph_forward(&g, x, nt, 0), sizeof(float) * (size_t)(no * nt));
    }
    mn_export_c_info info;
    cli_check(mn_export_c(&g, dir, x, y, nt, tol, &info));
    long fb = cli_file_size(in);
    if (cli_flag(&a, "json"))
        printf("{\"weight_bytes\":%zu,\"mnw_bytes\":%ld,\"ratio\":%.4f,\"scratch_bytes\":%zu,\"in\":%d,\"out\":%d,"
               "\"math\":%s,\"check\":%d}\n", info.weight_bytes, fb, fb > 0 ? (double)info.weight_bytes / (double)fb : 0,
               info.scratch_bytes, info.in_size, info.out_size, info.needs_math ? "true" : "false", nt);
    else
        fprintf(stderr, "wrote %s/model.c, %s/model.h: %zu bytes of weights (the .mnw file: %ld bytes), %zu bytes of scratch\n",
                dir, dir, info.weight_bytes, fb, info.scratch_bytes);
    free(x);
    free(y);
    mn_graph_free(&g);
    return 0;
}
