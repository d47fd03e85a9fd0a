/* libFuzzer target: one compressed storage kind's file form (the kind's
 * deserialize from storage.h), built once per kind with FUZZ_KIND set.
 *
 * Input: u16 rows-1, u16 cols-1 (little-endian, each taken modulo 512),
 * then the kind's bytes.  A buffer that parses must decode to finite
 * values, serialize to bytes() bytes, and re-parse to the same values; its
 * inference kernels must run on it (no comparison: an integer store
 * legitimately differs from f32, but an inconsistent run-time form shows up
 * as an out-of-bounds access under ASan). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "store/store.h"

#ifndef FUZZ_KIND
#error "build with -DFUZZ_KIND=MN_ST_..."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    mn_set_threads(1);
    if (!mn_store_traits_of(FUZZ_KIND)) {
        /* scripts/fuzz.sh reads this line to skip a kind not built yet. */
        printf("minnow-fuzz: storage kind %d is not registered in this build\n", (int)FUZZ_KIND);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 4) return 0;
    int rows = 1 + (int)(((size_t)d[0] | (size_t)d[1] << 8) % 512);
    int cols = 1 + (int)(((size_t)d[2] | (size_t)d[3] << 8) % 512);
    d += 4, n -= 4;
    const mn_store_traits *t = mn_store_traits_of(FUZZ_KIND);
    mn_store s = {FUZZ_KIND, 0, 0, NULL};
    mn_status st = t->deserialize(d, n, rows, cols, &s);
    fz_check_errmsg(st);
    if (st != MN_OK) return 0; /* nothing to free: a failed parse owns nothing */
    FZ_CHECK(s.kind == FUZZ_KIND && s.rows == rows && s.cols == cols && s.impl);

    size_t nw = (size_t)rows * cols;
    float *w = malloc(sizeof(float) * nw), *w2 = malloc(sizeof(float) * nw);
    FZ_CHECK(w && w2);
    t->decode(&s, w);
    for (size_t i = 0; i < nw; i++) FZ_CHECK(isfinite(w[i]));

    /* Re-serialized, it parses to the same values, and that canonical form
     * is a fixpoint whose size bytes() reports.  (The input itself may be
     * a non-canonical encoding, e.g. a valid but not optimal Huffman code,
     * so its own length is not compared.) */
    unsigned char *b, *b2;
    size_t len, len2;
    FZ_CHECK(t->serialize(&s, &b, &len) == MN_OK);
    mn_store s2 = {FUZZ_KIND, 0, 0, NULL};
    FZ_CHECK(t->deserialize(b, len, rows, cols, &s2) == MN_OK);
    FZ_CHECK(t->bytes(&s2) == len);
    t->decode(&s2, w2);
    FZ_CHECK(memcmp(w, w2, sizeof(float) * nw) == 0);
    FZ_CHECK(t->serialize(&s2, &b2, &len2) == MN_OK);
    FZ_CHECK(len2 == len && memcmp(b, b2, len) == 0);
    free(b);
    free(b2);
    t->free(&s2);

    /* The kernels on the parsed form: dense (batch 3) and conv (n = 5). */
    enum { BATCH = 3, NCOL = 5 };
    float *x = malloc(sizeof(float) * BATCH * (size_t)cols), *y = calloc((size_t)BATCH * rows, sizeof(float));
    float *B = malloc(sizeof(float) * NCOL * (size_t)cols), *C = malloc(sizeof(float) * NCOL * (size_t)rows);
    FZ_CHECK(x && y && B && C);
    for (size_t i = 0; i < BATCH * (size_t)cols; i++) x[i] = (float)(i % 7) * 0.25f - 0.75f;
    for (size_t i = 0; i < NCOL * (size_t)cols; i++) B[i] = (float)(i % 5) * 0.5f - 1.0f;
    void *work = mn_alloc(mn_store_scratch_bytes(&s, BATCH > NCOL ? BATCH : NCOL) + 1, 1);
    FZ_CHECK(work);
    if (t->xwt) t->xwt(&s, x, BATCH, y, work);
    if (t->wb) t->wb(&s, B, NCOL, NCOL, C, NCOL, work);
    mn_free(work);
    free(x), free(y), free(B), free(C);
    free(w), free(w2);
    t->free(&s);
    return 0;
}
