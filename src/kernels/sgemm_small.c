/* The conv layers' small GEMMs: the run-time choice between the AVX-512,
 * AVX2 and portable versions, and the plain reference they are tested
 * against.  The portable path is mn_sgemm (OpenBLAS or the blocked loops),
 * reached by expressing the strided A as a (possibly transposed) matrix. */
#include "kernels/kernels.h"
#include "core/cpu.h"

void mn_sgemm_small_ref(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                        const float *B, int64_t ldb, int beta, const float *bias,
                        float *C, int64_t ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[i * rsa + k * csa] * B[k * ldb + j];
            float *c = &C[i * ldc + j];
            *c = (float)(s + (beta ? *c : 0) + (bias ? bias[i] : 0));
        }
}

void mn_sgemm_small_portable(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                             const float *B, int64_t ldb, int beta, const float *bias,
                             float *C, int64_t ldc) {
    int ta = csa != 1;
    int64_t lda = ta ? csa : rsa;
    if ((ta && rsa != 1) || lda > INT32_MAX || ldb > INT32_MAX || ldc > INT32_MAX || K == 0) {
        mn_sgemm_small_ref(M, N, K, A, rsa, csa, B, ldb, beta, bias, C, ldc);
        return;
    }
    if (bias)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[i * ldc + j] = (beta ? C[i * ldc + j] : 0) + bias[i];
    mn_sgemm(ta, 0, M, N, K, 1.0f, A, (int)lda, B, (int)ldb, (beta || bias) ? 1.0f : 0.0f, C, (int)ldc);
}

void mn_sgemm_small(int M, int N, int K, const float *A, int64_t rsa, int64_t csa,
                    const float *B, int64_t ldb, int beta, const float *bias,
                    float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    const mn_cpu *cpu = mn_cpu_features();
    if (cpu->avx512f) mn_sgemm_small_avx512(M, N, K, A, rsa, csa, B, ldb, beta, bias, C, ldc);
    else if (cpu->avx2 && cpu->fma) mn_sgemm_small_avx2(M, N, K, A, rsa, csa, B, ldb, beta, bias, C, ldc);
    else mn_sgemm_small_portable(M, N, K, A, rsa, csa, B, ldb, beta, bias, C, ldc);
}
