/* Private (src/kernels): the run-time CSR matrix and the sparse kernels.
 *
 * A weight is a rows x cols matrix (dense: units x inputs; conv: filters x
 * c/groups*k*k).  The file form (gaps, fillers: src/store/st_csr.c) becomes
 * this run-time form at load: absolute int32 column indices, no fillers. */
#ifndef MINNOW_KERNELS_SPARSE_H
#define MINNOW_KERNELS_SPARSE_H

#include "minnow/core.h"

/* The run-time form, the `impl` of an MN_ST_CSR store.  One allocation
 * owned by the store.  Row r's nonzeros are k in [rowptr[r], rowptr[r+1]),
 * at columns col[k] (strictly increasing within a row) with values val[k]
 * (never 0). */
/* Entries of zero padding after val, col, cval and crow (col/crow: column
 * or row 0), for kernels that read a fixed-width tail past a row's end. */
#define MN_CSR_SLACK 8

/* The layout of the AVX-512 path for batches 1-8 (sparse_sell.c), built
 * at load beside the CSR arrays: sliced ELLPACK (Kreutzer et al.,
 * SELL-C-sigma) over blocks of 32 columns.  Rows are taken in order of
 * decreasing nonzero count (perm) and cut into slices of 16, one per zmm
 * of sums; tile (slice, column block) holds as many "slots" as its fullest row has
 * nonzeros there, and lane l of a slot is one nonzero of the slice's row l
 * (value, column within the block), or a 0 where that row has run out.
 * The kernel gathers x for a slot from the block's two zmm with one
 * vpermt2ps, so a slot is one FMA, whatever the input.  NULL in mn_csr
 * where the CPU lacks AVX-512 or the slots would hold mostly padding. */
typedef struct mn_sell {
    int nrb, ncb;          /* slices of 16 rows, blocks of 32 columns */
    int64_t slots;
    double cost;           /* estimated time, in row-kernel nonzeros */
    const uint32_t *tile;  /* nrb * ncb + 1: tile (rb, cb)'s first slot */
    const int32_t *perm;   /* nrb * 16: lane l of slice rb is row perm[rb*16+l], -1 past the last */
    const float *val;      /* slots * 16, 64-byte aligned */
    const uint8_t *idx;    /* slots * 16: column - 32 * cb */
} mn_sell;

typedef struct mn_csr {
    int rows, cols;
    int64_t nnz;
    const uint32_t *rowptr; /* rows + 1 */
    const int32_t *col;     /* nnz */
    const float *val;       /* nnz, 64-byte aligned */
    int bits;               /* gap field width in the file: 4 or 8 */
    int64_t entries;        /* file entries: nnz + fillers */
    /* A column-major copy of the same nonzeros, built at load for batch 1
     * (EIE, Han et al. 2016: skip the inputs that are zero): column c's
     * nonzeros are k in [colptr[c], colptr[c+1]), at rows crow[k] (strictly
     * increasing) with values cval[k].  rowsum[r] = sum_c W[r, c] (summed in
     * double) lets a constant baseline be skipped too: W x = W (x - b 1) +
     * b (W 1).  Not part of the file. */
    const uint32_t *colptr; /* cols + 1 */
    const int32_t *crow;    /* nnz */
    const float *cval;      /* nnz, 64-byte aligned */
    const float *rowsum;    /* rows */
    const mn_sell *sell;    /* its own allocation, or NULL; not part of the file */
} mn_csr;

/* ---- kernels ------------------------------------------------------------
 * xwt: y[b, r] += sum_c x[b, c] W[r, c]          x: batch x cols, y: batch x rows
 * wb:  C[r, j]  = sum_c W[r, c] B[c, j], j < n   B: cols x n (row stride ldb),
 *                                                C: rows x n (row stride ldc)
 * They never allocate (the batched xwt transposes x in blocks on the stack);
 * with mn_set_threads(n > 1) large calls are split across threads. */
typedef enum mn_sparse_isa {
    MN_SPARSE_REF = 0,  /* plain loops, the reference */
    MN_SPARSE_PORTABLE, /* blocked and unrolled C, no intrinsics */
    MN_SPARSE_AVX2,     /* AVX2 + FMA */
    MN_SPARSE_AVX512,   /* AVX-512F */
} mn_sparse_isa;

/* The best path this CPU runs (MN_SPARSE_PORTABLE under MINNOW_NO_SIMD=1).
 * Batch-1 xwt runs the column path over the active inputs (sparse_csc.c)
 * or a row kernel: 8 nonzeros per FMA on the AVX2 and AVX-512 paths, eight
 * scalar sums on the portable one. */
mn_sparse_isa mn_sparse_best_isa(void);

void mn_csr_xwt(const mn_csr *m, const float *x, int batch, float *y);
void mn_csr_wb(const mn_csr *m, const float *B, int n, int64_t ldb, float *C,
               int64_t ldc);
void mn_csr_xwt_ref(const mn_csr *m, const float *x, int batch, float *y);
void mn_csr_wb_ref(const mn_csr *m, const float *B, int n, int64_t ldb,
                   float *C, int64_t ldc);
/* Batch 1 over the active inputs only (column-major scatter, EIE):
 *   y[r] += base * rowsum[r] + sum_{c: x[c] != base} (x[c] - base) W[r, c]
 * which is x W^T for any x and any finite base; the work is the nonzeros of
 * the active columns.  mn_csr_xwt at batch 1 picks the base itself (see
 * mn_csr_pick_base) and runs this when few enough inputs are active, the
 * row kernel otherwise. */
void mn_csr_xv_base(const mn_csr *m, const float *x, float base, float *y);
void mn_csr_xv_base_ref(const mn_csr *m, const float *x, float base, float *y);
void mn_csr_xv_base_isa(mn_sparse_isa isa, const mn_csr *m, const float *x,
                        float base, float *y);
/* The baseline batch 1 skips, chosen in one pass over x: 0 or the finite
 * value that two of x's first, middle and last entries share (a normalised
 * zero pixel reaches the first layer as -mean/std, and images have
 * background corners), whichever more inputs equal.  Returns the number of
 * inputs that differ from *base. */
int mn_csr_pick_base(const float *x, int cols, float *base);
/* mn_csr_xwt at batch 1 takes the column path when its estimated cost,
 * COL * act + NNZ * scat with act active inputs holding scat nonzeros, is
 * below the other paths' (the row kernel's: nnz; one unit = one nonzero of
 * that ISA's row kernel; COL = the cost of visiting a column, NNZ = of a
 * scattered nonzero).  Fitted to where the paths cross on random 4-16%-dense layers
 * with a fresh input each call (docs/SPARSE.md), 8% shown: AVX-512 at
 * ~45-55% active inputs for 300x784 and 100x300, ~55% for 500x800; AVX2
 * (8-wide row kernel, scalar scatter) ~25%, ~55%, ~28%; portable ~35%,
 * ~55%, ~40%.  Near the crossing the two paths cost about the same. */
#define MN_SPARSE_XV_COL_AVX512 2.0
#define MN_SPARSE_XV_NNZ_AVX512 1.9
#define MN_SPARSE_XV_COL_AVX2 4.0
#define MN_SPARSE_XV_NNZ_AVX2 3.0
#define MN_SPARSE_XV_COL_PORTABLE 20.0
#define MN_SPARSE_XV_NNZ_PORTABLE 2.5

/* xwt through m->sell, 1-4 samples per pass over it.  Returns 0 and
 * leaves y alone where m has no sliced form or x holds a NaN or an
 * infinity (a padding lane multiplies 0 by some x of its block, and the
 * other kernels keep the exact semantics there). */
/* Builds m's sliced copy (sparse_sell.c), or NULL where it does not pay. */
mn_sell *mn__sell_build(const mn_csr *m);
int mn_csr_sell_xwt(const mn_csr *m, const float *x, int batch, float *y);
/* The sliced path's cost in row-kernel nonzeros: mn_csr_xwt at batch 1 on
 * AVX-512 takes the cheapest of the row kernel (nnz), the column path and
 * the sliced one (CALL + SLOT * slots + TILE * non-empty tiles).  Fitted
 * on LeNet-300's pruned layers (docs/SPARSE.md): a slot (16 lanes) costs
 * what 2 nonzeros of the row kernel do, so it wins wherever more than 1
 * lane in 8 is used. */
#define MN_SPARSE_SELL_CALL 32.0
#define MN_SPARSE_SELL_SLOT 2.0
#define MN_SPARSE_SELL_TILE 4.0
/* Up to this batch the sliced kernel runs instead of the batched one
 * (LeNet-300 pruned to 7.7%: batch 2 3.4 against 11.3 us, 8 11.4 against
 * 12.8, 12 16.7 against 14.3). */
#define MN_SPARSE_SELL_MAX_BATCH 8

/* A given path, for tests and benchmarks: isa must be <= mn_sparse_best_isa(). */
void mn_csr_xwt_isa(mn_sparse_isa isa, const mn_csr *m, const float *x,
                    int batch, float *y);
void mn_csr_wb_isa(mn_sparse_isa isa, const mn_csr *m, const float *B, int n,
                   int64_t ldb, float *C, int64_t ldc);

#endif
