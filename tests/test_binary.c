/* Binarized networks: packed kernels against their references (exactly, odd
 * sizes), the MN_ST_BINARY store and its hostile inputs, the binarization
 * modes and their straight-through gradients (finite differences where
 * the function is differentiable), the XNOR/popcount inference path
 * against the f32 path, threshold folding, the file round trip, and short
 * accuracy runs on MNIST. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/binary.h"
#include "minnow/io.h"
#include "kernels/kernels.h"
#include "minnow/train.h"
#include "testutil.h"
#include "kernels/xnor.h"
#include "nn/bin_w.h"
#include "store/binary.h"
#include "store/store.h"
#include "core/cpu.h"

static uint64_t *rand_bits(mn_rng *r, int rows, int n, float density) {
    int words = mn_bin_words(n);
    uint64_t *b = mn_alloc((size_t)rows * words, sizeof *b);
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < n; c++)
            if (mn_rng_uniform(r) < density) b[(int64_t)i * words + (c >> 6)] |= (uint64_t)1 << (c & 63);
    return b;
}

static const int g_sizes[] = {1, 7, 63, 64, 65, 100, 300, 511, 512, 513, 784, 1000};
#define NSIZES ((int)(sizeof g_sizes / sizeof g_sizes[0]))

static void t_pack(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 1);
    for (int si = 0; si < NSIZES; si++) {
        int n = g_sizes[si], words = mn_bin_words(n);
        assert_true(words % 8 == 0 && words * 64 >= n);
        float *x = malloc(sizeof(float) * n);
        for (int c = 0; c < n; c++) x[c] = mn_rng_uniform(&r) - 0.5f;
        x[0] = -0.0f; /* sign(-0) = +1 */
        uint64_t *b = mn_alloc((size_t)words, sizeof *b);
        if (n > 5) x[5] = NAN; /* packs as -1 everywhere */
        for (int v = 0; v < 3; v++) {
            if (v == 2 && !mn_cpu_features()->avx512f) continue;
            memset(b, 0xff, sizeof *b * words);
            if (v == 0) mn_bin_pack_ref(x, n, b);
            else if (v == 1) mn_bin_pack(x, n, b);
            else mn_bin_pack_avx512(x, n, b);
            for (int c = 0; c < words * 64; c++) {
                int bit = (int)(b[c >> 6] >> (c & 63) & 1);
                assert_int_equal(bit, c < n ? x[c] >= 0 : 0);
            }
        }
        free(x);
        mn_free(b);
    }
}

/* XNOR/popcount: every variant equals the reference, and the reference
 * equals the +-1 dot product computed the slow way. */
static void t_popc(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 2);
    const mn_cpu *cpu = mn_cpu_features();
    const int Ns[] = {1, 3, 4, 5, 9}, Ms[] = {1, 3, 4, 7, 65};
    for (int si = 0; si < NSIZES; si++)
        for (int ni = 0; ni < 5; ni++)
            for (int masked = 0; masked < 2; masked++) {
                int K = g_sizes[si], N = Ns[ni], M = Ms[(si + ni) % 5], words = mn_bin_words(K);
                uint64_t *X = rand_bits(&r, N, K, 0.5f), *W = rand_bits(&r, M, K, 0.5f);
                uint64_t *Mw = masked ? rand_bits(&r, M, K, 0.7f) : NULL;
                int32_t *ref = malloc(sizeof(int32_t) * N * M), *got = malloc(sizeof(int32_t) * N * M);
                mn_xnor_popc_ref(X, N, W, Mw, M, words, ref, M);
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < M; j++) {
                        int dot = 0, nnz = 0;
                        for (int c = 0; c < K; c++) {
                            int xb = (int)(X[(int64_t)i * words + (c >> 6)] >> (c & 63) & 1);
                            int wb = (int)(W[(int64_t)j * words + (c >> 6)] >> (c & 63) & 1);
                            int mb = Mw ? (int)(Mw[(int64_t)j * words + (c >> 6)] >> (c & 63) & 1) : 1;
                            dot += mb * (2 * xb - 1) * (2 * wb - 1);
                            nnz += mb;
                        }
                        assert_int_equal(dot, nnz - 2 * ref[i * M + j]);
                    }
                mn_xnor_popc(X, N, W, Mw, M, words, got, M);
                assert_memory_equal(ref, got, sizeof(int32_t) * N * M);
                if (cpu->avx2) {
                    memset(got, 0, sizeof(int32_t) * N * M);
                    mn_xnor_popc_avx2(X, N, W, Mw, M, words, got, M);
                    assert_memory_equal(ref, got, sizeof(int32_t) * N * M);
                }
                if (cpu->avx512vpopcntdq && cpu->avx512bw) {
                    memset(got, 0, sizeof(int32_t) * N * M);
                    mn_xnor_popc_avx512(X, N, W, Mw, M, words, got, M);
                    assert_memory_equal(ref, got, sizeof(int32_t) * N * M);
                }
                mn_free(X); mn_free(W); mn_free(Mw); free(ref); free(got);
            }
}

static void check_same_floats(const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++)
        if (!(a[i] == b[i])) fail_msg("element %d: %.9g vs %.9g", i, a[i], b[i]);
}

/* Real inputs: bit-identical across variants, close to a double sum. */
static void t_signacc(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 3);
    const mn_cpu *cpu = mn_cpu_features();
    for (int si = 0; si < NSIZES; si++)
        for (int masked = 0; masked < 2; masked++) {
            int K = g_sizes[si], N = 1 + si % 4, M = 1 + (si * 7) % 13, words = mn_bin_words(K);
            int64_t ldx = K + 3;
            uint64_t *W = rand_bits(&r, M, K, 0.5f), *Mw = masked ? rand_bits(&r, M, K, 0.6f) : NULL;
            float *x = malloc(sizeof(float) * N * ldx);
            for (int64_t i = 0; i < N * ldx; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
            float *ref = malloc(sizeof(float) * N * M), *got = malloc(sizeof(float) * N * M);
            mn_signacc_ref(x, N, ldx, K, W, Mw, M, words, ref, M);
            for (int i = 0; i < N; i++)
                for (int j = 0; j < M; j++) {
                    double d = 0;
                    for (int c = 0; c < K; c++) {
                        uint64_t bit = (uint64_t)1 << (c & 63);
                        if (Mw && !(Mw[(int64_t)j * words + (c >> 6)] & bit)) continue;
                        d += (W[(int64_t)j * words + (c >> 6)] & bit ? 1 : -1) * (double)x[i * ldx + c];
                    }
                    assert_true(fabs(d - ref[i * M + j]) < 1e-4 * (1 + sqrt(K)));
                }
            mn_signacc(x, N, ldx, K, W, Mw, M, words, got, M);
            check_same_floats(ref, got, N * M);
            if (cpu->avx2) { mn_signacc_avx2(x, N, ldx, K, W, Mw, M, words, got, M); check_same_floats(ref, got, N * M); }
            if (cpu->avx512f) { mn_signacc_avx512(x, N, ldx, K, W, Mw, M, words, got, M); check_same_floats(ref, got, N * M); }
            mn_free(W); mn_free(Mw); free(x); free(ref); free(got);
        }
}

static void t_signacc_cols(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 4);
    const mn_cpu *cpu = mn_cpu_features();
    const int Ns[] = {1, 5, 17, 64, 100, 300};
    for (int si = 0; si < NSIZES; si++)
        for (int masked = 0; masked < 2; masked++) {
            int K = g_sizes[si] > 600 ? 600 : g_sizes[si], N = Ns[si % 6], M = 1 + (si * 5) % 9, words = mn_bin_words(K);
            int64_t ldb = N + 2, ldc = N + 1;
            uint64_t *W = rand_bits(&r, M, K, 0.5f), *Mw = masked ? rand_bits(&r, M, K, 0.6f) : NULL;
            float *B = malloc(sizeof(float) * K * ldb), *ref = calloc((size_t)M * ldc, sizeof(float));
            float *got = calloc((size_t)M * ldc, sizeof(float));
            for (int64_t i = 0; i < K * ldb; i++) B[i] = 2 * mn_rng_uniform(&r) - 1;
            mn_signacc_cols_ref(W, Mw, M, K, words, B, N, ldb, ref, ldc);
            for (int j = 0; j < M; j++) {
                double d = 0;
                for (int c = 0; c < K; c++) {
                    uint64_t bit = (uint64_t)1 << (c & 63);
                    if (Mw && !(Mw[(int64_t)j * words + (c >> 6)] & bit)) continue;
                    d += (W[(int64_t)j * words + (c >> 6)] & bit ? 1 : -1) * (double)B[c * ldb + N - 1];
                }
                assert_true(fabs(d - ref[j * ldc + N - 1]) < 1e-4 * (1 + sqrt(K)));
            }
            mn_signacc_cols(W, Mw, M, K, words, B, N, ldb, got, ldc);
            check_same_floats(ref, got, (int)(M * ldc));
            if (cpu->avx2) { mn_signacc_cols_avx2(W, Mw, M, K, words, B, N, ldb, got, ldc); check_same_floats(ref, got, (int)(M * ldc)); }
            if (cpu->avx512f) { mn_signacc_cols_avx512(W, Mw, M, K, words, B, N, ldb, got, ldc); check_same_floats(ref, got, (int)(M * ldc)); }
            mn_free(W); mn_free(Mw); free(B); free(ref); free(got);
        }
}

/* ---- storage ------------------------------------------------------------ */

/* rows x cols binary values: per-row scale, some zeros if sparse. */
static float *binary_matrix(mn_rng *r, int rows, int cols, int sparse, int shared) {
    float *w = malloc(sizeof(float) * rows * cols);
    for (int i = 0; i < rows; i++) {
        float sc = shared ? 0.25f : 0.01f + mn_rng_uniform(r);
        for (int c = 0; c < cols; c++) {
            float u = mn_rng_uniform(r);
            w[i * cols + c] = sparse && u < 0.3f ? 0.0f : mn_rng_uniform(r) < 0.5f ? sc : -sc;
        }
    }
    return w;
}

static void t_store(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 5);
    const mn_store_traits *t = mn_store_traits_of(MN_ST_BINARY);
    assert_non_null(t);
    assert_string_equal(mn_storage_name(MN_ST_BINARY), "binary");
    const int shapes[][2] = {{1, 1}, {3, 7}, {10, 100}, {5, 513}, {64, 65}};
    for (int si = 0; si < 5; si++)
        for (int v = 0; v < 4; v++) {
            int rows = shapes[si][0], cols = shapes[si][1], sparse = v & 1, shared = v >> 1;
            float *w = binary_matrix(&r, rows, cols, sparse, shared);
            mn_store *st;
            assert_int_equal(mn_binary_store_make(w, rows, cols, &st), MN_OK);
            const mn_bin_store *b = mn_binary_store(st);
            assert_non_null(b);
            float *dec = malloc(sizeof(float) * rows * cols);
            t->decode(st, dec);
            assert_memory_equal(w, dec, sizeof(float) * rows * cols);
            unsigned char *buf;
            size_t len;
            assert_int_equal(t->serialize(st, &buf, &len), MN_OK);
            assert_int_equal(len, t->bytes(st));
            /* 1 bit per weight (2 with zeros) + header + scales. */
            size_t plane = ((size_t)rows * cols + 7) / 8;
            assert_int_equal(len, 12 + 4 * (b->shared_scale ? 1 : rows) + plane * (b->mask ? 2 : 1));
            mn_store st2 = {0};
            assert_int_equal(t->deserialize(buf, len, rows, cols, &st2), MN_OK);
            memset(dec, 0, sizeof(float) * rows * cols);
            t->decode(&st2, dec);
            assert_memory_equal(w, dec, sizeof(float) * rows * cols);
            unsigned char *buf2;
            size_t len2;
            assert_int_equal(t->serialize(&st2, &buf2, &len2), MN_OK);
            assert_int_equal(len, len2);
            assert_memory_equal(buf, buf2, len);
            t->free(&st2);
            /* Hostile forms: every one is MN_EFORMAT, never a crash. */
            unsigned char *h = malloc(len + 8);
            for (size_t cut = 0; cut < len; cut += 1 + len / 16)
                assert_int_equal(t->deserialize(buf, cut, rows, cols, &st2), MN_EFORMAT);
            memcpy(h, buf, len); h[len] = 0;
            assert_int_equal(t->deserialize(h, len + 1, rows, cols, &st2), MN_EFORMAT);
            assert_int_equal(t->deserialize(buf, len, rows + 1, cols, &st2), MN_EFORMAT);
            assert_int_equal(t->deserialize(buf, len, rows, cols + 1, &st2), MN_EFORMAT);
            memcpy(h, buf, len); h[0] = 2;
            assert_int_equal(t->deserialize(h, len, rows, cols, &st2), MN_EFORMAT);
            memcpy(h, buf, len); h[1] |= 4;
            assert_int_equal(t->deserialize(h, len, rows, cols, &st2), MN_EFORMAT);
            memcpy(h, buf, len); h[2] = 1;
            assert_int_equal(t->deserialize(h, len, rows, cols, &st2), MN_EFORMAT);
            float bad[3] = {NAN, -1.0f, INFINITY};
            for (int k = 0; k < 3; k++) {
                memcpy(h, buf, len);
                memcpy(h + 12, &bad[k], 4);
                assert_int_equal(t->deserialize(h, len, rows, cols, &st2), MN_EFORMAT);
            }
            size_t tail = (size_t)rows * cols % 8, nsc = b->shared_scale ? 1 : (size_t)rows;
            if (tail) {
                memcpy(h, buf, len);
                h[12 + 4 * nsc + plane - 1] |= 0x80;
                assert_int_equal(t->deserialize(h, len, rows, cols, &st2), MN_EFORMAT);
            }
            if (b->mask) { /* a sign bit on a zero weight */
                size_t zero = 0;
                while (w[zero] != 0) zero++;
                memcpy(h, buf, len);
                h[12 + 4 * nsc + zero / 8] |= (unsigned char)(1u << (zero % 8));
                assert_int_equal(t->deserialize(h, len, rows, cols, &st2), MN_EFORMAT);
            }
            free(h); free(buf); free(buf2); free(dec); free(w);
            mn_store_free(st);
        }
    /* Values that are not +-one magnitude per row are refused. */
    float nb[4] = {0.5f, -0.5f, 0.25f, 0.5f};
    mn_store *st;
    assert_int_equal(mn_binary_store_make(nb, 1, 4, &st), MN_EARG);
    assert_null(st);
}

/* The store's xwt / wb kernels against the decoded f32 weights. */
static void t_store_kernels(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 6);
    const mn_store_traits *t = mn_store_traits_of(MN_ST_BINARY);
    for (int sparse = 0; sparse < 2; sparse++) {
        int rows = 37, cols = 300, batch = 5, n = 70;
        float *w = binary_matrix(&r, rows, cols, sparse, 0);
        mn_store *st;
        assert_int_equal(mn_binary_store_make(w, rows, cols, &st), MN_OK);
        float *x = malloc(sizeof(float) * batch * cols), *y = malloc(sizeof(float) * batch * rows);
        float *yr = malloc(sizeof(float) * batch * rows);
        for (int i = 0; i < batch * cols; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
        for (int i = 0; i < batch * rows; i++) y[i] = yr[i] = (float)i;
        t->xwt(st, x, batch, y, NULL); /* the binary kernels take no work area */
        mn_sgemm_ref(0, 1, batch, rows, cols, 1.0f, x, cols, w, cols, 1.0f, yr, rows);
        assert_true(tu_maxdiff(y, yr, (size_t)batch * rows) < 1e-3f);
        float *B = malloc(sizeof(float) * cols * n), *C = malloc(sizeof(float) * rows * n), *Cr = malloc(sizeof(float) * rows * n);
        for (int i = 0; i < cols * n; i++) B[i] = 2 * mn_rng_uniform(&r) - 1;
        t->wb(st, B, n, n, C, n, NULL);
        mn_sgemm_ref(0, 0, rows, n, cols, 1.0f, w, cols, B, n, 0.0f, Cr, n);
        assert_true(tu_maxdiff(C, Cr, (size_t)rows * n) < 1e-3f);
        free(w); free(x); free(y); free(yr); free(B); free(C); free(Cr);
        mn_store_free(st);
    }
}

/* ---- binarization modes ------------------------------------------------- */

static void t_modes(void **s) {
    (void)s;
    mn_rng r;
    mn_rng_seed(&r, 7);
    enum { R = 3, C = 50 };
    float w[R * C], wb[R * C], H = mn_bin_glorot(C, R);
    assert_true(fabsf(H - sqrtf(1.5f / (C + R))) < 1e-7f);
    for (int i = 0; i < R * C; i++) w[i] = 2.4f * mn_rng_uniform(&r) - 1.2f;
    w[0] = 0;
    mn_bin_effective(MN_BIN_DET, w, R, C, H, 0, NULL, wb);
    for (int i = 0; i < R * C; i++) assert_true(wb[i] == (w[i] >= 0 ? H : -H));
    mn_bin_effective(MN_BIN_XNOR, w, R, C, H, 0, NULL, wb);
    for (int i = 0; i < R; i++) {
        double a = 0;
        for (int c = 0; c < C; c++) a += fabsf(w[i * C + c]);
        a /= C;
        for (int c = 0; c < C; c++) assert_true(fabsf(wb[i * C + c] - (float)(w[i * C + c] >= 0 ? a : -a)) < 1e-6f);
    }
    mn_bin_effective(MN_BIN_BITWISE, w, R, C, H, 0.3f, NULL, wb);
    for (int i = 0; i < R * C; i++) assert_true(wb[i] == (fabsf(w[i]) < 0.3f ? 0 : w[i] >= 0 ? H : -H));
    mn_bin_effective(MN_BIN_TANH, w, R, C, H, 0, NULL, wb);
    for (int i = 0; i < R * C; i++) assert_true(fabsf(wb[i] - H * tanhf(w[i])) < 1e-7f);
    /* Stochastic: P(+H) = hard_sigmoid(w) = clip((w + 1) / 2, 0, 1). */
    const float probe[] = {-1.5f, -0.6f, 0.0f, 0.5f, 2.0f};
    for (int k = 0; k < 5; k++) {
        enum { T = 20000 };
        static float ww[T], bb[T];
        for (int i = 0; i < T; i++) ww[i] = probe[k];
        mn_bin_effective(MN_BIN_STOCH, ww, 1, T, 1.0f, 0, &r, bb);
        int plus = 0;
        for (int i = 0; i < T; i++) { assert_true(bb[i] == 1 || bb[i] == -1); plus += bb[i] > 0; }
        float p = fminf(fmaxf((probe[k] + 1) / 2, 0), 1);
        assert_true(fabsf((float)plus / T - p) < 0.015f);
    }
    /* Without a random source stochastic is the deterministic sign. */
    mn_bin_effective(MN_BIN_STOCH, w, R, C, H, 0, NULL, wb);
    for (int i = 0; i < R * C; i++) assert_true(wb[i] == (w[i] >= 0 ? H : -H));
}

/* ---- gradients ---------------------------------------------------------- */

static double loss_of(mn_graph *g, const float *x, const float *R, int batch, int64_t nout) {
    const float *y = mn_graph_forward(g, x, batch, 1);
    double s = 0;
    for (int64_t i = 0; i < batch * nout; i++) s += (double)R[i] * y[i];
    return s;
}

/* Finite differences of loss = sum(R * out) against the backward pass, for
 * every trainable parameter except those named in `skip` (whose function
 * is piecewise constant: the STE is not a derivative).  ghost_scale
 * multiplies the initial weights of binary layers. */
static void gradcheck(const char *spec, int c, int h, int w, int batch, const char *skip, float ghost_scale) {
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, spec, c, h, w, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (int p = 0; p < g.nparams; p++) {
        if (!g.params[p].trainable) continue;
        const char *nm = g.params[p].name;
        int bin = 0;
        for (int i = 0; i < g.nnodes; i++)
            if ((g.nodes[i].op == MN_OP_BDENSE || g.nodes[i].op == MN_OP_BCONV) && g.nodes[i].p[0] == p) bin = 1;
        float sc = bin ? ghost_scale : strstr(nm, ".gamma") ? 0 : 0.5f;
        for (int64_t k = 0; k < g.params[p].n; k++)
            mn_param_data(&g, p)[k] = strstr(nm, ".gamma") ? 0.5f + mn_rng_uniform(&r) : sc * (2 * mn_rng_uniform(&r) - 1);
    }
    assert_int_equal(mn_graph_reserve(&g, batch), MN_OK);
    int64_t nin = (int64_t)c * h * w, nout = mn_shape_numel(mn_graph_output_shape(&g));
    float *x = malloc(sizeof(float) * batch * nin), *R = malloc(sizeof(float) * batch * nout);
    for (int64_t i = 0; i < batch * nin; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    for (int64_t i = 0; i < batch * nout; i++) R[i] = 2 * mn_rng_uniform(&r) - 1;
    loss_of(&g, x, R, batch, nout);
    mn_graph_zero_grad(&g);
    mn_graph_backward(&g, R, batch);
    int checked = 0, bad = 0;
    for (int p = 0; p < g.nparams; p++) {
        if (!g.params[p].trainable || (skip && strstr(g.params[p].name, skip))) continue;
        int64_t n = g.params[p].n, stride = n > 40 ? n / 40 : 1;
        for (int64_t k = 0; k < n; k += stride) {
            float *wk = mn_param_data(&g, p) + k, save = *wk, eps = 2e-3f;
            *wk = save + eps;
            double lp = loss_of(&g, x, R, batch, nout);
            *wk = save - eps;
            double lm = loss_of(&g, x, R, batch, nout);
            *wk = save;
            double fd = (lp - lm) / (2 * eps), an = mn_param_grad(&g, p)[k];
            checked++;
            if (fabs(fd - an) > 2e-2 * fmax(1.0, fabs(fd))) {
                bad++;
                if (bad <= 5) fprintf(stderr, "  %s: %s[%lld] fd %.6f analytic %.6f\n", spec, g.params[p].name, (long long)k, fd, an);
            }
        }
    }
    assert_true(checked > 0);
    assert_true(bad <= checked / 25);
    free(x); free(R);
    mn_graph_free(&g);
}

/* tanh weights (bitwise pretraining) are differentiable: check everything. */
static void t_grad_tanh(void **s) {
    (void)s;
    gradcheck("input x; dense pre units=6; bdense b units=5 bmode=4; dense o units=3", 7, 1, 1, 3, NULL, 1.0f);
    gradcheck("input x; conv pre filters=3 k=1; bconv b filters=4 k=3 bmode=4; flatten f; dense o units=3", 2, 6, 6, 2, NULL, 1.0f);
    gradcheck("input x; conv pre filters=3 k=1; bconv b filters=4 k=3 stride=2 pad=1 bmode=4; flatten f; dense o units=3",
              2, 7, 7, 2, NULL, 1.0f);
}

/* Sign weights: the layer is exactly linear in its input and bias, so the
 * input gradient (seen through `pre`) and the bias gradient are checked;
 * the ghost weights' STE is checked by t_ste. */
static void t_grad_sign_weights(void **s) {
    (void)s;
    for (int m = 1; m <= 5; m++) {
        if (m == MN_BIN_TANH || m == MN_BIN_STOCH) continue;
        char spec[256];
        snprintf(spec, sizeof spec, "input x; dense pre units=6; bdense b units=5 bmode=%d; dense o units=3", m);
        gradcheck(spec, 7, 1, 1, 3, "b.weight", 1.0f);
        snprintf(spec, sizeof spec, "input x; conv pre filters=3 k=1; bconv b filters=4 k=3 pad=1 bmode=%d; flatten f; dense o units=3", m);
        gradcheck(spec, 2, 5, 5, 2, "b.weight", 1.0f);
    }
    /* Frozen layers are plain linear layers: every gradient is exact. */
    gradcheck("input x; dense pre units=6; bdense b units=5; dense o units=3", 7, 1, 1, 3, NULL, 1.0f);
}

/* sign's hard-tanh STE, and bX's ghost gradient formulas. */
static void t_ste(void **s) {
    (void)s;
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, "input x; dense pre units=9; sign sg; dense o units=2", 4, 1, 1, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 12);
    mn_graph_init_params(&g, &r);
    for (int64_t k = 0; k < 9 * 4; k++) mn_param_data(&g, 2)[k] *= 6; /* pre outputs spread over +-3 */
    assert_int_equal(mn_graph_reserve(&g, 2), MN_OK);
    float x[8], R[4] = {1, -2, 0.5f, 3};
    for (int i = 0; i < 8; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    mn_graph_forward(&g, x, 2, 1);
    mn_graph_zero_grad(&g);
    mn_graph_backward(&g, R, 2);
    const mn_node *pre = &g.nodes[mn_graph_find_node(&g, "pre")], *sg = &g.nodes[mn_graph_find_node(&g, "sg")];
    int inside = 0, outside = 0;
    for (int i = 0; i < 18; i++) {
        assert_true(sg->y[i] == (pre->y[i] >= 0 ? 1.0f : -1.0f));
        float want = fabsf(pre->y[i]) <= 1 ? sg->dy[i] : 0.0f;
        assert_true(pre->dy[i] == want);
        if (fabsf(pre->y[i]) <= 1) inside++; else outside++;
    }
    assert_true(inside > 0 && outside > 0);
    mn_graph_free(&g);

    /* XNOR: FD of the loss in one ghost weight sees alpha's dependence
     * (sign does not move for a small step), i.e. the analytic gradient
     * minus its straight-through diagonal term alpha * g * 1{|w| <= 1}. */
    enum { U = 4, I = 6, B = 3 };
    assert_int_equal(mn_arch_build(&g, "input x; bdense b units=4 bmode=3", I, 1, 1, 10), MN_OK);
    float *w = mn_param_data(&g, mn_graph_find_param(&g, "b.weight"));
    for (int k = 0; k < U * I; k++) w[k] = (mn_rng_uniform(&r) < 0.5f ? -1 : 1) * (0.1f + 0.8f * mn_rng_uniform(&r));
    assert_int_equal(mn_graph_reserve(&g, B), MN_OK);
    float xx[B * I], RR[B * U];
    for (int i = 0; i < B * I; i++) xx[i] = 2 * mn_rng_uniform(&r) - 1;
    for (int i = 0; i < B * U; i++) RR[i] = 2 * mn_rng_uniform(&r) - 1;
    loss_of(&g, xx, RR, B, U);
    mn_graph_zero_grad(&g);
    mn_graph_backward(&g, RR, B);
    const float *gw = mn_param_grad(&g, mn_graph_find_param(&g, "b.weight"));
    for (int u = 0; u < U; u++) {
        double a = 0;
        for (int i = 0; i < I; i++) a += fabsf(w[u * I + i]);
        a /= I;
        for (int i = 0; i < I; i++) {
            int k = u * I + i;
            double gwb = 0; /* dL/dWb[u, i] = sum_b R[b, u] x[b, i] */
            for (int b = 0; b < B; b++) gwb += RR[b * U + u] * xx[b * I + i];
            float save = w[k], eps = 1e-3f;
            w[k] = save + eps;
            double lp = loss_of(&g, xx, RR, B, U);
            w[k] = save - eps;
            double lm = loss_of(&g, xx, RR, B, U);
            w[k] = save;
            double fd = (lp - lm) / (2 * eps), an = gw[k] - a * gwb;
            assert_true(fabs(fd - an) < 1e-3 * fmax(1, fabs(fd)));
        }
    }
    mn_graph_free(&g);

    /* BinaryConnect: H * dL/dWb where |w| <= 1, zero outside. */
    float wg[6] = {-1.5f, -0.5f, 0, 0.5f, 1.0f, 2.0f}, gb[6] = {1, 2, 3, 4, 5, 6}, out[6] = {0};
    mn_bin_ste(MN_BIN_DET, wg, gb, 1, 6, 0.5f, 0, out);
    const float want[6] = {0, 1, 1.5f, 2, 2.5f, 0};
    assert_memory_equal(out, want, sizeof want);
    /* bitwise: the tanh surrogate. */
    memset(out, 0, sizeof out);
    mn_bin_ste(MN_BIN_BITWISE, wg, gb, 1, 6, 0.5f, 0, out);
    for (int i = 0; i < 6; i++) assert_true(fabsf(out[i] - 0.5f * gb[i] * (1 - tanhf(wg[i]) * tanhf(wg[i]))) < 1e-6f);
}

/* XNOR-Net's input scale: y = beta_b * x.W_b^T + bias with beta_b the mean
 * |pre-sign input|; conv: K, the box average of mean_c |x|. */
static void t_xscale(void **s) {
    (void)s;
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, "input x; sign sg; bdense b units=3 bmode=3 xscale=1", 5, 1, 1, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 13);
    float *w = mn_param_data(&g, mn_graph_find_param(&g, "b.weight")), *bias = mn_param_data(&g, mn_graph_find_param(&g, "b.bias"));
    for (int k = 0; k < 15; k++) w[k] = 2 * mn_rng_uniform(&r) - 1;
    for (int k = 0; k < 3; k++) bias[k] = mn_rng_uniform(&r);
    assert_int_equal(mn_graph_reserve(&g, 2), MN_OK);
    float x[10];
    for (int i = 0; i < 10; i++) x[i] = 4 * mn_rng_uniform(&r) - 2;
    const float *y = mn_graph_forward(&g, x, 2, 0);
    float wb[15];
    mn_bin_effective(MN_BIN_XNOR, w, 3, 5, 1, 0, NULL, wb);
    for (int b = 0; b < 2; b++) {
        double beta = 0;
        for (int c = 0; c < 5; c++) beta += fabsf(x[b * 5 + c]) / 5;
        for (int u = 0; u < 3; u++) {
            double z = 0;
            for (int c = 0; c < 5; c++) z += wb[u * 5 + c] * (x[b * 5 + c] >= 0 ? 1 : -1);
            assert_true(fabs(y[b * 3 + u] - (beta * z + bias[u])) < 1e-5);
        }
    }
    mn_graph_free(&g);
    /* xscale needs a sign input; bfold needs a frozen layer. */
    assert_int_equal(mn_arch_build(&g, "input x; dense d units=4; bdense b units=3 bmode=3 xscale=1", 5, 1, 1, 10), MN_ESHAPE);
    assert_int_equal(mn_arch_build(&g, "input x; bdense b units=3 bmode=1 bfold=1", 5, 1, 1, 10), MN_ESHAPE);
    assert_int_equal(mn_arch_build(&g, "input x; bdense b units=3 bmode=9", 5, 1, 1, 10), MN_ESHAPE);
    assert_int_equal(mn_arch_build(&g, "input x; conv c filters=4 k=1; bconv b filters=4 k=3 groups=2", 4, 5, 5, 10), MN_ESHAPE);
    /* conv K on a 1 x 3 x 3 input, k = 3, pad 1: K = box(|x|) / 9. */
    assert_int_equal(mn_arch_build(&g, "input x; sign sg; bconv b filters=1 k=3 pad=1 bmode=3 xscale=1", 1, 3, 3, 10), MN_OK);
    w = mn_param_data(&g, mn_graph_find_param(&g, "b.weight"));
    for (int k = 0; k < 9; k++) w[k] = 0.5f; /* alpha 0.5, all +1 */
    assert_int_equal(mn_graph_reserve(&g, 1), MN_OK);
    float im[9] = {1, -2, 3, -4, 5, -6, 7, -8, 9};
    y = mn_graph_forward(&g, im, 1, 0);
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            double K = 0, z = 0;
            for (int i = -1; i <= 1; i++)
                for (int j = -1; j <= 1; j++) {
                    int iy = oy + i, ix = ox + j;
                    if (iy < 0 || iy > 2 || ix < 0 || ix > 2) continue;
                    K += fabsf(im[iy * 3 + ix]) / 9;
                    z += 0.5 * (im[iy * 3 + ix] >= 0 ? 1 : -1);
                }
            assert_true(fabs(y[oy * 3 + ox] - K * z) < 1e-5);
        }
    mn_graph_free(&g);
}

/* ---- inference form ----------------------------------------------------- */

/* Random ghost weights and non-trivial batchnorm statistics. */
static void randomize(mn_graph *g, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_graph_init_params(g, &r);
    for (int i = 0; i < g->nnodes; i++) {
        mn_node *n = &g->nodes[i];
        if (n->op == MN_OP_BDENSE || n->op == MN_OP_BCONV)
            for (int k = 0; k < n->np; k++) {
                float *d = mn_param_data(g, n->p[k]);
                for (int64_t j = 0; j < g->params[n->p[k]].n; j++) d[j] = (2 * mn_rng_uniform(&r) - 1) * (k ? 0.3f : 1.0f);
            }
        if (n->op == MN_OP_BATCHNORM) {
            float *ga = mn_param_data(g, n->p[0]), *be = mn_param_data(g, n->p[1]);
            float *mu = mn_param_data(g, n->p[2]), *var = mn_param_data(g, n->p[3]);
            for (int c = 0; c < n->out.d[0]; c++) {
                ga[c] = (mn_rng_uniform(&r) < 0.2f ? -1 : 1) * (0.5f + mn_rng_uniform(&r));
                if (c == 1) ga[c] = 0; /* a constant unit */
                be[c] = 0.5f * (2 * mn_rng_uniform(&r) - 1);
                mu[c] = 0.2f * (2 * mn_rng_uniform(&r) - 1);
                var[c] = 0.1f + mn_rng_uniform(&r);
            }
        }
    }
}

static float *run(mn_graph *g, const float *x, int batch) {
    int64_t n = batch * mn_shape_numel(mn_graph_output_shape(g));
    assert_int_equal(mn_graph_reserve(g, batch), MN_OK);
    float *y = malloc(sizeof(float) * n);
    memcpy(y, mn_graph_forward(g, x, batch, 0), sizeof(float) * n);
    return y;
}

/* Relative agreement of two logit sets, allowing `ties` samples whose
 * hidden +-1 units may flip on rounding. */
static void close_logits(const float *a, const float *b, int batch, int k, float tol, int ties) {
    int off = 0;
    for (int i = 0; i < batch; i++) {
        float m = 0;
        for (int j = 0; j < k; j++) m = fmaxf(m, fabsf(a[i * k + j]));
        if (tu_maxdiff(a + i * k, b + i * k, k) > tol * (1 + m)) off++;
    }
    if (off > ties) fail_msg("%d of %d samples differ", off, batch);
}

/* For a trained-shaped binary graph: the frozen graph run on the kernels
 * equals the same graph on the f32 path (stores dropped), unfolded and
 * folded, before and after a save/load round trip. */
static void check_inference_at(const char *spec, int c, int h, int w, int batch, float sparse_thresh) {
    mn_graph g, fz, fo, ld, f32;
    assert_int_equal(mn_arch_build(&g, spec, c, h, w, 10), MN_OK);
    randomize(&g, 21);
    for (int i = 0; i < g.nnodes; i++)
        if (g.nodes[i].op == MN_OP_BDENSE || g.nodes[i].op == MN_OP_BCONV) g.nodes[i].a.bsparse = sparse_thresh;
    mn_rng r;
    mn_rng_seed(&r, 22);
    int64_t nin = (int64_t)c * h * w, k = mn_shape_numel(mn_graph_output_shape(&g));
    float *x = malloc(sizeof(float) * batch * nin);
    for (int64_t i = 0; i < batch * nin; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    float *y0 = run(&g, x, batch);
    assert_int_equal(mn_binary_freeze(&g, 0, &fz), MN_OK);
    assert_int_equal(mn_binary_freeze(&g, 1, &fo), MN_OK);
    int stores = 0;
    for (int p = 0; p < fo.nparams; p++) stores += mn_binary_store(fo.params[p].store) != NULL;
    assert_true(stores > 0);
    float *y1 = run(&fz, x, batch), *y2 = run(&fo, x, batch);
    close_logits(y0, y1, batch, (int)k, 1e-4f, batch / 50);
    close_logits(y1, y2, batch, (int)k, 1e-4f, batch / 50);
    assert_int_equal(mn_graph_clone(&fo, &f32), MN_OK);
    mn_graph_drop_stores(&f32);
    float *y3 = run(&f32, x, batch);
    close_logits(y2, y3, batch, (int)k, 1e-4f, batch / 50);
    unsigned char *buf;
    size_t len;
    assert_int_equal(mn_model_save_mem(&fo, &buf, &len), MN_OK);
    assert_int_equal(mn_model_load_mem(buf, len, &ld), MN_OK);
    float *y4 = run(&ld, x, batch);
    assert_memory_equal(y2, y4, sizeof(float) * batch * k);
    free(buf); free(x); free(y0); free(y1); free(y2); free(y3); free(y4);
    mn_graph_free(&g); mn_graph_free(&fz); mn_graph_free(&fo); mn_graph_free(&ld); mn_graph_free(&f32);
}

/* Small batches take the sign add/subtract kernel, larger ones SGEMM. */
static void check_inference(const char *spec, int c, int h, int w, int batch, float sparse_thresh) {
    check_inference_at(spec, c, h, w, 3, sparse_thresh);
    check_inference_at(spec, c, h, w, batch, sparse_thresh);
}

static void t_infer_dense(void **s) {
    (void)s;
    /* BinaryConnect: real activations, sign-accumulate kernel. */
    check_inference("input x; flatten f; bdense fc1 units=33 bmode=1; relu r1; bdense fc2 units=17 bmode=2; relu r2;"
                    "bdense fc3 units=10 bmode=1", 1, 9, 9, 40, 0);
    /* XNOR MLP: f32 first / last, popcount in the middle, folded thresholds. */
    check_inference("input x; flatten f; dense fc1 units=70; batchnorm b1; sign s1; bdense fc2 units=65 bmode=3;"
                    "batchnorm b2; sign s2; bdense fc3 units=130 bmode=3; sign s3; dense fc4 units=10", 1, 9, 9, 50, 0);
    /* XNOR-Net input scale: the sign feeding fc2 must survive folding. */
    check_inference("input x; flatten f; bdense fc1 units=40 bmode=3; batchnorm b1; sign s1; bdense fc2 units=30 bmode=3 xscale=1;"
                    "batchnorm b2; sign s2; bdense fc3 units=10 bmode=3", 1, 7, 7, 30, 0);
    /* bitwise with zero weights (the second bit plane). */
    check_inference("input x; flatten f; bdense fc1 units=40 bmode=5; batchnorm b1; sign s1; bdense fc2 units=30 bmode=5;"
                    "batchnorm b2; sign s2; bdense fc3 units=10 bmode=5", 1, 7, 7, 50, 0.4f);
}

static void t_infer_conv(void **s) {
    (void)s;
    /* +-1 inputs through padding (the border correction), stride, max-pool. */
    check_inference("input x; conv c1 filters=5 k=3 pad=1; batchnorm b1; sign s1; bconv c2 filters=7 k=3 pad=1 bmode=3;"
                    "batchnorm b2; sign s2; maxpool p k=2; bconv c3 filters=6 k=3 stride=2 pad=1 bmode=5; batchnorm b3;"
                    "sign s3; flatten f; dense o units=10", 3, 10, 9, 8, 0);
    check_inference("input x; sign s0; bconv c1 filters=4 k=5 pad=2 bmode=5; batchnorm b1; sign s1; flatten f; dense o units=10",
                    2, 8, 8, 6, 0.3f);
    /* real inputs: sign-accumulate after im2col. */
    check_inference("input x; bconv c1 filters=6 k=3 bmode=1; relu r; bconv c2 filters=3 k=2 stride=2 bmode=3; flatten f;"
                    "dense o units=10", 2, 9, 9, 4, 0);
}

/* The graph rewrite: which layers become binary, and where sign goes. */
static void t_convert(void **s) {
    (void)s;
    mn_graph d, b;
    assert_int_equal(mn_arch_build(&d, "lenet5", 1, 28, 28, 10), MN_OK);
    mn_binarize_opts o;
    assert_int_equal(mn_binarize_opts_init(&o, "xnor"), MN_OK);
    o.keep_first_last = 1;
    assert_int_equal(mn_binarize_convert(&d, &o, &b), MN_OK);
    assert_int_equal(b.nodes[mn_graph_find_node(&b, "conv1")].op, MN_OP_CONV);
    assert_int_equal(b.nodes[mn_graph_find_node(&b, "conv2")].op, MN_OP_BCONV);
    assert_int_equal(b.nodes[mn_graph_find_node(&b, "fc1")].op, MN_OP_BDENSE);
    assert_int_equal(b.nodes[mn_graph_find_node(&b, "fc2")].op, MN_OP_DENSE);
    assert_int_equal(b.nodes[mn_graph_find_node(&b, "r1")].op, MN_OP_SIGN);
    assert_int_equal(b.nodes[mn_graph_find_node(&b, "r1_bn")].op, MN_OP_BATCHNORM);
    assert_true(mn_node_binary_valued(&b, mn_graph_find_node(&b, "p1")));
    assert_string_equal(mn_graph_get_meta(&b, "binary"), "xnor");
    mn_graph bb;
    assert_int_equal(mn_binarize_convert(&b, &o, &bb), MN_EARG); /* already binary */
    mn_graph_free(&b);
    assert_int_equal(mn_binarize_opts_init(&o, "bc"), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 1);
    mn_graph_init_params(&d, &r);
    assert_int_equal(mn_binarize_convert(&d, &o, &b), MN_OK);
    int nb = 0;
    for (int i = 0; i < b.nnodes; i++) {
        nb += b.nodes[i].op == MN_OP_BDENSE || b.nodes[i].op == MN_OP_BCONV;
        assert_true(b.nodes[i].op != MN_OP_SIGN);
    }
    assert_int_equal(nb, 4);
    /* Ghost weights start at w / H, clipped to [-1, 1]. */
    const float *w0 = mn_param_data(&d, mn_graph_find_param(&d, "fc1.weight"));
    const float *w1 = mn_param_data(&b, mn_graph_find_param(&b, "fc1.weight"));
    float H = mn_bin_glorot(800, 500);
    for (int k = 0; k < 100; k++) assert_true(fabsf(w1[k] - fminf(fmaxf(w0[k] / H, -1), 1)) < 1e-6f);
    mn_graph_free(&b);
    assert_int_equal(mn_binarize_opts_init(&o, "ternary"), MN_EARG);
    mn_graph_free(&d);
}

/* ---- accuracy on MNIST (short) ------------------------------------------- */

static void t_mnist(void **s) {
    (void)s;
    const char *dir = tu_mnist_dir();
    if (!dir) skip();
    mn_dataset tr, va;
    assert_int_equal(mn_data_load(dir, "train", &tr), MN_OK);
    assert_int_equal(mn_data_load(dir, "val", &va), MN_OK);
    int ntrain = tr.n;
    tr.n = ntrain < 4000 ? ntrain : 4000; /* keeps the test short */
    const char *methods[] = {"binaryconnect", "xnor"};
    for (int m = 0; m < 2; m++) {
        mn_graph g;
        assert_int_equal(mn_arch_build(&g, "lenet300", tr.c, tr.h, tr.w, 10), MN_OK);
        mn_rng r;
        mn_rng_seed(&r, 1);
        mn_graph_init_params(&g, &r);
        assert_int_equal(mn_set_input_norm(&g, &tr), MN_OK);
        mn_train_cfg c;
        mn_train_default(&c);
        c.epochs = 2;
        mn_binarize_opts o;
        assert_int_equal(mn_binarize_opts_init(&o, methods[m]), MN_OK);
        o.keep_first_last = m == 1;
        assert_int_equal(mn_binarize_train(&g, &o, &tr, NULL, &c), MN_OK);
        mn_eval_result e;
        assert_int_equal(mn_eval(&g, &va, 250, &e), MN_OK);
        fprintf(stderr, "  lenet300 %s, 2 epochs on 4000 samples from scratch: val error %.2f%%\n", methods[m], 100 * e.error);
        assert_true(e.error < 0.13f); /* chance is 0.9 */
        mn_graph_free(&g);
    }
    tr.n = ntrain;
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_pack),          cmocka_unit_test(t_popc),        cmocka_unit_test(t_signacc),
        cmocka_unit_test(t_signacc_cols),  cmocka_unit_test(t_store),       cmocka_unit_test(t_store_kernels),
        cmocka_unit_test(t_modes),         cmocka_unit_test(t_grad_tanh),   cmocka_unit_test(t_grad_sign_weights),
        cmocka_unit_test(t_ste),           cmocka_unit_test(t_xscale),      cmocka_unit_test(t_infer_dense),
        cmocka_unit_test(t_infer_conv),    cmocka_unit_test(t_convert),     cmocka_unit_test(t_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
