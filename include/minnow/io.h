/* minnow io: the .mnw model file (docs/FORMAT.md). */
#ifndef MINNOW_IO_H
#define MINNOW_IO_H

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

#ifdef __cplusplus
}
#endif
#endif
