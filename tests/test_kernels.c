/* The core kernels against their plain reference versions. */
#include <stdlib.h>
#include <string.h>

#include "minnow/kernels.h"
#include "testutil.h"

static void fill(float *p, size_t n, mn_rng *r) {
    for (size_t i = 0; i < n; i++) p[i] = 2 * mn_rng_uniform(r) - 1;
}

static void t_sgemm(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 1);
    int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 1, 300}, {1, 100, 784}, {50, 129, 65}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int beta = 0; beta < 2; beta++) {
                    int M = sizes[c][0], N = sizes[c][1], K = sizes[c][2];
                    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
                    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
                    fill(A, (size_t)M * K, &r);
                    fill(B, (size_t)K * N, &r);
                    fill(C1, (size_t)M * N, &r);
                    memcpy(C2, C1, sizeof(float) * M * N);
                    int lda = ta ? M : K, ldb = tb ? K : N;
                    mn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, (float)beta, C1, N);
                    mn_sgemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, (float)beta, C2, N);
                    assert_true(tu_maxdiff(C1, C2, (size_t)M * N) < 1e-4f * (1 + K / 64.0f));
                    free(A); free(B); free(C1); free(C2);
                }
}

static void t_im2col(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 2);
    int cfg[][6] = {/* C H W k stride pad */
                    {1, 28, 28, 5, 1, 0}, {3, 7, 9, 3, 1, 1}, {2, 8, 8, 3, 2, 1}, {4, 5, 5, 5, 1, 2},
                    {2, 9, 6, 2, 2, 0}, {1, 4, 4, 3, 3, 2}, {3, 6, 6, 1, 1, 0}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        int C = cfg[c][0], H = cfg[c][1], W = cfg[c][2], k = cfg[c][3], st = cfg[c][4], pad = cfg[c][5];
        int OH = mn_conv_out(H, k, st, pad), OW = mn_conv_out(W, k, st, pad);
        int64_t ld = (int64_t)OH * OW + 3; /* a wider column matrix, as batched conv uses */
        size_t ncol = (size_t)C * k * k * ld, nx = (size_t)C * H * W;
        float *x = malloc(sizeof(float) * nx), *c1 = calloc(ncol, sizeof(float)), *c2 = calloc(ncol, sizeof(float));
        float *d1 = malloc(sizeof(float) * nx), *d2 = malloc(sizeof(float) * nx);
        fill(x, nx, &r);
        mn_im2col(x, C, H, W, k, st, pad, OH, OW, c1, ld);
        mn_im2col_ref(x, C, H, W, k, st, pad, OH, OW, c2, ld);
        assert_memory_equal(c1, c2, sizeof(float) * ncol);
        fill(c1, ncol, &r);
        fill(d1, nx, &r);
        memcpy(d2, d1, sizeof(float) * nx);
        mn_col2im(c1, C, H, W, k, st, pad, OH, OW, ld, d1);
        mn_col2im_ref(c1, C, H, W, k, st, pad, OH, OW, ld, d2);
        assert_true(tu_maxdiff(d1, d2, nx) < 1e-5f);
        free(x); free(c1); free(c2); free(d1); free(d2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_sgemm), cmocka_unit_test(t_im2col)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
