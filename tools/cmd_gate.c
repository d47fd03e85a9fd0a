/* minnow gate: SkipNet-style gates on a residual net's blocks, trained
 * against a compute cost (minnow/gate.h, docs/DYNAMIC.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minnow/distill.h"
#include "minnow/gate.h"
#include "minnow/io.h"

static const char *HELP =
    "usage: minnow gate IN.mnw --cost C --epochs E -o OUT.mnw [options]\n"
    "Depth chosen per sample (SkipNet, Wang et al. 2018): puts a gate on every residual\n"
    "block of a trained model whose shortcut is the identity (a dense layer on the\n"
    "block input's global average; the block runs where its sigmoid is >= 0.5), then\n"
    "trains the model with loss = cross-entropy + C x (the sample's executed MACs / the\n"
    "full network's), the hard decisions through the straight-through estimator.  At\n"
    "inference a closed gate's block is not computed.  Reports val error, the average\n"
    "MACs executed per sample and how often each gate opened (batch-1 runs).\n"
    "  --cost C          weight of the compute cost (e.g. 0.1 - 2; 0: gates learn accuracy only)\n"
    "  --epochs E        training epochs (default 3; --lr defaults to 0.01 sgd, 1e-4 adam)\n"
    "  --open B          the gates' starting bias: sigmoid(B) > 0.5, every block open (default 1)\n"
    "  --distill         learn from the ungated model too: its softened predictions are the\n"
    "                    targets of a knowledge-distillation term (minnow distill's loss)\n"
    "  --temperature T   with --distill (default 4)\n"
    "  --alpha A         with --distill: weight of the soft term (default 0.9)\n"
    "  --data DIR        data (DIR or data set name, default mnist)\n"
    "  --split NAME      training split (default train)\n"
    "  --val NAME        report split (default val)\n"
    "  -o FILE           output model (.mnw), written atomically\n"
    "  --json            print a JSON report on stdout\n";

void cli_gate_report(const char *what, const struct mn_gate_eval *r, int json) {
    if (json) {
        printf("\"%s\":{\"n\":%d,\"errors\":%d,\"error\":%.6g,\"avg_macs\":%.1f,\"full_macs\":%lld,\"open\":[", what, r->n,
               r->errors, r->n ? (double)r->errors / r->n : 0.0, r->avg_macs, (long long)r->full_macs);
        for (int i = 0; i < r->ngates; i++) printf("%s%d", i ? "," : "", r->open[i]);
        printf("],\"latency_us\":%.2f,\"by_open_gates\":[", r->n ? r->seconds * 1e6 / r->n : 0.0);
        for (int k = 0, f = 1; k <= r->ngates; k++)
            if (r->by_count_n[k]) {
                printf("%s{\"open\":%d,\"n\":%d,\"errors\":%d,\"latency_us\":%.2f}", f ? "" : ",", k, r->by_count_n[k],
                       r->by_count_err[k], r->by_count_us[k]);
                f = 0;
            }
        printf("]}");
        return;
    }
    printf("%s: error %.2f%% (%d of %d), %.0f MACs per sample on average (%.1f%% of %lld), %.1f us per sample\n", what,
           r->n ? 100.0 * r->errors / r->n : 0.0, r->errors, r->n, r->avg_macs, 100.0 * r->avg_macs / (double)r->full_macs,
           (long long)r->full_macs, r->n ? r->seconds * 1e6 / r->n : 0.0);
    printf("  gates open (of %d samples):", r->n);
    for (int i = 0; i < r->ngates; i++) printf(" %d", r->open[i]);
    printf("\n  %10s %8s %8s %10s\n", "open gates", "samples", "error%", "us/sample");
    for (int k = 0; k <= r->ngates; k++)
        if (r->by_count_n[k])
            printf("  %10d %8d %8.2f %10.1f\n", k, r->by_count_n[k], 100.0 * r->by_count_err[k] / r->by_count_n[k],
                   r->by_count_us[k]);
}

int cmd_gate(int argc, char **argv) {
    char help[4096];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 3);
    cli_args a;
    cli_parse(&a, argc, argv, "@1 cost: open: distill temperature: alpha: data: split: val: o: json " CLI_TRAIN_OPTS, help);
    const char *in = cli_pos(&a, 0, "input model IN.mnw"), *out = cli_str(&a, "o", NULL);
    if (a.npos > 1) cli_die("one input model only, got '%s' too", a.pos[1]);
    if (!out) cli_die("-o FILE is required (see --help)");
    if (!cli_flag(&a, "cost")) cli_die("--cost C is required (see --help)");
    float cost = (float)cli_num(&a, "cost", 0, 0, 1e6), open = (float)cli_num(&a, "open", 1, 1e-3, 30);
    cli_threads(&a);
    mn_train_cfg cfg;
    cli_train_cfg(&a, &cfg, 3);
    /* Fine-tuning a trained net: a from-scratch rate would knock it out. */
    if (!cli_flag(&a, "lr")) cfg.opt.lr = cfg.opt.kind == MN_OPT_SGD ? 0.01f : 1e-4f;
    if (cfg.epochs < 1) cli_die("--epochs must be at least 1: the gates start untrained");
    cli_check_train_cfg(&cfg);
    const char *dir = cli_data_dir(&a), *vs = cli_str(&a, "val", "val");
    mn_dataset tr, va;
    cli_load_data(dir, cli_str(&a, "split", "train"), &tr);
    cli_load_data(dir, vs, &va);
    mn_graph g, gg;
    cli_load_model(in, &g);
    cli_check(mn_check_data(&g, &tr));
    int ngates = 0;
    cli_check(mn_gate_add(&g, open, &gg, &ngates));
    mn_gate_eval before;
    cli_check(mn_gate_evaluate(&g, &va, &before));
    static cli_log log;
    cfg.ud = &log;
    /* The ungated model as the teacher (Hinton et al.): the gated one
     * learns its soft targets while its gates close. */
    mn_distill *kd = NULL;
    if (cli_flag(&a, "distill")) {
        mn_distill_cfg dc;
        mn_distill_default(&dc);
        dc.temperature = (float)cli_num(&a, "temperature", dc.temperature, 1e-3, 1e3);
        dc.alpha = (float)cli_num(&a, "alpha", dc.alpha, 0, 1);
        mn_graph *t = &g;
        cli_check(mn_distill_new(&gg, &t, 1, &dc, &kd));
        mn_distill_attach(kd, &cfg);
    } else if (cli_flag(&a, "temperature") || cli_flag(&a, "alpha")) {
        cli_die("--temperature and --alpha go with --distill");
    }
    double t0 = mn_now();
    cli_check(mn_gate_train(&gg, &tr, &va, &cfg, cost));
    mn_distill_free(kd);
    double secs = mn_now() - t0;
    char buf[32];
    snprintf(buf, sizeof buf, "%g", (double)cost);
    cli_check(mn_graph_set_meta(&gg, "gate_cost", buf));
    cli_check(mn_model_save(&gg, out));
    mn_gate_eval after;
    cli_check(mn_gate_evaluate(&gg, &va, &after));
    int json = cli_flag(&a, "json");
    if (json) {
        printf("{\"input\":%s,\"output\":%s,\"gates\":%d,\"cost\":%g,\"distill\":%s,\"seconds\":%.2f,\"val_split\":%s,",
               cli_jq(in), cli_jq(out), ngates, (double)cost, kd ? "true" : "false", secs, cli_jq(vs));
        cli_gate_report("before", &before, 1);
        printf(",");
        cli_gate_report("after", &after, 1);
        printf(",\"val_error\":%.6g,\"avg_macs\":%.1f,\"epochs\":", after.n ? (double)after.errors / after.n : 0.0,
               after.avg_macs);
        cli_print_epochs_json(stdout, &log);
        printf("}\n");
    } else {
        printf("%s -> %s: %d gated blocks, cost %g, %d epochs\n", in, out, ngates, (double)cost, cfg.epochs);
        cli_gate_report("before (ungated)", &before, 0);
        cli_gate_report("after", &after, 0);
    }
    mn_graph_free(&gg);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
    return 0;
}
