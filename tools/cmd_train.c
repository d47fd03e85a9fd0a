/* minnow train */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/dist.h"
#include "minnow/arch.h"
#include "minnow/binary.h"
#include "minnow/checkpoint.h"
#include "minnow/exits.h"
#include "minnow/io.h"
#include "minnow/recipe.h"
#include "minnow/slim.h"
#include "core/file.h"

static const char *HELP =
    "usage: minnow train --arch NAME|SPEC --data DIR -o FILE [options]\n"
    "       minnow train --recipe FILE --data DIR -o FILE [options]\n"
    "Trains a network from scratch on the train split and reports val each epoch\n"
    "(val is held out of train where the data has no val of its own: docs/DATA.md).\n"
    "  --arch A          a built-in (lenet300 lenet5 mlp1200 mlp800 conv2 conv4 conv6 and the\n"
    "                    variants listed by `minnow arch --help`), a spec file,\n"
    "                    or an inline spec ('input x; dense fc units=10')\n"
    "  --data DIR|NAME   data directory or data set name (default mnist; minnow data list),\n"
    "                    CSV label column: --label NAME|INDEX (default: the column headed label)\n"
    "  --split NAME      training split (default train)\n"
    "  --val NAME        validation split, 'none' to skip (default val)\n"
    "  --recipe FILE     a training recipe (recipes/train-*.yaml): its 'train:' mapping holds\n"
    "                    these options (arch: lenet5, opt: sgd, ...); options given here win\n"
    "  -o FILE           output model (.mnw), written atomically at the end\n"
    "  --json            print a JSON report on stdout\n"
    "  --checkpoint-every N  save FILE.ckpt (model, optimizer, rng states, log) every N epochs\n"
    "  --resume          continue from FILE.ckpt if there is one (same options and data)\n"
    "  --binary M        train binarized: binaryconnect|xnor|bitwise (see minnow binarize --help)\n"
    "  --keep-first-last with --binary: the first and last layers stay f32\n"
    "  --exit-weights W1,W2,..  multi-exit net (e.g. lenet5x3): loss = sum of Wi * head i's loss\n"
    "  --self-distill A      with --exit-weights: self-distillation (Zhang et al. 2019): each inner\n"
    "                        head's loss is (1-A) xent(y) + A T^2 xent(last head's softmax(z/T))\n"
    "  --self-temperature T  its temperature (default 3)\n"
    "  --widths W1,W2,..,1  slimmable network (Yu et al. 2019): one set of weights trained at\n"
    "                    these widths (fractions of every hidden layer's units), each step\n"
    "                    the sum of their losses, with a batch norm of its own per width\n"
    "                    (eval/bench/info/export-c --width W run one; docs/DYNAMIC.md)\n"
    "  --width W         train the network at width W alone (its first ceil(W x units) units\n"
    "                    per hidden layer; the control beside a slimmable network)\n";

/* Checkpoints (minnow/checkpoint.h): written atomically every N epochs from
 * the loop's on_state hook, read back by --resume. */
static struct { const char *path; int every; mn_ckpt_run run; } g_ck;

static mn_status save_ckpt(void *ud, mn_graph *g, const mn_train_state *s) {
    const cli_log *log = ud;
    if (s->epoch % g_ck.every) return MN_OK;
    return mn_checkpoint_save(g_ck.path, g, &g_ck.run, s, log->e, log->n);
}

/* Swaps g for the checkpoint's model and points cfg at its state; 0 (and a
 * note) when there is no checkpoint yet, so --resume also starts a run. */
static int resume_from(const char *path, mn_graph *g, mn_checkpoint *ck, mn_train_cfg *cfg,
                       const mn_dataset *tr, cli_log *log) {
    if (cli_file_size(path) < 0) {
        fprintf(stderr, "minnow: no checkpoint %s yet, starting from scratch\n", path);
        return 0;
    }
    mn_graph cg;
    cli_check(mn_checkpoint_load(path, &cg, ck));
    if (mn_checkpoint_match(ck, cfg, tr) || mn_checkpoint_match_graph(&cg, g))
        cli_die("%s: %s (remove it to start afresh)", path, mn_errmsg());
    mn_graph_free(g);
    *g = cg;
    log->n = 0;
    for (int i = 0; i < ck->nlog && log->n < 512; i++) log->e[log->n++] = ck->log[i];
    cfg->resume = &ck->state;
    fprintf(stderr, "resuming from %s after epoch %d of %d\n", path, ck->state.epoch, cfg->epochs);
    return 1;
}

#define TRAIN_SPEC "@0 arch: data: split: val: o: json binary: keep-first-last checkpoint-every: resume exit-weights: self-distill: self-temperature: widths: width: recipe: " CLI_TRAIN_OPTS
/* Options a recipe may not set: where the output goes and how it is
 * reported belong to the command line. */
static const char *const NOT_IN_RECIPE[] = {"o", "json", "recipe", "resume", "checkpoint-every", NULL};

/* --recipe FILE: its options go before the command line's, whose later
 * values win (cli_str reads the last).  A key that is not an option of
 * train is an error naming its line. */
static char **with_recipe(int *argc, char **argv) {
    const char *path = NULL;
    for (int i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--recipe") && i + 1 < *argc) path = argv[i + 1];
        else if (!strncmp(argv[i], "--recipe=", 9)) path = argv[i] + 9;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return argv;
    }
    if (!path) return argv;
    static mn_recipe r;
    cli_check(mn_recipe_load(path, &r));
    if (!r.ntrain) cli_die("%s: no 'train:' options (a compression recipe runs with `minnow compress`)", path);
    static char *av[2 * MN_RECIPE_MAX_TRAIN + 2 + CLI_MAX * 2];
    static char opt[MN_RECIPE_MAX_TRAIN + 1][32];
    int n = 0;
    if (r.seed_given) {
        static char seed[24];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)r.seed);
        av[n++] = "--seed";
        av[n++] = seed;
    }
    for (int i = 0; i < r.ntrain; i++) {
        const char *k = r.train_key[i], *v = r.train_val[i];
        int kind = cli_spec_kind(TRAIN_SPEC, k), bad = !kind;
        for (int j = 0; NOT_IN_RECIPE[j] && !bad; j++) bad = !strcmp(k, NOT_IN_RECIPE[j]);
        if (bad) cli_die("%s:%d: '%s' is not a training option a recipe may set (see minnow train --help)", path,
                         r.train_line[i], k);
        snprintf(opt[i], sizeof opt[i], "--%s", k);
        if (kind == 2) {
            av[n++] = opt[i];
            av[n++] = r.train_val[i];
        } else if (strchr("tTyY1", v[0]) || !strcmp(v, "on")) {
            av[n++] = opt[i]; /* a flag: true / false */
        } else if (!strchr("fFnN0", v[0]) && strcmp(v, "off")) {
            cli_die("%s:%d: '%s' is a flag: true or false, got '%s'", path, r.train_line[i], k, v);
        }
    }
    if (*argc > CLI_MAX * 2) return argv; /* cli_parse reports too many options */
    for (int i = 0; i < *argc; i++) av[n++] = argv[i];
    *argc = n;
    return av;
}

/* A slimmable network's JSON report ends with each width's figures. */
static void print_widths(const mn_graph *g, const float *ws, int n, const mn_dataset *val) {
    printf(",\"widths\":[");
    for (int i = 0; i < n; i++) {
        mn_graph s;
        cli_check(mn_slim_select(g, ws[i], &s));
        mn_eval_result r = {0, 0, -1, -1};
        if (val) cli_check(mn_eval(&s, val, 250, &r));
        printf("%s{\"width\":%g,\"val_error\":%.6g,\"macs\":%lld}", i ? "," : "", (double)ws[i], r.error,
               (long long)mn_graph_macs(&s));
        mn_graph_free(&s);
    }
    printf("]");
}

int cmd_train(int argc, char **argv) {
    char help[4096];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 15);
    cli_args a;
    argv = with_recipe(&argc, argv);
    cli_parse(&a, argc, argv, TRAIN_SPEC, help);
    const char *arch = cli_str(&a, "arch", NULL), *out = cli_str(&a, "o", NULL);
    if (!arch) cli_die("--arch is required (see --help)");
    if (!out) cli_die("-o FILE is required (see --help)");
    cli_threads(&a);
    mn_train_cfg cfg;
    cli_train_cfg(&a, &cfg, 15);
    if (!cli_flag(&a, "exit-weights") && (cli_flag(&a, "self-distill") || cli_flag(&a, "self-temperature")))
        cli_die("--self-distill distils the inner exit heads from the last: it needs --exit-weights");
    if (cli_flag(&a, "self-temperature") && !cli_flag(&a, "self-distill")) cli_die("--self-temperature goes with --self-distill");
    cli_num(&a, "self-distill", 0.5, 0, 1);
    cli_num(&a, "self-temperature", 3, 1e-3, 1e4);
    cli_check_train_cfg(&cfg);
    const char *dir = cli_data_dir(&a), *vsplit = cli_str(&a, "val", "val");
    mn_dataset tr, va;
    cli_load_data(dir, cli_str(&a, "split", "train"), &tr);
    int have_val = strcmp(vsplit, "none") != 0;
    if (have_val) cli_load_data(dir, vsplit, &va);
    mn_graph g;
    /* Classes: as many as the labels seen in train (and val) need. */
    int nclass = have_val && va.nclass > tr.nclass ? va.nclass : tr.nclass;
    cli_check_labels(&tr, "training data");
    cli_check(mn_arch_build(&g, arch, tr.c, tr.h, tr.w, nclass));
    cli_check_trainable(&g, arch);
    float widths[MN_SLIM_MAX];
    int nwidths = 0;
    const char *wl = cli_str(&a, "widths", NULL);
    if (wl || cli_flag(&a, "width")) {
        if (wl && cli_flag(&a, "width")) cli_die("--widths trains a slimmable network, --width one width alone: not both");
        if (cli_flag(&a, "binary") || cli_flag(&a, "exit-weights")) cli_die("--widths and --width exclude --binary and --exit-weights");
        if (wl && mn_slim_parse(wl, widths, &nwidths)) cli_die("--%s", mn_errmsg());
        if (wl && widths[nwidths - 1] != 1.0f) cli_die("--widths: the last width must be 1 (the shared weights are the full network)");
        mn_graph s;
        if (wl) cli_check(mn_slim_make(&g, widths, nwidths, &s));
        else cli_check(mn_slim_select(&g, (float)cli_width(&a), &s));
        mn_graph_free(&g);
        g = s;
    }
    mn_rng rng;
    mn_rng_seed(&rng, cfg.seed);
    mn_graph_init_params(&g, &rng);
    cli_check(mn_set_input_norm(&g, &tr));
    static cli_log log;
    cfg.ud = &log;
    char ckpath[MN_PATH_MAX + 8];
    snprintf(ckpath, sizeof ckpath, "%s.ckpt", out);
    mn_checkpoint ck = {0};
    int resumed = cli_flag(&a, "resume") && resume_from(ckpath, &g, &ck, &cfg, &tr, &log);
    g_ck.every = (int)cli_int(&a, "checkpoint-every", 0, 0, 1000000);
    if (g_ck.every) {
        cli_check(mn_output_check(ckpath)); /* before training, like -o */
        g_ck.path = ckpath;
        mn_ckpt_run_of(&cfg, &tr, &g_ck.run);
        cfg.on_state = save_ckpt;
    }
    /* Multi-exit: one weight per head (minnow/exits.h), in exit order. */
    mn_exits_trainer xt = {0};
    const char *xw = cli_str(&a, "exit-weights", NULL);
    if (xw) {
        float wts[MN_EXITS_MAX];
        int nw = 0;
        for (const char *q = xw; *q;) {
            char *end;
            if (nw == MN_EXITS_MAX) cli_die("--exit-weights: more than %d weights", MN_EXITS_MAX);
            wts[nw++] = strtof(q, &end);
            if (end == q || (*end && *end != ',')) cli_die("--exit-weights: '%s' is not a comma-separated list of numbers", xw);
            q = *end ? end + 1 : end;
        }
        cli_check(mn_exits_train_setup(&xt, &g, wts, nw, &cfg));
        if (cli_flag(&a, "self-distill"))
            cli_check(mn_exits_self_distill(&xt, (float)cli_num(&a, "self-distill", 0.5, 0, 1),
                                            (float)cli_num(&a, "self-temperature", 3, 1e-3, 1e4)));
    }
    double t0 = mn_now();
    mn_binarize_opts bo;
    const char *bin = cli_str(&a, "binary", NULL);
    if (bin) cli_check(mn_binarize_opts_init(&bo, bin));
    if (bin) bo.keep_first_last = cli_flag(&a, "keep-first-last");
    if (bin) cli_check(mn_binarize_train(&g, &bo, &tr, have_val ? &va : NULL, &cfg));
    else if (nwidths) cli_check(mn_slim_train(&g, &tr, have_val ? &va : NULL, &cfg));
    else cli_check(mn_train(&g, &tr, have_val ? &va : NULL, &cfg));
    double secs = mn_now() - t0;
    if (xw) mn_exits_train_done(&xt);
    char buf[64];
    snprintf(buf, sizeof buf, "%d", cfg.epochs);
    cli_check(mn_graph_set_meta(&g, "epochs", buf));
    if (cli_flag(&a, "recipe")) cli_check(mn_graph_set_meta(&g, "train_recipe", cli_str(&a, "recipe", "")));
    if (log.n && have_val) {
        snprintf(buf, sizeof buf, "%.6f", log.e[log.n - 1].val_error);
        cli_check(mn_graph_set_meta(&g, "val_error", buf));
    }
    cli_check(mn_model_save(&g, out));
    /* The model is safely written: its checkpoint would only resume a
     * finished run. */
    if ((g_ck.every || resumed) && mn_dist_root()) remove(ckpath);
    mn_checkpoint_free(&ck);
    if (cli_flag(&a, "json")) {
        printf("{\"arch\":%s,\"output\":%s,\"params\":%lld,\"seconds\":%.4f,\"epochs\":",
               cli_jq(mn_graph_get_meta(&g, "arch")), cli_jq(out), (long long)g.nw, secs);
        cli_print_epochs_json(stdout, &log);
        printf(",\"val_error\":%.6g,\"train_split\":%s,\"train_n\":%d,\"val_split\":%s,\"val_n\":%d,"
               "\"ranks\":%d,\"comm_seconds\":%.4f",
               log.n && have_val ? log.e[log.n - 1].val_error : -1.0, cli_jq(cli_str(&a, "split", "train")), tr.n,
               cli_jq(have_val ? vsplit : "none"), have_val ? va.n : 0, mn_dist_world_size(), mn_dist_comm_seconds());
        if (nwidths) print_widths(&g, widths, nwidths, have_val ? &va : NULL);
        printf("}\n");
    }
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    if (have_val) mn_dataset_free(&va);
    return 0;
}
