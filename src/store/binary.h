/* Private (src/store): the MN_ST_BINARY storage kind. */
#ifndef MINNOW_STORE_BINARY_H
#define MINNOW_STORE_BINARY_H

#include "kernels/xnor.h"
#include "store/store.h"

extern const mn_store_traits mn_st_binary;

/* The run-time form of a binary store; the file form is tighter (see
 * docs/BINARY.md).  Value (r, c) = mask ? scale[r] * (bit ? +1 : -1) : 0. */
typedef struct mn_bin_store {
    int rows, cols, words;   /* words per row = mn_bin_words(cols) */
    int shared_scale;        /* all rows have scale[0]'s value */
    float *scale;            /* rows */
    uint64_t *bits;          /* rows * words */
    uint64_t *mask;          /* rows * words, or NULL when no weight is 0 */
    int32_t *nnz;            /* rows: nonzeros per row */
} mn_bin_store;

/* A store holding w[rows, cols] exactly; MN_EARG if a row's nonzeros do not
 * all have one magnitude (the values are not binary).  *out is owned by the
 * caller (mn_store_free), or by the graph after mn_param_set_store. */
mn_status mn_binary_store_make(const float *w, int rows, int cols, mn_store **out);
/* The run-time form of an MN_ST_BINARY store (NULL for other kinds). */
const mn_bin_store *mn_binary_store(const mn_store *s);

#endif
