/* Shared helpers for the cmocka tests. */
#ifndef MINNOW_TESTUTIL_H
#define MINNOW_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Directory holding mnist IDX files: $MINNOW_DATA/mnist, default
 * ../shared/data/mnist relative to the source tree.  NULL if absent. */
const char *tu_mnist_dir(void);
/* A fresh temporary directory for this test process (removed at exit). */
const char *tu_tmpdir(void);
/* Writes n bytes to path; returns 0 on success. */
int tu_write_file(const char *path, const void *buf, size_t n);
/* Max |a-b| over n floats. */
float tu_maxdiff(const float *a, const float *b, size_t n);
#endif
