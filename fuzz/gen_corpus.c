/* Seed corpora for the fuzz targets: small valid inputs of every format,
 * written with the library itself so they track the formats as they change.
 *
 *   gen_corpus OUTDIR      writes OUTDIR/<target>/seed-NNN
 *
 * scripts/fuzz.sh runs it; the corpora are build outputs, never committed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "minnow/arch.h"
#include "minnow/checkpoint.h"
#include "minnow/cluster.h"
#include "minnow/io.h"
#include "minnow/quant.h"
#include "minnow/sparse.h"
#include "store/store.h"
#include "minnow/train.h"
#if __has_include("minnow/binary.h")
#include "minnow/binary.h"
#endif
#if __has_include("minnow/onnx.h")
#include "minnow/onnx.h"
#include "compress/quant_impl.h"
#include "nn/param_store.h"
#include "store/binary.h"
#include "store/codebook.h"
#include "store/csr.h"
#include "store/huffman.h"
#endif

static const char *g_out;

static void die(const char *what) {
    fprintf(stderr, "gen_corpus: %s: %s\n", what, mn_errmsg());
    exit(1);
}

static void ok(mn_status st, const char *what) {
    if (st != MN_OK) die(what);
}

/* Appends one seed file to OUTDIR/target. */
static void seed(const char *target, const void *a, size_t na, const void *b, size_t nb) {
    static const char *names[32];
    static int counts[32];
    int k = 0;
    while (k < 32 && names[k] && strcmp(names[k], target) != 0) k++;
    if (k == 32) die("too many targets");
    names[k] = target;
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/%s", g_out, target);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die(dir);
    snprintf(path, sizeof path, "%s/seed-%03d", dir, counts[k]++);
    FILE *f = fopen(path, "wb");
    if (!f || (na && fwrite(a, 1, na, f) != na) || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f) != 0) die(path);
}

/* ---- data files ---------------------------------------------------------- */

static size_t idx_file(unsigned char *buf, int images, int n, int h, int w) {
    size_t k = 0;
    uint32_t hdr[4] = {images ? 0x803u : 0x801u, (uint32_t)n, (uint32_t)h, (uint32_t)w};
    for (int i = 0; i < (images ? 4 : 2); i++)
        for (int b = 3; b >= 0; b--) buf[k++] = (unsigned char)(hdr[i] >> (8 * b));
    for (int i = 0; i < (images ? n * h * w : n); i++) buf[k++] = (unsigned char)(images ? (i * 37) & 255 : i % 10);
    return k;
}

static void idx_seeds(void) {
    static const int shapes[][3] = {{1, 1, 1}, {3, 4, 5}, {2, 7, 3}, {4, 8, 8}, {10, 2, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        unsigned char img[512], lab[64], in[600];
        size_t ni = idx_file(img, 1, shapes[s][0], shapes[s][1], shapes[s][2]);
        size_t nl = idx_file(lab, 0, shapes[s][0], 0, 0);
        in[0] = (unsigned char)ni, in[1] = (unsigned char)(ni >> 8);
        memcpy(in + 2, img, ni);
        seed("idx", in, 2 + ni, lab, nl);
        seed("idx_gz", in, 2 + ni, lab, nl);
        /* The raw target also reads real .gz files. */
        uint8_t *zi, *zl;
        size_t zni = fz_gzip(img, ni, &zi), znl = fz_gzip(lab, nl, &zl);
        unsigned char pre[2] = {(unsigned char)zni, (unsigned char)(zni >> 8)};
        unsigned char *cat = malloc(2 + zni + znl);
        if (!cat) die("malloc");
        memcpy(cat, pre, 2), memcpy(cat + 2, zi, zni), memcpy(cat + 2 + zni, zl, znl);
        seed("idx", cat, 2 + zni + znl, NULL, 0);
        free(cat), free(zi), free(zl);
    }
}

static void csv_seeds(void) {
    static const struct { int col; const char *text; } c[] = {
        {4, "a,b,c,d,label\n0.1,0.2,0.3,0.4,1\n-1,2e3,0,5,0\n"},
        {0, "label,x,y\n2, 1.5 ,-3\n0,0.25,1e-3\r\n1,7,8\r\n\n\n"},
        {1, "x,y\n1,0\n2,1\n3,2\n"},
        {2, "p,q,r\n.5,1e2,3\n-.5,-1e-2,0\n"},
        {3, "a,b,c,d,e,f,g,h\n1,2,3,4,5,6,7,8\n8,7,6,5,4,3,2,1\n"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        unsigned char col = (unsigned char)c[i].col;
        seed("csv", &col, 1, c[i].text, strlen(c[i].text));
        col |= 8; /* through mn_data_load, label column from the header */
        seed("csv", &col, 1, c[i].text, strlen(c[i].text));
    }
    const char *bom = "\xEF\xBB\xBF\"x\",\" Label \"\r\n1,2\r\n";
    unsigned char flag = 8;
    seed("csv", &flag, 1, bom, strlen(bom));
}

static void cifar_seeds(void) {
    static unsigned char rec[2 * 3073 + 3];
    for (int r = 0; r < 2; r++) {
        rec[3 + r * 3073] = (unsigned char)(r * 7 % 10);
        for (int i = 1; i < 3073; i++) rec[3 + r * 3073 + i] = (unsigned char)(i * (r + 3));
    }
    rec[0] = 0;
    seed("cifar", rec, 3 + 3073, NULL, 0);
    seed("cifar", rec, 3 + 2 * 3073, NULL, 0);
    rec[0] = 1, rec[1] = 3073 & 255, rec[2] = 3073 >> 8;
    seed("cifar", rec, 3 + 2 * 3073, NULL, 0);
}

/* ---- models -------------------------------------------------------------- */

static void build(mn_graph *g, const char *spec, int c, int h, int w, int nclass) {
    ok(mn_arch_build(g, spec, c, h, w, nclass), spec);
    mn_rng r;
    mn_rng_seed(&r, 7);
    mn_graph_init_params(g, &r);
}

static void model_seed(const mn_graph *g) {
    unsigned char *b;
    size_t n;
    ok(mn_model_save_mem(g, &b, &n), "save model");
    for (unsigned char flag = 0; flag < 2; flag++) seed("mnw", &flag, 1, b, n);
    free(b);
#ifdef MINNOW_ONNX_H
    /* The same models as ONNX, where the exporter takes them. */
    if (mn_onnx_available() && mn_onnx_export_mem(g, &b, &n) == MN_OK) {
        seed("onnx", b, n, NULL, 0);
        free(b);
    }
#endif
}

/* Every dense/conv weight of g, zeroing most of it first when sparse. */
static int weight_param(const mn_graph *g, int node) {
    const mn_node *n = &g->nodes[node];
    return (n->op == MN_OP_DENSE || n->op == MN_OP_CONV) ? n->p[0] : -1;
}

static void zero_most(mn_graph *g, int p, int keep_every) {
    float *w = mn_param_data(g, p);
    for (int64_t i = 0; i < g->params[p].n; i++)
        if (i % keep_every) w[i] = 0;
}

static mn_store *store_for(int kind, float *w, int rows, int cols, int variant) {
    mn_store *s = NULL;
    switch (kind) {
    case MN_ST_CSR:
        ok(mn_csr_from_dense(w, rows, cols, &s), "csr");
        break;
    case MN_ST_AFFINE: {
        mn_wquant q = {variant % 2 ? 4 : 8, variant % 3 == 0, variant % 2, MN_WCLIP_MINMAX};
        mn_qact act = {0.05f, 3, -128, 127};
        ok(mn_affine_store_quantize(w, rows, cols, &q, variant % 2 ? NULL : &act, &s), "affine");
        break;
    }
    case MN_ST_CODEBOOK: {
        float cb[4] = {-0.5f, 0.0f, 0.25f, 0.75f};
        for (int64_t i = 0; i < (int64_t)rows * cols; i++) w[i] = cb[(i * 5 + i / 7) % 4];
        if (variant % 2)
            for (int64_t i = 0; i < (int64_t)rows * cols; i++) if (i % 3) w[i] = 0;
        ok(mn_codebook_new(w, rows, cols, cb, 4, 2 + variant % 3, variant % 2, &s), "codebook");
        break;
    }
#ifdef MINNOW_BINARY_H
    case MN_ST_BINARY:
        /* Binary values: one magnitude per row, signs, some zeros. */
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int64_t i = (int64_t)r * cols + c;
                float a = variant == 2 ? 0.5f : 0.25f + 0.125f * (float)(r % 3);
                w[i] = ((i * 7 + i / 5) % 3 ? a : -a);
                if (variant == 1 && i % 4 == 0) w[i] = 0;
            }
        ok(mn_binary_store_make(w, rows, cols, &s), "binary");
        break;
#endif
    default:
        break;
    }
    return s;
}

static void mnw_seeds(void) {
    static const struct { const char *spec; int c, h, w; } m[] = {
        {"input x; flatten f; dense fc1 units=6; relu r; dropout d rate=0.5; dense fc2 units=classes", 1, 4, 4},
        {"input x; conv c1 filters=4 k=3 pad=1; batchnorm bn; relu r; maxpool p k=2; "
         "conv c2 filters=4 k=3 groups=2 stride=2 pad=1; avgpool g k=0; flatten f; dense fc units=classes; softmax s", 2, 6, 6},
        {"input x; dense a units=5; tanh t; dense b units=5; add s in=b,a; relu r; dense out units=classes", 5, 1, 1},
        {"input x; avgpool ap k=2 stride=1; conv c filters=2 k=2; flatten f; dense o units=classes", 1, 5, 5},
        {"input x c=1 h=6 w=6; conv c1 filters=3 k=3 act_bits=8 act_frac=4; relu r; flatten f; dense o units=classes", 1, 6, 6},
#ifdef MINNOW_BINARY_H
        {"input x; dense pre units=6; bdense b units=5 bmode=4; dense o units=classes", 7, 1, 1},
        {"input x; conv pre filters=3 k=1; bconv b filters=4 k=3 stride=2 pad=1 bmode=3; flatten f; dense o units=classes", 2, 6, 6},
        {"input x; sign sg; bdense b units=3 bmode=3 xscale=1; dense o units=classes", 5, 1, 1},
#endif
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        mn_graph g;
        build(&g, m[i].spec, m[i].c, m[i].h, m[i].w, 3);
        model_seed(&g);
        /* The same model with each storage kind on its weights. */
        for (int kind = 1; kind < MN_ST__COUNT; kind++) {
            if (!mn_store_traits_of((mn_storage_kind)kind)) continue;
            mn_graph h;
            ok(mn_graph_clone(&g, &h), "clone");
            for (int nd = 0; nd < h.nnodes; nd++) {
                int p = weight_param(&h, nd);
                if (p < 0) continue;
                int rows, cols;
                mn_param_matrix(&h, p, &rows, &cols);
                if (kind == MN_ST_CSR) zero_most(&h, p, 3);
                mn_store *s = store_for(kind, mn_param_data(&h, p), rows, cols, nd);
                if (s) ok(mn_param_set_store(&h, p, s), "set store");
            }
            model_seed(&h);
            mn_graph_free(&h);
        }
        mn_graph_free(&g);
    }
}

static void store_seeds(void) {
    static const int shapes[][2] = {{1, 1}, {3, 5}, {7, 13}, {16, 33}, {4, 300}, {2, 70}};
    static const char *names[MN_ST__COUNT] = {NULL, "store_csr", "store_affine", "store_codebook", "store_binary"};
    for (int kind = 1; kind < MN_ST__COUNT; kind++) {
        const mn_store_traits *t = mn_store_traits_of((mn_storage_kind)kind);
        if (!t) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int variant = 0; variant < 3; variant++) {
                int rows = shapes[s][0], cols = shapes[s][1];
                float *w = malloc(sizeof(float) * (size_t)rows * cols);
                if (!w) die("malloc");
                for (int i = 0; i < rows * cols; i++) w[i] = ((i * 7919) % 23 - 11) / 16.0f;
                if (kind == MN_ST_CSR && variant) for (int i = 0; i < rows * cols; i++) if (i % (variant * 9)) w[i] = 0;
                mn_store *st = store_for(kind, w, rows, cols, variant);
                free(w);
                if (!st) continue;
                unsigned char *b;
                size_t n;
                ok(t->serialize(st, &b, &n), "serialize");
                unsigned char hdr[4] = {(unsigned char)(rows - 1), (unsigned char)((rows - 1) >> 8),
                                        (unsigned char)(cols - 1), (unsigned char)((cols - 1) >> 8)};
                seed(names[kind], hdr, 4, b, n);
                free(b);
                mn_store_free(st);
            }
    }
}

static void arch_seeds(void) {
    for (const char *const *nm = mn_arch_names(); *nm; nm++) {
        const char *s = mn_arch_spec(*nm);
        seed("arch", s, strlen(s), NULL, 0);
    }
    static const char *extra[] = {
        ("input x c=1 h=8 w=8; conv c1 filters=4 k=3 pad=1 stride=2; batchnorm bn eps=0.001 momentum=0.2; relu r\n"
         "maxpool p k=2; flatten f; dropout d rate=0.25; dense fc units=classes # comment\n"),
        "input x; dense a units=8; dense b units=8 in=x; add s in=a,b; tanh t; dense o units=4; softmax sm",
        "input x; conv dw filters=1 k=3 groups=1; avgpool g k=0; flatten f; dense o units=classes",
        "input x; dense fc units=10 act_bits=8 act_frac=4; relu r",
        "input x; dense pre units=6; bdense b units=5 bmode=2 bsparse=0.25; sign s; bdense b2 units=4 bmode=5 xscale=1 bfold=1; dense o units=3",
        "input x; conv pre filters=3 k=1; bconv b filters=4 k=3 stride=2 pad=1 bmode=1; flatten f; dense o units=3",
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) seed("arch", extra[i], strlen(extra[i]), NULL, 0);
}

static void huffman_seeds(void) {
    static uint32_t sym[300];
    static const struct { size_t n; uint32_t mod, nsym_max; } c[] = {{0, 1, 1}, {1, 1, 1}, {5, 1, 4}, {60, 4, 4}, {300, 37, 64}, {200, 256, 256}};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        for (size_t i = 0; i < c[k].n; i++) sym[i] = (uint32_t)((i * i + 3 * i) % c[k].mod);
        unsigned char *b;
        size_t n;
        ok(mn_huff_encode(sym, c[k].n, &b, &n), "huffman");
        unsigned char hdr[2] = {(unsigned char)c[k].nsym_max, (unsigned char)(c[k].nsym_max >> 8)};
        seed("huffman", hdr, 2, b, n);
        free(b);
    }
}

static void recipe_seeds(void) {
    static const char *r[] = {
        ("name: deep-compression-lenet300\nseed: 1\npasses:\n"
         "  - prune:\n      method: magnitude\n      sparsity: {fc1: 0.92, fc2: 0.91, fc3: 0.74}\n"
         "      scope: layer\n      steps: 3\n      finetune: 4\n      lr: 1.2e-3\n"
         "  - quantize:\n      method: kmeans\n      bits: {fc1: 6, fc2: 6, fc3: 6}\n      finetune: 3\n      lr: 1e-4\n"
         "  - encode:\n      huffman: true\n"),
        "name: x\npasses:\n  - prune: {method: snip, sparsity: 0.5, scope: global}\n  - quantize: {bits: 4}\n",
        "passes: []\n",
        ("name: y\npasses:\n  - prune: {method: filter, sparsity: {conv1: 0.5}, criterion: l2, finetune: 1}\n"
         "  - factorize: {layers: fc1=8}\n  - distill: {temperature: 2, hint: a:b}\n"
         "  - quantize: {method: affine, bits: 4, act_bits: 8}\n  - binarize: {method: xnor, input-scale: true}\n"),
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) seed("recipe", r[i], strlen(r[i]), NULL, 0);
    /* recipe_deep: u16 repeats, u8 a, u8 b, text; T[a,b) is repeated. */
    static const struct { unsigned reps; const char *t; unsigned a, b; } deep[] = {
        {60000, "passes: []", 8, 9},                       /* '[' x 60000: one ']' */
        {20000, "passes: [{prune: }]", 9, 17},             /* nested flow mappings */
        {300, "passes:\n- - x\n", 8, 10},                  /* block sequences in one line */
        {200, "passes:\n  - prune: {sparsity: 0.5}\n", 8, 37}, /* many passes */
        {3, "passes: [encode: {huffman: true}]\n---\npasses: []\n", 34, 38}, /* several documents */
        {30, "name: x\npasses: []\n", 0, 0},
    };
    for (size_t i = 0; i < sizeof deep / sizeof deep[0]; i++) {
        unsigned char h[4] = {(unsigned char)deep[i].reps, (unsigned char)(deep[i].reps >> 8),
                              (unsigned char)deep[i].a, (unsigned char)deep[i].b};
        seed("recipe_deep", h, 4, deep[i].t, strlen(deep[i].t));
    }
}

static void ckpt_seeds(void) {
    mn_graph g;
    build(&g, "input x; flatten f; dense fc1 units=6; relu r; dense fc2 units=classes", 1, 3, 3, 3);
    for (int64_t i = 0; i < g.nw; i++) g.m[i] = (float)(i % 5) * 0.01f, g.v[i] = (float)(i % 3) * 0.001f;
    float *mk = mn_param_mask(&g, weight_param(&g, 2));
    if (!mk) die("mask");
    for (int i = 0; i < 54; i += 4) mk[i] = 0;
    mn_train_cfg c;
    mn_train_default(&c);
    mn_dataset d = {0};
    float x[9 * 4] = {0};
    int32_t y[4] = {0, 1, 2, 1};
    d.n = 4, d.c = 1, d.h = 3, d.w = 3, d.nclass = 3, d.x = x, d.y = y;
    mn_ckpt_run run;
    mn_ckpt_run_of(&c, &d, &run);
    mn_train_state s = {2, 17, {{1, 2, 3, 4}}, {{5, 6, 7, 8}}, c.opt};
    s.opt.t = 17;
    mn_epoch_stats log[2] = {{1, 1.5f, 0.25f, 0.5f, 1.2f, 0.01}, {2, 1.0f, 0.5f, 0.25f, 0.9f, 0.02}};
    for (int nlog = 0; nlog <= 2; nlog++) {
        unsigned char *b;
        size_t n;
        ok(mn_checkpoint_save_mem(&g, &run, &s, log, nlog, &b, &n), "checkpoint");
        for (unsigned char flag = 0; flag < 2; flag++) seed("ckpt", &flag, 1, b, n);
        free(b);
    }
    mn_graph_free(&g);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus OUTDIR\n");
        return 2;
    }
    g_out = argv[1];
    if (mkdir(g_out, 0755) != 0 && errno != EEXIST) die(g_out);
    idx_seeds();
    csv_seeds();
    cifar_seeds();
    mnw_seeds();
    store_seeds();
    arch_seeds();
    huffman_seeds();
    recipe_seeds();
    ckpt_seeds();
    return 0;
}
