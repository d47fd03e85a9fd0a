/* The .mnw writer: the whole file is laid out in memory (docs/FORMAT.md),
 * every field written byte by byte in little-endian order so that the file
 * is the same on every host, then written atomically. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/mnw_fmt.h"
#include "minnow/io.h"
#include "store/store.h"
#include "core/file.h"

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} wbuf;

static unsigned char *wb_grow(wbuf *b, size_t k) {
    if (b->oom) return NULL;
    if (k > SIZE_MAX - b->n) { b->oom = 1; return NULL; }
    if (b->n + k > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + k) {
            if (cap > SIZE_MAX / 2) { b->oom = 1; return NULL; }
            cap *= 2;
        }
        unsigned char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return NULL; }
        b->p = p;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->n;
    b->n += k;
    return at;
}

static void put_le(unsigned char *at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) at[i] = (unsigned char)(v >> (8 * i));
}

static void wb_u16(wbuf *b, uint32_t v) { unsigned char *at = wb_grow(b, 2); if (at) put_le(at, v, 2); }
static void wb_u32(wbuf *b, uint32_t v) { unsigned char *at = wb_grow(b, 4); if (at) put_le(at, v, 4); }

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Strings are a u16 byte count and the bytes, no terminator.  Every string
 * minnow writes comes from a fixed buffer far below 65535 bytes. */
static void wb_str(wbuf *b, const char *s) {
    size_t n = strlen(s);
    wb_u16(b, (uint32_t)n);
    unsigned char *at = wb_grow(b, n);
    if (at) memcpy(at, s, n);
}

static void write_meta(wbuf *b, const mn_graph *g) {
    wb_u32(b, (uint32_t)g->nmeta);
    for (int i = 0; i < g->nmeta; i++) {
        wb_str(b, g->meta[i].key);
        wb_str(b, g->meta[i].val);
    }
}

static void write_graph(wbuf *b, const mn_graph *g) {
    wb_u32(b, (uint32_t)g->nnodes);
    for (int i = 0; i < g->nnodes; i++) {
        const mn_node *nd = &g->nodes[i];
        wb_str(b, mn_op_name(nd->op));
        wb_str(b, nd->name);
        wb_u32(b, (uint32_t)nd->nin);
        for (int j = 0; j < nd->nin; j++) wb_str(b, nd->in_names[j]);
        /* Only non-default (non-zero) attributes, so a reader that knows an
         * attribute the writer did not still gets its default. */
        uint32_t na = 0;
        for (int k = 0; k < MN_NATTRS; k++) {
            uint32_t v;
            memcpy(&v, (const char *)&nd->a + mn_attr_schema[k].off, 4);
            na += v != 0;
        }
        wb_u32(b, na);
        for (int k = 0; k < MN_NATTRS; k++) {
            uint32_t v;
            memcpy(&v, (const char *)&nd->a + mn_attr_schema[k].off, 4);
            if (!v) continue;
            wb_str(b, mn_attr_schema[k].name);
            wb_u32(b, mn_attr_schema[k].type);
            wb_u32(b, v); /* i32 two's complement or f32 bits */
        }
    }
}

/* The tensor table; *data_len gets the DATA section's size.  A parameter
 * with a compressed store is written as its kind's serialized bytes (blob[i],
 * malloc'd here, freed by the caller); plain ones as f32. */
static mn_status write_tensors(wbuf *b, const mn_graph *g, uint64_t *data_len,
                               unsigned char **blob, size_t *blen) {
    uint64_t at = 0;
    wb_u32(b, (uint32_t)g->nparams);
    for (int i = 0; i < g->nparams; i++) {
        const mn_param *p = &g->params[i];
        uint32_t kind = MNW_KIND_F32;
        uint64_t bytes = (uint64_t)p->n * 4;
        if (p->store) {
            const mn_store_traits *t = mn_store_traits_of(p->store->kind);
            if (!t) return mn_error(MN_EUNSUPPORTED, "tensor '%s': storage kind %d is not available", p->name, (int)p->store->kind);
            mn_status st = t->serialize(p->store, &blob[i], &blen[i]);
            if (st) return st;
            kind = (uint32_t)p->store->kind;
            bytes = blen[i];
        }
        wb_str(b, p->name);
        wb_u32(b, (uint32_t)p->shape.ndim);
        for (int d = 0; d < p->shape.ndim; d++) wb_u32(b, (uint32_t)p->shape.d[d]);
        wb_u32(b, kind);
        wb_u32(b, 0); /* no separate kind header: a kind's blob carries its own */
        at = mnw_align((size_t)at);
        unsigned char *f = wb_grow(b, 16);
        if (f) { put_le(f, at, 8); put_le(f + 8, bytes, 8); }
        at += bytes;
    }
    *data_len = at;
    return MN_OK;
}

mn_status mn_model_save_mem(const mn_graph *g, unsigned char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (!g->finalized) return mn_error(MN_EARG, "cannot save a graph that is not finalized");
    for (int i = 0; i < g->nnodes; i++)
        if (!mn_op_name(g->nodes[i].op))
            return mn_error(MN_EARG, "node %s has an unknown op %d", g->nodes[i].name, (int)g->nodes[i].op);

    wbuf sec[3] = {{0}};
    uint64_t data_len = 0;
    unsigned char *file = NULL;
    unsigned char **blob = calloc((size_t)g->nparams + 1, sizeof *blob);
    size_t *blen = calloc((size_t)g->nparams + 1, sizeof *blen);
    mn_status st = MN_OK;
    if (!blob || !blen) { st = mn_error(MN_ENOMEM, "out of memory building the model file"); goto done; }
    write_meta(&sec[0], g);
    write_graph(&sec[1], g);
    if ((st = write_tensors(&sec[2], g, &data_len, blob, blen))) goto done;
    for (int s = 0; s < 3; s++)
        if (sec[s].oom) { st = mn_error(MN_ENOMEM, "out of memory building the model file"); goto done; }
    if (!mnw_expansion_ok(g->nw, data_len)) {
        st = mn_error(MN_EUNSUPPORTED, "the compressed tensors hold %lld values in %llu bytes, more than the "
                      "%d values per byte a reader accepts; store the emptiest layers dense",
                      (long long)g->nw, (unsigned long long)data_len, MNW_MAX_EXPANSION);
        goto done;
    }

    const uint32_t tags[4] = {MNW_TAG_META, MNW_TAG_GRPH, MNW_TAG_TENS, MNW_TAG_DATA};
    uint64_t off[4], len[4] = {sec[0].n, sec[1].n, sec[2].n, data_len};
    uint64_t end = MNW_HDR_SIZE(4);
    for (int s = 0; s < 4; s++) {
        off[s] = (end + MNW_ALIGN - 1) & ~(uint64_t)(MNW_ALIGN - 1);
        end = off[s] + len[s];
        if (end > MNW_FILE_MAX) {
            st = mn_error(MN_EUNSUPPORTED, "model file would exceed the 2 GiB limit");
            goto done;
        }
    }
    /* calloc: the padding between sections must be zero (the reader checks). */
    file = calloc(1, (size_t)end ? (size_t)end : 1);
    if (!file) { st = mn_error(MN_ENOMEM, "cannot allocate %llu bytes for the model file", (unsigned long long)end); goto done; }
    for (int s = 0; s < 3; s++)
        if (len[s]) memcpy(file + off[s], sec[s].p, (size_t)len[s]);
    /* DATA: each tensor at the offset write_tensors gave it (same rounding). */
    uint64_t at = 0;
    for (int i = 0; i < g->nparams; i++) {
        at = mnw_align((size_t)at);
        unsigned char *dst = file + off[3] + at;
        if (blob[i]) {
            memcpy(dst, blob[i], blen[i]);
            at += blen[i];
            continue;
        }
        const float *w = mn_param_data(g, i);
        for (int64_t j = 0; j < g->params[i].n; j++) put_le(dst + 4 * j, f32_bits(w[j]), 4);
        at += (uint64_t)g->params[i].n * 4;
    }

    memcpy(file, MNW_MAGIC, 4);
    put_le(file + 4, MNW_VERSION, 4);
    put_le(file + 8, 4, 4);
    for (int s = 0; s < 4; s++) {
        unsigned char *e = file + MNW_HDR_FIXED + MNW_SECTION_ENTRY * (size_t)s;
        uLong crc = crc32_z(0L, file + off[s], (size_t)len[s]);
        put_le(e, tags[s], 4);
        put_le(e + 4, off[s], 8);
        put_le(e + 12, len[s], 8);
        put_le(e + 20, (uint32_t)crc, 4);
    }
    size_t hcrc_at = MNW_HDR_SIZE(4) - 4;
    put_le(file + hcrc_at, (uint32_t)crc32_z(0L, file, hcrc_at), 4);
    *out = file;
    *out_len = (size_t)end;
    file = NULL;
done:
    for (int s = 0; s < 3; s++) free(sec[s].p);
    for (int i = 0; blob && i < g->nparams; i++) free(blob[i]);
    free(blob);
    free(blen);
    free(file);
    return st;
}

mn_status mn_model_save(const mn_graph *g, const char *path) {
    unsigned char *buf;
    size_t len;
    mn_status st = mn_model_save_mem(g, &buf, &len);
    if (st != MN_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mn_errmsg());
        return mn_error(st, "%s: %s", path, msg);
    }
    st = mn_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}
