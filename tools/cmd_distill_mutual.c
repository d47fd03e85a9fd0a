/* minnow distill --mutual N: online distillation, deep mutual learning
 * (Zhang et al. 2018): N students of --arch, initialised with seeds S, S+1,
 * ..., train together, each distilling from the others' predictions on the
 * same batch (minnow/distill.h).  -o gets the first; the others are written
 * beside it as OUT-peer2.mnw, ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/dist.h"
#include "cmds.h"
#include "minnow/arch.h"
#include "minnow/distill.h"
#include "minnow/io.h"
#include "core/file.h"

static float err_of(mn_graph *g, const mn_dataset *va) {
    if (!va) return -1;
    mn_eval_result r;
    cli_check(mn_eval(g, va, 250, &r));
    return r.error;
}

/* OUT with "-peerK" before its extension. */
static void peer_path(const char *out, int k, char *buf, size_t n) {
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (!dot || (slash && dot < slash)) dot = out + strlen(out);
    snprintf(buf, n, "%.*s-peer%d%s", (int)(dot - out), out, k, dot);
}

int cmd_distill_mutual(cli_args *a, int npeers) {
    const char *arch = cli_str(a, "arch", NULL), *out = cli_str(a, "o", NULL);
    if (cli_flag(a, "teacher") || cli_flag(a, "hint") || cli_flag(a, "hint-weight") || cli_flag(a, "exclude-class") ||
        cli_flag(a, "fix-bias") || cli_flag(a, "born-again"))
        cli_die("--mutual trains students from each other: no --teacher, --hint, --hint-weight, --exclude-class, "
                "--fix-bias or --born-again");
    if (!arch) cli_die("--mutual needs --arch (the students' architecture)");
    if (!out) cli_die("-o FILE is required (see --help)");
    char path[4096];
    for (int i = 1; i < npeers; i++) { /* every peer's file can be written, before any training */
        peer_path(out, i + 1, path, sizeof path);
        cli_check(mn_output_check(path));
    }
    float T = (float)cli_num(a, "temperature", 1, 1e-3, 1e4), alpha = (float)cli_num(a, "alpha", 0.5, 0, 1);
    cli_threads(a);
    mn_train_cfg cfg;
    cli_train_cfg(a, &cfg, 15);
    cli_check_train_cfg(&cfg);
    const char *dir = cli_data_dir(a), *vsplit = cli_str(a, "val", "val");
    mn_dataset tr, va;
    cli_load_data(dir, cli_str(a, "split", "train"), &tr);
    int have_val = strcmp(vsplit, "none") != 0;
    if (have_val) cli_load_data(dir, vsplit, &va);
    int nclass = have_val && va.nclass > tr.nclass ? va.nclass : tr.nclass;
    static mn_graph peers[MN_DISTILL_MAX_TEACHERS];
    mn_graph *pp[MN_DISTILL_MAX_TEACHERS];
    for (int i = 0; i < npeers; i++) {
        cli_check(mn_arch_build(&peers[i], arch, tr.c, tr.h, tr.w, nclass));
        cli_check_trainable(&peers[i], arch);
        mn_rng rng;
        mn_rng_seed(&rng, cfg.seed + (uint64_t)i);
        mn_graph_init_params(&peers[i], &rng);
        cli_check(mn_set_input_norm(&peers[i], &tr));
        cli_check(mn_check_data(&peers[i], &tr));
        pp[i] = &peers[i];
    }
    mn_mutual *m;
    cli_check(mn_mutual_new(pp, npeers, &cfg, T, alpha, tr.n, &m));
    mn_mutual_attach(m, &cfg);
    static cli_log log;
    cfg.ud = &log;
    double t0 = mn_now();
    cli_check(mn_train(&peers[0], &tr, have_val ? &va : NULL, &cfg));
    double secs = mn_now() - t0;
    mn_mutual_free(m);
    float errs[MN_DISTILL_MAX_TEACHERS] = {0};
    char buf[4096], meta[64];
    snprintf(meta, sizeof meta, "mutual peers=%d T=%g alpha=%g", npeers, (double)T, (double)alpha);
    for (int i = 0; i < npeers; i++) {
        errs[i] = err_of(&peers[i], have_val ? &va : NULL);
        snprintf(buf, sizeof buf, "%d", cfg.epochs);
        cli_check(mn_graph_set_meta(&peers[i], "epochs", buf));
        cli_check(mn_graph_set_meta(&peers[i], "distill", meta));
        if (errs[i] >= 0) {
            snprintf(buf, sizeof buf, "%.6f", errs[i]);
            cli_check(mn_graph_set_meta(&peers[i], "val_error", buf));
        }
    }
    /* A failure part way removes the peers already written. */
    for (int i = 0; i < npeers; i++) {
        if (i) peer_path(out, i + 1, buf, sizeof buf);
        mn_status st = mn_model_save(&peers[i], i ? buf : out);
        if (st) {
            for (int j = 0; j < i; j++) {
                if (j) peer_path(out, j + 1, path, sizeof path);
                if (mn_dist_root()) remove(j ? path : out);
            }
            cli_check(st);
        }
    }
    if (cli_flag(a, "json")) {
        printf("{\"mode\":\"mutual\",\"arch\":%s,\"output\":%s,\"peers\":%d,\"temperature\":%g,\"alpha\":%g,\"seconds\":%.4f,"
               "\"epochs\":",
               cli_jq(arch), cli_jq(out), npeers, (double)T, (double)alpha, secs);
        cli_print_epochs_json(stdout, &log);
        printf(",\"val_errors\":[");
        for (int i = 0; i < npeers; i++) printf("%s%.6g", i ? "," : "", errs[i]);
        printf("],\"val_error\":%.6g,\"val_n\":%d}\n", errs[0], have_val ? va.n : 0);
    } else {
        for (int i = 0; i < npeers; i++) {
            if (i) peer_path(out, i + 1, buf, sizeof buf);
            if (errs[i] >= 0) printf("peer %d -> %s: val error %.2f%%\n", i + 1, i ? buf : out, 100 * errs[i]);
            else printf("peer %d -> %s\n", i + 1, i ? buf : out);
        }
    }
    for (int i = 0; i < npeers; i++) mn_graph_free(&peers[i]);
    mn_dataset_free(&tr);
    if (have_val) mn_dataset_free(&va);
    return 0;
}
