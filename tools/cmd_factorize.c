/* minnow factorize */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/io.h"
#include "minnow/lowrank.h"
#include "store/store.h"

static const char *HELP =
    "usage: minnow factorize IN.mnw (--rank R | --energy E | --layers L) [--finetune N] -o OUT.mnw [options]\n"
    "Replaces dense/conv layers by two thinner ones from a truncated SVD of the weight,\n"
    "W ~ (U_r S_r) V_r^T: dense X -> X_a (r units) + X_b; conv X -> k x k conv with r filters\n"
    "+ 1x1 conv with the original filters.  Then optionally fine-tunes on DIR/train.\n"
    "  --rank R          rank for each selected layer (lowered to min(m, n) where larger)\n"
    "  --energy E        per layer, the smallest rank keeping fraction E of sum(s^2), E in (0, 1]\n"
    "  --layers L        comma list of NAME=R (a rank), NAME=0.E (an energy, has a '.') or NAME\n"
    "                    (uses --rank/--energy).  Without --layers every dense and conv (groups 1)\n"
    "                    layer is a candidate and those whose factors would not be smaller stay whole\n"
    "  --finetune N      epochs of fine-tuning afterwards (default 0; --lr defaults to 1e-4 adam, 1e-2 sgd)\n"
    "  --data DIR        data for fine-tuning and the val report (DIR or data set name, default mnist)\n"
    "  --split NAME      fine-tuning split (default train)\n"
    "  --val NAME        report split, 'none' to skip (default val; evaluated when --data or --finetune)\n"
    "  -o FILE           output model (.mnw), written atomically\n"
    "  --json            print a JSON report on stdout\n";

static float val_error(mn_graph *g, const mn_dataset *va) {
    mn_eval_result r;
    cli_check(mn_eval(g, va, 250, &r));
    return r.error;
}

int cmd_factorize(int argc, char **argv) {
    char help[4096];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 0);
    cli_args a;
    cli_parse(&a, argc, argv, "@1 rank: energy: layers: finetune: data: split: val: o: json " CLI_TRAIN_OPTS, help);
    const char *in = cli_pos(&a, 0, "input model IN.mnw"), *out = cli_str(&a, "o", NULL);
    if (a.npos > 1) cli_die("one input model only, got '%s' too", a.pos[1]);
    if (!out) cli_die("-o FILE is required (see --help)");
    int rank = (int)cli_int(&a, "rank", 0, 1, 1 << 24);
    double energy = cli_num(&a, "energy", 0, 1e-9, 1);
    const char *lspec = cli_str(&a, "layers", NULL);
    if (lspec && !*lspec) cli_die("--layers is empty");
    if (rank && energy) cli_die("give --rank or --energy, not both");
    if (!rank && !energy && !lspec) cli_die("one of --rank, --energy or --layers is required (see --help)");
    int finetune = (int)cli_int(&a, "finetune", 0, 0, 100000);
    cli_threads(&a);
    mn_train_cfg cfg;
    cli_train_cfg(&a, &cfg, finetune);
    cfg.epochs = finetune;
    /* Fine-tuning starts near a minimum: the from-scratch rate knocks it out. */
    if (!cli_flag(&a, "lr")) cfg.opt.lr = cfg.opt.kind == MN_OPT_ADAM ? 1e-4f : 1e-2f;

    mn_graph src, dst;
    cli_load_model(in, &src);
    cli_refuse_stored(&src, "factorize", 1u << MN_ST_F32, "factorize the float model, then quantize");
    /* The registry's factorize pass, as a recipe's, without its fine-tuning:
     * the report has the val error in between, so that is done here. */
    mn_pass pass;
    cli_pass(&a, "factorize", NULL, NULL, &pass);
    cli_check(mn_pass_set(&pass, "finetune", "0"));
    mn_pass_env env;
    cli_pass_env(&a, &env, NULL);
    mn_lowrank_layer *ls = NULL;
    int nl = 0;
    env.lowrank = &ls;
    env.nlowrank = &nl;

    int use_data = finetune > 0 || cli_flag(&a, "data");
    const char *vsplit = cli_str(&a, "val", "val");
    int have_val = use_data && strcmp(vsplit, "none") != 0;
    mn_dataset tr, va;
    if (finetune > 0) cli_load_data(cli_data_dir(&a), cli_str(&a, "split", "train"), &tr);
    if (have_val) cli_load_data(cli_data_dir(&a), vsplit, &va);

    double t0 = mn_now();
    cli_check(mn_graph_clone(&src, &dst));
    mn_status fst = mn_pass_run(&pass, &dst, &env);
    mn_pass_free(&pass);
    if (fst) mn_graph_free(&dst);
    cli_check(fst);
    double svd_secs = mn_now() - t0;
    int64_t p0 = cli_trainable_params(&src), p1 = cli_trainable_params(&dst);
    float e_src = -1, e_fact = -1, e_tuned = -1;
    if (have_val) { e_src = val_error(&src, &va); e_fact = val_error(&dst, &va); }
    int json = cli_flag(&a, "json");
    if (!json) {
        for (int i = 0; i < nl; i++) {
            const mn_lowrank_layer *L = &ls[i];
            if (L->factorized)
                fprintf(stderr, "%-12s %5dx%-6d rank %4d of %4d: energy kept %.4f, rel. error %.4f, params %lld -> %lld\n",
                        L->name, L->rows, L->cols, L->rank, L->full_rank, L->kept_energy, L->rel_error,
                        (long long)L->params_before, (long long)L->params_after);
            else
                fprintf(stderr, "%-12s %5dx%-6d left whole (rank %d would not save parameters)\n", L->name, L->rows,
                        L->cols, L->rank);
        }
        fprintf(stderr, "params %lld -> %lld (%.1f%%)\n", (long long)p0, (long long)p1, 100.0 * p1 / p0);
        if (have_val) fprintf(stderr, "val error: original %.2f%%, factorised %.2f%%\n", 100 * e_src, 100 * e_fact);
    }
    static cli_log log;
    if (finetune > 0) {
        cfg.ud = &log;
        cli_check(mn_train(&dst, &tr, have_val ? &va : NULL, &cfg));
        if (have_val) e_tuned = val_error(&dst, &va);
        if (!json && have_val) fprintf(stderr, "val error after %d epochs of fine-tuning: %.2f%%\n", finetune, 100 * e_tuned);
    }
    float e_final = finetune > 0 ? e_tuned : e_fact;
    if (e_final >= 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.6f", e_final);
        cli_check(mn_graph_set_meta(&dst, "val_error", buf));
    }
    cli_check(mn_model_save(&dst, out));
    if (json) {
        printf("{\"input\":%s,\"output\":%s,\"svd\":\"%s\",\"svd_seconds\":%.4f,\"layers\":[", cli_jq(in), cli_jq(out),
               mn_svd_uses_lapack() ? "lapack" : "jacobi", svd_secs);
        for (int i = 0; i < nl; i++) {
            const mn_lowrank_layer *L = &ls[i];
            printf("%s{\"name\":%s,\"rows\":%d,\"cols\":%d,\"factorized\":%s,\"rank\":%d,\"full_rank\":%d,"
                   "\"kept_energy\":%.6g,\"rel_error\":%.6g,\"params_before\":%lld,\"params_after\":%lld}",
                   i ? "," : "", cli_jq(L->name), L->rows, L->cols, L->factorized ? "true" : "false", L->rank, L->full_rank,
                   L->kept_energy, L->rel_error, (long long)L->params_before, (long long)L->params_after);
        }
        printf("],\"params_before\":%lld,\"params_after\":%lld,\"val_error_original\":%.6g,"
               "\"val_error_factorized\":%.6g,\"finetune_epochs\":%d,\"val_error_finetuned\":%.6g}\n",
               (long long)p0, (long long)p1, e_src, e_fact, finetune, e_tuned);
    }
    free(ls);
    mn_graph_free(&src);
    mn_graph_free(&dst);
    if (finetune > 0) mn_dataset_free(&tr);
    if (have_val) mn_dataset_free(&va);
    return 0;
}
