/* libFuzzer target: the text architecture spec (mn_arch_build), and what a
 * graph it builds must then do: save/load round trip, forward, backward.
 *
 * The input is the spec text (a ';' is appended so it is never taken for
 * a built-in name or a file path).  Numbers of three or more digits are
 * skipped: the spec is the user's own request, and a request for a
 * billion-weight layer is answered by trying to allocate it, which is not
 * a parser bug but would trip libFuzzer's allocation limit. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "minnow/arch.h"
#include "minnow/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    mn_set_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n > 4096 || memchr(d, 0, n)) return 0;
    for (size_t i = 0, run = 0; i < n; i++) {
        run = isdigit(d[i]) ? run + 1 : 0;
        if (run >= 3) return 0;
    }
    char *spec = malloc(n + 2);
    FZ_CHECK(spec);
    memcpy(spec, d, n);
    spec[n] = ';', spec[n + 1] = 0;
    mn_graph g;
    mn_status st = mn_arch_build(&g, spec, 1, 8, 8, 10);
    free(spec);
    fz_check_errmsg(st);
    if (st != MN_OK) {
        FZ_CHECK(g.nnodes == 0 && g.w == NULL);
        return 0;
    }
    /* A built graph is a model: it saves and loads back. */
    unsigned char *b;
    size_t len;
    FZ_CHECK(mn_model_save_mem(&g, &b, &len) == MN_OK);
    mn_graph g2;
    FZ_CHECK(mn_model_load_mem(b, len, &g2) == MN_OK);
    FZ_CHECK(g2.nparams == g.nparams && g2.nw == g.nw);
    free(b);
    mn_graph_free(&g2);
    int64_t acts = 0;
    for (int i = 0; i < g.nnodes; i++) acts += mn_shape_numel(&g.nodes[i].out);
    if (acts <= (1 << 16) && mn_graph_macs(&g) <= (1 << 20)) {
        mn_rng r;
        mn_rng_seed(&r, 1);
        mn_graph_init_params(&g, &r);
        FZ_CHECK(mn_graph_reserve(&g, 2) == MN_OK);
        int64_t in = mn_shape_numel(mn_graph_input_shape(&g)), out = mn_shape_numel(mn_graph_output_shape(&g));
        float *x = calloc((size_t)(2 * in), sizeof(float)), *dy = calloc((size_t)(2 * out), sizeof(float));
        FZ_CHECK(x && dy);
        for (int64_t i = 0; i < 2 * in; i++) x[i] = (float)(i % 11) / 11.0f;
        for (int64_t i = 0; i < 2 * out; i++) dy[i] = (float)(i % 3) - 1.0f;
        mn_graph_forward(&g, x, 2, 1);
        mn_graph_zero_grad(&g);
        mn_graph_backward(&g, dy, 2);
        mn_graph_forward(&g, x, 2, 0);
        free(x);
        free(dy);
    }
    mn_graph_free(&g);
    return 0;
}
