/* MD5 (RFC 1321), only to compare files with the checksums data sets
 * publish: integrity against broken downloads, not a defence against
 * tampering. */
#include "data/md5.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "minnow/datasets.h"

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const int R[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                          5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                          4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                          6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void block(uint32_t h[4], const unsigned char *p) {
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) f = (b & c) | (~b & d), g = i;
        else if (i < 32) f = (d & b) | (~d & c), g = (5 * i + 1) & 15;
        else if (i < 48) f = b ^ c ^ d, g = (3 * i + 5) & 15;
        else f = c ^ (b | ~d), g = (7 * i) & 15;
        uint32_t t = d;
        d = c, c = b;
        uint32_t x = a + f + K[i] + m[g];
        b = b + (x << R[i] | x >> (32 - R[i]));
        a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

void mn__md5_init(mn__md5 *c) {
    c->h[0] = 0x67452301, c->h[1] = 0xefcdab89, c->h[2] = 0x98badcfe, c->h[3] = 0x10325476;
    c->len = 0;
}

void mn__md5_update(mn__md5 *c, const void *data, size_t n) {
    const unsigned char *p = data;
    size_t have = (size_t)(c->len & 63);
    c->len += n;
    if (have) {
        size_t take = 64 - have < n ? 64 - have : n;
        memcpy(c->buf + have, p, take);
        p += take, n -= take, have += take;
        if (have < 64) return;
        block(c->h, c->buf);
    }
    for (; n >= 64; p += 64, n -= 64) block(c->h, p);
    memcpy(c->buf, p, n);
}

void mn__md5_hex(mn__md5 *c, char hex[33]) {
    uint64_t bits = c->len * 8;
    static const unsigned char pad[64] = {0x80};
    size_t have = (size_t)(c->len & 63);
    mn__md5_update(c, pad, have < 56 ? 56 - have : 120 - have);
    unsigned char lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(bits >> (8 * i));
    mn__md5_update(c, lb, 8);
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", (unsigned)(c->h[i / 4] >> (8 * (i % 4)) & 0xff));
}

mn_status mn_md5_file(const char *path, int gunzip, char hex[33]) {
    unsigned char buf[1 << 15];
    mn__md5 c;
    mn__md5_init(&c);
    if (gunzip) {
        gzFile g = gzopen(path, "rb");
        if (!g) return mn_error(MN_EIO, "cannot open %s", path);
        int n;
        while ((n = gzread(g, buf, sizeof buf)) > 0) mn__md5_update(&c, buf, (size_t)n);
        int err = 0;
        if (n < 0) gzerror(g, &err);
        gzclose(g);
        if (n < 0) return mn_error(MN_EFORMAT, "%s: not a readable gzip file", path);
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) return mn_error(MN_EIO, "cannot open %s", path);
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) mn__md5_update(&c, buf, n);
        int bad = ferror(f);
        fclose(f);
        if (bad) return mn_error(MN_EIO, "%s: read error", path);
    }
    mn__md5_hex(&c, hex);
    return MN_OK;
}
