/* Sparse (CSR) kernels: the plain references, the portable kernels that
 * MINNOW_NO_SIMD=1 (or a CPU without AVX2) runs, the AVX2 + FMA versions,
 * and the run-time choice between them and the AVX-512 ones
 * (sparse_avx512.c).  The SIMD versions share one shape: a [cols][lanes]
 * panel on the stack (batched xwt: a block of samples transposed; wb: a
 * block of B's columns copied), against which each nonzero is one
 * broadcast FMA.
 * Batch-1 xwt runs the column path over the active inputs (sparse_csc.c)
 * when that is estimated cheaper, else a row kernel: 8 nonzeros per FMA
 * with x assembled from scalar loads (AVX2, AVX-512), eight scalar sums
 * (portable); both beat gathers on the CPUs we measured (docs/SPARSE.md). */
#include <immintrin.h>
#include <string.h>

#include "kernels/sparse.h"
#include "core/cpu.h"

#define T256 __attribute__((target("avx2,fma")))
#define XT_FLOATS 16384 /* 64 KB of stack for a transposed block */
#define WB_FLOATS 32768 /* 128 KB of stack for wb's panels */

void mn__csr_xwt_rows(const mn_csr *m, const float *x, int batch, float *y);
void mn__csr_xwt_rows8(const mn_csr *m, const float *x, int batch, float *y);
void mn__csr_xwt_avx512(const mn_csr *m, const float *x, int batch, float *y);
void mn__csr_wb_avx512(const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc);
int mn__csr_xv1(mn_sparse_isa isa, const mn_csr *m, const float *x, float *y, double alt);

/* ---- references ---------------------------------------------------------- */

void mn_csr_xwt_ref(const mn_csr *m, const float *x, int batch, float *y) {
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (int64_t)b * m->cols;
        float *yb = y + (int64_t)b * m->rows;
        for (int r = 0; r < m->rows; r++) {
            float s = 0;
            for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) s += m->val[k] * xb[m->col[k]];
            yb[r] += s;
        }
    }
}

void mn_csr_wb_ref(const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    for (int r = 0; r < m->rows; r++) {
        float *c = C + (int64_t)r * ldc;
        for (int j = 0; j < n; j++) c[j] = 0;
        for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
            const float *b = B + (int64_t)m->col[k] * ldb;
            float v = m->val[k];
            for (int j = 0; j < n; j++) c[j] += v * b[j];
        }
    }
}

/* ---- portable ------------------------------------------------------------- */

/* One sample, one row at a time: eight independent sums keep the loads
 * (value, column, x[column]) flowing instead of waiting on one chain.
 * The last 0-7 nonzeros take seven selects, not a loop: a row's length
 * varies, and a remainder loop mispredicted its exit about once a row
 * (LeNet-300 fc2 at 8% on real inputs: 1.16 -> 0.90 us).  The lanes past
 * the row read the next row's entries (or MN_CSR_SLACK's zeros after the
 * last row), valid columns, and add exactly 0 whatever x holds there. */
static float row_dot(const mn_csr *m, int r, const float *x) {
    const float *val = m->val;
    const int32_t *col = m->col;
    uint32_t k = m->rowptr[r], e = m->rowptr[r + 1];
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (; k + 8 <= e; k += 8) {
        s0 += val[k] * x[col[k]];
        s1 += val[k + 1] * x[col[k + 1]];
        s2 += val[k + 2] * x[col[k + 2]];
        s3 += val[k + 3] * x[col[k + 3]];
        s4 += val[k + 4] * x[col[k + 4]];
        s5 += val[k + 5] * x[col[k + 5]];
        s6 += val[k + 6] * x[col[k + 6]];
        s7 += val[k + 7] * x[col[k + 7]];
    }
    uint32_t n = e - k;
#define TAIL(j, s) { float xv = x[col[k + j]]; s += (j) < n ? val[k + j] * xv : 0.0f; }
    TAIL(0, s0) TAIL(1, s1) TAIL(2, s2) TAIL(3, s3) TAIL(4, s4) TAIL(5, s5) TAIL(6, s6)
#undef TAIL
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

void mn__csr_xwt_rows(const mn_csr *m, const float *x, int batch, float *y) {
    int rows = m->rows, cols = m->cols;
    /* A plain branch, not an `if` clause: libgomp sets up a one-thread team
     * even when the clause is false, ~1 us, as long as a small layer takes. */
    if (mn_get_threads() > 1 && (int64_t)batch * m->nnz > (1 << 18)) {
        #pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < batch; b++) y[(int64_t)b * rows + r] += row_dot(m, r, x + (int64_t)b * cols);
        return;
    }
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < batch; b++) y[(int64_t)b * rows + r] += row_dot(m, r, x + (int64_t)b * cols);
}

/* Batched, portable: 8 samples transposed into xt[col][8], so the inner
 * loop is a fixed-length axpy the compiler vectorises with baseline SSE2. */
static void xwt_block_portable(const mn_csr *m, const float *x, int nb, float *y) {
    float xt[XT_FLOATS];
    int rows = m->rows, cols = m->cols;
    for (int c = 0; c < cols; c++)
        for (int b = 0; b < 8; b++) xt[c * 8 + b] = b < nb ? x[(int64_t)b * cols + c] : 0.0f;
    for (int r = 0; r < rows; r++) {
        float acc[8] = {0};
        for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
            const float *p = xt + (int64_t)m->col[k] * 8;
            float v = m->val[k];
            for (int b = 0; b < 8; b++) acc[b] += v * p[b];
        }
        for (int b = 0; b < nb; b++) y[(int64_t)b * rows + r] += acc[b];
    }
}

static void csr_xwt_portable(const mn_csr *m, const float *x, int batch, float *y) {
    if (batch == 1 || (int64_t)m->cols * 8 > XT_FLOATS) { mn__csr_xwt_rows(m, x, batch, y); return; }
    int nblk = (batch + 7) / 8;
    MN_PAR_FOR(nblk > 1 && mn_get_threads() > 1, i, nblk, {
        int b0 = i * 8, nb = batch - b0 < 8 ? batch - b0 : 8;
        xwt_block_portable(m, x + (int64_t)b0 * m->cols, nb, y + (int64_t)b0 * m->rows);
    });
}

/* C over 64-column blocks accumulated in a local array: a fixed-length
 * inner loop with no aliasing, which compilers vectorise. */
static void csr_wb_portable(const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    int nblk = (n + 63) / 64;
    MN_PAR_FOR(nblk > 1 && mn_get_threads() > 1, i, nblk, {
        int j0 = i * 64, w = n - j0 < 64 ? n - j0 : 64;
        for (int r = 0; r < m->rows; r++) {
            float acc[64] = {0};
            for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
                const float *b = B + (int64_t)m->col[k] * ldb + j0;
                float v = m->val[k];
                if (w == 64) for (int j = 0; j < 64; j++) acc[j] += v * b[j];
                else for (int j = 0; j < w; j++) acc[j] += v * b[j];
            }
            memcpy(C + (int64_t)r * ldc + j0, acc, sizeof(float) * (size_t)w);
        }
    });
}

/* ---- AVX2 + FMA ------------------------------------------------------------ */

T256 static __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

T256 static void tr8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    /* r[i] holds columns i%4 (low lane) and 4 + i%4 (high lane) of rows
     * 4*(i/4)..+3. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

/* Row r against 8 columns of a [cols][8] panel (row stride ld floats). */
T256 static inline __attribute__((always_inline)) __m256 row_panel8(const mn_csr *m, int r, const float *xt, int64_t ld) {
    const float *val = m->val;
    const int32_t *col = m->col;
    uint32_t k = m->rowptr[r], e = m->rowptr[r + 1];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; k + 4 <= e; k += 4) {
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(val[k]), _mm256_loadu_ps(xt + col[k] * ld), a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(val[k + 1]), _mm256_loadu_ps(xt + col[k + 1] * ld), a1);
        a2 = _mm256_fmadd_ps(_mm256_set1_ps(val[k + 2]), _mm256_loadu_ps(xt + col[k + 2] * ld), a2);
        a3 = _mm256_fmadd_ps(_mm256_set1_ps(val[k + 3]), _mm256_loadu_ps(xt + col[k + 3] * ld), a3);
    }
    for (; k < e; k++) a0 = _mm256_fmadd_ps(_mm256_set1_ps(val[k]), _mm256_loadu_ps(xt + col[k] * ld), a0);
    return _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
}

T256 static void xwt_block8(const mn_csr *m, const float *x, int nb, float *y) {
    float xt[XT_FLOATS] __attribute__((aligned(32)));
    int rows = m->rows, cols = m->cols;
    __m256 r[8];
    for (int c0 = 0; c0 < cols; c0 += 8) {
        int nc = cols - c0 < 8 ? cols - c0 : 8;
        __m256i mk = tail_mask(nc);
        for (int b = 0; b < 8; b++)
            r[b] = b < nb ? _mm256_maskload_ps(x + (int64_t)b * cols + c0, mk) : _mm256_setzero_ps();
        tr8(r);
        for (int j = 0; j < nc; j++) _mm256_store_ps(xt + (int64_t)(c0 + j) * 8, r[j]);
    }
    for (int r0 = 0; r0 < rows; r0 += 8) {
        int nr = rows - r0 < 8 ? rows - r0 : 8;
        for (int i = 0; i < 8; i++) r[i] = i < nr ? row_panel8(m, r0 + i, xt, 8) : _mm256_setzero_ps();
        tr8(r);
        __m256i mk = tail_mask(nr);
        for (int b = 0; b < nb; b++) {
            float *yr = y + (int64_t)b * rows + r0;
            _mm256_maskstore_ps(yr, mk, _mm256_add_ps(_mm256_maskload_ps(yr, mk), r[b]));
        }
    }
}

T256 static void csr_xwt_avx2(const mn_csr *m, const float *x, int batch, float *y) {
    int rows = m->rows, cols = m->cols;
    if (batch == 1 || (int64_t)cols * 8 > XT_FLOATS) { mn__csr_xwt_rows8(m, x, batch, y); return; }
    int nblk = (batch + 7) / 8;
    MN_PAR_FOR(nblk > 1 && mn_get_threads() > 1, i, nblk, {
        int b0 = i * 8, nb = batch - b0 < 8 ? batch - b0 : 8;
        xwt_block8(m, x + (int64_t)b0 * cols, nb, y + (int64_t)b0 * rows);
    });
}

/* Batch 1, one row at a time, 8 nonzeros per FMA: x[col[k]] for eight k
 * assembled from scalar loads (the compiler's insert chain), which on the
 * Zen 5 we measured is 1.3-1.4x faster than the scalar row_dot above and
 * 2x faster than vgatherdps (LeNet-300 at 8% on real inputs: fc1 4.7
 * against 6.4 us, fc2 0.85 against 1.15; docs/SPARSE.md).  The last 0-7
 * nonzeros are one more step with both factors masked to 0: its lanes past
 * the row read the next row's entries (or MN_CSR_SLACK's zeros), valid
 * columns whose x may be NaN, so x is masked too, not just the weight. */
#define X8(c) _mm256_setr_ps(x[(c)[0]], x[(c)[1]], x[(c)[2]], x[(c)[3]], x[(c)[4]], x[(c)[5]], x[(c)[6]], x[(c)[7]])
T256 static float row_dot8(const float *val, const float *ve, const int32_t *col, const float *x) {
    __m256 a = _mm256_setzero_ps();
    for (; ve - val >= 8; val += 8, col += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(val), X8(col), a);
    __m256 mk = _mm256_castsi256_ps(tail_mask((int)(ve - val)));
    a = _mm256_fmadd_ps(_mm256_and_ps(mk, _mm256_loadu_ps(val)), _mm256_and_ps(mk, X8(col)), a);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
#undef X8

T256 static void rows8_range(const mn_csr *m, const float *x, int batch, float *y, int r0, int r1) {
    const uint32_t *rp = m->rowptr;
    if (batch == 1) { /* its own loop: the sample loop's bookkeeping spilled registers */
        for (int r = r0; r < r1; r++) y[r] += row_dot8(m->val + rp[r], m->val + rp[r + 1], m->col + rp[r], x);
        return;
    }
    for (int r = r0; r < r1; r++)
        for (int b = 0; b < batch; b++)
            y[(int64_t)b * m->rows + r] +=
                row_dot8(m->val + rp[r], m->val + rp[r + 1], m->col + rp[r], x + (int64_t)b * m->cols);
}

/* The row kernel of the AVX2 and AVX-512 paths (batch 1, and per sample
 * where a transposed block would not fit on the stack). */
void mn__csr_xwt_rows8(const mn_csr *m, const float *x, int batch, float *y) {
    int rows = m->rows;
    if (mn_get_threads() > 1 && (int64_t)batch * m->nnz > (1 << 18)) { /* a plain branch: see mn__csr_xwt_rows */
        int nt = mn_get_threads();
        #pragma omp parallel for schedule(static)
        for (int t = 0; t < nt; t++) rows8_range(m, x, batch, y, (int)((int64_t)rows * t / nt), (int)((int64_t)rows * (t + 1) / nt));
        return;
    }
    rows8_range(m, x, batch, y, 0, rows);
}

/* C[:, j0 .. j0+nj-1], nj <= 8 * nsub, from nsub 8-column panels of B
 * copied to the stack (see wb_panels in sparse_avx512.c for why). */
T256 static void wb_panels8(const mn_csr *m, const float *B, int64_t ldb, float *C, int64_t ldc, int j0, int nj,
                            int nsub) {
    float xt[WB_FLOATS] __attribute__((aligned(32)));
    int cols = m->cols, np = (nj + 7) / 8;
    if (nsub > 0) {
        int full = nj / 8; /* whole panels load plainly; masked loads are slow on some CPUs */
        __m256i mk = tail_mask(nj - 8 * full);
        for (int c = 0; c < cols; c++) {
            const float *b = B + c * ldb + j0;
            for (int s = 0; s < full; s++) _mm256_store_ps(xt + ((int64_t)s * cols + c) * 8, _mm256_loadu_ps(b + 8 * s));
            if (full < np) _mm256_store_ps(xt + ((int64_t)full * cols + c) * 8, _mm256_maskload_ps(b + 8 * full, mk));
        }
        for (int s = 0; s < np; s++) {
            __m256i mk = tail_mask(nj - 8 * s);
            for (int r = 0; r < m->rows; r++)
                _mm256_maskstore_ps(C + (int64_t)r * ldc + j0 + 8 * s, mk, row_panel8(m, r, xt + (int64_t)s * cols * 8, 8));
        }
    } else if (nj == 8) {
        for (int r = 0; r < m->rows; r++) _mm256_storeu_ps(C + (int64_t)r * ldc + j0, row_panel8(m, r, B + j0, ldb));
    } else {
        for (int r = 0; r < m->rows; r++)
            for (int j = j0; j < j0 + nj; j++) {
                float sum = 0;
                for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) sum += m->val[k] * B[m->col[k] * ldb + j];
                C[(int64_t)r * ldc + j] = sum;
            }
    }
}

T256 static void csr_wb_avx2(const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    int nsub = (int)(WB_FLOATS / ((int64_t)m->cols * 8));
    if (nsub > 8) nsub = 8;
    int bw = 8 * (nsub > 0 ? nsub : 1), nblk = (n + bw - 1) / bw;
    MN_PAR_FOR(nblk > 1 && mn_get_threads() > 1, i, nblk, {
        int j0 = i * bw;
        wb_panels8(m, B, ldb, C, ldc, j0, n - j0 < bw ? n - j0 : bw, nsub);
    });
}

/* ---- dispatch ---------------------------------------------------------------- */

mn_sparse_isa mn_sparse_best_isa(void) {
    const mn_cpu *c = mn_cpu_features();
    if (c->avx512f) return MN_SPARSE_AVX512;
    if (c->avx2 && c->fma) return MN_SPARSE_AVX2;
    return MN_SPARSE_PORTABLE;
}

void mn_csr_xwt_isa(mn_sparse_isa isa, const mn_csr *m, const float *x, int batch, float *y) {
    if (batch <= 0 || m->nnz == 0) return;
    /* Batch 1: the cheapest of the row kernel, the sliced one
     * (sparse_sell.c; AVX-512) and, with mostly inactive inputs, the column
     * path (sparse_csc.c); costs in row-kernel nonzeros.  Small batches:
     * the sliced kernel, 4 samples per pass, beats the batched one, whose
     * 16 lanes are then mostly empty. */
    int sell = isa == MN_SPARSE_AVX512 && m->sell && m->sell->cost < (double)m->nnz;
    if (batch == 1 && isa != MN_SPARSE_REF && mn__csr_xv1(isa, m, x, y, sell ? m->sell->cost : (double)m->nnz)) return;
    if (sell && batch <= MN_SPARSE_SELL_MAX_BATCH && mn_csr_sell_xwt(m, x, batch, y)) return;
    switch (isa) {
    case MN_SPARSE_AVX512: mn__csr_xwt_avx512(m, x, batch, y); break;
    case MN_SPARSE_AVX2: csr_xwt_avx2(m, x, batch, y); break;
    case MN_SPARSE_PORTABLE: csr_xwt_portable(m, x, batch, y); break;
    default: mn_csr_xwt_ref(m, x, batch, y); break;
    }
}

void mn_csr_wb_isa(mn_sparse_isa isa, const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    if (n <= 0) return;
    switch (isa) {
    case MN_SPARSE_AVX512: mn__csr_wb_avx512(m, B, n, ldb, C, ldc); break;
    case MN_SPARSE_AVX2: csr_wb_avx2(m, B, n, ldb, C, ldc); break;
    case MN_SPARSE_PORTABLE: csr_wb_portable(m, B, n, ldb, C, ldc); break;
    default: mn_csr_wb_ref(m, B, n, ldb, C, ldc); break;
    }
}

void mn_csr_xwt(const mn_csr *m, const float *x, int batch, float *y) {
    mn_csr_xwt_isa(mn_sparse_best_isa(), m, x, batch, y);
}

void mn_csr_wb(const mn_csr *m, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    mn_csr_wb_isa(mn_sparse_best_isa(), m, B, n, ldb, C, ldc);
}
