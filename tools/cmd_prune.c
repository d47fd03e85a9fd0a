/* minnow prune: a thin front end over prune.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/arch.h"
#include "minnow/io.h"
#include "minnow/prune.h"
#include "minnow/sparse.h"
#include "store/store.h"

static const char *HELP =
    "usage: minnow prune [IN.mnw] --method M -o OUT.mnw [options]\n"
    "Prunes a model and saves it sparse (CSR) or, for neuron/filter, smaller.\n"
    "Prints per-layer sparsity and val error before/after.\n"
    "  --method M        magnitude | neuron | filter | snip | obd | lottery | random (the control:\n"
    "                    of IN.mnw with --steps/--finetune, or of --arch at init with --epochs)\n"
    "                    | blocks (layer pruning: whole residual blocks, those whose bypass\n"
    "                    raises the training loss least; --sparsity: the fraction of blocks)\n"
    "  --sparsity S      fraction REMOVED, in [0, 1): one number for every layer, or per layer\n"
    "                    'fc1=0.92,fc2=0.91,fc3=0.74' (others untouched), or '0.5,fc1=0.9';\n"
    "                    neuron/filter: fraction of units/filters removed per layer\n"
    "  --threshold T     magnitude: remove every weight with |w| < T (the sparsity follows)\n"
    "  --scope S         layer | global: one threshold across layers (default layer; snip global)\n"
    "  --steps N         iterative: prune in N steps, each removing the same share of what is\n"
    "                    left (default 1)\n"
    "  --finetune E      fine-tune epochs after each step, masks fixed (default 0)\n"
    "  --schedule S      oneshot (default) | gradual: Zhu & Gupta's cubic schedule during\n"
    "                    --epochs of training (magnitude)\n"
    "  --dt N            gradual: optimizer steps between mask updates (default 100)\n"
    "  --s-init X        gradual: initial sparsity (default 0)\n"
    "  --begin X --end X gradual: pruning window as fractions of training (default 0, 0.75)\n"
    "  --criterion C     neuron/filter: l1 (default) | l2 | activity (fraction of train samples\n"
    "                    where the unit's post-activation is non-zero) | bn (|gamma| of the\n"
    "                    batch norm after it: network slimming; train with --bn-l1)\n"
    "  --arch A          snip, lottery: the architecture, randomly initialised (--seed)\n"
    "  --samples N       obd: samples for the Hessian diagonal (default 500);\n"
    "                    snip: mini-batches of 100 for the sensitivity (default 10);\n"
    "                    blocks: training images the blocks are scored on (default 2000)\n"
    "  --rounds R        lottery: prune/rewind/retrain rounds (default 1)\n"
    "  --rewind-iter K   lottery: rewind to the weights after K steps (default 0: init)\n"
    "  --control K       scratch | random, beside magnitude, obd, neuron, filter, lottery:\n"
    "                    scratch trains the pruned structure (mask, or smaller layers) from a\n"
    "                    fresh init for the model's training epochs + the fine-tuning (Liu\n"
    "                    et al. 2019; lottery: the ticket's mask re-initialised); random\n"
    "                    prunes at random to the same per-layer sparsity (or unit counts)\n"
    "                    and fine-tunes as long (lottery: a random mask, rewound, trained)\n"
    "  --scratch-epochs E  control scratch: epochs (default: the model's 'epochs' + fine-tune)\n"
    "  --control-all     lottery: the control after every round (the curves of their Figures 3-4)\n"
    "  --shuffle         snip: shuffle the mask within each layer before training (the control\n"
    "                    of Frankle et al. 2021: same per-layer sparsity, random positions)\n"
    "  --holdout N       lottery: hold out the last N training samples; every training runs\n"
    "                    on the rest and keeps its epoch of lowest held-out loss (early\n"
    "                    stopping, as Frankle & Carbin report); default 0: the last epoch\n"
    "  --epochs E        gradual, snip, lottery: training epochs (default 15)\n"
    "  --data DIR|NAME   data directory or data set name (default mnist; minnow data list),\n"
    "                    CSV label column: --label NAME|INDEX (default: the column headed label)\n"
    "  --split NAME      training split (default train)\n"
    "  --val NAME        validation split (default val)\n"
    "  -o FILE           output model, written atomically\n"
    "  --json            one JSON object on stdout\n"
    "Training options (fine-tune and (re)training):\n";

/* s as a JSON string (paths and names from files may hold anything). */
enum { M_MAG, M_NEURON, M_FILTER, M_SNIP, M_OBD, M_LOTTERY, M_RANDOM, M_BLOCKS };
static const char *METHODS[] = {"magnitude", "neuron", "filter", "snip", "obd", "lottery", "random", "blocks", NULL};

/* A layer as it was before pruning, for the report. */
typedef struct { char name[2 * MN_NAME_MAX]; int rows, cols; int64_t n, nz; } layer_snap;

#define MAX_LAYERS 256
#define MAX_STAGES 256
static layer_snap before[MAX_LAYERS];
static int nbefore, nodes_before, blocks_before;
static int64_t macs_before;
static mn_prune_stage stages[MAX_STAGES];
static int nstages;
static mn_lottery_round rounds[MAX_STAGES];
static int nrounds;
static int json;
static mn_control_result ctl; /* --control of magnitude, obd, neuron, filter */
static int lt_random;         /* lottery --control random */
static const char *const CONTROLS[] = {"none", "scratch", "random"};

static void on_stage(void *ud, const mn_prune_stage *s) {
    (void)ud;
    if (nstages < MAX_STAGES) stages[nstages++] = *s;
    fprintf(stderr, "prune step %d/%d: sparsity %.2f%%", s->step, s->steps, 100 * s->sparsity);
    if (s->val_error >= 0) fprintf(stderr, ", val error %.2f%%", 100 * s->val_error);
    if (s->val_error_ft >= 0) fprintf(stderr, ", after fine-tune %.2f%%", 100 * s->val_error_ft);
    fputc('\n', stderr);
}

static void on_round(void *ud, const mn_lottery_round *r) {
    (void)ud;
    if (nrounds < MAX_STAGES) rounds[nrounds++] = *r;
    fprintf(stderr, "lottery round %d/%d: %.2f%% of weights left, val error %.2f%%", r->round, r->rounds,
            100 * r->density, 100 * r->val_error);
    if (r->holdout_error >= 0)
        fprintf(stderr, " (early-stopped at epoch %d, held-out error %.2f%%)", r->epoch, 100 * r->holdout_error);
    if (r->control_error >= 0) fprintf(stderr, "; random re-init %.2f%%", 100 * r->control_error);
    fputc('\n', stderr);
}

static void snapshot(const mn_graph *g) {
    nbefore = 0;
    nodes_before = g->nnodes;
    blocks_before = mn_res_adds(g);
    macs_before = mn_graph_macs(g);
    for (int p = 0; p < g->nparams && nbefore < MAX_LAYERS; p++) {
        if (!mn_prune_selectable(g, p, MN_SEL_WEIGHTS)) continue;
        layer_snap *l = &before[nbefore++];
        snprintf(l->name, sizeof l->name, "%s", g->params[p].name);
        mn_param_matrix(g, p, &l->rows, &l->cols);
        l->n = g->params[p].n;
        l->nz = mn_param_nonzeros(g, p);
    }
}

static float val_err(mn_graph *g, const mn_dataset *va) {
    if (!va) return -1;
    mn_eval_result r;
    cli_check(mn_eval(g, va, 250, &r));
    return r.error;
}

static void report(const mn_graph *g, const char *method, const char *in, const char *out,
                   float e0, float e1, const mn_lottery_result *lt) {
    int64_t n0 = 0, z0 = 0, n1 = 0, z1 = 0;
    long fb = cli_file_size(out), fb_in = in ? cli_file_size(in) : -1;
    if (json) {
        printf("{\"method\":\"%s\",\"input\":", method);
        cli_json_str(in ? in : "");
        printf(",\"output\":");
        cli_json_str(out);
        printf(",\"layers\":[");
    }
    else printf("%-14s %-12s %-12s %10s %10s %9s %8s\n", "layer", "shape before", "shape after", "nz before",
                "nz after", "sparsity", "storage");
    for (int i = 0; i < nbefore; i++) {
        const layer_snap *l = &before[i];
        int p = mn_graph_find_param(g, l->name), rows = 0, cols = 0;
        int64_t n = 0, nz = 0;
        const char *kind = "-";
        if (p >= 0) {
            mn_param_matrix(g, p, &rows, &cols);
            n = g->params[p].n;
            nz = mn_param_nonzeros(g, p);
            kind = g->params[p].store ? mn_storage_name(g->params[p].store->kind) : "f32";
        }
        n0 += l->n; z0 += l->nz; n1 += n; z1 += nz;
        double sp = l->n ? 1 - (double)nz / l->n : 0; /* against the original size */
        if (json)
        {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_str(l->name);
            printf(",\"rows_before\":%d,\"cols_before\":%d,\"rows\":%d,\"cols\":%d,"
                   "\"params_before\":%lld,\"params\":%lld,\"nonzero_before\":%lld,\"nonzero\":%lld,"
                   "\"sparsity\":%.6f,\"storage\":\"%s\"}",
                   l->rows, l->cols, rows, cols, (long long)l->n, (long long)n, (long long)l->nz, (long long)nz, sp, kind);
        }
        else {
            char s0[32], s1[32];
            snprintf(s0, sizeof s0, "%dx%d", l->rows, l->cols);
            snprintf(s1, sizeof s1, "%dx%d", rows, cols);
            printf("%-14s %-12s %-12s %10lld %10lld %8.2f%% %8s\n", l->name, s0, s1, (long long)l->nz,
                   (long long)nz, 100 * sp, kind);
        }
    }
    double d1 = n0 ? (double)z1 / n0 : 1;
    if (json) {
        printf("],\"weights_before\":%lld,\"weights\":%lld,\"nonzero_before\":%lld,\"nonzero\":%lld,"
               "\"density\":%.6f,\"val_error_before\":%.6g,\"val_error\":%.6g,\"input_bytes\":%ld,\"file_bytes\":%ld,"
               "\"nodes_before\":%d,\"nodes\":%d,\"blocks_before\":%d,\"blocks\":%d,\"macs_before\":%lld,\"macs\":%lld",
               (long long)n0, (long long)n1, (long long)z0, (long long)z1, d1, e0, e1, fb_in, fb, nodes_before, g->nnodes,
               blocks_before, mn_res_adds(g), (long long)macs_before, (long long)mn_graph_macs(g));
        printf(",\"stages\":[");
        for (int i = 0; i < nstages; i++)
            printf("%s{\"step\":%d,\"sparsity\":%.6f,\"val_error\":%.6g,\"val_error_finetuned\":%.6g}", i ? "," : "",
                   stages[i].step, stages[i].sparsity, stages[i].val_error, stages[i].val_error_ft);
        printf("]");
        if (ctl.kind)
            printf(",\"control\":{\"kind\":\"%s\",\"val_error\":%.6g,\"epochs\":%d,\"density\":%.6f}",
                   CONTROLS[ctl.kind], ctl.val_error, ctl.epochs, ctl.density);
        if (lt) {
            printf(",\"lottery\":{\"dense_val_error\":%.6g,\"ticket_val_error\":%.6g,\"control_val_error\":%.6g,"
                   "\"density\":%.6f,\"dense_holdout_error\":%.6g,\"ticket_holdout_error\":%.6g,"
                   "\"control_holdout_error\":%.6g,\"dense_epoch\":%d,\"ticket_epoch\":%d,\"control_epoch\":%d,"
                   "\"rounds\":[",
                   lt->dense_error, lt->ticket_error, lt->control_error, lt->density, lt->dense_holdout,
                   lt->ticket_holdout, lt->control_holdout, lt->dense_epoch, lt->ticket_epoch, lt->control_epoch);
            for (int i = 0; i < nrounds; i++)
                printf("%s{\"round\":%d,\"density\":%.6f,\"val_error\":%.6g,\"epoch\":%d,\"holdout_error\":%.6g,"
                       "\"control_val_error\":%.6g,\"control_epoch\":%d,\"control_holdout_error\":%.6g}",
                       i ? "," : "", rounds[i].round, rounds[i].density, rounds[i].val_error, rounds[i].epoch,
                       rounds[i].holdout_error, rounds[i].control_error, rounds[i].control_epoch,
                       rounds[i].control_holdout);
            printf("]}");
        }
        printf("}\n");
        return;
    }
    printf("weights: %lld -> %lld nonzero of %lld originally (%.2f%% left)\n", (long long)z0, (long long)z1,
           (long long)n0, 100 * d1);
    if (g->nnodes != nodes_before)
        printf("nodes: %d -> %d, residual blocks %d -> %d, MACs %lld -> %lld\n", nodes_before, g->nnodes, blocks_before,
               mn_res_adds(g), (long long)macs_before, (long long)mn_graph_macs(g));
    if (e0 >= 0) printf("val error: %.2f%% before, %.2f%% after\n", 100 * e0, 100 * e1);
    if (ctl.kind) {
        printf("control: %s, %d epochs", ctl.kind == MN_CONTROL_SCRATCH ? "the pruned structure from a fresh init"
                                                                         : "random pruning at the same per-layer sparsity",
               ctl.epochs);
        if (ctl.val_error >= 0) printf(": val error %.2f%%", 100 * ctl.val_error);
        putchar('\n');
    }
    if (lt) {
        printf("lottery: dense %.2f%%, ticket %.2f%%", 100 * lt->dense_error, 100 * lt->ticket_error);
        if (lt->control_error >= 0) printf(", %s control %.2f%%", lt_random ? "random mask" : "random re-init", 100 * lt->control_error);
        printf(" (%.2f%% of weights left)\n", 100 * lt->density);
        if (lt->ticket_holdout >= 0) {
            printf("lottery held-out error at the kept epoch: dense %.2f%% (epoch %d), ticket %.2f%% (epoch %d)",
                   100 * lt->dense_holdout, lt->dense_epoch, 100 * lt->ticket_holdout, lt->ticket_epoch);
            if (lt->control_holdout >= 0)
                printf(", control %.2f%% (epoch %d)", 100 * lt->control_holdout, lt->control_epoch);
            putchar('\n');
        }
    }
    if (fb_in > 0) printf("file: %ld -> %ld bytes (%.2fx smaller)\n", fb_in, fb, fb > 0 ? (double)fb_in / fb : 0.0);
    else printf("file: %ld bytes\n", fb);
}

/* The training options must mean something for the method. */
/* at_init: the method starts from --arch (snip, lottery, random --arch). */
static void check_opts(const cli_args *a, int m, int gradual, int at_init) {
    int trains = gradual || at_init;
    if (cli_flag(a, "epochs") && !trains)
        cli_die("--epochs applies to --schedule gradual, snip, lottery and random --arch; use --finetune");
    if (cli_flag(a, "finetune") && (trains)) cli_die("--finetune does not apply here; use --epochs");
    if (cli_flag(a, "steps") && (m != M_MAG && m != M_OBD && m != M_BLOCKS && !(m == M_RANDOM && !at_init)))
        cli_die("--steps applies to magnitude, obd, blocks and random of IN.mnw");
    if (cli_flag(a, "shuffle") && m != M_SNIP) cli_die("--shuffle applies to snip");
    if (cli_flag(a, "steps") && gradual) cli_die("--steps and --schedule gradual exclude each other");
    if (cli_flag(a, "criterion") && m != M_NEURON && m != M_FILTER) cli_die("--criterion applies to neuron and filter");
    if ((cli_flag(a, "rounds") || cli_flag(a, "rewind-iter") || cli_flag(a, "control-all") || cli_flag(a, "holdout")) &&
        m != M_LOTTERY)
        cli_die("--rounds, --rewind-iter, --control-all and --holdout apply to lottery");
    if (m == M_BLOCKS && !strcmp(cli_str(a, "control", "none"), "random"))
        cli_die("--control random applies to weights and units; blocks: --control scratch");
    if (cli_flag(a, "samples") && m != M_OBD && m != M_SNIP && m != M_BLOCKS) cli_die("--samples applies to obd, snip and blocks");
    if (cli_flag(a, "control") && (m == M_SNIP || m == M_RANDOM))
        cli_die("--control applies to magnitude, obd, neuron, filter and lottery (snip: --shuffle; random is a control)");
    const char *k = cli_str(a, "control", "none");
    if (strcmp(k, "none") && strcmp(k, "scratch") && strcmp(k, "random"))
        cli_die("--control: scratch or random, not '%s'", k);
    if (cli_flag(a, "scratch-epochs") && (strcmp(k, "scratch") || m == M_LOTTERY))
        cli_die("--scratch-epochs applies to --control scratch of magnitude, obd, neuron and filter");
    cli_int(a, "scratch-epochs", 1, 1, 100000);
    if (m != M_RANDOM && cli_flag(a, "arch") != (m == M_SNIP || m == M_LOTTERY))
        cli_die(m == M_SNIP || m == M_LOTTERY ? "%s starts from --arch (random init), not a trained model"
                                              : "--arch applies to snip and lottery; %s prunes IN.mnw",
                METHODS[m]);
    if ((cli_flag(a, "dt") || cli_flag(a, "s-init") || cli_flag(a, "begin") || cli_flag(a, "end")) && !gradual)
        cli_die("--dt, --s-init, --begin and --end apply to --schedule gradual");
    if (cli_flag(a, "scope") && (m == M_NEURON || m == M_FILTER || m == M_LOTTERY || m == M_RANDOM || m == M_BLOCKS))
        cli_die("--scope applies to magnitude, snip and obd");
    /* the values (usage errors); the pass reads them again */
    cli_int(a, "steps", 1, 1, 1000);
    cli_int(a, "finetune", 0, 0, 100000);
    cli_int(a, "samples", 0, 1, 1 << 24);
    cli_int(a, "rounds", 1, 1, 100);
    cli_int(a, "rewind-iter", 0, 0, 1L << 30);
    cli_int(a, "holdout", 0, 0, 1 << 30);
    cli_int(a, "dt", 100, 1, 1 << 30);
    cli_num(a, "s-init", 0, 0, 0.999999);
    cli_num(a, "begin", 0, 0, 1);
    cli_num(a, "end", 0.75, 0, 1);
}

int cmd_prune(int argc, char **argv) {
    char help[6144];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 15);
    cli_args a;
    cli_parse(&a, argc, argv,
              "method: sparsity: threshold: scope: steps: finetune: schedule: dt: s-init: begin: end: criterion: arch: "
              "samples: rounds: rewind-iter: control: scratch-epochs: control-all shuffle holdout: data: split: val: o: json " CLI_TRAIN_OPTS,
              help);
    const char *ms = cli_str(&a, "method", NULL), *out = cli_str(&a, "o", NULL);
    if (!ms) cli_die("--method is required (magnitude, neuron, filter, snip, obd, lottery, random, blocks)");
    int m = 0;
    while (METHODS[m] && strcmp(METHODS[m], ms)) m++;
    if (!METHODS[m]) cli_die("unknown method '%s' (magnitude, neuron, filter, snip, obd, lottery, random or blocks)", ms);
    if (!out) cli_die("-o OUT.mnw is required (see --help)");
    const char *sched = cli_str(&a, "schedule", "oneshot");
    if (strcmp(sched, "oneshot") && strcmp(sched, "gradual")) cli_die("unknown schedule '%s' (oneshot or gradual)", sched);
    int gradual = !strcmp(sched, "gradual");
    if (gradual && m != M_MAG) cli_die("--schedule gradual applies to magnitude pruning");
    int from_arch = m == M_SNIP || m == M_LOTTERY || (m == M_RANDOM && cli_flag(&a, "arch"));
    check_opts(&a, m, gradual, from_arch);
    const char *cs = cli_str(&a, "criterion", "l1");
    int crit = !strcmp(cs, "l1") ? MN_CRIT_L1 : !strcmp(cs, "l2") ? MN_CRIT_L2 : !strcmp(cs, "activity") ? MN_CRIT_ACTIVITY
              : !strcmp(cs, "bn") ? MN_CRIT_BN : -1;
    if (crit < 0) cli_die("unknown criterion '%s' (l1, l2, activity or bn)", cs);
    const char *in = NULL;
    if (!from_arch) in = cli_pos(&a, 0, "input model IN.mnw");
    else if (a.npos) cli_die("%s starts from --arch, not from '%s'", ms, a.pos[0]);
    if (a.npos > 1) cli_die("unexpected argument '%s'", a.pos[1]);
    const char *spec = cli_str(&a, "sparsity", m == M_LOTTERY ? "0.8" : NULL);
    if (cli_flag(&a, "threshold")) {
        if (m != M_MAG) cli_die("--threshold applies to magnitude");
        if (spec || cli_flag(&a, "scope") || gradual) cli_die("--threshold excludes --sparsity, --scope and --schedule");
        cli_num(&a, "threshold", 0, 1e-30, 1e30);
        spec = "0"; /* checked here as a layer-wise target; the pass measures the fractions */
    }
    if (!spec) cli_die("--sparsity is required (a fraction in [0, 1), or per layer 'fc1=0.9,fc2=0.8')");
    const char *scope_s = cli_str(&a, "scope", m == M_SNIP ? "global" : "layer");
    if (strcmp(scope_s, "layer") && strcmp(scope_s, "global")) cli_die("unknown scope '%s' (layer or global)", scope_s);
    mn_prune_scope scope = strcmp(scope_s, "global") ? MN_SCOPE_LAYER : MN_SCOPE_GLOBAL;
    json = cli_flag(&a, "json");
    cli_threads(&a);
    mn_train_cfg tc;
    cli_train_cfg(&a, &tc, 15);
    static cli_log log;
    tc.ud = &log;

    /* Options are checked before the (slow) data and model loads. */
    float gl = 0;
    int one_number = scope == MN_SCOPE_GLOBAL || m == M_LOTTERY || m == M_BLOCKS;
    if (one_number) {
        char *end;
        gl = strtof(spec, &end);
        if (!*spec || *end) cli_die("%s takes one sparsity for all layers, not '%s'",
                                    m == M_LOTTERY ? "lottery" : m == M_BLOCKS ? "blocks" : "--scope global", spec);
        if (!(gl >= 0 && gl < 1)) cli_die("sparsity %s is outside [0, 1)", spec);
    }
    const char *dir = cli_data_dir(&a), *vsplit = cli_str(&a, "val", "val");
    int have_val = strcmp(vsplit, "none") != 0;
    if (m == M_LOTTERY && !have_val) cli_die("lottery needs a validation split");
    mn_prune_sel sel = m == M_NEURON ? MN_SEL_NEURONS : m == M_FILTER ? MN_SEL_FILTERS : MN_SEL_WEIGHTS;
    mn_graph g;
    float *t = NULL;
    if (in) {
        cli_load_model(in, &g);
        cli_refuse_stored(&g, "prune", 1u << MN_ST_F32 | 1u << MN_ST_CSR, "prune the float model, then quantize");
        if (!(t = malloc(sizeof(float) * (size_t)(g.nparams + 1)))) cli_die("out of memory");
        if (!one_number) cli_check(mn_prune_parse_targets(&g, spec, sel, t));
    }
    mn_dataset tr, va;
    cli_load_data(dir, cli_str(&a, "split", "train"), &tr);
    if (have_val) cli_load_data(dir, vsplit, &va);
    const mn_dataset *vp = have_val ? &va : NULL;
    if (!in) {
        cli_check(mn_arch_build(&g, cli_str(&a, "arch", ""), tr.c, tr.h, tr.w, tr.nclass < 10 ? 10 : tr.nclass));
        mn_rng rng;
        mn_rng_seed(&rng, tc.seed);
        mn_graph_init_params(&g, &rng);
        /* Lottery with a hold-out: the input statistics come from the
         * samples it trains on only. */
        int hold = m == M_LOTTERY ? (int)cli_int(&a, "holdout", 0, 0, 1 << 30) : 0;
        mn_dataset fit = tr;
        if (hold > 0 && hold < tr.n) fit.n = tr.n - hold;
        cli_check(mn_set_input_norm(&g, &fit));
        if (!(t = malloc(sizeof(float) * (size_t)(g.nparams + 1)))) cli_die("out of memory");
        if (!one_number) cli_check(mn_prune_parse_targets(&g, spec, sel, t));
    }
    cli_check(mn_check_data(&g, &tr));
    if (one_number) {
        int any = 0;
        for (int p = 0; p < g.nparams; p++) any |= (t[p] = mn_prune_selectable(&g, p, sel) ? 0 : -1) >= 0;
        if (!any) cli_die("the model has no layer that can be pruned this way");
    }
    snapshot(&g);
    float e0 = val_err(&g, vp), e1;
    mn_lottery_result lt;
    int is_lottery = 0;

    /* The registry's pass for the method, as a recipe's, with the options
     * given here; snip's CLI defaults (one global threshold, then training
     * from the initialisation) differ from a recipe's. */
    static const char *const snip_defaults[] = {"scope", "global", "epochs", "15", NULL};
    mn_pass pass;
    static const char *const at_init_defaults[] = {"epochs", "15", NULL};
    cli_pass(&a, "prune", ms, m == M_SNIP ? snip_defaults : m == M_RANDOM && !in ? at_init_defaults : NULL, &pass);
    mn_pass_env env;
    cli_pass_env(&a, &env, &log);
    env.train = &tr;
    env.val = vp;
    env.on_stage = on_stage;
    env.on_round = on_round;
    env.lottery = &lt;
    env.control = &ctl;
    lt_random = !strcmp(cli_str(&a, "control", "none"), "random");
    cli_check(mn_pass_run(&pass, &g, &env));
    mn_pass_free(&pass);
    is_lottery = m == M_LOTTERY;
    e1 = val_err(&g, vp);
    /* The saved model is stored sparse where that is smaller and faster. */
    cli_check(mn_graph_sparsify(&g, MN_SPARSE_DEFAULT_DENSITY));
    cli_check(mn_graph_set_meta(&g, "pruned", ms));
    if (e1 >= 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.6f", e1);
        cli_check(mn_graph_set_meta(&g, "val_error", buf));
    }
    if (in) cli_check_kept("prune", in, &g, 0);
    cli_check(mn_model_save(&g, out));
    report(&g, ms, in, out, e0, e1, is_lottery ? &lt : NULL);
    free(t);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    if (have_val) mn_dataset_free(&va);
    return 0;
}
