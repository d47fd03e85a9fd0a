/* Where do the sparse kernels stop beating dense SGEMM (OpenBLAS when the
 * library was built with it)?  For LeNet-sized layers, at batch 1 and 64,
 * times y += x W^T (dense layers) and C = W B (conv after im2col) for a
 * range of densities, and prints the time ratio dense / sparse and the
 * largest density at which sparse is still faster.  Built and run by
 * bench/sparse_bench.sh; single thread.
 *
 * usage: sparse_crossover [--quick] [--isa ref|portable|avx2|avx512] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/kernels.h"
#include "minnow/sparse.h"

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

int main(int argc, char **argv) {
    g_isa = mn_sparse_best_isa();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) g_min_s = 0.005;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *v = argv[++i];
            mn_sparse_isa want = !strcmp(v, "ref")        ? MN_SPARSE_REF
                                 : !strcmp(v, "portable") ? MN_SPARSE_PORTABLE
                                 : !strcmp(v, "avx2")     ? MN_SPARSE_AVX2
                                                          : MN_SPARSE_AVX512;
            if (want > g_isa) { fprintf(stderr, "sparse_crossover: this CPU cannot run %s\n", v); return 1; }
            g_isa = want;
        } else { fprintf(stderr, "usage: sparse_crossover [--quick] [--isa ref|portable|avx2|avx512]\n"); return 2; }
    }
    mn_set_threads(1);
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
