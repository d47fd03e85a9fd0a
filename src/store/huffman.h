/* minnow huffman: canonical, length-limited Huffman coding of small integer
 * symbols (the codebook indices and sparse index gaps of Deep Compression).
 *
 * An encoded stream is self-contained, little-endian:
 *
 *   u32   nsym      alphabet size: 1 + the largest symbol coded (0 if n = 0)
 *   u32   n         symbols coded
 *   u8    lenbits   4 or 5: bits per code-length entry (0 if n = 0)
 *   lengths         nsym entries of lenbits bits, MSB first, zero-padded to
 *                   a byte; entry s is the code length of symbol s (0 =
 *                   unused, else 1..MN_HUFF_MAX_LEN)
 *   payload         the n canonical codes, MSB first, zero-padded to a byte
 *
 * Codes are canonical (shorter codes first, ties by symbol), so the lengths
 * alone define them.  The stream ends exactly after the payload. */
#ifndef MINNOW_STORE_HUFFMAN_H
#define MINNOW_STORE_HUFFMAN_H

#include "minnow/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest code: deep enough for any alphabet minnow codes (2^20 symbols),
 * short enough that a code always fits a 32-bit bit buffer refill. */
#define MN_HUFF_MAX_LEN 24
#define MN_HUFF_MAX_SYMS (1u << 20)

/* Optimal code lengths for freq[0..nsym), then limited to maxlen bits
 * (1..MN_HUFF_MAX_LEN) by moving leaves up the tree (the JPEG Annex K.3
 * adjustment), which keeps the code complete.  Unused symbols (freq 0) get
 * length 0; a single used symbol gets length 1.  MN_EARG if more symbols are
 * used than 2^maxlen codes can hold. */
mn_status mn_huff_code_lengths(const uint64_t *freq, uint32_t nsym, int maxlen,
                               uint8_t *len);

/* Encodes sym[0..n) (each < MN_HUFF_MAX_SYMS; n < 2^32) into *out, malloc'd
 * and owned by the caller.  n = 0 gives a 9-byte stream. */
mn_status mn_huff_encode(const uint32_t *sym, size_t n, unsigned char **out,
                         size_t *outlen);

/* Decodes a stream of exactly `len` bytes holding exactly n symbols, each
 * below nsym_max, into sym.  Anything else (truncation, trailing bytes,
 * over-subscribed or invalid code lengths, a bit pattern that is no code,
 * non-zero padding) is MN_EFORMAT, never a crash. */
mn_status mn_huff_decode(const unsigned char *buf, size_t len, uint32_t nsym_max,
                         uint32_t *sym, size_t n);

#ifdef __cplusplus
}
#endif
#endif
