/* im2col / col2im: conv as one GEMM over a whole batch.  For stride 1 each
 * output row is one contiguous run of the input row, so the valid part is a
 * memcpy (im2col) or a vectorisable add (col2im) and only the padded edges
 * are special. */
#include <string.h>

#include "kernels/kernels.h"
#include "core/cpu.h"

/* Output columns [lo, hi) read input x = ox*stride - pad + j inside [0, W). */
static void valid_range(int OW, int W, int stride, int pad, int j, int *lo, int *hi) {
    int l = pad - j > 0 ? (pad - j + stride - 1) / stride : 0;
    int h = (W + pad - j + stride - 1) / stride; /* first ox with ix >= W */
    if (h > OW) h = OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

void mn_im2col_portable(const float *x, int C, int H, int W, int k, int stride, int pad,
                        int OH, int OW, float *col, int64_t ldcol) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *row = col + ((int64_t)(c * k + i) * k + j) * ldcol;
                const float *xc = x + (int64_t)c * H * W;
                int lo, hi;
                valid_range(OW, W, stride, pad, j, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + i;
                    float *r = row + oy * OW;
                    if (iy < 0 || iy >= H) {
                        memset(r, 0, sizeof(float) * OW);
                        continue;
                    }
                    const float *xr = xc + iy * W;
                    for (int ox = 0; ox < lo; ox++) r[ox] = 0;
                    if (stride == 1) {
                        if (hi > lo) memcpy(r + lo, xr + lo - pad + j, sizeof(float) * (hi - lo));
                    } else {
                        for (int ox = lo; ox < hi; ox++) r[ox] = xr[ox * stride - pad + j];
                    }
                    for (int ox = hi; ox < OW; ox++) r[ox] = 0;
                }
            }
}

void mn_col2im_portable(const float *col, int C, int H, int W, int k, int stride,
                        int pad, int OH, int OW, int64_t ldcol, float *dx) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                const float *row = col + ((int64_t)(c * k + i) * k + j) * ldcol;
                float *xc = dx + (int64_t)c * H * W;
                int lo, hi;
                valid_range(OW, W, stride, pad, j, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + i;
                    if (iy < 0 || iy >= H) continue;
                    const float *r = row + oy * OW;
                    float *xr = xc + iy * W;
                    if (stride == 1) {
                        float *restrict d = xr + (lo - pad + j);
                        const float *restrict s = r + lo;
                        for (int t = 0; t < hi - lo; t++) d[t] += s[t];
                    } else {
                        for (int ox = lo; ox < hi; ox++) xr[ox * stride - pad + j] += r[ox];
                    }
                }
            }
}

/* Rows of conv2 in lenet5 are 8 floats: a memcpy call per row cost more
 * than the copy, so stride 1 goes to the masked AVX-512 version. */
void mn_im2col(const float *x, int C, int H, int W, int k, int stride, int pad,
               int OH, int OW, float *col, int64_t ldcol) {
    if (stride == 1 && mn_cpu_features()->avx512f) mn_im2col_avx512(x, C, H, W, k, stride, pad, OH, OW, col, ldcol);
    else mn_im2col_portable(x, C, H, W, k, stride, pad, OH, OW, col, ldcol);
}

void mn_col2im(const float *col, int C, int H, int W, int k, int stride,
               int pad, int OH, int OW, int64_t ldcol, float *dx) {
    if (stride == 1 && mn_cpu_features()->avx512f) mn_col2im_avx512(col, C, H, W, k, stride, pad, OH, OW, ldcol, dx);
    else mn_col2im_portable(col, C, H, W, k, stride, pad, OH, OW, ldcol, dx);
}

/* The plain versions the fast ones are tested against. */
void mn_im2col_ref(const float *x, int C, int H, int W, int k, int stride, int pad,
                   int OH, int OW, float *col, int64_t ldcol) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        int iy = oy * stride - pad + i, ix = ox * stride - pad + j;
                        col[((int64_t)(c * k + i) * k + j) * ldcol + oy * OW + ox] =
                            (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[((int64_t)c * H + iy) * W + ix] : 0;
                    }
}

void mn_col2im_ref(const float *col, int C, int H, int W, int k, int stride,
                   int pad, int OH, int OW, int64_t ldcol, float *dx) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        int iy = oy * stride - pad + i, ix = ox * stride - pad + j;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                            dx[((int64_t)c * H + iy) * W + ix] += col[((int64_t)(c * k + i) * k + j) * ldcol + oy * OW + ox];
                    }
}
