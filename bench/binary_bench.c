/* A 4096 x 4096 dense layer at batch 1 and 64, one thread: fp32 (OpenBLAS
 * through mn_sgemm, and cblas_sgemv at batch 1) against the binary kernels
 * (XNOR + popcount on packed +-1 inputs, and sign add/subtract on real
 * inputs), then the same layer as a graph node (`sign` + frozen `bdense`
 * vs `dense`).  Built and run by bench/binary_bench.sh; prints a table and
 * the speed-up of each binary path over the fastest fp32 one.
 * usage: binary_bench [N] [runs] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/binary.h"
#include "kernels/kernels.h"
#include "kernels/xnor.h"
#include "nn/param_store.h"
#include "store/binary.h"
#include "store/store.h"
#include "core/cpu.h"

#ifdef BENCH_CBLAS
#include <cblas.h>
#endif

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of fn over runs (after a warm-up). */
typedef void (*bench_fn)(void *);
static double timeit(bench_fn fn, void *ud, int runs) {
    for (int i = 0; i < 3; i++) fn(ud);
    double *t = malloc(sizeof(double) * runs);
    for (int i = 0; i < runs; i++) {
        double s = mn_now();
        fn(ud);
        t[i] = mn_now() - s;
    }
    qsort(t, runs, sizeof *t, cmp_d);
    double m = t[runs / 2];
    free(t);
    return m;
}

typedef struct {
    int N, batch, words, isa;
    float *x, *w, *y, *bias, *scale, *acc;
    uint64_t *xb, *wb;
    int32_t *pc, *nnz;
    mn_graph *g;
} ctx;

static void f_sgemm(void *u) {
    ctx *c = u;
    mn_sgemm(0, 1, c->batch, c->N, c->N, 1.0f, c->x, c->N, c->w, c->N, 0.0f, c->y, c->N);
}
#ifdef BENCH_CBLAS
static void f_sgemv(void *u) {
    ctx *c = u;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, c->N, c->N, 1.0f, c->w, c->N, c->x, 1, 0.0f, c->y, 1);
}
#endif

/* The whole binary layer: pack the +-1 inputs, popcount, y = a * dot + b. */
static void f_xnor(void *u) {
    ctx *c = u;
    mn_bin_pack_rows(c->x, c->batch, c->N, c->N, c->xb);
    if (c->isa == 2) mn_xnor_popc_avx512(c->xb, c->batch, c->wb, NULL, c->N, c->words, c->pc, c->N);
    else if (c->isa == 1) mn_xnor_popc_avx2(c->xb, c->batch, c->wb, NULL, c->N, c->words, c->pc, c->N);
    else mn_xnor_popc_ref(c->xb, c->batch, c->wb, NULL, c->N, c->words, c->pc, c->N);
    for (int b = 0; b < c->batch; b++)
        for (int r = 0; r < c->N; r++) {
            int64_t i = (int64_t)b * c->N + r;
            c->y[i] = c->scale[r] * (float)(c->nnz[r] - 2 * c->pc[i]) + c->bias[r];
        }
}

static void f_signacc(void *u) {
    ctx *c = u;
    if (c->isa == 2) mn_signacc_avx512(c->x, c->batch, c->N, c->N, c->wb, NULL, c->N, c->words, c->acc, c->N);
    else if (c->isa == 1) mn_signacc_avx2(c->x, c->batch, c->N, c->N, c->wb, NULL, c->N, c->words, c->acc, c->N);
    else mn_signacc_ref(c->x, c->batch, c->N, c->N, c->wb, NULL, c->N, c->words, c->acc, c->N);
}

static void f_graph(void *u) {
    ctx *c = u;
    mn_graph_forward(c->g, c->x, c->batch, 0);
}

static int64_t graph_layer(mn_graph *g, int N, int binary, const float *w) {
    char spec[128];
    snprintf(spec, sizeof spec, binary ? "input x; sign s; bdense fc units=%d" : "input x; dense fc units=%d", N);
    if (mn_arch_build(g, spec, N, 1, 1, N)) { fprintf(stderr, "%s\n", mn_errmsg()); exit(1); }
    int p = mn_graph_find_param(g, "fc.weight");
    memcpy(mn_param_data(g, p), w, sizeof(float) * N * N);
    if (binary) {
        mn_store *s;
        if (mn_binary_store_make(w, N, N, &s) || mn_param_set_store(g, p, s)) { fprintf(stderr, "%s\n", mn_errmsg()); exit(1); }
    }
    return 0;
}

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 4096, runs = argc > 2 ? atoi(argv[2]) : 30;
    mn_set_threads(1);
    const mn_cpu *cpu = mn_cpu_features();
    int best = cpu->avx512vpopcntdq && cpu->avx512bw ? 2 : cpu->avx2 ? 1 : 0;
    const char *isa_name[] = {"portable", "avx2", "avx512"};
    mn_rng r;
    mn_rng_seed(&r, 1);
    ctx c = {0};
    c.N = N;
    c.words = mn_bin_words(N);
    int maxb = 64;
    c.x = mn_alloc((size_t)maxb * N, sizeof(float));
    c.y = mn_alloc((size_t)maxb * N, sizeof(float));
    c.acc = mn_alloc((size_t)maxb * N, sizeof(float));
    c.w = mn_alloc((size_t)N * N, sizeof(float));
    c.bias = mn_alloc((size_t)N, sizeof(float));
    c.scale = mn_alloc((size_t)N, sizeof(float));
    c.nnz = mn_alloc((size_t)N, sizeof(int32_t));
    c.pc = mn_alloc((size_t)maxb * N, sizeof(int32_t));
    c.xb = mn_alloc((size_t)maxb * c.words, sizeof(uint64_t));
    c.wb = mn_alloc((size_t)N * c.words, sizeof(uint64_t));
    for (int64_t i = 0; i < (int64_t)N * N; i++) c.w[i] = mn_rng_uniform(&r) < 0.5f ? 0.01f : -0.01f;
    for (int64_t i = 0; i < (int64_t)maxb * N; i++) c.x[i] = mn_rng_uniform(&r) < 0.5f ? 1.0f : -1.0f;
    for (int i = 0; i < N; i++) { c.scale[i] = 0.01f; c.nnz[i] = N; }
    mn_bin_pack_rows(c.w, N, N, N, c.wb);
    printf("dense layer %d x %d, 1 thread, median of %d runs; CPU kernels: %s (fp32: %s)\n", N, N, runs,
           isa_name[best], mn_sgemm_uses_blas() ? "OpenBLAS" : "portable SGEMM");
    printf("%-44s %8s %12s %10s\n", "path", "batch", "time (us)", "vs fp32");
    const int batches[2] = {1, 64};
    for (int bi = 0; bi < 2; bi++) {
        c.batch = batches[bi];
        double t_gemm = timeit(f_sgemm, &c, runs), t_fp = t_gemm;
        printf("%-44s %8d %12.1f %10s\n", "fp32 mn_sgemm (OpenBLAS)", c.batch, t_gemm * 1e6, "1.0x");
#ifdef BENCH_CBLAS
        if (c.batch == 1) {
            double t_gemv = timeit(f_sgemv, &c, runs);
            printf("%-44s %8d %12.1f %9.1fx\n", "fp32 cblas_sgemv", c.batch, t_gemv * 1e6, t_gemm / t_gemv);
            if (t_gemv < t_fp) t_fp = t_gemv;
        }
#endif
        double t_x = 0;
        for (int isa = best; isa >= 0; isa--) {
            if (isa == 0 && c.batch > 1 && best > 0) continue; /* the portable one is slow; batch 1 shows it */
            c.isa = isa;
            char name[64];
            snprintf(name, sizeof name, "binary xnor+popcount, %s", isa_name[isa]);
            double t = timeit(f_xnor, &c, isa ? runs : 5);
            if (isa == best) t_x = t;
            printf("%-44s %8d %12.1f %9.1fx\n", name, c.batch, t * 1e6, t_fp / t);
        }
        c.isa = best;
        double t_sa = timeit(f_signacc, &c, runs);
        char name[64];
        snprintf(name, sizeof name, "binary weights, real inputs (%s)", isa_name[best]);
        printf("%-44s %8d %12.1f %9.1fx\n", name, c.batch, t_sa * 1e6, t_fp / t_sa);
        /* The same through the graph: node overheads included. */
        mn_graph gd, gb;
        graph_layer(&gd, N, 0, c.w);
        graph_layer(&gb, N, 1, c.w);
        mn_graph_reserve(&gd, c.batch);
        mn_graph_reserve(&gb, c.batch);
        c.g = &gd;
        double t_gd = timeit(f_graph, &c, runs);
        c.g = &gb;
        double t_gb = timeit(f_graph, &c, runs);
        printf("%-44s %8d %12.1f %10s\n", "graph: dense (fp32)", c.batch, t_gd * 1e6, "1.0x");
        printf("%-44s %8d %12.1f %9.1fx\n", "graph: sign + bdense (frozen, binary store)", c.batch, t_gb * 1e6, t_gd / t_gb);
        printf("RESULT batch=%d fp32_us=%.1f xnor_us=%.1f speedup=%.1f graph_speedup=%.1f\n", c.batch, t_fp * 1e6,
               t_x * 1e6, t_fp / t_x, t_gd / t_gb);
        mn_graph_free(&gd);
        mn_graph_free(&gb);
    }
    return 0;
}
