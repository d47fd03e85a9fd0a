/* minnow io: the .mnw model file (docs/FORMAT.md) and atomic file writes. */
#ifndef MINNOW_IO_H
#define MINNOW_IO_H

#include <stdio.h>

#include "minnow/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes g (structure, metadata, parameters) to path atomically: a temporary
 * file beside it, flushed, fsynced and renamed, so a crash never leaves a
 * half-written model where `path` was. */
mn_status mn_model_save(const mn_graph *g, const char *path);
/* Reads a model into g (which is initialised here; free with mn_graph_free).
 * Every length, count and offset is checked against the file size and every
 * section's CRC32 before use: a hostile file gets MN_EFORMAT, never a crash. */
mn_status mn_model_load(const char *path, mn_graph *g);
/* The same on memory buffers (used by the fuzzer and by tests).  *buf is
 * allocated with malloc and owned by the caller. */
mn_status mn_model_save_mem(const mn_graph *g, unsigned char **buf, size_t *len);
mn_status mn_model_load_mem(const unsigned char *buf, size_t len, mn_graph *g);

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

#ifdef __cplusplus
}
#endif
#endif
