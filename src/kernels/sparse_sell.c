/* Batch 1-8 xwt as sliced ELLPACK over 32-column blocks (mn_sell, sparse.h).
 *
 * The row kernel pays a scalar load per nonzero to assemble x, and the
 * column path (sparse_csc.c) a scattered read-modify-write of y, which this
 * core retires at about one a cycle.  Here a slot of 16 nonzeros (one per
 * row of a 16-row slice, all in one 32-column block) gets its 16 inputs
 * from the block's two zmm with one vpermt2ps, and adds into the slice's
 * sums with one FMA: no per-nonzero load of x and no scatter.  The price
 * is padding, since a tile has as many slots as its fullest row; sorting
 * rows by nonzero count puts rows of like length in one slice (LeNet-300
 * fc1 at 7.5%: 34% -> 40% of lanes used).  The work is independent of the
 * input, so pruning speeds up any input, not only ones with many zeros.
 *
 * The reference is mn_csr_xwt_ref; the tests hold this path to it. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/sparse.h"
#include "kernels/avx512.h"
#include "core/cpu.h"

#define SL_R 16 /* rows per slice: the lanes of a zmm */
#define SL_C 32 /* columns per block: vpermt2ps's two-register table */

mn_sell *mn__sell_build(const mn_csr *m);

/* qsort has no context argument, so each row carries its count (a
 * static pointer to the matrix would race when models load in threads). */
typedef struct { uint32_t n; int32_t r; } row_n;
static int by_count(const void *a, const void *b) {
    const row_n *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r); /* ties by row: the same layout every load */
}

/* Slots per tile of slice rb: its rows' largest count in each block. */
static void slice_counts(const mn_csr *m, const int32_t *perm, int rb, int ncb, uint32_t *mx, uint32_t *cnt) {
    memset(mx, 0, sizeof(uint32_t) * (size_t)ncb);
    for (int l = 0; l < SL_R; l++) {
        int r = perm[rb * SL_R + l];
        if (r < 0) break;
        memset(cnt, 0, sizeof(uint32_t) * (size_t)ncb);
        for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) cnt[m->col[k] / SL_C]++;
        for (int cb = 0; cb < ncb; cb++)
            if (cnt[cb] > mx[cb]) mx[cb] = cnt[cb];
    }
}

/* NULL where it would not pay or there is no memory: the other batch-1
 * paths remain, so this is an optimisation, never an error. */
mn_sell *mn__sell_build(const mn_csr *m) {
    if (!mn_cpu_features()->avx512f || m->nnz == 0) return NULL;
    int nrb = (m->rows + SL_R - 1) / SL_R, ncb = (m->cols + SL_C - 1) / SL_C;
    int64_t ntile = (int64_t)nrb * ncb;
    /* More tiles than nonzeros: mostly empty tiles, the row kernel wins. */
    if (ntile > m->nnz + 64) return NULL;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)nrb * SL_R);
    uint32_t *tile = malloc(sizeof(uint32_t) * (size_t)(ntile + 1)), *mx = malloc(sizeof(uint32_t) * (size_t)ncb * 2);
    row_n *rn = malloc(sizeof(row_n) * (size_t)m->rows);
    mn_sell *s = NULL;
    if (!perm || !tile || !mx || !rn) goto out;
    for (int r = 0; r < m->rows; r++) rn[r] = (row_n){m->rowptr[r + 1] - m->rowptr[r], r};
    qsort(rn, (size_t)m->rows, sizeof(row_n), by_count);
    for (int i = 0; i < nrb * SL_R; i++) perm[i] = i < m->rows ? rn[i].r : -1;
    int64_t slots = 0, used = 0;
    for (int rb = 0; rb < nrb; rb++) {
        slice_counts(m, perm, rb, ncb, mx, mx + ncb);
        for (int cb = 0; cb < ncb; cb++) {
            tile[(int64_t)rb * ncb + cb] = (uint32_t)slots;
            slots += mx[cb], used += mx[cb] != 0;
        }
    }
    tile[ntile] = (uint32_t)slots;
    double cost = MN_SPARSE_SELL_CALL + MN_SPARSE_SELL_SLOT * (double)slots + MN_SPARSE_SELL_TILE * (double)used;
    /* Not cheaper than the row kernel at any input: do not keep the copy. */
    if (cost >= (double)m->nnz || slots > (int64_t)UINT32_MAX / SL_R) goto out;
    size_t a = mn_up64(sizeof(mn_sell)), t = mn_up64(sizeof(uint32_t) * (size_t)(ntile + 1)),
           p = mn_up64(sizeof(int32_t) * (size_t)nrb * SL_R), v = mn_up64(sizeof(float) * (size_t)slots * SL_R),
           ix = mn_up64((size_t)slots * SL_R);
    unsigned char *blk = mn_alloc(a + t + p + v + ix, 1);
    if (!blk) goto out;
    s = (mn_sell *)blk;
    float *val = (float *)(blk + a + t + p);
    uint8_t *idx = blk + a + t + p + v;
    memcpy(blk + a, tile, sizeof(uint32_t) * (size_t)(ntile + 1));
    memcpy(blk + a + t, perm, sizeof(int32_t) * (size_t)nrb * SL_R);
    memset(val, 0, v), memset(idx, 0, ix);
    /* Lane l, slot j of a tile: row l's j-th nonzero in that block. */
    for (int rb = 0; rb < nrb; rb++)
        for (int l = 0; l < SL_R; l++) {
            int r = perm[rb * SL_R + l];
            if (r < 0) break;
            int cb = -1;
            int64_t o = 0;
            for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
                int c = m->col[k];
                if (c / SL_C != cb) cb = c / SL_C, o = tile[(int64_t)rb * ncb + cb];
                val[o * SL_R + l] = m->val[k];
                idx[o * SL_R + l] = (uint8_t)(c - cb * SL_C);
                o++;
            }
        }
    *s = (mn_sell){nrb, ncb, slots, cost, (const uint32_t *)(blk + a), (const int32_t *)(blk + a + t), val, idx};
out:
    free(perm), free(tile), free(mx), free(rn);
    return s;
}

#define T512 __attribute__((target("avx512f")))

/* The last block's 1..32 columns as masks for its two halves. */
static void last_masks(const mn_csr *m, int ncb, __mmask16 *kl, __mmask16 *kh) {
    int last = m->cols - (ncb - 1) * SL_C;
    *kl = mn__lanes16(last), *kh = mn__lanes16(last - 16);
}

/* nb = 1..4 samples per pass: a slot's values and indices are loaded once
 * for all of them.  Each sample has two sums, alternating slots: one FMA
 * chain would wait on its own latency.  A tile's slot count varies, so its
 * loop exit mispredicts now and then; one flat slot stream per slice with
 * an x block per slot was slower (two more loads a slot).  Written once
 * and expanded per nb (always_inline with a constant nb), so that the
 * per-sample arrays live in registers. */
#define SLOTB(j, a)                                                                                           \
    do {                                                                                                      \
        __m512 v = _mm512_load_ps(val + (int64_t)(j) * SL_R);                                                \
        __m512i ix = _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(idx + (int64_t)(j) * SL_R)));    \
        for (int b = 0; b < nb; b++) a[b] = _mm512_fmadd_ps(v, _mm512_permutex2var_ps(xl[b], ix, xh[b]), a[b]); \
    } while (0)

T512 static inline __attribute__((always_inline)) void sell_nb(const mn_csr *m, const mn_sell *s, const float *x,
                                                               float *y, int rb0, int rb1, const int nb) {
    const uint32_t *tile = s->tile;
    const float *val = s->val;
    const uint8_t *idx = s->idx;
    int ncb = s->ncb, cols = m->cols, rows = m->rows;
    __mmask16 kl, kh;
    last_masks(m, ncb, &kl, &kh);
    float t[SL_R] __attribute__((aligned(64)));
    for (int rb = rb0; rb < rb1; rb++) {
        __m512 a0[4], a1[4], xl[4], xh[4];
        for (int b = 0; b < nb; b++) a0[b] = a1[b] = _mm512_setzero_ps();
        const uint32_t *tr = tile + (int64_t)rb * ncb;
        for (int cb = 0; cb < ncb; cb++) {
            uint32_t j = tr[cb], e = tr[cb + 1];
            if (j == e) continue;
            for (int b = 0; b < nb; b++) {
                const float *xb = x + (int64_t)b * cols + (int64_t)cb * SL_C;
                if (cb < ncb - 1) xl[b] = _mm512_loadu_ps(xb), xh[b] = _mm512_loadu_ps(xb + 16);
                else xl[b] = _mm512_maskz_loadu_ps(kl, xb), xh[b] = _mm512_maskz_loadu_ps(kh, xb + 16);
            }
            for (; j + 2 <= e; j += 2) {
                SLOTB(j, a0);
                SLOTB(j + 1, a1);
            }
            if (j < e) SLOTB(j, a0);
        }
        const int32_t *pr = s->perm + rb * SL_R;
        for (int b = 0; b < nb; b++) {
            _mm512_store_ps(t, _mm512_add_ps(a0[b], a1[b]));
            float *yb = y + (int64_t)b * rows;
            for (int l = 0; l < SL_R && pr[l] >= 0; l++) yb[pr[l]] += t[l];
        }
    }
}
#undef SLOTB

T512 static void sell_1(const mn_csr *m, const mn_sell *s, const float *x, float *y, int rb0, int rb1) {
    sell_nb(m, s, x, y, rb0, rb1, 1);
}
T512 static void sell_2(const mn_csr *m, const mn_sell *s, const float *x, float *y, int rb0, int rb1) {
    sell_nb(m, s, x, y, rb0, rb1, 2);
}
T512 static void sell_3(const mn_csr *m, const mn_sell *s, const float *x, float *y, int rb0, int rb1) {
    sell_nb(m, s, x, y, rb0, rb1, 3);
}
T512 static void sell_4(const mn_csr *m, const mn_sell *s, const float *x, float *y, int rb0, int rb1) {
    sell_nb(m, s, x, y, rb0, rb1, 4);
}

int mn_csr_sell_xwt(const mn_csr *m, const float *x, int batch, float *y) {
    const mn_sell *s = m->sell;
    if (!s || batch <= 0 || !mn_all_finite(x, (int64_t)batch * m->cols)) return 0;
    static void (*const fn[5])(const mn_csr *, const mn_sell *, const float *, float *, int, int) = {
        NULL, sell_1, sell_2, sell_3, sell_4};
    /* Slices write disjoint rows; threads only for work the row kernel
     * would split too (mn__csr_xwt_rows8). */
    int nt = mn_get_threads() > 1 && (int64_t)batch * s->slots * SL_R > (1 << 18) ? mn_get_threads() : 1;
    if (nt > s->nrb) nt = s->nrb;
    for (int b0 = 0; b0 < batch; b0 += 4) {
        int nb = batch - b0 < 4 ? batch - b0 : 4;
        const float *xb = x + (int64_t)b0 * m->cols;
        float *yb = y + (int64_t)b0 * m->rows;
        MN_PAR_FOR(nt > 1, t, nt, {
            fn[nb](m, s, xb, yb, (int)((int64_t)s->nrb * t / nt), (int)((int64_t)s->nrb * (t + 1) / nt));
        });
    }
    return 1;
}
