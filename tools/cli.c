#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minnow/datasets.h"
#include "minnow/dist.h"
#include "minnow/io.h"
#include "minnow/slim.h"

/* Under MPI the ranks other than 0 print nothing (stdout and stderr go to
 * /dev/null) but keep the real stderr here for their own errors. */
static int g_rank_err = -1;

void cli_dist_start(int *argc, char ***argv) {
    mn_status st = mn_dist_init(argc, argv);
    if (st && !mn_dist_root()) exit(1);
    if (st) cli_die("%s", mn_errmsg());
    if (mn_dist_root()) return;
    g_rank_err = dup(2);
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
        cli_die("cannot silence rank %d: %s", mn_dist_world_rank(), strerror(errno));
}

_Noreturn void cli_die(const char *fmt, ...) {
    va_list ap;
    char msg[2048];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_rank_err >= 0) {
        /* Another rank's error.  When rank 0 fails too (the same bad input
         * everywhere) it says so and the launcher ends this rank within
         * the pause: one message.  Alone in failing, it speaks. */
        sleep(2);
        dprintf(g_rank_err, "minnow: rank %d: %s\n", mn_dist_world_rank(), msg);
        mn_dist_abort(1);
    }
    fprintf(stderr, "minnow: %s\n", msg);
    fflush(stderr);
    /* Under MPI the other ranks may wait in a collective for this one;
     * alone this is exit(1). */
    mn_dist_abort(1);
}

static _Noreturn void usage(const char *fmt, const char *arg) {
    fprintf(stderr, "minnow: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    exit(2);
}

void cli_check(mn_status st) {
    if (st != MN_OK) cli_die("%s", *mn_errmsg() ? mn_errmsg() : mn_status_name(st));
}

static int spec_kind(const char *spec, const char *name, size_t len) {
    const char *s = spec;
    while (*s) {
        while (*s == ' ') s++;
        const char *e = s;
        while (*e && *e != ' ' && *e != ':') e++;
        if (*s != '@' && (size_t)(e - s) == len && strncmp(s, name, len) == 0) return *e == ':' ? 2 : 1;
        while (*e && *e != ' ') e++;
        s = e;
    }
    return 0;
}

int cli_spec_kind(const char *spec, const char *name) { return spec_kind(spec, name, strlen(name)); }

void cli_parse(cli_args *a, int argc, char **argv, const char *spec, const char *help) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *t = argv[i];
        if (strcmp(t, "--help") == 0 || strcmp(t, "-h") == 0) { fputs(help, stdout); fflush(stdout); mn_dist_finalize(); exit(0); }
        if (t[0] == '-' && t[1] != 0 && !(t[1] >= '0' && t[1] <= '9')) {
            const char *name = t[1] == '-' ? t + 2 : t + 1;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (strcmp(t, "-o") == 0) { name = "o"; len = 1; }
            int kind = spec_kind(spec, name, len);
            /* Every verb that reads data takes the CSV label column too. */
            if (!kind && len == 5 && !strncmp(name, "label", 5) && spec_kind(spec, "data", 4) == 2) kind = 2;
            if (!kind) usage("unknown option '%s'", t);
            if (a->n == CLI_MAX) usage("too many options at '%s'", t);
            if (len >= sizeof a->keybuf[0]) usage("unknown option '%s'", t);
            char *key = a->keybuf[a->n];
            memcpy(key, name, len);
            key[len] = 0;
            const char *val = NULL;
            if (kind == 2) {
                if (eq) val = eq + 1;
                else if (i + 1 < argc) val = argv[++i];
                else usage("option '%s' needs a value", t);
            } else if (eq) usage("option '%s' takes no value", t);
            a->key[a->n] = key;
            a->val[a->n++] = val ? val : "1";
        } else {
            if (a->npos == CLI_MAX) usage("too many arguments at '%s'", t);
            a->pos[a->npos++] = t;
        }
    }
    cli_spec_checks(a, spec);
}

const char *cli_str(const cli_args *a, const char *key, const char *def) {
    for (int i = a->n - 1; i >= 0; i--)
        if (strcmp(a->key[i], key) == 0) return a->val[i];
    return def;
}

int cli_flag(const cli_args *a, const char *key) { return cli_str(a, key, NULL) != NULL; }

int cli_all(const cli_args *a, const char *key, const char **out, int max) {
    int n = 0;
    for (int i = 0; i < a->n && n < max; i++)
        if (strcmp(a->key[i], key) == 0) out[n++] = a->val[i];
    return n;
}

long cli_int(const cli_args *a, const char *key, long def, long lo, long hi) {
    const char *v = cli_str(a, key, NULL);
    if (!v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "minnow: --%s must be an integer in [%ld, %ld], got '%s'\n", key, lo, hi, v);
        exit(2);
    }
    return x;
}

double cli_num(const cli_args *a, const char *key, double def, double lo, double hi) {
    const char *v = cli_str(a, key, NULL);
    if (!v) return def;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "minnow: --%s must be a number in [%g, %g], got '%s'\n", key, lo, hi, v);
        exit(2);
    }
    return x;
}

const char *cli_pos(const cli_args *a, int i, const char *what) {
    if (i >= a->npos) usage("missing %s", what);
    return a->pos[i];
}

/* --label and --json of the verb that asked for its data directory: the
 * loads that follow use the one and report their split unless the other. */
static const char *g_label;
static int g_json;

const char *cli_data_dir(const cli_args *a) {
    static char buf[4096];
    const char *d = cli_str(a, "data", "mnist");
    g_label = cli_str(a, "label", NULL);
    g_json = cli_flag(a, "json");
    /* A name not found stays as it is: the load that needs it says where
     * it looked (some verbs only use data when it is there). */
    return mn_data_resolve(d, buf, sizeof buf) == MN_OK ? buf : d;
}

void cli_load_data(const char *dir, const char *split, mn_dataset *d) {
    char buf[4096];
    mn_split_info si;
    cli_check(mn_data_resolve(dir, buf, sizeof buf));
    cli_check(mn_data_load_split(buf, split, g_label, d, &si));
    if (g_json) return;
    if (si.held_out && !strcmp(split, "val"))
        printf("data: %s, split val: %d samples (every 10th of train's %d, held out)\n", buf, si.n, si.of);
    else if (si.held_out)
        printf("data: %s, split train: %d samples (of %d; every 10th held out as val)\n", buf, si.n, si.of);
    else
        printf("data: %s, split %s: %d samples\n", buf, split, si.n);
    fflush(stdout);
}

void cli_load_model(const char *path, mn_graph *g) {
    cli_check(mn_model_load(path, g));
    float ws[MN_SLIM_MAX];
    int n = mn_slim_widths(g, ws);
    if (n < 0) cli_die("%s: %s", path, mn_errmsg());
    if (n > 0)
        cli_die("%s is a slimmable model (widths %s): cut one width out with `minnow slim %s --width W -o OUT`, "
                "or give --width W to eval, bench, info or export-c", path, mn_graph_get_meta(g, "widths"), path);
}

void cli_load_model_width(const char *path, mn_graph *g, double w, int *widths) {
    cli_check(mn_model_load(path, g));
    float ws[MN_SLIM_MAX];
    int n = mn_slim_widths(g, ws);
    if (n < 0) cli_die("%s: %s", path, mn_errmsg());
    if (widths) *widths = n;
    if (n == 0) {
        if (w > 0) cli_die("--width applies to slimmable models (minnow train --widths); %s is not one", path);
        return;
    }
    mn_graph s;
    if (mn_slim_select(g, w > 0 ? (float)w : 1.0f, &s)) cli_die("%s: %s", path, mn_errmsg());
    mn_graph_free(g);
    *g = s;
}

double cli_width(const cli_args *a) { return cli_flag(a, "width") ? cli_num(a, "width", 1, 1e-6, 1) : 0; }

void cli_threads(const cli_args *a) { mn_set_threads((int)cli_int(a, "threads", 1, 1, 256)); }

void cli_train_cfg(const cli_args *a, mn_train_cfg *c, int default_epochs) {
    mn_train_default(c);
    c->epochs = (int)cli_int(a, "epochs", default_epochs, 0, 100000);
    c->batch = (int)cli_int(a, "batch", 60, 1, 1 << 16);
    const char *opt = cli_str(a, "opt", "adam");
    if (strcmp(opt, "adam") == 0) mn_optim_default(&c->opt, MN_OPT_ADAM);
    else if (strcmp(opt, "sgd") == 0) mn_optim_default(&c->opt, MN_OPT_SGD);
    else usage("unknown optimizer '%s' (adam or sgd)", opt);
    c->opt.lr = (float)cli_num(a, "lr", c->opt.lr, 0, 1e30);
    c->opt.momentum = (float)cli_num(a, "momentum", c->opt.momentum, 0, 1);
    c->opt.weight_decay = (float)cli_num(a, "wd", 0, 0, 10);
    const char *s = cli_str(a, "sched", "const");
    if (strcmp(s, "const") == 0) c->sched = MN_SCHED_CONST;
    else if (strcmp(s, "step") == 0) c->sched = MN_SCHED_STEP;
    else if (strcmp(s, "cosine") == 0) c->sched = MN_SCHED_COSINE;
    else usage("unknown schedule '%s' (const, step or cosine)", s);
    c->seed = (uint64_t)cli_int(a, "seed", 1, 0, 0x7fffffffL);
    c->augment_shift = (int)cli_int(a, "augment", 0, 0, 8);
    c->on_progress = cli_progress;
    c->on_epoch = cli_epoch;
}

void cli_progress(void *ud, const mn_progress *p) {
    cli_log *log = ud;
    if ((log && log->quiet) || !isatty(2)) return;
    if (p->step % 4 && p->step != p->steps - 1) return;
    int width = 30, done = (int)((double)(p->step + 1) / p->steps * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\repoch %d/%d [%s] loss %.4f acc %.2f%%  ", p->epoch, p->epochs, bar, p->loss, 100 * p->acc);
    fflush(stderr);
}

void cli_epoch(void *ud, const mn_epoch_stats *s) {
    cli_log *log = ud;
    if (log && log->n < 512) log->e[log->n++] = *s;
    if (log && log->quiet) return;
    if (isatty(2)) fputc('\r', stderr);
    fprintf(stderr, "epoch %d: loss %.4f train acc %.2f%%", s->epoch, s->loss, 100 * s->train_acc);
    if (s->val_error >= 0) fprintf(stderr, " val error %.2f%%", 100 * s->val_error);
    fprintf(stderr, " (%.2fs)%s\n", s->seconds, isatty(2) ? "          " : "");
}

void cli_print_epochs_json(FILE *f, const cli_log *log) {
    fputs("[", f);
    for (int i = 0; i < log->n; i++) {
        const mn_epoch_stats *s = &log->e[i];
        fprintf(f, "%s{\"epoch\":%d,\"loss\":%.6g,\"train_acc\":%.6g,\"val_error\":%.6g,\"seconds\":%.6g}",
                i ? "," : "", s->epoch, s->loss, s->train_acc, s->val_error, s->seconds);
    }
    fputs("]", f);
}

int cli_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

long cli_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

void cli_pass(const cli_args *a, const char *verb, const char *method, const char *const *defaults, mn_pass *p) {
    const mn_pass_def *d = mn_pass_find(verb, method);
    if (!d) cli_die("unknown %s method '%s'", verb, method ? method : "");
    cli_check(mn_pass_init(p, d));
    for (int i = 0; i < mn_pass_nopts(d); i++) {
        const char *name = mn_pass_opt_name(d, i);
        if (cli_flag(a, name) && mn_pass_set(p, name, mn_pass_opt_is_flag(d, i) ? NULL : cli_str(a, name, NULL)))
            usage("%s", mn_errmsg()); /* a bad value: a usage error, as cli_int's */
    }
    for (int i = 0; defaults && defaults[i]; i += 2)
        if (!cli_flag(a, defaults[i])) cli_check(mn_pass_set(p, defaults[i], defaults[i + 1]));
    cli_check(mn_pass_finish(p));
}

void cli_pass_env(const cli_args *a, mn_pass_env *env, void *ud) {
    memset(env, 0, sizeof *env);
    env->seed = (uint64_t)cli_int(a, "seed", 1, 0, 0x7fffffffL);
    env->on_progress = cli_progress;
    env->on_epoch = cli_epoch;
    env->ud = ud;
}
