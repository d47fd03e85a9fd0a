/* Private to the int8 kernels (src/kernels/int8*.c): the layout helpers
 * every file of them shares, and the ISA twins the dispatchers in int8.c
 * and int8_conv.c call.  The layouts are described in int8.c. */
#ifndef MINNOW_KERNELS_INT8_IMPL_H
#define MINNOW_KERNELS_INT8_IMPL_H

#include "kernels/int8.h"

static inline int mn__i8_rup(int x, int m) { return (x + m - 1) / m * m; }
/* Codes per k group: 1 (REF), 2 (int16: AVX2, AVX-512BW), 4 (VNNI). */
static inline int mn__i8_kgroup(mn_i8_isa isa) { return isa == MN_I8_REF ? 1 : isa == MN_I8_VNNI ? 4 : 2; }
/* Bytes of one activation element. */
static inline int mn__i8_esize(mn_i8_isa isa) { return isa == MN_I8_AVX2 || isa == MN_I8_AVX512BW ? 2 : 1; }
/* Activation code v at element `at` (uint8 + 128 for VNNI). */
static inline void mn__i8_put_x(mn_i8_isa isa, void *p, int64_t at, int32_t v) {
    if (isa == MN_I8_REF) ((int8_t *)p)[at] = (int8_t)v;
    else if (isa == MN_I8_VNNI) ((uint8_t *)p)[at] = (uint8_t)(v + 128);
    else ((int16_t *)p)[at] = (int16_t)v;
}
/* The code at element `at` (the inverse of mn__i8_put_x). */
static inline int32_t mn__i8_get_x(mn_i8_isa isa, const void *p, int64_t at) {
    if (isa == MN_I8_REF) return ((const int8_t *)p)[at];
    if (isa == MN_I8_VNNI) return (int32_t)((const uint8_t *)p)[at] - 128;
    return ((const int16_t *)p)[at];
}
/* Element (j, c) of a panel operand: panels of 16 rows, interleaved by
 * the k group (REF: plain rows). */
static inline int64_t mn__i8_at_panel(mn_i8_isa isa, int cols, int j, int c) {
    if (isa == MN_I8_REF) return (int64_t)j * cols + c;
    int g = mn__i8_kgroup(isa), kp = mn_i8_ldx(isa, cols);
    return (int64_t)(j / 16) * kp * 16 + (int64_t)(c / g) * 16 * g + (j % 16) * g + c % g;
}

/* The dense GEMMs and quantizers of each SIMD ISA (int8_avx2.c,
 * int8_avx512.c, int8_vnni.c). */
#define MN__I8_DECL(isa)                                                                                         \
    void mn__i8_gemm_xw_##isa(const void *wp, int rows, int cols, const void *xr, int nrows, int32_t *acc,      \
                              int ldacc);                                                                        \
    void mn__i8_gemm_wx_##isa(const void *wr, int rows, int cols, const void *xp, int n, int32_t *acc,          \
                              int ldacc);                                                                        \
    void mn__i8_quant_rows_##isa(const float *x, int nrows, int cols, const mn_qact *a, void *xr, int32_t *sumq); \
    void mn__i8_quant_panel_##isa(const float *B, int64_t ldb, int n, int cols, const mn_qact *a, void *xp,      \
                                  int32_t *sumq);                                                                \
    void mn__i8_quant_image_##isa(const float *x, int C, int H, int W, int pad, int ld, const mn_qact *a,       \
                                  void *xq);
MN__I8_DECL(avx2)
MN__I8_DECL(avx512bw)
MN__I8_DECL(vnni)
#undef MN__I8_DECL

/* The conv gathers (int8_conv_avx512.c) and the row gather they share
 * with the portable path (int8_conv.c). */
void mn__i8_im2panel_avx512bw(const void *xq, int ld, int C, int Hp, int k, int s, int OW, int p0, int n,
                              int cols, void *xp, int32_t *sumq, void *rb);
void mn__i8_im2panel_vnni(const void *xq, int ld, int C, int Hp, int k, int s, int OW, int p0, int n, int cols,
                          void *xp, int32_t *sumq, void *rb);
void mn__i8_im2panel_s1_vnni(const void *xq, int ld, int Hp, int k, int OW, int p0, int n, int cols,
                             void *xp, int32_t *sumq, int32_t *dt, int vbmi);
void mn__i8_conv_rows(const void *xq, int ld, int C, int Hp, int k, int s, int OW, int p, int nr, int es,
                      int cols, int kp, int code0, void *rb);

#endif
