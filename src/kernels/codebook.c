/* Inference kernels on the codebook form: weights are looked up from the
 * centroids as they are used, never decoded into a full f32 matrix.
 *
 * xwt (dense layers), batch < 4: per sample and row, 16 (8) weights at a
 * time are looked up (with AVX-512 and k <= 32 the centroids sit in two
 * registers and a lookup is one permute) and multiplied with x, gathered by
 * column when the layer is sparse.  Larger batches: blocks of 16 (8)
 * samples are transposed into a stack buffer, so each stored weight is one
 * broadcast and one FMA over the block.  wb (conv after im2col) keeps a
 * block of output columns in registers and streams the row's entries. */
#include <immintrin.h>
#include <string.h>

#include "kernels/codebook.h"
#include "core/cpu.h"

typedef struct { const mn_cb_mat *m; int rows, cols, sparse; } view;

static view view_of(const mn_cb_mat *s) { return (view){s, s->rows, s->cols, s->sparse}; }

/* Entries [*j0, *j1) of row r; entry j's column is col(v, j, j0). */
static inline void row_range(const view *v, int r, int64_t *j0, int64_t *j1) {
    if (v->sparse) { *j0 = v->m->rowptr[r]; *j1 = v->m->rowptr[r + 1]; }
    else { *j0 = (int64_t)r * v->cols; *j1 = *j0 + v->cols; }
}
static inline int64_t col_of(const view *v, int64_t j, int64_t j0) {
    return v->sparse ? (int64_t)v->m->col[j] : j - j0;
}

/* Parallel only when there is enough work to pay for waking threads. */
#define PAR_MIN (1 << 18)

void mn_cb_xwt_ref(const mn_cb_mat *s, const float *x, int batch, float *y) {
    view v = view_of(s);
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (int64_t)b * v.cols;
        for (int r = 0; r < v.rows; r++) {
            int64_t j0, j1;
            row_range(&v, r, &j0, &j1);
            float acc = 0;
            for (int64_t j = j0; j < j1; j++) acc += xb[col_of(&v, j, j0)] * v.m->cb[v.m->idx[j]];
            y[(int64_t)b * v.rows + r] += acc;
        }
    }
}

void mn_cb_wb_ref(const mn_cb_mat *s, const float *B, int n, int64_t ldb, float *C,
                        int64_t ldc) {
    view v = view_of(s);
    for (int r = 0; r < v.rows; r++) {
        int64_t j0, j1;
        row_range(&v, r, &j0, &j1);
        for (int i = 0; i < n; i++) {
            float acc = 0;
            for (int64_t j = j0; j < j1; j++) acc += v.m->cb[v.m->idx[j]] * B[col_of(&v, j, j0) * ldb + i];
            C[(int64_t)r * ldc + i] = acc;
        }
    }
}

/* ---- xwt, shared by the SIMD paths ---- */

/* Samples are transposed in blocks of SB into a stack buffer of this many
 * floats: [column][sample], so each stored weight multiplies SB samples
 * with one FMA.  Columns beyond XT_FLOATS / SB go in further chunks. */
#define XT_FLOATS 16384

static void transpose_block(const float *x, int cols, int b0, int nb, int c0, int c1, int sb, float *xt) {
    for (int l = 0; l < sb; l++) {
        const float *xb = x + (int64_t)(b0 + l) * cols;
        for (int c = c0; c < c1; c++) xt[(int64_t)(c - c0) * sb + l] = l < nb ? xb[c] : 0.0f;
    }
}

/* First entry of row [j0, j1) whose column is >= c0. */
static inline int64_t first_at(const view *v, int64_t j0, int64_t j1, int c0) {
    if (!v->sparse) return j0 + c0;
    int64_t lo = j0, hi = j1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v->m->col[mid] < (uint32_t)c0) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* One past the last entry of row [j0, j1) whose column is < c1. */
static inline int64_t end_at(const view *v, int64_t j0, int64_t j1, int c1) {
    return v->sparse ? first_at(v, j0, j1, c1) : j0 + c1;
}

/* ---- AVX2 + FMA ---- */

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Up to 8 weights of entries [j, j+n) looked up from the centroids. */
__attribute__((target("avx2,fma"))) static inline __m256 lookup8(const mn_cb_mat *m, int64_t j, int n) {
    uint8_t tmp[8] = {0};
    const uint8_t *ip = m->idx + j;
    if (n < 8) { memcpy(tmp, ip, (size_t)n); ip = tmp; }
    __m256i id = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)ip));
    return _mm256_i32gather_ps(m->cb, id, 4);
}

/* Small batches: per sample, each row's weights looked up and dotted with x
 * (gathered by column when sparse), the tail under a mask. */
__attribute__((target("avx2,fma"))) static void xwt1_avx2(const view *v, const float *x, int batch, float *y) {
    const mn_cb_mat *m = v->m;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (int64_t)b * v->cols;
        #pragma omp parallel for schedule(static) if (m->nnz >= PAR_MIN)
        for (int r = 0; r < v->rows; r++) {
            int64_t j0, j1;
            row_range(v, r, &j0, &j1);
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int64_t j = j0;
            if (v->sparse) {
                const int *ci = (const int *)m->col;
                for (; j + 16 <= j1; j += 16) {
                    __m256 x0 = _mm256_i32gather_ps(xb, _mm256_loadu_si256((const __m256i *)(ci + j)), 4);
                    __m256 x1 = _mm256_i32gather_ps(xb, _mm256_loadu_si256((const __m256i *)(ci + j + 8)), 4);
                    acc0 = _mm256_fmadd_ps(lookup8(m, j, 8), x0, acc0);
                    acc1 = _mm256_fmadd_ps(lookup8(m, j + 8, 8), x1, acc1);
                }
                for (; j < j1; j += 8) {
                    int n = j1 - j < 8 ? (int)(j1 - j) : 8;
                    __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
                    __m256i c = _mm256_maskload_epi32(ci + j, k);
                    __m256 xv = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), xb, c, _mm256_castsi256_ps(k), 4);
                    acc0 = _mm256_fmadd_ps(lookup8(m, j, n), xv, acc0);
                }
            } else {
                const float *xc = xb - j0;
                for (; j + 16 <= j1; j += 16) {
                    acc0 = _mm256_fmadd_ps(lookup8(m, j, 8), _mm256_loadu_ps(xc + j), acc0);
                    acc1 = _mm256_fmadd_ps(lookup8(m, j + 8, 8), _mm256_loadu_ps(xc + j + 8), acc1);
                }
                for (; j < j1; j += 8) {
                    int n = j1 - j < 8 ? (int)(j1 - j) : 8;
                    __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
                    acc0 = _mm256_fmadd_ps(lookup8(m, j, n), _mm256_maskload_ps(xc + j, k), acc0);
                }
            }
            y[(int64_t)b * v->rows + r] += hsum256(_mm256_add_ps(acc0, acc1));
        }
    }
}

/* Larger batches: 8 samples at a time, transposed, one FMA per weight. */
__attribute__((target("avx2,fma"))) static void xwtb_avx2(const view *v, const float *x, int batch, float *y) {
    const mn_cb_mat *m = v->m;
    enum { SB = 8 };
    float xt[XT_FLOATS] __attribute__((aligned(32)));
    const int cc = XT_FLOATS / SB;
    for (int b0 = 0; b0 < batch; b0 += SB) {
        int nb = batch - b0 < SB ? batch - b0 : SB;
        for (int c0 = 0; c0 < v->cols; c0 += cc) {
            int c1 = v->cols - c0 < cc ? v->cols : c0 + cc;
            transpose_block(x, v->cols, b0, nb, c0, c1, SB, xt);
            #pragma omp parallel for schedule(static) if ((int64_t)nb * m->nnz >= PAR_MIN)
            for (int r = 0; r < v->rows; r++) {
                int64_t j0, j1;
                row_range(v, r, &j0, &j1);
                int64_t j = first_at(v, j0, j1, c0), je = end_at(v, j0, j1, c1);
                __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
                for (; j + 1 < je; j += 2) {
                    a0 = _mm256_fmadd_ps(_mm256_set1_ps(m->cb[m->idx[j]]), _mm256_load_ps(xt + (col_of(v, j, j0) - c0) * SB), a0);
                    a1 = _mm256_fmadd_ps(_mm256_set1_ps(m->cb[m->idx[j + 1]]), _mm256_load_ps(xt + (col_of(v, j + 1, j0) - c0) * SB), a1);
                }
                if (j < je) a0 = _mm256_fmadd_ps(_mm256_set1_ps(m->cb[m->idx[j]]), _mm256_load_ps(xt + (col_of(v, j, j0) - c0) * SB), a0);
                float t[SB] __attribute__((aligned(32)));
                _mm256_store_ps(t, _mm256_add_ps(a0, a1));
                for (int l = 0; l < nb; l++) y[(int64_t)(b0 + l) * v->rows + r] += t[l];
            }
        }
    }
}

__attribute__((target("avx2,fma"))) static void xwt_avx2(const mn_cb_mat *s, const float *x, int batch, float *y) {
    view v = view_of(s);
    if (batch < 4) xwt1_avx2(&v, x, batch, y);
    else xwtb_avx2(&v, x, batch, y);
}

__attribute__((target("avx2,fma"))) static void wb_avx2(const mn_cb_mat *s, const float *B, int n, int64_t ldb,
                                                      float *C, int64_t ldc) {
    view v = view_of(s);
    const mn_cb_mat *m = v.m;
    #pragma omp parallel for schedule(static) if ((int64_t)n * m->nnz >= PAR_MIN)
    for (int r = 0; r < v.rows; r++) {
        int64_t j0, j1;
        row_range(&v, r, &j0, &j1);
        float *cr = C + (int64_t)r * ldc;
        int i = 0;
        for (; i + 32 <= n; i += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t j = j0; j < j1; j++) {
                __m256 w = _mm256_set1_ps(m->cb[m->idx[j]]);
                const float *b = B + col_of(&v, j, j0) * ldb + i;
                a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b), a0);
                a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b + 8), a1);
                a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b + 16), a2);
                a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b + 24), a3);
            }
            _mm256_storeu_ps(cr + i, a0);
            _mm256_storeu_ps(cr + i + 8, a1);
            _mm256_storeu_ps(cr + i + 16, a2);
            _mm256_storeu_ps(cr + i + 24, a3);
        }
        for (; i + 8 <= n; i += 8) {
            __m256 a0 = _mm256_setzero_ps();
            for (int64_t j = j0; j < j1; j++)
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(m->cb[m->idx[j]]), _mm256_loadu_ps(B + col_of(&v, j, j0) * ldb + i), a0);
            _mm256_storeu_ps(cr + i, a0);
        }
        for (; i < n; i++) {
            float acc = 0;
            for (int64_t j = j0; j < j1; j++) acc += m->cb[m->idx[j]] * B[col_of(&v, j, j0) * ldb + i];
            cr[i] = acc;
        }
    }
}

/* ---- AVX-512 ---- */

/* Up to 16 weights of entries [j, j+n): with k <= 32 the centroids sit in
 * two registers and the lookup is one permute. */
__attribute__((target("avx512f"))) static inline __m512 lookup16(const mn_cb_mat *m, int64_t j, int n, __m512 lo,
                                                                __m512 hi, int small) {
    uint8_t tmp[16] = {0};
    const uint8_t *ip = m->idx + j;
    if (n < 16) { memcpy(tmp, ip, (size_t)n); ip = tmp; }
    __m512i id = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)ip));
    return small ? _mm512_permutex2var_ps(lo, id, hi) : _mm512_i32gather_ps(id, m->cb, 4);
}

__attribute__((target("avx512f"))) static void xwt1_avx512(const view *v, const float *x, int batch, float *y) {
    const mn_cb_mat *m = v->m;
    const __m512 lo = _mm512_loadu_ps(m->cb), hi = _mm512_loadu_ps(m->cb + 16);
    const int small = m->k <= 32;
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (int64_t)b * v->cols;
        #pragma omp parallel for schedule(static) if (m->nnz >= PAR_MIN)
        for (int r = 0; r < v->rows; r++) {
            int64_t j0, j1;
            row_range(v, r, &j0, &j1);
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            int64_t j = j0;
            if (v->sparse) {
                const int *ci = (const int *)m->col;
                for (; j + 32 <= j1; j += 32) {
                    __m512 x0 = _mm512_i32gather_ps(_mm512_loadu_si512(ci + j), xb, 4);
                    __m512 x1 = _mm512_i32gather_ps(_mm512_loadu_si512(ci + j + 16), xb, 4);
                    acc0 = _mm512_fmadd_ps(lookup16(m, j, 16, lo, hi, small), x0, acc0);
                    acc1 = _mm512_fmadd_ps(lookup16(m, j + 16, 16, lo, hi, small), x1, acc1);
                }
                for (; j < j1; j += 16) {
                    int n = j1 - j < 16 ? (int)(j1 - j) : 16;
                    __mmask16 k = (__mmask16)((1u << n) - 1);
                    __m512i c = _mm512_maskz_loadu_epi32(k, ci + j);
                    __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, c, xb, 4);
                    acc0 = _mm512_fmadd_ps(lookup16(m, j, n, lo, hi, small), xv, acc0);
                }
            } else {
                const float *xc = xb - j0;
                for (; j + 32 <= j1; j += 32) {
                    acc0 = _mm512_fmadd_ps(lookup16(m, j, 16, lo, hi, small), _mm512_loadu_ps(xc + j), acc0);
                    acc1 = _mm512_fmadd_ps(lookup16(m, j + 16, 16, lo, hi, small), _mm512_loadu_ps(xc + j + 16), acc1);
                }
                for (; j < j1; j += 16) {
                    int n = j1 - j < 16 ? (int)(j1 - j) : 16;
                    __mmask16 k = (__mmask16)((1u << n) - 1);
                    acc0 = _mm512_fmadd_ps(lookup16(m, j, n, lo, hi, small), _mm512_maskz_loadu_ps(k, xc + j), acc0);
                }
            }
            y[(int64_t)b * v->rows + r] += _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        }
    }
}

__attribute__((target("avx512f"))) static void xwtb_avx512(const view *v, const float *x, int batch, float *y) {
    const mn_cb_mat *m = v->m;
    enum { SB = 16 };
    float xt[XT_FLOATS] __attribute__((aligned(64)));
    const int cc = XT_FLOATS / SB;
    for (int b0 = 0; b0 < batch; b0 += SB) {
        int nb = batch - b0 < SB ? batch - b0 : SB;
        for (int c0 = 0; c0 < v->cols; c0 += cc) {
            int c1 = v->cols - c0 < cc ? v->cols : c0 + cc;
            transpose_block(x, v->cols, b0, nb, c0, c1, SB, xt);
            #pragma omp parallel for schedule(static) if ((int64_t)nb * m->nnz >= PAR_MIN)
            for (int r = 0; r < v->rows; r++) {
                int64_t j0, j1;
                row_range(v, r, &j0, &j1);
                int64_t j = first_at(v, j0, j1, c0), je = end_at(v, j0, j1, c1);
                __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
                for (; j + 1 < je; j += 2) {
                    a0 = _mm512_fmadd_ps(_mm512_set1_ps(m->cb[m->idx[j]]), _mm512_load_ps(xt + (col_of(v, j, j0) - c0) * SB), a0);
                    a1 = _mm512_fmadd_ps(_mm512_set1_ps(m->cb[m->idx[j + 1]]), _mm512_load_ps(xt + (col_of(v, j + 1, j0) - c0) * SB), a1);
                }
                if (j < je) a0 = _mm512_fmadd_ps(_mm512_set1_ps(m->cb[m->idx[j]]), _mm512_load_ps(xt + (col_of(v, j, j0) - c0) * SB), a0);
                float t[SB] __attribute__((aligned(64)));
                _mm512_store_ps(t, _mm512_add_ps(a0, a1));
                for (int l = 0; l < nb; l++) y[(int64_t)(b0 + l) * v->rows + r] += t[l];
            }
        }
    }
}

__attribute__((target("avx512f"))) static void xwt_avx512(const mn_cb_mat *s, const float *x, int batch, float *y) {
    view v = view_of(s);
    if (batch < 4) xwt1_avx512(&v, x, batch, y);
    else xwtb_avx512(&v, x, batch, y);
}

__attribute__((target("avx512f"))) static void wb_avx512(const mn_cb_mat *s, const float *B, int n, int64_t ldb,
                                                       float *C, int64_t ldc) {
    view v = view_of(s);
    const mn_cb_mat *m = v.m;
    #pragma omp parallel for schedule(static) if ((int64_t)n * m->nnz >= PAR_MIN)
    for (int r = 0; r < v.rows; r++) {
        int64_t j0, j1;
        row_range(&v, r, &j0, &j1);
        float *cr = C + (int64_t)r * ldc;
        int i = 0;
        for (; i + 64 <= n; i += 64) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t j = j0; j < j1; j++) {
                __m512 w = _mm512_set1_ps(m->cb[m->idx[j]]);
                const float *b = B + col_of(&v, j, j0) * ldb + i;
                a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(b), a0);
                a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(b + 16), a1);
                a2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(b + 32), a2);
                a3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(b + 48), a3);
            }
            _mm512_storeu_ps(cr + i, a0);
            _mm512_storeu_ps(cr + i + 16, a1);
            _mm512_storeu_ps(cr + i + 32, a2);
            _mm512_storeu_ps(cr + i + 48, a3);
        }
        /* The last columns, 16 at a time under a mask. */
        for (; i < n; i += 16) {
            __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
            __m512 a0 = _mm512_setzero_ps();
            for (int64_t j = j0; j < j1; j++)
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(m->cb[m->idx[j]]),
                                     _mm512_maskz_loadu_ps(k, B + col_of(&v, j, j0) * ldb + i), a0);
            _mm512_mask_storeu_ps(cr + i, k, a0);
        }
    }
}

/* ---- dispatch ---- */

int mn_cb_variant_ok(mn_cb_variant v) {
    const mn_cpu *f = mn_cpu_features();
    switch (v) {
    case MN_CB_REF: return 1;
    case MN_CB_AVX2: return f->avx2 && f->fma;
    case MN_CB_AVX512: return f->avx512f;
    default: return 0;
    }
}

void mn_cb_xwt_variant(mn_cb_variant v, const mn_cb_mat *s, const float *x, int batch, float *y) {
    if (!mn_cb_variant_ok(v)) v = MN_CB_REF;
    if (v == MN_CB_AVX512) xwt_avx512(s, x, batch, y);
    else if (v == MN_CB_AVX2) xwt_avx2(s, x, batch, y);
    else mn_cb_xwt_ref(s, x, batch, y);
}

void mn_cb_wb_variant(mn_cb_variant v, const mn_cb_mat *s, const float *B, int n, int64_t ldb,
                            float *C, int64_t ldc) {
    if (!mn_cb_variant_ok(v)) v = MN_CB_REF;
    if (v == MN_CB_AVX512) wb_avx512(s, B, n, ldb, C, ldc);
    else if (v == MN_CB_AVX2) wb_avx2(s, B, n, ldb, C, ldc);
    else mn_cb_wb_ref(s, B, n, ldb, C, ldc);
}

static mn_cb_variant best(void) {
    return mn_cb_variant_ok(MN_CB_AVX512) ? MN_CB_AVX512
         : mn_cb_variant_ok(MN_CB_AVX2) ? MN_CB_AVX2 : MN_CB_REF;
}

void mn_cb_xwt(const mn_cb_mat *s, const float *x, int batch, float *y) {
    mn_cb_xwt_variant(best(), s, x, batch, y);
}

void mn_cb_wb(const mn_cb_mat *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    mn_cb_wb_variant(best(), s, B, n, ldb, C, ldc);
}
