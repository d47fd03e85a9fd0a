/* Whole-file reads and atomic writes (src/core/file.c): every file minnow
 * writes goes through these, so a crash never leaves half a file. */
#ifndef MINNOW_CORE_FILE_H
#define MINNOW_CORE_FILE_H

#include <stdio.h>

#include "minnow/core.h"

/* Atomic writer: open gives a FILE* on "<path>.tmp.<pid>"; commit flushes,
 * fsyncs, closes and renames it over path; abort closes and removes it.
 * Exactly one of commit/abort must follow a successful open. */
typedef struct mn_afile { FILE *f; char path[1024]; char tmp[1100]; } mn_afile;
mn_status mn_afile_open(mn_afile *a, const char *path);
mn_status mn_afile_commit(mn_afile *a);
void mn_afile_abort(mn_afile *a);

/* Whole-file helpers: read (malloc'd buffer, caller frees) and atomic write. */
mn_status mn_read_file(const char *path, unsigned char **buf, size_t *len);
mn_status mn_write_file_atomic(const char *path, const void *buf, size_t len);

#endif
