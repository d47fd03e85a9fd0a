/* AVX-512F sparse kernels (the plain twins and the dispatcher are in
 * sparse.c).
 *
 * xwt, batch > 1: 16 samples at a time; their x rows are transposed on the
 *   stack into xt[col][16] so that one nonzero is one broadcast FMA over 16
 *   samples with one contiguous load; 16 rows of results are transposed
 *   back and added into y.  (Batch 1 runs sparse_csc.c's column path or the
 *   portable row kernel: on the AMD Zen 5 we measure on, 16-lane gathers
 *   lose to plain scalar loads.)
 * wb: the same product with B's 16-column panels in place of the
 *   transposed samples: B is already [cols][n], so a panel is a plain copy
 *   (kept in L1) and each row's result is one vector of C; panels are split
 *   across threads. */
#include <immintrin.h>
#include <string.h>

#include "kernels/sparse.h"
#include "kernels/avx512.h"

#define T512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))
/* xt holds at most this many floats: 128 KB of stack. */
#define XT_FLOATS 32768

void mn__csr_xwt_rows8(const mn_csr *m, const float *x, int batch, float *y);
void mn__csr_xwt_avx512(const mn_csr *m, const float *x, int batch, float *y);
void mn__csr_wb_avx512(const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc);

/* xt[c][16] = x[b][c] for b < nb (zero lanes beyond), c < cols. */
T512 static void load_xt(const float *x, int nb, int cols, float *xt) {
    __m512 r[16];
    for (int c0 = 0; c0 < cols; c0 += 16) {
        int nc = cols - c0 < 16 ? cols - c0 : 16;
        __mmask16 mk = (__mmask16)((1u << nc) - 1);
        for (int b = 0; b < 16; b++)
            r[b] = b < nb ? _mm512_maskz_loadu_ps(mk, x + (int64_t)b * cols + c0) : _mm512_setzero_ps();
        mn__tr16(r);
        for (int j = 0; j < nc; j++) _mm512_store_ps(xt + (int64_t)(c0 + j) * 16, r[j]);
    }
}

/* Row r against 16 columns of a [cols][16] panel (row stride ld floats):
 * one broadcast FMA per nonzero; 4 chains hide the FMA latency. */
T512 INLINE __m512 row_panel(const mn_csr *m, int r, const float *xt, int64_t ld) {
    const float *val = m->val;
    const int32_t *col = m->col;
    uint32_t k = m->rowptr[r], e = m->rowptr[r + 1];
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; k + 4 <= e; k += 4) {
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(val[k]), _mm512_loadu_ps(xt + col[k] * ld), a0);
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(val[k + 1]), _mm512_loadu_ps(xt + col[k + 1] * ld), a1);
        a2 = _mm512_fmadd_ps(_mm512_set1_ps(val[k + 2]), _mm512_loadu_ps(xt + col[k + 2] * ld), a2);
        a3 = _mm512_fmadd_ps(_mm512_set1_ps(val[k + 3]), _mm512_loadu_ps(xt + col[k + 3] * ld), a3);
    }
    for (; k < e; k++) a0 = _mm512_fmadd_ps(_mm512_set1_ps(val[k]), _mm512_loadu_ps(xt + col[k] * ld), a0);
    return _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
}

/* Samples 0 .. nb-1 (nb <= 16) of x into y. */
T512 static void xwt_block(const mn_csr *m, const float *x, int nb, float *y) {
    float xt[XT_FLOATS] __attribute__((aligned(64)));
    int rows = m->rows;
    load_xt(x, nb, m->cols, xt);
    __m512 acc[16];
    for (int r0 = 0; r0 < rows; r0 += 16) {
        int nr = rows - r0 < 16 ? rows - r0 : 16;
        for (int i = 0; i < 16; i++) acc[i] = i < nr ? row_panel(m, r0 + i, xt, 16) : _mm512_setzero_ps();
        mn__tr16(acc);
        __mmask16 mk = (__mmask16)((1u << nr) - 1);
        for (int b = 0; b < nb; b++) {
            float *yr = y + (int64_t)b * rows + r0;
            _mm512_mask_storeu_ps(yr, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, yr), acc[b]));
        }
    }
}

T512 void mn__csr_xwt_avx512(const mn_csr *m, const float *x, int batch, float *y) {
    int rows = m->rows, cols = m->cols;
    if (batch == 1 || (int64_t)cols * 16 > XT_FLOATS) { mn__csr_xwt_rows8(m, x, batch, y); return; }
    int nblk = (batch + 15) / 16;
    MN_PAR_FOR(nblk > 1 && mn_get_threads() > 1, i, nblk, {
        int b0 = i * 16, nb = batch - b0 < 16 ? batch - b0 : 16;
        xwt_block(m, x + (int64_t)b0 * cols, nb, y + (int64_t)b0 * rows);
    });
}

/* C[:, j0 .. j0+nj-1] for nj <= 16 * nsub.  B's columns are first copied
 * into nsub contiguous [cols][16] panels on the stack: each stays in L1
 * while every row runs over it, where B's own rows, ldb apart (often a
 * power of two), fight over a few cache sets; and the copy reads B in runs
 * of nsub * 64 bytes, which the prefetchers follow. */
T512 static void wb_panels(const mn_csr *m, const float *B, int64_t ldb, float *C, int64_t ldc, int j0, int nj,
                           int nsub) {
    float xt[XT_FLOATS] __attribute__((aligned(64)));
    int cols = m->cols, np = (nj + 15) / 16;
    __mmask16 mk[8];
    for (int s = 0; s < np; s++) {
        int w = nj - 16 * s;
        mk[s] = mn__lanes16(w);
    }
    if (nsub > 0) {
        for (int c = 0; c < cols; c++)
            for (int s = 0; s < np; s++)
                _mm512_store_ps(xt + ((int64_t)s * cols + c) * 16, _mm512_maskz_loadu_ps(mk[s], B + c * ldb + j0 + 16 * s));
        for (int s = 0; s < np; s++)
            for (int r = 0; r < m->rows; r++)
                _mm512_mask_storeu_ps(C + (int64_t)r * ldc + j0 + 16 * s, mk[s], row_panel(m, r, xt + (int64_t)s * cols * 16, 16));
    } else if (nj == 16) {
        /* Too many inputs for a panel: straight from B. */
        for (int r = 0; r < m->rows; r++) _mm512_storeu_ps(C + (int64_t)r * ldc + j0, row_panel(m, r, B + j0, ldb));
    } else {
        /* ... and a partial block, where a full-width load could run past B. */
        for (int r = 0; r < m->rows; r++)
            for (int j = j0; j < j0 + nj; j++) {
                float sum = 0;
                for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) sum += m->val[k] * B[m->col[k] * ldb + j];
                C[(int64_t)r * ldc + j] = sum;
            }
    }
}

T512 void mn__csr_wb_avx512(const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    /* Panels per block: as many (up to 4) as fit the stack buffer. */
    int nsub = (int)(XT_FLOATS / ((int64_t)m->cols * 16));
    if (nsub > 4) nsub = 4;
    int bw = 16 * (nsub > 0 ? nsub : 1), nblk = (n + bw - 1) / bw;
    MN_PAR_FOR(nblk > 1 && mn_get_threads() > 1, i, nblk, {
        int j0 = i * bw;
        wb_panels(m, B, ldb, C, ldc, j0, n - j0 < bw ? n - j0 : bw, nsub);
    });
}
