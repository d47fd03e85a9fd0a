/* The .mnw model file: round trips, hostile and corrupt files, atomic writes. */
#include "testutil.h"

#include "minnow/io.h"
#include "minnow/sparse.h"
#include "core/file.h"
#include "nn/param_store.h"
#include "store/csr.h"
#include "store/store.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* ---- helpers ------------------------------------------------------------ */

static const char *tmp(const char *name) {
    static char buf[4][768];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_tmpdir(), name);
    return buf[k];
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The section table entry with this tag (independent of the reader). */
static unsigned char *entry(unsigned char *buf, const char *tag) {
    uint32_t ns = (uint32_t)le(buf + 8, 4);
    for (uint32_t i = 0; i < ns; i++)
        if (memcmp(buf + 12 + 24 * i, tag, 4) == 0) return buf + 12 + 24 * i;
    fail_msg("no section %s", tag);
    return NULL;
}
static unsigned char *sec(unsigned char *buf, const char *tag) { return buf + le(entry(buf, tag) + 4, 8); }
static size_t sec_len(unsigned char *buf, const char *tag) { return (size_t)le(entry(buf, tag) + 12, 8); }

/* Recomputes every section CRC and the header CRC, so a crafted edit gets
 * past the checksums and reaches the parser. */
static void fix_crcs(unsigned char *buf) {
    uint32_t ns = (uint32_t)le(buf + 8, 4);
    for (uint32_t i = 0; i < ns; i++) {
        unsigned char *e = buf + 12 + 24 * i;
        put(e + 20, crc32(0L, buf + le(e + 4, 8), (uInt)le(e + 12, 8)), 4);
    }
    size_t h = 12 + 24 * (size_t)ns;
    put(buf + h, crc32(0L, buf, (uInt)h), 4);
}

/* The first occurrence of n bytes within a section. */
static unsigned char *find_n(unsigned char *buf, const char *tag, const char *s, size_t n) {
    unsigned char *p = sec(buf, tag);
    size_t len = sec_len(buf, tag);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(p + i, s, n) == 0) return p + i;
    fail_msg("'%s' not in section %s", s, tag);
    return NULL;
}
static unsigned char *find_in(unsigned char *buf, const char *tag, const char *s) {
    return find_n(buf, tag, s, strlen(s));
}

static void assert_empty(const mn_graph *g) {
    assert_int_equal(g->nnodes, 0);
    assert_int_equal(g->nparams, 0);
    assert_null(g->nodes);
    assert_null(g->params);
    assert_null(g->w);
    assert_int_equal(g->finalized, 0);
}

/* Loads a copy of exactly len bytes (so ASan sees any overread); expects
 * status `want` and an empty graph after a failure. */
static mn_status load_copy(const unsigned char *buf, size_t len) {
    unsigned char *c = malloc(len ? len : 1);
    assert_non_null(c);
    memcpy(c, buf, len);
    mn_graph g;
    mn_status st = mn_model_load_mem(c, len, &g);
    if (st != MN_OK) assert_empty(&g);
    mn_graph_free(&g);
    free(c);
    return st;
}

static void expect_fail(const unsigned char *buf, size_t len, mn_status want, const char *msg_part) {
    mn_status st = load_copy(buf, len);
    if (st != want || (msg_part && !strstr(mn_errmsg(), msg_part)))
        fail_msg("expected %s containing '%s', got %s: %s", mn_status_name(want), msg_part ? msg_part : "",
                 mn_status_name(st), mn_errmsg());
}

/* Gives every parameter distinct values (bn variances positive), so a
 * parameter copied to the wrong place shows. */
static void fill_params(mn_graph *g, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_graph_init_params(g, &r);
    for (int p = 0; p < g->nparams; p++) {
        const char *role = strrchr(g->params[p].name, '.') + 1;
        if (strcmp(role, "weight") == 0 || strcmp(role, "bias") == 0) continue;
        float *w = mn_param_data(g, p);
        for (int64_t i = 0; i < g->params[p].n; i++)
            w[i] = strcmp(role, "var") == 0 || strcmp(role, "std") == 0 ? 0.5f + mn_rng_uniform(&r)
                                                                        : mn_rng_normal(&r);
    }
}

/* input 1x8x8 -> conv -> relu -> maxpool -> flatten -> dense -> bn -> dense */
static void build_cnn(mn_graph *g) {
    mn_graph_init(g);
    assert_true(mn_g_input(g, "in", 1, 8, 8) >= 0);
    assert_true(mn_g_conv(g, "c1", "in", 4, 3, 1, 1, 1) >= 0);
    assert_true(mn_g_act(g, MN_OP_RELU, "r1", "c1") >= 0);
    assert_true(mn_g_pool(g, MN_OP_MAXPOOL, "p1", "r1", 2, 2, 0) >= 0);
    assert_true(mn_g_act(g, MN_OP_FLATTEN, "f", "p1") >= 0);
    assert_true(mn_g_dense(g, "d1", "f", 16) >= 0);
    assert_true(mn_g_bn(g, "bn", "d1") >= 0);
    assert_true(mn_g_dropout(g, "drop", "bn", 0.25f) >= 0);
    assert_true(mn_g_dense(g, "out", "drop", 10) >= 0);
    assert_int_equal(mn_graph_finalize(g), MN_OK);
    fill_params(g, 7);
    assert_int_equal(mn_graph_set_meta(g, "dataset", "mnist"), MN_OK);
    assert_int_equal(mn_graph_set_meta(g, "recipe", "deep-compression, 5 bits"), MN_OK);
}

/* A DAG: two branches joined by a residual add; nodes added out of order. */
static void build_res(mn_graph *g) {
    mn_graph_init(g);
    assert_true(mn_g_dense(g, "fc", "flat", 3) >= 0);
    assert_true(mn_g_add(g, "res", "r1", "c2") >= 0);
    assert_true(mn_g_input(g, "x", 2, 5, 5) >= 0);
    assert_true(mn_g_conv(g, "c1", "x", 4, 3, 1, 1, 1) >= 0);
    assert_true(mn_g_act(g, MN_OP_RELU, "r1", "c1") >= 0);
    assert_true(mn_g_conv(g, "c2", "r1", 4, 3, 1, 1, 2) >= 0);
    assert_true(mn_g_pool(g, MN_OP_AVGPOOL, "gap", "res", 0, 0, 0) >= 0);
    assert_true(mn_g_act(g, MN_OP_FLATTEN, "flat", "gap") >= 0);
    assert_int_equal(mn_graph_finalize(g), MN_OK);
    fill_params(g, 11);
}

static void assert_same(const mn_graph *a, const mn_graph *b) {
    assert_int_equal(a->nnodes, b->nnodes);
    assert_int_equal(a->output, b->output);
    for (int i = 0; i < a->nnodes; i++) {
        const mn_node *x = &a->nodes[i], *y = &b->nodes[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->op, y->op);
        assert_int_equal(x->nin, y->nin);
        for (int k = 0; k < x->nin; k++) {
            assert_string_equal(x->in_names[k], y->in_names[k]);
            assert_int_equal(x->in[k], y->in[k]);
        }
        assert_memory_equal(&x->a, &y->a, sizeof x->a);
        assert_int_equal(x->out.ndim, y->out.ndim);
        assert_memory_equal(x->out.d, y->out.d, sizeof(int) * (size_t)x->out.ndim);
    }
    assert_int_equal(a->nparams, b->nparams);
    for (int p = 0; p < a->nparams; p++) {
        assert_string_equal(a->params[p].name, b->params[p].name);
        assert_int_equal(a->params[p].n, b->params[p].n);
        assert_memory_equal(a->params[p].shape.d, b->params[p].shape.d, sizeof a->params[p].shape.d);
        assert_memory_equal(mn_param_data(a, p), mn_param_data(b, p), sizeof(float) * (size_t)a->params[p].n);
    }
    assert_int_equal(a->nmeta, b->nmeta);
    for (int i = 0; i < a->nmeta; i++) {
        assert_string_equal(a->meta[i].key, b->meta[i].key);
        assert_string_equal(a->meta[i].val, b->meta[i].val);
    }
}

static unsigned char *saved(void (*build)(mn_graph *), size_t *len) {
    mn_graph g;
    unsigned char *buf;
    build(&g);
    assert_int_equal(mn_model_save_mem(&g, &buf, len), MN_OK);
    mn_graph_free(&g);
    return buf;
}

/* ---- round trips -------------------------------------------------------- */

static void round_trip(void (*build)(mn_graph *), const char *file) {
    mn_graph g, h;
    build(&g);
    const char *path = tmp(file);
    assert_int_equal(mn_model_save(&g, path), MN_OK);
    h.nnodes = 12345; /* load initialises whatever it is given */
    assert_int_equal(mn_model_load(path, &h), MN_OK);
    assert_int_equal(h.finalized, 1);
    assert_same(&g, &h);

    /* The file is mn_model_save_mem's bytes, and saving again is stable. */
    unsigned char *a, *b, *f;
    size_t la, lb, lf;
    assert_int_equal(mn_model_save_mem(&g, &a, &la), MN_OK);
    assert_int_equal(mn_model_save_mem(&h, &b, &lb), MN_OK);
    assert_int_equal(mn_read_file(path, &f, &lf), MN_OK);
    assert_int_equal(la, lf);
    assert_int_equal(la, lb);
    assert_memory_equal(a, f, la);
    assert_memory_equal(a, b, la);
    /* Alignment promises of the format. */
    for (const char *t = "METAGRPHTENSDATA"; *t; t += 4) {
        char tag[5] = {t[0], t[1], t[2], t[3], 0};
        assert_int_equal(le(entry(a, tag) + 4, 8) % 64, 0);
    }

    /* The loaded model computes exactly what the saved one did. */
    const mn_shape *is = mn_graph_input_shape(&g);
    int64_t nin = mn_shape_numel(is), nout = mn_shape_numel(mn_graph_output_shape(&g));
    float *x = malloc(sizeof(float) * (size_t)nin * 2);
    mn_rng r;
    mn_rng_seed(&r, 3);
    for (int64_t i = 0; i < nin * 2; i++) x[i] = mn_rng_uniform(&r);
    assert_int_equal(mn_graph_reserve(&g, 2), MN_OK);
    assert_int_equal(mn_graph_reserve(&h, 2), MN_OK);
    const float *yg = mn_graph_forward(&g, x, 2, 0), *yh = mn_graph_forward(&h, x, 2, 0);
    assert_memory_equal(yg, yh, sizeof(float) * (size_t)nout * 2);
    free(x);
    free(a);
    free(b);
    free(f);
    mn_graph_free(&g);
    mn_graph_free(&h);
}

static void test_round_trip_cnn(void **state) {
    (void)state;
    round_trip(build_cnn, "cnn.mnw");
}

static void test_round_trip_residual(void **state) {
    (void)state;
    round_trip(build_res, "res.mnw");
    mn_graph g;
    assert_int_equal(mn_model_load(tmp("res.mnw"), &g), MN_OK);
    int res = mn_graph_find_node(&g, "res");
    assert_true(res >= 0);
    assert_int_equal(g.nodes[res].nin, 2);
    assert_string_equal(g.nodes[res].in_names[0], "r1");
    assert_string_equal(g.nodes[res].in_names[1], "c2");
    assert_int_equal(g.nodes[mn_graph_find_node(&g, "c2")].a.groups, 2);
    assert_int_equal(g.output, mn_graph_find_node(&g, "fc"));
    mn_graph_free(&g);
}

static void test_save_unfinalized(void **state) {
    (void)state;
    mn_graph g;
    mn_graph_init(&g);
    assert_true(mn_g_input(&g, "in", 4, 1, 1) >= 0);
    unsigned char *buf;
    size_t len;
    assert_int_equal(mn_model_save_mem(&g, &buf, &len), MN_EARG);
    assert_null(buf);
    mn_graph_free(&g);
}

/* ---- corruption --------------------------------------------------------- */

static void test_truncations(void **state) {
    (void)state;
    size_t len;
    unsigned char *buf = saved(build_cnn, &len);
    assert_int_equal(load_copy(buf, len), MN_OK);
    for (size_t n = 0; n < len; n++)
        if (load_copy(buf, n) != MN_EFORMAT) fail_msg("prefix of %zu bytes: %s", n, mn_errmsg());
    /* One case's message, as the user sees it. */
    expect_fail(buf, len - 1, MN_EFORMAT, "truncated: section DATA ends at");
    free(buf);
}

static void test_byte_flips(void **state) {
    (void)state;
    size_t len;
    unsigned char *buf = saved(build_res, &len);
    /* Every byte lies under a CRC or in zero padding, so every flip fails. */
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (unsigned char)(1u << bit);
            mn_status st = load_copy(buf, len);
            buf[i] ^= (unsigned char)(1u << bit);
            if (st != MN_EFORMAT && !(st == MN_EUNSUPPORTED && i >= 4 && i < 8))
                fail_msg("flip of bit %d at byte %zu: %s (%s)", bit, i, mn_status_name(st), mn_errmsg());
        }
    assert_int_equal(load_copy(buf, len), MN_OK);
    /* Trailing garbage is not silently accepted either. */
    unsigned char *big = calloc(len + 64, 1);
    memcpy(big, buf, len);
    big[len + 10] = 1;
    expect_fail(big, len + 64, MN_EFORMAT, "outside every section");
    free(big);
    free(buf);
}

static void test_header_errors(void **state) {
    (void)state;
    size_t len;
    unsigned char *buf = saved(build_cnn, &len);
    unsigned char *c = malloc(len);

    memcpy(c, buf, len);
    c[0] = 'X';
    expect_fail(c, len, MN_EFORMAT, "magic");
    expect_fail((const unsigned char *)"", 0, MN_EFORMAT, "magic");

    memcpy(c, buf, len);
    put(c + 4, 2, 4);
    expect_fail(c, len, MN_EUNSUPPORTED, "version 2");
    put(c + 4, 0, 4);
    expect_fail(c, len, MN_EFORMAT, "version 0");

    memcpy(c, buf, len);
    put(c + 8, 1000, 4);
    expect_fail(c, len, MN_EFORMAT, "section count 1000");

    /* A section past the end of the file, with every CRC made right. */
    memcpy(c, buf, len);
    put(entry(c, "TENS") + 4, (len + 64) & ~(size_t)63, 8);
    /* Only the header CRC: fix_crcs would read the moved section past the
     * end of the buffer (found by valgrind; zlib is not ASan-instrumented). */
    put(c + 12 + 24 * 4, crc32(0L, c, 12 + 24 * 4), 4);
    expect_fail(c, len, MN_EFORMAT, "truncated: section TENS ends at");
    /* A length that overflows offset + length. */
    memcpy(c, buf, len);
    put(entry(c, "TENS") + 12, UINT64_MAX - 8, 8);
    put(c + 12 + 24 * 4, crc32(0L, c, 12 + 24 * 4), 4);
    expect_fail(c, len, MN_EFORMAT, "section TENS ends at");
    /* Misaligned, overlapping, duplicate and missing sections. */
    memcpy(c, buf, len);
    put(entry(c, "TENS") + 4, le(entry(c, "TENS") + 4, 8) + 4, 8);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "aligned");
    memcpy(c, buf, len);
    memcpy(entry(c, "GRPH"), "META", 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "appears twice");
    memcpy(c, buf, len);
    memcpy(entry(c, "GRPH"), "XTRA", 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "missing section GRPH");
    memcpy(c, buf, len);
    put(entry(c, "META") + 12, sec_len(c, "META") + 64, 8);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "overlap");
    free(c);
    free(buf);
}

static void test_huge_counts(void **state) {
    (void)state;
    size_t len;
    unsigned char *buf = saved(build_cnn, &len);
    unsigned char *c = malloc(len);
    /* Counts far beyond what the section can hold fail before any
     * allocation sized by them (ASan would report a huge one). */
    const char *secs[3] = {"META", "GRPH", "TENS"};
    const uint32_t counts[3] = {1000000000u, 100000u, 0xffffffffu};
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 3; k++) {
            memcpy(c, buf, len);
            put(sec(c, secs[s]), counts[k], 4);
            fix_crcs(c);
            expect_fail(c, len, MN_EFORMAT, secs[s]);
        }
    memcpy(c, buf, len);
    put(sec(c, "GRPH"), 4000u, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "node count 4000 cannot fit");
    memcpy(c, buf, len);
    put(sec(c, "GRPH"), 100000u, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "node count 100000 is more than the limit of 4096");
    /* A string length running past its section. */
    memcpy(c, buf, len);
    put(sec(c, "GRPH") + 4, 0xffff, 2);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "truncated: op name");
    free(c);
    free(buf);
}

static void test_crafted_content(void **state) {
    (void)state;
    size_t len;
    unsigned char *buf = saved(build_cnn, &len);
    unsigned char *c = malloc(len), *p;

    memcpy(c, buf, len);
    memcpy(find_in(c, "GRPH", "relu"), "relx", 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "unknown op 'relx'");

    memcpy(c, buf, len);
    memcpy(find_in(c, "GRPH", "units"), "unitz", 5);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "unknown attribute 'unitz'");

    /* units of d1: 16 -> 15 makes the stored weights the wrong shape. */
    memcpy(c, buf, len);
    p = find_in(c, "GRPH", "units") + 5;
    assert_int_equal(le(p, 4), 1);
    assert_int_equal(le(p + 4, 4), 16);
    put(p + 4, 15, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "tensor 'd1.weight' has shape [16,64] but the graph declares [15,64]");
    put(p, 2, 4); /* units as an f32 */
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "has type 2");

    /* A node whose input does not exist: the graph builder's error. */
    memcpy(c, buf, len);
    memcpy(find_n(c, "GRPH", "\x01\0\0\0\x02\0r1", 8) + 6, "zz", 2);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "no input named 'zz'");

    memcpy(c, buf, len);
    memcpy(find_in(c, "TENS", "out.bias"), "out.biaz", 8);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "'out.biaz' is not a parameter");

    /* The first tensor record: name, rank, dims, kind, header length. */
    unsigned char *t0 = sec(buf, "TENS") + 4;
    size_t nlen = (size_t)le(t0, 2);
    uint32_t ndim = (uint32_t)le(t0 + 2 + nlen, 4);
    size_t kind_at = (size_t)(t0 - buf) + 2 + nlen + 4 + 4 * ndim;
    memcpy(c, buf, len);
    put(c + kind_at, 7, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EUNSUPPORTED, "storage kind 7");
    memcpy(c, buf, len);
    put(c + kind_at + 4, 4, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "kind header");
    memcpy(c, buf, len);
    put(c + 2 + nlen + (size_t)(t0 - buf), 5, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "rank 5");
    memcpy(c, buf, len);
    put(c + kind_at + 8, 32, 8); /* data offset */
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "aligned");
    memcpy(c, buf, len);
    put(c + kind_at + 8, (sec_len(c, "DATA") + 63) & ~(size_t)63, 8);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "outside the DATA section");
    memcpy(c, buf, len);
    put(c + kind_at + 16, 8, 8); /* data length */
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "data length 8");

    /* Non-finite weights. */
    const uint32_t bad[2] = {0x7fc00000u, 0xff800000u};
    for (int k = 0; k < 2; k++) {
        memcpy(c, buf, len);
        put(sec(c, "DATA"), bad[k], 4); /* in.mean[0] */
        fix_crcs(c);
        expect_fail(c, len, MN_EFORMAT, "not finite");
    }

    /* An over-long metadata value. */
    memcpy(c, buf, len);
    p = find_n(c, "META", "\x05\0mnist", 7);
    put(p, 200, 2);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, NULL);
    free(c);
    free(buf);
}

/* Found by the hardening audit (issue 8): conv/pool attributes near 2^31
 * from a file overflowed `in + 2 * pad` and `k * k` in int (UBSan), and a
 * pool window was unbounded.  Each must now be refused or computed in 64
 * bits, never overflow. */
static void build_pools(mn_graph *g) {
    mn_graph_init(g);
    assert_true(mn_g_input(g, "in", 1, 8, 8) >= 0);
    assert_true(mn_g_conv(g, "c1", "in", 2, 3, 1, 1, 1) >= 0);
    assert_true(mn_g_pool(g, MN_OP_MAXPOOL, "p", "c1", 2, 2, 1) >= 0);
    assert_true(mn_g_pool(g, MN_OP_AVGPOOL, "a", "p", 2, 1, 1) >= 0);
    assert_true(mn_g_act(g, MN_OP_FLATTEN, "f", "a") >= 0);
    assert_true(mn_g_dense(g, "out", "f", 3) >= 0);
    assert_int_equal(mn_graph_finalize(g), MN_OK);
    fill_params(g, 3);
}

static void test_hostile_shapes(void **state) {
    (void)state;
    size_t len;
    unsigned char *buf = saved(build_pools, &len), *c = malloc(len);
    assert_non_null(c);
    /* Attribute records in node order: c1 k, c1 pad, p pad, a pad. */
    unsigned char *k1 = find_n(buf, "GRPH", "\x01\0k", 3), *pads[3];
    pads[0] = find_n(buf, "GRPH", "\x03\0pad", 5);
    unsigned char *gend = sec(buf, "GRPH") + sec_len(buf, "GRPH");
    for (int i = 1; i < 3; i++) {
        pads[i] = pads[i - 1] + 5;
        while (pads[i] + 5 <= gend && memcmp(pads[i], "\x03\0pad", 5) != 0) pads[i]++;
        assert_true(pads[i] + 5 <= gend);
    }
#define AT(q, skip) (c + ((q) - buf) + (skip))
    /* conv: pad 2^30, k 2^30 + 1: the weight is too large to declare. */
    memcpy(c, buf, len);
    put(AT(k1, 3 + 4), (1u << 30) + 1, 4);
    put(AT(pads[0], 5 + 4), 1u << 30, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "too large");
    /* maxpool: pad 2^30 with k 2: refused, no overflow on the way. */
    memcpy(c, buf, len);
    put(AT(pads[1], 5 + 4), 1u << 30, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "bad k/stride/pad");
    memcpy(c, buf, len);
    put(AT(pads[1], 5 + 4), 0x7fffffffu, 4);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "bad k/stride/pad");
    free(c);
    /* A shape whose product passes 2^63 (found by fuzzing a checkpoint):
     * numel says "bad" instead of overflowing. */
    mn_shape huge = {3, {23199753, 531278507, 768, 0}}, ok = {3, {3, 32, 32, 0}}, zero = {3, {3, 0, 32, 0}};
    assert_int_equal(mn_shape_numel(&huge), -1);
    assert_int_equal(mn_shape_numel(&zero), -1);
    assert_int_equal(mn_shape_numel(&ok), 3072);
    free(buf);
#undef AT
    /* avgpool k 50000 (pad 25000, stride 1e5) is legal and runs: 1/(k*k)
     * in float, not int. */
    mn_graph g;
    mn_graph_init(&g);
    assert_true(mn_g_input(&g, "in", 1, 8, 8) >= 0);
    assert_true(mn_g_pool(&g, MN_OP_AVGPOOL, "a", "in", 50000, 100000, 25000) >= 0);
    assert_int_equal(mn_graph_finalize(&g), MN_OK);
    assert_int_equal(mn_graph_reserve(&g, 1), MN_OK);
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = 1;
    const float *y = mn_graph_forward(&g, x, 1, 0);
    assert_true(y[0] > 0 && y[0] < 1e-6f);
    mn_graph_free(&g);
    /* A pool window beyond 2^16 is refused. */
    mn_graph_init(&g);
    assert_true(mn_g_input(&g, "in", 1, 8, 8) >= 0);
    assert_true(mn_g_pool(&g, MN_OP_MAXPOOL, "m", "in", 1 << 20, 1, 1 << 19) >= 0);
    assert_int_equal(mn_graph_finalize(&g), MN_ESHAPE);
    mn_graph_free(&g);
}

static void test_meta_limits(void **state) {
    (void)state;
    mn_graph g, h;
    build_res(&g);
    char key[16], val[128];
    memset(val, 'v', 127);
    val[127] = 0;
    for (int i = 0; i < MN_META_MAX; i++) {
        snprintf(key, sizeof key, "key%d", i);
        assert_int_equal(mn_graph_set_meta(&g, key, i == 3 ? "" : val), MN_OK);
    }
    unsigned char *buf;
    size_t len;
    assert_int_equal(mn_model_save_mem(&g, &buf, &len), MN_OK);
    assert_int_equal(mn_model_load_mem(buf, len, &h), MN_OK);
    assert_same(&g, &h);
    assert_string_equal(mn_graph_get_meta(&h, "key3"), "");
    mn_graph_free(&h);
    /* A duplicate key ("key1" becomes "key2"; "key10" is stored as 5 bytes). */
    unsigned char *c = malloc(len);
    memcpy(c, buf, len);
    memcpy(find_n(c, "META", "\x04\0key1", 6) + 5, "2", 1);
    fix_crcs(c);
    expect_fail(c, len, MN_EFORMAT, "duplicate key 'key2'");
    free(c);
    /* One more entry than a graph can hold. */
    put(sec(buf, "META"), MN_META_MAX + 1, 4);
    fix_crcs(buf);
    expect_fail(buf, len, MN_EFORMAT, "limit of 16");
    free(buf);
    mn_graph_free(&g);
}

/* ---- files -------------------------------------------------------------- */

static int dir_entries(const char *dir, const char *contains) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, contains)) n++;
    closedir(d);
    return n;
}

static void test_save_bad_dir(void **state) {
    (void)state;
    mn_graph g;
    build_res(&g);
    const char *path = tmp("no-such-dir/m.mnw");
    assert_int_equal(mn_model_save(&g, path), MN_EIO);
    assert_non_null(strstr(mn_errmsg(), path));
    struct stat st;
    assert_int_not_equal(stat(tmp("no-such-dir"), &st), 0);
    assert_int_equal(dir_entries(tu_tmpdir(), ".tmp."), 0);
    mn_graph h;
    assert_int_equal(mn_model_load(path, &h), MN_EIO);
    assert_empty(&h);
    mn_graph_free(&g);
}

static void test_atomic_replace(void **state) {
    (void)state;
    const char *path = tmp("replace.mnw");
    size_t big = 1 << 20;
    char *junk = malloc(big);
    memset(junk, 'x', big);
    assert_int_equal(tu_write_file(path, junk, big), 0);
    free(junk);
    mn_graph g, h;
    build_cnn(&g);
    assert_int_equal(mn_model_save(&g, path), MN_OK);
    unsigned char *a, *f;
    size_t la, lf;
    assert_int_equal(mn_model_save_mem(&g, &a, &la), MN_OK);
    assert_int_equal(mn_read_file(path, &f, &lf), MN_OK);
    assert_int_equal(lf, la);
    assert_memory_equal(a, f, la);
    assert_int_equal(mn_model_load(path, &h), MN_OK);
    assert_same(&g, &h);
    assert_int_equal(dir_entries(tu_tmpdir(), ".tmp."), 0);
    free(a);
    free(f);
    mn_graph_free(&g);
    mn_graph_free(&h);
}

static void test_file_helpers(void **state) {
    (void)state;
    unsigned char *buf;
    size_t len;
    const char *path = tmp("plain.bin");
    assert_int_equal(mn_write_file_atomic(path, "", 0), MN_OK);
    assert_int_equal(mn_read_file(path, &buf, &len), MN_OK);
    assert_int_equal(len, 0);
    free(buf);
    assert_int_equal(mn_write_file_atomic(path, "hello", 5), MN_OK);
    assert_int_equal(mn_read_file(path, &buf, &len), MN_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    assert_int_equal(mn_read_file(tmp("missing.bin"), &buf, &len), MN_EIO);
    assert_null(buf);
    assert_non_null(strstr(mn_errmsg(), "missing.bin"));
    assert_int_equal(mn_read_file(tu_tmpdir(), &buf, &len), MN_EIO);
    assert_non_null(strstr(mn_errmsg(), "not a regular file"));
    /* A garbage file through the path API names the path. */
    assert_int_equal(tu_write_file(tmp("junk.mnw"), "not a model at all", 18), 0);
    mn_graph g;
    assert_int_equal(mn_model_load(tmp("junk.mnw"), &g), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "junk.mnw: not a minnow model"));
    assert_empty(&g);
    /* An abandoned atomic file leaves nothing behind. */
    mn_afile af;
    assert_int_equal(mn_afile_open(&af, tmp("aborted.bin")), MN_OK);
    fputs("partial", af.f);
    mn_afile_abort(&af);
    assert_int_equal(dir_entries(tu_tmpdir(), "aborted"), 0);
}

/* An all-zero conv kernel stored as CSR is 24 bytes however large it is:
 * a fuzzer-made file of this kind (CI, 2026-12) grew the kernel until
 * loading allocated gigabytes.  Together the tensors may now declare at
 * most 1024 values per DATA byte (+ 2^16), and the writer refuses what the
 * reader would. */
static void build_zero_conv(mn_graph *g, int k) {
    mn_graph_init(g);
    assert_true(mn_g_input(g, "in", 1, 2, 2) >= 0);
    assert_true(mn_g_conv(g, "c", "in", 1, k, 1, k / 2, 1) >= 0);
    if (mn_graph_finalize(g)) fail_msg("%s", mn_errmsg());
    int p = mn_graph_find_param(g, "c.weight");
    assert_true(p >= 0);
    memset(mn_param_data(g, p), 0, sizeof(float) * (size_t)g->params[p].n);
    mn_store *s;
    mn_status st = mn_csr_from_dense(mn_param_data(g, p), 1, k * k, &s);
    if (st || (st = mn_param_set_store(g, p, s))) fail_msg("%s", mn_errmsg());
}

static void test_expansion_limit(void **state) {
    (void)state;
    mn_graph g;
    unsigned char *buf;
    size_t len;
    build_zero_conv(&g, 63);
    assert_int_equal(mn_model_save_mem(&g, &buf, &len), MN_OK);
    mn_graph_free(&g);
    assert_int_equal(load_copy(buf, len), MN_OK);
    /* k 63 -> 16383 (pad 8191) in the graph, the tensor record and the CSR
     * header, behind fixed CRCs: a consistent file of 2^28 weights. */
    unsigned char *ka = find_n(buf, "GRPH", "\x01\0k", 3), *pa = find_n(buf, "GRPH", "\x03\0pad", 5);
    assert_int_equal(le(ka + 3 + 4, 4), 63);
    assert_int_equal(le(pa + 5 + 4, 4), 31);
    put(ka + 3 + 4, 16383, 4);
    put(pa + 5 + 4, 8191, 4);
    unsigned char *t = find_in(buf, "TENS", "c.weight") + strlen("c.weight");
    assert_int_equal(le(t, 4), 4);
    assert_true(le(t + 12, 4) == 63 && le(t + 16, 4) == 63);
    put(t + 12, 16383, 4);
    put(t + 16, 16383, 4);
    unsigned char *csr = sec(buf, "DATA") + le(t + 4 + 16 + 8, 8);
    assert_int_equal(le(csr + 8, 4), 63 * 63);
    put(csr + 8, 16383 * 16383, 4);
    fix_crcs(buf);
    expect_fail(buf, len, MN_EFORMAT, "values per byte");
    free(buf);
    /* 1025 x 1025: 2^20 values in a few bytes.  The writer refuses, with
     * nothing written. */
    build_zero_conv(&g, 1025);
    assert_int_equal(mn_model_save_mem(&g, &buf, &len), MN_EUNSUPPORTED);
    assert_null(buf);
    assert_non_null(strstr(mn_errmsg(), "values per byte"));
    mn_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_cnn),
        cmocka_unit_test(test_round_trip_residual),
        cmocka_unit_test(test_save_unfinalized),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_crafted_content),
        cmocka_unit_test(test_meta_limits),
        cmocka_unit_test(test_hostile_shapes),
        cmocka_unit_test(test_expansion_limit),
        cmocka_unit_test(test_save_bad_dir),
        cmocka_unit_test(test_atomic_replace),
        cmocka_unit_test(test_file_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
