/* Training checkpoints: a run interrupted after any epoch and resumed from
 * its checkpoint ends bit for bit where the uninterrupted run ends; hostile
 * checkpoint files are refused; a checkpoint is only resumed by the run
 * that made it.  Also: a NaN during training names the layer it came from. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "minnow/arch.h"
#include "minnow/checkpoint.h"
#include "minnow/io.h"
#include "minnow/train.h"

/* ---- a small problem: 1x6x6 images, 3 classes --------------------------- */

static mn_dataset g_data;

static void make_data(mn_dataset *d, int n, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n, d->c = 1, d->h = 6, d->w = 6, d->nclass = 3;
    d->x = mn_alloc((size_t)n * 36, sizeof(float));
    d->y = mn_alloc((size_t)n, sizeof(int32_t));
    assert_non_null(d->x);
    assert_non_null(d->y);
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)mn_rng_below(&r, 3);
        d->y[i] = k;
        for (int j = 0; j < 36; j++) d->x[i * 36 + j] = mn_rng_uniform(&r) * 0.5f + (j % 3 == k ? 0.5f : 0.0f);
    }
}

static int setup(void **state) {
    (void)state;
    make_data(&g_data, 150, 11);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mn_dataset_free(&g_data);
    return 0;
}

/* Dropout (g->rng), batch norm (running statistics), a conv (im2col) and
 * random shifts (the training rng) all carry state across epochs. */
static const char *SPEC =
    "input x; conv c1 filters=3 k=3 pad=1; batchnorm bn; relu r1; flatten f; dropout d rate=0.3; "
    "dense fc1 units=12; relu r2; dense fc2 units=classes";

static void new_model(mn_graph *g) {
    assert_int_equal(mn_arch_build(g, SPEC, 1, 6, 6, 3), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 5);
    mn_graph_init_params(g, &r);
    assert_int_equal(mn_set_input_norm(g, &g_data), MN_OK);
}

static void cfg_for(mn_train_cfg *c, mn_opt_kind opt, int epochs) {
    mn_train_default(c);
    c->epochs = epochs;
    c->batch = 16;
    mn_optim_default(&c->opt, opt);
    c->opt.weight_decay = 1e-4f;
    c->sched = opt == MN_OPT_SGD ? MN_SCHED_COSINE : MN_SCHED_STEP;
    c->step_epochs = 2;
    c->seed = 42;
    c->augment_shift = 1;
}

/* Records the epoch log and keeps the checkpoint made after epoch `at`. */
typedef struct rec {
    int at;
    mn_ckpt_run run;
    int nlog;
    mn_epoch_stats log[64];
    unsigned char *ck;
    size_t cklen;
    const char *path;   /* also written to this file when set */
} rec;

static void on_epoch(void *ud, const mn_epoch_stats *s) {
    rec *r = ud;
    if (r->nlog < 64) r->log[r->nlog++] = *s;
}

static mn_status on_state(void *ud, mn_graph *g, const mn_train_state *s) {
    rec *r = ud;
    if (s->epoch != r->at) return MN_OK;
    mn_status st = mn_checkpoint_save_mem(g, &r->run, s, r->log, r->nlog, &r->ck, &r->cklen);
    if (st == MN_OK && r->path) st = mn_checkpoint_save(r->path, g, &r->run, s, r->log, r->nlog);
    return st;
}

/* The whole run, then the run stopped after epoch `at` and resumed from
 * its checkpoint (through memory, or through a file): the same model, the
 * same moments, the same epoch log. */
static void check_resume(mn_opt_kind opt, int epochs, int at, const char *path) {
    mn_graph ref, g, g2;
    mn_train_cfg c;
    cfg_for(&c, opt, epochs);
    rec rr = {0}, r = {.at = at, .path = path};
    c.on_epoch = on_epoch;

    new_model(&ref);
    c.ud = &rr;
    assert_int_equal(mn_train(&ref, &g_data, &g_data, &c), MN_OK);

    /* Interrupted: the run stops (as if killed) right after its checkpoint. */
    new_model(&g);
    mn_ckpt_run_of(&c, &g_data, &r.run);
    mn_train_cfg ci = c;
    ci.epochs = epochs;
    ci.ud = &r;
    ci.on_state = on_state;
    /* Running only `at` epochs of an `epochs` run changes nothing the loop
     * does in those epochs except the cosine schedule, which reads epochs:
     * so run all of them and drop the model, keeping only the checkpoint. */
    assert_int_equal(mn_train(&g, &g_data, &g_data, &ci), MN_OK);
    assert_non_null(r.ck);
    mn_graph_free(&g);

    mn_checkpoint ck;
    if (path) assert_int_equal(mn_checkpoint_load(path, &g2, &ck), MN_OK);
    else assert_int_equal(mn_checkpoint_load_mem(r.ck, r.cklen, &g2, &ck), MN_OK);
    assert_int_equal(ck.state.epoch, at);
    assert_int_equal(ck.nlog, at);
    assert_int_equal(mn_checkpoint_match(&ck, &c, &g_data), MN_OK);
    assert_int_equal(mn_checkpoint_match_graph(&g2, &ref), MN_OK);

    rec r2 = {0};
    memcpy(r2.log, ck.log, sizeof(mn_epoch_stats) * (size_t)ck.nlog);
    r2.nlog = ck.nlog;
    mn_train_cfg cr = c;
    cr.ud = &r2;
    cr.resume = &ck.state;
    assert_int_equal(mn_train(&g2, &g_data, &g_data, &cr), MN_OK);

    assert_int_equal(g2.nw, ref.nw);
    assert_memory_equal(g2.w, ref.w, sizeof(float) * (size_t)ref.nw);
    assert_memory_equal(g2.m, ref.m, sizeof(float) * (size_t)ref.nw);
    assert_memory_equal(g2.v, ref.v, sizeof(float) * (size_t)ref.nw);
    assert_memory_equal(&g2.rng, &ref.rng, sizeof ref.rng);
    assert_int_equal(r2.nlog, rr.nlog);
    for (int i = 0; i < rr.nlog; i++) {
        assert_int_equal(r2.log[i].epoch, rr.log[i].epoch);
        assert_memory_equal(&r2.log[i].loss, &rr.log[i].loss, sizeof(float));
        assert_memory_equal(&r2.log[i].val_error, &rr.log[i].val_error, sizeof(float));
    }
    /* ... and the saved model files are identical. */
    unsigned char *a, *b;
    size_t na, nb;
    assert_int_equal(mn_model_save_mem(&ref, &a, &na), MN_OK);
    assert_int_equal(mn_model_save_mem(&g2, &b, &nb), MN_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a), free(b), free(r.ck);
    mn_checkpoint_free(&ck);
    mn_graph_free(&g2);
    mn_graph_free(&ref);
}

static void test_resume_adam(void **state) {
    (void)state;
    mn_set_threads(1);
    for (int at = 1; at <= 4; at++) check_resume(MN_OPT_ADAM, 4, at, NULL);
}

static void test_resume_sgd_file(void **state) {
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/run.ckpt", tu_tmpdir());
    check_resume(MN_OPT_SGD, 5, 3, path);
}

/* Without the saved rng states the resumed run would differ: the test
 * above would catch a checkpoint that forgot them. */
static void test_rng_matters(void **state) {
    (void)state;
    mn_graph a, b;
    mn_train_cfg c;
    cfg_for(&c, MN_OPT_ADAM, 2);
    new_model(&a);
    new_model(&b);
    assert_int_equal(mn_train(&a, &g_data, NULL, &c), MN_OK);
    c.seed = 43;
    assert_int_equal(mn_train(&b, &g_data, NULL, &c), MN_OK);
    assert_true(memcmp(a.w, b.w, sizeof(float) * (size_t)a.nw) != 0);
    mn_graph_free(&a);
    mn_graph_free(&b);
}

/* ---- hostile files ------------------------------------------------------- */

static void make_ckpt(unsigned char **buf, size_t *len) {
    mn_graph g;
    new_model(&g);
    for (int64_t i = 0; i < g.nw; i++) g.m[i] = 0.01f * (float)(i % 7), g.v[i] = 0.001f * (float)(i % 5);
    float *mk = mn_param_mask(&g, mn_graph_find_param(&g, "fc1.weight"));
    assert_non_null(mk);
    for (int i = 0; i < 50; i++) mk[i * 3] = 0;
    mn_train_cfg c;
    cfg_for(&c, MN_OPT_ADAM, 4);
    mn_ckpt_run run;
    mn_ckpt_run_of(&c, &g_data, &run);
    mn_train_state s = {2, 20, {{1, 2, 3, 4}}, {{5, 6, 7, 8}}, c.opt};
    s.opt.t = 20;
    mn_epoch_stats log[2] = {{1, 1.0f, 0.5f, 0.4f, 1.1f, 0.5}, {2, 0.8f, 0.6f, 0.3f, 0.9f, 0.5}};
    assert_int_equal(mn_checkpoint_save_mem(&g, &run, &s, log, 2, buf, len), MN_OK);
    /* Round trip: everything comes back, the masks included. */
    mn_graph h;
    mn_checkpoint ck;
    assert_int_equal(mn_checkpoint_load_mem(*buf, *len, &h, &ck), MN_OK);
    assert_memory_equal(h.w, g.w, sizeof(float) * (size_t)g.nw);
    assert_memory_equal(h.m, g.m, sizeof(float) * (size_t)g.nw);
    assert_memory_equal(h.v, g.v, sizeof(float) * (size_t)g.nw);
    int p = mn_graph_find_param(&h, "fc1.weight");
    assert_non_null(h.params[p].mask);
    assert_memory_equal(h.params[p].mask, mk, sizeof(float) * (size_t)h.params[p].n);
    assert_int_equal(ck.state.epoch, 2);
    assert_int_equal(ck.state.step, 20);
    assert_int_equal(ck.state.opt.t, 20);
    assert_int_equal(ck.state.graph_rng.s[3], 8);
    assert_int_equal(ck.nlog, 2);
    assert_true(ck.log[1].val_error == 0.3f);
    mn_checkpoint_free(&ck);
    mn_graph_free(&h);
    mn_graph_free(&g);
}

static size_t g_edit; /* which edit expect_bad is looking at, for messages */

static void expect_bad(const unsigned char *buf, size_t len, const char *needle) {
    mn_graph g;
    mn_checkpoint ck;
    mn_status st = mn_checkpoint_load_mem(buf, len, &g, &ck);
    if (st == MN_OK) fail_msg("a bad checkpoint (%zu bytes, edit at %zu) loaded", len, g_edit);
    assert_int_equal(g.nnodes, 0);
    assert_null(g.w);
    assert_null(ck.log);
    if (needle && !strstr(mn_errmsg(), needle)) fail_msg("'%s' lacks '%s'", mn_errmsg(), needle);
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* Re-seals an edited buffer so the edit gets past the CRC to the parser. */
static void reseal(unsigned char *b, size_t len) { put32(b + len - 4, (uint32_t)crc32(0L, b, (uInt)(len - 4))); }

static void test_corrupt(void **state) {
    (void)state;
    unsigned char *buf;
    size_t len;
    make_ckpt(&buf, &len);
    /* Every truncation, and a flipped bit anywhere. */
    for (size_t cut = 0; cut < len; cut += cut < 200 ? 1 : 97) g_edit = cut, expect_bad(buf, cut, NULL);
    unsigned char *b = malloc(len + 8);
    assert_non_null(b);
    for (size_t i = 0; i < len; i += 7) {
        memcpy(b, buf, len);
        b[i] ^= 0x10;
        g_edit = i;
        expect_bad(b, len, NULL);
    }
    /* Past the CRC: counts and lengths larger than the file. */
    const size_t run = 6 * 4 + 7 * 4 + 8 + 4 + 4, log_at = 16 + run + 4 + 8 + 64 + 8; /* header, run, state */
    memcpy(b, buf, len);
    put32(b + log_at, 0x7fffffff);
    reseal(b, len);
    expect_bad(b, len, "epoch log");
    memcpy(b, buf, len);
    put32(b + 16 + run, 99); /* epoch past the run's epochs */
    reseal(b, len);
    expect_bad(b, len, "past the run");
    const size_t model_at = log_at + 4 + 2 * 28;
    memcpy(b, buf, len);
    put32(b + model_at, 0xfffffff0u);
    reseal(b, len);
    expect_bad(b, len, "model");
    /* A NaN moment. */
    memcpy(b, buf, len);
    uint32_t mlen = (uint32_t)b[model_at] | (uint32_t)b[model_at + 1] << 8 | (uint32_t)b[model_at + 2] << 16;
    put32(b + model_at + 8 + mlen + 8, 0x7fc00000u);
    reseal(b, len);
    expect_bad(b, len, "not finite");
    /* Trailing bytes, other magic, a newer version. */
    memcpy(b, buf, len);
    memmove(b + len - 4 + 4, b + len - 4, 4);
    b[len - 4] = 0;
    for (int i = 0; i < 8; i++) b[8 + i] = (unsigned char)((uint64_t)(len + 4) >> (8 * i));
    reseal(b, len + 4);
    expect_bad(b, len + 4, "unexpected bytes");
    memcpy(b, buf, len);
    b[0] = 'X';
    expect_bad(b, len, "magic");
    memcpy(b, buf, len);
    b[4] = 9;
    reseal(b, len);
    expect_bad(b, len, "version");
    free(b);
    free(buf);
}

static void test_mismatch(void **state) {
    (void)state;
    unsigned char *buf;
    size_t len;
    make_ckpt(&buf, &len);
    mn_graph g;
    mn_checkpoint ck;
    assert_int_equal(mn_checkpoint_load_mem(buf, len, &g, &ck), MN_OK);
    mn_train_cfg c;
    cfg_for(&c, MN_OPT_ADAM, 4);
    assert_int_equal(mn_checkpoint_match(&ck, &c, &g_data), MN_OK);
    c.seed = 7;
    assert_int_equal(mn_checkpoint_match(&ck, &c, &g_data), MN_EARG);
    assert_non_null(strstr(mn_errmsg(), "--seed"));
    cfg_for(&c, MN_OPT_ADAM, 4);
    c.opt.lr *= 2;
    assert_int_equal(mn_checkpoint_match(&ck, &c, &g_data), MN_EARG);
    assert_non_null(strstr(mn_errmsg(), "--lr"));
    cfg_for(&c, MN_OPT_ADAM, 4);
    float keep = g_data.x[5];
    g_data.x[5] += 1;
    assert_int_equal(mn_checkpoint_match(&ck, &c, &g_data), MN_EARG);
    assert_non_null(strstr(mn_errmsg(), "other training data"));
    g_data.x[5] = keep;
    assert_int_equal(mn_checkpoint_match(&ck, &c, &g_data), MN_OK);
    /* Another architecture. */
    mn_graph other;
    assert_int_equal(mn_arch_build(&other, "input x; flatten f; dense fc units=classes", 1, 6, 6, 3), MN_OK);
    assert_int_equal(mn_checkpoint_match_graph(&g, &other), MN_EARG);
    mn_graph_free(&other);
    /* A resume state past the run is refused by the loop itself. */
    mn_train_state s = ck.state;
    s.epoch = 9;
    c.resume = &s;
    assert_int_equal(mn_train(&g, &g_data, NULL, &c), MN_EARG);
    mn_checkpoint_free(&ck);
    mn_graph_free(&g);
    free(buf);
}

/* ---- NaN/Inf during training names the layer ----------------------------- */

typedef struct poison { int64_t at; int param; } poison;

static void poison_step(void *ud, mn_graph *g, int64_t step) {
    poison *p = ud;
    if (step == p->at) mn_param_data(g, p->param)[0] = NAN;
}

/* Poisons parameter `param` before training (at < 0, with Inf) or right
 * after optimizer step `at` (with NaN), and expects MN_ENAN whose message
 * quotes `name` and says `where`. */
static void expect_nan(const char *param, int64_t at, const char *name, const char *where) {
    mn_graph g;
    new_model(&g);
    mn_train_cfg c;
    cfg_for(&c, MN_OPT_ADAM, 3);
    poison p = {at, mn_graph_find_param(&g, param)};
    assert_true(p.param >= 0);
    if (at < 0) mn_param_data(&g, p.param)[0] = INFINITY;
    c.on_step = poison_step;
    c.ud = &p;
    assert_int_equal(mn_train(&g, &g_data, NULL, &c), MN_ENAN);
    char want[80];
    snprintf(want, sizeof want, "'%s", name);
    if (!strstr(mn_errmsg(), want)) fail_msg("'%s' does not name %s", mn_errmsg(), want);
    if (!strstr(mn_errmsg(), where)) fail_msg("'%s' does not say '%s'", mn_errmsg(), where);
    mn_graph_free(&g);
}

static void test_nan_names_layer(void **state) {
    (void)state;
    /* Poisoned before training: the forward pass of step 0 finds it, in
     * the output of the node that uses the weight. */
    expect_nan("fc2.weight", -1, "fc2", "epoch 1 step 0");
    expect_nan("c1.weight", -1, "c1", "epoch 1 step 0");
    expect_nan("fc1.bias", -1, "fc1", "epoch 1 step 0");
    /* Poisoned by step 12 (10 steps of 16 samples per epoch: epoch 2, its
     * step 2): the parameter is named at once, even where a relu would
     * hide the NaN from the loss (bn.gamma feeds relu r1). */
    expect_nan("fc1.weight", 12, "fc1.weight", "epoch 2 step 2");
    expect_nan("bn.gamma", 12, "bn.gamma", "epoch 2 step 2");
    /* Plain divergence: an absurd learning rate. */
    mn_graph g;
    new_model(&g);
    mn_train_cfg c;
    cfg_for(&c, MN_OPT_SGD, 3);
    c.opt.lr = 1e30f;
    assert_int_equal(mn_train(&g, &g_data, NULL, &c), MN_ENAN);
    assert_non_null(strstr(mn_errmsg(), "diverged at epoch 1 step"));
    mn_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_adam),
        cmocka_unit_test(test_resume_sgd_file),
        cmocka_unit_test(test_rng_matters),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_nan_names_layer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
