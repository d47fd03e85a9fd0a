#define _GNU_SOURCE /* memfd_create */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "minnow/core.h"

_Noreturn void fz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "fuzz check failed at %s:%d: %s (last error: %s)\n", file, line, what, mn_errmsg());
    abort();
}

void fz_check_errmsg(int status) {
    if (status != MN_OK && mn_errmsg()[0] == 0) fz_fail(__FILE__, __LINE__, "error without a message");
}

const char *fz_memfile(int slot, const uint8_t *data, size_t n) {
    static int fd[4] = {-1, -1, -1, -1};
    static char path[4][64];
    if (slot < 0 || slot > 3) fz_fail(__FILE__, __LINE__, "bad memfile slot");
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("minnow-fuzz", 0);
        if (fd[slot] < 0) fz_fail(__FILE__, __LINE__, "memfd_create");
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    if (ftruncate(fd[slot], 0) != 0) fz_fail(__FILE__, __LINE__, "ftruncate");
    size_t at = 0;
    while (at < n) {
        ssize_t w = pwrite(fd[slot], data + at, n - at, (off_t)at);
        if (w <= 0) fz_fail(__FILE__, __LINE__, "pwrite");
        at += (size_t)w;
    }
    return path[slot];
}

size_t fz_gzip(const uint8_t *in, size_t n, uint8_t **out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip wrapper, as a .gz file has. */
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) fz_fail(__FILE__, __LINE__, "deflateInit2");
    size_t cap = deflateBound(&z, (uLong)n);
    *out = malloc(cap ? cap : 1);
    if (!*out) fz_fail(__FILE__, __LINE__, "malloc");
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) fz_fail(__FILE__, __LINE__, "deflate");
    size_t len = z.total_out;
    deflateEnd(&z);
    return len;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void fz_seal_mnw(uint8_t *buf, size_t len) {
    if (len < 12 || memcmp(buf, "MNW1", 4) != 0) return;
    uint64_t ns = le(buf + 8, 4);
    if (ns == 0 || ns > 64 || 12 + 24 * ns + 4 > len) return;
    for (uint64_t i = 0; i < ns; i++) {
        uint8_t *e = buf + 12 + 24 * i;
        uint64_t off = le(e + 4, 8), n = le(e + 12, 8);
        if (off <= len && n <= len - off) put_le(e + 20, crc32_z(0L, buf + off, (size_t)n), 4);
    }
    size_t h = 12 + 24 * (size_t)ns;
    put_le(buf + h, crc32_z(0L, buf, h), 4);
}

void fz_seal_ckpt(uint8_t *buf, size_t len) {
    if (len < 20 || memcmp(buf, "MNCK", 4) != 0) return;
    put_le(buf + 8, len, 8);
    /* The model: the first "MNW1" after the fixed part, sealed up to the
     * end of its section table's reach. */
    for (size_t i = 16; i + 4 <= len; i++)
        if (memcmp(buf + i, "MNW1", 4) == 0 && i >= 8) {
            uint64_t mlen = le(buf + i - 8, 8);
            fz_seal_mnw(buf + i, mlen <= len - i ? (size_t)mlen : len - i);
            break;
        }
    put_le(buf + len - 4, crc32_z(0L, buf, len - 4), 4);
}
