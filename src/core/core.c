/* Status messages, rng, allocation, threads and the clock. */
#include "minnow/core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>

static _Thread_local char g_msg[512];

mn_status mn_error(mn_status code, const char *fmt, ...) {
    /* Format into a scratch buffer first: an argument may be mn_errmsg()
     * itself (wrapping the previous message), and vsnprintf into the buffer
     * it reads from is undefined behaviour. */
    char tmp[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(g_msg, tmp, sizeof g_msg);
    return code;
}

const char *mn_errmsg(void) { return g_msg; }
void mn_clear_error(void) { g_msg[0] = 0; }

const char *mn_status_name(mn_status s) {
    switch (s) {
    case MN_OK: return "ok";
    case MN_EARG: return "bad argument";
    case MN_EIO: return "i/o error";
    case MN_EFORMAT: return "bad format";
    case MN_ESHAPE: return "shape mismatch";
    case MN_ENOMEM: return "out of memory";
    case MN_ENAN: return "non-finite value";
    case MN_EUNSUPPORTED: return "unsupported";
    }
    return "unknown";
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mn_rng_seed(mn_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mn_rng_u64(mn_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return out;
}

uint32_t mn_rng_below(mn_rng *r, uint32_t n) {
    /* Lemire's multiply-shift; the tiny bias (< n / 2^32) does not matter here. */
    return (uint32_t)(((mn_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

float mn_rng_uniform(mn_rng *r) { return (float)(mn_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float mn_rng_normal(mn_rng *r) {
    /* Box-Muller; one of the pair is dropped to keep the stream simple. */
    double u1 = ((mn_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (mn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

int mn_mul_overflows(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out);
}

void *mn_alloc(size_t n, size_t size) {
    size_t bytes;
    if (mn_mul_overflows(n, size, &bytes)) return NULL;
    if (bytes == 0) bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes < 64) return NULL; /* wrapped */
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void mn_free(void *p) { free(p); }

static int g_threads = 1;

#ifdef MINNOW_HAVE_BLAS
void openblas_set_num_threads(int);
#endif

void mn_set_threads(int n) {
    if (n < 1) n = 1;
    g_threads = n;
    omp_set_num_threads(n);
#ifdef MINNOW_HAVE_BLAS
    openblas_set_num_threads(n);
#endif
}

int mn_get_threads(void) { return g_threads; }

double mn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
