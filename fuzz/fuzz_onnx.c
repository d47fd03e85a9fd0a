/* libFuzzer target: ONNX import (mn_onnx_import_mem).  A model that
 * imports must export, import again to the same parameters, and run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "minnow/fold.h"
#include "minnow/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    mn_set_threads(1);
    if (!mn_onnx_available()) {
        printf("minnow-fuzz: ONNX support is not registered in this build\n");
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    mn_graph g;
    mn_status st = mn_onnx_import_mem(d, n, &g);
    fz_check_errmsg(st);
    if (st != MN_OK) {
        FZ_CHECK(g.nnodes == 0 && g.w == NULL);
        return 0;
    }
    unsigned char *b;
    size_t len;
    FZ_CHECK(mn_onnx_export_mem(&g, &b, &len) == MN_OK);
    mn_graph g2, f;
    FZ_CHECK(mn_onnx_import_mem(b, len, &g2) == MN_OK);
    /* export folds batch norm into the layer before it (minnow/fold.h) */
    int nf = 0;
    FZ_CHECK(mn_graph_fold_bn(&g, &f, &nf) == MN_OK);
    FZ_CHECK(g2.nw == (nf ? f.nw : g.nw));
    mn_graph_free(&f);
    free(b);
    mn_graph_free(&g2);
    int64_t acts = 0;
    for (int i = 0; i < g.nnodes; i++) acts += mn_shape_numel(&g.nodes[i].out);
    if (acts <= (1 << 16) && mn_graph_macs(&g) <= (1 << 20)) {
        FZ_CHECK(mn_graph_reserve(&g, 2) == MN_OK);
        int64_t in = mn_shape_numel(mn_graph_input_shape(&g));
        float *x = calloc((size_t)(2 * in), sizeof(float));
        FZ_CHECK(x);
        for (int64_t i = 0; i < 2 * in; i++) x[i] = (float)(i % 13) / 13.0f - 0.5f;
        mn_graph_forward(&g, x, 2, 0);
        free(x);
    }
    mn_graph_free(&g);
    return 0;
}
