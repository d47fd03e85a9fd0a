/* Where a file may be written, and what is opened for reading.
 *
 * Outputs: only a regular file (or nothing yet) is ever replaced; a device
 * node, a FIFO, a socket or a directory at the output path is refused, so
 * the atomic rename never swaps a node for a file.  A symlink is followed
 * on purpose: the file it points to is replaced and the link stays (a
 * dangling link is refused rather than guessed at).  An existing file keeps
 * its permission bits; one with no write bit at all is refused, even for
 * root.  The directory must exist and be writable.  All of this is checked
 * by mn_output_check, which the CLI calls before any work starts, and again
 * by mn_afile_open.
 *
 * Inputs: mn_open_regular opens without blocking and refuses anything but a
 * regular file before reading a byte, so a FIFO given as a model, spec,
 * recipe or ONNX file fails at once instead of waiting for a writer.
 *
 * Temporary files: every open mn_afile registers its temporary path here, so
 * that a SIGINT/SIGTERM handler (the CLI's) can remove them with
 * mn_afile_remove_temps(), which is async-signal-safe. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"

#include "minnow/dist.h"

#define REAL_PATH_MAX 4096 /* Linux PATH_MAX, for realpath's buffer */

/* The directory part of path ("." when none). */
static void dir_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
    } else if (slash == path) {
        snprintf(dir, cap, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= cap) n = cap - 1;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
}

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

mn_status mn_output_check(const char *path) {
    if (!path || !*path) return mn_error(MN_EARG, "empty output path");
    /* Only rank 0 of a distributed job writes (file.c); another rank's
     * node may not even have the directory. */
    if (!mn_dist_root()) return MN_OK;
    size_t n = strlen(path);
    if (n > MN_PATH_MAX - 32)
        return mn_error(MN_EARG, "output path too long (%zu bytes; the limit is %d)", n, MN_PATH_MAX - 32);
    if (path[n - 1] == '/') return mn_error(MN_EARG, "%s: output path names a directory", path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            if (stat(path, &st) != 0)
                return mn_error(MN_EIO, "%s: is a symlink to a missing file (minnow follows symlinks and "
                                "replaces their target; refusing to guess one)", path);
        }
        if (!S_ISREG(st.st_mode))
            return mn_error(MN_EIO, "%s: is %s, not a regular file: refusing to replace it", path, kind_of(st.st_mode));
        if (!(st.st_mode & 0222))
            return mn_error(MN_EIO, "%s: is read-only (mode %04o): refusing to replace it", path,
                            (unsigned)(st.st_mode & 07777));
    } else if (errno != ENOENT) {
        int e = errno;
        return mn_error(MN_EIO, "%s: cannot use as output: %s", path, strerror(e));
    }
    char dir[MN_PATH_MAX];
    dir_of(path, dir, sizeof dir);
    struct stat ds;
    if (stat(dir, &ds) != 0) {
        int e = errno;
        return mn_error(MN_EIO, "%s: cannot write there: directory %s: %s", path, dir, strerror(e));
    }
    if (!S_ISDIR(ds.st_mode)) return mn_error(MN_EIO, "%s: cannot write there: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0) {
        int e = errno;
        return mn_error(MN_EIO, "%s: cannot write there: directory %s: %s", path, dir, strerror(e));
    }
    return MN_OK;
}

mn_status mn_output_target(const char *path, char *out, size_t cap, int *mode) {
    *mode = -1;
    mn_status s = mn_output_check(path);
    if (s != MN_OK) return s;
    struct stat st;
    const char *real = path;
    char buf[REAL_PATH_MAX];
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            if (!realpath(path, buf)) {
                int e = errno;
                return mn_error(MN_EIO, "%s: cannot resolve the symlink: %s", path, strerror(e));
            }
            real = buf;
            if (stat(real, &st) != 0) {
                int e = errno;
                return mn_error(MN_EIO, "%s: %s", real, strerror(e));
            }
        }
        *mode = (int)(st.st_mode & 07777);
    }
    size_t n = strlen(real);
    if (n >= cap) return mn_error(MN_EARG, "output path too long (%zu bytes)", n);
    memcpy(out, real, n + 1);
    return MN_OK;
}

mn_status mn_open_regular(const char *path, FILE **f, size_t *size) {
    *f = NULL;
    *size = 0;
    if (!path || !*path) return mn_error(MN_EARG, "empty file name");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return mn_error(MN_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mn_error(MN_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mn_error(MN_EIO, "%s: is %s, not a regular file", path, kind_of(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *f = fdopen(fd, "rb");
    if (!*f) {
        int e = errno;
        close(fd);
        return mn_error(MN_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    *size = st.st_size > 0 ? (size_t)st.st_size : 0;
    return MN_OK;
}

/* The temporary files of open mn_afiles.  A slot is claimed before its name
 * is written and published by `used` last, so a signal handler never sees a
 * half-written name; the handler only reads. */
#define MN_TEMPS 8
static char g_temps[MN_TEMPS][MN_PATH_MAX + 32];
static volatile sig_atomic_t g_used[MN_TEMPS];

int mn__temp_register(const char *tmp) {
    for (int i = 0; i < MN_TEMPS; i++) {
        if (g_used[i]) continue;
        snprintf(g_temps[i], sizeof g_temps[i], "%s", tmp);
        g_used[i] = 1;
        return i;
    }
    return -1;
}

void mn__temp_forget(int slot) {
    if (slot >= 0 && slot < MN_TEMPS) g_used[slot] = 0;
}

void mn_afile_remove_temps(void) {
    for (int i = 0; i < MN_TEMPS; i++)
        if (g_used[i]) unlink(g_temps[i]);
}
