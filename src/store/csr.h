/* Private (src/store): the MN_ST_CSR storage kind (docs/SPARSE.md). */
#ifndef MINNOW_STORE_CSR_H
#define MINNOW_STORE_CSR_H

#include "kernels/sparse.h"
#include "store/store.h"

extern const mn_store_traits mn_st_csr;

/* A new CSR store holding the nonzeros of w[rows*cols] (row-major), gap
 * width chosen to minimise bytes.  Non-finite values are rejected.  *out is
 * owned by the caller (mn_store_free, or hand it to mn_param_set_store). */
mn_status mn_csr_from_dense(const float *w, int rows, int cols, mn_store **out);
/* The bytes mn_csr_from_dense's store would take in the file, without
 * building it. */
size_t mn_csr_file_bytes(const float *w, int rows, int cols);

#endif
