/* SGEMM: OpenBLAS when available (training is GEMM-bound), else a blocked
 * loop order that compilers vectorise well. */
#include "kernels/kernels.h"
#include "core/cpu.h"

#include <string.h>

#ifdef MINNOW_HAVE_BLAS
#include <cblas.h>
#include <pthread.h>
#include <strings.h>
#endif

void mn_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k];
                float b = tb ? B[(int64_t)j * ldb + k] : B[(int64_t)k * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[(int64_t)i * ldc + j];
            *c = (float)(alpha * s + (beta == 0 ? 0 : beta * *c));
        }
}

#ifdef MINNOW_HAVE_BLAS
/* OpenBLAS picks its kernels from a table of the CPUs it knows; on a newer
 * one it falls back to an old core's (Debian's 0.3.21 on a 2023 Xeon:
 * Prescott, SSE3).  These are the cores below AVX2 + FMA. */
static const char *const g_weak_cores[] = {
    "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Katmai", "Coppermine",
    "Northwood", "Banias", "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
    "Steamroller", "Excavator", "Athlon", "Unknown", "Generic"};
static int g_weak;
static pthread_once_t g_weak_once = PTHREAD_ONCE_INIT;
static void check_core(void) {
    const mn_cpu *c = mn_cpu_features();
    const char *core = openblas_get_corename();
    if (!(c->avx2 && c->fma) || !core) return; /* nothing better to offer */
    for (size_t i = 0; i < sizeof g_weak_cores / sizeof *g_weak_cores; i++)
        if (!strcasecmp(core, g_weak_cores[i])) g_weak = 1;
}
#endif

int mn_blas_weak(void) {
#ifdef MINNOW_HAVE_BLAS
    pthread_once(&g_weak_once, check_core);
    return g_weak;
#else
    return 0;
#endif
}

const char *mn_blas_core(void) {
#ifdef MINNOW_HAVE_BLAS
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
#else
    return "none";
#endif
}

int mn_sgemm_small_preferred(void) {
    const mn_cpu *c = mn_cpu_features();
    return c->avx512f || (c->avx2 && c->fma && mn_blas_weak());
}

int mn_sgemm_uses_blas(void) {
#ifdef MINNOW_HAVE_BLAS
    return 1;
#else
    return 0;
#endif
}

#ifndef MINNOW_HAVE_BLAS
/* C row i += alpha * a * B row k: the inner loop runs along contiguous rows
 * of B and C, which is what the vectoriser wants. */
static void gemm_portable(int ta, int tb, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb,
                          float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) memset(c, 0, sizeof(float) * N);
        else if (beta != 1) for (int j = 0; j < N; j++) c[j] *= beta;
    }
    if (!tb) {
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < M; i++) {
            float *c = C + (int64_t)i * ldc;
            for (int k = 0; k < K; k++) {
                float a = alpha * (ta ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k]);
                if (a == 0) continue;
                const float *b = B + (int64_t)k * ldb;
                for (int j = 0; j < N; j++) c[j] += a * b[j];
            }
        }
    } else {
        /* B^T: dot products along contiguous rows of A (when !ta) and B. */
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < M; i++) {
            float *c = C + (int64_t)i * ldc;
            for (int j = 0; j < N; j++) {
                const float *b = B + (int64_t)j * ldb;
                float s = 0;
                if (!ta) {
                    const float *a = A + (int64_t)i * lda;
                    for (int k = 0; k < K; k++) s += a[k] * b[k];
                } else {
                    for (int k = 0; k < K; k++) s += A[(int64_t)k * lda + i] * b[k];
                }
                c[j] += alpha * s;
            }
        }
    }
}
#endif

void mn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    /* One row (batch-1 dense layers): minnow's own sgemv, so that the speed
     * does not hang on the BLAS knowing this CPU (kernels/sgemv.c). */
    mn_simd_variant gv = M == 1 && !ta && K > 0 ? mn_sgemv_best() : MN_SIMD_REF;
    if (gv != MN_SIMD_REF) {
        if (tb) mn_sgemv_rows_variant(gv, N, K, alpha, B, ldb, A, beta, C);
        else mn_sgemv_cols_variant(gv, N, K, alpha, A, B, ldb, beta, C);
        return;
    }
#ifdef MINNOW_HAVE_BLAS
    /* Up to a few tens of MFLOP (a dense layer's backward at batch 60, e.g.
     * 500 x 800 x 60) minnow's AVX-512 kernel beat OpenBLAS's Haswell one
     * 2-3.5x on one thread; it needs B row-major and alpha 1. */
    if (M > 1 && !tb && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && K > 0 &&
        (int64_t)M * N * K <= (INT64_C(1) << 25) && mn_sgemm_small_preferred()) {
        mn_sgemm_small(M, N, K, A, ta ? 1 : lda, ta ? lda : 1, B, ldb, beta != 0.0f, NULL, C, ldc);
        return;
    }
    if (M == 1 && !ta) {
        /* One row without SIMD: OpenBLAS's sgemm pays its packing for
         * nothing here, its sgemv is several times faster. */
        if (tb) cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, 1, beta, C, 1);
        else cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, 1, beta, C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
#else
    gemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}
