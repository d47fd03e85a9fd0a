/* minnow lowrank: low-rank factorisation of dense and conv layers by SVD
 * (Denton et al. 2014; Jaderberg et al. 2014 in its simplest form).
 *
 * A dense node X with weight W (m x n) becomes two dense nodes
 *     X_a: units r, weight V_r^T (r x n), bias held at zero
 *     X_b: units m, weight U_r S_r (m x r), X's bias
 * so that X_b(X_a(x)) = U_r S_r V_r^T x + b, the best rank-r approximation
 * of W in the Frobenius norm (Eckart-Young).  A conv node (F filters over
 * C x k x k, groups 1) is viewed as the F x (C k k) matrix and becomes a
 * k x k conv with r filters (same stride and padding) followed by a 1x1 conv
 * with the F original filters and bias.  Consumers of X read X_b.
 *
 * minnow's dense and conv ops always carry a bias, so X_a has one too: it
 * is set to zero and pinned there by a 0 mask while fine-tuning (masks are
 * not saved, the zeros are).  It costs r floats in the file. */
#ifndef MINNOW_LOWRANK_H
#define MINNOW_LOWRANK_H

#include "minnow/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Thin SVD of the row-major m x n matrix a = U diag(s) Vt, with p = min(m, n):
 * s[p] descending and >= 0, u[m, p], vt[p, n] (row-major).  Uses LAPACK's
 * sgesdd when the build has LAPACKE, else mn_svd_ref.  a is not changed. */
mn_status mn_svd(const float *a, int m, int n, float *s, float *u, float *vt);
/* The plain twin: one-sided Jacobi (Hestenes) in double precision.  Columns
 * of u (rows of vt) for zero singular values are zero vectors. */
mn_status mn_svd_ref(const float *a, int m, int n, float *s, float *u, float *vt);
/* 1 if mn_svd goes through LAPACKE. */
int mn_svd_uses_lapack(void);

/* Smallest r in [1, p] whose leading singular values keep at least `energy`
 * (in (0, 1]) of sum(s^2). */
int mn_rank_for_energy(const float *s, int p, double energy);

/* One layer to factorise.  In: name, and rank (> 0) or energy (in (0, 1]).
 * Ranks above min(m, n) are lowered to it.  Out: the rest. */
typedef struct mn_lowrank_layer {
    char name[MN_NAME_MAX];
    int rank;                /* in: wanted rank (0: use energy); out: the rank used */
    double energy;           /* in: energy to keep when rank is 0 */
    int only_if_smaller;     /* in: leave the node whole if factors would not be smaller */
    int factorized;          /* out: 1 if replaced */
    int rows, cols;          /* out: m and n of W (conv: F and C k k) */
    int full_rank;           /* out: min(m, n) */
    double kept_energy;      /* out: sum of the kept s^2 over the total */
    double rel_error;        /* out: ||W - W_r||_F / ||W||_F (from the discarded s) */
    int64_t params_before, params_after;   /* out: weight + bias floats of the node(s) */
} mn_lowrank_layer;

/* Builds dst (initialised here) as src with every listed node factorised;
 * all other parameters, masks, stores and metadata are copied.  Listed nodes
 * must be dense, or conv with groups 1; names X_a / X_b must be free and fit
 * MN_NAME_MAX.  Records metadata "lowrank" (e.g. "fc1=93").  On error dst is
 * left empty (freed). */
mn_status mn_factorize(const mn_graph *src, mn_lowrank_layer *layers, int nlayers,
                       mn_graph *dst);

#ifdef __cplusplus
}
#endif
#endif
