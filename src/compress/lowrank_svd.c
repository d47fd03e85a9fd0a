/* Thin SVD: LAPACK's divide-and-conquer sgesdd when the build has LAPACKE,
 * and a one-sided Jacobi twin in double precision that is both the
 * reference for tests and the fallback without LAPACK. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/lowrank.h"

#ifdef MINNOW_HAVE_LAPACKE
#include <lapacke.h>
#endif

int mn_svd_uses_lapack(void) {
#ifdef MINNOW_HAVE_LAPACKE
    return 1;
#else
    return 0;
#endif
}

static mn_status check_dims(int m, int n) {
    if (m <= 0 || n <= 0) return mn_error(MN_EARG, "svd of an empty %dx%d matrix", m, n);
    if ((int64_t)m * n > (INT64_C(1) << 30)) return mn_error(MN_ENOMEM, "svd: %dx%d matrix is too large", m, n);
    return MN_OK;
}

/* Hestenes' method on k vectors of length L (k <= L), stored one after
 * another in b: rotates pairs until all are orthogonal, accumulating the
 * rotations in v (k x k, row-major, starts as I).  Afterwards b = U S and
 * the input was b v^T. */
static void jacobi(double *b, int k, int L, double *v) {
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) v[(int64_t)i * k + j] = i == j;
    for (int sweep = 0; sweep < 80; sweep++) {
        int rotated = 0;
        for (int p = 0; p < k - 1; p++)
            for (int q = p + 1; q < k; q++) {
                double *bp = b + (int64_t)p * L, *bq = b + (int64_t)q * L;
                double al = 0, be = 0, ga = 0;
                for (int i = 0; i < L; i++) { al += bp[i] * bp[i]; be += bq[i] * bq[i]; ga += bp[i] * bq[i]; }
                if (ga == 0 || fabs(ga) <= 1e-15 * sqrt(al * be)) continue;
                rotated = 1;
                double zeta = (be - al) / (2 * ga);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), s = c * t;
                for (int i = 0; i < L; i++) {
                    double x = bp[i], y = bq[i];
                    bp[i] = c * x - s * y;
                    bq[i] = s * x + c * y;
                }
                for (int i = 0; i < k; i++) {
                    double x = v[(int64_t)i * k + p], y = v[(int64_t)i * k + q];
                    v[(int64_t)i * k + p] = c * x - s * y;
                    v[(int64_t)i * k + q] = s * x + c * y;
                }
            }
        if (!rotated) break;
    }
}

typedef struct { double s; int i; } sv_idx;
static int by_s_desc(const void *a, const void *b) {
    double x = ((const sv_idx *)a)->s, y = ((const sv_idx *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

mn_status mn_svd_ref(const float *a, int m, int n, float *s, float *u, float *vt) {
    mn_status st = check_dims(m, n);
    if (st) return st;
    int tall = m >= n, k = tall ? n : m, L = tall ? m : n;
    double *b = malloc(sizeof(double) * k * L), *v = malloc(sizeof(double) * k * k);
    sv_idx *ord = malloc(sizeof *ord * k);
    if (!b || !v || !ord) { free(b); free(v); free(ord); return mn_error(MN_ENOMEM, "out of memory"); }
    /* Vectors: the columns of a when tall, else its rows (columns of a^T). */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            if (tall) b[(int64_t)j * L + i] = a[(int64_t)i * n + j];
            else b[(int64_t)i * L + j] = a[(int64_t)i * n + j];
        }
    jacobi(b, k, L, v);
    for (int j = 0; j < k; j++) {
        double nn = 0;
        for (int i = 0; i < L; i++) nn += b[(int64_t)j * L + i] * b[(int64_t)j * L + i];
        ord[j].s = sqrt(nn);
        ord[j].i = j;
    }
    qsort(ord, k, sizeof *ord, by_s_desc);
    /* tall: a = B V^T with B = U S, so u = B / s and vt = V^T.
     * wide: a^T = B V^T, so a = V S (B / s)^T: u = V and vt = (B / s)^T. */
    for (int r = 0; r < k; r++) {
        int j = ord[r].i;
        double sj = ord[r].s, inv = sj > 0 ? 1 / sj : 0;
        s[r] = (float)sj;
        const double *bj = b + (int64_t)j * L;
        if (tall) {
            for (int i = 0; i < m; i++) u[(int64_t)i * k + r] = (float)(bj[i] * inv);
            for (int i = 0; i < n; i++) vt[(int64_t)r * n + i] = (float)v[(int64_t)i * k + j];
        } else {
            for (int i = 0; i < m; i++) u[(int64_t)i * k + r] = (float)v[(int64_t)i * k + j];
            for (int i = 0; i < n; i++) vt[(int64_t)r * n + i] = (float)(bj[i] * inv);
        }
    }
    free(b); free(v); free(ord);
    return MN_OK;
}

mn_status mn_svd(const float *a, int m, int n, float *s, float *u, float *vt) {
    mn_status st = check_dims(m, n);
    if (st) return st;
#ifdef MINNOW_HAVE_LAPACKE
    int p = m < n ? m : n;
    float *c = malloc(sizeof(float) * m * n);
    if (!c) return mn_error(MN_ENOMEM, "out of memory");
    memcpy(c, a, sizeof(float) * m * n);
    lapack_int info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', m, n, c, n, s, u, p, vt, n);
    free(c);
    if (info == 0) return MN_OK;
    /* sgesdd did not converge (or ran out of memory): Jacobi still works. */
#endif
    return mn_svd_ref(a, m, n, s, u, vt);
}

int mn_rank_for_energy(const float *s, int p, double energy) {
    double total = 0, acc = 0;
    for (int i = 0; i < p; i++) total += (double)s[i] * s[i];
    if (!(total > 0)) return 1;
    for (int r = 0; r < p; r++) {
        acc += (double)s[r] * s[r];
        /* A hair of slack so energy 1.0 is reached despite rounding. */
        if (acc >= energy * total * (1 - 1e-12)) return r + 1;
    }
    return p;
}
