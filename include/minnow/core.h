/* minnow core: status codes, error messages, rng, aligned allocation, cpu
 * features, threads and a clock.  Every library call that can fail returns an
 * mn_status and leaves a message readable with mn_errmsg(); only the CLI
 * prints and exits. */
#ifndef MINNOW_CORE_H
#define MINNOW_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mn_status {
    MN_OK = 0,
    MN_EARG,         /* bad argument or option */
    MN_EIO,          /* file missing, unreadable or unwritable */
    MN_EFORMAT,      /* file content is corrupt, truncated or not the format */
    MN_ESHAPE,       /* shapes do not fit together */
    MN_ENOMEM,       /* allocation failed or a size overflowed */
    MN_ENAN,         /* NaN or Inf met during training */
    MN_EUNSUPPORTED  /* valid, but not something minnow does */
} mn_status;

/* Records a printf-style message for the calling thread and returns code, so
 * that failing paths read `return mn_error(MN_EIO, "cannot open %s", p);`. */
mn_status mn_error(mn_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The last message recorded on this thread ("" if none). */
const char *mn_errmsg(void);
void mn_clear_error(void);
const char *mn_status_name(mn_status s);

/* xoshiro256** seeded through splitmix64: fast, and the same stream on every
 * platform, so that a seed reproduces a model bit for bit. */
typedef struct mn_rng { uint64_t s[4]; } mn_rng;
void mn_rng_seed(mn_rng *r, uint64_t seed);
uint64_t mn_rng_u64(mn_rng *r);
uint32_t mn_rng_below(mn_rng *r, uint32_t n); /* uniform in [0, n) */
float mn_rng_uniform(mn_rng *r);              /* uniform in [0, 1) */
float mn_rng_normal(mn_rng *r);               /* standard normal */

/* 64-byte aligned, zeroed allocation of n*size bytes; NULL on overflow or
 * failure.  Free with mn_free.  The caller owns the memory. */
void *mn_alloc(size_t n, size_t size);
void mn_free(void *p);
/* 1 if a*b overflows size_t (and *out is left unspecified), else 0. */
int mn_mul_overflows(size_t a, size_t b, size_t *out);

/* Threads for OpenMP loops and OpenBLAS.  Default 1 (deterministic). */
void mn_set_threads(int n);
int mn_get_threads(void);

/* Whether a loop of `work` steps is worth splitting over threads: more than
 * one thread set and at least min_work steps to pay for the fork/join. */
static inline int mn_par_worth(int64_t work, int64_t min_work) {
    return work >= min_work && mn_get_threads() > 1;
}

/* `for (int VAR = 0; VAR < N; VAR++) { ... }` as an OpenMP static loop when
 * PAR is true, else as a plain loop.  A plain branch, not an if() clause:
 * with the clause false GCC still calls GOMP_parallel, which builds a
 * one-thread team (a malloc, a free, ~1 us) each time, as long as a whole
 * batch-1 layer takes.  Iterations must be independent, as for any
 * `omp parallel for`; results do not depend on which branch runs. */
#define MN_PAR_FOR(PAR, VAR, N, ...)                                       \
    do {                                                                   \
        if (PAR) {                                                         \
            _Pragma("omp parallel for schedule(static)")                   \
            for (int VAR = 0; VAR < (N); VAR++) { __VA_ARGS__ }            \
        } else {                                                           \
            for (int VAR = 0; VAR < (N); VAR++) { __VA_ARGS__ }            \
        }                                                                  \
    } while (0)

double mn_now(void); /* monotonic seconds */

#ifdef __cplusplus
}
#endif
#endif
