/* Pruning: exact sparsity per layer and globally, fixed masks during
 * fine-tuning, structured removal that keeps outputs when the removed units
 * were dead, SNIP/OBD/lottery/gradual sparsities, and one short accuracy
 * check on MNIST. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/arch.h"
#include "minnow/io.h"
#include "minnow/prune.h"
#include "minnow/sparse.h"

static const char *MLP = "input x; flatten f; dense fc1 units=30; relu r1; dense fc2 units=12; relu r2;"
                         "dense fc3 units=10";
static const char *CNN = "input x; conv c1 filters=6 k=3; relu r1; maxpool p1 k=2; conv c2 filters=8 k=3;"
                         "relu r2; flatten f; dense fc1 units=20; relu r3; dense fc2 units=10";

static void build(mn_graph *g, const char *spec, int h, uint64_t seed) {
    assert_int_equal(mn_arch_build(g, spec, 1, h, h, 10), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_graph_init_params(g, &r);
}

/* n random samples whose label is a fixed function of the pixels, so that
 * training has something to learn. */
static void synth(mn_dataset *d, int n, int h, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n; d->c = 1; d->h = h; d->w = h; d->nclass = 10;
    d->x = mn_alloc((size_t)n * h * h, sizeof(float));
    d->y = mn_alloc((size_t)n, sizeof(int32_t));
    assert_non_null(d->x);
    assert_non_null(d->y);
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int j = 0; j < h * h; j++) {
            float v = mn_rng_uniform(&r);
            d->x[(int64_t)i * h * h + j] = v;
            if (j < 10) s += v;
        }
        d->y[i] = (int32_t)(s * 2) % 10;
    }
}

static int64_t zeros(const mn_graph *g, const char *name) {
    int p = mn_graph_find_param(g, name);
    assert_true(p >= 0);
    return g->params[p].n - mn_param_nonzeros(g, p);
}

/* Every pruned |w| (by the original values) is <= every kept |w|. */
static void assert_threshold(const float *orig, const mn_graph *g, const int *ps, int np) {
    float maxp = 0, mink = INFINITY;
    for (int j = 0; j < np; j++) {
        const mn_param *pp = &g->params[ps[j]];
        for (int64_t i = 0; i < pp->n; i++) {
            float a = fabsf(orig[pp->off + i]);
            if (g->w[pp->off + i] == 0) { if (a > maxp) maxp = a; }
            else if (a < mink) mink = a;
        }
    }
    assert_true(maxp <= mink);
}

static void test_parse_targets(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 1);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "0.5,fc1=0.9", MN_SEL_WEIGHTS, t), MN_OK);
    assert_true(fabsf(t[mn_graph_find_param(&g, "fc1.weight")] - 0.9f) < 1e-6f);
    assert_true(fabsf(t[mn_graph_find_param(&g, "fc2.weight")] - 0.5f) < 1e-6f);
    assert_true(t[mn_graph_find_param(&g, "fc1.bias")] < 0);
    assert_int_equal(mn_prune_parse_targets(&g, "fc2.weight=0.25", MN_SEL_WEIGHTS, t), MN_OK);
    assert_true(t[mn_graph_find_param(&g, "fc1.weight")] < 0);
    assert_true(fabsf(t[mn_graph_find_param(&g, "fc2.weight")] - 0.25f) < 1e-6f);
    const char *bad[] = {"1.0", "-0.1", "1.5", "fc9=0.5", "abc", "fc1=0.5,", "r1=0.5", "fc1=", "=0.3", "fc1=x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mn_prune_parse_targets(&g, bad[i], MN_SEL_WEIGHTS, t), MN_EARG);
    /* The output layer's units cannot be removed. */
    assert_int_equal(mn_prune_parse_targets(&g, "fc3=0.5", MN_SEL_NEURONS, t), MN_EARG);
    assert_int_equal(mn_prune_parse_targets(&g, "0.5", MN_SEL_NEURONS, t), MN_OK);
    assert_true(t[mn_graph_find_param(&g, "fc3.weight")] < 0);
    assert_true(t[mn_graph_find_param(&g, "fc2.weight")] == 0.5f);
    assert_true(mn_prune_is_output_layer(&g, mn_graph_find_param(&g, "fc3.weight")));
    assert_false(mn_prune_is_output_layer(&g, mn_graph_find_param(&g, "fc2.weight")));
    mn_graph_free(&g);
}

static void test_magnitude_layer_exact(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 2);
    float *orig = malloc(sizeof(float) * g.nw);
    memcpy(orig, g.w, sizeof(float) * g.nw);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "fc1=0.9,fc2=0.37,fc3=0.05", MN_SEL_WEIGHTS, t), MN_OK);
    assert_int_equal(mn_prune_by_score(&g, t, MN_SCOPE_LAYER, 0, NULL), MN_OK);
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.9 * 64 * 30));
    assert_int_equal(zeros(&g, "fc2.weight"), llround(0.37 * 30 * 12));
    assert_int_equal(zeros(&g, "fc3.weight"), llround(0.05 * 12 * 10));
    assert_int_equal(zeros(&g, "fc1.bias"), 0);
    for (int p = 0; p < g.nparams; p++)
        if (t[p] >= 0) assert_threshold(orig, &g, &p, 1);
    /* A lower target later does not bring weights back. */
    t[mn_graph_find_param(&g, "fc1.weight")] = 0.5f;
    assert_int_equal(mn_prune_by_score(&g, t, MN_SCOPE_LAYER, 0, NULL), MN_OK);
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.9 * 64 * 30));
    free(orig);
    mn_graph_free(&g);
}

/* The controls: random pruning hits each layer's count exactly and is not
 * magnitude pruning; a shuffled mask keeps every layer's count, moves the
 * positions, and puts the given init values under the new mask. */
static void test_random_and_shuffle(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 2);
    float *orig = malloc(sizeof(float) * g.nw);
    memcpy(orig, g.w, sizeof(float) * g.nw);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "fc1=0.9,fc2=0.5", MN_SEL_WEIGHTS, t), MN_OK);
    mn_prune_cfg c;
    mn_prune_cfg_default(&c);
    c.score = MN_SCORE_RANDOM;
    c.target = t;
    c.ft.seed = 9;
    assert_int_equal(mn_prune_iterative(&g, NULL, NULL, &c), MN_OK);
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.9 * 64 * 30));
    assert_int_equal(zeros(&g, "fc2.weight"), llround(0.5 * 30 * 12));
    assert_int_equal(zeros(&g, "fc3.weight"), 0);
    int p1 = mn_graph_find_param(&g, "fc1.weight");
    /* not the magnitude mask: some kept weight is smaller than some pruned one */
    const float *w = mn_param_data(&g, p1), *o = orig + g.params[p1].off;
    float minkept = INFINITY, maxpruned = 0;
    for (int64_t i = 0; i < g.params[p1].n; i++) {
        if (w[i] != 0) minkept = fminf(minkept, fabsf(o[i]));
        else maxpruned = fmaxf(maxpruned, fabsf(o[i]));
    }
    assert_true(minkept < maxpruned);
    unsigned char *before = malloc((size_t)g.params[p1].n);
    for (int64_t i = 0; i < g.params[p1].n; i++) before[i] = g.params[p1].mask[i] != 0;
    assert_int_equal(mn_prune_shuffle_masks(&g, orig, 4), MN_OK);
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.9 * 64 * 30));
    assert_int_equal(zeros(&g, "fc2.weight"), llround(0.5 * 30 * 12));
    int moved = 0;
    w = mn_param_data(&g, p1);
    for (int64_t i = 0; i < g.params[p1].n; i++) {
        moved += before[i] != (g.params[p1].mask[i] != 0);
        assert_true(w[i] == (g.params[p1].mask[i] != 0 ? o[i] : 0.0f));
    }
    assert_true(moved > 0);
    free(before);
    free(orig);
    mn_graph_free(&g);
}

static void test_magnitude_global_exact(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 3);
    float *orig = malloc(sizeof(float) * g.nw);
    memcpy(orig, g.w, sizeof(float) * g.nw);
    float t[16];
    int ps[3], np = 0;
    for (int p = 0; p < g.nparams; p++) {
        t[p] = mn_prune_selectable(&g, p, MN_SEL_WEIGHTS) ? 0 : -1;
        if (t[p] >= 0) ps[np++] = p;
    }
    assert_int_equal(np, 3);
    int64_t total = 64 * 30 + 30 * 12 + 12 * 10;
    assert_int_equal(mn_prune_by_score(&g, t, MN_SCOPE_GLOBAL, 0.8f, NULL), MN_OK);
    assert_int_equal(zeros(&g, "fc1.weight") + zeros(&g, "fc2.weight") + zeros(&g, "fc3.weight"),
                     llround(0.8 * total));
    assert_threshold(orig, &g, ps, np);
    /* Layers differ in scale (1/sqrt(fan_in)), so one threshold prunes
     * them unequally: fc1 (the widest fan-in, smallest weights) the most. */
    assert_true(zeros(&g, "fc1.weight") * 1.0 / (64 * 30) > zeros(&g, "fc3.weight") * 1.0 / 120);
    assert_int_equal(mn_prune_by_score(&g, t, MN_SCOPE_GLOBAL, 1.0f, NULL), MN_EARG);
    free(orig);
    mn_graph_free(&g);
}

static void test_masks_fixed_during_finetune(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 4);
    mn_dataset d;
    synth(&d, 240, 8, 5);
    assert_int_equal(mn_set_input_norm(&g, &d), MN_OK);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "0.75", MN_SEL_WEIGHTS, t), MN_OK);
    assert_int_equal(mn_prune_by_score(&g, t, MN_SCOPE_LAYER, 0, NULL), MN_OK);
    int p1 = mn_graph_find_param(&g, "fc1.weight");
    float *before = malloc(sizeof(float) * g.params[p1].n);
    memcpy(before, mn_param_data(&g, p1), sizeof(float) * g.params[p1].n);
    for (int opt = 0; opt < 2; opt++) {
        mn_train_cfg c;
        mn_train_default(&c);
        c.epochs = 2;
        c.batch = 20;
        if (opt) mn_optim_default(&c.opt, MN_OPT_SGD);
        c.opt.weight_decay = 1e-3f; /* decay must not revive pruned weights either */
        assert_int_equal(mn_train(&g, &d, NULL, &c), MN_OK);
    }
    const float *w = mn_param_data(&g, p1);
    int64_t changed = 0;
    for (int64_t i = 0; i < g.params[p1].n; i++) {
        if (before[i] == 0) assert_true(w[i] == 0.0f);
        else changed += w[i] != before[i];
    }
    assert_true(changed > 0);
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.75 * 64 * 30));
    free(before);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

static int nstage;
static float stage_sp[8];
static void count_stage(void *ud, const mn_prune_stage *s) {
    (void)ud;
    if (nstage < 8) stage_sp[nstage] = s->sparsity;
    nstage++;
}

static void test_iterative_steps(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 6);
    mn_dataset d;
    synth(&d, 120, 8, 7);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "fc1=0.92,fc2=0.8", MN_SEL_WEIGHTS, t), MN_OK);
    mn_prune_cfg c;
    mn_prune_cfg_default(&c);
    c.target = t;
    c.steps = 3;
    c.ft.epochs = 1;
    c.ft.batch = 30;
    c.on_stage = count_stage;
    nstage = 0;
    assert_int_equal(mn_prune_iterative(&g, &d, &d, &c), MN_OK);
    assert_int_equal(nstage, 3);
    assert_true(stage_sp[0] < stage_sp[1] && stage_sp[1] < stage_sp[2]);
    /* Geometric: each step keeps the same share of what was left. */
    assert_true(fabsf(stage_sp[0] - (1 - cbrtf(1 - (0.92f * 1920 + 0.8f * 360) / 2280))) < 0.03f);
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.92 * 1920));
    assert_int_equal(zeros(&g, "fc2.weight"), llround(0.8 * 360));
    assert_int_equal(zeros(&g, "fc3.weight"), 0);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

static void test_gradual(void **state) {
    (void)state;
    assert_true(mn_prune_gradual_at(0, 0.9f, 10, 5, 4, 0) == 0);
    assert_true(mn_prune_gradual_at(0, 0.9f, 10, 5, 4, 10) == 0);
    assert_true(fabsf(mn_prune_gradual_at(0, 0.9f, 10, 5, 4, 20) - 0.9f * (1 - 0.125f)) < 1e-6f);
    assert_true(mn_prune_gradual_at(0.2f, 0.9f, 10, 5, 4, 30) == 0.9f);
    assert_true(mn_prune_gradual_at(0.2f, 0.9f, 10, 5, 4, 99) == 0.9f);
    mn_graph g;
    build(&g, MLP, 8, 8);
    mn_dataset d;
    synth(&d, 200, 8, 9);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "0.85", MN_SEL_WEIGHTS, t), MN_OK);
    mn_prune_cfg c;
    mn_prune_cfg_default(&c);
    c.target = t;
    c.ft.epochs = 4;
    c.ft.batch = 20; /* 40 steps */
    c.dt = 5;
    c.on_stage = count_stage;
    nstage = 0;
    assert_int_equal(mn_prune_gradual(&g, &d, NULL, &c), MN_OK);
    assert_int_equal(nstage, 7); /* updates at 0, 5, ..., 30 = 0.75 * 40 */
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.85 * 1920));
    assert_int_equal(zeros(&g, "fc3.weight"), llround(0.85 * 120));
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

static void test_snip_obd_sparsity(void **state) {
    (void)state;
    mn_dataset d;
    synth(&d, 300, 8, 10);
    for (int method = 0; method < 2; method++) {
        mn_graph g;
        build(&g, method ? CNN : MLP, method ? 12 : 8, 11);
        if (method) { mn_dataset_free(&d); synth(&d, 300, 12, 10); }
        assert_int_equal(mn_set_input_norm(&g, &d), MN_OK);
        float *s = malloc(sizeof(float) * g.nw);
        float t[32];
        int64_t total = 0;
        for (int p = 0; p < g.nparams; p++) {
            t[p] = mn_prune_selectable(&g, p, MN_SEL_WEIGHTS) ? 0 : -1;
            if (t[p] >= 0) total += g.params[p].n;
        }
        /* SNIP, global top-k */
        assert_int_equal(mn_prune_snip_scores(&g, &d, 2, 100, 1, s), MN_OK);
        for (int p = 0; p < g.nparams; p++)
            if (t[p] < 0) for (int64_t i = 0; i < g.params[p].n; i++) assert_true(s[g.params[p].off + i] == 0);
        mn_graph c;
        assert_int_equal(mn_graph_clone(&g, &c), MN_OK);
        assert_int_equal(mn_prune_by_score(&c, t, MN_SCOPE_GLOBAL, 0.9f, s), MN_OK);
        int64_t z = 0;
        for (int p = 0; p < c.nparams; p++) if (t[p] >= 0) z += c.params[p].n - mn_param_nonzeros(&c, p);
        assert_int_equal(z, llround(0.9 * total));
        mn_graph_free(&c);
        /* OBD, per layer */
        assert_int_equal(mn_prune_obd_scores(&g, &d, 20, 1, s), MN_OK);
        for (int p = 0; p < g.nparams; p++) {
            if (t[p] < 0) continue;
            t[p] = 0.6f;
            double sum = 0;
            for (int64_t i = 0; i < g.params[p].n; i++) {
                assert_true(s[g.params[p].off + i] >= 0);
                sum += s[g.params[p].off + i];
            }
            assert_true(sum > 0);
        }
        assert_int_equal(mn_prune_by_score(&g, t, MN_SCOPE_LAYER, 0, s), MN_OK);
        for (int p = 0; p < g.nparams; p++)
            if (t[p] >= 0) assert_int_equal(g.params[p].n - mn_param_nonzeros(&g, p), llround(0.6 * g.params[p].n));
        free(s);
        mn_graph_free(&g);
    }
    mn_dataset_free(&d);
}

/* OBD's h_kk for a linear softmax model is sum_b sum_c p_c (p - e_c)_u^2 x_i^2
 * (the same over classes for every weight): check it on one sample. */
static void test_obd_matches_closed_form(void **state) {
    (void)state;
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, "input x; flatten f; dense fc units=3", 1, 1, 4, 3), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 12);
    mn_graph_init_params(&g, &r);
    mn_dataset d;
    memset(&d, 0, sizeof d);
    d.n = 1; d.c = 1; d.h = 1; d.w = 4; d.nclass = 3;
    d.x = mn_alloc(4, sizeof(float));
    d.y = mn_alloc(1, sizeof(int32_t));
    float x[4] = {0.5f, -1, 2, 0.25f};
    memcpy(d.x, x, sizeof x);
    float s[64];
    assert_int_equal(mn_prune_obd_scores(&g, &d, 1, 1, s), MN_OK);
    const float *z = mn_graph_forward(&g, x, 1, 0);
    float p[3];
    mn_softmax_t(z, 1, 3, 1, p);
    int pw = mn_graph_find_param(&g, "fc.weight");
    const float *w = mn_param_data(&g, pw);
    for (int u = 0; u < 3; u++)
        for (int i = 0; i < 4; i++) {
            /* sum_c p_c (p_u - [u == c])^2 = p_u (1 - p_u) */
            double h = 0;
            for (int c = 0; c < 3; c++) h += p[c] * pow(p[u] - (u == c), 2);
            h *= (double)x[i] * x[i];
            double want = 0.5 * h * w[u * 4 + i] * w[u * 4 + i];
            assert_true(fabs(s[g.params[pw].off + u * 4 + i] - want) <= 1e-5 * (fabs(want) + 1e-6));
        }
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

/* Dead units (zero weights, and a bias at or below zero before a relu) are
 * removed without changing the outputs. */
static void test_structured_dead_units(void **state) {
    (void)state;
    mn_graph g;
    build(&g, CNN, 12, 13);
    struct { const char *layer; int unit; float bias; } dead[] = {
        {"c1", 1, 0}, {"c1", 4, -0.5f}, {"c2", 2, -1}, {"fc1", 3, 0}, {"fc1", 7, -0.1f}, {"fc1", 11, 0}};
    for (size_t k = 0; k < sizeof dead / sizeof dead[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.weight", dead[k].layer);
        int pw = mn_graph_find_param(&g, name);
        int rows, cols;
        rows = g.params[pw].shape.d[0];
        cols = (int)(g.params[pw].n / rows);
        memset(mn_param_data(&g, pw) + (int64_t)dead[k].unit * cols, 0, sizeof(float) * cols);
        snprintf(name, sizeof name, "%s.bias", dead[k].layer);
        mn_param_data(&g, mn_graph_find_param(&g, name))[dead[k].unit] = dead[k].bias;
    }
    /* Masks are carried over too. */
    int pc2 = mn_graph_find_param(&g, "c2.weight");
    float *m = mn_param_mask(&g, pc2);
    m[5] = 0;
    mn_graph_apply_masks(&g);
    float t[32];
    assert_int_equal(mn_prune_parse_targets(&g, "c1=0.3333,c2=0.125", MN_SEL_FILTERS, t), MN_OK);
    float t2[32];
    assert_int_equal(mn_prune_parse_targets(&g, "fc1=0.15", MN_SEL_NEURONS, t2), MN_OK);
    for (int p = 0; p < g.nparams; p++) if (t2[p] >= 0) t[p] = t2[p];
    mn_dataset d;
    synth(&d, 50, 12, 14);
    for (int crit = 0; crit < 3; crit++) {
        mn_graph s;
        assert_int_equal(mn_prune_units(&g, t, (mn_unit_crit)crit, &d, &s), MN_OK);
        const mn_param *w1 = &s.params[mn_graph_find_param(&s, "c1.weight")];
        const mn_param *w2 = &s.params[mn_graph_find_param(&s, "c2.weight")];
        const mn_param *f1 = &s.params[mn_graph_find_param(&s, "fc1.weight")];
        const mn_param *f2 = &s.params[mn_graph_find_param(&s, "fc2.weight")];
        assert_int_equal(w1->shape.d[0], 4);
        assert_int_equal(w2->shape.d[0], 7);
        assert_int_equal(w2->shape.d[1], 4);
        assert_int_equal(f1->shape.d[0], 17);
        assert_int_equal(f1->shape.d[1], 7 * 3 * 3);
        assert_int_equal(f2->shape.d[1], 17);
        assert_true(mn_graph_macs(&s) < mn_graph_macs(&g));
        assert_non_null(s.params[mn_graph_find_param(&s, "c2.weight")].mask);
        assert_int_equal(mn_graph_reserve(&g, d.n), MN_OK);
        assert_int_equal(mn_graph_reserve(&s, d.n), MN_OK);
        const float *y0 = mn_graph_forward(&g, d.x, d.n, 0);
        float *keep0 = malloc(sizeof(float) * d.n * 10);
        memcpy(keep0, y0, sizeof(float) * d.n * 10);
        const float *y1 = mn_graph_forward(&s, d.x, d.n, 0);
        assert_true(tu_maxdiff(keep0, y1, (size_t)d.n * 10) < 1e-5f);
        /* It survives a save/load as an ordinary smaller model. */
        unsigned char *buf;
        size_t len;
        assert_int_equal(mn_model_save_mem(&s, &buf, &len), MN_OK);
        mn_graph l;
        assert_int_equal(mn_model_load_mem(buf, len, &l), MN_OK);
        assert_int_equal(l.params[mn_graph_find_param(&l, "fc1.weight")].shape.d[0], 17);
        free(buf);
        free(keep0);
        mn_graph_free(&l);
        mn_graph_free(&s);
    }
    /* Removing a live unit changes the output (the check above can fail). */
    unsigned char k1[20];
    memset(k1, 1, sizeof k1);
    float act[20];
    int pf1 = mn_graph_find_param(&g, "fc1.weight"), busiest = 0;
    assert_int_equal(mn_unit_scores(&g, pf1, MN_CRIT_ACTIVITY, &d, act), MN_OK);
    for (int i = 1; i < 20; i++) if (act[i] > act[busiest]) busiest = i;
    assert_true(act[busiest] > 0);
    k1[busiest] = 0;
    const unsigned char *keep[32] = {0};
    keep[mn_graph_find_param(&g, "fc1.weight")] = k1;
    mn_graph s;
    assert_int_equal(mn_graph_remove_units(&g, keep, &s), MN_OK);
    const float *y0 = mn_graph_forward(&g, d.x, d.n, 0);
    float *a = malloc(sizeof(float) * d.n * 10);
    memcpy(a, y0, sizeof(float) * d.n * 10);
    assert_int_equal(mn_graph_reserve(&s, d.n), MN_OK);
    assert_true(tu_maxdiff(a, mn_graph_forward(&s, d.x, d.n, 0), (size_t)d.n * 10) > 1e-6f);
    free(a);
    mn_graph_free(&s);
    /* The output layer and whole layers cannot go. */
    unsigned char k2[10] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const unsigned char *keep2[32] = {0};
    keep2[mn_graph_find_param(&g, "fc2.weight")] = k2;
    assert_int_equal(mn_graph_remove_units(&g, keep2, &s), MN_EARG);
    unsigned char k3[20] = {0};
    const unsigned char *keep3[32] = {0};
    keep3[mn_graph_find_param(&g, "fc1.weight")] = k3;
    assert_int_equal(mn_graph_remove_units(&g, keep3, &s), MN_EARG);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

/* Layer pruning: two identity blocks and a projection block.  A block whose
 * branch outputs zeros (its last batch norm's gamma and beta at 0) is x
 * itself: removing it (and the relu after, as x is a relu's output) keeps
 * the outputs exactly; the projection block is not removable. */
static const char *BLOCKS = "input x; conv c0 filters=4 k=3 pad=1; relu r0;"
                            "conv a_c filters=4 k=3 pad=1; batchnorm a_b; add a_add in=a_b,r0; relu a_out;"
                            "conv b_c filters=4 k=3 pad=1; batchnorm b_b; add b_add in=a_out,b_b; relu b_out;"
                            "conv p_c filters=6 k=3 pad=1; conv p_sc filters=6 k=1 in=b_out; add p_add in=p_c,p_sc; relu p_out;"
                            "avgpool gp k=0; flatten f; dense fc units=10";

static void test_blocks(void **state) {
    (void)state;
    mn_graph g, o;
    build(&g, BLOCKS, 6, 5);
    mn_res_block b[8];
    assert_int_equal(mn_res_adds(&g), 3);
    int n = mn_res_blocks(&g, b, 8);
    assert_int_equal(n, 2);
    assert_string_equal(g.nodes[b[0].add].name, "a_add");
    assert_string_equal(g.nodes[b[0].input].name, "r0");
    assert_string_equal(g.nodes[b[0].relu].name, "a_out");
    assert_int_equal(b[0].nodes, 4); /* a_c, a_b, the add, the relu */
    assert_string_equal(g.nodes[b[1].input].name, "a_out"); /* the shortcut is either input */
    /* b's branch silenced: dropping it changes nothing */
    mn_param_data(&g, mn_graph_find_param(&g, "b_b.gamma"))[0] = 0;
    for (int c = 0; c < 4; c++) {
        mn_param_data(&g, mn_graph_find_param(&g, "b_b.gamma"))[c] = 0;
        mn_param_data(&g, mn_graph_find_param(&g, "b_b.beta"))[c] = 0;
    }
    assert_int_equal(mn_graph_drop_blocks(&g, &b[1], 1, &o), MN_OK);
    assert_int_equal(o.nnodes, g.nnodes - 4);
    assert_true(mn_graph_find_node(&o, "b_add") < 0 && mn_graph_find_node(&o, "b_c") < 0);
    assert_true(mn_graph_macs(&o) < mn_graph_macs(&g));
    /* p_c and p_sc now read a_out */
    const mn_node *pc = &o.nodes[mn_graph_find_node(&o, "p_c")];
    assert_string_equal(o.nodes[pc->in[0]].name, "a_out");
    mn_rng r;
    mn_rng_seed(&r, 9);
    float x[2 * 36], y[20];
    for (int i = 0; i < 2 * 36; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    assert_int_equal(mn_graph_reserve(&g, 2), MN_OK);
    assert_int_equal(mn_graph_reserve(&o, 2), MN_OK);
    memcpy(y, mn_graph_forward(&g, x, 2, 0), sizeof y);
    const float *z = mn_graph_forward(&o, x, 2, 0);
    for (int i = 0; i < 20; i++) assert_float_equal(y[i], z[i], 1e-6f * (1 + fabsf(y[i])));
    /* the weights of the layers kept are the same */
    int pf = mn_graph_find_param(&g, "fc.weight"), qf = mn_graph_find_param(&o, "fc.weight");
    assert_memory_equal(mn_param_data(&g, pf), mn_param_data(&o, qf), sizeof(float) * (size_t)g.params[pf].n);
    mn_graph_free(&o);
    /* both identity blocks at once; the result still runs */
    assert_int_equal(mn_graph_drop_blocks(&g, b, 2, &o), MN_OK);
    assert_int_equal(mn_res_adds(&o), 1);
    assert_int_equal(mn_res_blocks(&o, b, 8), 0);
    assert_int_equal(mn_graph_reserve(&o, 2), MN_OK);
    z = mn_graph_forward(&o, x, 2, 0);
    for (int i = 0; i < 20; i++) assert_true(isfinite(z[i]));
    mn_graph_free(&o);
    /* mn_prune_blocks: a third of the blocks (1 of 3), scored on data */
    mn_dataset d;
    synth(&d, 120, 6, 3);
    mn_blocks_cfg c;
    memset(&c, 0, sizeof c);
    c.fraction = 0.34f;
    c.samples = 60;
    assert_int_equal(mn_prune_blocks(&g, &c, &d, NULL), MN_OK);
    assert_int_equal(mn_res_adds(&g), 2);
    /* more than the identity blocks: refused */
    c.fraction = 0.99f;
    assert_int_equal(mn_prune_blocks(&g, &c, &d, NULL), MN_EARG);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

static void test_activity_scores(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 15);
    int pw = mn_graph_find_param(&g, "fc1.weight");
    memset(mn_param_data(&g, pw) + 5 * 64, 0, sizeof(float) * 64);
    mn_param_data(&g, mn_graph_find_param(&g, "fc1.bias"))[5] = -1;
    mn_param_data(&g, mn_graph_find_param(&g, "fc1.bias"))[6] = 100; /* always on */
    mn_dataset d;
    synth(&d, 40, 8, 16);
    float s[30];
    assert_int_equal(mn_unit_scores(&g, pw, MN_CRIT_ACTIVITY, &d, s), MN_OK);
    assert_true(s[5] == 0);
    assert_true(s[6] == 1);
    for (int i = 0; i < 30; i++) assert_true(s[i] >= 0 && s[i] <= 1);
    assert_int_equal(mn_unit_scores(&g, pw, MN_CRIT_L2, NULL, s), MN_OK);
    assert_true(s[5] == 0 && s[0] > 0);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

static void test_lottery(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 17);
    mn_dataset d;
    synth(&d, 120, 8, 18);
    assert_int_equal(mn_set_input_norm(&g, &d), MN_OK);
    mn_lottery_cfg c = {0};
    c.sparsity = 0.75f;
    c.rounds = 2;
    c.control = 1;
    c.control_seed = 99;
    c.rewind_iter = 3;
    mn_train_default(&c.train);
    c.train.epochs = 1;
    c.train.batch = 20;
    mn_lottery_result r;
    assert_int_equal(mn_prune_lottery(&g, &d, &d, &c, &r), MN_OK);
    /* Hidden layers: 0.75 after two rounds of 50%; output: two of 25%. */
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.75 * 1920));
    assert_int_equal(zeros(&g, "fc2.weight"), llround(0.75 * 360));
    assert_int_equal(zeros(&g, "fc3.weight"), llround((1 - 0.75 * 0.75) * 120));
    assert_true(r.dense_error >= 0 && r.dense_error <= 1);
    assert_true(r.control_error >= 0 && r.control_error <= 1);
    assert_true(fabsf(r.density - (float)(1920 + 360 + 120 - zeros(&g, "fc1.weight") - zeros(&g, "fc2.weight") -
                                          zeros(&g, "fc3.weight")) / 2400) < 1e-6f);
    c.rewind_iter = 1000; /* past the end of training */
    assert_int_equal(mn_prune_lottery(&g, &d, &d, &c, &r), MN_EARG);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

/* Early stopping on a hold-out: what the trainings saw, which epoch each
 * kept, and that the kept weights are that epoch's. */
typedef struct lt_log {
    int trainings, epochs, steps_seen;
    float loss[4][64];    /* held-out loss per epoch of the first trainings */
    int n[4];
    float *wlast;         /* the dense training's final weights */
    int64_t last_step;
    int captured;
} lt_log;

static void lt_log_epoch(void *ud, const mn_epoch_stats *e) {
    lt_log *l = ud;
    if (e->epoch == 1) l->trainings++;
    int t = l->trainings - 1;
    if (t >= 0 && t < 4 && e->epoch <= 64) { l->loss[t][e->epoch - 1] = e->val_loss; l->n[t] = e->epoch; }
}
static void lt_log_progress(void *ud, const mn_progress *p) {
    ((lt_log *)ud)->steps_seen = p->steps;
}
static void lt_log_step(void *ud, mn_graph *g, int64_t step) {
    lt_log *l = ud;
    if (!l->captured && step == l->last_step) { /* the first training is the dense one */
        memcpy(l->wlast, g->w, sizeof(float) * (size_t)g->nw);
        l->captured = 1;
    }
}
static int argmin(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] < v[b]) b = i;
    return b + 1;
}

static void test_lottery_holdout(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 21);
    mn_dataset d;
    synth(&d, 100, 8, 22); /* 40 to train on, 60 held out: it overfits */
    assert_int_equal(mn_set_input_norm(&g, &d), MN_OK);
    mn_lottery_cfg c = {0};
    c.sparsity = 0.5f;
    c.rounds = 1;
    c.control = 1;
    c.control_seed = 7;
    c.holdout = 60;
    mn_train_default(&c.train);
    c.train.epochs = 12;
    c.train.batch = 10;
    c.train.opt.lr = 0.01f;
    lt_log log = {0};
    log.wlast = malloc(sizeof(float) * (size_t)g.nw);
    assert_non_null(log.wlast);
    log.last_step = (int64_t)c.train.epochs * 4 - 1;
    c.train.on_epoch = lt_log_epoch;
    c.train.on_progress = lt_log_progress;
    c.train.on_step = lt_log_step;
    c.train.ud = &log;
    mn_lottery_result r;
    assert_int_equal(mn_prune_lottery(&g, &d, &d, &c, &r), MN_OK);
    /* Only the first 40 samples were trained on: 4 steps of 10. */
    assert_int_equal(log.steps_seen, 4);
    assert_int_equal(log.trainings, 3);
    /* Each training kept its epoch of lowest held-out loss; the dense one
     * overfits, so that is not its last epoch. */
    assert_int_equal(r.dense_epoch, argmin(log.loss[0], log.n[0]));
    assert_int_equal(r.ticket_epoch, argmin(log.loss[1], log.n[1]));
    assert_int_equal(r.control_epoch, argmin(log.loss[2], log.n[2]));
    assert_true(r.dense_epoch < c.train.epochs);
    assert_true(r.dense_holdout >= 0 && r.ticket_holdout >= 0 && r.control_holdout >= 0);
    /* g is the ticket at its kept epoch: its held-out loss is that epoch's. */
    mn_dataset hold = d;
    hold.n = 60;
    hold.x = d.x + 40 * 64;
    hold.y = d.y + 40;
    mn_eval_result e;
    assert_int_equal(mn_eval(&g, &hold, 250, &e), MN_OK);
    assert_true(fabsf(e.loss - log.loss[1][r.ticket_epoch - 1]) < 1e-5f);
    assert_true(fabsf(e.error - r.ticket_holdout) < 1e-6f);
    assert_int_equal(mn_eval(&g, &d, 250, &e), MN_OK);
    assert_true(fabsf(e.error - r.ticket_error) < 1e-6f);
    /* The mask comes from the weights at the END of the dense training (as
     * in the paper), not from the early-stopped ones. */
    int fc1 = mn_graph_find_param(&g, "fc1.weight");
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.5 * 1920));
    assert_threshold(log.wlast, &g, &fc1, 1);
    /* A hold-out that leaves nothing to train on. */
    c.holdout = 100;
    assert_int_equal(mn_prune_lottery(&g, &d, &d, &c, &r), MN_EARG);
    c.holdout = -1;
    assert_int_equal(mn_prune_lottery(&g, &d, &d, &c, &r), MN_EARG);
    free(log.wlast);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

static void test_sensitivity(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 19);
    mn_dataset d;
    synth(&d, 100, 8, 20);
    float *orig = malloc(sizeof(float) * g.nw);
    memcpy(orig, g.w, sizeof(float) * g.nw);
    float lv[3] = {0, 0.5f, 1}, err[9];
    int layers[3], nl;
    assert_int_equal(mn_prune_sensitivity(&g, &d, lv, 3, layers, 3, &nl, err), MN_OK);
    assert_int_equal(nl, 3);
    assert_memory_equal(orig, g.w, sizeof(float) * g.nw);
    mn_eval_result r;
    assert_int_equal(mn_eval(&g, &d, 50, &r), MN_OK);
    for (int l = 0; l < 3; l++) assert_true(err[l * 3] == r.error);
    free(orig);
    mn_dataset_free(&d);
    mn_graph_free(&g);
}

/* The saved model stores the pruned layers sparse and loads back equal. */
static void test_sparse_save(void **state) {
    (void)state;
    mn_graph g;
    build(&g, MLP, 8, 21);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "0.9", MN_SEL_WEIGHTS, t), MN_OK);
    assert_int_equal(mn_prune_by_score(&g, t, MN_SCOPE_LAYER, 0, NULL), MN_OK);
    assert_int_equal(mn_graph_sparsify(&g, MN_SPARSE_DEFAULT_DENSITY), MN_OK);
    assert_non_null(g.params[mn_graph_find_param(&g, "fc1.weight")].store);
    unsigned char *buf;
    size_t len;
    assert_int_equal(mn_model_save_mem(&g, &buf, &len), MN_OK);
    mn_graph l;
    assert_int_equal(mn_model_load_mem(buf, len, &l), MN_OK);
    assert_non_null(l.params[mn_graph_find_param(&l, "fc1.weight")].store);
    assert_memory_equal(g.w, l.w, sizeof(float) * g.nw);
    free(buf);
    mn_graph_free(&l);
    mn_graph_free(&g);
}

/* Real data, kept short: magnitude pruning to 90% in two fine-tuned steps
 * keeps LeNet-300-100 close to its dense error. */
static void test_mnist_accuracy(void **state) {
    (void)state;
    const char *dir = tu_mnist_dir();
    if (!dir) skip();
    mn_dataset tr, va;
    assert_int_equal(mn_data_load(dir, "train", &tr), MN_OK);
    assert_int_equal(mn_data_load(dir, "val", &va), MN_OK);
    mn_graph g;
    build(&g, "lenet300", 28, 1);
    assert_int_equal(mn_set_input_norm(&g, &tr), MN_OK);
    mn_train_cfg c;
    mn_train_default(&c);
    c.epochs = 4;
    assert_int_equal(mn_train(&g, &tr, NULL, &c), MN_OK);
    mn_eval_result dense, pruned;
    assert_int_equal(mn_eval(&g, &va, 250, &dense), MN_OK);
    float t[16];
    assert_int_equal(mn_prune_parse_targets(&g, "0.9", MN_SEL_WEIGHTS, t), MN_OK);
    mn_prune_cfg pc;
    mn_prune_cfg_default(&pc);
    pc.target = t;
    pc.steps = 2;
    pc.ft.epochs = 1;
    assert_int_equal(mn_prune_iterative(&g, &tr, NULL, &pc), MN_OK);
    assert_int_equal(mn_eval(&g, &va, 250, &pruned), MN_OK);
    print_message("lenet300 val error: dense %.2f%%, 90%% pruned %.2f%%\n", 100 * dense.error, 100 * pruned.error);
    assert_true(pruned.error <= dense.error + 0.01f);
    assert_int_equal(zeros(&g, "fc1.weight"), llround(0.9 * 784 * 300));
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
}

/* Filter pruning through a residual add and a depthwise conv: the add's
 * producers lose the same channels (ranked by their summed L1), the
 * depthwise conv keeps exactly its input's, and the smaller model computes
 * what the original computes with those channels silenced. */
static const char *RES = "input x; conv c1 filters=8 k=3 pad=1; batchnorm b1; relu r1; conv c2 filters=8 k=3 pad=1;"
                         "batchnorm b2; add a1 in=b2,r1; relu r2; conv dw filters=8 k=3 pad=1 groups=8; relu r3;"
                         "conv pw filters=6 k=1; relu r4; avgpool gp k=0; flatten f; dense fc units=10";

static float row_l1(const mn_graph *g, const char *param, int r) {
    int p = mn_graph_find_param(g, param);
    int64_t per = g->params[p].n / g->params[p].shape.d[0];
    const float *w = mn_param_data(g, p) + r * per;
    float s = 0;
    for (int64_t j = 0; j < per; j++) s += fabsf(w[j]);
    return s;
}

static void zero_rows(mn_graph *g, const char *param, const unsigned char *keep) {
    int p = mn_graph_find_param(g, param);
    int rows = g->params[p].shape.d[0];
    int64_t per = g->params[p].n / rows;
    for (int r = 0; r < rows; r++)
        if (!keep[r]) memset(mn_param_data(g, p) + r * per, 0, sizeof(float) * (size_t)per);
}

static void test_residual_groups(void **state) {
    (void)state;
    mn_graph g, o;
    build(&g, RES, 8, 3);
    mn_rng r;
    mn_rng_seed(&r, 4);
    for (int i = 0; i < g.nnodes; i++) /* batch statistics that matter */
        if (g.nodes[i].op == MN_OP_BATCHNORM)
            for (int k = 0; k < 4; k++) {
                float *v = mn_param_data(&g, g.nodes[i].p[k]);
                for (int c = 0; c < 8; c++) v[c] = k == 3 ? 0.5f + mn_rng_uniform(&r) : mn_rng_uniform(&r) - 0.5f + (k == 0);
            }
    int c1 = mn_graph_find_param(&g, "c1.weight"), c2 = mn_graph_find_param(&g, "c2.weight");
    int dw = mn_graph_find_param(&g, "dw.weight"), pw = mn_graph_find_param(&g, "pw.weight");
    assert_true(mn_prune_selectable(&g, c1, MN_SEL_FILTERS) && mn_prune_selectable(&g, c2, MN_SEL_FILTERS));
    assert_true(mn_prune_selectable(&g, pw, MN_SEL_FILTERS));
    assert_false(mn_prune_selectable(&g, dw, MN_SEL_FILTERS)); /* tied to its input */
    float *t = malloc(sizeof(float) * (size_t)g.nparams);
    for (int p = 0; p < g.nparams; p++) t[p] = -1;
    t[c1] = 0.5f; /* c2 shares the add: it loses the same channels */
    assert_int_equal(mn_prune_units(&g, t, MN_CRIT_L1, NULL, &o), MN_OK);
    const mn_node *n = &o.nodes[mn_graph_find_node(&o, "c2")], *d = &o.nodes[mn_graph_find_node(&o, "dw")];
    assert_int_equal(o.nodes[mn_graph_find_node(&o, "c1")].a.filters, 4);
    assert_int_equal(n->a.filters, 4);
    assert_int_equal(n->out.d[0], 4);
    assert_true(d->a.filters == 4 && d->a.groups == 4);
    assert_int_equal(o.params[mn_graph_find_param(&o, "pw.weight")].shape.d[1], 4);
    assert_true(mn_graph_macs(&o) < mn_graph_macs(&g) * 0.6);
    /* The channels kept: the 4 largest L1(c1 row) + L1(c2 row). */
    unsigned char keep[8];
    float sc[8];
    for (int c = 0; c < 8; c++) sc[c] = row_l1(&g, "c1.weight", c) + row_l1(&g, "c2.weight", c), keep[c] = 1;
    for (int k = 0; k < 4; k++) {
        int m = -1;
        for (int c = 0; c < 8; c++)
            if (keep[c] && (m < 0 || sc[c] < sc[m])) m = c;
        keep[m] = 0;
    }
    /* Silence them in the original: batch norm out (gamma, beta) and the
     * depthwise bias. */
    const char *silence[] = {"b1.gamma", "b1.beta", "b2.gamma", "b2.beta", "dw.bias"};
    for (int k = 0; k < 5; k++) {
        int p = mn_graph_find_param(&g, silence[k]);
        assert_true(p >= 0);
        for (int c = 0; c < 8; c++)
            if (!keep[c]) mn_param_data(&g, p)[c] = 0;
    }
    zero_rows(&g, "dw.weight", keep);
    float x[2 * 64];
    for (int i = 0; i < 2 * 64; i++) x[i] = 2 * mn_rng_uniform(&r) - 1;
    assert_int_equal(mn_graph_reserve(&g, 2), MN_OK);
    assert_int_equal(mn_graph_reserve(&o, 2), MN_OK);
    float y[20];
    memcpy(y, mn_graph_forward(&g, x, 2, 0), sizeof y);
    const float *z;
    z = mn_graph_forward(&o, x, 2, 0);
    for (int i = 0; i < 20; i++) assert_true(fabsf(y[i] - z[i]) <= 1e-4f * (1 + fabsf(y[i])));
    mn_graph_free(&o);
    /* Network slimming's score: |gamma| of b1 + b2 per channel. */
    float gsum[8];
    for (int c = 0; c < 8; c++)
        gsum[c] = fabsf(mn_param_data(&g, mn_graph_find_param(&g, "b1.gamma"))[c]) +
                  fabsf(mn_param_data(&g, mn_graph_find_param(&g, "b2.gamma"))[c]);
    assert_int_equal(mn_prune_units(&g, t, MN_CRIT_BN, NULL, &o), MN_OK);
    assert_int_equal(o.nodes[mn_graph_find_node(&o, "c2")].a.filters, 4);
    /* The silenced channels (gamma 0) are the ones that went: o's c1 rows
     * are g's kept rows, in order. */
    const float *w0 = mn_param_data(&g, c1), *w1 = mn_param_data(&o, mn_graph_find_param(&o, "c1.weight"));
    for (int c = 0, k = 0; c < 8; c++) {
        assert_true(keep[c] ? gsum[c] > 0 : gsum[c] == 0);
        if (keep[c]) assert_memory_equal(w1 + 9 * k++, w0 + 9 * c, sizeof(float) * 9);
    }
    mn_graph_free(&o);
    float tp[64];
    for (int p = 0; p < g.nparams; p++) tp[p] = p == pw ? 0.5f : -1;
    assert_int_equal(mn_prune_units(&g, tp, MN_CRIT_BN, NULL, &o), MN_EARG); /* pw has no batch norm */
    /* The random control ties the group too. */
    assert_int_equal(mn_prune_units_random(&g, t, 7, &o), MN_OK);
    assert_int_equal(o.nodes[mn_graph_find_node(&o, "c2")].a.filters, 4);
    mn_graph_free(&o);
    free(t);
    mn_graph_free(&g);
    /* Through a concat: a's filters map to the first 4 of c's channels, b's
     * to the last 4; the depthwise conv and the 1x1 conv after it read
     * what is left. */
    build(&g, "input x; conv a filters=4 k=3 pad=1; conv b filters=4 k=3 pad=1 in=x; concat c in=a,b; relu r; "
              "conv dw filters=8 k=3 pad=1 groups=8; conv d filters=6 k=1; relu r2; flatten f; dense fc units=10", 8, 3);
    int pa = mn_graph_find_param(&g, "a.weight");
    assert_true(mn_prune_selectable(&g, pa, MN_SEL_FILTERS));
    assert_true(mn_prune_selectable(&g, mn_graph_find_param(&g, "b.weight"), MN_SEL_FILTERS));
    float tc[64];
    for (int p = 0; p < g.nparams; p++) tc[p] = p == pa ? 0.5f : -1;
    assert_int_equal(mn_prune_units(&g, tc, MN_CRIT_L1, NULL, &o), MN_OK);
    assert_int_equal(o.nodes[mn_graph_find_node(&o, "a")].a.filters, 2);
    assert_int_equal(o.nodes[mn_graph_find_node(&o, "c")].out.d[0], 6);
    assert_true(o.nodes[mn_graph_find_node(&o, "dw")].a.groups == 6 && o.nodes[mn_graph_find_node(&o, "dw")].a.filters == 6);
    assert_int_equal(o.params[mn_graph_find_param(&o, "d.weight")].shape.d[1], 6);
    assert_true(mn_graph_macs(&o) < mn_graph_macs(&g));
    /* the same outputs as the original with a's 2 weakest filters silenced
     * (their weights, biases and the depthwise filters reading them) */
    unsigned char ka[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (int k = 0; k < 2; k++) {
        int m = -1;
        for (int c = 0; c < 4; c++)
            if (ka[c] && (m < 0 || row_l1(&g, "a.weight", c) < row_l1(&g, "a.weight", m))) m = c;
        ka[m] = 0;
    }
    zero_rows(&g, "a.weight", ka);
    zero_rows(&g, "dw.weight", ka);
    for (int c = 0; c < 4; c++)
        if (!ka[c]) mn_param_data(&g, mn_graph_find_param(&g, "a.bias"))[c] = mn_param_data(&g, mn_graph_find_param(&g, "dw.bias"))[c] = 0;
    assert_int_equal(mn_graph_reserve(&g, 2), MN_OK);
    assert_int_equal(mn_graph_reserve(&o, 2), MN_OK);
    memcpy(y, mn_graph_forward(&g, x, 2, 0), sizeof y);
    z = mn_graph_forward(&o, x, 2, 0);
    for (int i = 0; i < 20; i++) assert_true(fabsf(y[i] - z[i]) <= 1e-4f * (1 + fabsf(y[i])));
    mn_graph_free(&o);
    mn_graph_free(&g);
    /* A concat whose channels are tied further (an add with another conv,
     * or the output) keeps its inputs whole. */
    build(&g, "input x; conv a filters=4 k=3 pad=1; conv b filters=4 k=3 pad=1 in=x; concat c in=a,b; "
              "conv e filters=8 k=1 in=x; add s in=c,e; relu r; flatten f; dense fc units=10", 8, 3);
    assert_false(mn_prune_selectable(&g, mn_graph_find_param(&g, "a.weight"), MN_SEL_FILTERS));
    assert_false(mn_prune_selectable(&g, mn_graph_find_param(&g, "e.weight"), MN_SEL_FILTERS));
    mn_graph_free(&g);
    build(&g, "input x; flatten f; dense a units=5; dense b units=5 in=f; concat c in=a,b", 8, 3);
    assert_false(mn_prune_selectable(&g, mn_graph_find_param(&g, "a.weight"), MN_SEL_NEURONS));
    mn_graph_free(&g);
}

int main(void) {
    mn_set_threads(1); /* OpenMP/OpenBLAS otherwise spin on every core */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_targets),
        cmocka_unit_test(test_magnitude_layer_exact),
        cmocka_unit_test(test_magnitude_global_exact),
        cmocka_unit_test(test_random_and_shuffle),
        cmocka_unit_test(test_masks_fixed_during_finetune),
        cmocka_unit_test(test_iterative_steps),
        cmocka_unit_test(test_gradual),
        cmocka_unit_test(test_snip_obd_sparsity),
        cmocka_unit_test(test_obd_matches_closed_form),
        cmocka_unit_test(test_structured_dead_units),
        cmocka_unit_test(test_residual_groups),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_activity_scores),
        cmocka_unit_test(test_lottery),
        cmocka_unit_test(test_lottery_holdout),
        cmocka_unit_test(test_sensitivity),
        cmocka_unit_test(test_sparse_save),
        cmocka_unit_test(test_mnist_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
