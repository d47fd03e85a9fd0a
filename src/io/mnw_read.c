/* The .mnw reader.  The file may be hostile (a fuzzer, a truncated download,
 * a flipped bit), so every offset, length and count is checked against the
 * bytes actually present before it is used, counts are bounded by the bytes
 * left before anything is allocated for them, and every section's CRC is
 * checked before its content is parsed.  Layout: docs/FORMAT.md. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/mnw_fmt.h"
#include "minnow/io.h"
#include "store/store.h"
#include "core/file.h"
#include "nn/param_store.h"

#define TRY(x) do { mn_status s_ = (x); if (s_ != MN_OK) return s_; } while (0)

/* A read position inside one section. */
typedef struct cur {
    const unsigned char *p;
    size_t n, at;
    const char *sec;   /* section name, for messages */
    const char *label; /* file name, for messages */
} cur;

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static mn_status need(cur *c, size_t k, const char *what) {
    if (k <= c->n - c->at) return MN_OK;
    return mn_error(MN_EFORMAT, "%s: truncated: %s needs %zu bytes at offset %zu of section %s, which has %zu",
                    c->label, what, k, c->at, c->sec, c->n);
}

static mn_status rd_u32(cur *c, uint32_t *v, const char *what) {
    TRY(need(c, 4, what));
    *v = (uint32_t)get_le(c->p + c->at, 4);
    c->at += 4;
    return MN_OK;
}

static mn_status rd_u64(cur *c, uint64_t *v, const char *what) {
    TRY(need(c, 8, what));
    *v = get_le(c->p + c->at, 8);
    c->at += 8;
    return MN_OK;
}

/* A u16-length string into dst (cap bytes with the terminator). */
static mn_status rd_str(cur *c, char *dst, size_t cap, const char *what) {
    TRY(need(c, 2, what));
    size_t n = (size_t)get_le(c->p + c->at, 2);
    c->at += 2;
    TRY(need(c, n, what));
    if (n >= cap)
        return mn_error(MN_EFORMAT, "%s: section %s: %s of %zu bytes is longer than the limit of %zu",
                        c->label, c->sec, what, n, cap - 1);
    if (memchr(c->p + c->at, 0, n))
        return mn_error(MN_EFORMAT, "%s: section %s: %s contains a NUL byte", c->label, c->sec, what);
    memcpy(dst, c->p + c->at, n);
    dst[n] = 0;
    c->at += n;
    return MN_OK;
}

/* A u32 count of records of at least `minrec` bytes each: a count the
 * remaining bytes cannot hold is rejected before anything is allocated. */
static mn_status rd_count(cur *c, size_t minrec, uint32_t max, uint32_t *v, const char *what) {
    TRY(rd_u32(c, v, what));
    if (*v > max)
        return mn_error(MN_EFORMAT, "%s: section %s: %s %u is more than the limit of %u",
                        c->label, c->sec, what, *v, max);
    if (*v > (c->n - c->at) / minrec)
        return mn_error(MN_EFORMAT, "%s: section %s: %s %u cannot fit in the %zu bytes left",
                        c->label, c->sec, what, *v, c->n - c->at);
    return MN_OK;
}

static mn_status at_end(const cur *c) {
    if (c->at == c->n) return MN_OK;
    return mn_error(MN_EFORMAT, "%s: section %s has %zu unexpected bytes after its content",
                    c->label, c->sec, c->n - c->at);
}

/* Re-labels an error from the graph builder as a format error of this file
 * (copied first: the message buffer is also the destination). */
static mn_status wrap(const char *label, const char *what) {
    char msg[400];
    snprintf(msg, sizeof msg, "%s", mn_errmsg());
    return mn_error(MN_EFORMAT, "%s: %s: %s", label, what, msg);
}

static mn_status read_meta(cur *c, mn_graph *g) {
    uint32_t n;
    TRY(rd_count(c, 4, MN_META_MAX, &n, "metadata count"));
    for (uint32_t i = 0; i < n; i++) {
        char key[MN_NAME_MAX], val[sizeof g->meta[0].val];
        TRY(rd_str(c, key, sizeof key, "metadata key"));
        TRY(rd_str(c, val, sizeof val, "metadata value"));
        if (mn_graph_get_meta(g, key))
            return mn_error(MN_EFORMAT, "%s: section META: duplicate key '%s'", c->label, key);
        if (mn_graph_set_meta(g, key, val) != MN_OK) return wrap(c->label, "metadata");
    }
    return at_end(c);
}

static mn_status read_attrs(cur *c, const char *node, mn_attrs *a) {
    uint32_t n;
    unsigned seen = 0;
    /* name (>= 3 bytes with its length), type, value */
    TRY(rd_count(c, 11, MN_NATTRS, &n, "attribute count"));
    for (uint32_t i = 0; i < n; i++) {
        char name[MN_NAME_MAX];
        uint32_t type, v;
        TRY(rd_str(c, name, sizeof name, "attribute name"));
        TRY(rd_u32(c, &type, "attribute type"));
        TRY(rd_u32(c, &v, "attribute value"));
        int k = 0;
        while (k < MN_NATTRS && strcmp(mn_attr_schema[k].name, name) != 0) k++;
        /* An attribute this reader does not know changes what the node
         * computes, so ignoring it would silently give a different model. */
        if (k == MN_NATTRS)
            return mn_error(MN_EFORMAT, "%s: node '%s': unknown attribute '%s' (written by a newer minnow?)",
                            c->label, node, name);
        if (seen & (1u << k))
            return mn_error(MN_EFORMAT, "%s: node '%s': attribute '%s' appears twice", c->label, node, name);
        seen |= 1u << k;
        if (type != mn_attr_schema[k].type)
            return mn_error(MN_EFORMAT, "%s: node '%s': attribute '%s' has type %u, expected %u",
                            c->label, node, name, type, mn_attr_schema[k].type);
        if (type == MN_ATTR_F32 && (v & 0x7f800000u) == 0x7f800000u)
            return mn_error(MN_EFORMAT, "%s: node '%s': attribute '%s' is not finite", c->label, node, name);
        if (type == MN_ATTR_I32 && (v & 0x80000000u))
            return mn_error(MN_EFORMAT, "%s: node '%s': attribute '%s' is negative", c->label, node, name);
        memcpy((char *)a + mn_attr_schema[k].off, &v, 4);
    }
    return MN_OK;
}

static mn_status read_graph(cur *c, mn_graph *g) {
    uint32_t n;
    /* op and name strings (>= 3 bytes each), input count, attribute count */
    TRY(rd_count(c, 14, MNW_MAX_NODES, &n, "node count"));
    for (uint32_t i = 0; i < n; i++) {
        char op[MN_NAME_MAX], name[MN_NAME_MAX], in[MN_MAX_IN][MN_NAME_MAX];
        const char *inp[MN_MAX_IN];
        uint32_t nin;
        mn_attrs a;
        memset(&a, 0, sizeof a);
        TRY(rd_str(c, op, sizeof op, "op name"));
        TRY(rd_str(c, name, sizeof name, "node name"));
        mn_op o = mn_op_from_name(op);
        if (o == MN_OP__COUNT)
            return mn_error(MN_EFORMAT, "%s: node '%s': unknown op '%s' (written by a newer minnow?)",
                            c->label, name, op);
        TRY(rd_u32(c, &nin, "input count"));
        if (nin > MN_MAX_IN)
            return mn_error(MN_EFORMAT, "%s: node '%s' has %u inputs, more than %d", c->label, name, nin, MN_MAX_IN);
        for (uint32_t j = 0; j < nin; j++) {
            TRY(rd_str(c, in[j], sizeof in[j], "input name"));
            inp[j] = in[j];
        }
        TRY(read_attrs(c, name, &a));
        if (mn_graph_add(g, o, name, inp, (int)nin, &a) < 0) return wrap(c->label, "graph");
    }
    return at_end(c);
}

typedef struct trec {
    char name[2 * MN_NAME_MAX];
    mn_shape shape;
    int64_t n;
    uint64_t off, len;
    uint32_t kind;
} trec;

static mn_status read_tensor(cur *c, uint64_t data_len, trec *t) {
    uint32_t ndim, kind, hlen;
    uint64_t off, len;
    TRY(rd_str(c, t->name, sizeof t->name, "tensor name"));
    if (!t->name[0]) return mn_error(MN_EFORMAT, "%s: section TENS: empty tensor name", c->label);
    TRY(rd_u32(c, &ndim, "tensor rank"));
    if (ndim < 1 || ndim > MN_MAX_DIMS)
        return mn_error(MN_EFORMAT, "%s: tensor '%s': rank %u is out of range 1..%d", c->label, t->name, ndim, MN_MAX_DIMS);
    t->shape.ndim = (int)ndim;
    t->n = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint32_t v;
        TRY(rd_u32(c, &v, "tensor dimension"));
        /* The graph never declares more than 2^31 values in one parameter;
         * bounding here also keeps n*4 far from overflow. */
        if (v == 0 || (int64_t)v > (INT64_C(1) << 31) / t->n)
            return mn_error(MN_EFORMAT, "%s: tensor '%s': dimension %u of %u is zero or the shape is too large",
                            c->label, t->name, d, v);
        t->shape.d[d] = (int)v;
        t->n *= v;
    }
    TRY(rd_u32(c, &kind, "storage kind"));
    if (kind != MNW_KIND_F32 && !mn_store_traits_of((mn_storage_kind)kind))
        return mn_error(MN_EUNSUPPORTED, "%s: tensor '%s': storage kind %u is not supported by this minnow "
                        "(written by a newer version?)", c->label, t->name, kind);
    TRY(rd_u32(c, &hlen, "kind header length"));
    if (hlen != 0)
        return mn_error(MN_EFORMAT, "%s: tensor '%s': storage has a %u-byte kind header, expected none",
                        c->label, t->name, hlen);
    TRY(rd_u64(c, &off, "data offset"));
    TRY(rd_u64(c, &len, "data length"));
    t->kind = kind;
    if (kind == MNW_KIND_F32 && len != (uint64_t)t->n * 4)
        return mn_error(MN_EFORMAT, "%s: tensor '%s': data length %llu, expected %lld for %lld f32 values",
                        c->label, t->name, (unsigned long long)len, (long long)t->n * 4, (long long)t->n);
    if (off % MNW_ALIGN)
        return mn_error(MN_EFORMAT, "%s: tensor '%s': data offset %llu is not %u-byte aligned",
                        c->label, t->name, (unsigned long long)off, MNW_ALIGN);
    if (off > data_len || len > data_len - off)
        return mn_error(MN_EFORMAT, "%s: tensor '%s': data at %llu+%llu lies outside the DATA section of %llu bytes",
                        c->label, t->name, (unsigned long long)off, (unsigned long long)len,
                        (unsigned long long)data_len);
    t->off = off;
    t->len = len;
    return MN_OK;
}

static int shape_str(const mn_shape *s, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "[");
    for (int i = 0; i < s->ndim && k > 0 && (size_t)k < cap; i++)
        k += snprintf(buf + k, cap - k, i ? ",%d" : "%d", s->d[i]);
    if (k > 0 && (size_t)k < cap) k += snprintf(buf + k, cap - k, "]");
    return k;
}

/* Matches each stored tensor to the parameter the graph declared under its
 * name, shape for shape, and copies its values. */
static mn_status fill_params(const char *label, mn_graph *g, const trec *t, uint32_t nt,
                             const unsigned char *data) {
    char *seen = calloc(g->nparams ? (size_t)g->nparams : 1, 1);
    if (!seen) return mn_error(MN_ENOMEM, "%s: out of memory", label);
    mn_status st = MN_OK;
    for (uint32_t i = 0; i < nt && st == MN_OK; i++) {
        int p = mn_graph_find_param(g, t[i].name);
        char a[64], b[64];
        if (p < 0) {
            st = mn_error(MN_EFORMAT, "%s: tensor '%s' is not a parameter of the stored graph", label, t[i].name);
        } else if (seen[p]) {
            st = mn_error(MN_EFORMAT, "%s: tensor '%s' appears twice", label, t[i].name);
        } else if (t[i].shape.ndim != g->params[p].shape.ndim ||
                   memcmp(t[i].shape.d, g->params[p].shape.d, sizeof(int) * (size_t)t[i].shape.ndim) != 0) {
            shape_str(&t[i].shape, a, sizeof a);
            shape_str(&g->params[p].shape, b, sizeof b);
            st = mn_error(MN_EFORMAT, "%s: tensor '%s' has shape %s but the graph declares %s", label, t[i].name, a, b);
        } else if (t[i].kind != MNW_KIND_F32) {
            /* The kind's own parser validates its bytes; decoding it also
             * fills g->w, so the f32 path below is not needed. */
            seen[p] = 1;
            int rows, cols;
            mn_param_matrix(g, p, &rows, &cols);
            mn_store *s = calloc(1, sizeof *s);
            if (!s) { st = mn_error(MN_ENOMEM, "%s: out of memory", label); break; }
            s->kind = (mn_storage_kind)t[i].kind;
            st = mn_store_traits_of(s->kind)->deserialize(data + t[i].off, (size_t)t[i].len, rows, cols, s);
            if (st) {
                free(s);
                char msg[400];
                snprintf(msg, sizeof msg, "%s", mn_errmsg());
                st = mn_error(MN_EFORMAT, "%s: tensor '%s': %s", label, t[i].name, msg);
            } else if ((st = mn_param_set_store(g, p, s))) {
                mn_store_free(s);
            }
        } else {
            seen[p] = 1;
            float *w = mn_param_data(g, p);
            const unsigned char *src = data + t[i].off;
            for (int64_t j = 0; j < t[i].n; j++) {
                uint32_t u = (uint32_t)get_le(src + 4 * j, 4);
                /* A NaN or Inf weight poisons every output; refuse it here
                 * rather than at the first forward pass. */
                if ((u & 0x7f800000u) == 0x7f800000u) {
                    st = mn_error(MN_EFORMAT, "%s: tensor '%s': value %lld is not finite", label, t[i].name, (long long)j);
                    break;
                }
                memcpy(&w[j], &u, 4);
            }
        }
    }
    for (int p = 0; p < g->nparams && st == MN_OK; p++)
        if (!seen[p]) st = mn_error(MN_EFORMAT, "%s: parameter '%s' is missing from the file", label, g->params[p].name);
    free(seen);
    return st;
}

typedef struct sect { uint32_t tag; uint64_t off, len; } sect;

static const char *tag_name(uint32_t tag, char buf[16]) {
    for (int i = 0; i < 4; i++) {
        unsigned char ch = (unsigned char)(tag >> (8 * i));
        if (ch < 0x20 || ch > 0x7e) { snprintf(buf, 16, "0x%08x", tag); return buf; }
        buf[i] = (char)ch;
    }
    buf[4] = 0;
    return buf;
}

/* Header, section table, alignment, bounds, overlap, zero padding and CRCs.
 * req[] gets the META, GRPH, TENS and DATA entries. */
/* The fixed header and the section table's CRC, on the first `len` bytes
 * of a file (the whole file, or what mn__mnw_peek read of it): *ns gets the
 * section count. */
mn_status mn__mnw_check_header(const unsigned char *buf, size_t len, const char *label, uint32_t *ns_out) {
    if (len < 4 || memcmp(buf, MNW_MAGIC, 4) != 0)
        return mn_error(MN_EFORMAT, "%s: not a minnow model (no \"MNW1\" magic)", label);
    if (len < MNW_HDR_FIXED)
        return mn_error(MN_EFORMAT, "%s: truncated: the header needs %u bytes but the file has %zu", label, MNW_HDR_FIXED, len);
    uint32_t ver = (uint32_t)get_le(buf + 4, 4), ns = (uint32_t)get_le(buf + 8, 4);
    if (ver != MNW_VERSION)
        return mn_error(ver > MNW_VERSION ? MN_EUNSUPPORTED : MN_EFORMAT,
                        "%s: format version %u; this minnow reads version %u", label, ver, MNW_VERSION);
    if (ns == 0 || ns > MNW_MAX_SECTIONS)
        return mn_error(MN_EFORMAT, "%s: section count %u is out of range 1..%u", label, ns, MNW_MAX_SECTIONS);
    size_t hs = MNW_HDR_SIZE(ns);
    if (hs > len)
        return mn_error(MN_EFORMAT, "%s: truncated: the header of %u sections ends at %zu but the file has %zu bytes",
                        label, ns, hs, len);
    uint32_t hcrc = (uint32_t)get_le(buf + hs - 4, 4), hcalc = (uint32_t)crc32_z(0L, buf, hs - 4);
    if (hcrc != hcalc)
        return mn_error(MN_EFORMAT, "%s: header CRC mismatch (stored %08x, computed %08x)", label, hcrc, hcalc);
    *ns_out = ns;
    return MN_OK;
}

static mn_status read_header(const unsigned char *buf, size_t len, const char *label, sect req[4]) {
    static const uint32_t want[4] = {MNW_TAG_META, MNW_TAG_GRPH, MNW_TAG_TENS, MNW_TAG_DATA};
    uint32_t ns;
    mn_status st = mn__mnw_check_header(buf, len, label, &ns);
    if (st) return st;
    size_t hs = MNW_HDR_SIZE(ns);

    sect s[MNW_MAX_SECTIONS];
    int found[4] = {0};
    char tn[16], tn2[16];
    for (uint32_t i = 0; i < ns; i++) {
        const unsigned char *e = buf + MNW_HDR_FIXED + MNW_SECTION_ENTRY * (size_t)i;
        s[i].tag = (uint32_t)get_le(e, 4);
        s[i].off = get_le(e + 4, 8);
        s[i].len = get_le(e + 12, 8);
        uint32_t crc = (uint32_t)get_le(e + 20, 4);
        tag_name(s[i].tag, tn);
        if (s[i].off % MNW_ALIGN)
            return mn_error(MN_EFORMAT, "%s: section %s offset %llu is not %u-byte aligned", label, tn,
                            (unsigned long long)s[i].off, MNW_ALIGN);
        if (s[i].off < hs)
            return mn_error(MN_EFORMAT, "%s: section %s at offset %llu overlaps the header", label, tn,
                            (unsigned long long)s[i].off);
        if (s[i].off > len || s[i].len > len - s[i].off) {
            unsigned long long end = s[i].len > UINT64_MAX - s[i].off ? UINT64_MAX : s[i].off + s[i].len;
            return mn_error(MN_EFORMAT, "%s: truncated: section %s ends at %llu but the file has %zu bytes",
                            label, tn, end, len);
        }
        uint32_t calc = (uint32_t)crc32_z(0L, buf + s[i].off, (size_t)s[i].len);
        if (calc != crc)
            return mn_error(MN_EFORMAT, "%s: section %s CRC mismatch (stored %08x, computed %08x)", label, tn, crc, calc);
        for (int k = 0; k < 4; k++) {
            if (s[i].tag != want[k]) continue;
            if (found[k]) return mn_error(MN_EFORMAT, "%s: section %s appears twice", label, tn);
            found[k] = 1;
            req[k] = s[i];
        }
        /* Other tags are sections a later minor revision may add; they are
         * bounds- and CRC-checked like the rest, then skipped. */
    }
    for (int k = 0; k < 4; k++)
        if (!found[k]) return mn_error(MN_EFORMAT, "%s: missing section %s", label, tag_name(want[k], tn));
    /* Sorted by offset, sections must not overlap, and every byte outside
     * the header and the sections must be zero padding, so that no byte of
     * the file escapes a CRC. */
    for (uint32_t i = 1; i < ns; i++)
        for (uint32_t j = i; j > 0 && s[j].off < s[j - 1].off; j--) {
            sect t = s[j]; s[j] = s[j - 1]; s[j - 1] = t;
        }
    uint64_t prev = hs;
    for (uint32_t i = 0; i <= ns; i++) {
        uint64_t next = i < ns ? s[i].off : len;
        if (next < prev)
            return mn_error(MN_EFORMAT, "%s: sections %s and %s overlap", label, tag_name(s[i - 1].tag, tn),
                            tag_name(s[i].tag, tn2));
        for (uint64_t b = prev; b < next; b++)
            if (buf[b]) return mn_error(MN_EFORMAT, "%s: non-zero byte at offset %llu outside every section",
                                        label, (unsigned long long)b);
        if (i < ns) prev = s[i].off + s[i].len;
    }
    return MN_OK;
}

static mn_status parse(const unsigned char *buf, size_t len, mn_graph *g, const char *label) {
    sect s[4] = {{0}};
    TRY(read_header(buf, len, label, s));
    cur meta = {buf + s[0].off, (size_t)s[0].len, 0, "META", label};
    cur grph = {buf + s[1].off, (size_t)s[1].len, 0, "GRPH", label};
    cur tens = {buf + s[2].off, (size_t)s[2].len, 0, "TENS", label};
    TRY(read_meta(&meta, g));
    TRY(read_graph(&grph, g));

    uint32_t nt;
    /* name (>= 3 bytes), rank, one dimension, kind, header length, offset, length */
    TRY(rd_count(&tens, 3 + 4 + 4 + 4 + 4 + 16, MNW_MAX_TENSORS, &nt, "tensor count"));
    trec *t = calloc(nt ? nt : 1, sizeof *t);
    if (!t) return mn_error(MN_ENOMEM, "%s: out of memory for %u tensor records", label, nt);
    mn_status st = MN_OK;
    for (uint32_t i = 0; i < nt && st == MN_OK; i++) st = read_tensor(&tens, s[3].len, &t[i]);
    if (st == MN_OK) st = at_end(&tens);
    /* The stored tensors bound what the graph may allocate: a patched
     * attribute cannot make a 1 KB file cost gigabytes. */
    int64_t cap = 0;
    for (uint32_t i = 0; i < nt; i++) cap += (t[i].n + 15) & ~(int64_t)15;
    /* A compressed kind may describe far more values than it has bytes (a
     * CSR row with no entries costs 4 bytes however wide it is), and
     * tensors may share data; so the values all tensors declare together
     * are bounded by the DATA bytes: a 4 KB file cannot make the graph
     * allocate gigabytes. */
    if (st == MN_OK && !mnw_expansion_ok(cap, s[3].len))
        st = mn_error(MN_EFORMAT, "%s: the tensors declare %lld values but DATA holds only %llu bytes "
                      "(at most %d values per byte)", label, (long long)cap,
                      (unsigned long long)s[3].len, MNW_MAX_EXPANSION);
    if (st == MN_OK && mn_graph_finalize_max(g, cap) != MN_OK) st = wrap(label, "graph");
    if (st == MN_OK && (int64_t)nt != g->nparams)
        st = mn_error(MN_EFORMAT, "%s: the file stores %u tensors but the graph declares %d parameters",
                      label, nt, g->nparams);
    if (st == MN_OK) st = fill_params(label, g, t, nt, buf + s[3].off);
    free(t);
    return st;
}

mn_status mn_model_load_mem(const unsigned char *buf, size_t len, mn_graph *g) {
    mn_graph_init(g);
    mn_status st = parse(buf, len, g, "(memory)");
    /* Never hand back half a model: the caller gets a model or an empty graph. */
    if (st != MN_OK) mn_graph_free(g);
    return st;
}

mn_status mn_model_load(const char *path, mn_graph *g) {
    mn_graph_init(g);
    unsigned char *buf;
    size_t len;
    mn_status st = mn__mnw_peek(path);
    if (st != MN_OK) return st;
    st = mn_read_file(path, &buf, &len);
    if (st != MN_OK) return st;
    st = parse(buf, len, g, path);
    if (st != MN_OK) mn_graph_free(g);
    free(buf);
    return st;
}
