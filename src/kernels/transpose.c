/* B = A^T for a rows x cols float matrix: 16x16 blocks through registers
 * (AVX-512), ragged blocks with masked loads and stores (the scalar
 * reference for them was half the transposes' time in LeNet-300 training,
 * whose 60-sample batches leave 12 rows over).  Dense layers use it to
 * hand the AVX-512 GEMM a row-major operand (op_dense.c). */
#include "kernels/kernels.h"
#include "kernels/avx512.h"
#include "core/cpu.h"

void mn_transpose_ref(const float *A, int rows, int cols, int64_t lda, float *B, int64_t ldb) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) B[(int64_t)c * ldb + r] = A[(int64_t)r * lda + c];
}

/* One block of nr x nc (each 1..16): rows past nr load as 0 and columns
 * past nc are not loaded; only nr lanes of nc rows are stored, so B's
 * padding and neighbours stay untouched. */
__attribute__((target("avx512f"))) static inline void block(const float *A, int nr, int nc, int64_t lda, float *B,
                                                             int64_t ldb) {
    __m512 v[16];
    __mmask16 cm = mn__lanes16(nc), rm = mn__lanes16(nr);
    for (int i = 0; i < 16; i++) v[i] = i < nr ? _mm512_maskz_loadu_ps(cm, A + (int64_t)i * lda) : _mm512_setzero_ps();
    mn__tr16(v);
    for (int j = 0; j < nc; j++) _mm512_mask_storeu_ps(B + (int64_t)j * ldb, rm, v[j]);
}

__attribute__((target("avx512f"))) static void transpose_avx512(const float *A, int rows, int cols, int64_t lda,
                                                                 float *B, int64_t ldb) {
    __m512 v[16];
    int r0 = 0;
    for (; r0 + 16 <= rows; r0 += 16) {
        int c0 = 0;
        for (; c0 + 16 <= cols; c0 += 16) {
            for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(A + (int64_t)(r0 + i) * lda + c0);
            mn__tr16(v);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(B + (int64_t)(c0 + i) * ldb + r0, v[i]);
        }
        if (c0 < cols) block(A + (int64_t)r0 * lda + c0, 16, cols - c0, lda, B + (int64_t)c0 * ldb + r0, ldb);
    }
    if (r0 < rows)
        for (int c0 = 0; c0 < cols; c0 += 16)
            block(A + (int64_t)r0 * lda + c0, rows - r0, cols - c0 < 16 ? cols - c0 : 16, lda, B + (int64_t)c0 * ldb + r0,
                  ldb);
}

void mn_transpose(const float *A, int rows, int cols, int64_t lda, float *B, int64_t ldb) {
    if (mn_cpu_features()->avx512f) transpose_avx512(A, rows, cols, lda, B, ldb);
    else mn_transpose_ref(A, rows, cols, lda, B, ldb);
}
