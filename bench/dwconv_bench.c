/* One depthwise 3x3 layer (C channels, HxW, batch B), forward, one thread:
 * minnow's direct kernel (through the graph, as training and inference run
 * it), the plain _ref loops, and the grouped im2col + per-group SGEMM path
 * that conv used for depthwise before (the same arithmetic, done as C
 * GEMMs of 1 x 9 x B*H*W).  Also forward+backward of the direct path.
 * usage: dwconv_bench C H W B RUNS */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/dwconv.h"
#include "minnow/arch.h"
#include "kernels/kernels.h"

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int C = argc > 1 ? atoi(argv[1]) : 64, H = argc > 2 ? atoi(argv[2]) : 32, W = argc > 3 ? atoi(argv[3]) : 32;
    int B = argc > 4 ? atoi(argv[4]) : 16, runs = argc > 5 ? atoi(argv[5]) : 30;
    mn_set_threads(1);
    char spec[256];
    snprintf(spec, sizeof spec, "input x c=%d h=%d w=%d; conv dw filters=%d k=3 pad=1 groups=%d", C, H, W, C, C);
    mn_graph g;
    if (mn_arch_build(&g, spec, C, H, W, 10) || mn_graph_reserve(&g, B)) { fprintf(stderr, "%s\n", mn_errmsg()); return 1; }
    mn_rng r;
    mn_rng_seed(&r, 1);
    mn_graph_init_params(&g, &r);
    size_t n = (size_t)B * C * H * W, P = (size_t)H * W;
    float *x = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    float *col = malloc(sizeof(float) * n * 9);
    for (size_t i = 0; i < n; i++) { x[i] = mn_rng_uniform(&r); dy[i] = mn_rng_uniform(&r) - 0.5f; }
    const float *w = mn_param_data(&g, g.nodes[1].p[0]);
    double t[4][256];
    if (runs > 256) runs = 256;
    for (int it = -3; it < runs; it++) {
        double t0 = mn_now();
        mn_graph_forward(&g, x, B, 0);
        double t1 = mn_now();
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                mn_dw_plane_fwd_ref(x + ((size_t)b * C + c) * P, H, W, w + c * 9, 3, 1, 1, 0, y + ((size_t)b * C + c) * P, H, W);
        double t2 = mn_now();
        int64_t ld = (int64_t)B * P;
        for (int b = 0; b < B; b++) mn_im2col(x + (size_t)b * C * P, C, H, W, 3, 1, 1, H, W, col + (size_t)b * P, ld);
        for (int c = 0; c < C; c++)
            mn_sgemm(0, 0, 1, (int)ld, 9, 1.0f, w + c * 9, 9, col + (size_t)c * 9 * ld, (int)ld, 0.0f, y + (size_t)c * ld, (int)ld);
        double t3 = mn_now();
        mn_graph_forward(&g, x, B, 1);
        for (size_t i = 0; i < n; i++) g.nodes[1].dy[i] = dy[i];
        g.nodes[1].dy_extra = NULL;
        mn_graph_zero_grad(&g);
        mn_graph_backward(&g, dy, B);
        double t4 = mn_now();
        if (it >= 0) { t[0][it] = t1 - t0; t[1][it] = t2 - t1; t[2][it] = t3 - t2; t[3][it] = t4 - t3; }
    }
    for (int k = 0; k < 4; k++) qsort(t[k], (size_t)runs, sizeof(double), cmpd);
    double direct = t[0][runs / 2], ref = t[1][runs / 2], gemm = t[2][runs / 2], fb = t[3][runs / 2];
    double macs = (double)B * C * P * 9;
    printf("depthwise 3x3, C=%d %dx%d batch %d (%s, SGEMM %s): median of %d runs\n", C, H, W, B, mn_dw_path(),
           mn_sgemm_uses_blas() ? "OpenBLAS" : "portable", runs);
    printf("  direct kernel (graph)   %8.3f ms  %6.2f GMAC/s\n", direct * 1e3, macs / direct / 1e9);
    printf("  _ref loops              %8.3f ms  %6.2f GMAC/s  direct is %.2fx faster\n", ref * 1e3, macs / ref / 1e9, ref / direct);
    printf("  im2col + %d SGEMMs      %8.3f ms  %6.2f GMAC/s  direct is %.2fx faster\n", C, gemm * 1e3, macs / gemm / 1e9, gemm / direct);
    printf("  direct forward+backward %8.3f ms\n", fb * 1e3);
    printf("RESULT direct_ms=%.4f ref_ms=%.4f gemm_ms=%.4f fwdbwd_ms=%.4f\n", direct * 1e3, ref * 1e3, gemm * 1e3, fb * 1e3);
    free(x); free(dy); free(y); free(col);
    mn_graph_free(&g);
    return 0;
}
