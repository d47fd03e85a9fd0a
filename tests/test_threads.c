/* One loaded model run from several threads at once (mn_graph_view): each
 * thread's view shares the model's weights and compressed stores and owns
 * its activations and scratch, and every output is bit for bit what one
 * thread running the model alone gives.  The models cover every storage
 * kind with a kernel: int8 affine (dense and the whole-conv trait), CSR,
 * codebook, binary, and plain f32.  scripts/test.sh also runs this test
 * under ThreadSanitizer when clang has it. */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/cluster.h"
#include "minnow/io.h"
#include "minnow/quant.h"
#include "minnow/sparse.h"
#include "nn/param_store.h"
#include "store/binary.h"

enum { NIN = 24, NTHREADS = 4, ROUNDS = 3, BIG = 8 };

typedef struct {
    const mn_graph *model;
    const float *x;      /* NIN samples */
    const float *want1;  /* NIN outputs of batch-1 runs */
    const float *wantb;  /* outputs of batches of BIG */
    int isz, osz, seed, bad;
} job;

/* Runs every sample at batch 1 and in batches of BIG, in an order of its
 * own, on a view of the model; counts outputs that differ from the
 * single-threaded ones. */
static void *worker(void *arg) {
    job *j = arg;
    mn_graph v;
    if (mn_graph_view(j->model, &v) || mn_graph_reserve(&v, BIG)) { j->bad = -1; return NULL; }
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < NIN; k++) {
            int i = (k * 7 + j->seed * 5 + r) % NIN;
            const float *y = mn_graph_forward(&v, j->x + (size_t)i * j->isz, 1, 0);
            if (memcmp(y, j->want1 + (size_t)i * j->osz, sizeof(float) * j->osz)) j->bad++;
            if (k % BIG == 0 && i + BIG <= NIN) {
                y = mn_graph_forward(&v, j->x + (size_t)i * j->isz, BIG, 0);
                if (memcmp(y, j->wantb + (size_t)i * j->osz, sizeof(float) * BIG * j->osz)) j->bad++;
            }
        }
    mn_graph_free(&v);
    return NULL;
}

/* The model through save + load, as a user's program would have it. */
static void reload(mn_graph *g) {
    unsigned char *buf;
    size_t len;
    assert_int_equal(mn_model_save_mem(g, &buf, &len), MN_OK);
    mn_graph_free(g);
    assert_int_equal(mn_model_load_mem(buf, len, g), MN_OK);
    free(buf);
}

static void run_threads(mn_graph *g, const char *what) {
    int isz = (int)mn_shape_numel(mn_graph_input_shape(g)), osz = (int)mn_shape_numel(mn_graph_output_shape(g));
    float *x = malloc(sizeof(float) * NIN * isz), *w1 = malloc(sizeof(float) * NIN * osz);
    float *wb = calloc((size_t)NIN * osz, sizeof(float));
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int i = 0; i < NIN * isz; i++) x[i] = mn_rng_uniform(&r);
    assert_int_equal(mn_graph_reserve(g, BIG), MN_OK);
    for (int i = 0; i < NIN; i++)
        memcpy(w1 + (size_t)i * osz, mn_graph_forward(g, x + (size_t)i * isz, 1, 0), sizeof(float) * osz);
    for (int i = 0; i + BIG <= NIN; i += BIG)
        memcpy(wb + (size_t)i * osz, mn_graph_forward(g, x + (size_t)i * isz, BIG, 0), sizeof(float) * BIG * osz);
    pthread_t th[NTHREADS];
    job jobs[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t] = (job){g, x, w1, wb, isz, osz, t, 0};
        assert_int_equal(pthread_create(&th[t], NULL, worker, &jobs[t]), 0);
    }
    int bad = 0;
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        if (jobs[t].bad) print_message("%s: thread %d: %d outputs differ\n", what, t, jobs[t].bad);
        bad += jobs[t].bad != 0;
    }
    assert_int_equal(bad, 0);
    print_message("%s: %d threads x %d runs equal one thread's\n", what, NTHREADS, ROUNDS * NIN);
    free(x); free(w1); free(wb);
}

static void build(mn_graph *g, const char *arch, uint64_t seed) {
    assert_int_equal(mn_arch_build(g, arch, 1, 28, 28, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_graph_init_params(g, &r);
}

/* Random calibration images in [0, 1). */
static mn_dataset calib_set(int n) {
    mn_dataset d = {n, 1, 28, 28, 10, malloc(sizeof(float) * n * 784), calloc((size_t)n, sizeof(int32_t))};
    mn_rng r;
    mn_rng_seed(&r, 3);
    for (int i = 0; i < n * 784; i++) d.x[i] = mn_rng_uniform(&r);
    for (int i = 0; i < n; i++) d.y[i] = i % 10;
    return d;
}

static void test_int8_lenet5(void **state) {
    (void)state;
    mn_graph g;
    build(&g, "lenet5", 1);
    mn_dataset d = calib_set(64);
    mn_affine_cfg c;
    mn_affine_default(&c);
    c.calib.batches = 2;
    c.calib.batch = 32;
    assert_int_equal(mn_quantize_affine(&g, &c, &d, NULL), MN_OK);
    reload(&g);
    assert_string_equal(mn_param_storage(&g, g.nodes[mn_graph_find_node(&g, "conv1")].p[0]), "affine");
    run_threads(&g, "lenet5 int8");
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

/* lenet300: fc1 90% zeros stored CSR, fc2 shared to 16 values
 * (codebook), fc3 binary (+-scale per row). */
static void test_mixed_lenet300(void **state) {
    (void)state;
    mn_graph g;
    build(&g, "lenet300", 2);
    mn_rng r;
    mn_rng_seed(&r, 5);
    int p1 = mn_graph_find_param(&g, "fc1.weight"), p2 = mn_graph_find_param(&g, "fc2.weight"),
        p3 = mn_graph_find_param(&g, "fc3.weight");
    float *w1 = mn_param_data(&g, p1);
    for (int64_t i = 0; i < g.params[p1].n; i++)
        if (mn_rng_uniform(&r) < 0.9f) w1[i] = 0;
    assert_int_equal(mn_graph_sparsify(&g, MN_SPARSE_DEFAULT_DENSITY), MN_OK);
    mn_kmeans_cfg kc;
    mn_kmeans_default(&kc);
    kc.bits = 0;
    kc.layer_bits = "fc2=4";
    assert_int_equal(mn_quantize_kmeans(&g, &kc, NULL, NULL), MN_OK);
    int rows, cols;
    mn_param_matrix(&g, p3, &rows, &cols);
    float *w3 = mn_param_data(&g, p3);
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < cols; k++) w3[i * cols + k] = (w3[i * cols + k] >= 0 ? 0.05f : -0.05f) * (1 + i % 3);
    mn_store *bs;
    assert_int_equal(mn_binary_store_make(w3, rows, cols, &bs), MN_OK);
    assert_int_equal(mn_param_set_store(&g, p3, bs), MN_OK);
    reload(&g);
    assert_string_equal(mn_param_storage(&g, p1), "csr");
    assert_string_equal(mn_param_storage(&g, p2), "codebook");
    assert_string_equal(mn_param_storage(&g, p3), "binary");
    run_threads(&g, "lenet300 csr+codebook+binary");
    mn_graph_free(&g);
}

static void test_dense_lenet5(void **state) {
    (void)state;
    mn_graph g;
    build(&g, "lenet5", 3);
    run_threads(&g, "lenet5 f32");
    mn_graph_free(&g);
}

/* A view frees only what it owns; the model stays usable after it. */
static void test_view_lifetime(void **state) {
    (void)state;
    mn_graph g, v;
    build(&g, "lenet300", 4);
    mn_graph u;
    mn_graph_init(&u);
    assert_int_not_equal(mn_graph_view(&u, &v), MN_OK); /* not finalized */
    assert_int_equal(mn_graph_view(&g, &v), MN_OK);
    assert_ptr_equal(v.w, g.w);
    assert_int_equal(mn_graph_reserve(&v, 4), MN_OK);
    float x[784] = {0};
    mn_graph_forward(&v, x, 1, 0);
    mn_graph_free(&v);
    assert_int_equal(mn_graph_reserve(&g, 1), MN_OK);
    mn_graph_forward(&g, x, 1, 0);
    mn_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_lifetime),
        cmocka_unit_test(test_dense_lenet5),
        cmocka_unit_test(test_int8_lenet5),
        cmocka_unit_test(test_mixed_lenet300),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
