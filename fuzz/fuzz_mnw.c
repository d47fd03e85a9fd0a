/* libFuzzer target: the .mnw model reader (mn_model_load_mem), and what a
 * loaded model must then survive.
 *
 * A file that loads must (1) save again, and saving is a fixpoint: the
 * reloaded copy saves to the same bytes; (2) run: a forward pass (the
 * compressed stores' inference kernels included) and a training step, when
 * the model is small enough to run quickly.  A file that does not load must
 * leave an empty graph and a message.
 *
 * Input: one flag byte (bit 0: re-seal the CRCs first, so mutations reach
 * the parser behind the checksums), then the file. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "minnow/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    mn_set_threads(1);
    return 0;
}

/* Forward (inference and training) and backward on a batch of 2. */
static void run_model(mn_graph *g) {
    int64_t acts = 0;
    for (int i = 0; i < g->nnodes; i++) acts += mn_shape_numel(&g->nodes[i].out);
    if (acts > (1 << 16) || mn_graph_macs(g) > (1 << 20)) return;
    const int batch = 2;
    FZ_CHECK(mn_graph_reserve(g, batch) == MN_OK);
    int64_t in = mn_shape_numel(mn_graph_input_shape(g)), out = mn_shape_numel(mn_graph_output_shape(g));
    float *x = malloc(sizeof(float) * (size_t)(batch * in)), *dy = malloc(sizeof(float) * (size_t)(batch * out));
    FZ_CHECK(x && dy);
    for (int64_t i = 0; i < batch * in; i++) x[i] = (float)((i * 7919) % 17) / 8.0f - 1.0f;
    for (int64_t i = 0; i < batch * out; i++) dy[i] = (float)(i % 3) - 1.0f;
    mn_graph_forward(g, x, batch, 0);
    mn_graph_forward(g, x, batch, 1);
    mn_graph_zero_grad(g);
    mn_graph_backward(g, dy, batch);
    free(x);
    free(dy);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    int seal = d[0] & 1;
    uint8_t *buf = malloc(n);
    FZ_CHECK(buf);
    memcpy(buf, d + 1, n - 1);
    n -= 1;
    if (seal) fz_seal_mnw(buf, n);
    mn_graph g;
    mn_status st = mn_model_load_mem(buf, n, &g);
    free(buf);
    fz_check_errmsg(st);
    if (st != MN_OK) {
        FZ_CHECK(g.nnodes == 0 && g.nparams == 0 && g.w == NULL);
        return 0;
    }
    unsigned char *b1, *b2;
    size_t l1, l2;
    FZ_CHECK(mn_model_save_mem(&g, &b1, &l1) == MN_OK);
    mn_graph g2;
    FZ_CHECK(mn_model_load_mem(b1, l1, &g2) == MN_OK);
    FZ_CHECK(g2.nw == g.nw && memcmp(g2.w, g.w, sizeof(float) * (size_t)g.nw) == 0);
    FZ_CHECK(mn_model_save_mem(&g2, &b2, &l2) == MN_OK);
    FZ_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    mn_graph_free(&g2);
    run_model(&g);
    mn_graph_free(&g);
    return 0;
}
