/* im2col / col2im: conv as one GEMM over a whole batch. */
#include "minnow/kernels.h"

void mn_im2col(const float *x, int C, int H, int W, int k, int stride, int pad,
               int OH, int OW, float *col, int64_t ldcol) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *row = col + ((int64_t)(c * k + i) * k + j) * ldcol;
                const float *xc = x + (int64_t)c * H * W;
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + i;
                    float *r = row + oy * OW;
                    if (iy < 0 || iy >= H) {
                        for (int ox = 0; ox < OW; ox++) r[ox] = 0;
                        continue;
                    }
                    const float *xr = xc + iy * W;
                    if (stride == 1) {
                        int ix0 = j - pad;
                        for (int ox = 0; ox < OW; ox++) {
                            int ix = ix0 + ox;
                            r[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0;
                        }
                    } else {
                        for (int ox = 0; ox < OW; ox++) {
                            int ix = ox * stride - pad + j;
                            r[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0;
                        }
                    }
                }
            }
}

void mn_col2im(const float *col, int C, int H, int W, int k, int stride,
               int pad, int OH, int OW, int64_t ldcol, float *dx) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                const float *row = col + ((int64_t)(c * k + i) * k + j) * ldcol;
                float *xc = dx + (int64_t)c * H * W;
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + i;
                    if (iy < 0 || iy >= H) continue;
                    const float *r = row + oy * OW;
                    float *xr = xc + iy * W;
                    for (int ox = 0; ox < OW; ox++) {
                        int ix = ox * stride - pad + j;
                        if (ix >= 0 && ix < W) xr[ix] += r[ox];
                    }
                }
            }
}
