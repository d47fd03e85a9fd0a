/* minnow quantization formats: the plain types that quantized layers,
 * their stores and the integer kernels share. */
#ifndef MINNOW_QFORMAT_H
#define MINNOW_QFORMAT_H

#include "minnow/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Input activation format of a quantized layer: x ~ scale * (q - zero),
 * q in [qmin, qmax] within [-128, 127]. */
typedef struct mn_qact {
    float scale;
    int32_t zero, qmin, qmax;
} mn_qact;

#ifdef __cplusplus
}
#endif
#endif
