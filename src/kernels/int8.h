/* Private (src/kernels): the int8 kernels behind quantized layers. */
#ifndef MINNOW_KERNELS_INT8_H
#define MINNOW_KERNELS_INT8_H

#include "minnow/qformat.h"

/* ---- integer kernels (int8*.c) -------------------------------------------
 *
 * Exact int32 sums of int8 x int8 products; every ISA gives the same bits as
 * MN_I8_REF.  Dense layers (xw): acc[b, r] = sum_c qx[b, c] qw[r, c], the
 * weights packed once into panels of 16 rows (mn_i8_pack_w), activations
 * quantized per call into rows (mn_i8_quant_rows).  Conv layers (wx):
 * acc[r, j] = sum_c qw[r, c] qB[c, j] over the im2col matrix B[cols, n],
 * activations quantized per call into panels of 16 columns straight from
 * B's rows (mn_i8_quant_panel), weights packed as rows (mn_i8_pack_wrows).
 * Panels interleave 4 int8 (VNNI: it runs on uint8 activations q + 128 and
 * subtracts 128 * the weights' row sums) or 2 int16 (AVX2 / AVX-512BW:
 * vpmaddwd, exact, no saturation).  Layouts are described in int8.c. */
typedef enum mn_i8_isa {
    MN_I8_REF = 0,
    MN_I8_AVX2,
    MN_I8_AVX512BW,
    MN_I8_VNNI,
    MN_I8__COUNT
} mn_i8_isa;

/* Largest cols the kernels take: the VNNI sum (qx + 128) * qw stays exact. */
#define MN_I8_MAX_K 65535

/* The fastest ISA this CPU runs (MINNOW_NO_SIMD=1 gives MN_I8_REF;
 * MINNOW_I8_ISA=ref|avx2|avx512bw|avx512vnni caps it). */
mn_i8_isa mn_i8_best_isa(void);
int mn_i8_isa_ok(mn_i8_isa isa);
const char *mn_i8_isa_name(mn_i8_isa isa);

/* Row stride, in elements, of the row layout (cols padded to the k group). */
int mn_i8_ldx(mn_i8_isa isa, int cols);
/* Accumulator row stride for `n` panel rows: n rounded up to 16 (the
 * kernels write 0 to the padded entries). */
int mn_i8_ldacc(int n);
/* Bytes of activations: nrows in the row layout, n columns in panels. */
size_t mn_i8_xbytes(mn_i8_isa isa, int nrows, int cols);
size_t mn_i8_pbytes(mn_i8_isa isa, int n, int cols);
/* Bytes of packed weights: as panels (dense) or as rows (conv). */
size_t mn_i8_wbytes(mn_i8_isa isa, int rows, int cols);
size_t mn_i8_wrbytes(mn_i8_isa isa, int rows, int cols);
/* Packs q[rows, cols] (row-major int8 codes); buffers 64-byte aligned. */
void mn_i8_pack_w(mn_i8_isa isa, const int8_t *q, int rows, int cols, void *wp);
void mn_i8_pack_wrows(mn_i8_isa isa, const int8_t *q, int rows, int cols, void *wr);

/* One code: round(x / scale) + zero computed as x * (1 / scale), NaN as 0,
 * clamped, rounded half to even; every quantizer below gives these codes. */
int32_t mn_i8_quant1(float x, const mn_qact *a);
/* Quantizes x[nrows, cols] (dense) into the row layout xr; sumq[i] (may be
 * NULL) gets row i's sum of codes. */
void mn_i8_quant_rows(mn_i8_isa isa, const float *x, int nrows, int cols, const mn_qact *a, void *xr,
                      int32_t *sumq);
/* Quantizes columns j < n of B[cols, ldb] (im2col) into panels xp; sumq
 * (mn_i8_ldacc(n) entries, may be NULL) gets each column's sum of codes. */
void mn_i8_quant_panel(mn_i8_isa isa, const float *B, int64_t ldb, int n, int cols, const mn_qact *a, void *xp,
                       int32_t *sumq);
/* The plain scalar twins of the two above, for any ISA's layout. */
void mn_i8_quant_rows_ref(mn_i8_isa isa, const float *x, int nrows, int cols, const mn_qact *a, void *xr,
                          int32_t *sumq);
void mn_i8_quant_panel_ref(mn_i8_isa isa, const float *B, int64_t ldb, int n, int cols, const mn_qact *a,
                           void *xp, int32_t *sumq);
/* Layouts from int8 codes (q[nrows or n, cols], row-major; tests). */
void mn_i8_prep_rows(mn_i8_isa isa, const int8_t *q, int nrows, int cols, void *xr);
void mn_i8_prep_panel(mn_i8_isa isa, const int8_t *q, int n, int cols, void *xp);

/* Dense: acc[b * ldacc + r], b < nrows, ldacc >= mn_i8_ldacc(rows).
 * Conv:  acc[r * ldacc + j], r < rows, ldacc >= mn_i8_ldacc(n).
 * Never allocate.  1 <= cols <= MN_I8_MAX_K. */
void mn_i8_gemm_xw(mn_i8_isa isa, const void *wp, int rows, int cols, const void *xr, int nrows, int32_t *acc,
                   int ldacc);
void mn_i8_gemm_wx(mn_i8_isa isa, const void *wr, int rows, int cols, const void *xp, int n, int32_t *acc,
                   int ldacc);

/* ---- conv without the f32 im2col (src/kernels/int8_conv*.c) ------------
 *
 * The layer input x[C, H, W] of one image is quantized once into a padded
 * image of codes in the ISA's activation element (int8, uint8 q + 128 for
 * VNNI, int16 for AVX2 / AVX-512BW), rows of ld = mn_i8_image_ld elements,
 * the border holding the code of 0.0 (act->zero), so that it gives the
 * same codes as quantizing the f32 im2col matrix.  mn_i8_im2panel then
 * gathers those codes into the panels mn_i8_gemm_wx takes (byte for byte
 * what mn_i8_quant_panel makes of the f32 columns), and mn_i8_wx_out turns
 * the int32 sums into f32 outputs. */
int mn_i8_image_ld(mn_i8_isa isa, int W, int pad);
/* Bytes of one padded image (with slack for wide reads); 0 on overflow. */
size_t mn_i8_image_bytes(mn_i8_isa isa, int C, int H, int W, int pad);
void mn_i8_quant_image(mn_i8_isa isa, const float *x, int C, int H, int W, int pad, const mn_qact *a, void *xq);
void mn_i8_quant_image_ref(mn_i8_isa isa, const float *x, int C, int H, int W, int pad, const mn_qact *a,
                           void *xq);
/* Panels of the output pixels p0 .. p0+n-1 (p = oy * OW + ox) of a k x k
 * conv (stride s) over the padded image xq; sumq (mn_i8_ldacc(n) entries)
 * gets each pixel's sum of codes.  rb: mn_i8_im2panel_rbytes of scratch. */
size_t mn_i8_im2panel_rbytes(mn_i8_isa isa, int cols);
void mn_i8_im2panel(mn_i8_isa isa, const void *xq, int C, int H, int W, int k, int s, int pad, int OW, int p0,
                    int n, void *xp, int32_t *sumq, void *rb);
void mn_i8_im2panel_ref(mn_i8_isa isa, const void *xq, int C, int H, int W, int k, int s, int pad, int OW,
                        int p0, int n, void *xp, int32_t *sumq);

/* Depthwise conv (groups = C, F = C * mult filters of k x k, stride s) on
 * the padded code image xq of one sample (mn_i8_quant_image, any ISA's
 * layout): output channel f reads input channel f / mult and
 *   y[f, p] = (float)acc * mul[f] (+ bias[f] if bias),
 *   acc = sum over the k*k taps of (x code - za) * wz[f * k*k + tap],
 * wz holding the weight codes less their zero point (|.| <= 255).  The
 * int32 sum is exact (at most k*k * 255 * 255), so every ISA's version
 * gives the reference's bits.  The fast versions take strides 1 and 2 and
 * run the others on the reference; one thread per channel block. */
void mn_i8_dw(mn_i8_isa isa, const void *xq, int C, int H, int W, int pad, int k, int s, int OH, int OW, int mult,
              const int16_t *wz, int32_t za, const float *mul, const float *bias, float *y);
void mn_i8_dw_ref(mn_i8_isa isa, const void *xq, int C, int H, int W, int pad, int k, int s, int OH, int OW,
                  int mult, const int16_t *wz, int32_t za, const float *mul, const float *bias, float *y);

/* Largest cols for which every zero-point-corrected sum fits int32. */
#define MN_I8_OUT_MAX_K 33025
/* y[r * ldy + j] = (float)(acc[r * ldacc + j] + c0[r] - zw[r] * sumq[j]) *
 * mul[r] (+ bias[r] if bias), r < rows, j < n: the int32 sum is exact for
 * cols <= MN_I8_OUT_MAX_K (the fast one wraps, the _ref one sums in
 * int64), then the same two float operations as the wb path. */
void mn_i8_wx_out(mn_i8_isa isa, const int32_t *acc, int ldacc, int rows, int n, const int32_t *c0,
                  const int32_t *zw, const float *mul, const int32_t *sumq, const float *bias, float *y,
                  int64_t ldy);
void mn_i8_wx_out_ref(const int32_t *acc, int ldacc, int rows, int n, const int32_t *c0, const int32_t *zw,
                      const float *mul, const int32_t *sumq, const float *bias, float *y, int64_t ldy);

#endif
