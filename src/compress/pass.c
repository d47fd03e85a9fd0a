/* The registry of compression passes (minnow/pass.h) and the one option
 * parser every pass's options go through (pass_impl.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compress/pass_impl.h"

/* Every method, once.  A new method: its file, and a line here. */
static const mn_pass_def *const REGISTRY[] = {
    &mn_pass_prune_magnitude, &mn_pass_prune_snip,     &mn_pass_prune_obd,      &mn_pass_prune_random, &mn_pass_prune_neuron,
    &mn_pass_prune_filter,    &mn_pass_prune_lottery,  &mn_pass_quantize_fixed, &mn_pass_quantize_affine,
    &mn_pass_quantize_qat,    &mn_pass_quantize_kmeans, &mn_pass_binarize_bc,   &mn_pass_binarize_xnor,
    &mn_pass_binarize_bitwise, &mn_pass_factorize,     &mn_pass_distill,        &mn_pass_encode, &mn_pass_gate,
    &mn_pass_prune_blocks,
};
#define NREG (int)(sizeof REGISTRY / sizeof REGISTRY[0])

int mn_pass_count(void) { return NREG; }
const mn_pass_def *mn_pass_at(int i) { return i >= 0 && i < NREG ? REGISTRY[i] : NULL; }

const mn_pass_def *mn_pass_find(const char *verb, const char *method) {
    if (!verb) return NULL;
    for (int i = 0; i < NREG; i++) {
        const mn_pass_def *d = REGISTRY[i];
        if (strcmp(d->verb, verb)) continue;
        if (!method || !*method ? d->is_default : !strcmp(d->method, method)) return d;
    }
    return NULL;
}

const char *mn_pass_verb(const mn_pass_def *d) { return d ? d->verb : "?"; }
const char *mn_pass_method(const mn_pass_def *d) { return d ? d->method : "?"; }

/* Listed options skip aliases. */
static int listed(const mn_pass_def *d, int i) {
    int n = -1;
    for (int j = 0; j < d->nopts; j++)
        if (!d->opts[j].alias_of && ++n == i) return j;
    return -1;
}

int mn_pass_nopts(const mn_pass_def *d) {
    int n = 0;
    for (int j = 0; d && j < d->nopts; j++) n += !d->opts[j].alias_of;
    return n;
}
const char *mn_pass_opt_name(const mn_pass_def *d, int i) {
    int j = d ? listed(d, i) : -1;
    return j < 0 ? NULL : d->opts[j].name;
}
const char *mn_pass_opt_help(const mn_pass_def *d, int i) {
    int j = d ? listed(d, i) : -1;
    return j < 0 ? NULL : d->opts[j].help;
}
int mn_pass_opt_is_flag(const mn_pass_def *d, int i) {
    int j = d ? listed(d, i) : -1;
    return j >= 0 && d->opts[j].type == MN_OPT_BOOL;
}

/* '_' and '-' are the same. */
static int same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (*a != *b && !((*a == '_' || *a == '-') && (*b == '_' || *b == '-'))) return 0;
    return *a == *b;
}

static int find_opt(const mn_pass_def *d, const char *key) {
    for (int j = 0; j < d->nopts; j++)
        if (same_name(d->opts[j].name, key)) return d->opts[j].alias_of ? d->opts[j].alias_of - 1 : j;
    return -1;
}

int mn_pass_opt_given(const mn_pass_def *d, const void *o, const char *name) {
    int j = find_opt(d, name);
    return j >= 0 && (((const mn_pass_base *)o)->given >> j & 1);
}

static mn_status bad_num(const char *key, const mn_pass_opt *op, double lo, int integer, const char *s) {
    if (integer)
        return mn_error(MN_EARG, "'%s' must be an integer in [%ld, %ld], got '%s'", key, (long)lo, (long)op->hi, s);
    return mn_error(MN_EARG, "'%s' must be a number in [%g, %g%s, got '%s'", key, lo, op->hi, op->open ? ")" : "]", s);
}

static int parse_num(const char *s, const mn_pass_opt *op, double lo, int integer, double *out) {
    char *end = NULL;
    double x;
    if (!*s) return 0;
    if (integer) {
        long v = strtol(s, &end, 10);
        x = (double)v;
    } else {
        x = strtod(s, &end);
    }
    if (*end || !isfinite(x) || x < lo || (op->open ? x >= op->hi : x > op->hi)) return 0;
    *out = x;
    return 1;
}

/* A SPEC value: checked item by item and written back with numbers in one
 * form ("%.9g" / "%d"). */
static mn_status parse_spec(const char *key, const mn_pass_opt *op, const char *s, char *out) {
    double ilo = op->has_item_lo ? op->item_lo : op->lo, x;
    if (!strchr(s, '=')) {
        if (!parse_num(s, op, op->lo, op->integer, &x)) return bad_num(key, op, op->lo, op->integer, s);
        snprintf(out, MN_PASS_STR_MAX, op->integer ? "%.0f" : "%.9g", x);
        return MN_OK;
    }
    char buf[MN_PASS_STR_MAX], res[MN_PASS_STR_MAX] = "";
    if (strlen(s) >= sizeof buf) return mn_error(MN_EARG, "'%s': too long", key);
    strcpy(buf, s);
    char *save = NULL;
    int n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), n++) {
        char *eq = strchr(t, '='), item[160];
        while (*t == ' ') t++;
        if (!eq) {
            if (n) return mn_error(MN_EARG, "'%s': a value for every layer comes first, got '%s'", key, t);
            if (!parse_num(t, op, op->lo, op->integer, &x)) return bad_num(key, op, op->lo, op->integer, t);
            snprintf(item, sizeof item, op->integer ? "%.0f" : "%.9g", x);
        } else {
            *eq = 0;
            const char *v = eq + 1;
            if (!*t || strlen(t) >= MN_NAME_MAX || strpbrk(t, " ")) return mn_error(MN_EARG, "'%s': bad layer name", key);
            if (!parse_num(v, op, ilo, op->integer, &x)) return bad_num(t, op, ilo, op->integer, v);
            snprintf(item, sizeof item, op->integer ? "%s%s=%.0f" : "%s%s=%.9g", n ? "," : "", t, x);
        }
        if (strlen(res) + strlen(item) >= sizeof res) return mn_error(MN_EARG, "'%s': too many layers", key);
        strcat(res, item);
    }
    if (!n) return mn_error(MN_EARG, "'%s' is empty", key);
    memcpy(out, res, sizeof res);
    return MN_OK;
}

static mn_status set_opt(const mn_pass_def *d, void *o, const char *key, const char *val) {
    int j = find_opt(d, key);
    if (j < 0) {
        char list[1024] = "";
        for (int i = 0; i < d->nopts; i++) {
            if (d->opts[i].alias_of) continue;
            if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, d->opts[i].name, sizeof list - strlen(list) - 1);
        }
        return mn_error(MN_EARG, "unknown option '%s' for pass '%s' (%s)", key, d->verb, list);
    }
    const mn_pass_opt *op = &d->opts[j];
    char *at = (char *)o + op->off;
    if (!val) val = "true";
    double x;
    switch (op->type) {
    case MN_OPT_INT:
        if (!parse_num(val, op, op->lo, 1, &x)) return bad_num(key, op, op->lo, 1, val);
        *(int *)at = (int)x;
        break;
    case MN_OPT_NUM:
        if (!parse_num(val, op, op->lo, 0, &x)) return bad_num(key, op, op->lo, 0, val);
        *(double *)at = x;
        break;
    case MN_OPT_BOOL: {
        static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
        int v = -1;
        for (int i = 0; i < 4 && v < 0; i++) {
            if (!strcasecmp(val, yes[i])) v = 1;
            if (!strcasecmp(val, no[i])) v = 0;
        }
        if (v < 0) return mn_error(MN_EARG, "'%s' must be true or false, got '%s'", key, val);
        *(int *)at = v;
        break;
    }
    case MN_OPT_ENUM: {
        const char *c = op->choices;
        size_t n = strlen(val);
        int i = 0, v = -1;
        while (*c) {
            size_t len = strcspn(c, "|");
            if (len == n && !strncmp(c, val, n)) v = i;
            c += len + (c[len] == '|');
            i++;
        }
        if (v < 0) return mn_error(MN_EARG, "'%s' must be one of %s, got '%s'", key, op->choices, val);
        *(int *)at = v;
        break;
    }
    case MN_OPT_STR:
        if (!*val || strlen(val) >= MN_PASS_STR_MAX)
            return mn_error(MN_EARG, "'%s' must be text of 1..%d characters", key, MN_PASS_STR_MAX - 1);
        snprintf(at, MN_PASS_STR_MAX, "%s", val);
        break;
    case MN_OPT_SPEC: {
        mn_status st = parse_spec(key, op, val, at);
        if (st) return st;
        break;
    }
    }
    ((mn_pass_base *)o)->given |= (uint64_t)1 << j;
    return MN_OK;
}

mn_status mn_pass_init(mn_pass *p, const mn_pass_def *d) {
    p->def = d;
    p->opts = NULL;
    if (!d) return mn_error(MN_EARG, "no such pass");
    if (d->nopts > MN_PASS_MAX_OPTS) return mn_error(MN_EARG, "pass '%s': too many options", d->verb);
    if (!(p->opts = calloc(1, d->size))) return mn_error(MN_ENOMEM, "out of memory");
    if (d->defaults) d->defaults(p->opts);
    ((mn_pass_base *)p->opts)->given = 0;
    return MN_OK;
}

void mn_pass_free(mn_pass *p) {
    if (!p) return;
    free(p->opts);
    p->opts = NULL;
}

mn_status mn_pass_set(mn_pass *p, const char *key, const char *val) {
    if (!p->def || !p->opts) return mn_error(MN_EARG, "pass not initialised");
    return set_opt(p->def, p->opts, key, val);
}

int mn_pass_given(const mn_pass *p, const char *key) { return p->opts && mn_pass_opt_given(p->def, p->opts, key); }

mn_status mn_pass_finish(mn_pass *p) { return p->def->finish ? p->def->finish(p->opts) : MN_OK; }
int mn_pass_needs_train(const mn_pass *p) { return p->def->needs_train(p->opts); }
int mn_pass_needs_val(const mn_pass *p) { return p->def->needs_val ? p->def->needs_val(p->opts) : 0; }

mn_status mn_pass_check(const mn_pass *p, const mn_graph *g, mn_pass_state *st) {
    return p->def->check ? p->def->check(p->opts, g, st) : MN_OK;
}

mn_status mn_pass_run(const mn_pass *p, mn_graph *g, const mn_pass_env *env) {
    static const mn_pass_env none;
    return p->def->run(p->opts, g, env ? env : &none);
}

/* ---- training options ---- */

void mn_pass_train_default(mn_pass_train *t, int epochs) {
    memset(t, 0, sizeof *t);
    t->epochs = epochs;
    t->batch = 60;
    t->lr = -1;       /* the optimizer's default */
    t->momentum = -1;
    t->seed = 1;
}

void mn_pass_train_cfg(const mn_pass_def *d, const void *o, const mn_pass_train *t, const mn_pass_env *env,
                       mn_train_cfg *c) {
    mn_train_default(c);
    c->epochs = t->epochs;
    c->batch = t->batch;
    mn_optim_default(&c->opt, t->opt == 1 ? MN_OPT_SGD : MN_OPT_ADAM);
    if (t->lr >= 0) c->opt.lr = (float)t->lr;
    if (t->momentum >= 0) c->opt.momentum = (float)t->momentum;
    c->opt.weight_decay = (float)t->wd;
    c->sched = t->sched == 2 ? MN_SCHED_COSINE : t->sched == 1 ? MN_SCHED_STEP : MN_SCHED_CONST;
    c->seed = mn_pass_opt_given(d, o, "seed") ? (uint64_t)t->seed : env->seed;
    c->augment_shift = t->augment;
    c->on_progress = env->on_progress;
    c->on_epoch = env->on_epoch;
    c->ud = env->ud;
}
