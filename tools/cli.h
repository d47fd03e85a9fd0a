/* The CLI's shared helpers: option parsing, errors, progress, data paths.
 * Only the CLI prints and exits. */
#ifndef MINNOW_CLI_H
#define MINNOW_CLI_H

#include <stdio.h>

#include "minnow/core.h"
#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/pass.h"
#include "minnow/train.h"

#define CLI_MAX 64

typedef struct cli_args {
    int n;
    const char *key[CLI_MAX], *val[CLI_MAX];
    char keybuf[CLI_MAX][32];    /* option names live here: nothing to free */
    int npos;
    const char *pos[CLI_MAX];
} cli_args;

/* spec: space-separated option names without dashes; a trailing ':' means
 * the option takes a value ("data: split: json").  Unknown options and
 * missing values are usage errors (exit 2).  --help prints `help` and
 * exits 0. */
void cli_parse(cli_args *a, int argc, char **argv, const char *spec, const char *help);
/* Looks option `name` up in spec: 0 absent, 1 a flag, 2 takes a value. */
int cli_spec_kind(const char *spec, const char *name);
/* tools/cli_out.c.  Called by cli_parse: a spec token "@N" allows at most N
 * positional arguments; "o:" and "svg:" values are output files checked
 * with mn_output_check before any work ("o:dir": an output directory). */
void cli_spec_checks(const cli_args *a, const char *spec);
/* --json output is all or nothing: hold stdout until the verb returns. */
void cli_json_hold(int argc, char **argv);
int cli_json_release(void);
/* SIGINT/SIGTERM/SIGHUP remove atomic writes' temporary files. */
void cli_signals(void);
/* tools/cli_guard.c: refusals instead of silently wrong results.
 * --epochs 0 / --lr 0; an architecture without trainable parameters; labels
 * 0..K-1 of which fewer than half appear (a stray label); a verb that did
 * nothing, stored a compressed layer as f32, or grew a compressed layer
 * (compared with the input model re-read from in_path); layers stored in a
 * form the verb would drop (allowed: bit mask of 1 << mn_storage_kind). */
void cli_check_train_cfg(const mn_train_cfg *c);
/* Values of the trainable parameters (what info and eval call params). */
int64_t cli_trainable_params(const mn_graph *g);
void cli_check_trainable(const mn_graph *g, const char *arch);
void cli_check_labels(const mn_dataset *d, const char *what);
void cli_check_kept(const char *verb, const char *in_path, const mn_graph *out, int other_change);
void cli_refuse_stored(const mn_graph *g, const char *verb, unsigned allowed, const char *instead);
/* tools/cli_json.c: s as a JSON string literal, quoted and escaped (NULL:
 * null); valid for the next 8 calls.  cli_json_str prints it. */
const char *cli_jq(const char *s);
void cli_json_str(const char *s);
const char *cli_str(const cli_args *a, const char *key, const char *def);
int cli_flag(const cli_args *a, const char *key);
long cli_int(const cli_args *a, const char *key, long def, long lo, long hi);
double cli_num(const cli_args *a, const char *key, double def, double lo, double hi);
/* All values of a repeatable option; returns their count. */
int cli_all(const cli_args *a, const char *key, const char **out, int max);
/* The positional argument i or a usage error naming `what`. */
const char *cli_pos(const cli_args *a, int i, const char *what);

/* Starts MPI when launched by mpirun/srun (minnow/dist.h); ranks other
 * than 0 then print nothing but their own fatal errors. */
void cli_dist_start(int *argc, char ***argv);
/* One line "minnow: <msg>" on stderr and exit(1). */
_Noreturn void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* If st != MN_OK: die with the library's message. */
void cli_check(mn_status st);

/* --data DIR|NAME (default the data set named mnist; minnow/datasets.h),
 * resolved to a directory when it can be.  Also takes the verb's --label
 * (CSV label column) and --json for the loads that follow. */
const char *cli_data_dir(const cli_args *a);
/* Loads a split (mn_data_load_split: val held out of train where the data
 * has no val of its own) and, without --json, says on stdout which split
 * and how many samples. */
void cli_load_data(const char *dir, const char *split, mn_dataset *d);
/* Loads a model; a slimmable one (minnow/slim.h) is refused, naming the
 * verbs that take --width and `minnow slim`. */
void cli_load_model(const char *path, mn_graph *g);
/* Loads a model and, if it is slimmable, cuts out width w (w <= 0: the full
 * width); --width (w > 0) of a plain model is refused.  *widths, if
 * non-NULL, gets the widths' count (0: plain). */
void cli_load_model_width(const char *path, mn_graph *g, double w, int *widths);
/* A gated model's per-sample report (minnow/gate.h): one line and a table
 * by open gates, or a JSON member "what":{...} (cmd_gate.c). */
struct mn_gate_eval;
void cli_gate_report(const char *what, const struct mn_gate_eval *r, int json);
/* --width W (0 when absent). */
double cli_width(const cli_args *a);
/* Applies --threads (default 1). */
void cli_threads(const cli_args *a);

/* Training configuration from the common options (epochs batch opt lr
 * momentum wd sched seed augment). */
#define CLI_TRAIN_OPTS "epochs: batch: opt: lr: momentum: wd: sched: seed: augment: threads: "
#define CLI_TRAIN_HELP                                                          \
    "  --epochs N        epochs (default %d)\n"                                  \
    "  --batch B         mini-batch size (default 60)\n"                         \
    "  --opt adam|sgd    optimizer (default adam)\n"                             \
    "  --lr X            learning rate (default 1.2e-3 adam, 0.1 sgd)\n"         \
    "  --momentum X      SGD momentum (default 0.9)\n"                           \
    "  --wd X            weight decay (default 0)\n"                             \
    "  --sched S         const|step|cosine learning-rate schedule\n"             \
    "  --seed S          seed for init, shuffling, dropout (default 1)\n"        \
    "  --augment N       random shifts of up to N pixels (default 0)\n"          \
    "  --threads N       threads (default 1: bit-for-bit reproducible)\n"
void cli_train_cfg(const cli_args *a, mn_train_cfg *c, int default_epochs);
/* Progress on a terminal (a bar), plain per-epoch lines otherwise; both on
 * stderr so that --json output stays clean.  Hooks for mn_train_cfg. */
void cli_progress(void *ud, const mn_progress *p);
void cli_epoch(void *ud, const mn_epoch_stats *s);
/* Epoch log kept by cli_epoch for --json reports. */
typedef struct cli_log { int n; mn_epoch_stats e[512]; int quiet; } cli_log;
void cli_print_epochs_json(FILE *f, const cli_log *log);

long cli_file_size(const char *path);
/* qsort comparator of doubles, ascending (medians of timings). */
int cli_cmp_double(const void *a, const void *b);

/* The registry pass for verb and method (minnow/pass.h) with every one of
 * its options that was given on the command line (same names; a bad value
 * exits 2) and, for those that were not, the verb's own defaults
 * ({"name", "value", ..., NULL}, may be NULL).  The caller mn_pass_free's
 * it. */
void cli_pass(const cli_args *a, const char *verb, const char *method, const char *const *defaults, mn_pass *p);
/* Run hooks for a pass: progress and epochs on stderr through cli_log ud
 * (cli_progress, cli_epoch), the seed of --seed (default 1). */
void cli_pass_env(const cli_args *a, mn_pass_env *env, void *ud);

#endif
