/* Private (src/compress): what the quantization passes share. */
#ifndef MINNOW_COMPRESS_QUANT_IMPL_H
#define MINNOW_COMPRESS_QUANT_IMPL_H

#include "minnow/quant.h"
#include "store/affine.h"

/* Quantizes w[rows, cols] per c into a new store. */
mn_status mn_affine_store_quantize(const float *w, int rows, int cols,
                                   const mn_wquant *c, const mn_qact *act,
                                   mn_store **out);

#endif
