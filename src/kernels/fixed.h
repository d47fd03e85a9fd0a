/* Private (src/kernels): signed fixed-point rounding (src/kernels/fixed.c),
 * the forward rule of a node with the act_bits/act_frac attributes and
 * the weight rounding of fixed-point quantization. */
#ifndef MINNOW_KERNELS_FIXED_H
#define MINNOW_KERNELS_FIXED_H

#include "minnow/core.h"

/* Rounds v in place to the signed fixed-point format with `bits` total bits
 * and `frac` fraction bits, saturating.  Also the forward rule of a node
 * with the act_bits/act_frac attributes. */
void mn_fixed_round(float *v, int64_t n, int bits, int frac);

#endif
