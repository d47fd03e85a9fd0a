/* MN_ST_BINARY: one sign bit per weight, a scale per row (or one shared),
 * and an optional nonzero plane (bitwise networks' zero weights).
 *
 * File form (little-endian), docs/BINARY.md:
 *   u8 version (1) | u8 flags (1: nonzero plane, 2: one shared scale) |
 *   u16 zero | u32 rows | u32 cols | f32 scale[rows or 1] |
 *   sign plane: rows*cols bits, row-major, LSB first, padded to a byte |
 *   nonzero plane (flag 1): the same layout.
 * Value (r, c) = nonzero ? scale[r] * (sign ? +1 : -1) : 0.  Padding bits
 * and the sign bits of zero weights must be 0, so every model has exactly
 * one encoding.  The run-time form pads each row to mn_bin_words(cols). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/binary.h"

enum { HDR = 12, F_MASK = 1, F_SHARED = 2 };

static void bs_free(mn_bin_store *b) {
    if (!b) return;
    free(b->scale); mn_free(b->bits); mn_free(b->mask); free(b->nnz);
    free(b);
}

static mn_bin_store *bs_alloc(int rows, int cols, int with_mask) {
    mn_bin_store *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->rows = rows;
    b->cols = cols;
    b->words = mn_bin_words(cols);
    size_t nw = (size_t)rows * (size_t)b->words;
    b->scale = calloc((size_t)rows, sizeof *b->scale);
    b->nnz = calloc((size_t)rows, sizeof *b->nnz);
    b->bits = mn_alloc(nw, sizeof(uint64_t));
    if (with_mask) b->mask = mn_alloc(nw, sizeof(uint64_t));
    if (!b->scale || !b->nnz || !b->bits || (with_mask && !b->mask)) { bs_free(b); return NULL; }
    return b;
}

static void count_nnz(mn_bin_store *b) {
    for (int r = 0; r < b->rows; r++) {
        if (!b->mask) { b->nnz[r] = b->cols; continue; }
        int32_t s = 0;
        for (int k = 0; k < b->words; k++) s += __builtin_popcountll(b->mask[(int64_t)r * b->words + k]);
        b->nnz[r] = s;
    }
}

static mn_store *wrap(mn_bin_store *b) {
    mn_store *s = calloc(1, sizeof *s);
    if (!s) { bs_free(b); return NULL; }
    s->kind = MN_ST_BINARY;
    s->rows = b->rows;
    s->cols = b->cols;
    s->impl = b;
    return s;
}

const mn_bin_store *mn_binary_store(const mn_store *s) {
    return s && s->kind == MN_ST_BINARY ? (const mn_bin_store *)s->impl : NULL;
}

mn_status mn_binary_store_make(const float *w, int rows, int cols, mn_store **out) {
    *out = NULL;
    if (rows <= 0 || cols <= 0) return mn_error(MN_EARG, "binary store: bad shape %dx%d", rows, cols);
    int has_zero = 0;
    for (int64_t i = 0; i < (int64_t)rows * cols; i++) has_zero |= w[i] == 0;
    mn_bin_store *b = bs_alloc(rows, cols, has_zero);
    if (!b) return mn_error(MN_ENOMEM, "out of memory for a %dx%d binary store", rows, cols);
    for (int r = 0; r < rows; r++) {
        const float *row = w + (int64_t)r * cols;
        float s = 0;
        for (int c = 0; c < cols; c++) s = fmaxf(s, fabsf(row[c]));
        if (!isfinite(s)) { bs_free(b); return mn_error(MN_EARG, "binary store: row %d is not finite", r); }
        b->scale[r] = s;
        uint64_t *bits = b->bits + (int64_t)r * b->words, *mask = b->mask ? b->mask + (int64_t)r * b->words : NULL;
        for (int c = 0; c < cols; c++) {
            if (row[c] == 0) continue;
            if (fabsf(row[c]) != s) {
                bs_free(b);
                return mn_error(MN_EARG, "binary store: row %d holds %g and %g, not +-one value", r, row[c], s);
            }
            uint64_t bit = (uint64_t)1 << (c & 63);
            if (row[c] > 0) bits[c >> 6] |= bit;
            if (mask) mask[c >> 6] |= bit;
        }
    }
    b->shared_scale = 1;
    for (int r = 1; r < rows; r++) b->shared_scale &= b->scale[r] == b->scale[0];
    count_nnz(b);
    *out = wrap(b);
    return *out ? MN_OK : mn_error(MN_ENOMEM, "out of memory");
}

static size_t plane_bytes(const mn_bin_store *b) { return ((size_t)b->rows * (size_t)b->cols + 7) / 8; }

static size_t st_bytes(const mn_store *s) {
    const mn_bin_store *b = s->impl;
    return HDR + 4 * (size_t)(b->shared_scale ? 1 : b->rows) + plane_bytes(b) * (b->mask ? 2 : 1);
}

static void st_decode(const mn_store *s, float *w) {
    const mn_bin_store *b = s->impl;
    for (int r = 0; r < b->rows; r++) {
        const uint64_t *bits = b->bits + (int64_t)r * b->words, *mask = b->mask ? b->mask + (int64_t)r * b->words : NULL;
        float sc = b->scale[r];
        for (int c = 0; c < b->cols; c++) {
            uint64_t bit = (uint64_t)1 << (c & 63);
            w[(int64_t)r * b->cols + c] = mask && !(mask[c >> 6] & bit) ? 0.0f : (bits[c >> 6] & bit) ? sc : -sc;
        }
    }
}

static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Row-padded words <-> the tight row-major bit stream of the file. */
static void plane_out(const mn_bin_store *b, const uint64_t *src, unsigned char *dst) {
    memset(dst, 0, plane_bytes(b));
    int64_t i = 0;
    for (int r = 0; r < b->rows; r++)
        for (int c = 0; c < b->cols; c++, i++)
            if (src[(int64_t)r * b->words + (c >> 6)] >> (c & 63) & 1) dst[i >> 3] |= (unsigned char)(1u << (i & 7));
}

static void plane_in(const mn_bin_store *b, const unsigned char *src, uint64_t *dst) {
    int64_t i = 0;
    for (int r = 0; r < b->rows; r++)
        for (int c = 0; c < b->cols; c++, i++)
            if (src[i >> 3] >> (i & 7) & 1) dst[(int64_t)r * b->words + (c >> 6)] |= (uint64_t)1 << (c & 63);
}

static mn_status st_serialize(const mn_store *s, unsigned char **buf, size_t *len) {
    const mn_bin_store *b = s->impl;
    size_t n = st_bytes(s), ns = b->shared_scale ? 1 : (size_t)b->rows, pb = plane_bytes(b);
    unsigned char *p = malloc(n);
    if (!p) return mn_error(MN_ENOMEM, "out of memory");
    p[0] = 1;
    p[1] = (unsigned char)((b->mask ? F_MASK : 0) | (b->shared_scale ? F_SHARED : 0));
    p[2] = p[3] = 0;
    put_u32(p + 4, (uint32_t)b->rows);
    put_u32(p + 8, (uint32_t)b->cols);
    for (size_t r = 0; r < ns; r++) {
        uint32_t v;
        memcpy(&v, &b->scale[r], 4);
        put_u32(p + HDR + 4 * r, v);
    }
    unsigned char *q = p + HDR + 4 * ns;
    plane_out(b, b->bits, q);
    if (b->mask) plane_out(b, b->mask, q + pb);
    *buf = p;
    *len = n;
    return MN_OK;
}

static mn_status st_deserialize(const unsigned char *buf, size_t len, int rows, int cols, mn_store *s) {
    if (len < HDR) return mn_error(MN_EFORMAT, "binary store: %zu bytes, shorter than its header", len);
    int flags = buf[1];
    if (buf[0] != 1) return mn_error(MN_EFORMAT, "binary store: version %d is not supported", buf[0]);
    if (flags & ~(F_MASK | F_SHARED) || buf[2] || buf[3])
        return mn_error(MN_EFORMAT, "binary store: unknown flags 0x%02x%02x%02x", buf[3], buf[2], buf[1]);
    if (rows <= 0 || cols <= 0 || get_u32(buf + 4) != (uint32_t)rows || get_u32(buf + 8) != (uint32_t)cols)
        return mn_error(MN_EFORMAT, "binary store: shape %ux%u, the weight is %dx%d", get_u32(buf + 4), get_u32(buf + 8), rows, cols);
    size_t ns = flags & F_SHARED ? 1 : (size_t)rows, pb = ((size_t)rows * (size_t)cols + 7) / 8;
    size_t want = HDR + 4 * ns + pb * (flags & F_MASK ? 2 : 1);
    if (len != want) return mn_error(MN_EFORMAT, "binary store: %zu bytes, expected %zu", len, want);
    /* Bits past rows*cols must be clear, so every model has one encoding. */
    size_t tail = (size_t)rows * (size_t)cols % 8;
    const unsigned char *sp = buf + HDR + 4 * ns, *mp = flags & F_MASK ? sp + pb : NULL;
    if (tail && ((sp[pb - 1] >> tail) || (mp && (mp[pb - 1] >> tail))))
        return mn_error(MN_EFORMAT, "binary store: padding bits are set");
    if (mp)
        for (size_t i = 0; i < pb; i++)
            if (sp[i] & ~mp[i]) return mn_error(MN_EFORMAT, "binary store: a zero weight has its sign bit set");
    mn_bin_store *b = bs_alloc(rows, cols, mp != NULL);
    if (!b) return mn_error(MN_ENOMEM, "out of memory for a %dx%d binary store", rows, cols);
    for (size_t r = 0; r < (size_t)rows; r++) {
        uint32_t v = get_u32(buf + HDR + 4 * (flags & F_SHARED ? 0 : r));
        float f;
        memcpy(&f, &v, 4);
        if (!isfinite(f) || f < 0) {
            bs_free(b);
            return mn_error(MN_EFORMAT, "binary store: scale of row %zu is %g (must be finite and >= 0)", r, f);
        }
        b->scale[r] = f;
    }
    b->shared_scale = (flags & F_SHARED) != 0;
    plane_in(b, sp, b->bits);
    if (mp) plane_in(b, mp, b->mask);
    count_nnz(b);
    s->kind = MN_ST_BINARY;
    s->rows = rows;
    s->cols = cols;
    s->impl = b;
    return MN_OK;
}

static void st_free(mn_store *s) {
    bs_free(s->impl);
    s->impl = NULL;
}

/* Real inputs (the kernel path for BinaryConnect layers): row chunks into a
 * stack buffer, since kernels never allocate. */
static void st_xwt(const mn_store *s, const float *x, int batch, float *y, void *work) {
    (void)work;
    const mn_bin_store *b = s->impl;
    enum { CH = 256 };
    float acc[CH];
    for (int i = 0; i < batch; i++)
        for (int j0 = 0; j0 < b->rows; j0 += CH) {
            int m = b->rows - j0 < CH ? b->rows - j0 : CH;
            mn_signacc(x + (int64_t)i * b->cols, 1, b->cols, b->cols, b->bits + (int64_t)j0 * b->words,
                       b->mask ? b->mask + (int64_t)j0 * b->words : NULL, m, b->words, acc, CH);
            float *yr = y + (int64_t)i * b->rows + j0;
            for (int j = 0; j < m; j++) yr[j] += b->scale[j0 + j] * acc[j];
        }
}

static void st_wb(const mn_store *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc, void *work) {
    (void)work;
    const mn_bin_store *b = s->impl;
    mn_signacc_cols(b->bits, b->mask, b->rows, b->cols, b->words, B, n, ldb, C, ldc);
    for (int r = 0; r < b->rows; r++)
        for (int j = 0; j < n; j++) C[r * ldc + j] *= b->scale[r];
}

const mn_store_traits mn_st_binary = {"binary", st_bytes, st_decode, st_serialize, st_deserialize,
                                      st_free, st_xwt, st_wb, NULL, NULL, NULL};
