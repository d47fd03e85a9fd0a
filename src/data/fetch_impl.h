/* Private to src/data/fetch.c and its tests. */
#ifndef MINNOW_DATA_FETCH_IMPL_H
#define MINNOW_DATA_FETCH_IMPL_H

#include "minnow/core.h"

/* Unpacks CIFAR-10's archive: each regular cifar-10-batches-bin/NAME.bin
 * member of the .tar.gz becomes DIR/NAME.bin, written through NAME.bin.part
 * and a rename. */
mn_status mn__untar_bins(const char *tgz, const char *dir);

#endif
