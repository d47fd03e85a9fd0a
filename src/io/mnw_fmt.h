/* Constants of the .mnw container shared by its writer and reader; the
 * layout itself is specified in docs/FORMAT.md. */
#ifndef MINNOW_IO_MNW_FMT_H
#define MINNOW_IO_MNW_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "minnow/graph.h"
#include "nn/attrs.h"

#define MNW_MAGIC "MNW1"
#define MNW_VERSION 1u
#define MNW_ALIGN 64u
#define MNW_MAX_SECTIONS 64u
/* magic, version, section count; then 24 bytes per section; then the CRC. */
#define MNW_HDR_FIXED 12u
#define MNW_SECTION_ENTRY 24u
#define MNW_HDR_SIZE(n) (MNW_HDR_FIXED + MNW_SECTION_ENTRY * (size_t)(n) + 4u)
/* Graph building is quadratic in the node count, so a hostile count must
 * not reach it; real models have tens to hundreds of nodes. */
#define MNW_MAX_NODES 4096u
#define MNW_MAX_TENSORS (MNW_MAX_NODES * MN_MAX_PARAMS)
/* All tensors together may declare at most this many values per byte of
 * DATA, plus the slack: far above what a real compressed model needs (a
 * 99.9%-sparse CSR layer is ~50, a fully pruned 4096-wide row 1024) and
 * far below what would let a small hostile file allocate gigabytes. */
#define MNW_MAX_EXPANSION 1024
#define MNW_EXPANSION_SLACK (INT64_C(1) << 16)
/* The writer checks it too, so that it never writes what the reader refuses.
 * values: the sum over tensors of numel rounded up to 16, i.e. the graph's
 * nw (the reader sums the tensor records, before the graph allocates).
 * Above 2^40 bytes the product could overflow; no file gets near it. */
static inline int mnw_expansion_ok(int64_t values, uint64_t data_len) {
    return data_len > (uint64_t)1 << 40 ||
           values <= MNW_MAX_EXPANSION * (int64_t)data_len + MNW_EXPANSION_SLACK;
}
/* Files larger than this are refused by mn_read_file, so the writer refuses
 * to make them. */
#define MNW_FILE_MAX ((uint64_t)2 << 30)

/* Section tags: the four ASCII bytes as stored, read as a little-endian u32. */
#define MNW_TAG(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define MNW_TAG_META MNW_TAG('M', 'E', 'T', 'A')
#define MNW_TAG_GRPH MNW_TAG('G', 'R', 'P', 'H')
#define MNW_TAG_TENS MNW_TAG('T', 'E', 'N', 'S')
#define MNW_TAG_DATA MNW_TAG('D', 'A', 'T', 'A')

/* Tensor storage kinds.  Later kinds (sparse CSR, int8, codebook, binary)
 * take the next numbers, each with its own kind-specific header. */
#define MNW_KIND_F32 0u

/* mnw_read.c: the fixed header and its CRC (shared with the early check
 * mn__mnw_peek, which reads only the header). */
mn_status mn__mnw_check_header(const unsigned char *buf, size_t len, const char *label, uint32_t *ns);
mn_status mn__mnw_peek(const char *path);

static inline size_t mnw_align(size_t x) { return (x + (MNW_ALIGN - 1)) & ~(size_t)(MNW_ALIGN - 1); }

#endif
