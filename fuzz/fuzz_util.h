/* Helpers shared by the libFuzzer targets in fuzz/ (scripts/fuzz.sh runs
 * them).  The readers under test take paths, so the fuzz input is put in an
 * in-memory file (memfd) and handed over as /proc/self/fd/N: no disk I/O,
 * and a fresh open always starts at offset 0. */
#ifndef MINNOW_FUZZ_UTIL_H
#define MINNOW_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Replaces the content of in-memory file `slot` (0..3) with data[0..n) and
 * returns a path that opens it.  Aborts if the memfd cannot be made. */
const char *fz_memfile(int slot, const uint8_t *data, size_t n);

/* gzip-compresses in[0..n) (level 1) into *out (malloc'd, caller frees);
 * returns the compressed size.  Aborts on failure. */
size_t fz_gzip(const uint8_t *in, size_t n, uint8_t **out);

/* Checksums stop almost every mutation at the door, so the targets can
 * re-seal a mutated buffer first (chosen by a flag bit of the input) and
 * reach the parsers behind them.  fz_seal_mnw recomputes the section and
 * header CRCs of a .mnw image in place, as far as its section table lies
 * inside buf; fz_seal_ckpt does the same for a checkpoint (its length
 * field, the model embedded in it, its trailing CRC). */
void fz_seal_mnw(uint8_t *buf, size_t len);
void fz_seal_ckpt(uint8_t *buf, size_t len);

/* A property the target checks failed: report it loudly and abort, so
 * libFuzzer records the input as a crash. */
#define FZ_CHECK(cond)                                                       \
    do {                                                                     \
        if (!(cond)) fz_fail(__FILE__, __LINE__, #cond);                     \
    } while (0)
_Noreturn void fz_fail(const char *file, int line, const char *what);

/* A library failure must leave a message (never an empty error). */
void fz_check_errmsg(int status);

#endif
