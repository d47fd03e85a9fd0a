/* minnow across processes: data-parallel training and sweeps on MPI
 * (docs/DISTRIBUTED.md).  Built with MPI when found (-DMINNOW_MPI); MPI is
 * only started when the process was launched by mpirun/srun, so the same
 * binary runs alone, with no MPI call at all, when started directly.
 *
 * Everything here is collective over the *current* group: every rank of the
 * job, or this rank alone inside mn_dist_sweep's jobs (a job trains alone).
 * Alone (one process, or inside a sweep job) every call is a no-op. */
#ifndef MINNOW_DIST_H
#define MINNOW_DIST_H

#include <stdint.h>

#include "minnow/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts MPI when launched by an MPI launcher (OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_RANK set) and minnow was built with it; otherwise, or if
 * MINNOW_NO_MPI is set, a one-process job.  Call once, first thing in main. */
mn_status mn_dist_init(int *argc, char ***argv);
/* Ends MPI after a normal run (all ranks).  A failing rank exits without
 * it, and the launcher then ends the whole job: nothing waits forever. */
void mn_dist_finalize(void);
/* Ends the whole job now with exit status code (MPI_Abort), for a rank
 * that fails where the others may be waiting in a collective: a launcher
 * such as srun need not end the job when one rank exits.  Alone: exit. */
void mn_dist_abort(int code) __attribute__((noreturn));

/* This rank and the number of ranks in the current group. */
int mn_dist_rank(void);
int mn_dist_size(void);
/* The same for the whole job (unchanged inside sweep jobs). */
int mn_dist_world_rank(void);
int mn_dist_world_size(void);
/* Whether this process writes files and prints: world rank 0. */
int mn_dist_root(void);

/* Element-wise sums in place over the current group. */
mn_status mn_dist_sum_f32(float *buf, int64_t n);
mn_status mn_dist_sum_f64(double *buf, int64_t n);
/* Copies root's n floats (or bytes) to every rank of the current group. */
mn_status mn_dist_bcast_f32(float *buf, int64_t n, int root);
mn_status mn_dist_bcast(void *buf, int64_t bytes, int root);

/* Agreement at a point every rank reaches: if st is not MN_OK on any rank,
 * every rank returns the status of the lowest failing rank with its message
 * (mn_errmsg), so that one clear message comes out of rank 0. */
mn_status mn_dist_agree(mn_status st);

/* Seconds spent in this module's collectives since the start (waiting for
 * slower ranks included): the communication time of docs/DISTRIBUTED.md. */
double mn_dist_comm_seconds(void);

/* Whole jobs spread over the ranks: job j runs on rank j % size of the
 * current group, alone (nested training and evaluation are not split), and
 * writes `width` doubles into row; the rows of all jobs are then gathered
 * on every rank into table[n * width].  A failing job's status and message
 * reach every rank (the first failing job in job order); jobs after a
 * failure on the same rank are not run. */
typedef mn_status (*mn_dist_job_fn)(void *ud, int job, double *row);
mn_status mn_dist_sweep(int n, int width, double *table, mn_dist_job_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
