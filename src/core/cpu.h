/* Private (src/core): the CPU features the kernels dispatch on. */
#ifndef MINNOW_CORE_CPU_H
#define MINNOW_CORE_CPU_H

#include "minnow/core.h"

typedef struct mn_cpu {
    int avx2, fma, avx512f, avx512bw, avx512vl, avx512vnni, avx512vpopcntdq, avx512vbmi;
} mn_cpu;
/* What this CPU can run, read once with cpuid (and the OS's xsave state).
 * MINNOW_NO_SIMD=1 in the environment forces every flag off, so the
 * portable paths can be tested on any machine; MINNOW_SIMD=avx2 turns the
 * AVX-512 ones off, so the AVX2 paths can be tested and timed on an
 * AVX-512 machine. */
const mn_cpu *mn_cpu_features(void);

#endif
