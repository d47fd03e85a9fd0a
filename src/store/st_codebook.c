/* MN_ST_CODEBOOK: shared f32 centroids + packed (optionally Huffman-coded)
 * indices, dense or sparse with narrow relative gaps (Deep Compression).
 *
 * File form, little-endian (docs/FORMAT.md):
 *   u8 version (1), u8 bits (1..8), u8 flags, u8 gap_bits (sparse 1..8,
 *   dense 0), u16 k (1..2^bits), u16 zero, u32 entries, u32 gap codes,
 *   f32 centroids[k], the index stream, then (sparse) the gap stream.
 * A stream is either `count` fields of `width` bits, MSB first and
 * zero-padded to a byte, or (Huffman flag) a u32 byte length followed by a
 * minnow/huffman.h stream.
 * Gaps walk the row-major weight: with M = 2^gap_bits - 1, a code g < M
 * means "skip g zeros, then the next entry", and the code M (a filler)
 * means "skip M zeros" with no entry, so any gap fits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/codebook.h"
#include "store/huffman.h"

#define HDR 16

static mn_cb_impl *impl_of(const mn_store *s) { return (mn_cb_impl *)s->impl; }

static void impl_free(mn_cb_impl *m) {
    if (!m) return;
    free(m->idx); free(m->col); free(m->rowptr);
    free(m);
}

/* ---- streams ---- */

typedef struct { unsigned char *p; size_t n; } blob;

static void wr16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void wr32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }

static size_t packed_bytes(int64_t n, int width) { return (size_t)(((uint64_t)n * width + 7) / 8); }

/* v[0..n) as width-bit fields, MSB first. */
static void pack(const uint32_t *v, int64_t n, int width, unsigned char *out) {
    uint64_t acc = 0;
    int nacc = 0;
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        acc = (acc << width) | v[i];
        nacc += width;
        while (nacc >= 8) { nacc -= 8; out[pos++] = (unsigned char)(acc >> nacc); }
        acc &= (1ull << nacc) - 1;
    }
    if (nacc) out[pos] = (unsigned char)(acc << (8 - nacc));
}

/* The inverse of pack over exactly packed_bytes(n, width) bytes; the padding
 * must be zero. */
static mn_status unpack(const unsigned char *in, int64_t n, int width, uint32_t *v) {
    uint64_t acc = 0;
    int nacc = 0;
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        while (nacc < width) { acc = (acc << 8) | in[pos++]; nacc += 8; }
        nacc -= width;
        v[i] = (uint32_t)(acc >> nacc) & ((1u << width) - 1);
        acc &= (1ull << nacc) - 1;
    }
    if (acc) return mn_error(MN_EFORMAT, "codebook store: non-zero padding bits");
    return MN_OK;
}

/* A stream of v[0..n): packed or (huff) length-prefixed Huffman. */
static mn_status stream(const uint32_t *v, int64_t n, int width, int huff, blob *out) {
    if (!huff) {
        out->n = packed_bytes(n, width);
        out->p = malloc(out->n ? out->n : 1);
        if (!out->p) return mn_error(MN_ENOMEM, "out of memory");
        pack(v, n, width, out->p);
        return MN_OK;
    }
    unsigned char *h;
    size_t hl;
    mn_status st = mn_huff_encode(v, (size_t)n, &h, &hl);
    if (st) return st;
    if (hl > UINT32_MAX) { free(h); return mn_error(MN_ENOMEM, "codebook store: stream too large"); }
    out->n = 4 + hl;
    out->p = malloc(out->n);
    if (!out->p) { free(h); return mn_error(MN_ENOMEM, "out of memory"); }
    wr32(out->p, (uint32_t)hl);
    memcpy(out->p + 4, h, hl);
    free(h);
    return MN_OK;
}

/* Reads a stream of n values < limit from buf[*off..len); advances *off. */
static mn_status read_stream(const unsigned char *buf, size_t len, size_t *off, int64_t n,
                             int width, int huff, uint32_t limit, const char *what, uint32_t *v) {
    size_t left = len - *off;
    if (!huff) {
        size_t need = packed_bytes(n, width);
        if (need > left) return mn_error(MN_EFORMAT, "codebook store: %s stream truncated", what);
        mn_status st = unpack(buf + *off, n, width, v);
        if (st) return st;
        *off += need;
    } else {
        if (left < 4) return mn_error(MN_EFORMAT, "codebook store: %s stream truncated", what);
        uint32_t hl = rd32(buf + *off);
        if (hl > left - 4) return mn_error(MN_EFORMAT, "codebook store: %s stream truncated", what);
        mn_status st = mn_huff_decode(buf + *off + 4, hl, limit, v, (size_t)n);
        if (st) {
            char m[256];
            snprintf(m, sizeof m, "%s", mn_errmsg()); /* mn_error overwrites it */
            return mn_error(st, "codebook store: %s: %s", what, m);
        }
        *off += 4 + (size_t)hl;
    }
    for (int64_t i = 0; i < n; i++)
        if (v[i] >= limit) return mn_error(MN_EFORMAT, "codebook store: %s value %u out of range", what, v[i]);
    return MN_OK;
}

/* Gap codes of a sparse impl for gap width gb; out may be NULL (count only). */
static int64_t gap_codes(const mn_cb_impl *m, int rows, int cols, int gb, uint32_t *out) {
    int64_t prev = -1, n = 0;
    uint32_t M = (1u << gb) - 1;
    for (int r = 0; r < rows; r++)
        for (uint32_t j = m->rowptr[r]; j < m->rowptr[r + 1]; j++) {
            int64_t pos = (int64_t)r * cols + m->col[j], g = pos - prev - 1;
            for (; g >= M; g -= M) { if (out) out[n] = M; n++; }
            if (out) out[n] = (uint32_t)g;
            n++;
            prev = pos;
        }
    return n;
}

static mn_status index_values(const mn_cb_impl *m, uint32_t **v) {
    *v = malloc(sizeof **v * (size_t)(m->nnz ? m->nnz : 1));
    if (!*v) return mn_error(MN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < m->nnz; i++) (*v)[i] = m->idx[i];
    return MN_OK;
}

static mn_status gap_values(const mn_cb_impl *m, int rows, int cols, int gb, uint32_t **v, int64_t *n) {
    *n = gap_codes(m, rows, cols, gb, NULL);
    if (*n > UINT32_MAX) return mn_error(MN_EUNSUPPORTED, "codebook store: too many gap codes");
    *v = malloc(sizeof **v * (size_t)(*n ? *n : 1));
    if (!*v) return mn_error(MN_ENOMEM, "out of memory");
    gap_codes(m, rows, cols, gb, *v);
    return MN_OK;
}

static mn_status serialize_impl(const mn_cb_impl *m, int rows, int cols, unsigned char **buf, size_t *len) {
    blob ib = {0}, gbl = {0};
    uint32_t *v = NULL;
    int64_t ng = 0;
    mn_status st;
    *buf = NULL;
    if ((st = index_values(m, &v))) goto out;
    if ((st = stream(v, m->nnz, m->bits, (m->flags & MN_CB_HUFF_INDEX) != 0, &ib))) goto out;
    free(v);
    v = NULL;
    if (m->flags & MN_CB_SPARSE) {
        if ((st = gap_values(m, rows, cols, m->gap_bits, &v, &ng))) goto out;
        if ((st = stream(v, ng, m->gap_bits, (m->flags & MN_CB_HUFF_GAPS) != 0, &gbl))) goto out;
    }
    size_t n = HDR + 4 * (size_t)m->k + ib.n + gbl.n;
    unsigned char *p = malloc(n);
    if (!p) { st = mn_error(MN_ENOMEM, "out of memory"); goto out; }
    p[0] = 1;
    p[1] = (unsigned char)m->bits;
    p[2] = (unsigned char)m->flags;
    p[3] = (unsigned char)m->gap_bits;
    wr16(p + 4, (uint32_t)m->k);
    wr16(p + 6, 0);
    wr32(p + 8, (uint32_t)m->nnz);
    wr32(p + 12, (uint32_t)ng);
    for (int i = 0; i < m->k; i++) {
        uint32_t u;
        memcpy(&u, &m->cb[i], 4);
        wr32(p + HDR + 4 * i, u);
    }
    memcpy(p + HDR + 4 * m->k, ib.p, ib.n);
    if (gbl.n) memcpy(p + HDR + 4 * m->k + ib.n, gbl.p, gbl.n);
    *buf = p;
    *len = n;
out:
    free(v); free(ib.p); free(gbl.p);
    return st;
}

/* ---- traits ---- */

static size_t cb_bytes(const mn_store *s) { return impl_of(s)->bytes; }

static void cb_decode(const mn_store *s, float *w) {
    const mn_cb_impl *m = impl_of(s);
    if (!(m->flags & MN_CB_SPARSE)) {
        for (int64_t i = 0; i < m->nnz; i++) w[i] = m->cb[m->idx[i]];
        return;
    }
    memset(w, 0, sizeof(float) * (size_t)s->rows * (size_t)s->cols);
    for (int r = 0; r < s->rows; r++)
        for (uint32_t j = m->rowptr[r]; j < m->rowptr[r + 1]; j++)
            w[(int64_t)r * s->cols + m->col[j]] = m->cb[m->idx[j]];
}

static mn_status cb_serialize(const mn_store *s, unsigned char **buf, size_t *len) {
    return serialize_impl(impl_of(s), s->rows, s->cols, buf, len);
}

static void cb_free(mn_store *s) {
    impl_free(impl_of(s));
    s->impl = NULL;
}

/* Positions from gap codes -> rowptr/col; every check a hostile file needs. */
static mn_status build_sparse(mn_cb_impl *m, const uint32_t *gap, int64_t ng, int rows, int cols) {
    uint32_t M = (1u << m->gap_bits) - 1;
    int64_t total = (int64_t)rows * cols, prev = -1, e = 0;
    m->col = malloc(sizeof *m->col * (size_t)(m->nnz ? m->nnz : 1));
    m->rowptr = calloc((size_t)rows + 1, sizeof *m->rowptr);
    if (!m->col || !m->rowptr) return mn_error(MN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < ng; i++) {
        if (gap[i] == M) {
            prev += M;
            if (i == ng - 1) return mn_error(MN_EFORMAT, "codebook store: gap stream ends with a filler");
            continue;
        }
        int64_t pos = prev + gap[i] + 1;
        if (pos >= total) return mn_error(MN_EFORMAT, "codebook store: entry position %lld beyond the %dx%d weight", (long long)pos, rows, cols);
        if (e >= m->nnz) return mn_error(MN_EFORMAT, "codebook store: more gap entries than the %lld stored", (long long)m->nnz);
        int r = (int)(pos / cols);
        m->col[e++] = (uint32_t)(pos % cols);
        m->rowptr[r + 1]++;
        prev = pos;
    }
    if (e != m->nnz) return mn_error(MN_EFORMAT, "codebook store: gap stream has %lld entries, header says %lld", (long long)e, (long long)m->nnz);
    for (int r = 0; r < rows; r++) m->rowptr[r + 1] += m->rowptr[r];
    return MN_OK;
}

static mn_status cb_deserialize(const unsigned char *buf, size_t len, int rows, int cols, mn_store *s) {
    if (rows <= 0 || cols <= 0) return mn_error(MN_EFORMAT, "codebook store: bad shape %dx%d", rows, cols);
    if (len < HDR) return mn_error(MN_EFORMAT, "codebook store: %zu bytes, shorter than its header", len);
    int ver = buf[0], bits = buf[1], gb = buf[3];
    unsigned flags = buf[2];
    uint32_t k = rd16(buf + 4), nnz = rd32(buf + 8), ng = rd32(buf + 12);
    int sparse = (flags & MN_CB_SPARSE) != 0;
    int64_t total = (int64_t)rows * cols;
    if (ver != 1) return mn_error(MN_EFORMAT, "codebook store: version %d, expected 1", ver);
    if (bits < 1 || bits > MN_CB_MAX_BITS) return mn_error(MN_EFORMAT, "codebook store: %d index bits, expected 1..8", bits);
    if (flags & ~7u || (!sparse && (flags & MN_CB_HUFF_GAPS))) return mn_error(MN_EFORMAT, "codebook store: bad flags 0x%x", flags);
    if (sparse ? (gb < 1 || gb > 8) : gb != 0) return mn_error(MN_EFORMAT, "codebook store: bad gap width %d", gb);
    if (k < 1 || k > (1u << bits) || rd16(buf + 6) != 0) return mn_error(MN_EFORMAT, "codebook store: %u centroids for %d bits", k, bits);
    if (sparse ? ((int64_t)nnz > total || ng < nnz) : ((int64_t)nnz != total || ng != 0))
        return mn_error(MN_EFORMAT, "codebook store: %u entries / %u gaps do not fit a %dx%d weight", nnz, ng, rows, cols);
    if (len - HDR < 4 * (size_t)k) return mn_error(MN_EFORMAT, "codebook store: truncated centroids");
    /* Each value takes at least one bit: bound counts by the bytes there
     * before allocating anything. */
    if ((uint64_t)nnz + ng > (uint64_t)(len - HDR) * 8) return mn_error(MN_EFORMAT, "codebook store: counts exceed the data");
    mn_cb_impl *m = calloc(1, sizeof *m);
    uint32_t *v = malloc(sizeof *v * ((size_t)(nnz > ng ? nnz : ng) + 1));
    mn_status st = MN_OK;
    if (!m || !v) { st = mn_error(MN_ENOMEM, "out of memory"); goto fail; }
    m->bits = bits; m->k = (int)k; m->gap_bits = gb; m->flags = flags; m->nnz = nnz;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t u = rd32(buf + HDR + 4 * i);
        memcpy(&m->cb[i], &u, 4);
        if (!isfinite(m->cb[i])) { st = mn_error(MN_EFORMAT, "codebook store: centroid %u is not finite", i); goto fail; }
    }
    size_t off = HDR + 4 * (size_t)k;
    if ((st = read_stream(buf, len, &off, nnz, bits, (flags & MN_CB_HUFF_INDEX) != 0, k, "index", v))) goto fail;
    m->idx = malloc(nnz ? nnz : 1);
    if (!m->idx) { st = mn_error(MN_ENOMEM, "out of memory"); goto fail; }
    for (uint32_t i = 0; i < nnz; i++) m->idx[i] = (uint8_t)v[i];
    if (sparse) {
        if ((st = read_stream(buf, len, &off, ng, gb, (flags & MN_CB_HUFF_GAPS) != 0, 1u << gb, "gap", v))) goto fail;
        if ((st = build_sparse(m, v, ng, rows, cols))) goto fail;
    }
    if (off != len) { st = mn_error(MN_EFORMAT, "codebook store: %zu trailing bytes", len - off); goto fail; }
    free(v);
    m->bytes = len;
    s->kind = MN_ST_CODEBOOK;
    s->rows = rows;
    s->cols = cols;
    s->impl = m;
    return MN_OK;
fail:
    free(v);
    impl_free(m);
    return st;
}

mn_cb_mat mn_codebook_mat(const mn_store *s) {
    const mn_cb_impl *m = impl_of(s);
    return (mn_cb_mat){s->rows, s->cols, (m->flags & MN_CB_SPARSE) != 0, m->k, m->cb, m->nnz, m->idx, m->col, m->rowptr};
}

static void cb_xwt(const mn_store *s, const float *x, int batch, float *y, void *work) {
    (void)work;
    mn_cb_mat v = mn_codebook_mat(s);
    mn_cb_xwt(&v, x, batch, y);
}

static void cb_wb(const mn_store *s, const float *B, int n, int64_t ldb, float *C, int64_t ldc, void *work) {
    (void)work;
    mn_cb_mat v = mn_codebook_mat(s);
    mn_cb_wb(&v, B, n, ldb, C, ldc);
}

const mn_store_traits mn_st_codebook = {
    "codebook", cb_bytes, cb_decode, cb_serialize, cb_deserialize, cb_free, cb_xwt, cb_wb, NULL, NULL, NULL,
};

/* ---- building ---- */

typedef struct { float v; int i; } cbent;
static int cbent_cmp(const void *a, const void *b) {
    float x = ((const cbent *)a)->v, y = ((const cbent *)b)->v;
    return x < y ? -1 : x > y;
}

/* Index of value x in the sorted codebook, or -1. */
static int lookup(const cbent *t, int k, float x) {
    int lo = 0, hi = k - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (t[mid].v == x) return t[mid].i;
        if (t[mid].v < x) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

/* Bytes of a stream of v[0..n), choosing Huffman when allowed and smaller. */
static mn_status best_stream(const uint32_t *v, int64_t n, int width, int huff, size_t *bytes, int *use_huff) {
    *bytes = packed_bytes(n, width);
    *use_huff = 0;
    if (!huff) return MN_OK;
    blob b = {0};
    mn_status st = stream(v, n, width, 1, &b);
    if (st) return st;
    if (b.n < *bytes) { *bytes = b.n; *use_huff = 1; }
    free(b.p);
    return MN_OK;
}

mn_status mn_codebook_new(const float *w, int rows, int cols, const float *cb, int k, int bits,
                          int huffman, mn_store **out) {
    *out = NULL;
    if (bits < 1 || bits > MN_CB_MAX_BITS) return mn_error(MN_EARG, "codebook: %d bits, expected 1..8", bits);
    if (k < 1 || k > (1 << bits)) return mn_error(MN_EARG, "codebook: %d centroids do not fit %d bits", k, bits);
    if (rows <= 0 || cols <= 0 || (int64_t)rows * cols > INT32_MAX) return mn_error(MN_EARG, "codebook: bad shape %dx%d", rows, cols);
    int64_t total = (int64_t)rows * cols, nnz = 0;
    cbent t[256];
    for (int i = 0; i < k; i++) {
        if (!isfinite(cb[i])) return mn_error(MN_EARG, "codebook: centroid %d is not finite", i);
        t[i] = (cbent){cb[i], i};
    }
    qsort(t, (size_t)k, sizeof *t, cbent_cmp);
    int zidx = lookup(t, k, 0.0f);
    mn_cb_impl *m = calloc(1, sizeof *m);
    uint8_t *didx = NULL;
    uint32_t *v = NULL;
    mn_status st = MN_OK;
    if (!m) return mn_error(MN_ENOMEM, "out of memory");
    m->bits = bits;
    m->k = k;
    memcpy(m->cb, cb, sizeof(float) * (size_t)k);
    for (int64_t i = 0; i < total; i++) nnz += w[i] != 0;
    int can_dense = nnz == total || zidx >= 0;
    m->rowptr = calloc((size_t)rows + 1, sizeof *m->rowptr);
    m->col = malloc(sizeof *m->col * (size_t)(nnz ? nnz : 1));
    m->idx = malloc((size_t)(nnz ? nnz : 1));
    didx = can_dense ? malloc((size_t)total) : NULL;
    if (!m->rowptr || !m->col || !m->idx || (can_dense && !didx)) { st = mn_error(MN_ENOMEM, "out of memory"); goto fail; }
    int64_t e = 0;
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            float x = w[(int64_t)r * cols + c];
            int id = x == 0 ? zidx : lookup(t, k, x);
            if (x != 0 && id < 0) { st = mn_error(MN_EARG, "codebook: weight %g at (%d, %d) is not a centroid", x, r, c); goto fail; }
            if (didx) didx[(int64_t)r * cols + c] = (uint8_t)id;
            if (x != 0) { m->col[e] = (uint32_t)c; m->idx[e++] = (uint8_t)id; }
        }
        m->rowptr[r + 1] = (uint32_t)e;
    }
    m->nnz = nnz;
    /* Sparse: the index stream over the nonzeros plus the best gap width. */
    size_t base = HDR + 4 * (size_t)k, ib, gbytes, best_sparse = SIZE_MAX;
    int ih, gh, best_gb = 1, best_gh = 0;
    if ((st = index_values(m, &v))) goto fail;
    if ((st = best_stream(v, nnz, bits, huffman, &ib, &ih))) goto fail;
    free(v);
    v = NULL;
    for (int gb = 1; gb <= 8; gb++) {
        int64_t ng;
        if ((st = gap_values(m, rows, cols, gb, &v, &ng))) goto fail;
        if ((st = best_stream(v, ng, gb, huffman, &gbytes, &gh))) goto fail;
        free(v);
        v = NULL;
        if (base + ib + gbytes < best_sparse) { best_sparse = base + ib + gbytes; best_gb = gb; best_gh = gh; }
    }
    size_t best_dense = SIZE_MAX;
    int dh = 0;
    if (didx) {
        mn_cb_impl dm = *m;
        dm.idx = didx;
        dm.nnz = total;
        if ((st = index_values(&dm, &v))) goto fail;
        size_t db;
        if ((st = best_stream(v, total, bits, huffman, &db, &dh))) goto fail;
        free(v);
        v = NULL;
        best_dense = base + db;
    }
    if (best_dense <= best_sparse) {
        /* Dense runs on the simpler kernel, so it wins ties. */
        free(m->idx); free(m->col); free(m->rowptr);
        m->col = NULL;
        m->rowptr = NULL;
        m->idx = didx;
        didx = NULL;
        m->nnz = total;
        m->flags = dh ? MN_CB_HUFF_INDEX : 0;
        m->bytes = best_dense;
    } else {
        m->flags = MN_CB_SPARSE | (ih ? MN_CB_HUFF_INDEX : 0) | (best_gh ? MN_CB_HUFF_GAPS : 0);
        m->gap_bits = best_gb;
        m->bytes = best_sparse;
    }
    free(didx);
    mn_store *s = calloc(1, sizeof *s);
    if (!s) { st = mn_error(MN_ENOMEM, "out of memory"); impl_free(m); return st; }
    s->kind = MN_ST_CODEBOOK;
    s->rows = rows;
    s->cols = cols;
    s->impl = m;
    *out = s;
    return MN_OK;
fail:
    free(v);
    free(didx);
    impl_free(m);
    return st;
}

mn_status mn_codebook_info_of(const mn_store *s, mn_codebook_info *info) {
    memset(info, 0, sizeof *info);
    if (!s || s->kind != MN_ST_CODEBOOK || !s->impl) return mn_error(MN_EARG, "not a codebook store");
    const mn_cb_impl *m = impl_of(s);
    info->bits = m->bits;
    info->k = m->k;
    info->sparse = (m->flags & MN_CB_SPARSE) != 0;
    info->gap_bits = m->gap_bits;
    info->huff_index = (m->flags & MN_CB_HUFF_INDEX) != 0;
    info->huff_gaps = (m->flags & MN_CB_HUFF_GAPS) != 0;
    info->entries = m->nnz;
    info->bytes = m->bytes;
    /* Stream sizes: re-serialize (cheap at these sizes) and split. */
    unsigned char *buf;
    size_t len;
    if (serialize_impl(m, s->rows, s->cols, &buf, &len)) return MN_OK;
    info->gaps = rd32(buf + 12);
    size_t off = HDR + 4 * (size_t)m->k;
    info->index_bytes = info->huff_index ? 4 + rd32(buf + off) : packed_bytes(m->nnz, m->bits);
    info->gap_bytes = len - off - info->index_bytes;
    free(buf);
    return MN_OK;
}

const float *mn_codebook_centroids(const mn_store *s, int *k) {
    if (!s || s->kind != MN_ST_CODEBOOK || !s->impl) return NULL;
    *k = impl_of(s)->k;
    return impl_of(s)->cb;
}

mn_status mn_codebook_recode(const mn_store *s, int huffman, mn_store **out) {
    if (!s || s->kind != MN_ST_CODEBOOK || !s->impl) return mn_error(MN_EARG, "not a codebook store");
    const mn_cb_impl *m = impl_of(s);
    *out = NULL;
    float *w = malloc(sizeof(float) * (size_t)s->rows * (size_t)s->cols);
    if (!w) return mn_error(MN_ENOMEM, "out of memory");
    cb_decode(s, w);
    mn_status st = mn_codebook_new(w, s->rows, s->cols, m->cb, m->k, m->bits, huffman, out);
    free(w);
    return st;
}
