/* Run-time CPU feature detection: the fast kernels are chosen from what this
 * CPU and OS really support, never from what the compiler was told. */
#include "minnow/core.h"
#include "core/cpu.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static mn_cpu g_cpu;
/* Models may be loaded and run from several threads at once: the first
 * call detects, exactly once, and every caller sees the finished table. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(void) {
    unsigned a, b, c, d;
    memset(&g_cpu, 0, sizeof g_cpu);
    const char *off = getenv("MINNOW_NO_SIMD");
    if (off && *off && strcmp(off, "0") != 0) return;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    if (!osxsave) return;
    uint64_t xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 6) == 6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    g_cpu.avx2 = ymm_ok && ((b >> 5) & 1);
    g_cpu.fma = ymm_ok && fma;
    g_cpu.avx512f = zmm_ok && ((b >> 16) & 1);
    g_cpu.avx512bw = g_cpu.avx512f && ((b >> 30) & 1);
    g_cpu.avx512vl = g_cpu.avx512f && ((b >> 31) & 1);
    g_cpu.avx512vnni = g_cpu.avx512f && ((c >> 11) & 1);
    g_cpu.avx512vpopcntdq = g_cpu.avx512f && ((c >> 14) & 1);
    g_cpu.avx512vbmi = g_cpu.avx512f && ((c >> 1) & 1);
    /* MINNOW_SIMD=avx2 caps the kernels at AVX2 + FMA, so that an AVX-512
     * machine also tests and benchmarks what an AVX2-only CPU runs. */
    const char *cap = getenv("MINNOW_SIMD");
    if (cap && strcmp(cap, "avx2") == 0)
        g_cpu.avx512f = g_cpu.avx512bw = g_cpu.avx512vl = g_cpu.avx512vnni = g_cpu.avx512vpopcntdq =
            g_cpu.avx512vbmi = 0;
}

const mn_cpu *mn_cpu_features(void) {
    pthread_once(&g_once, detect);
    return &g_cpu;
}
