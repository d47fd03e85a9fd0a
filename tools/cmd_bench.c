/* minnow bench: median latency of the model's forward pass on random input. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "kernels/kernels.h"

static const char *HELP =
    "usage: minnow bench FILE [--batch B] [--threads N] [--runs N] [--width W] [--json]\n"
    "Median (and p10/p90) latency of one forward pass over a batch of random inputs.\n"
    "  --batch B     default 1\n"
    "  --threads N   default 1\n"
    "  --runs N      timed runs (default: as many as fit in about 1 s, at least 20)\n"
    "  --width W     slimmable models: run width W only (default the full width)\n";

int cmd_bench(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 batch: threads: runs: width: json", HELP);
    const char *path = cli_pos(&a, 0, "model FILE");
    cli_threads(&a);
    int batch = (int)cli_int(&a, "batch", 1, 1, 1 << 16);
    mn_graph g;
    cli_load_model_width(path, &g, cli_width(&a), NULL);
    cli_check(mn_graph_reserve(&g, batch));
    int64_t isz = mn_shape_numel(mn_graph_input_shape(&g));
    float *x = mn_alloc((size_t)batch * isz, sizeof(float));
    if (!x) cli_die("out of memory");
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int64_t i = 0; i < batch * isz; i++) x[i] = mn_rng_uniform(&r);
    double t0 = mn_now();
    int warm = 0;
    while (warm < 5 || mn_now() - t0 < 0.2) { mn_graph_forward(&g, x, batch, 0); warm++; }
    double per = (mn_now() - t0) / warm;
    int runs = (int)cli_int(&a, "runs", 0, 0, 10000000);
    if (!runs) { runs = (int)(1.0 / per); if (runs < 20) runs = 20; if (runs > 100000) runs = 100000; }
    double *t = malloc(sizeof(double) * runs);
    if (!t) cli_die("out of memory");
    for (int i = 0; i < runs; i++) {
        double s = mn_now();
        mn_graph_forward(&g, x, batch, 0);
        t[i] = (mn_now() - s) * 1e6;
    }
    qsort(t, runs, sizeof *t, cli_cmp_double);
    double med = t[runs / 2], p10 = t[runs / 10], p90 = t[runs * 9 / 10];
    if (cli_flag(&a, "json"))
        printf("{\"batch\":%d,\"threads\":%d,\"runs\":%d,\"latency_us\":%.3f,\"p10_us\":%.3f,\"p90_us\":%.3f,"
               "\"samples_per_s\":%.1f,\"macs\":%lld,\"blas\":%s,\"blas_bypassed\":%s}\n", batch, mn_get_threads(), runs, med,
               p10, p90, batch / med * 1e6, (long long)mn_graph_macs(&g), cli_jq(mn_blas_core()),
               mn_blas_weak() ? "true" : "false");
    else
        printf("%s: batch %d, %d thread(s): median %.1f us (p10 %.1f, p90 %.1f) over %d runs, %.0f samples/s\n",
               path, batch, mn_get_threads(), med, p10, p90, runs, batch / med * 1e6);
    free(t);
    mn_free(x);
    mn_graph_free(&g);
    return 0;
}
