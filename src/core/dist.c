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

int mn_dist_built(void) {
#ifdef MINNOW_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

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
int mn_dist_in_job(void) { return g_job; }
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

/* MPI counts are ints: big buffers go in chunks. */
#define CHUNK ((int64_t)1 << 28)

static mn_status sum(void *buf, int64_t n, MPI_Datatype t, size_t esz) {
    double t0 = mn_now();
    mn_status st = MN_OK;
    for (int64_t o = 0; o < n && !st; o += CHUNK) {
        int c = (int)(n - o < CHUNK ? n - o : CHUNK);
        st = mpi_err(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + o * esz, c, t, MPI_SUM, MPI_COMM_WORLD), "Allreduce");
    }
    g_comm_s += mn_now() - t0;
    return st;
}

static mn_status bcast(void *buf, int64_t bytes, int root) {
    double t0 = mn_now();
    mn_status st = MN_OK;
    for (int64_t o = 0; o < bytes && !st; o += CHUNK) {
        int c = (int)(bytes - o < CHUNK ? bytes - o : CHUNK);
        st = mpi_err(MPI_Bcast((char *)buf + o, c, MPI_BYTE, root, MPI_COMM_WORLD), "Bcast");
    }
    g_comm_s += mn_now() - t0;
    return st;
}
#endif

mn_status mn_dist_sum_f32(float *buf, int64_t n) {
    if (alone() || n <= 0) return MN_OK;
#ifdef MINNOW_HAVE_MPI
    return sum(buf, n, MPI_FLOAT, sizeof(float));
#else
    (void)buf;
    return MN_OK;
#endif
}

mn_status mn_dist_sum_f64(double *buf, int64_t n) {
    if (alone() || n <= 0) return MN_OK;
#ifdef MINNOW_HAVE_MPI
    return sum(buf, n, MPI_DOUBLE, sizeof(double));
#else
    (void)buf;
    return MN_OK;
#endif
}

mn_status mn_dist_bcast(void *buf, int64_t bytes, int root) {
    if (alone() || bytes <= 0) return MN_OK;
#ifdef MINNOW_HAVE_MPI
    return bcast(buf, bytes, root);
#else
    (void)buf; (void)root;
    return MN_OK;
#endif
}

mn_status mn_dist_bcast_f32(float *buf, int64_t n, int root) {
    return mn_dist_bcast(buf, n * (int64_t)sizeof(float), root);
}

/* The status of the lowest failing rank, and its message, on every rank. */
static mn_status agree_from(mn_status st, int *who) {
    /* first[0]: the lowest failing rank (size if none), as a sum of one
     * nonzero entry per rank is not a min: every rank sends its own slot. */
    int n = mn_dist_size();
    double *v = calloc((size_t)n, sizeof(double));
    if (!v) return mn_error(MN_ENOMEM, "out of memory");
    v[mn_dist_rank()] = (double)st;
    mn_status e = mn_dist_sum_f64(v, n);
    int r = 0;
    while (!e && r < n && v[r] == 0) r++;
    mn_status code = e ? e : r < n ? (mn_status)v[r] : MN_OK;
    free(v);
    if (e) return e;
    *who = r;
    if (code == MN_OK) return MN_OK;
    char msg[1024] = {0};
    if (mn_dist_rank() == r) snprintf(msg, sizeof msg, "%s", mn_errmsg());
    if ((e = mn_dist_bcast(msg, sizeof msg, r))) return e;
    msg[sizeof msg - 1] = 0;
    return mn_error(code, "%s", msg);
}

mn_status mn_dist_agree(mn_status st) {
    if (alone()) return st;
    int who = 0;
    return agree_from(st, &who);
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
    mn_status e = mn_dist_sum_f64(stat, n);
    if (!e) e = mn_dist_sum_f64(table, (int64_t)n * width);
    int first = 0;
    while (!e && first < n && stat[first] == 0) first++;
    mn_status code = e ? e : first < n ? (mn_status)stat[first] : MN_OK;
    free(stat);
    if (e || code == MN_OK) return e;
    if ((e = mn_dist_bcast(msg, sizeof msg, first % size))) return e;
    msg[sizeof msg - 1] = 0;
    return mn_error(code, "%s", msg);
}
