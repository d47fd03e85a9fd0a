/* MN_ST_CSR: sparse rows with narrow relative column indices (Deep
 * Compression).
 *
 * File form (little-endian; docs/SPARSE.md):
 *   u8 bits (4 or 8), u8[3] zero, u32 rows, u32 cols, u32 E (entries),
 *   u32 rowptr[rows + 1], f32 val[E], gaps: E fields of `bits` bits, two
 *   4-bit fields per byte low nibble first (an odd E leaves the last high
 *   nibble zero).
 * Within a row the first entry's column is its gap, each next one is the
 * previous column + 1 + gap.  A gap too wide for the field is bridged by
 * filler entries of value 0, each advancing 2^bits columns.
 *
 * Run-time form (mn_csr in kernels/sparse.h): one 64-byte aligned block holding the
 * struct, the values, absolute int32 columns and row pointers, fillers and
 * zeros dropped, and a column-major copy of the same nonzeros with the row
 * sums, for the batch-1 kernel that skips inactive inputs (sparse_csc.c). */
#include "store/csr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

#define HDR 16u

/* Entries in the file for this column sequence at `bits`: one per nonzero
 * plus the fillers bridging wide gaps. */
static uint64_t fillers(int64_t gap, int bits) { return (uint64_t)gap >> bits; }

static uint64_t gap_bytes(uint64_t e, int bits) { return bits == 4 ? (e + 1) / 2 : e; }

static uint64_t file_size(int rows, uint64_t e, int bits) {
    return HDR + 4 * ((uint64_t)rows + 1) + 4 * e + gap_bytes(e, bits);
}

/* Allocates the run-time block for rows x cols with nnz nonzeros: the CSR
 * arrays, then the column-major copy (finish_csc fills it). */
static mn_csr *csr_alloc(int rows, int cols, int64_t nnz) {
    /* MN_CSR_SLACK zeroed entries after each value and index array: the
     * batch-1 row kernel reads up to 7 entries past a row's end (and
     * discards them), so the last row's must be valid column 0. */
    size_t a = mn_up64(sizeof(mn_csr)), v = mn_up64(((size_t)nnz + MN_CSR_SLACK) * 4), c = v;
    size_t r = mn_up64(((size_t)rows + 1) * 4), cp = mn_up64(((size_t)cols + 1) * 4), rs = (size_t)rows * 4;
    unsigned char *blk = mn_alloc(a + 2 * (v + c) + r + cp + rs, 1);
    if (!blk) return NULL;
    mn_csr *m = (mn_csr *)blk;
    m->rows = rows;
    m->cols = cols;
    m->nnz = nnz;
    unsigned char *p = blk + a;
    m->val = (const float *)p, p += v;
    m->col = (const int32_t *)p, p += c;
    m->cval = (const float *)p, p += v;
    m->crow = (const int32_t *)p, p += c;
    m->rowptr = (const uint32_t *)p, p += r;
    m->colptr = (const uint32_t *)p, p += cp;
    m->rowsum = (const float *)p;
    m->sell = NULL;
    return m;
}



/* The column-major copy and the row sums, from the filled CSR arrays, and
 * the sliced copy where it pays (mn__sell_build).  Walking rows in order
 * keeps each column's rows increasing. */
static void finish_csc(mn_csr *m) {
    uint32_t *cp = (uint32_t *)m->colptr;
    int32_t *crow = (int32_t *)m->crow;
    float *cval = (float *)m->cval, *rs = (float *)m->rowsum;
    memset(cp, 0, sizeof(uint32_t) * ((size_t)m->cols + 1));
    for (int64_t k = 0; k < m->nnz; k++) cp[m->col[k] + 1]++;
    for (int c = 0; c < m->cols; c++) cp[c + 1] += cp[c];
    for (int r = 0; r < m->rows; r++) {
        double s = 0;
        for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
            uint32_t o = cp[m->col[k]]++;
            crow[o] = r, cval[o] = m->val[k];
            s += m->val[k];
        }
        rs[r] = (float)s;
    }
    /* The fill advanced each column's start to the next one's: shift back. */
    for (int c = m->cols; c > 0; c--) cp[c] = cp[c - 1];
    cp[0] = 0;
    m->sell = mn__sell_build(m);
}

/* Entries needed at `bits` for the run-time form. */
static uint64_t entries_at(const mn_csr *m, int bits) {
    uint64_t e = (uint64_t)m->nnz;
    for (int r = 0; r < m->rows; r++) {
        int64_t prev = -1;
        for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
            e += fillers(m->col[k] - prev - 1, bits);
            prev = m->col[k];
        }
    }
    return e;
}

static void pick_bits(mn_csr *m) {
    uint64_t e4 = entries_at(m, 4), e8 = entries_at(m, 8);
    if (file_size(m->rows, e4, 4) <= file_size(m->rows, e8, 8)) m->bits = 4, m->entries = (int64_t)e4;
    else m->bits = 8, m->entries = (int64_t)e8;
}

static const mn_csr *csr(const mn_store *s) { return (const mn_csr *)s->impl; }

static size_t st_bytes(const mn_store *s) {
    const mn_csr *m = csr(s);
    return (size_t)file_size(m->rows, (uint64_t)m->entries, m->bits);
}

static void st_decode(const mn_store *s, float *w) {
    const mn_csr *m = csr(s);
    memset(w, 0, sizeof(float) * (size_t)m->rows * m->cols);
    for (int r = 0; r < m->rows; r++)
        for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++)
            w[(int64_t)r * m->cols + m->col[k]] = m->val[k];
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put_gap(unsigned char *g, uint64_t i, unsigned d, int bits) {
    if (bits == 8) g[i] = (unsigned char)d;
    else g[i / 2] |= (unsigned char)(d << (4 * (i & 1)));
}
static unsigned get_gap(const unsigned char *g, uint64_t i, int bits) {
    return bits == 8 ? g[i] : (g[i / 2] >> (4 * (i & 1))) & 15u;
}

static mn_status st_serialize(const mn_store *s, unsigned char **buf, size_t *len) {
    const mn_csr *m = csr(s);
    uint64_t E = (uint64_t)m->entries;
    size_t n = st_bytes(s);
    unsigned char *b = calloc(1, n);
    if (!b) return mn_error(MN_ENOMEM, "out of memory serializing a %dx%d CSR weight", m->rows, m->cols);
    b[0] = (unsigned char)m->bits;
    put32(b + 4, (uint32_t)m->rows);
    put32(b + 8, (uint32_t)m->cols);
    put32(b + 12, (uint32_t)E);
    unsigned char *rp = b + HDR, *val = rp + 4 * ((size_t)m->rows + 1), *gap = val + 4 * E;
    unsigned maxd = (1u << m->bits) - 1;
    uint64_t e = 0;
    put32(rp, 0);
    for (int r = 0; r < m->rows; r++) {
        int64_t prev = -1;
        for (uint32_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
            int64_t g = m->col[k] - prev - 1;
            for (; g > (int64_t)maxd; g -= maxd + 1, e++) put_gap(gap, e, maxd, m->bits); /* filler: value 0 */
            uint32_t bits;
            memcpy(&bits, &m->val[k], 4);
            put32(val + 4 * e, bits);
            put_gap(gap, e++, (unsigned)g, m->bits);
            prev = m->col[k];
        }
        put32(rp + 4 * ((size_t)r + 1), (uint32_t)e);
    }
    *buf = b;
    *len = n;
    return MN_OK;
}

static float get_f32(const unsigned char *p) {
    uint32_t u = get32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Validates everything a kernel will rely on; counts the nonzeros. */
static mn_status validate(const unsigned char *b, size_t len, int rows, int cols, int64_t *nnz) {
    if (rows <= 0 || cols <= 0) return mn_error(MN_EFORMAT, "csr: bad matrix shape %dx%d", rows, cols);
    if (len < HDR) return mn_error(MN_EFORMAT, "csr: %zu bytes, shorter than its 16-byte header", len);
    int bits = b[0];
    if (bits != 4 && bits != 8) return mn_error(MN_EFORMAT, "csr: index width %d bits, expected 4 or 8", bits);
    if (b[1] || b[2] || b[3]) return mn_error(MN_EFORMAT, "csr: reserved header bytes are not zero");
    if (get32(b + 4) != (uint32_t)rows || get32(b + 8) != (uint32_t)cols)
        return mn_error(MN_EFORMAT, "csr: stored shape %ux%u, the weight is %dx%d", get32(b + 4), get32(b + 8), rows, cols);
    uint64_t E = get32(b + 12);
    if (file_size(rows, E, bits) != len)
        return mn_error(MN_EFORMAT, "csr: %zu bytes, but %dx%d with %llu entries needs %llu", len, rows, cols,
                        (unsigned long long)E, (unsigned long long)file_size(rows, E, bits));
    const unsigned char *rp = b + HDR, *val = rp + 4 * ((size_t)rows + 1), *gap = val + 4 * E;
    if (get32(rp) != 0) return mn_error(MN_EFORMAT, "csr: the first row pointer is %u, not 0", get32(rp));
    if (get32(rp + 4 * (size_t)rows) != E)
        return mn_error(MN_EFORMAT, "csr: the last row pointer is %u, not the entry count %llu",
                        get32(rp + 4 * (size_t)rows), (unsigned long long)E);
    if (bits == 4 && (E & 1) && (gap[E / 2] >> 4))
        return mn_error(MN_EFORMAT, "csr: the unused last index nibble is not zero");
    for (int r = 0; r < rows; r++)
        if (get32(rp + 4 * ((size_t)r + 1)) < get32(rp + 4 * (size_t)r))
            return mn_error(MN_EFORMAT, "csr: row pointers decrease at row %d", r);
    int64_t count = 0;
    for (int r = 0; r < rows; r++) {
        uint32_t k0 = get32(rp + 4 * (size_t)r), k1 = get32(rp + 4 * ((size_t)r + 1));
        int64_t c = -1;
        for (uint32_t k = k0; k < k1; k++) {
            c += 1 + get_gap(gap, k, bits);
            if (c >= cols) return mn_error(MN_EFORMAT, "csr: row %d has a column index past %d", r, cols);
            float v = get_f32(val + 4 * (size_t)k);
            if (!isfinite(v)) return mn_error(MN_EFORMAT, "csr: row %d holds a non-finite value", r);
            count += v != 0;
        }
    }
    *nnz = count;
    return MN_OK;
}

static mn_status st_deserialize(const unsigned char *b, size_t len, int rows, int cols, mn_store *s) {
    int64_t nnz = 0;
    mn_status st = validate(b, len, rows, cols, &nnz);
    if (st) return st;
    mn_csr *m = csr_alloc(rows, cols, nnz);
    if (!m) return mn_error(MN_ENOMEM, "out of memory for a %dx%d CSR weight", rows, cols);
    uint64_t E = get32(b + 12);
    int bits = b[0];
    const unsigned char *rp = b + HDR, *val = rp + 4 * ((size_t)rows + 1), *gap = val + 4 * E;
    float *mv = (float *)m->val;
    int32_t *mc = (int32_t *)m->col;
    uint32_t *mr = (uint32_t *)m->rowptr, o = 0;
    for (int r = 0; r < rows; r++) {
        mr[r] = o;
        int64_t c = -1;
        for (uint32_t k = get32(rp + 4 * (size_t)r); k < get32(rp + 4 * ((size_t)r + 1)); k++) {
            c += 1 + get_gap(gap, k, bits);
            float v = get_f32(val + 4 * (size_t)k);
            if (v != 0) mv[o] = v, mc[o++] = (int32_t)c;
        }
    }
    mr[rows] = o;
    finish_csc(m);
    /* Keep the file's index width; the entry count is recomputed since any
     * explicit zeros it held are gone. */
    m->bits = bits;
    m->entries = (int64_t)entries_at(m, bits);
    s->kind = MN_ST_CSR;
    s->rows = rows;
    s->cols = cols;
    s->impl = m;
    return MN_OK;
}

static void st_free(mn_store *s) {
    if (s->impl) mn_free((void *)csr(s)->sell);
    mn_free(s->impl);
    s->impl = NULL;
}

/* The CSR kernels need no work area: they keep what they need on the stack. */
static void st_xwt(const mn_store *s, const float *x, int batch, float *y, void *work) {
    (void)work;
    mn_csr_xwt(csr(s), x, batch, y);
}
static void st_wb(const mn_store *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc, void *work) {
    (void)work;
    mn_csr_wb(csr(s), B, n, ldb, C, ldc);
}

const mn_store_traits mn_st_csr = {"csr", st_bytes, st_decode, st_serialize, st_deserialize,
                                   st_free, st_xwt, st_wb, NULL, NULL, NULL};

mn_status mn_csr_from_dense(const float *w, int rows, int cols, mn_store **out) {
    if (rows <= 0 || cols <= 0) return mn_error(MN_EARG, "csr: bad matrix shape %dx%d", rows, cols);
    int64_t n = (int64_t)rows * cols, nnz = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(w[i])) return mn_error(MN_EARG, "csr: weight %lld is not finite", (long long)i);
        nnz += w[i] != 0;
    }
    if (nnz > UINT32_MAX / 2) return mn_error(MN_EUNSUPPORTED, "csr: %lld nonzeros is too many", (long long)nnz);
    mn_csr *m = csr_alloc(rows, cols, nnz);
    mn_store *s = calloc(1, sizeof *s);
    if (!m || !s) { mn_free(m); free(s); return mn_error(MN_ENOMEM, "out of memory for a %dx%d CSR weight", rows, cols); }
    float *mv = (float *)m->val;
    int32_t *mc = (int32_t *)m->col;
    uint32_t *mr = (uint32_t *)m->rowptr, o = 0;
    for (int r = 0; r < rows; r++) {
        mr[r] = o;
        const float *wr = w + (int64_t)r * cols;
        for (int c = 0; c < cols; c++)
            if (wr[c] != 0) mv[o] = wr[c], mc[o++] = c;
    }
    mr[rows] = o;
    finish_csc(m);
    pick_bits(m);
    if (m->entries > (int64_t)UINT32_MAX) {
        mn_free((void *)m->sell), mn_free(m), free(s);
        return mn_error(MN_EUNSUPPORTED, "csr: a %dx%d weight needs too many entries", rows, cols);
    }
    *s = (mn_store){MN_ST_CSR, rows, cols, m};
    *out = s;
    return MN_OK;
}

size_t mn_csr_file_bytes(const float *w, int rows, int cols) {
    uint64_t e4 = 0, e8 = 0;
    for (int r = 0; r < rows; r++) {
        int64_t prev = -1;
        const float *wr = w + (int64_t)r * cols;
        for (int c = 0; c < cols; c++)
            if (wr[c] != 0) {
                e4 += 1 + fillers(c - prev - 1, 4);
                e8 += 1 + fillers(c - prev - 1, 8);
                prev = c;
            }
    }
    uint64_t a = file_size(rows, e4, 4), b = file_size(rows, e8, 8);
    return (size_t)(a < b ? a : b);
}
