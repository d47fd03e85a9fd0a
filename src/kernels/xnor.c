/* Binary kernels, portable half: bit packing, the reference XNOR/popcount
 * and sign-accumulate kernels, and the run-time dispatch to the AVX2 and
 * AVX-512 versions (xnor_avx2.c, xnor_avx512.c). */
#include <string.h>

#include "kernels/xnor.h"
#include "core/cpu.h"

void mn_bin_pack_ref(const float *x, int n, uint64_t *bits) {
    int words = mn_bin_words(n);
    memset(bits, 0, sizeof(uint64_t) * (size_t)words);
    for (int c = 0; c < n; c++)
        if (x[c] >= 0) bits[c >> 6] |= (uint64_t)1 << (c & 63);
}

void mn_bin_pack(const float *x, int n, uint64_t *bits) {
    if (mn_cpu_features()->avx512f) mn_bin_pack_avx512(x, n, bits);
    else mn_bin_pack_ref(x, n, bits);
}

void mn_bin_pack_rows(const float *x, int rows, int n, int64_t ldx, uint64_t *bits) {
    int words = mn_bin_words(n);
    #pragma omp parallel for schedule(static) if (rows >= 64)
    for (int r = 0; r < rows; r++) mn_bin_pack(x + r * ldx, n, bits + (int64_t)r * words);
}

void mn_xnor_popc_ref(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                      int M, int words, int32_t *out, int64_t ldo) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            const uint64_t *x = X + (int64_t)i * words, *w = W + (int64_t)j * words;
            const uint64_t *m = Mw ? Mw + (int64_t)j * words : NULL;
            int32_t s = 0;
            for (int k = 0; k < words; k++) {
                uint64_t v = x[k] ^ w[k];
                if (m) v &= m[k];
                s += __builtin_popcountll(v);
            }
            out[i * ldo + j] = s;
        }
}

/* The canonical order every variant reproduces: 64 partial sums p[c % 64]
 * in increasing c, then q[l] = (p[l] + p[16+l]) + (p[32+l] + p[48+l]) and a
 * halving tree over q's 16 lanes. */
static float signacc_one(const float *x, int K, const uint64_t *w, const uint64_t *m) {
    float p[64] = {0};
    for (int c = 0; c < K; c++) {
        uint64_t bit = (uint64_t)1 << (c & 63);
        if (m && !(m[c >> 6] & bit)) continue;
        if (w[c >> 6] & bit) p[c & 63] += x[c];
        else p[c & 63] += -x[c];
    }
    float q[16];
    for (int l = 0; l < 16; l++) q[l] = (p[l] + p[16 + l]) + (p[32 + l] + p[48 + l]);
    for (int h = 8; h >= 1; h >>= 1)
        for (int l = 0; l < h; l++) q[l] = q[l] + q[l + h];
    return q[0];
}

void mn_signacc_ref(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                    const uint64_t *Mw, int M, int words, float *out, int64_t ldo) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++)
            out[i * ldo + j] = signacc_one(x + i * ldx, K, W + (int64_t)j * words,
                                           Mw ? Mw + (int64_t)j * words : NULL);
}

void mn_signacc_cols_ref(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                         const float *B, int N, int64_t ldb, float *C, int64_t ldc) {
    for (int j = 0; j < M; j++) {
        const uint64_t *w = W + (int64_t)j * words, *m = Mw ? Mw + (int64_t)j * words : NULL;
        float *c = C + j * ldc;
        for (int n = 0; n < N; n++) c[n] = 0;
        for (int k = 0; k < K; k++) {
            uint64_t bit = (uint64_t)1 << (k & 63);
            if (m && !(m[k >> 6] & bit)) continue;
            const float *b = B + k * ldb;
            if (w[k >> 6] & bit) for (int n = 0; n < N; n++) c[n] += b[n];
            else for (int n = 0; n < N; n++) c[n] += -b[n];
        }
    }
}

/* ---- dispatch: rows of W are split across threads in blocks ------------- */

typedef void (*popc_fn)(const uint64_t *, int, const uint64_t *, const uint64_t *, int, int,
                        int32_t *, int64_t);
typedef void (*sacc_fn)(const float *, int, int64_t, int, const uint64_t *, const uint64_t *,
                        int, int, float *, int64_t);
typedef void (*cols_fn)(const uint64_t *, const uint64_t *, int, int, int, const float *, int,
                        int64_t, float *, int64_t);

enum { ROWBLK = 64 };

void mn_xnor_popc(const uint64_t *X, int N, const uint64_t *W, const uint64_t *Mw,
                  int M, int words, int32_t *out, int64_t ldo) {
    const mn_cpu *cpu = mn_cpu_features();
    popc_fn f = cpu->avx512vpopcntdq && cpu->avx512bw ? mn_xnor_popc_avx512
              : cpu->avx2 ? mn_xnor_popc_avx2 : mn_xnor_popc_ref;
    int nb = (M + ROWBLK - 1) / ROWBLK;
    #pragma omp parallel for schedule(static) if (nb > 1 && (int64_t)N * M * words > 65536)
    for (int b = 0; b < nb; b++) {
        int j0 = b * ROWBLK, m = M - j0 < ROWBLK ? M - j0 : ROWBLK;
        f(X, N, W + (int64_t)j0 * words, Mw ? Mw + (int64_t)j0 * words : NULL, m, words, out + j0, ldo);
    }
}

void mn_signacc(const float *x, int N, int64_t ldx, int K, const uint64_t *W,
                const uint64_t *Mw, int M, int words, float *out, int64_t ldo) {
    const mn_cpu *cpu = mn_cpu_features();
    sacc_fn f = cpu->avx512f ? mn_signacc_avx512 : cpu->avx2 ? mn_signacc_avx2 : mn_signacc_ref;
    int nb = (M + ROWBLK - 1) / ROWBLK;
    #pragma omp parallel for schedule(static) if (nb > 1 && (int64_t)N * M * K > 262144)
    for (int b = 0; b < nb; b++) {
        int j0 = b * ROWBLK, m = M - j0 < ROWBLK ? M - j0 : ROWBLK;
        f(x, N, ldx, K, W + (int64_t)j0 * words, Mw ? Mw + (int64_t)j0 * words : NULL, m, words,
          out + j0, ldo);
    }
}

void mn_signacc_cols(const uint64_t *W, const uint64_t *Mw, int M, int K, int words,
                     const float *B, int N, int64_t ldb, float *C, int64_t ldc) {
    const mn_cpu *cpu = mn_cpu_features();
    cols_fn f = cpu->avx512f ? mn_signacc_cols_avx512 : cpu->avx2 ? mn_signacc_cols_avx2
              : mn_signacc_cols_ref;
    /* Column blocks keep a slice of B in cache while every row passes. */
    enum { NBLK = 256 };
    int nb = (N + NBLK - 1) / NBLK;
    #pragma omp parallel for schedule(static) if (nb > 1 && (int64_t)N * M * K > 262144)
    for (int b = 0; b < nb; b++) {
        int n0 = b * NBLK, n = N - n0 < NBLK ? N - n0 : NBLK;
        f(W, Mw, M, K, words, B + n0, n, ldb, C + n0, ldc);
    }
}
