/* The core kernels against their plain reference versions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/graph.h"
#include "kernels/kernels.h"
#include "minnow/train.h"
#include "testutil.h"
#include "core/cpu.h"

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

/* Every variant of the conv layers' small GEMM against the plain one, on
 * the lenet5 shapes, odd edges (rows not a multiple of the tile, columns
 * not a multiple of the vector) and both strides of A. */
typedef void (*small_fn)(int, int, int, const float *, int64_t, int64_t, const float *, int64_t,
                         int, const float *, float *, int64_t);

static void t_sgemm_small(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 3);
    int sizes[][3] = {{1, 1, 1}, {1, 17, 3}, {7, 5, 0}, {13, 33, 9}, {20, 576, 25}, {25, 20, 576},
                      {50, 64, 500}, {500, 50, 64}, {500, 64, 50}, {12, 32, 4}, {29, 47, 31}};
    const mn_cpu *cpu = mn_cpu_features();
    small_fn fns[4] = {mn_sgemm_small, mn_sgemm_small_portable,
                       cpu->avx2 && cpu->fma ? mn_sgemm_small_avx2 : NULL,
                       cpu->avx512f ? mn_sgemm_small_avx512 : NULL};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        for (int ta = 0; ta < 2; ta++)
            for (int opt = 0; opt < 4; opt++) {
                int M = sizes[c][0], N = sizes[c][1], K = sizes[c][2], beta = opt & 1;
                int64_t ldc = N + 3, ldb = N + 1;
                int64_t rsa = ta ? 1 : K + 2, csa = ta ? M : 1;
                size_t na = (size_t)(ta ? (int64_t)K * M + 1 : M * rsa + 1);
                float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * (K * ldb + 1));
                float *bias = malloc(sizeof(float) * M), *C0 = malloc(sizeof(float) * M * ldc);
                float *C1 = malloc(sizeof(float) * M * ldc);
                fill(A, na, &r);
                fill(B, (size_t)(K * ldb + 1), &r);
                fill(bias, (size_t)M, &r);
                fill(C0, (size_t)(M * ldc), &r);
                const float *bs = (opt & 2) ? bias : NULL;
                float *ref = malloc(sizeof(float) * M * ldc);
                memcpy(ref, C0, sizeof(float) * M * ldc);
                mn_sgemm_small_ref(M, N, K, A, rsa, csa, B, ldb, beta, bs, ref, ldc);
                for (int v = 0; v < 4; v++) {
                    if (!fns[v]) continue;
                    memcpy(C1, C0, sizeof(float) * M * ldc);
                    fns[v](M, N, K, A, rsa, csa, B, ldb, beta, bs, C1, ldc);
                    /* The padding between rows is never written. */
                    for (int i = 0; i < M; i++)
                        for (int64_t j = N; j < ldc; j++) assert_true(C1[i * ldc + j] == C0[i * ldc + j]);
                    assert_true(tu_maxdiff(C1, ref, (size_t)(M * ldc)) < 1e-4f * (1 + K / 64.0f));
                }
                free(A); free(B); free(bias); free(C0); free(C1); free(ref);
            }
}

/* The stride-1 conv without im2col: the same bits as im2col + the AVX-512
 * small GEMM (what it replaces), within float tolerance of the reference;
 * and the offset GEMM against its reference.  Skips without AVX-512. */
static void t_conv_s1(void **s) {
    (void)s;
    if (!mn_cpu_features()->avx512f) skip();
    mn_rng r;
    mn_rng_seed(&r, 9);
    static const int geo[][6] = {{1, 28, 28, 3, 1, 16}, {16, 28, 28, 3, 1, 16}, {32, 14, 14, 3, 1, 32},
                                 {3, 7, 9, 5, 2, 13}, {2, 5, 40, 3, 0, 7},    {5, 1, 1, 3, 1, 3},
                                 {4, 6, 6, 2, 1, 25}, {1, 3, 3, 3, 0, 1}};
    for (size_t gi = 0; gi < sizeof geo / sizeof *geo; gi++) {
        int C = geo[gi][0], H = geo[gi][1], W = geo[gi][2], k = geo[gi][3], p = geo[gi][4], F = geo[gi][5];
        int OH = H + 2 * p - k + 1, OW = W + 2 * p - k + 1, K = C * k * k, P = OH * OW;
        float *x = malloc(sizeof(float) * C * H * W), *w = malloc(sizeof(float) * F * K), *b = malloc(sizeof(float) * F);
        float *col = malloc(sizeof(float) * K * P), *y0 = malloc(sizeof(float) * F * P), *y1 = malloc(sizeof(float) * F * P);
        float *y2 = malloc(sizeof(float) * F * P), *scr = malloc(sizeof(float) * mn_conv_s1_floats(C, H, W, k, p, F));
        fill(x, (size_t)C * H * W, &r);
        fill(w, (size_t)F * K, &r);
        fill(b, (size_t)F, &r);
        mn_im2col_ref(x, C, H, W, k, 1, p, OH, OW, col, P);
        mn_sgemm_small_avx512(F, P, K, w, K, 1, col, P, 0, b, y0, P);
        mn_sgemm_small_ref(F, P, K, w, K, 1, col, P, 0, b, y2, P);
        assert_int_equal(mn_conv_s1(x, C, H, W, k, p, F, w, b, y1, scr), 0);
        if (memcmp(y0, y1, sizeof(float) * F * P))
            fail_msg("conv_s1 C%d %dx%d k%d pad%d F%d differs from im2col + GEMM", C, H, W, k, p, F);
        assert_true(tu_maxdiff(y1, y2, (size_t)F * P) < 1e-4f * (1 + K / 64.0f));
        free(x); free(w); free(b); free(col); free(y0); free(y1); free(y2); free(scr);
    }
    /* the offset GEMM: rows of B anywhere */
    int M = 13, N = 37, K = 21;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * 4000), *bias = malloc(sizeof(float) * M);
    float *c0 = malloc(sizeof(float) * M * (N + 2)), *c1 = malloc(sizeof(float) * M * (N + 2));
    int64_t off[21];
    fill(A, (size_t)M * K, &r);
    fill(B, 4000, &r);
    fill(bias, (size_t)M, &r);
    for (int k = 0; k < K; k++) off[k] = (int64_t)(mn_rng_uniform(&r) * (4000 - N));
    for (int bi = 0; bi < 2; bi++) {
        for (int i = 0; i < M * (N + 2); i++) c0[i] = c1[i] = 5.0f;
        mn_sgemm_offs_ref(M, N, K, A, K, 1, B, off, bi ? bias : NULL, c0, N + 2);
        mn_sgemm_offs_avx512(M, N, K, A, K, 1, B, off, bi ? bias : NULL, c1, N + 2);
        for (int i = 0; i < M; i++)
            for (int j = N; j < N + 2; j++) assert_true(c1[i * (N + 2) + j] == 5.0f);
        assert_true(tu_maxdiff(c0, c1, (size_t)M * (N + 2)) < 1e-5f);
    }
    free(A); free(B); free(bias); free(c0); free(c1);
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

/* The portable and AVX-512 im2col/col2im against the plain ones directly
 * (mn_im2col picks one of them), rows shorter and longer than a vector. */
static void t_im2col_variants(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 4);
    int cfg[][6] = {/* C H W k stride pad */
                    {20, 12, 12, 5, 1, 0}, {1, 28, 28, 5, 1, 0}, {2, 9, 40, 5, 1, 2}, {3, 19, 17, 3, 1, 1},
                    {2, 6, 33, 4, 1, 3}, {2, 8, 8, 3, 2, 1}, {1, 3, 3, 3, 1, 2}};
    int avx = mn_cpu_features()->avx512f;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++)
        for (int v = 0; v < 2; v++) {
            if (v == 1 && !avx) continue;
            int C = cfg[c][0], H = cfg[c][1], W = cfg[c][2], k = cfg[c][3], st = cfg[c][4], pad = cfg[c][5];
            int OH = mn_conv_out(H, k, st, pad), OW = mn_conv_out(W, k, st, pad);
            int64_t ld = (int64_t)OH * OW + (c & 1);
            size_t ncol = (size_t)C * k * k * ld, nx = (size_t)C * H * W;
            float *x = malloc(sizeof(float) * nx), *c1 = malloc(sizeof(float) * ncol), *c2 = malloc(sizeof(float) * ncol);
            float *d1 = malloc(sizeof(float) * nx), *d2 = malloc(sizeof(float) * nx);
            fill(x, nx, &r);
            fill(c1, ncol, &r); /* stale values must be overwritten, padding included */
            memcpy(c2, c1, sizeof(float) * ncol);
            if (v) mn_im2col_avx512(x, C, H, W, k, st, pad, OH, OW, c1, ld);
            else mn_im2col_portable(x, C, H, W, k, st, pad, OH, OW, c1, ld);
            mn_im2col_ref(x, C, H, W, k, st, pad, OH, OW, c2, ld);
            assert_memory_equal(c1, c2, sizeof(float) * ncol);
            fill(c1, ncol, &r);
            fill(d1, nx, &r);
            memcpy(d2, d1, sizeof(float) * nx);
            if (v) mn_col2im_avx512(c1, C, H, W, k, st, pad, OH, OW, ld, d1);
            else mn_col2im_portable(c1, C, H, W, k, st, pad, OH, OW, ld, d1);
            mn_col2im_ref(c1, C, H, W, k, st, pad, OH, OW, ld, d2);
            assert_true(tu_maxdiff(d1, d2, nx) < 1e-5f);
            free(x); free(c1); free(c2); free(d1); free(d2);
        }
}

/* MN_PAR_FOR: every iteration exactly once on either branch, bodies with
 * commas and `continue`, N = 0; mn_par_worth: only with threads and work. */
static void t_par_for(void **s) {
    (void)s;
    int cnt[1000];
    for (int par = 0; par < 2; par++)
        for (int th = 1; th <= 2; th++) {
            mn_set_threads(th);
            memset(cnt, 0, sizeof cnt);
            MN_PAR_FOR(par, i, 1000, {
                if (i % 7 == 3) continue; /* skipped, as in a plain loop */
                int a = i, b = 1;
                cnt[i] += a - i + b;
            });
            for (int i = 0; i < 1000; i++) assert_int_equal(cnt[i], i % 7 == 3 ? 0 : 1);
            int ran = 0;
            MN_PAR_FOR(par, i, 0, { ran += 1 + i; });
            assert_int_equal(ran, 0);
        }
    mn_set_threads(1);
    assert_false(mn_par_worth(1 << 30, 1));
    mn_set_threads(2);
    assert_true(mn_par_worth(100, 100));
    assert_false(mn_par_worth(99, 100));
    mn_set_threads(1);
}

/* Pooling and batch norm take the serial branch below their size bars and
 * the OpenMP one above: the outputs must not depend on which ran. */
static void t_pool_bn_threads(void **s) {
    (void)s;
    mn_graph g;
    mn_graph_init(&g);
    assert_true(mn_g_input(&g, "x", 16, 32, 32) >= 0);
    assert_true(mn_g_bn(&g, "bn", "x") >= 0);
    assert_true(mn_g_pool(&g, MN_OP_MAXPOOL, "mp", "bn", 2, 2, 0) >= 0);
    assert_true(mn_g_pool(&g, MN_OP_MAXPOOL, "mp3", "mp", 3, 2, 1) >= 0);
    assert_true(mn_g_pool(&g, MN_OP_AVGPOOL, "ap", "mp3", 2, 1, 0) >= 0);
    assert_int_equal(mn_graph_finalize(&g), MN_OK);
    int batch = 260; /* 260 * 16 * 32 * 32 > the pools' 2^22 bar */
    assert_int_equal(mn_graph_reserve(&g, batch), MN_OK);
    size_t in = (size_t)batch * 16 * 32 * 32, out = (size_t)batch * mn_shape_numel(mn_graph_output_shape(&g));
    float *x = malloc(sizeof(float) * in), *y[3];
    mn_rng r;
    mn_rng_seed(&r, 5);
    fill(x, in, &r);
    int bs[3] = {1, batch, batch}, th[3] = {1, 1, 2};
    for (int v = 0; v < 3; v++) {
        mn_set_threads(th[v]);
        y[v] = malloc(sizeof(float) * out);
        size_t per = out / batch, inper = in / batch;
        for (int b0 = 0; b0 < batch; b0 += bs[v])
            memcpy(y[v] + b0 * per, mn_graph_forward(&g, x + b0 * inper, bs[v], 0), sizeof(float) * per * bs[v]);
    }
    mn_set_threads(1);
    assert_memory_equal(y[0], y[1], sizeof(float) * out);
    assert_memory_equal(y[0], y[2], sizeof(float) * out);
    for (int v = 0; v < 3; v++) free(y[v]);
    free(x);
    mn_graph_free(&g);
}

/* The 2x2 max pool against its reference on odd widths (masked tails of 1
 * to 16 outputs, two 16-input halves), with ties (values on a grid of 5)
 * and NaN/Inf: the values and the argmax indices must be identical. */
static void t_maxpool2(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 9);
    int dims[] = {2, 3, 4, 5, 8, 9, 24, 31, 32, 33, 34, 48, 66};
    int nd = (int)(sizeof dims / sizeof dims[0]);
    for (int a = 0; a < nd; a++)
        for (int b = 0; b < nd; b++) {
            int H = dims[a], W = dims[b], OH = H / 2, OW = W / 2;
            float *x = malloc(sizeof(float) * H * W), *y1 = malloc(sizeof(float) * OH * OW),
                  *y2 = malloc(sizeof(float) * OH * OW);
            int32_t *a1 = malloc(sizeof(int32_t) * OH * OW), *a2 = malloc(sizeof(int32_t) * OH * OW);
            for (int i = 0; i < H * W; i++) x[i] = (float)(int)(5 * mn_rng_uniform(&r)) - 2;
            if (H * W > 7) x[3] = NAN, x[H * W - 2] = -INFINITY, x[H * W / 2] = NAN;
            mn_maxpool2_ref(x, W, OH, OW, y1, a1);
            mn_maxpool2(x, W, OH, OW, y2, a2);
            assert_memory_equal(y1, y2, sizeof(float) * OH * OW);
            assert_memory_equal(a1, a2, sizeof(int32_t) * OH * OW);
            free(x), free(y1), free(y2), free(a1), free(a2);
        }
}

/* mn_all_finite, its portable version and the reference agree: finite
 * extremes (FLT_MAX, denormals, -0) pass; a NaN of either sign or an
 * infinity anywhere (first, middle, last, in the 64-wide body or the
 * tail) fails; a NaN just past the end is not looked at. */
static void t_all_finite(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 12);
    const int ns[] = {0, 1, 15, 16, 17, 63, 64, 65, 100, 1000};
    uint32_t neg_nan = 0xffc00000u;
    float nnan;
    memcpy(&nnan, &neg_nan, 4);
    const float bad[] = {NAN, nnan, INFINITY, -INFINITY};
    for (int a = 0; a < 10; a++) {
        int n = ns[a];
        float *x = malloc(sizeof(float) * (size_t)(n + 16));
        fill(x, (size_t)n, &r);
        for (int i = n; i < n + 16; i++) x[i] = NAN;
        if (n > 3) x[0] = 3.4e38f, x[1] = -3.4e38f, x[2] = 1e-45f, x[3] = -0.0f;
        assert_int_equal(mn_all_finite_ref(x, n), 1);
        assert_int_equal(mn_all_finite(x, n), 1);
        assert_int_equal(mn_all_finite_portable(x, n), 1);
        for (int bi = 0; bi < 4; bi++)
            for (int w = 0; w < 3 && n > 0; w++) {
                int at = w == 0 ? 0 : w == 1 ? n / 2 : n - 1;
                float keep = x[at];
                x[at] = bad[bi];
                assert_int_equal(mn_all_finite_ref(x, n), 0);
                assert_int_equal(mn_all_finite(x, n), 0);
                assert_int_equal(mn_all_finite_portable(x, n), 0);
                x[at] = keep;
            }
        free(x);
    }
}

/* The blocked transpose against the plain one: ragged edges on both sides,
 * padded strides whose padding must stay untouched. */
/* One sample's sgemv, each variant against the double-sum reference: odd
 * sizes around the vector widths, padded leading dimensions, alpha and
 * beta; beta 0 must not read y (NaN there stays out), and mn_sgemm's M = 1
 * path is the best variant. */
static void t_sgemv(void **s) {
    (void)s;
    static const int sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 300, 784};
    static const float ab[][2] = {{1, 0}, {-0.5f, 1}, {2, 0.25f}};
    mn_rng r;
    mn_rng_seed(&r, 11);
    int checked = 0;
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a += 2)
        for (size_t b = 0; b < sizeof sizes / sizeof *sizes; b += 3) {
            int N = sizes[a], K = sizes[b];
            int64_t ldw = K + 5, ldb = N + 3;
            float *W = malloc(sizeof(float) * N * ldw), *B = malloc(sizeof(float) * K * ldb);
            float *x = malloc(sizeof(float) * K), *y0 = malloc(sizeof(float) * N);
            /* y has 64 guard floats after it: a wide tail must not write there */
            float *yr = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * (N + 64));
            for (int i = N; i < N + 64; i++) y[i] = 12345.0f;
            for (int64_t i = 0; i < N * ldw; i++) W[i] = 2 * mn_rng_uniform(&r) - 1;
            for (int64_t i = 0; i < K * ldb; i++) B[i] = 2 * mn_rng_uniform(&r) - 1;
            for (int i = 0; i < K; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
            for (int i = 0; i < N; i++) y0[i] = 2 * mn_rng_uniform(&r) - 1;
            for (size_t q = 0; q < sizeof ab / sizeof *ab; q++)
                for (int form = 0; form < 2; form++) {
                    float al = ab[q][0], be = ab[q][1];
                    memcpy(yr, y0, sizeof(float) * N);
                    if (form) mn_sgemv_cols_ref(N, K, al, x, B, ldb, be, yr);
                    else mn_sgemv_rows_ref(N, K, al, W, ldw, x, be, yr);
                    for (int v = MN_SIMD_REF; v <= MN_SIMD_AVX512; v++) {
                        if (!mn_sgemv_variant_ok((mn_simd_variant)v)) continue;
                        for (int i = 0; i < N; i++) y[i] = be == 0 ? NAN : y0[i];
                        if (form) mn_sgemv_cols_variant((mn_simd_variant)v, N, K, al, x, B, ldb, be, y);
                        else mn_sgemv_rows_variant((mn_simd_variant)v, N, K, al, W, ldw, x, be, y);
                        for (int i = N; i < N + 64; i++)
                            if (y[i] != 12345.0f) fail_msg("sgemv %s variant %d N %d K %d wrote y[%d] past the end",
                                                           form ? "cols" : "rows", v, N, K, i);
                        for (int i = 0; i < N; i++)
                            if (!(fabsf(y[i] - yr[i]) <= 1e-5f * (float)K + 1e-6f))
                                fail_msg("sgemv %s variant %d N %d K %d alpha %g beta %g: y[%d] %g, want %g",
                                         form ? "cols" : "rows", v, N, K, al, be, i, y[i], yr[i]);
                        checked++;
                    }
                    /* mn_sgemm's one-row path: rows form is tb = 1, cols tb = 0 */
                    for (int i = 0; i < N; i++) y[i] = be == 0 ? NAN : y0[i];
                    if (form) mn_sgemm(0, 0, 1, N, K, al, x, K, B, (int)ldb, be, y, N);
                    else mn_sgemm(0, 1, 1, N, K, al, x, K, W, (int)ldw, be, y, N);
                    for (int i = 0; i < N; i++) assert_true(fabsf(y[i] - yr[i]) <= 1e-5f * (float)K + 1e-6f);
                }
            free(W); free(B); free(x); free(y0); free(yr); free(y);
        }
    print_message("sgemv: %d variant x shape x alpha/beta cases, best variant %d\n", checked, (int)mn_sgemv_best());
}

/* ReLU (plain, clipped at 6) and the residual sum: every SIMD variant the
 * CPU runs gives the reference's bits, on odd lengths, with -0, NaN and
 * infinities, without writing past the end. */
static void t_eltwise(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 5);
    int checked = 0;
    for (int n = 0; n <= 70; n += (n < 20 ? 1 : 17)) {
        float *x = malloc(sizeof(float) * (n + 1)), *a = malloc(sizeof(float) * (n + 1));
        float *y0 = malloc(sizeof(float) * (n + 1)), *y = malloc(sizeof(float) * (n + 16));
        for (int i = 0; i < n; i++) {
            x[i] = 16 * mn_rng_uniform(&r) - 8;
            a[i] = 16 * mn_rng_uniform(&r) - 8;
            if (i % 7 == 3) x[i] = (i & 8) ? NAN : (i & 16) ? -INFINITY : INFINITY;
            if (i % 11 == 5) x[i] = -0.0f;
        }
        for (int v = MN_SIMD_REF; v <= MN_SIMD_AVX512; v++) {
            if (!mn_sgemv_variant_ok((mn_simd_variant)v)) continue;
            for (int mx = 0; mx <= 6; mx += 6) {
                mn_relu_ref(x, y0, n, (float)mx);
                for (int i = 0; i < n + 16; i++) y[i] = 77.0f;
                mn_relu_variant((mn_simd_variant)v, x, y, n, (float)mx);
                assert_memory_equal(y, y0, sizeof(float) * n);
                for (int i = n; i < n + 16; i++) assert_true(y[i] == 77.0f);
                for (int i = 0; i < n; i++) assert_true(mx ? y0[i] >= 0 && y0[i] <= 6 : y0[i] >= 0);
            }
            memcpy(y0, a, sizeof(float) * n);
            mn_add_ref(y0, x, n);
            memcpy(y, a, sizeof(float) * n);
            for (int i = n; i < n + 16; i++) y[i] = 77.0f;
            mn_add_variant((mn_simd_variant)v, y, x, n);
            assert_memory_equal(y, y0, sizeof(float) * n);
            for (int i = n; i < n + 16; i++) assert_true(y[i] == 77.0f);
            checked++;
        }
        free(x); free(a); free(y0); free(y);
    }
    print_message("relu/add: %d length x variant cases\n", checked);
}

static void t_transpose(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 11);
    int dims[] = {1, 7, 16, 17, 33, 100, 300};
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 7; b++) {
            int rows = dims[a], cols = dims[b], lda = cols + 3, ldb = rows + 5;
            float *A = malloc(sizeof(float) * rows * lda), *B1 = malloc(sizeof(float) * cols * ldb),
                  *B2 = malloc(sizeof(float) * cols * ldb);
            fill(A, (size_t)rows * lda, &r);
            fill(B1, (size_t)cols * ldb, &r);
            memcpy(B2, B1, sizeof(float) * cols * ldb);
            mn_transpose_ref(A, rows, cols, lda, B1, ldb);
            mn_transpose(A, rows, cols, lda, B2, ldb);
            assert_memory_equal(B1, B2, sizeof(float) * cols * ldb);
            free(A), free(B1), free(B2);
        }
}

/* One dense layer, in -> units, finalized, parameters drawn from r. */
static void dense_graph(mn_graph *g, int in, int units, mn_rng *r) {
    mn_graph_init(g);
    assert_true(mn_g_input(g, "x", 1, 1, in) >= 0);
    assert_true(mn_g_dense(g, "fc", "x", units) >= 0);
    assert_int_equal(mn_graph_finalize(g), MN_OK);
    mn_graph_init_params(g, r);
}

/* A dense layer's batched forward (from 4 samples on, AVX-512: minnow's
 * GEMM with W or x transposed in the scratch) equals the same samples one
 * at a time (sgemv), bias included, at 1 and 2 threads. */
static void t_dense_batched(void **s) {
    (void)s;
    mn_graph g;
    mn_rng r;
    mn_rng_seed(&r, 12);
    dense_graph(&g, 333, 77, &r);
    float *bias = mn_param_data(&g, g.nodes[1].p[1]);
    for (int i = 0; i < 77; i++) bias[i] = (float)i - 30;
    /* 2 and 3 samples run one sgemv each; 4, 8 and 37 transpose x and the
     * result (fewer floats than W's 333 x 77), 200 transposes W. */
    const int batches[] = {2, 3, 4, 8, 37, 200};
    for (int bi = 0; bi < 6; bi++) {
        int batch = batches[bi];
        assert_int_equal(mn_graph_reserve(&g, batch), MN_OK);
        float *x = malloc(sizeof(float) * batch * 333), *y1 = malloc(sizeof(float) * batch * 77);
        fill(x, (size_t)batch * 333, &r);
        for (int b = 0; b < batch; b++) memcpy(y1 + b * 77, mn_graph_forward(&g, x + b * 333, 1, 0), sizeof(float) * 77);
        for (int th = 1; th <= 2; th++) {
            mn_set_threads(th);
            const float *y = mn_graph_forward(&g, x, batch, 0);
            for (int i = 0; i < batch * 77; i++) assert_true(fabsf(y[i] - y1[i]) <= 1e-5f * (1 + fabsf(y1[i])));
        }
        mn_set_threads(1);
        free(x), free(y1);
    }
    mn_graph_free(&g);
}

/* mn_optim_step's Adam (AVX-512 where the CPU has it) against the formula
 * written out here, operation by operation: the same bits, with weight
 * decay, a mask, and parameter lengths that leave 1-15 weights over. */
static void t_adam_exact(void **s) {
    (void)s;
    mn_graph g;
    mn_rng r;
    mn_rng_seed(&r, 14);
    dense_graph(&g, 37, 13, &r);
    int64_t nw = g.nw;
    float *w = malloc(sizeof(float) * nw), *m = calloc((size_t)nw, sizeof(float)), *v = calloc((size_t)nw, sizeof(float));
    mn_param *pw = &g.params[g.nodes[1].p[0]]; /* fc.weight: 481 = 30 x 16 + 1 */
    float *mask = malloc(sizeof(float) * pw->n);
    for (int64_t i = 0; i < pw->n; i++) mask[i] = (i % 3) ? 1.0f : 0.0f;
    pw->mask = mask;
    memcpy(w, g.w, sizeof(float) * nw);
    mn_optim o;
    mn_optim_default(&o, MN_OPT_ADAM);
    o.weight_decay = 1e-3f;
    mn_optim_reset(&g, &o);
    for (int t = 1; t <= 5; t++) {
        fill(g.gw, (size_t)nw, &r);
        float lr = 1e-2f;
        double bc1 = 1 - pow(o.beta1, t), bc2 = 1 - pow(o.beta2, t);
        float step = (float)(lr / bc1), rbc2 = (float)(1 / sqrt(bc2));
        for (int pi = 0; pi < g.nparams; pi++) {
            const mn_param *p = &g.params[pi];
            if (!p->trainable) continue; /* the input node's mean and std */
            float wd = p->decay ? o.weight_decay : 0, b1 = o.beta1, b2 = o.beta2, eps = o.eps;
            for (int64_t j = p->off; j < p->off + p->n; j++) {
                float gi = g.gw[j] + wd * w[j];
                if (p->mask) gi *= p->mask[j - p->off];
                m[j] = b1 * m[j] + (1 - b1) * gi;
                v[j] = b2 * v[j] + (1 - b2) * gi * gi;
                w[j] -= step * m[j] / (sqrtf(v[j]) * rbc2 + eps);
            }
            if (p->mask)
                for (int64_t j = p->off; j < p->off + p->n; j++) w[j] *= p->mask[j - p->off];
        }
        mn_optim_step(&g, &o, lr);
        assert_memory_equal(g.w, w, sizeof(float) * nw);
        assert_memory_equal(g.m, m, sizeof(float) * nw);
        assert_memory_equal(g.v, v, sizeof(float) * nw);
    }
    pw->mask = NULL;
    free(w), free(m), free(v), free(mask);
    mn_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_sgemm), cmocka_unit_test(t_sgemm_small), cmocka_unit_test(t_im2col), cmocka_unit_test(t_im2col_variants),
                                       cmocka_unit_test(t_par_for), cmocka_unit_test(t_pool_bn_threads), cmocka_unit_test(t_maxpool2), cmocka_unit_test(t_all_finite), cmocka_unit_test(t_transpose),
                                       cmocka_unit_test(t_dense_batched), cmocka_unit_test(t_adam_exact), cmocka_unit_test(t_sgemv),
                                       cmocka_unit_test(t_eltwise), cmocka_unit_test(t_conv_s1)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
