/* Files (src/core/file.c, outpath.c): whole-file reads, atomic writes,
 * outputs checked before any work, inputs opened without blocking.  Every
 * file minnow writes goes through these, so a crash never leaves half a
 * file and a device or FIFO is never replaced or waited on. */
#ifndef MINNOW_CORE_FILE_H
#define MINNOW_CORE_FILE_H

#include <stdio.h>

#include "minnow/core.h"

/* Atomic writer: open gives a FILE* on "<path>.tmp.<pid>"; commit flushes,
 * fsyncs, closes and renames it over path; abort closes and removes it.
 * Exactly one of commit/abort must follow a successful open. */
#define MN_PATH_MAX 4096 /* Linux PATH_MAX; output paths may be up to MN_PATH_MAX - 32 bytes */
typedef struct mn_afile { FILE *f; char path[MN_PATH_MAX]; char tmp[MN_PATH_MAX + 32]; int slot; } mn_afile;
/* open first checks the output with mn_output_check and follows a symlink
 * (its target is replaced, the link stays); an existing file's permission
 * bits are kept. */
mn_status mn_afile_open(mn_afile *a, const char *path);
mn_status mn_afile_commit(mn_afile *a);
void mn_afile_abort(mn_afile *a);
/* Removes the temporary files of every open mn_afile; async-signal-safe, for
 * a SIGINT/SIGTERM handler (kill -9 can leave "<path>.tmp.<pid>" behind, never
 * at <path> itself). */
void mn_afile_remove_temps(void);

/* Whether path can be written as an output, checked before any work: not
 * empty, at most MN_PATH_MAX - 32 bytes, its directory exists and is
 * writable, and what stands there now (if anything) is a regular file, or a
 * symlink to one, with a write bit.  Devices, FIFOs, sockets, directories,
 * dangling symlinks and read-only files are refused (docs/HARDENING.md). */
mn_status mn_output_check(const char *path);
/* mn_output_check, then the file really replaced (a symlink resolved) into
 * out, and the existing file's mode bits (-1 when there is none). */
mn_status mn_output_target(const char *path, char *out, size_t cap, int *mode);
/* Opens a file for reading without blocking on a FIFO and refuses anything
 * but a regular file before reading; *size is its size. */
mn_status mn_open_regular(const char *path, FILE **f, size_t *size);

/* Whole-file helpers: read (malloc'd buffer, caller frees) and atomic write. */
mn_status mn_read_file(const char *path, unsigned char **buf, size_t *len);
mn_status mn_write_file_atomic(const char *path, const void *buf, size_t len);

#endif
