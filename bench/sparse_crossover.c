/* Where do the sparse kernels stop beating dense SGEMM (OpenBLAS when the
 * library was built with it)?  For LeNet-sized layers, at batch 1 and 64,
 * times y += x W^T (dense layers) and C = W B (conv after im2col) for a
 * range of densities, and prints the time ratio dense / sparse and the
 * largest density at which sparse is still faster.  Built and run by
 * bench/sparse_bench.sh; single thread.
 *
 * usage: sparse_crossover [--quick] [--isa ref|portable|avx2|avx512]
 *
 * With --model FILE (repeatable) --data DIR it instead runs whole models at
 * batch 1 on real images (the first --images N of DIR's val split, default
 * 300), since the batch-1 column kernel's work depends on the input: the
 * median forward latency per model, and per CSR dense layer the median
 * fraction of active inputs (those differing from the skipped baseline)
 * and the times of the row kernel, the column path, the sliced path (AVX-512
 * only), the dispatcher (what inference runs) and OpenBLAS sgemv on the
 * same layer's real inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/data.h"
#include "minnow/io.h"
#include "kernels/kernels.h"
#include "minnow/sparse.h"
#include "kernels/sparse.h"
#include "store/csr.h"
#include "store/store.h"

/* The batch-1 row kernels alone (sparse.c: portable; 8-wide, what AVX2 and
 * AVX-512 run), to compare with the dispatcher. */
void mn__csr_xwt_rows(const mn_csr *m, const float *x, int batch, float *y);
void mn__csr_xwt_rows8(const mn_csr *m, const float *x, int batch, float *y);

typedef struct { const char *name; int rows, cols, conv_p; } shape;

static const shape SHAPES[] = {
    {"lenet300.fc1 300x784", 300, 784, 0},
    {"lenet300.fc2 100x300", 100, 300, 0},
    {"lenet5.fc1 500x800", 500, 800, 0},
    {"mlp1200.fc2 1200x1200", 1200, 1200, 0},
    {"lenet5.conv2 50x500 (8x8 out)", 50, 500, 64},
};
static const double DENS[] = {0.01, 0.02, 0.05, 0.08, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50, 0.70, 1.0};

static double g_min_s = 0.02;
static mn_sparse_isa g_isa;

/* The best of 7 rounds of the per-call time of fn, each round >= g_min_s/7:
 * the minimum is the figure least disturbed by other load on the machine. */
typedef void (*call_fn)(void *);
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double time_it(call_fn fn, void *ud) {
    fn(ud);
    int reps = 1;
    for (;;) {
        double t0 = mn_now();
        for (int i = 0; i < reps; i++) fn(ud);
        if (mn_now() - t0 > g_min_s / 7 || reps > (1 << 24)) break;
        reps *= 2;
    }
    double t[7];
    for (int k = 0; k < 7; k++) {
        double t0 = mn_now();
        for (int i = 0; i < reps; i++) fn(ud);
        t[k] = (mn_now() - t0) / reps;
    }
    qsort(t, 7, sizeof *t, cmp_d);
    return t[0];
}

typedef struct {
    const shape *s;
    int batch;
    float *w, *x, *y;
    mn_store *st;
} job;

static void dense_call(void *u) {
    job *j = u;
    if (j->s->conv_p) {
        int n = j->batch * j->s->conv_p;
        mn_sgemm(0, 0, j->s->rows, n, j->s->cols, 1.0f, j->w, j->s->cols, j->x, n, 0.0f, j->y, n);
    } else {
        mn_sgemm(0, 1, j->batch, j->s->rows, j->s->cols, 1.0f, j->x, j->s->cols, j->w, j->s->cols, 1.0f, j->y,
                 j->s->rows);
    }
}

static void sparse_call(void *u) {
    job *j = u;
    const mn_csr *m = j->st->impl;
    if (j->s->conv_p) {
        int n = j->batch * j->s->conv_p;
        mn_csr_wb_isa(g_isa, m, j->x, n, n, j->y, n);
    } else {
        mn_csr_xwt_isa(g_isa, m, j->x, j->batch, j->y);
    }
}

/* ---- --model: whole models on real images ---------------------------------- */

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return t[n / 2];
}

/* Median of the per-call time of one layer kernel, each timing over 8
 * consecutive images (5 rounds): a different input every call, as in
 * inference, so that the branch predictor cannot learn one input's pattern. */
enum { K_ROWS, K_COL, K_SELL, K_DISPATCH, K_SGEMV };
static double time_layer(int kind, const mn_csr *m, const float *wd, const float *X, int nimg, float *y, double *t) {
    int n = 0;
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < nimg; i++) {
            double t0 = mn_now();
            for (int rep = 0; rep < 8; rep++) {
                const float *x = X + (int64_t)((i + rep) % nimg) * m->cols;
                if (kind == K_ROWS && mn_sparse_best_isa() >= MN_SPARSE_AVX2) mn__csr_xwt_rows8(m, x, 1, y);
                else if (kind == K_ROWS) mn__csr_xwt_rows(m, x, 1, y);
                else if (kind == K_COL) {
                    float base;
                    mn_csr_pick_base(x, m->cols, &base);
                    mn_csr_xv_base(m, x, base, y);
                } else if (kind == K_SELL) mn_csr_sell_xwt(m, x, 1, y);
                else if (kind == K_DISPATCH) mn_csr_xwt(m, x, 1, y);
                else mn_sgemm(0, 1, 1, m->rows, m->cols, 1.0f, x, m->cols, wd, m->cols, 1.0f, y, m->rows);
            }
            t[n++] = (mn_now() - t0) / 8;
        }
    return median(t, n);
}

static int model_mode(const char **paths, int nmodels, const char *dir, int nimg) {
    mn_dataset d;
    if (mn_data_load(dir, "val", &d)) { fprintf(stderr, "sparse_crossover: %s\n", mn_errmsg()); return 1; }
    if (nimg > d.n) nimg = d.n;
    int64_t isz = (int64_t)d.c * d.h * d.w;
    printf("batch 1 on the first %d val images of %s, 1 thread, %s; median us\n", nimg, dir,
           mn_sgemm_uses_blas() ? "OpenBLAS" : "portable sgemm");
    mn_graph g[8];
    for (int mi = 0; mi < nmodels; mi++) {
        if (mn_model_load(paths[mi], &g[mi]) || mn_graph_reserve(&g[mi], 64)) {
            fprintf(stderr, "sparse_crossover: %s: %s\n", paths[mi], mn_errmsg());
            return 1;
        }
        if (mn_shape_numel(mn_graph_input_shape(&g[mi])) != isz) {
            fprintf(stderr, "sparse_crossover: %s does not take %s's images\n", paths[mi], dir);
            return 1;
        }
    }
    /* The models take turns in blocks of nimg images (each block starts
     * with 20 untimed ones), so that they see the same machine load; not
     * image by image, where the dense model's 1 MB of weights would evict
     * the sparse one's from L2 between its calls. */
    enum { ROUNDS = 5 };
    double *t = malloc(sizeof(double) * (size_t)nimg * ROUNDS * nmodels), *t64 = malloc(sizeof(double) * 21 * nmodels);
    for (int i = 0; i < 50; i++)
        for (int mi = 0; mi < nmodels; mi++) mn_graph_forward(&g[mi], d.x + (i % nimg) * isz, 1, 0);
    int64_t per = (int64_t)nimg * ROUNDS;
    for (int round = 0; round < ROUNDS; round++)
        for (int mi = 0; mi < nmodels; mi++) {
            for (int i = 0; i < 20; i++) mn_graph_forward(&g[mi], d.x + (i % nimg) * isz, 1, 0);
            for (int i = 0; i < nimg; i++) {
                double t0 = mn_now();
                mn_graph_forward(&g[mi], d.x + i * isz, 1, 0);
                t[mi * per + (int64_t)round * nimg + i] = (mn_now() - t0) * 1e6;
            }
        }
    for (int round = 0; round < 21; round++)
        for (int mi = 0; mi < nmodels; mi++) {
            double t0 = mn_now();
            mn_graph_forward(&g[mi], d.x, 64, 0);
            t64[mi * 21 + round] = (mn_now() - t0) * 1e6;
        }
    double first = 0;
    for (int mi = 0; mi < nmodels; mi++) {
        double fwd = median(t + mi * per, (int)per), p10 = t[mi * per + per / 10];
        if (!mi) first = fwd;
        printf("\n%s: forward batch 1 %.2f us (p10 %.2f; %.2fx the first model's time); batch 64 %.1f us\n", paths[mi],
               fwd, p10, fwd / first, median(t64 + mi * 21, 21));
    }
    for (int mi = 0; mi < nmodels; mi++) {
        int header = 0;
        for (int ni = 0; ni < g[mi].nnodes; ni++) {
            mn_node *nd = &g[mi].nodes[ni];
            const mn_store *st = nd->op == MN_OP_DENSE ? g[mi].params[nd->p[0]].store : NULL;
            if (!st || st->kind != MN_ST_CSR) continue;
            if (!header++)
                printf("\n%s, per CSR dense layer on its real inputs:\n  %-10s %9s %8s %8s %8s %8s %8s %11s %9s\n", paths[mi],
                       "layer", "shape", "density", "active", "row_us", "col_us", "sell_us", "dispatch_us", "sgemv_us");
            const mn_csr *m = st->impl;
            float *X = malloc(sizeof(float) * (size_t)nimg * m->cols), *y = calloc((size_t)m->rows, sizeof(float));
            double *act = malloc(sizeof(double) * (size_t)nimg);
            for (int i = 0; i < nimg; i++) {
                mn_graph_forward(&g[mi], d.x + i * isz, 1, 0);
                memcpy(X + (int64_t)i * m->cols, g[mi].nodes[nd->in[0]].y, sizeof(float) * (size_t)m->cols);
                float base;
                act[i] = (double)mn_csr_pick_base(X + (int64_t)i * m->cols, m->cols, &base) / m->cols;
            }
            double rows_us = time_layer(K_ROWS, m, NULL, X, nimg, y, t) * 1e6;
            double col_us = time_layer(K_COL, m, NULL, X, nimg, y, t) * 1e6;
            double sell_us = m->sell ? time_layer(K_SELL, m, NULL, X, nimg, y, t) * 1e6 : NAN;
            double disp_us = time_layer(K_DISPATCH, m, NULL, X, nimg, y, t) * 1e6;
            double gemv_us = time_layer(K_SGEMV, m, mn_param_data(&g[mi], nd->p[0]), X, nimg, y, t) * 1e6;
            char shp[32];
            snprintf(shp, sizeof shp, "%dx%d", m->rows, m->cols);
            printf("  %-10s %9s %7.1f%% %7.1f%% %8.2f %8.2f %8.2f %11.2f %9.2f\n", nd->name, shp,
                   100.0 * (double)m->nnz / ((double)m->rows * m->cols), 100 * median(act, nimg), rows_us, col_us,
                   sell_us, disp_us, gemv_us);
            free(X), free(y), free(act);
        }
    }
    for (int mi = 0; mi < nmodels; mi++) mn_graph_free(&g[mi]);
    free(t), free(t64);
    mn_dataset_free(&d);
    return 0;
}

int main(int argc, char **argv) {
    g_isa = mn_sparse_best_isa();
    const char *models[8], *dir = NULL;
    int nmodels = 0, nimg = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) g_min_s = 0.005;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc && nmodels < 8) models[nmodels++] = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--images") && i + 1 < argc) nimg = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *v = argv[++i];
            mn_sparse_isa want = !strcmp(v, "ref")        ? MN_SPARSE_REF
                                 : !strcmp(v, "portable") ? MN_SPARSE_PORTABLE
                                 : !strcmp(v, "avx2")     ? MN_SPARSE_AVX2
                                                          : MN_SPARSE_AVX512;
            if (want > g_isa) { fprintf(stderr, "sparse_crossover: this CPU cannot run %s\n", v); return 1; }
            g_isa = want;
        } else {
            fprintf(stderr, "usage: sparse_crossover [--quick] [--isa ref|portable|avx2|avx512]\n"
                            "       sparse_crossover --model FILE [--model FILE ...] --data DIR [--images N]\n");
            return 2;
        }
    }
    mn_set_threads(1);
    if (nmodels) {
        if (!dir || nimg < 1) { fprintf(stderr, "sparse_crossover: --model needs --data DIR (and --images >= 1)\n"); return 2; }
        return model_mode(models, nmodels, dir, nimg);
    }
    const char *isa_name[] = {"ref", "portable", "avx2", "avx512"};
    printf("sparse kernels: %s; dense: %s; 1 thread; time per call in us; ratio = dense/sparse\n",
           isa_name[g_isa], mn_sgemm_uses_blas() ? "OpenBLAS sgemm" : "portable sgemm");
    mn_rng r;
    mn_rng_seed(&r, 1);
    const int batches[] = {1, 64};
    for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++)
        for (int bi = 0; bi < 2; bi++) {
            const shape *s = &SHAPES[si];
            int batch = batches[bi];
            int64_t nx = s->conv_p ? (int64_t)s->cols * batch * s->conv_p : (int64_t)batch * s->cols;
            int64_t ny = s->conv_p ? (int64_t)s->rows * batch * s->conv_p : (int64_t)batch * s->rows;
            job j = {s, batch, malloc(sizeof(float) * s->rows * s->cols), malloc(sizeof(float) * nx),
                     malloc(sizeof(float) * ny), NULL};
            for (int64_t i = 0; i < nx; i++) j.x[i] = mn_rng_uniform(&r);
            for (int64_t i = 0; i < ny; i++) j.y[i] = 0;
            printf("\n%s, batch %d\n  %-8s %10s %10s %8s\n", s->name, batch, "density", "dense_us", "sparse_us", "ratio");
            double cross = 0;
            int still = 1;
            for (size_t di = 0; di < sizeof DENS / sizeof DENS[0]; di++) {
                for (int64_t i = 0; i < (int64_t)s->rows * s->cols; i++)
                    j.w[i] = mn_rng_uniform(&r) < DENS[di] ? mn_rng_normal(&r) : 0.0f;
                if (mn_csr_from_dense(j.w, s->rows, s->cols, &j.st)) { fprintf(stderr, "%s\n", mn_errmsg()); return 1; }
                double td = time_it(dense_call, &j), ts = time_it(sparse_call, &j);
                printf("  %7.0f%% %10.2f %10.2f %8.2f\n", DENS[di] * 100, td * 1e6, ts * 1e6, td / ts);
                if (still && td > ts) cross = DENS[di];
                else still = 0;
                mn_store_free(j.st);
            }
            printf("  sparse faster up to density %.0f%%\n", cross * 100);
            free(j.w), free(j.x), free(j.y);
        }
    return 0;
}
