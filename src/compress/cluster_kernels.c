/* Inference kernels on the codebook form: weights are looked up from the
 * centroids as they are used, never decoded into a full f32 matrix.
 *
 * xwt (dense layers) decodes a chunk of one row's weights into a small stack
 * buffer (with AVX-512 and k <= 32 the centroids sit in two registers and a
 * lookup is one permute), then dots it with every sample of the batch, so a
 * row is decoded once per batch.  wb (conv after im2col) keeps a block of
 * output columns in registers and streams the row's entries through it. */
#include <immintrin.h>
#include <string.h>

#include "compress/cluster_impl.h"

#define CH 256 /* weights decoded per chunk */

typedef struct { const mn_cb_impl *m; int rows, cols, sparse; } view;

static view view_of(const mn_store *s) {
    const mn_cb_impl *m = s->impl;
    return (view){m, s->rows, s->cols, (m->flags & MN_CB_SPARSE) != 0};
}

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

void mn_codebook_xwt_ref(const mn_store *s, const float *x, int batch, float *y) {
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

void mn_codebook_wb_ref(const mn_store *s, const float *B, int n, int64_t ldb, float *C,
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

/* ---- AVX2 + FMA ---- */

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static void xwt_avx2(const mn_store *s, const float *x, int batch, float *y) {
    view v = view_of(s);
    const mn_cb_impl *m = v.m;
    #pragma omp parallel for schedule(static) if ((int64_t)batch * m->nnz >= PAR_MIN)
    for (int r = 0; r < v.rows; r++) {
        float wv[CH] __attribute__((aligned(32)));
        int64_t j0, j1;
        row_range(&v, r, &j0, &j1);
        for (int64_t a = j0; a < j1; a += CH) {
            int len = j1 - a < CH ? (int)(j1 - a) : CH, t = 0;
            for (; t + 8 <= len; t += 8) {
                __m256i id = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(m->idx + a + t)));
                _mm256_store_ps(wv + t, _mm256_i32gather_ps(m->cb, id, 4));
            }
            for (; t < len; t++) wv[t] = m->cb[m->idx[a + t]];
            for (int b = 0; b < batch; b++) {
                const float *xb = x + (int64_t)b * v.cols;
                __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
                float tail = 0;
                t = 0;
                if (v.sparse) {
                    const int *ci = (const int *)m->col + a;
                    for (; t + 16 <= len; t += 16) {
                        __m256 x0 = _mm256_i32gather_ps(xb, _mm256_loadu_si256((const __m256i *)(ci + t)), 4);
                        __m256 x1 = _mm256_i32gather_ps(xb, _mm256_loadu_si256((const __m256i *)(ci + t + 8)), 4);
                        acc0 = _mm256_fmadd_ps(_mm256_load_ps(wv + t), x0, acc0);
                        acc1 = _mm256_fmadd_ps(_mm256_load_ps(wv + t + 8), x1, acc1);
                    }
                    for (; t < len; t++) tail += wv[t] * xb[ci[t]];
                } else {
                    const float *xc = xb + (a - j0);
                    for (; t + 16 <= len; t += 16) {
                        acc0 = _mm256_fmadd_ps(_mm256_load_ps(wv + t), _mm256_loadu_ps(xc + t), acc0);
                        acc1 = _mm256_fmadd_ps(_mm256_load_ps(wv + t + 8), _mm256_loadu_ps(xc + t + 8), acc1);
                    }
                    for (; t < len; t++) tail += wv[t] * xc[t];
                }
                y[(int64_t)b * v.rows + r] += hsum256(_mm256_add_ps(acc0, acc1)) + tail;
            }
        }
    }
}

__attribute__((target("avx2,fma"))) static void wb_avx2(const mn_store *s, const float *B, int n, int64_t ldb,
                                                      float *C, int64_t ldc) {
    view v = view_of(s);
    const mn_cb_impl *m = v.m;
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

__attribute__((target("avx512f"))) static void xwt_avx512(const mn_store *s, const float *x, int batch, float *y) {
    view v = view_of(s);
    const mn_cb_impl *m = v.m;
    const __m512 lo = _mm512_loadu_ps(m->cb), hi = _mm512_loadu_ps(m->cb + 16);
    const int small = m->k <= 32;
    #pragma omp parallel for schedule(static) if ((int64_t)batch * m->nnz >= PAR_MIN)
    for (int r = 0; r < v.rows; r++) {
        float wv[CH] __attribute__((aligned(64)));
        int64_t j0, j1;
        row_range(&v, r, &j0, &j1);
        for (int64_t a = j0; a < j1; a += CH) {
            int len = j1 - a < CH ? (int)(j1 - a) : CH, t = 0;
            for (; t + 16 <= len; t += 16) {
                __m512i id = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(m->idx + a + t)));
                _mm512_store_ps(wv + t, small ? _mm512_permutex2var_ps(lo, id, hi) : _mm512_i32gather_ps(id, m->cb, 4));
            }
            for (; t < len; t++) wv[t] = m->cb[m->idx[a + t]];
            for (int b = 0; b < batch; b++) {
                const float *xb = x + (int64_t)b * v.cols;
                __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
                float tail = 0;
                t = 0;
                if (v.sparse) {
                    const int *ci = (const int *)m->col + a;
                    for (; t + 32 <= len; t += 32) {
                        __m512 x0 = _mm512_i32gather_ps(_mm512_loadu_si512(ci + t), xb, 4);
                        __m512 x1 = _mm512_i32gather_ps(_mm512_loadu_si512(ci + t + 16), xb, 4);
                        acc0 = _mm512_fmadd_ps(_mm512_load_ps(wv + t), x0, acc0);
                        acc1 = _mm512_fmadd_ps(_mm512_load_ps(wv + t + 16), x1, acc1);
                    }
                    for (; t < len; t++) tail += wv[t] * xb[ci[t]];
                } else {
                    const float *xc = xb + (a - j0);
                    for (; t + 32 <= len; t += 32) {
                        acc0 = _mm512_fmadd_ps(_mm512_load_ps(wv + t), _mm512_loadu_ps(xc + t), acc0);
                        acc1 = _mm512_fmadd_ps(_mm512_load_ps(wv + t + 16), _mm512_loadu_ps(xc + t + 16), acc1);
                    }
                    for (; t < len; t++) tail += wv[t] * xc[t];
                }
                y[(int64_t)b * v.rows + r] += _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tail;
            }
        }
    }
}

__attribute__((target("avx512f"))) static void wb_avx512(const mn_store *s, const float *B, int n, int64_t ldb,
                                                       float *C, int64_t ldc) {
    view v = view_of(s);
    const mn_cb_impl *m = v.m;
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

int mn_codebook_variant_ok(mn_cb_variant v) {
    const mn_cpu *f = mn_cpu_features();
    switch (v) {
    case MN_CB_REF: return 1;
    case MN_CB_AVX2: return f->avx2 && f->fma;
    case MN_CB_AVX512: return f->avx512f;
    default: return 0;
    }
}

void mn_codebook_xwt_variant(mn_cb_variant v, const mn_store *s, const float *x, int batch, float *y) {
    if (!mn_codebook_variant_ok(v)) v = MN_CB_REF;
    if (v == MN_CB_AVX512) xwt_avx512(s, x, batch, y);
    else if (v == MN_CB_AVX2) xwt_avx2(s, x, batch, y);
    else mn_codebook_xwt_ref(s, x, batch, y);
}

void mn_codebook_wb_variant(mn_cb_variant v, const mn_store *s, const float *B, int n, int64_t ldb,
                            float *C, int64_t ldc) {
    if (!mn_codebook_variant_ok(v)) v = MN_CB_REF;
    if (v == MN_CB_AVX512) wb_avx512(s, B, n, ldb, C, ldc);
    else if (v == MN_CB_AVX2) wb_avx2(s, B, n, ldb, C, ldc);
    else mn_codebook_wb_ref(s, B, n, ldb, C, ldc);
}

static mn_cb_variant best(void) {
    return mn_codebook_variant_ok(MN_CB_AVX512) ? MN_CB_AVX512
         : mn_codebook_variant_ok(MN_CB_AVX2) ? MN_CB_AVX2 : MN_CB_REF;
}

void mn__cb_xwt(const mn_store *s, const float *x, int batch, float *y) {
    mn_codebook_xwt_variant(best(), s, x, batch, y);
}

void mn__cb_wb(const mn_store *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc) {
    mn_codebook_wb_variant(best(), s, B, n, ldb, C, ldc);
}
