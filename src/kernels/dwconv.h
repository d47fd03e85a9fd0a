/* Internal: direct depthwise convolution of one channel plane (one k x k
 * filter).  x[H,W] -> y[OH,OW]; stride s, zero padding pad.  Kernels never
 * allocate.  Each has a plain _ref twin; mn_dw_plane_* pick AVX2+FMA or the
 * portable row-wise version at run time (mn_dw_plane_*_plain forces the
 * latter, for tests). */
#ifndef MINNOW_KERNELS_DWCONV_H
#define MINNOW_KERNELS_DWCONV_H

#include "minnow/core.h"

/* Writes y = bias + w (*) x. */
void mn_dw_plane_fwd(const float *x, int H, int W, const float *w, int k, int s, int pad,
                     float bias, float *y, int OH, int OW);
/* ADDS d(loss)/dw into gw[k*k] and, if dx is non-NULL, d(loss)/dx into dx[H,W]. */
void mn_dw_plane_bwd(const float *x, const float *dy, int H, int W, const float *w, int k,
                     int s, int pad, int OH, int OW, float *gw, float *dx);

void mn_dw_plane_fwd_ref(const float *x, int H, int W, const float *w, int k, int s, int pad,
                         float bias, float *y, int OH, int OW);
void mn_dw_plane_bwd_ref(const float *x, const float *dy, int H, int W, const float *w, int k,
                         int s, int pad, int OH, int OW, float *gw, float *dx);
void mn_dw_plane_fwd_plain(const float *x, int H, int W, const float *w, int k, int s, int pad,
                           float bias, float *y, int OH, int OW);
void mn_dw_plane_bwd_plain(const float *x, const float *dy, int H, int W, const float *w, int k,
                           int s, int pad, int OH, int OW, float *gw, float *dx);
/* "avx2" or "portable": what mn_dw_plane_* run on this machine. */
const char *mn_dw_path(void);

#endif
