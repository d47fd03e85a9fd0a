/* minnow distill */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "minnow/arch.h"
#include "minnow/distill.h"
#include "minnow/io.h"

static const char *HELP =
    "usage: minnow distill --teacher T.mnw [--teacher T2.mnw ...] --arch STUDENT|--born-again -o S.mnw [options]\n"
    "       minnow distill --mutual N --arch STUDENT -o S.mnw [options]\n"
    "Trains a fresh STUDENT on DIR/train from the teachers' softened outputs\n"
    "(knowledge distillation, Hinton et al. 2015), reporting DIR/val each epoch:\n"
    "  L = alpha * T^2 * CE(softmax(z_t/T), softmax(z_s/T)) + (1 - alpha) * CE(y, softmax(z_s))\n"
    "Several teachers are an ensemble: their softened probabilities are averaged.\n"
    "  --teacher FILE    teacher model (repeat for an ensemble, up to 16)\n"
    "  --arch A          student: a built-in (lenet300 lenet5 mlp1200 mlp800 conv2 conv4 conv6) or a spec\n"
    "  --born-again      self-distillation (Furlanello et al. 2018): the student is the teacher's\n"
    "                    own architecture, freshly initialised (instead of --arch)\n"
    "  --mutual N        online distillation, deep mutual learning (Zhang et al. 2018): N students\n"
    "                    of --arch (seeds S, S+1, ...) train together, each towards the others'\n"
    "                    softened predictions on the same batch; no teacher.  -o gets the first,\n"
    "                    OUT-peer2.mnw ... the others; T defaults to 1 and alpha to 0.5 here\n"
    "  --temperature T   softmax temperature, > 0 (default 4)\n"
    "  --alpha A         weight of the soft term in [0, 1] (default 0.9; 0 = hard labels only)\n"
    "  --hint TN:SN      FitNets hint: L2 between teacher node TN's output and student node SN's\n"
    "                    (equal sizes: directly; otherwise through a learned linear regressor)\n"
    "  --hint-weight W   weight of the hint's mean squared error (default 1)\n"
    "  --exclude-class K leave class K out of the transfer set (Hinton et al.'s 'no 3')\n"
    "  --fix-bias        with --exclude-class: then shift class K's output bias by the amount\n"
    "                    (0..10 in steps of 0.25) with the fewest errors on the whole training\n"
    "                    split, which has class K (never on val); reports val before and after\n"
    "  --data DIR|NAME   data directory or data set name (default mnist; minnow data list),\n"
    "                    CSV label column: --label NAME|INDEX (default: the column headed label)\n"
    "  --split NAME      training split (default train)\n"
    "  --val NAME        validation split, 'none' to skip (default val)\n"
    "  -o FILE           output model (.mnw), written atomically at the end\n"
    "  --json            print a JSON report on stdout\n";

/* --exclude-class K --fix-bias: the val error overall and on class K, the
 * bias shift chosen on the whole training split, the same after it. */
typedef struct { int k; float shift, fit0, fit1, val0, val1, valk0, valk1; int nk; } bias_fix;

static void fix_bias(mn_graph *g, const char *dir, const char *split, const char *vsplit, int have_val,
                     const mn_dataset *va, bias_fix *f) {
    mn_dataset full, vk;
    mn_eval_result r;
    f->val0 = f->val1 = f->valk0 = f->valk1 = -1;
    if (have_val) {
        cli_load_data(dir, vsplit, &vk);
        cli_check(mn_dataset_filter_class(&vk, f->k, 1));
        f->nk = vk.n;
        cli_check(mn_eval(g, va, 250, &r));
        f->val0 = r.error;
        cli_check(mn_eval(g, &vk, 250, &r));
        f->valk0 = r.error;
    }
    cli_load_data(dir, split, &full);
    cli_check(mn_distill_fix_bias(g, &full, f->k, 10, 0.25f, &f->shift, &f->fit0, &f->fit1));
    mn_dataset_free(&full);
    if (have_val) {
        cli_check(mn_eval(g, va, 250, &r));
        f->val1 = r.error;
        cli_check(mn_eval(g, &vk, 250, &r));
        f->valk1 = r.error;
        mn_dataset_free(&vk);
    }
    fprintf(stderr, "class %d bias +%.2f (train error %.2f%% -> %.2f%%)", f->k, (double)f->shift, 100 * f->fit0,
            100 * f->fit1);
    if (have_val)
        fprintf(stderr, "; val error %.2f%% -> %.2f%%, on class %d %.2f%% -> %.2f%% of %d", 100 * f->val0,
                100 * f->val1, f->k, 100 * f->valk0, 100 * f->valk1, f->nk);
    fputc('\n', stderr);
}

int cmd_distill(int argc, char **argv) {
    char help[4096];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 15);
    cli_args a;
    cli_parse(&a, argc, argv,
              "@0 teacher: arch: temperature: alpha: hint: hint-weight: exclude-class: fix-bias mutual: born-again data: split: val: o: json "
              CLI_TRAIN_OPTS, help);
    if (cli_flag(&a, "mutual")) return cmd_distill_mutual(&a, (int)cli_int(&a, "mutual", 2, 2, MN_DISTILL_MAX_TEACHERS));
    const char *tpath[MN_DISTILL_MAX_TEACHERS + 1];
    int nt = cli_all(&a, "teacher", tpath, MN_DISTILL_MAX_TEACHERS + 1);
    const char *arch = cli_str(&a, "arch", NULL), *out = cli_str(&a, "o", NULL);
    if (nt == 0) cli_die("--teacher FILE is required (see --help; --mutual N trains peers without one)");
    if (nt > MN_DISTILL_MAX_TEACHERS) cli_die("at most %d teachers", MN_DISTILL_MAX_TEACHERS);
    int born = cli_flag(&a, "born-again");
    if (born && arch) cli_die("--born-again takes the student's architecture from the teacher: no --arch");
    if (!arch && !born) cli_die("--arch is required (see --help; or --born-again)");
    if (!out) cli_die("-o FILE is required (see --help)");
    mn_distill_cfg dc;
    mn_distill_default(&dc);
    dc.temperature = (float)cli_num(&a, "temperature", dc.temperature, 1e-3, 1e4);
    dc.alpha = (float)cli_num(&a, "alpha", dc.alpha, 0, 1);
    dc.hint_weight = (float)cli_num(&a, "hint-weight", dc.hint_weight, 0, 1e6);
    char hint[2 * MN_NAME_MAX + 2] = "";
    const char *h = cli_str(&a, "hint", NULL);
    if (h) {
        const char *colon = strchr(h, ':');
        if (!colon || colon == h || !colon[1] || strlen(h) >= sizeof hint)
            cli_die("--hint must be TEACHER_NODE:STUDENT_NODE, got '%s'", h);
        snprintf(hint, sizeof hint, "%s", h);
        hint[colon - h] = 0;
        dc.hint_teacher = hint;
        dc.hint_student = hint + (colon - h) + 1;
    } else if (cli_flag(&a, "hint-weight")) {
        cli_die("--hint-weight needs --hint TEACHER_NODE:STUDENT_NODE");
    }
    cli_threads(&a);
    mn_train_cfg cfg;
    cli_train_cfg(&a, &cfg, 15);
    cli_check_train_cfg(&cfg);
    dc.seed = cfg.seed;
    cli_check(mn_distill_check(&dc));

    const char *dir = cli_data_dir(&a), *vsplit = cli_str(&a, "val", "val");
    mn_dataset tr, va;
    cli_load_data(dir, cli_str(&a, "split", "train"), &tr);
    int have_val = strcmp(vsplit, "none") != 0;
    if (have_val) cli_load_data(dir, vsplit, &va);
    int xk = (int)cli_int(&a, "exclude-class", -1, 0, 1 << 20);
    if (cli_flag(&a, "fix-bias") && xk < 0) cli_die("--fix-bias needs --exclude-class K");
    if (xk >= 0) {
        cli_check(mn_dataset_filter_class(&tr, xk, 0));
        if (!cli_flag(&a, "json")) printf("transfer set: %d samples without class %d\n", tr.n, xk);
    }

    static mn_graph teachers[MN_DISTILL_MAX_TEACHERS];
    mn_graph *tp[MN_DISTILL_MAX_TEACHERS];
    float terr[MN_DISTILL_MAX_TEACHERS];
    for (int i = 0; i < nt; i++) {
        cli_load_model(tpath[i], &teachers[i]);
        tp[i] = &teachers[i];
        cli_check(mn_check_data(tp[i], &tr));
        terr[i] = -1;
        if (have_val) {
            mn_eval_result r;
            cli_check(mn_eval(tp[i], &va, 250, &r));
            terr[i] = r.error;
        }
    }
    float ens_err = -1;
    if (have_val && nt > 1) {
        mn_eval_result r;
        cli_check(mn_teachers_eval(tp, nt, &va, &r));
        ens_err = r.error;
    }
    /* The student predicts what the teachers predict: same class count. */
    mn_graph g;
    int nclass = (int)mn_shape_numel(mn_graph_output_shape(tp[0]));
    if (born) { /* born-again (Furlanello et al. 2018): the teacher's own architecture, fresh weights */
        for (int p = 0; p < tp[0]->nparams; p++)
            if (tp[0]->params[p].store || tp[0]->params[p].mask)
                cli_die("--born-again: the teacher's '%s' is pruned or compressed; give it the dense float teacher",
                        tp[0]->params[p].name);
        cli_check(mn_graph_clone(tp[0], &g));
        g.nmeta = 0;
        arch = "born-again";
    } else {
        cli_check(mn_arch_build(&g, arch, tr.c, tr.h, tr.w, nclass));
    }
    mn_rng rng;
    mn_rng_seed(&rng, cfg.seed);
    mn_graph_init_params(&g, &rng);
    cli_check(mn_set_input_norm(&g, &tr));
    mn_distill *d; /* teachers and hint fit the student: fails before any report */
    cli_check(mn_distill_new(&g, tp, nt, &dc, &d));
    mn_distill_free(d);
    int json = cli_flag(&a, "json");
    if (have_val) {
        for (int i = 0; i < nt; i++) fprintf(stderr, "teacher %s: val error %.2f%%\n", tpath[i], 100 * terr[i]);
        if (nt > 1) fprintf(stderr, "teacher ensemble: val error %.2f%%\n", 100 * ens_err);
    }
    /* The registry's distill pass (a recipe's, with these teachers). */
    mn_pass pass;
    cli_pass(&a, "distill", NULL, NULL, &pass);
    static cli_log log;
    mn_distill_parts parts = {0, 0, 0, 0};
    mn_pass_env env;
    cli_pass_env(&a, &env, &log);
    env.train = &tr;
    env.val = have_val ? &va : NULL;
    env.teachers = tp;
    env.nteachers = nt;
    env.distill_parts = &parts;
    double t0 = mn_now();
    cli_check(mn_pass_run(&pass, &g, &env));
    double secs = mn_now() - t0;
    mn_pass_free(&pass);
    const cli_log *elog = &log;
    bias_fix bf = {xk, 0, -1, -1, -1, -1, -1, -1, 0};
    if (cli_flag(&a, "fix-bias"))
        fix_bias(&g, dir, cli_str(&a, "split", "train"), vsplit, have_val, have_val ? &va : NULL, &bf);

    char buf[128];
    snprintf(buf, sizeof buf, "%d", cfg.epochs);
    cli_check(mn_graph_set_meta(&g, "epochs", buf));
    snprintf(buf, sizeof buf, "T=%g alpha=%g teachers=%d%s%s", (double)dc.temperature, (double)dc.alpha, nt,
             h ? " hint=" : "", h ? h : "");
    buf[sizeof buf - 1] = 0;
    cli_check(mn_graph_set_meta(&g, "distill", buf));
    float verr = elog->n && have_val ? elog->e[elog->n - 1].val_error : -1;
    if (cli_flag(&a, "fix-bias")) verr = bf.val1;
    if (verr >= 0) {
        snprintf(buf, sizeof buf, "%.6f", verr);
        cli_check(mn_graph_set_meta(&g, "val_error", buf));
    }
    cli_check(mn_model_save(&g, out));
    if (json) {
        printf("{\"arch\":%s,\"output\":%s,\"temperature\":%g,\"alpha\":%g,\"teachers\":[",
               cli_jq(mn_graph_get_meta(&g, "arch") ? mn_graph_get_meta(&g, "arch") : arch), cli_jq(out),
               (double)dc.temperature, (double)dc.alpha);
        for (int i = 0; i < nt; i++) printf("%s{\"file\":%s,\"val_error\":%.6g}", i ? "," : "", cli_jq(tpath[i]), terr[i]);
        printf("],\"ensemble_val_error\":%.6g,\"hint\":", ens_err);
        if (h) printf("{\"teacher\":%s,\"student\":%s,\"weight\":%g}", cli_jq(dc.hint_teacher), cli_jq(dc.hint_student), (double)dc.hint_weight);
        else printf("null");
        printf(",\"last_epoch_loss\":{\"soft\":%.6g,\"hard\":%.6g,\"hint\":%.6g},\"params\":%lld,\"seconds\":%.4f,\"epochs\":",
               parts.soft, parts.hard, parts.hint, (long long)g.nw, secs);
        cli_print_epochs_json(stdout, elog);
        printf(",\"val_error\":%.6g,\"val_n\":%d", verr, have_val ? va.n : 0);
        if (xk >= 0) printf(",\"excluded_class\":%d,\"transfer_n\":%d", xk, tr.n);
        if (cli_flag(&a, "fix-bias"))
            printf(",\"bias_fix\":{\"shift\":%g,\"train_error_before\":%.6g,\"train_error_after\":%.6g,"
                   "\"val_error_before\":%.6g,\"val_error_after\":%.6g,\"class_val_n\":%d,"
                   "\"class_val_error_before\":%.6g,\"class_val_error_after\":%.6g}",
                   (double)bf.shift, bf.fit0, bf.fit1, bf.val0, bf.val1, bf.nk, bf.valk0, bf.valk1);
        printf("}\n");
    }
    for (int i = 0; i < nt; i++) mn_graph_free(&teachers[i]);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    if (have_val) mn_dataset_free(&va);
    return 0;
}
