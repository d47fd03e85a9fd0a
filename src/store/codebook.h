/* Private (src/store): the MN_ST_CODEBOOK storage kind (k-means weight
 * sharing's result; file form in docs/DEEP_COMPRESSION.md). */
#ifndef MINNOW_STORE_CODEBOOK_H
#define MINNOW_STORE_CODEBOOK_H

#include "kernels/codebook.h"
#include "store/store.h"

extern const mn_store_traits mn_st_codebook;

/* Index bits a codebook store takes (k-means's MN_KMEANS_MAX_BITS). */
#define MN_CB_MAX_BITS 8

/* Header flags of the file form. */
#define MN_CB_SPARSE 1u
#define MN_CB_HUFF_INDEX 2u
#define MN_CB_HUFF_GAPS 4u

typedef struct mn_cb_impl {
    int bits, k, gap_bits;
    unsigned flags;
    /* k centroids, the rest zero: any 8-bit index is a safe lookup, and the
     * first 32 load straight into two vector registers. */
    float cb[256];
    int64_t nnz;        /* stored entries (rows * cols when dense) */
    uint8_t *idx;       /* nnz centroid indices, row-major */
    uint32_t *col;      /* sparse: the column of each entry */
    uint32_t *rowptr;   /* sparse: rows + 1 entry offsets */
    size_t bytes;       /* size of the file form */
} mn_cb_impl;

/* Builds a codebook store for a rows x cols weight w whose every nonzero
 * value is exactly one of cb[0..k) (k <= 2^bits, bits 1..8).  The store
 * picks the smaller file form: dense (possible only if zeros, when present,
 * are in cb too) or sparse with the best gap width; with huffman != 0 each
 * stream is Huffman-coded where that is smaller.  *out is owned by the
 * caller (mn_store_free, or give it to mn_param_set_store). */
mn_status mn_codebook_new(const float *w, int rows, int cols, const float *cb,
                          int k, int bits, int huffman, mn_store **out);

typedef struct mn_codebook_info {
    int bits, k;
    int sparse, gap_bits;           /* gap_bits 0 when dense */
    int huff_index, huff_gaps;      /* which streams are Huffman-coded */
    int64_t entries;                /* stored indices: nonzeros when sparse */
    int64_t gaps;                   /* gap codes, fillers included */
    size_t index_bytes, gap_bytes;  /* the two streams in the file */
    size_t bytes;                   /* the whole file form */
} mn_codebook_info;
/* MN_EARG if s is not a codebook store. */
mn_status mn_codebook_info_of(const mn_store *s, mn_codebook_info *info);
/* The k centroids of a codebook store (NULL if s is not one). */
const float *mn_codebook_centroids(const mn_store *s, int *k);
/* A copy of s re-encoded with (huffman != 0) or without Huffman coding. */
mn_status mn_codebook_recode(const mn_store *s, int huffman, mn_store **out);

/* The kernel view of a codebook store (kernels/codebook.h): what its
 * kernels, and the tests of each variant, run on. */
mn_cb_mat mn_codebook_mat(const mn_store *s);

#endif
