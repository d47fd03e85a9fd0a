/* Stride-1 convolution of one image without the im2col matrix (kernels.h,
 * mn_conv_s1).  im2col writes k*k copies of the input (ResNet-20 at batch
 * 1: 144 x 784 floats per 3x3 layer of its first stage), and writing and
 * reading them took a third of a forward pass.  Here the columns are read
 * in place from one zero-padded copy of the input: on the padded grid an
 * output position q = oy*Wp + ox reads xp[q + off(c, i, j)] for every tap,
 * a fixed offset per im2col row, so the AVX-512 small GEMM runs with a
 * table of row offsets instead of a row stride. */
#include <immintrin.h>
#include <string.h>

#include "core/cpu.h"
#include "kernels/avx512.h"
#include "kernels/kernels.h"

void mn_sgemm_offs_ref(int M, int N, int K, const float *A, int64_t rsa, int64_t csa, const float *B,
                       const int64_t *boff, const float *bias, float *C, int64_t ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[i * rsa + k * csa] * B[boff[k] + j];
            C[i * ldc + j] = (float)(s + (bias ? bias[i] : 0));
        }
}

/* Scratch: the padded image, the offset table (int64 as 2 floats) and the
 * [F, N] result on the padded grid, each rounded to 16 floats. */
#define A16(x) (((size_t)(x) + 15) & ~(size_t)15)
static size_t n_grid(int H, int W, int k, int pad) {
    int Wp = W + 2 * pad, OH = H + 2 * pad - k + 1, OW = Wp - k + 1;
    return (size_t)(OH - 1) * Wp + OW;
}

size_t mn_conv_s1_floats(int C, int H, int W, int k, int pad, int F) {
    size_t Hp = (size_t)H + 2 * pad, Wp = (size_t)W + 2 * pad;
    return A16((size_t)C * Hp * Wp) + A16(2 * (size_t)C * k * k) + A16((size_t)F * n_grid(H, W, k, pad));
}

#define T512 __attribute__((target("avx512f")))

/* n floats (rows of a few tens: a libc call each cost a tenth of the conv) */
static inline T512 void copy_row(float *d, const float *s, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = mn__lanes16(n - i);
        _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
    }
}

static T512 int conv_s1(const float *x, int C, int H, int W, int k, int pad, int F, const float *w,
                        const float *bias, float *y, float *scratch) {
    int Hp = H + 2 * pad, Wp = W + 2 * pad, OH = Hp - k + 1, OW = Wp - k + 1, K = C * k * k;
    if (OH <= 0 || OW <= 0) return 1;
    size_t N = n_grid(H, W, k, pad);
    if (N > INT32_MAX) return 1;
    float *xp = scratch, *tmp = scratch + A16((size_t)C * Hp * Wp) + A16(2 * (size_t)K);
    int64_t *off = (int64_t *)(void *)(scratch + A16((size_t)C * Hp * Wp));
    /* the padded copy: border rows and columns 0, rows copied */
    for (int c = 0; c < C; c++) {
        float *p = xp + (size_t)c * Hp * Wp;
        memset(p, 0, sizeof(float) * (size_t)pad * Wp);
        for (int r = 0; r < H; r++) {
            float *row = p + (size_t)(r + pad) * Wp;
            for (int i = 0; i < pad; i++) row[i] = row[pad + W + i] = 0;
            copy_row(row + pad, x + ((size_t)c * H + r) * W, W);
        }
        memset(p + (size_t)(H + pad) * Wp, 0, sizeof(float) * (size_t)pad * Wp);
    }
    for (int c = 0, t = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) off[t++] = ((int64_t)c * Hp + i) * Wp + j;
    mn_sgemm_offs_avx512(F, (int)N, K, w, K, 1, xp, off, bias, tmp, (int64_t)N);
    for (int f = 0; f < F; f++)
        for (int oy = 0; oy < OH; oy++)
            copy_row(y + ((size_t)f * OH + oy) * OW, tmp + (size_t)f * N + (size_t)oy * Wp, OW);
    return 0;
}

int mn_conv_s1(const float *x, int C, int H, int W, int k, int pad, int F, const float *w, const float *bias,
               float *y, float *scratch) {
    if (!mn_cpu_features()->avx512f) return 1;
    return conv_s1(x, C, H, W, k, pad, F, w, bias, y, scratch);
}
