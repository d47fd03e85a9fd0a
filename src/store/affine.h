/* Private (src/store): the MN_ST_AFFINE storage kind (docs/QUANTIZATION.md). */
#ifndef MINNOW_STORE_AFFINE_H
#define MINNOW_STORE_AFFINE_H

#include "kernels/int8.h"
#include "store/store.h"

extern const mn_store_traits mn_st_affine;

/* q: rows*cols codes in [-2^(bits-1), 2^(bits-1)-1]; scale/zero: nscale = 1
 * (per tensor) or rows (per row) entries; act: the input format, or NULL
 * for a weight-only store (it then runs f32 products on decoded weights).
 * pow2 marks a fixed-point store (every scale a power of two). */
mn_status mn_affine_store_new(int rows, int cols, int bits, const int8_t *q,
                              const float *scale, const int32_t *zero,
                              int nscale, const mn_qact *act, int pow2,
                              mn_store **out);
typedef struct mn_affine_info {
    int bits, nscale, pow2, has_act;
    mn_qact act;
    mn_i8_isa isa;       /* the kernel it runs on */
    const int8_t *q;     /* rows*cols codes, owned by the store */
    const float *scale;
    const int32_t *zero;
} mn_affine_info;
/* Depthwise layers whose window has at most this many taps run on the
 * integer depthwise kernel (the store's dw trait); the C export follows. */
#define MN_AFFINE_DW_MAX_K 64
/* MN_EARG if s is not an MN_ST_AFFINE store. */
mn_status mn_affine_store_info(const mn_store *s, mn_affine_info *out);

#endif
