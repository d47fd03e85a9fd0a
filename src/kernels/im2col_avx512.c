/* im2col / col2im for stride 1 with AVX-512 masks: each output row is one
 * run of an input row, copied (or added back) 16 floats at a time, the
 * lanes outside [lo, hi) being zero padding (im2col) or skipped (col2im).
 * Masked-off lanes are never read, so no bounds checks remain.  The adds of
 * col2im happen in the portable version's order: the results are equal. */
#include <immintrin.h>

#include "kernels/kernels.h"

#define T512 __attribute__((target("avx512f")))

/* Output columns [lo, hi) read input x = ox - pad + j inside [0, W). */
static void valid_range1(int OW, int W, int pad, int j, int *lo, int *hi) {
    int l = pad - j > 0 ? pad - j : 0, h = W + pad - j;
    if (h > OW) h = OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Lanes [a, b) of a 16-lane chunk. */
static inline __mmask16 span(int a, int b) {
    if (a < 0) a = 0;
    if (b > 16) b = 16;
    if (b <= a) return 0;
    return (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
}

/* Rows oy in [*a, *b) read input rows iy = oy - pad + i inside [0, H). */
static void valid_rows(int OH, int H, int pad, int i, int *a, int *b) {
    int l = pad - i > 0 ? pad - i : 0, h = H + pad - i;
    if (h > OH) h = OH;
    if (l > h) l = h;
    *a = l;
    *b = h;
}

T512 void mn_im2col_avx512(const float *x, int C, int H, int W, int k, int stride, int pad,
                           int OH, int OW, float *col, int64_t ldcol) {
    if (stride != 1) { mn_im2col_portable(x, C, H, W, k, stride, pad, OH, OW, col, ldcol); return; }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++) {
            int oy0, oy1;
            valid_rows(OH, H, pad, i, &oy0, &oy1);
            for (int j = 0; j < k; j++) {
                float *row = col + ((int64_t)(c * k + i) * k + j) * ldcol;
                int lo, hi;
                valid_range1(OW, W, pad, j, &lo, &hi);
                /* src[ox] = x[c, oy - pad + i, ox - pad + j], read only for ox in [lo, hi). */
                const float *src = x + ((int64_t)c * H + (oy0 - pad + i)) * W - pad + j;
                if (OW <= 16) { /* one vector per row, masks fixed: no per-row logic */
                    __mmask16 st = span(0, OW), ld = span(lo, hi);
                    float *r = row;
                    int oy = 0;
                    for (; oy < oy0; oy++, r += OW) _mm512_mask_storeu_ps(r, st, _mm512_setzero_ps());
                    for (; oy < oy1; oy++, r += OW, src += W) _mm512_mask_storeu_ps(r, st, _mm512_maskz_loadu_ps(ld, src));
                    for (; oy < OH; oy++, r += OW) _mm512_mask_storeu_ps(r, st, _mm512_setzero_ps());
                    continue;
                }
                for (int oy = 0; oy < OH; oy++) {
                    float *r = row + (int64_t)oy * OW;
                    int ok = oy >= oy0 && oy < oy1;
                    for (int o = 0; o < OW; o += 16) {
                        __mmask16 st = span(0, OW - o), ld = ok ? span(lo - o, hi - o) : 0;
                        _mm512_mask_storeu_ps(r + o, st, _mm512_maskz_loadu_ps(ld, src + o));
                    }
                    if (ok) src += W;
                }
            }
        }
}

/* Each 16-float piece of a dx row is loaded once, gets every (i, j) term in
 * the portable order, and is stored once: adding row by row into dx
 * instead made each load wait on the masked store just before it. */
T512 void mn_col2im_avx512(const float *col, int C, int H, int W, int k, int stride, int pad,
                           int OH, int OW, int64_t ldcol, float *dx) {
    if (stride != 1) { mn_col2im_portable(col, C, H, W, k, stride, pad, OH, OW, ldcol, dx); return; }
    __mmask16 mk[32];
    int fixed = W <= 16 && k <= 32; /* one piece per row: the k lane masks are computed once */
    for (int j = 0; fixed && j < k; j++) mk[j] = span(0, W) & span(j - pad, OW + j - pad);
    for (int c = 0; c < C; c++)
        for (int iy = 0; iy < H; iy++)
            for (int x0 = 0; x0 < W; x0 += 16) {
                float *d = dx + ((int64_t)c * H + iy) * W + x0;
                __mmask16 md = span(0, W - x0);
                __m512 acc = _mm512_maskz_loadu_ps(md, d);
                for (int i = 0; i < k; i++) {
                    int oy = iy + pad - i;
                    if (oy < 0 || oy >= OH) continue;
                    /* x = ox - pad + j: lane l (x = x0 + l) reads ox = x0 + l + pad - j in [0, OW). */
                    const float *r = col + (int64_t)(c * k + i) * k * ldcol + (int64_t)oy * OW + x0 + pad;
                    for (int j = 0; j < k; j++, r += ldcol - 1) {
                        __mmask16 m = fixed ? mk[j] : md & span(j - pad - x0, OW + j - pad - x0);
                        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, r));
                    }
                }
                _mm512_mask_storeu_ps(d, md, acc);
            }
}
