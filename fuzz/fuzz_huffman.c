/* libFuzzer target: the Huffman stream decoder (mn_huff_decode).
 * Input: u16 nsym_max (little-endian), then the stream; the symbol count
 * asked for is the one the stream's header claims (bounded), so that the
 * decoder's own checks of count, lengths, codes and padding are what stop
 * bad streams.  A stream that decodes must round-trip through the
 * encoder. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "store/huffman.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 2) return 0;
    uint32_t nsym_max = (uint32_t)d[0] | (uint32_t)d[1] << 8;
    d += 2, n -= 2;
    size_t count = 0;
    if (n >= 8) count = (size_t)d[4] | (size_t)d[5] << 8 | (size_t)d[6] << 16 | (size_t)d[7] << 24;
    if (count > (1u << 20)) return 0;
    uint32_t *sym = malloc(sizeof(uint32_t) * (count ? count : 1));
    FZ_CHECK(sym);
    mn_status st = mn_huff_decode(d, n, nsym_max, sym, count);
    fz_check_errmsg(st);
    if (st == MN_OK) {
        for (size_t i = 0; i < count; i++) FZ_CHECK(sym[i] < nsym_max);
        unsigned char *b;
        size_t len;
        FZ_CHECK(mn_huff_encode(sym, count, &b, &len) == MN_OK);
        uint32_t *back = malloc(sizeof(uint32_t) * (count ? count : 1));
        FZ_CHECK(back);
        FZ_CHECK(mn_huff_decode(b, len, nsym_max, back, count) == MN_OK);
        FZ_CHECK(memcmp(sym, back, sizeof(uint32_t) * count) == 0);
        free(back);
        free(b);
    }
    free(sym);
    return 0;
}
