/* Compression recipes: parsing (the shipped recipes, every kind of error
 * with its line) and running prune -> quantize -> encode on a small MLP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/cluster.h"
#include "minnow/pass.h"
#include "minnow/recipe.h"
#include "store/store.h"
#include "testutil.h"
#include "store/codebook.h"

static mn_status parse(const char *text, mn_recipe *r) {
    return mn_recipe_parse(text, strlen(text), "t.yaml", r);
}

static void test_shipped(void **state) {
    (void)state;
    static mn_recipe r;
    assert_int_equal(mn_recipe_load("recipes/deep-compression-lenet300.yaml", &r), MN_OK);
    assert_string_equal(r.name, "deep-compression-lenet300");
    assert_int_equal(r.npasses, 3);
    assert_int_equal(r.pass[0].kind, MN_PASS_PRUNE);
    assert_string_equal(r.pass[0].spec, "fc1=0.92,fc2=0.91,fc3=0.74");
    assert_int_equal(r.pass[1].kind, MN_PASS_QUANTIZE);
    assert_string_equal(r.pass[1].method, "kmeans");
    assert_non_null(strstr(r.pass[1].spec, "fc1="));
    assert_int_equal(r.pass[2].kind, MN_PASS_ENCODE);
    assert_int_equal(r.pass[2].huffman, 1);
    assert_int_equal(mn_recipe_load("recipes/deep-compression-lenet5.yaml", &r), MN_OK);
    assert_int_equal(r.npasses, 3);
    assert_string_equal(r.pass[0].spec, "0.92");
    assert_int_equal(r.pass[0].global, 1);
    assert_non_null(strstr(r.pass[1].spec, "conv1="));
    assert_int_equal(mn_recipe_load("recipes/no-such-recipe.yaml", &r), MN_EIO);
}

static void test_values(void **state) {
    (void)state;
    static mn_recipe r;
    assert_int_equal(parse("passes:\n"
                           "  - prune: {sparsity: 0.5, scope: global, steps: 2, finetune: 1, lr: 0.01, batch: 32}\n"
                           "  - quantize: {bits: 3, iters: 7, bias_lr: 0}\n"
                           "  - encode\n"
                           "  - encode: {huffman: off}\n", &r), MN_OK);
    assert_int_equal(r.npasses, 4);
    assert_string_equal(r.pass[0].spec, "0.5");
    assert_int_equal(r.pass[0].global, 1);
    assert_int_equal(r.pass[0].steps, 2);
    assert_int_equal(r.pass[0].finetune, 1);
    assert_int_equal(r.pass[0].batch, 32);
    assert_true(r.pass[0].lr > 0.0099f && r.pass[0].lr < 0.0101f);
    assert_int_equal(r.pass[0].line, 2);
    assert_int_equal(r.pass[1].bits, 3);
    assert_int_equal(r.pass[1].iters, 7);
    assert_true(r.pass[1].bias_lr == 0);
    assert_true(r.pass[1].lr < 0); /* default */
    assert_int_equal(r.pass[2].huffman, 1);
    assert_int_equal(r.pass[3].huffman, 0);
    assert_int_equal(r.pass[3].line, 5);
}

/* Each bad recipe fails with MN_EARG and a message holding `want`. */
static void bad(const char *text, const char *want) {
    static mn_recipe r;
    mn_status st = parse(text, &r);
    if (st != MN_EARG || !strstr(mn_errmsg(), want))
        fail_msg("recipe:\n%s\ngave status %d, message '%s', wanted '%s'", text, st, mn_errmsg(), want);
}

/* A training recipe: its options as written, '_' read as '-'. */
static void test_train_section(void **state) {
    (void)state;
    static mn_recipe r;
    assert_int_equal(parse("name: t\nseed: 4\ntrain:\n  arch: lenet5\n  rewind_iter: 3\n  keep-first-last: true\n", &r), MN_OK);
    assert_int_equal(r.npasses, 0);
    assert_int_equal(r.ntrain, 3);
    assert_true(r.seed_given && r.seed == 4);
    assert_string_equal(r.train_key[1], "rewind-iter");
    assert_string_equal(r.train_val[1], "3");
    assert_string_equal(r.train_key[2], "keep-first-last");
    assert_int_equal(r.train_line[2], 6);
}

static void test_errors(void **state) {
    (void)state;
    bad("passes:\n  - shrink: {amount: 2}\n", "t.yaml:2: unknown pass 'shrink'");
    bad("passes:\n  - prune: {sparsity: 0.5, speed: 3}\n", "t.yaml:2: unknown option 'speed' for pass 'prune'");
    bad("passes:\n  - prune:\n      sparsity: 1.5\n", "t.yaml:3: 'sparsity' must be a number in [0, 1)");
    bad("passes:\n  - prune: {sparsity: {fc1: -0.1}}\n", "'fc1' must be a number in [0, 1)");
    bad("passes:\n  - prune: {sparsity: lots}\n", "got 'lots'");
    bad("passes:\n  - prune: {sparsity: 0.5, steps: 0}\n", "'steps' must be an integer in [1, 1000]");
    bad("passes:\n  - prune: {sparsity: 0.5, method: frob}\n", "unknown prune method 'frob'");
    bad("passes:\n  - prune: {sparsity: {fc1: 0.5}, scope: global}\n", "'scope: global' takes one sparsity");
    bad("passes:\n  - prune: {steps: 2}\n", "pass 'prune' needs 'sparsity'");
    bad("passes:\n  - quantize: {bits: 9}\n", "'bits' must be an integer in [1, 8]");
    bad("passes:\n  - quantize: {bits: {fc1: 2.5}}\n", "'fc1' must be an integer in [0, 8]");
    /* affine is a recipe method now (issue 14): an unknown one still fails */
    bad("passes:\n  - quantize: {bits: 4, method: ternary}\n", "unknown quantize method 'ternary'");
    bad("passes:\n  - quantize: {finetune: 2}\n", "pass 'quantize' needs 'bits'");
    bad("passes:\n  - quantize: {bits: 4, lr: -1}\n", "'lr' must be a number");
    bad("passes:\n  - encode: {huffman: maybe}\n", "'huffman' must be true or false");
    bad("passes:\n  - encode: {bits: 3}\n", "unknown option 'bits' for pass 'encode'");
    bad("passes:\n  - prune: {sparsity: 0.5, sparsity: 0.6}\n", "option 'sparsity' given twice");
    bad("passes:\n  - prune: {sparsity: 0.5}\n    quantize: {bits: 2}\n", "each pass is one");
    bad("passes: {prune: 1}\n", "'passes' must be a list");
    bad("passes: []\n", "no passes");
    bad("name: x\n", "neither 'passes' nor 'train'");
    bad("train: 3\n", "t.yaml:1: 'train' must be a mapping");
    bad("train: {}\n", "'train' is empty");
    bad("train:\n  arch: lenet5\n  lr: [1, 2]\n", "t.yaml:3: 'lr' must be a value");
    bad("train:\n  epochs: 2\n  epochs: 3\n", "t.yaml:3: 'epochs' given twice");
    bad("train:\n  rewind-iter: 2\n  rewind_iter: 3\n", "t.yaml:3: 'rewind-iter' given twice");
    bad("", "empty");
    bad("- prune\n", "must be a mapping");
    bad("passes:\n  - prune: {sparsity: 0.5}\nextra: 1\n", "t.yaml:3: unknown key 'extra'");
    /* malformed YAML: line and column from libyaml */
    bad("passes:\n  - prune: {sparsity: 0.5\n  - encode\n", "malformed YAML");
    bad("passes:\n  - prune:\n    sparsity: [0.5\n", "malformed YAML");
    bad("passes:\n\t- encode\n", "t.yaml:2:");
}

static void build(mn_graph *g) {
    assert_int_equal(mn_arch_build(g, "input x; dense fc1 units=40; relu r1; dense fc2 units=classes", 30, 1, 1, 3), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 5);
    mn_graph_init_params(g, &r);
}

static void synth(mn_dataset *d, int n) {
    mn_rng r;
    mn_rng_seed(&r, 9);
    memset(d, 0, sizeof *d);
    d->n = n; d->c = 30; d->h = d->w = 1; d->nclass = 3;
    d->x = malloc(sizeof(float) * (size_t)n * 30);
    d->y = malloc(sizeof(int32_t) * (size_t)n);
    for (int s = 0; s < n; s++) {
        float a = 0, b = 0;
        for (int i = 0; i < 30; i++) {
            float v = mn_rng_normal(&r);
            d->x[s * 30 + i] = v;
            if (i < 10) a += v; else if (i < 20) b += v;
        }
        d->y[s] = a > 1 ? 0 : b > 0 ? 1 : 2;
    }
}

static void test_run(void **state) {
    (void)state;
    static mn_recipe r;
    assert_int_equal(parse("name: t\npasses:\n"
                           "  - prune: {sparsity: {fc1: 0.75, fc2: 0.5}}\n"
                           "  - quantize: {bits: {fc1: 3, fc2: 2}}\n"
                           "  - encode: {huffman: true}\n", &r), MN_OK);
    mn_graph g;
    build(&g);
    assert_int_equal(mn_recipe_run(&g, &r, NULL, NULL, NULL), MN_OK);
    mn_dc_row rows[4];
    assert_int_equal(mn_dc_table(&g, rows, 4), 2);
    assert_string_equal(rows[0].name, "fc1");
    assert_int_equal(rows[0].weights, 1200);
    assert_int_equal(rows[0].nonzero, 300);
    assert_int_equal(rows[1].nonzero, 60);
    assert_string_equal(rows[0].storage, "codebook");
    assert_int_equal(rows[0].bits, 3);
    assert_int_equal(rows[1].bits, 2);
    assert_true(rows[0].index_bits > 0 && rows[0].index_bits <= 3.5);
    assert_true(rows[0].weight_bytes < 1200 * 4 / 4);
    mn_codebook_info ci;
    assert_int_equal(mn_codebook_info_of(g.params[mn_graph_find_param(&g, "fc1.weight")].store, &ci), MN_OK);
    assert_true(ci.sparse);
    assert_true(ci.k <= 8);
    mn_graph_free(&g);

    /* a prune alone ends stored sparse (CSR) where that is smaller */
    assert_int_equal(parse("passes:\n  - prune: {sparsity: 0.9}\n", &r), MN_OK);
    build(&g);
    assert_int_equal(mn_recipe_run(&g, &r, NULL, NULL, NULL), MN_OK);
    assert_non_null(g.params[mn_graph_find_param(&g, "fc1.weight")].store);
    assert_int_equal(g.params[mn_graph_find_param(&g, "fc1.weight")].store->kind, MN_ST_CSR);
    mn_graph_free(&g);

    /* errors found while running name the line */
    const char *run_bad[][2] = {
        {"passes:\n  - prune: {sparsity: {fc9: 0.5}}\n", "line 2: prune:"},
        {"passes:\n  - quantize: {bits: {conv1: 4}}\n", "line 2: quantize:"},
        {"passes:\n  - encode: {huffman: true}\n", "line 2: encode: the model has no codebook layers"},
        {"passes:\n  - prune: {sparsity: 0.5, finetune: 1}\n", "needs training data"},
        {"passes:\n  - quantize: {bits: 2, finetune: 1}\n", "needs training data"},
    };
    for (size_t i = 0; i < sizeof run_bad / sizeof *run_bad; i++) {
        assert_int_equal(parse(run_bad[i][0], &r), MN_OK);
        build(&g);
        mn_status st = mn_recipe_run(&g, &r, NULL, NULL, NULL);
        if (st != MN_EARG || !strstr(mn_errmsg(), run_bad[i][1]))
            fail_msg("run %zu: status %d, '%s'", i, st, mn_errmsg());
        mn_graph_free(&g);
    }
}

typedef struct { int passes, done, epochs; float last; } counts;
static void on_pass(void *ud, int i, const mn_recipe_pass *p) { (void)i; (void)p; ((counts *)ud)->passes++; }
static void on_done(void *ud, int i, const mn_recipe_pass *p, const mn_graph *g, float e) {
    (void)i; (void)p; (void)g;
    ((counts *)ud)->done++;
    ((counts *)ud)->last = e;
}
static void on_epoch(void *ud, const mn_epoch_stats *s) { (void)s; ((counts *)ud)->epochs++; }

static void test_run_finetune(void **state) {
    (void)state;
    mn_dataset tr, va;
    synth(&tr, 400);
    synth(&va, 100);
    static mn_recipe r;
    assert_int_equal(parse("passes:\n"
                           "  - prune: {sparsity: 0.6, steps: 2, finetune: 1}\n"
                           "  - quantize: {bits: 3, finetune: 2}\n"
                           "  - encode\n", &r), MN_OK);
    mn_graph g;
    build(&g);
    assert_int_equal(mn_set_input_norm(&g, &tr), MN_OK);
    mn_train_cfg tc;
    mn_train_default(&tc);
    tc.epochs = 15;
    tc.batch = 20;
    assert_int_equal(mn_train(&g, &tr, NULL, &tc), MN_OK);
    mn_eval_result er;
    assert_int_equal(mn_eval(&g, &va, 100, &er), MN_OK);
    counts c = {0, 0, 0, -2};
    mn_recipe_hooks h = {on_pass, on_done, NULL, on_epoch, &c};
    assert_int_equal(mn_recipe_run(&g, &r, &tr, &va, &h), MN_OK);
    assert_int_equal(c.passes, 3);
    assert_int_equal(c.done, 3);
    assert_int_equal(c.epochs, 2 + 2);
    /* the compressed model still works about as well as the dense one */
    assert_true(er.error < 0.25f);
    assert_true(c.last >= 0 && c.last < er.error + 0.1f);
    mn_dc_row rows[4];
    mn_dc_table(&g, rows, 4);
    assert_int_equal(rows[0].nonzero, 480);
    assert_string_equal(rows[1].storage, "codebook");
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

/* n random 1 x 28 x 28 images (MNIST-shaped) with labels from their mean
 * brightness in four bands: enough for calibration and a short fine-tune. */
static void synth_images(mn_dataset *d, int n, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    memset(d, 0, sizeof *d);
    d->n = n; d->c = 1; d->h = d->w = 28; d->nclass = 10;
    d->x = malloc(sizeof(float) * (size_t)n * 784);
    d->y = malloc(sizeof(int32_t) * (size_t)n);
    for (int s = 0; s < n; s++) {
        float m = 0;
        for (int i = 0; i < 784; i++) m += d->x[s * 784 + i] = mn_rng_uniform(&r);
        d->y[s] = (int)(m / 784 * 40) % 10;
    }
}

static void build_arch(mn_graph *g, const char *arch) {
    assert_int_equal(mn_arch_build(g, arch, 1, 28, 28, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 3);
    mn_graph_init_params(g, &r);
}

static int rows_of(const mn_graph *g, const char *param) {
    int p = mn_graph_find_param(g, param), rows = 0, cols = 0;
    assert_true(p >= 0);
    mn_param_matrix(g, p, &rows, &cols);
    return rows;
}

/* Issue 14: filter pruning, then affine int8, on LeNet-5. */
static void test_filter_then_affine_lenet5(void **state) {
    (void)state;
    static mn_recipe r;
    assert_int_equal(parse("name: filter-affine\npasses:\n"
                           "  - prune: {method: filter, sparsity: {conv1: 0.5, conv2: 0.4}, criterion: l1}\n"
                           "  - quantize: {method: affine, bits: 8, granularity: channel, act-bits: 8,\n"
                           "               calib_batches: 2}\n", &r), MN_OK);
    assert_int_equal(r.pass[0].kind, MN_PASS_PRUNE);
    assert_string_equal(r.pass[0].method, "filter");
    assert_string_equal(r.pass[1].method, "affine");
    mn_dataset tr, va;
    synth_images(&tr, 128, 1);
    synth_images(&va, 64, 2);
    mn_graph g;
    build_arch(&g, "lenet5");
    assert_int_equal(rows_of(&g, "conv1.weight"), 20);
    /* affine calibrates on training data: without it the check says so */
    assert_int_equal(mn_recipe_check(&g, &r, 0), MN_EARG);
    assert_non_null(strstr(mn_errmsg(), "line 4: quantize (affine) needs training data"));
    assert_int_equal(mn_recipe_needs_train(&r), 1);
    counts c = {0, 0, 0, -2};
    mn_recipe_hooks h = {on_pass, on_done, NULL, on_epoch, &c};
    assert_int_equal(mn_recipe_run(&g, &r, &tr, &va, &h), MN_OK);
    assert_int_equal(c.done, 2);
    assert_true(c.last >= 0 && c.last <= 1);
    assert_int_equal(rows_of(&g, "conv1.weight"), 10);
    assert_int_equal(rows_of(&g, "conv2.weight"), 30);
    const char *w[] = {"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"};
    for (int i = 0; i < 4; i++) {
        const mn_store *s = g.params[mn_graph_find_param(&g, w[i])].store;
        assert_non_null(s);
        assert_int_equal(s->kind, MN_ST_AFFINE);
    }
    mn_eval_result er;
    assert_int_equal(mn_eval(&g, &va, 64, &er), MN_OK);
    assert_true(er.error >= 0 && er.error <= 1);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

/* Issue 14: neuron pruning, then k-means sharing (and Huffman), on
 * LeNet-300-100, the prune fine-tuned with the CLI's training options. */
static void test_neuron_then_kmeans_lenet300(void **state) {
    (void)state;
    static mn_recipe r;
    assert_int_equal(parse("name: neuron-kmeans\nseed: 4\npasses:\n"
                           "  - prune: {method: neuron, sparsity: {fc1: 0.5, fc2: 0.25}, finetune: 1, batch: 32,\n"
                           "            opt: sgd, lr: 0.01}\n"
                           "  - quantize: {method: kmeans, bits: 4, iters: 20}\n"
                           "  - encode: {huffman: true}\n", &r), MN_OK);
    mn_dataset tr, va;
    synth_images(&tr, 96, 5);
    synth_images(&va, 48, 6);
    mn_graph g;
    build_arch(&g, "lenet300");
    assert_int_equal(mn_recipe_check(&g, &r, 0), MN_EARG); /* finetune without data */
    counts c = {0, 0, 0, -2};
    mn_recipe_hooks h = {on_pass, on_done, NULL, on_epoch, &c};
    assert_int_equal(mn_recipe_run(&g, &r, &tr, &va, &h), MN_OK);
    assert_int_equal(c.passes, 3);
    assert_int_equal(c.epochs, 1);
    assert_int_equal(rows_of(&g, "fc1.weight"), 150);
    assert_int_equal(rows_of(&g, "fc2.weight"), 75);
    mn_dc_row rows[4];
    assert_int_equal(mn_dc_table(&g, rows, 4), 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(rows[i].storage, "codebook");
        assert_int_equal(rows[i].bits, 4);
    }
    mn_codebook_info ci;
    assert_int_equal(mn_codebook_info_of(g.params[mn_graph_find_param(&g, "fc1.weight")].store, &ci), MN_OK);
    assert_true(ci.huff_index || ci.huff_gaps || ci.bits == 4);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

/* Every registered pass is reachable from a recipe under its verb and
 * method, and every one of its options under its CLI name (with '-' or
 * '_'): a junk value is refused for the value, never as an unknown option. */
static void test_every_pass_from_a_recipe(void **state) {
    (void)state;
    static mn_recipe r;
    int verbs[6] = {0};
    for (int i = 0; i < mn_pass_count(); i++) {
        const mn_pass_def *d = mn_pass_at(i);
        const char *verb = mn_pass_verb(d), *m = mn_pass_method(d);
        char text[1024];
        assert_true(mn_pass_nopts(d) > 0);
        for (int j = 0; j < mn_pass_nopts(d); j++) {
            const char *o = mn_pass_opt_name(d, j);
            assert_non_null(mn_pass_opt_help(d, j));
            char under[32];
            snprintf(under, sizeof under, "%s", o);
            for (char *u = under; *u; u++) *u = *u == '-' ? '_' : *u;
            for (int k = 0; k < 2; k++) {
                snprintf(text, sizeof text, "passes:\n  - %s: {%s%s%s'%s': '=,junk'}\n", verb, *m ? "method: " : "", m,
                         *m ? ", " : "", k ? under : o);
                mn_status st = parse(text, &r);
                if (st == MN_OK) continue; /* a text option takes anything */
                if (strstr(mn_errmsg(), "unknown option") || strstr(mn_errmsg(), "method"))
                    fail_msg("%s %s: option '%s' is not reachable: %s", verb, m, k ? under : o, mn_errmsg());
            }
        }
        /* the method is found by name and gives this pass */
        mn_pass p;
        assert_int_equal(mn_pass_init(&p, mn_pass_find(verb, m)), MN_OK);
        assert_ptr_equal(p.def, d);
        mn_pass_free(&p);
        for (int v = 0; v < 6; v++) verbs[v] |= !strcmp(verb, mn_pass_name((mn_pass_kind)v));
    }
    for (int v = 0; v < 6; v++) assert_true(verbs[v]);
    /* the methods the CLI has are all there */
    const char *want[][2] = {{"prune", "magnitude"}, {"prune", "snip"},      {"prune", "obd"},
                             {"prune", "neuron"},    {"prune", "filter"},    {"prune", "lottery"},
                             {"quantize", "fixed"},  {"quantize", "affine"}, {"quantize", "qat"},
                             {"quantize", "kmeans"}, {"binarize", "binaryconnect"}, {"binarize", "xnor"},
                             {"binarize", "bitwise"}, {"factorize", ""},     {"distill", ""},
                             {"encode", ""}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!mn_pass_find(want[i][0], want[i][1])) fail_msg("no pass %s %s", want[i][0], want[i][1]);
    /* option checks of the passes, as a recipe reports them */
    bad("passes:\n  - factorize: {rank: 3, energy: 0.5}\n", "t.yaml:2: give 'rank' or 'energy', not both");
    bad("passes:\n  - factorize: {finetune: 1}\n", "one of 'rank', 'energy' or 'layers' is required");
    bad("passes:\n  - binarize: {epochs: 1}\n", "pass 'binarize' needs a 'method'");
    bad("passes:\n  - binarize: {method: xnor, stochastic: true}\n", "unknown option 'stochastic' for pass 'binarize'");
    bad("passes:\n  - quantize: {method: affine, act_bits: 1}\n", "'act-bits' must be 0 (float) or 2..8");
    bad("passes:\n  - quantize: {method: fixed, target: all}\n", "'target' must be one of weights|acts|both");
    bad("passes:\n  - prune: {method: lottery, sparsity: {fc1: 0.5}}\n", "lottery takes one sparsity");
    bad("passes:\n  - prune: {method: neuron, sparsity: 0.5, criterion: l3}\n", "'criterion' must be one of");
    bad("passes:\n  - encode: {method: huffman}\n", "pass 'encode' takes no 'method'");
    bad("passes:\n  - prune: {sparsity: 0.5, rewind-iter: 3}\n", "unknown option 'rewind-iter'");
    bad("passes:\n  - distill: {hint: fc1}\n", "'hint' must be TEACHER_NODE:STUDENT_NODE");
    bad("passes:\n  - distill: {hint-weight: 2}\n", "'hint-weight' needs 'hint'");
    /* and the checks against the model */
    mn_graph g;
    build(&g);
    assert_int_equal(parse("passes:\n  - prune: {method: filter, sparsity: 0.5}\n", &r), MN_OK);
    assert_int_equal(mn_recipe_check(&g, &r, 1), MN_EARG); /* an MLP has no filters */
    assert_non_null(strstr(mn_errmsg(), "line 2: prune:"));
    assert_int_equal(parse("passes:\n  - factorize: {rank: 2}\n  - prune: {sparsity: {fc1: 0.5}}\n", &r), MN_OK);
    assert_int_equal(mn_recipe_check(&g, &r, 1), MN_OK); /* fc1 is checked when it runs */
    assert_int_equal(mn_recipe_run(&g, &r, NULL, NULL, NULL), MN_EARG);
    assert_non_null(strstr(mn_errmsg(), "line 3: prune:"));
    mn_graph_free(&g);
    build(&g);
    assert_int_equal(parse("passes:\n  - factorize: {rank: 2}\n  - prune: {sparsity: {fc1_a: 0.5}}\n", &r), MN_OK);
    assert_int_equal(mn_recipe_run(&g, &r, NULL, NULL, NULL), MN_OK);
    assert_true(mn_graph_find_param(&g, "fc1_b.weight") >= 0);
    mn_graph_free(&g);
}

/* A distill pass learns from the model as the recipe got it: pruned, then
 * distilled, the zeros stay and the error drops below the pruned model's. */
static void test_prune_then_distill(void **state) {
    (void)state;
    mn_dataset tr, va;
    synth(&tr, 400);
    synth(&va, 100);
    static mn_recipe r;
    assert_int_equal(parse("passes:\n"
                           "  - prune: {sparsity: 0.85}\n"
                           "  - distill: {temperature: 2, alpha: 0.7, epochs: 3, batch: 20, lr: 0.003}\n", &r), MN_OK);
    assert_int_equal(r.pass[1].kind, MN_PASS_DISTILL);
    assert_int_equal(mn_recipe_needs_train(&r), 1);
    mn_graph g;
    build(&g);
    assert_int_equal(mn_set_input_norm(&g, &tr), MN_OK);
    mn_train_cfg tc;
    mn_train_default(&tc);
    tc.epochs = 15;
    tc.batch = 20;
    assert_int_equal(mn_train(&g, &tr, NULL, &tc), MN_OK);
    /* the prune alone, for comparison */
    static mn_recipe r1;
    assert_int_equal(parse("passes:\n  - prune: {sparsity: 0.85}\n", &r1), MN_OK);
    mn_graph g1;
    assert_int_equal(mn_graph_clone(&g, &g1), MN_OK);
    assert_int_equal(mn_recipe_run(&g1, &r1, NULL, NULL, NULL), MN_OK);
    mn_eval_result pruned;
    assert_int_equal(mn_eval(&g1, &va, 100, &pruned), MN_OK);
    mn_graph_free(&g1);
    counts c = {0, 0, 0, -2};
    mn_recipe_hooks h = {on_pass, on_done, NULL, on_epoch, &c};
    assert_int_equal(mn_recipe_run(&g, &r, &tr, &va, &h), MN_OK);
    assert_int_equal(c.epochs, 3);
    assert_true(c.last >= 0 && c.last < pruned.error);
    mn_dc_row rows[4];
    mn_dc_table(&g, rows, 4);
    assert_int_equal(rows[0].nonzero, 180); /* 15% of 1200: the masks held */
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_train_section),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_run_finetune),
        cmocka_unit_test(test_filter_then_affine_lenet5),
        cmocka_unit_test(test_neuron_then_kmeans_lenet300),
        cmocka_unit_test(test_every_pass_from_a_recipe),
        cmocka_unit_test(test_prune_then_distill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
