/* minnow/dist.h on MPI, or alone.  The group is MPI_COMM_WORLD, or this
 * rank alone inside a sweep job; alone, every collective returns at once,
 * so one-process code paths are those of a build without MPI. */
#include "minnow/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MINNOW_HAVE_MPI
#include <mpi.h>
#endif

static int g_on;          /* MPI started */
static int g_rank, g_size = 1;
static int g_job;         /* inside a sweep job: the group is this rank */
static double g_comm_s;

/* Only a launcher sets these; MPI_Init without one (a "singleton") would
 * start a daemon, slow and noisy for a tool that mostly runs alone. */
static int launched(void) {
    if (getenv("MINNOW_NO_MPI")) return 0;
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

mn_status mn_dist_init(int *argc, char ***argv) {
    (void)argc; (void)argv;
    if (g_on || !launched()) return MN_OK;
#ifndef MINNOW_HAVE_MPI
    /* N copies each training on everything and writing the same file
     * would look like it worked. */
    const char *n = getenv("OMPI_COMM_WORLD_SIZE"), *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!n) n = getenv("PMI_SIZE"), r = getenv("PMI_RANK");
    if (!n && getenv("PMIX_RANK")) n = getenv("SLURM_NTASKS"), r = getenv("PMIX_RANK"); /* srun --mpi=pmix */
    if (n && atoi(n) > 1) {
        g_rank = r ? atoi(r) : 0; /* rank 0 alone says so (mn_dist_root) */
        return mn_error(MN_EUNSUPPORTED, "started as one of %s ranks, but this minnow was built without MPI "
                        "(install libopenmpi-dev and rebuild; docs/DISTRIBUTED.md)", n);
    }
#else
    int ok = 0;
    MPI_Initialized(&ok);
    if (!ok && MPI_Init(argc, argv) != MPI_SUCCESS) return mn_error(MN_EIO, "MPI_Init failed");
    /* Errors come back as codes: a failing collective becomes an mn_status
     * with a message, not an abort deep inside the library. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_on = 1;
#endif
    return MN_OK;
}

void mn_dist_finalize(void) {
#ifdef MINNOW_HAVE_MPI
    if (g_on) MPI_Finalize();
#endif
    g_on = 0;
}

void mn_dist_abort(int code) {
#ifdef MINNOW_HAVE_MPI
    if (g_on && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

int mn_dist_world_rank(void) { return g_rank; }
int mn_dist_world_size(void) { return g_size; }
int mn_dist_rank(void) { return g_job ? 0 : g_rank; }
int mn_dist_size(void) { return g_job ? 1 : g_size; }
int mn_dist_root(void) { return g_rank == 0; }
double mn_dist_comm_seconds(void) { return g_comm_s; }

static int alone(void) { return g_job || g_size <= 1; }

#ifdef MINNOW_HAVE_MPI
static mn_status mpi_err(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return MN_OK;
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    return mn_error(MN_EIO, "MPI %s failed: %s", what, s);
}
#endif

/* The three collectives: sums of floats or doubles in place, a broadcast of
 * bytes from root.  MPI counts are ints, so big buffers go in chunks; the
 * time goes to mn_dist_comm_seconds.  Alone, nothing to do. */
typedef enum { SUM_F32, SUM_F64, BCAST } coll;

static mn_status collective(coll op, void *buf, int64_t n, int root) {
    if (alone() || n <= 0) return MN_OK;
    mn_status st = MN_OK;
#ifdef MINNOW_HAVE_MPI
    const int64_t chunk = (int64_t)1 << 28;
    MPI_Datatype t = op == SUM_F32 ? MPI_FLOAT : op == SUM_F64 ? MPI_DOUBLE : MPI_BYTE;
    int64_t esz = op == SUM_F32 ? 4 : op == SUM_F64 ? 8 : 1;
    double t0 = mn_now();
    for (int64_t o = 0; o < n && !st; o += chunk) {
        int c = (int)(n - o < chunk ? n - o : chunk);
        void *p = (char *)buf + o * esz;
        st = op == BCAST ? mpi_err(MPI_Bcast(p, c, t, root, MPI_COMM_WORLD), "Bcast")
                         : mpi_err(MPI_Allreduce(MPI_IN_PLACE, p, c, t, MPI_SUM, MPI_COMM_WORLD), "Allreduce");
    }
    g_comm_s += mn_now() - t0;
#else
    (void)op; (void)buf; (void)root;
#endif
    return st;
}

mn_status mn_dist_sum_f32(float *buf, int64_t n) { return collective(SUM_F32, buf, n, 0); }
mn_status mn_dist_sum_f64(double *buf, int64_t n) { return collective(SUM_F64, buf, n, 0); }
mn_status mn_dist_bcast(void *buf, int64_t bytes, int root) { return collective(BCAST, buf, bytes, root); }

mn_status mn_dist_bcast_f32(float *buf, int64_t n, int root) {
    return mn_dist_bcast(buf, n * (int64_t)sizeof(float), root);
}

/* After a failure anywhere: fails[n] holds, on each rank, the status of the
 * items that rank ran (0 elsewhere); msg the message of this rank's first
 * failing item.  Sums them and, if an item failed, gives every rank the
 * status and message of the first failing one, which rank (item % size)
 * ran and broadcasts.  One mechanism for mn_dist_agree (an item per rank)
 * and mn_dist_sweep (an item per job). */
static mn_status first_failure(double *fails, int n, char *msg, size_t cap) {
    mn_status e = mn_dist_sum_f64(fails, n);
    if (e) return e;
    int first = 0;
    while (first < n && fails[first] == 0) first++;
    if (first == n) return MN_OK;
    if ((e = mn_dist_bcast(msg, (int64_t)cap, first % mn_dist_size()))) return e;
    msg[cap - 1] = 0;
    return mn_error((mn_status)fails[first], "%s", msg);
}

mn_status mn_dist_agree(mn_status st) {
    if (alone()) return st;
    int n = mn_dist_size();
    double *v = calloc((size_t)n, sizeof(double));
    char msg[1024] = {0};
    if (!v) return mn_error(MN_ENOMEM, "out of memory");
    v[mn_dist_rank()] = (double)st;
    if (st) snprintf(msg, sizeof msg, "%s", mn_errmsg());
    mn_status e = first_failure(v, n, msg, sizeof msg);
    free(v);
    return e;
}

mn_status mn_dist_sweep(int n, int width, double *table, mn_dist_job_fn fn, void *ud) {
    if (n <= 0) return MN_OK;
    memset(table, 0, sizeof(double) * (size_t)n * (size_t)width);
    int rank = mn_dist_rank(), size = mn_dist_size();
    double *stat = calloc((size_t)n, sizeof(double));
    char msg[1024] = {0};
    if (!stat) return mn_error(MN_ENOMEM, "out of memory");
    int was = g_job;
    g_job = 1;
    mn_status st = MN_OK;
    for (int j = rank; j < n && !st; j += size) {
        st = fn(ud, j, table + (size_t)j * width);
        if (st) { stat[j] = st; snprintf(msg, sizeof msg, "%s", mn_errmsg()); }
    }
    g_job = was;
    if (size == 1) { free(stat); return st ? mn_error(st, "%s", msg) : MN_OK; }
    mn_status e = mn_dist_sum_f64(table, (int64_t)n * width);
    if (!e) e = first_failure(stat, n, msg, sizeof msg);
    free(stat);
    return e;
}
