/* Batch-1 xwt over the active inputs only (EIE, Han et al., ISCA 2016):
 * weight sparsity times activation sparsity.
 *
 * The row kernel (sparse.c) pays for every nonzero weight whatever x holds.
 * Here each input c that differs from a baseline b scatters
 * (x[c] - b) * W[:, c] into y, reading the column-major copy that st_csr.c
 * builds at load; b * (W 1) covers the skipped ones, so the result is
 * x W^T for ANY x, only the work depends on it.  ReLU outputs are mostly
 * exactly 0 (b = 0); a normalised input image is mostly its background
 * pixel, -mean/std (b found by mn_csr_pick_base).
 *
 * The scatter is scalar on every path: one column's rows are distinct but
 * only ~8% of a layer's rows, so a 16-lane gather + scatter of y moves the
 * same elements with slower instructions.  AVX-512 finds the active
 * inputs 16 at a time with one compare and walks the mask bits. */
#include <immintrin.h>
#include <math.h>

#include "kernels/sparse.h"
#include "kernels/avx512.h"
#include "core/cpu.h"


int mn__csr_xv1(mn_sparse_isa isa, const mn_csr *m, const float *x, float *y, double alt);

/* y[r] += base * rowsum[r]: the skipped inputs' share. */
static void add_base(const mn_csr *m, float base, float *y) {
    if (base == 0) return;
    for (int r = 0; r < m->rows; r++) y[r] += base * m->rowsum[r];
}

/* ---- reference ------------------------------------------------------------- */

void mn_csr_xv_base_ref(const mn_csr *m, const float *x, float base, float *y) {
    add_base(m, base, y);
    for (int c = 0; c < m->cols; c++) {
        if (x[c] == base) continue;
        float d = x[c] - base;
        for (uint32_t k = m->colptr[c]; k < m->colptr[c + 1]; k++) y[m->crow[k]] += d * m->cval[k];
    }
}

/* ---- portable ---------------------------------------------------------------- */

/* One column: the products 16 at a time (a fixed-length loop the compiler
 * vectorises), then plain adds into y, as the AVX-512 path does. */
static void scatter_col(const mn_csr *m, int c, float d, float *y) {
    float pr[16];
    const int32_t *row = m->crow;
    const float *val = m->cval;
    uint32_t k = m->colptr[c], e = m->colptr[c + 1];
    for (; k + 16 <= e; k += 16) {
        for (int j = 0; j < 16; j++) pr[j] = d * val[k + j];
        for (int j = 0; j < 16; j++) y[row[k + j]] += pr[j];
    }
    for (; k < e; k++) y[row[k]] += d * val[k];
}

static void xv_portable(const mn_csr *m, const float *x, float base, float *y) {
    add_base(m, base, y);
    for (int c = 0; c < m->cols; c++)
        if (x[c] != base) scatter_col(m, c, x[c] - base, y);
}

/* ---- AVX-512F ------------------------------------------------------------------ */

#define T512P __attribute__((target("avx512f,popcnt")))
#define XV_BLOCK 1024 /* columns compressed into the stack list at a time */

/* The active inputs of each 16-column group compressed into a list (one
 * compare, one compress), so that the column two ahead can be prefetched:
 * most of a column start's time was its first cache miss.  Then per
 * column, the products 16 at a time in one vector multiply and plain
 * scalar adds into y: fewer instructions per nonzero than scalar
 * multiply-adds, and faster than a gather + scatter of y (docs/SPARSE.md). */
T512P static void xv_avx512(const mn_csr *m, const float *x, float base, float *y) {
    int32_t cl[XV_BLOCK + 16];
    float pr[16] __attribute__((aligned(64)));
    add_base(m, base, y);
    const __m512 b = _mm512_set1_ps(base);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int32_t *row = m->crow;
    const float *val = m->cval;
    const uint32_t *cp = m->colptr;
    int cols = m->cols;
    for (int b0 = 0; b0 < cols; b0 += XV_BLOCK) {
        int b1 = cols - b0 < XV_BLOCK ? cols : b0 + XV_BLOCK, na = 0;
        for (int c0 = b0; c0 < b1; c0 += 16) {
            int nc = b1 - c0 < 16 ? b1 - c0 : 16;
            __mmask16 live = (__mmask16)((1u << nc) - 1);
            /* Not-equal, unordered: a NaN input is active, as x[c] != base says. */
            __mmask16 act = _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, x + c0), b, _CMP_NEQ_UQ);
            _mm512_storeu_si512(cl + na, _mm512_maskz_compress_epi32(act, _mm512_add_epi32(iota, _mm512_set1_epi32(c0))));
            na += _mm_popcnt_u32(act);
        }
        if (!na) continue;
        cl[na] = cl[na + 1] = cl[na - 1]; /* prefetch targets past the end */
        for (int i = 0; i < na; i++) {
            int c = cl[i];
            uint32_t pf = cp[cl[i + 2]];
            _mm_prefetch((const char *)(row + pf), _MM_HINT_T0);
            _mm_prefetch((const char *)(val + pf), _MM_HINT_T0);
            _mm_prefetch((const char *)(row + pf + 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(val + pf + 16), _MM_HINT_T0);
            __m512 d = _mm512_set1_ps(x[c] - base);
            uint32_t k = cp[c], e = cp[c + 1];
            for (; k + 16 <= e; k += 16) {
                _mm512_store_ps(pr, _mm512_mul_ps(d, _mm512_loadu_ps(val + k)));
                #pragma GCC unroll 16
                for (int j = 0; j < 16; j++) y[row[k + j]] += pr[j];
            }
            if (k < e) {
                int n = (int)(e - k);
                _mm512_store_ps(pr, _mm512_mul_ps(d, _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), val + k)));
                for (int j = 0; j < n; j++) y[row[k + j]] += pr[j];
            }
        }
    }
}

/* ---- choosing the baseline and the path ------------------------------------- */

/* How many of x[0..cols) equal 0 and cand, and with m, how many nonzeros
 * those columns hold (z0, zc): the column path's work is the nonzeros of
 * the other columns, and an image's active pixels are the central ones,
 * whose columns are denser than the average (LeNet-300 fc1 pruned to 7.5%:
 * 1.9x), so the average would misjudge it. */
typedef struct { int n0, nc; int64_t z0, zc; } counts;

static counts count2(const mn_csr *m, const float *x, int cols, float cand) {
    counts k = {0, 0, 0, 0};
    for (int i = 0; i < cols; i++) {
        int64_t z = m ? m->colptr[i + 1] - m->colptr[i] : 0;
        if (x[i] == 0) k.n0++, k.z0 += z;
        if (x[i] == cand) k.nc++, k.zc += z;
    }
    return k;
}

T512P static counts count2_avx512(const mn_csr *m, const float *x, int cols, float cand) {
    int a = 0, c = 0;
    __m512i s0 = _mm512_setzero_si512(), sc = s0;
    __m512 z = _mm512_setzero_ps(), k = _mm512_set1_ps(cand);
    for (int i = 0; i < cols; i += 16) {
        __mmask16 live = mn__lanes16(cols - i);
        __m512 v = _mm512_maskz_loadu_ps(live, x + i);
        __mmask16 e0 = _mm512_mask_cmp_ps_mask(live, v, z, _CMP_EQ_OQ), ec = _mm512_mask_cmp_ps_mask(live, v, k, _CMP_EQ_OQ);
        a += _mm_popcnt_u32(e0);
        c += _mm_popcnt_u32(ec);
        if (m) { /* per-column counts from colptr; every sum <= nnz < 2^32 (u32 colptr) */
            __m512i n = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(live, m->colptr + i + 1),
                                         _mm512_maskz_loadu_epi32(live, m->colptr + i));
            s0 = _mm512_mask_add_epi32(s0, e0, s0, n);
            sc = _mm512_mask_add_epi32(sc, ec, sc, n);
        }
    }
    return (counts){a, c, (uint32_t)_mm512_reduce_add_epi32(s0), (uint32_t)_mm512_reduce_add_epi32(sc)};
}

/* The baseline and, with m, the nonzeros in the columns that differ from
 * it (*scat). */
static int pick(const mn_csr *m, const float *x, int cols, float *base, int64_t *scat) {
    /* The candidate besides 0: the first, middle or last input, whichever
     * two of them agree on (a background pixel, when there is one). */
    float f = x[0], mid = x[cols / 2], l = x[cols - 1];
    float cand = (f == mid || f == l) ? f : mid == l ? mid : f;
    if (!isfinite(cand)) cand = 0;
    counts k = mn_cpu_features()->avx512f ? count2_avx512(m, x, cols, cand) : count2(m, x, cols, cand);
    int64_t nnz = m ? m->nnz : 0;
    if (cand != 0 && k.nc > k.n0) { *base = cand, *scat = nnz - k.zc; return cols - k.nc; }
    *base = 0, *scat = nnz - k.z0;
    return cols - k.n0;
}

int mn_csr_pick_base(const float *x, int cols, float *base) {
    int64_t scat;
    return pick(NULL, x, cols, base, &scat);
}

void mn_csr_xv_base_isa(mn_sparse_isa isa, const mn_csr *m, const float *x, float base, float *y) {
    switch (isa) {
    case MN_SPARSE_AVX512: xv_avx512(m, x, base, y); break;
    case MN_SPARSE_AVX2: /* the mask walk needs AVX-512; the scatter is scalar anyway */
    case MN_SPARSE_PORTABLE: xv_portable(m, x, base, y); break;
    default: mn_csr_xv_base_ref(m, x, base, y); break;
    }
}

void mn_csr_xv_base(const mn_csr *m, const float *x, float base, float *y) {
    mn_csr_xv_base_isa(mn_sparse_best_isa(), m, x, base, y);
}

/* Batch 1 for the dispatcher (sparse.c): the column path when few enough
 * inputs are active that it beats `alt`, the other path's estimated cost
 * in row-kernel nonzeros; 0 = not taken. */
int mn__csr_xv1(mn_sparse_isa isa, const mn_csr *m, const float *x, float *y, double alt) {
    double col = MN_SPARSE_XV_COL_PORTABLE, nz = MN_SPARSE_XV_NNZ_PORTABLE;
    if (isa == MN_SPARSE_AVX512) col = MN_SPARSE_XV_COL_AVX512, nz = MN_SPARSE_XV_NNZ_AVX512;
    if (isa == MN_SPARSE_AVX2) col = MN_SPARSE_XV_COL_AVX2, nz = MN_SPARSE_XV_NNZ_AVX2;
    /* Not even one column of average length would pay: skip the pass over x. */
    if (col + nz * (double)m->nnz / m->cols >= alt) return 0;
    float base;
    int64_t scat;
    int act = pick(m, x, m->cols, &base, &scat);
    if (col * act + nz * (double)scat >= alt) return 0;
    mn_csr_xv_base_isa(isa, m, x, base, y);
    return 1;
}
