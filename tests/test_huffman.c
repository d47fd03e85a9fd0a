/* Canonical Huffman: lossless round trips on random and adversarial inputs,
 * the length limit, and hostile streams rejected cleanly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "store/huffman.h"

static void roundtrip(const uint32_t *sym, size_t n, uint32_t nsym_max, size_t *bytes) {
    unsigned char *buf;
    size_t len;
    assert_int_equal(mn_huff_encode(sym, n, &buf, &len), MN_OK);
    uint32_t *back = malloc(sizeof *back * (n ? n : 1));
    assert_non_null(back);
    assert_int_equal(mn_huff_decode(buf, len, nsym_max, back, n), MN_OK);
    if (n) assert_memory_equal(sym, back, sizeof *sym * n);
    if (bytes) *bytes = len;
    free(back);
    free(buf);
}

static void test_random_skewed(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 7);
    size_t n = 20000;
    uint32_t *s = malloc(sizeof *s * n);
    uint64_t freq[64] = {0};
    for (size_t i = 0; i < n; i++) {
        /* geometric-ish: small symbols much more frequent */
        uint32_t v = 0;
        while (v < 63 && mn_rng_uniform(&r) < 0.6f) v++;
        s[i] = v;
        freq[v]++;
    }
    size_t bytes;
    roundtrip(s, n, 64, &bytes);
    /* Huffman is within one bit per symbol of the entropy. */
    double h = 0;
    for (int i = 0; i < 64; i++) if (freq[i]) { double p = (double)freq[i] / n; h -= p * log2(p); }
    double payload_bits = 8.0 * (double)bytes;
    assert_true(payload_bits >= h * n);
    assert_true(payload_bits <= (h + 1) * n + 8 * (9 + 64));
    free(s);
}

static void test_random_uniform_alphabets(void **state) {
    (void)state;
    mn_rng r;
    mn_rng_seed(&r, 11);
    uint32_t alph[] = {1, 2, 3, 5, 16, 32, 255, 1000};
    for (size_t t = 0; t < sizeof alph / sizeof *alph; t++)
        for (size_t n = 1; n < 3000; n = n * 3 + 1) {
            uint32_t *s = malloc(sizeof *s * n);
            for (size_t i = 0; i < n; i++) s[i] = mn_rng_below(&r, alph[t]);
            roundtrip(s, n, alph[t], NULL);
            free(s);
        }
}

static void test_empty(void **state) {
    (void)state;
    size_t bytes;
    roundtrip(NULL, 0, 1, &bytes);
    assert_int_equal(bytes, 9);
}

static void test_single_symbol(void **state) {
    (void)state;
    uint32_t s[1000];
    for (int i = 0; i < 1000; i++) s[i] = 7;
    size_t bytes;
    roundtrip(s, 1000, 8, &bytes);
    /* one bit per symbol */
    assert_true(bytes <= 9 + 4 + 1000 / 8 + 1);
    roundtrip(s, 1, 8, NULL);
}

static void test_equal_frequencies(void **state) {
    (void)state;
    uint64_t freq[256];
    uint8_t len[256];
    for (int i = 0; i < 256; i++) freq[i] = 10;
    assert_int_equal(mn_huff_code_lengths(freq, 256, MN_HUFF_MAX_LEN, len), MN_OK);
    for (int i = 0; i < 256; i++) assert_int_equal(len[i], 8);
    uint32_t s[2560];
    for (int i = 0; i < 2560; i++) s[i] = (uint32_t)(i % 256);
    size_t bytes;
    roundtrip(s, 2560, 256, &bytes);
    assert_int_equal(bytes, 9 + 128 + 2560);
}

static void test_65536_symbols(void **state) {
    (void)state;
    size_t n = 65536 * 2;
    uint32_t *s = malloc(sizeof *s * n);
    for (size_t i = 0; i < n; i++) s[i] = (uint32_t)((i * 40503u) % 65536u);
    roundtrip(s, n, 65536, NULL);
    /* and a very uneven one: one symbol dominates, the rest appear once */
    for (size_t i = 0; i < n; i++) s[i] = i < 65536 ? (uint32_t)i : 3;
    roundtrip(s, n, 65536, NULL);
    free(s);
}

static uint64_t kraft(const uint8_t *len, uint32_t n, int maxlen) {
    uint64_t k = 0;
    for (uint32_t i = 0; i < n; i++) if (len[i]) k += 1ull << (maxlen - len[i]);
    return k;
}

static void test_length_limit(void **state) {
    (void)state;
    /* Fibonacci frequencies make the deepest possible tree (depth n-1). */
    uint64_t freq[60];
    uint8_t len[60];
    freq[0] = freq[1] = 1;
    for (int i = 2; i < 60; i++) freq[i] = freq[i - 1] + freq[i - 2];
    assert_int_equal(mn_huff_code_lengths(freq, 60, MN_HUFF_MAX_LEN, len), MN_OK);
    int maxl = 0;
    for (int i = 0; i < 60; i++) { assert_true(len[i] >= 1); if (len[i] > maxl) maxl = len[i]; }
    assert_int_equal(maxl, MN_HUFF_MAX_LEN);
    assert_int_equal(kraft(len, 60, MN_HUFF_MAX_LEN), 1ull << MN_HUFF_MAX_LEN);
    /* More frequent never gets a longer code. */
    for (int i = 1; i < 60; i++) assert_true(len[i] <= len[i - 1]);
    /* A tight limit: 16 symbols in 4 bits must all be 4 long. */
    assert_int_equal(mn_huff_code_lengths(freq, 16, 4, len), MN_OK);
    for (int i = 0; i < 16; i++) assert_int_equal(len[i], 4);
    assert_int_equal(mn_huff_code_lengths(freq, 17, 4, len), MN_EARG);
    /* Lengths within the limit and complete for a limit of 7 on 40 symbols. */
    assert_int_equal(mn_huff_code_lengths(freq, 40, 7, len), MN_OK);
    for (int i = 0; i < 40; i++) assert_true(len[i] >= 1 && len[i] <= 7);
    assert_int_equal(kraft(len, 40, 7), 1ull << 7);
    /* A real stream whose unlimited code would be 29 bits deep. */
    size_t n = 0;
    for (int i = 0; i < 30; i++) n += freq[i];
    uint32_t *s = malloc(sizeof *s * n);
    size_t j = 0;
    for (int i = 0; i < 30; i++) for (uint64_t c = 0; c < freq[i]; c++) s[j++] = (uint32_t)i;
    roundtrip(s, n, 30, NULL);
    free(s);
}

static void test_zero_frequencies_skipped(void **state) {
    (void)state;
    uint64_t freq[5] = {0, 5, 0, 5, 0};
    uint8_t len[5];
    assert_int_equal(mn_huff_code_lengths(freq, 5, 24, len), MN_OK);
    assert_int_equal(len[0], 0);
    assert_int_equal(len[1], 1);
    assert_int_equal(len[3], 1);
    assert_int_equal(len[4], 0);
}

static unsigned char *enc(const uint32_t *s, size_t n, size_t *len) {
    unsigned char *b;
    assert_int_equal(mn_huff_encode(s, n, &b, len), MN_OK);
    return b;
}

static void test_hostile(void **state) {
    (void)state;
    uint32_t s[300], out[300];
    for (int i = 0; i < 300; i++) s[i] = (uint32_t)((i * i) % 13);
    size_t len;
    unsigned char *b = enc(s, 300, &len);
    /* every truncation */
    for (size_t l = 0; l < len; l++) assert_int_equal(mn_huff_decode(b, l, 13, out, 300), MN_EFORMAT);
    /* a trailing byte */
    unsigned char *big = calloc(len + 1, 1);
    memcpy(big, b, len);
    assert_int_equal(mn_huff_decode(big, len + 1, 13, out, 300), MN_EFORMAT);
    /* wrong count, alphabet larger than allowed */
    assert_int_equal(mn_huff_decode(b, len, 13, out, 299), MN_EFORMAT);
    assert_int_equal(mn_huff_decode(b, len, 12, out, 300), MN_EFORMAT);
    /* random corruption: an error or a decode, never a crash (ASan) */
    mn_rng r;
    mn_rng_seed(&r, 3);
    for (int t = 0; t < 3000; t++) {
        memcpy(big, b, len);
        int flips = 1 + (int)mn_rng_below(&r, 3);
        for (int f = 0; f < flips; f++) big[mn_rng_below(&r, (uint32_t)len)] ^= (unsigned char)(1u << mn_rng_below(&r, 8));
        mn_status st = mn_huff_decode(big, len, 13, out, 300);
        assert_true(st == MN_OK || st == MN_EFORMAT);
        if (st == MN_OK) for (int i = 0; i < 300; i++) assert_true(out[i] < 13);
    }
    free(big);
    free(b);
    /* hand-made streams: nsym 3, n 1, lenbits 4 */
    unsigned char h[16] = {3, 0, 0, 0, 1, 0, 0, 0, 4};
    h[9] = 0x11; h[10] = 0x10; h[11] = 0x00;           /* lengths 1,1,1: over-subscribed */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_EFORMAT);
    h[9] = 0x10; h[10] = 0x00; h[11] = 0x80;           /* lengths 1,0,0, payload bit 1: no code */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_EFORMAT);
    h[11] = 0x00;                                      /* payload bit 0: symbol 0 */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_OK);
    assert_int_equal(out[0], 0);
    h[11] = 0x01;                                      /* non-zero padding */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_EFORMAT);
    h[11] = 0x00; h[10] = 0x01;                        /* non-zero table padding */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_EFORMAT);
    h[10] = 0x00; h[8] = 3;                            /* bad length width */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_EFORMAT);
    h[8] = 5; h[9] = 0xc8; h[10] = 0; h[11] = 0;       /* length 25 > 24 */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_EFORMAT);
    h[9] = 0; h[8] = 4;                                /* all lengths 0 */
    assert_int_equal(mn_huff_decode(h, 12, 3, out, 1), MN_EFORMAT);
    /* a huge count in a tiny stream */
    unsigned char e[9] = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 4};
    assert_int_equal(mn_huff_decode(e, 9, 3, out, 0), MN_EFORMAT);
    /* encoder input checks */
    uint32_t bad = MN_HUFF_MAX_SYMS;
    unsigned char *ob;
    size_t ol;
    assert_int_equal(mn_huff_encode(&bad, 1, &ob, &ol), MN_EARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_skewed),
        cmocka_unit_test(test_random_uniform_alphabets),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_single_symbol),
        cmocka_unit_test(test_equal_frequencies),
        cmocka_unit_test(test_65536_symbols),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_zero_frequencies_skipped),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
