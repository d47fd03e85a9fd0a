/* Signed fixed-point rounding (kernels/fixed.h). */
#include "kernels/fixed.h"

#include <math.h>

void mn_fixed_round(float *v, int64_t n, int bits, int frac) {
    /* 2..23 bits keeps every code exact in a float and in the rounding
     * trick below; a hostile file cannot make the shifts undefined. */
    if (bits < 2) bits = 2;
    if (bits > 23) bits = 23;
    if (frac < -126) frac = -126;
    if (frac > 126) frac = 126;
    float up = ldexpf(1.0f, frac), down = ldexpf(1.0f, -frac);
    float hi = ldexpf(1.0f, bits - 1) - 1, lo = -ldexpf(1.0f, bits - 1);
    for (int64_t i = 0; i < n; i++) {
        float t = v[i] * up;
        if (!(t >= lo)) t = t != t ? 0.0f : lo;
        if (t > hi) t = hi;
        v[i] = ((t + 12582912.0f) - 12582912.0f) * down;
    }
}
