/* B = A^T for a rows x cols float matrix: 16x16 blocks through registers
 * (AVX-512), the ragged edges by the reference.  Dense layers use it to
 * hand their weight to the AVX-512 GEMM, which wants B row-major
 * (op_dense.c). */
#include "minnow/kernels.h"
#include "kernels/tr16.h"

void mn_transpose_ref(const float *A, int rows, int cols, int64_t lda, float *B, int64_t ldb) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) B[(int64_t)c * ldb + r] = A[(int64_t)r * lda + c];
}

__attribute__((target("avx512f"))) static void transpose_avx512(const float *A, int rows, int cols, int64_t lda,
                                                                 float *B, int64_t ldb) {
    int r0 = 0;
    __m512 v[16];
    for (; r0 + 16 <= rows; r0 += 16) {
        int c0 = 0;
        for (; c0 + 16 <= cols; c0 += 16) {
            for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(A + (int64_t)(r0 + i) * lda + c0);
            mn__tr16(v);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(B + (int64_t)(c0 + i) * ldb + r0, v[i]);
        }
        mn_transpose_ref(A + (int64_t)r0 * lda + c0, 16, cols - c0, lda, B + (int64_t)c0 * ldb + r0, ldb);
    }
    mn_transpose_ref(A + (int64_t)r0 * lda, rows - r0, cols, lda, B + r0, ldb);
}

void mn_transpose(const float *A, int rows, int cols, int64_t lda, float *B, int64_t ldb) {
    if (mn_cpu_features()->avx512f) transpose_avx512(A, rows, cols, lda, B, ldb);
    else mn_transpose_ref(A, rows, cols, lda, B, ldb);
}
