/* Whole-file reads and atomic writes.  A model is only ever replaced by
 * renaming a complete, fsynced temporary file over it, so a crash or a full
 * disk leaves either the old file or the new one, never half of one. */
#include "core/file.h"

#include "minnow/dist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Larger files are not models minnow writes; refusing early keeps a typo'd
 * path (a disk image, a dataset) from eating all memory. */
#define MN_READ_MAX ((size_t)2 << 30)

int mn__temp_register(const char *tmp); /* outpath.c */
void mn__temp_forget(int slot);

mn_status mn_afile_open(mn_afile *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->slot = -1;
    /* In a distributed job rank 0 alone writes (minnow/dist.h); the others
     * run the same code into nothing, so every rank takes the same path. */
    if (!mn_dist_root()) {
        snprintf(a->path, sizeof a->path, "%s", path);
        a->f = fopen("/dev/null", "wb");
        return a->f ? MN_OK : mn_error(MN_EIO, "cannot open /dev/null: %s", strerror(errno));
    }
    int mode;
    /* Refuses devices, FIFOs, directories, read-only files; a symlink's
     * target is what gets replaced. */
    mn_status s = mn_output_target(path, a->path, sizeof a->path, &mode);
    if (s != MN_OK) return s;
    /* Same directory as the target, so the final rename never crosses a
     * filesystem; the pid keeps concurrent writers from sharing a temp. */
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", a->path, (long)getpid());
    a->slot = mn__temp_register(a->tmp);
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode >= 0 ? (mode_t)mode : 0666);
    if (fd >= 0 && mode >= 0 && fchmod(fd, (mode_t)mode) != 0) { close(fd); fd = -1; }
    a->f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!a->f) {
        int e = errno;
        if (fd >= 0) close(fd);
        remove(a->tmp);
        mn__temp_forget(a->slot);
        a->slot = -1;
        a->tmp[0] = 0;
        return mn_error(MN_EIO, "%s: cannot create temporary file %s.tmp.%ld: %s", path, a->path, (long)getpid(), strerror(e));
    }
    return MN_OK;
}

void mn_afile_abort(mn_afile *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) remove(a->tmp);
    a->tmp[0] = 0;
    mn__temp_forget(a->slot);
    a->slot = -1;
}

/* fsync the directory so the rename itself survives a crash; best effort,
 * since some filesystems refuse to open or sync directories. */
static void sync_dir(const char *path) {
    char dir[MN_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

mn_status mn_afile_commit(mn_afile *a) {
    if (!a->f) return mn_error(MN_EARG, "%s: atomic file is not open", a->path);
    if (!mn_dist_root()) { fclose(a->f); a->f = NULL; return MN_OK; }
    const char *what = NULL;
    int e = 0;
    if (fflush(a->f) != 0) { what = "write"; e = errno; }
    else if (fsync(fileno(a->f)) != 0) { what = "fsync"; e = errno; }
    int rc = fclose(a->f);
    a->f = NULL;
    if (!what && rc != 0) { what = "close"; e = errno; }
    if (!what && rename(a->tmp, a->path) != 0) { what = "rename"; e = errno; }
    if (what) {
        remove(a->tmp);
        a->tmp[0] = 0;
        mn__temp_forget(a->slot);
        a->slot = -1;
        return mn_error(MN_EIO, "%s: %s failed: %s", a->path, what, strerror(e));
    }
    a->tmp[0] = 0;
    mn__temp_forget(a->slot);
    a->slot = -1;
    sync_dir(a->path);
    return MN_OK;
}

mn_status mn_write_file_atomic(const char *path, const void *buf, size_t len) {
    mn_afile a;
    mn_status s = mn_afile_open(&a, path);
    if (s != MN_OK) return s;
    if (len && fwrite(buf, 1, len, a.f) != len) {
        int e = errno;
        mn_afile_abort(&a);
        return mn_error(MN_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return mn_afile_commit(&a);
}

mn_status mn_read_file(const char *path, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    FILE *f;
    size_t sz;
    mn_status s = mn_open_regular(path, &f, &sz);
    if (s != MN_OK) return s;
    if ((uint64_t)sz > MN_READ_MAX) {
        fclose(f);
        return mn_error(MN_EIO, "%s: file of %zu bytes is larger than the 2 GiB limit", path, sz);
    }
    size_t n = sz;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        fclose(f);
        return mn_error(MN_ENOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(p, 1, n, f);
    /* A file that shrank or grew while we read it is not the file we sized. */
    int extra = got == n ? fgetc(f) : EOF;
    int err = ferror(f);
    fclose(f);
    if (got != n || extra != EOF || err) {
        free(p);
        return mn_error(MN_EIO, "%s: short read (%zu of %zu bytes) or file changed while reading",
                        path, got, n);
    }
    *buf = p;
    *len = n;
    return MN_OK;
}
