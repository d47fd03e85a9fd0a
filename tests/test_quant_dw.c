/* The int8 depthwise conv: every ISA's kernel against its reference and
 * against the definition computed from the f32 input (bit for bit), and a
 * quantized model's depthwise layer running it at inference, the same on
 * every ISA, close to the f32 layer, and f32 again while training. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "kernels/int8.h"
#include "kernels/kernels.h"
#include "minnow/arch.h"
#include "minnow/quant.h"
#include "store/affine.h"
#include "testutil.h"

static uint64_t g_seed = 7;
static uint32_t rnd(void) {
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g_seed >> 33);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000001) / 1000000.0f; }

typedef struct { int C, H, W, k, s, pad, mult; } dgeo;
static const dgeo g_geos[] = {{3, 9, 11, 3, 1, 1, 1}, {4, 28, 28, 3, 1, 1, 1}, {5, 14, 14, 3, 2, 1, 1},
                              {2, 7, 40, 3, 2, 1, 2}, {6, 5, 5, 5, 1, 2, 1},   {1, 17, 33, 1, 1, 0, 3},
                              {3, 8, 9, 3, 3, 0, 1},  {2, 6, 19, 7, 2, 3, 1},  {8, 1, 1, 3, 1, 1, 1},
                              {2, 13, 17, 4, 2, 2, 2}, {3, 10, 16, 2, 1, 0, 1}};

/* The definition: codes of the f32 input (the border reads as the zero
 * point), integer window sums, then (float)acc * mul (+ bias). */
static void dw_def(const float *x, const dgeo *G, int OH, int OW, const mn_qact *a, const int16_t *wz,
                   const float *mul, const float *bias, float *y) {
    int kk = G->k * G->k;
    for (int f = 0; f < G->C * G->mult; f++) {
        const float *xc = x + (int64_t)(f / G->mult) * G->H * G->W;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int64_t acc = 0;
                for (int i = 0; i < G->k; i++)
                    for (int j = 0; j < G->k; j++) {
                        int yy = oy * G->s + i - G->pad, xx = ox * G->s + j - G->pad;
                        int32_t q = yy >= 0 && yy < G->H && xx >= 0 && xx < G->W ? mn_i8_quant1(xc[yy * G->W + xx], a)
                                                                                 : a->zero;
                        acc += (int64_t)(q - a->zero) * wz[f * kk + i * G->k + j];
                    }
                float v = (float)(int32_t)acc * mul[f];
                y[((int64_t)f * OH + oy) * OW + ox] = bias ? v + bias[f] : v;
            }
    }
}

static void t_kernel(void **st) {
    (void)st;
    int cases = 0;
    for (size_t gi = 0; gi < sizeof g_geos / sizeof *g_geos; gi++) {
        dgeo G = g_geos[gi];
        int OH = mn_conv_out(G.H, G.k, G.s, G.pad), OW = mn_conv_out(G.W, G.k, G.s, G.pad);
        int F = G.C * G.mult, kk = G.k * G.k, n = G.C * G.H * G.W, on = F * OH * OW;
        mn_qact a = {0.05f, (int)(rnd() % 256) - 128, -128, 127};
        if (gi == 1) a.zero = -128; /* a ReLU's input format: every code above the zero point */
        float *x = malloc(sizeof(float) * n), *mul = malloc(sizeof(float) * F), *bias = malloc(sizeof(float) * F);
        int16_t *wz = malloc(sizeof(int16_t) * F * kk);
        for (int i = 0; i < n; i++) {
            x[i] = frand(-8, 8);
            if (rnd() % 7 == 0) x[i] = rintf(x[i] / a.scale * 2) / 2 * a.scale; /* exact ties */
            if (rnd() % 40 == 0) x[i] = (rnd() & 1) ? NAN : (rnd() & 1) ? INFINITY : -1e30f;
        }
        for (int i = 0; i < F * kk; i++) wz[i] = (int16_t)((int)(rnd() % 511) - 255);
        if (gi == 0) /* the extremes: every product 255 * 255 of one sign */
            for (int i = 0; i < F * kk; i++) wz[i] = 255;
        for (int f = 0; f < F; f++) { mul[f] = frand(1e-5f, 1e-2f); bias[f] = frand(-1, 1); }
        if (gi == 0) for (int i = 0; i < n; i++) x[i] = 1e9f;
        float *y0 = malloc(sizeof(float) * on), *y1 = malloc(sizeof(float) * on), *y2 = malloc(sizeof(float) * on);
        for (int bi = 0; bi < 2; bi++) {
            const float *b = bi ? NULL : bias;
            dw_def(x, &G, OH, OW, &a, wz, mul, b, y0);
            for (int isa = 0; isa < MN_I8__COUNT; isa++) {
                mn_i8_isa I = (mn_i8_isa)isa;
                if (!mn_i8_isa_ok(I)) continue;
                size_t ib = mn_i8_image_bytes(I, G.C, G.H, G.W, G.pad);
                void *img = mn_alloc(ib, 1);
                memset(img, 0x5a, ib);
                mn_i8_quant_image(I, x, G.C, G.H, G.W, G.pad, &a, img);
                mn_i8_dw(I, img, G.C, G.H, G.W, G.pad, G.k, G.s, OH, OW, G.mult, wz, a.zero, mul, b, y1);
                mn_i8_dw_ref(I, img, G.C, G.H, G.W, G.pad, G.k, G.s, OH, OW, G.mult, wz, a.zero, mul, b, y2);
                if (memcmp(y1, y0, sizeof(float) * on) || memcmp(y2, y0, sizeof(float) * on))
                    fail_msg("int8 dw %s C%d %dx%d k%d s%d pad%d mult%d bias%d differs from the definition",
                             mn_i8_isa_name(I), G.C, G.H, G.W, G.k, G.s, G.pad, G.mult, !bi);
                mn_free(img);
                cases++;
            }
        }
        free(x); free(mul); free(bias); free(wz); free(y0); free(y1); free(y2);
    }
    print_message("int8 depthwise: %d geometry x ISA x bias cases\n", cases);
}

/* A clone of g quantized affine (default options, calibrated on d). */
static void quantized(const mn_graph *g, const mn_dataset *d, mn_graph *q) {
    assert_int_equal(mn_graph_clone(g, q), MN_OK);
    mn_affine_cfg c;
    mn_affine_default(&c);
    assert_int_equal(mn_quantize_affine(q, &c, d, NULL), MN_OK);
}

/* A model whose depthwise layers are quantized runs the integer kernel at
 * inference: its output is the definition's from the layer input and the
 * store's codes, the same bits on every ISA, near the f32 model's; too
 * little scratch or training falls back to the f32 kernel. */
static void t_model(void **st) {
    (void)st;
    const char *spec = "input x; conv d1 filters=6 k=3 pad=1 stride=2 groups=3; relu r1;"
                       "conv d2 filters=6 k=3 pad=1 groups=6; relu r2; flatten f; dense fc units=classes";
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, spec, 3, 9, 11, 4), MN_OK);
    mn_rng r;
    mn_rng_seed(&r, 3);
    mn_graph_init_params(&g, &r);
    mn_dataset d = {200, 3, 9, 11, 4, NULL, NULL};
    d.x = mn_alloc((size_t)d.n * 297, sizeof(float));
    d.y = mn_alloc((size_t)d.n, sizeof(int32_t));
    for (int i = 0; i < d.n * 297; i++) d.x[i] = frand(-1, 1);
    for (int i = 0; i < d.n; i++) d.y[i] = i % 4;
    int nb = 5, d2 = mn_graph_find_node(&g, "d2"), r1 = mn_graph_find_node(&g, "r1");
    int64_t no = mn_shape_numel(&g.nodes[d2].out);
    float *yq = malloc(sizeof(float) * nb * no), *yi = malloc(sizeof(float) * nb * no);
    float *yf = malloc(sizeof(float) * nb * no), *ydef = malloc(sizeof(float) * nb * no);
    assert_int_equal(mn_graph_reserve(&g, nb), MN_OK);
    mn_graph_forward(&g, d.x, nb, 0);
    memcpy(yf, g.nodes[d2].y, sizeof(float) * nb * no);
    char *saved = getenv("MINNOW_I8_ISA") ? strdup(getenv("MINNOW_I8_ISA")) : NULL;
    int first = 1;
    for (int isa = 0; isa < MN_I8__COUNT; isa++) {
        if (!mn_i8_isa_ok((mn_i8_isa)isa)) continue;
        setenv("MINNOW_I8_ISA", mn_i8_isa_name((mn_i8_isa)isa), 1);
        mn_graph q;
        quantized(&g, &d, &q);
        const mn_store *s = q.params[q.nodes[d2].p[0]].store;
        mn_affine_info in;
        assert_int_equal(mn_affine_store_info(s, &in), MN_OK);
        assert_int_equal(in.isa, isa);
        assert_int_equal(mn_graph_reserve(&q, nb), MN_OK);
        mn_graph_forward(&q, d.x, nb, 0);
        memcpy(yq, q.nodes[d2].y, sizeof(float) * nb * no);
        /* the definition, from d2's input in the quantized model */
        dgeo G = {6, 5, 6, 3, 1, 1, 1};
        int16_t wz[54];
        float mul[6];
        for (int f = 0; f < 6; f++) {
            int kz = in.nscale > 1 ? f : 0;
            mul[f] = in.act.scale * in.scale[kz];
            for (int t = 0; t < 9; t++) wz[f * 9 + t] = (int16_t)(in.q[f * 9 + t] - in.zero[kz]);
        }
        const float *bias = mn_param_data(&q, q.nodes[d2].p[1]);
        for (int b = 0; b < nb; b++)
            dw_def(q.nodes[r1].y + b * 180, &G, 5, 6, &in.act, wz, mul, bias, ydef + b * no);
        assert_memory_equal(yq, ydef, sizeof(float) * nb * no);
        if (first) memcpy(yi, yq, sizeof(float) * nb * no);
        else assert_memory_equal(yq, yi, sizeof(float) * nb * no); /* every ISA: the same bits */
        first = 0;
        /* training runs the f32 kernel on the decoded weights */
        mn_graph_forward(&q, d.x, nb, 1);
        assert_true(memcmp(q.nodes[d2].y, yq, sizeof(float) * nb * no) != 0);
        mn_graph_free(&q);
    }
    if (saved) setenv("MINNOW_I8_ISA", saved, 1);
    else unsetenv("MINNOW_I8_ISA");
    free(saved);
    float e = tu_maxdiff(yi, yf, (size_t)(nb * no)), top = 0;
    for (int64_t i = 0; i < nb * no; i++) top = fabsf(yf[i]) > top ? fabsf(yf[i]) : top;
    print_message("int8 depthwise layer vs f32: max |diff| %.4g of max |y| %.4g\n", (double)e, (double)top);
    assert_true(e > 0 && e < 0.05f * top);
    /* too little scratch: the store declines and the caller keeps f32 */
    mn_graph q;
    quantized(&g, &d, &q);
    const mn_store *s = q.params[q.nodes[d2].p[0]].store;
    const mn_store_traits *t = mn_store_traits_of(s->kind);
    mn_conv_geom cg = {6, 5, 6, 3, 1, 1, 5, 6};
    float x[180] = {0}, y[180];
    size_t need = mn_store_dw_scratch_bytes(6, 5, 6, 1);
    void *scr = mn_alloc(need, 1);
    assert_int_equal(t->dw(s, &cg, 1, x, 1, NULL, y, scr, 16), 1);
    assert_int_equal(t->dw(s, &cg, 2, x, 1, NULL, y, scr, need), 1); /* not this store's shape */
    assert_int_equal(t->dw(s, &cg, 1, x, 1, NULL, y, scr, need), 0);
    mn_free(scr);
    mn_graph_free(&q);
    free(yq); free(yi); free(yf); free(ydef);
    mn_free(d.x); mn_free(d.y);
    mn_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_kernel),
        cmocka_unit_test(t_model),
    };
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
