/* The distill pass: fine-tunes the model on its teachers' softened outputs
 * (minnow/distill.h).  In a recipe the teacher is the model as the recipe
 * got it, so a compressed model can learn back from the original.
 * Options are `minnow distill`'s, less --teacher and --arch (files and a
 * fresh student are the CLI's). */
#include <string.h>

#include "compress/pass_impl.h"
#include "minnow/distill.h"

typedef struct distill_opts {
    mn_pass_base b;
    double temperature, alpha, hint_weight;
    char hint[MN_PASS_STR_MAX];
    mn_pass_train t;
} distill_opts;

#define O(name, type, field, lo, hi, help) {name, type, offsetof(distill_opts, field), lo, hi, 0, 0, NULL, help, 0, 0, 0}
static const mn_pass_opt OPTS[] = {
    O("temperature", MN_OPT_NUM, temperature, 1e-3, 1e4, "softmax temperature"),
    O("alpha", MN_OPT_NUM, alpha, 0, 1, "weight of the soft term"),
    O("hint", MN_OPT_STR, hint, 0, 0, "FitNets hint TEACHER_NODE:STUDENT_NODE"),
    O("hint-weight", MN_OPT_NUM, hint_weight, 0, 1e6, "weight of the hint's mean squared error"),
    MN_PASS_TRAIN_OPTS(distill_opts, t),
};

static void defaults(void *v) {
    distill_opts *o = v;
    mn_distill_cfg c;
    mn_distill_default(&c);
    o->temperature = c.temperature;
    o->alpha = c.alpha;
    o->hint_weight = c.hint_weight;
    mn_pass_train_default(&o->t, 15);
}

/* The hint split at ':' into t and s (NULL, NULL without one). */
static mn_status split_hint(const distill_opts *o, char *buf, const char **t, const char **s) {
    *t = *s = NULL;
    if (!o->hint[0]) return MN_OK;
    const char *colon = strchr(o->hint, ':');
    if (!colon || colon == o->hint || !colon[1])
        return mn_error(MN_EARG, "'hint' must be TEACHER_NODE:STUDENT_NODE, got '%s'", o->hint);
    strcpy(buf, o->hint);
    buf[colon - o->hint] = 0;
    *t = buf;
    *s = buf + (colon - o->hint) + 1;
    return MN_OK;
}

static mn_status cfg_of(const distill_opts *o, char *buf, mn_distill_cfg *c) {
    mn_distill_default(c);
    c->temperature = (float)o->temperature;
    c->alpha = (float)o->alpha;
    c->hint_weight = (float)o->hint_weight;
    mn_status st = split_hint(o, buf, &c->hint_teacher, &c->hint_student);
    if (st) return st;
    if (!c->hint_teacher && mn_pass_opt_given(&mn_pass_distill, o, "hint-weight"))
        return mn_error(MN_EARG, "'hint-weight' needs 'hint' TEACHER_NODE:STUDENT_NODE");
    return mn_distill_check(c);
}

static mn_status finish(void *v) {
    char buf[MN_PASS_STR_MAX];
    mn_distill_cfg c;
    return cfg_of(v, buf, &c);
}

static int needs_train(const void *v) { (void)v; return 1; }

static mn_status check(const void *v, const mn_graph *g, mn_pass_state *s) {
    (void)v; (void)g;
    s->codebooks = 0; /* training decodes compressed stores */
    return MN_OK;
}

/* Epoch hook: the loss parts of the epoch just finished, then env's. */
typedef struct hook { const mn_pass_env *env; mn_distill *d; } hook;
static void on_epoch(void *ud, const mn_epoch_stats *s) {
    hook *h = ud;
    mn_distill_parts p;
    mn_distill_take_parts(h->d, &p);
    if (h->env->distill_parts) *h->env->distill_parts = p;
    if (h->env->on_epoch) h->env->on_epoch(h->env->ud, s);
}
static void on_progress(void *ud, const mn_progress *p) {
    hook *h = ud;
    h->env->on_progress(h->env->ud, p);
}

static mn_status run(const void *v, mn_graph *g, const mn_pass_env *env) {
    const distill_opts *o = v;
    if (!env->nteachers) return mn_error(MN_EARG, "distill needs a teacher model");
    char buf[MN_PASS_STR_MAX];
    mn_distill_cfg dc;
    mn_status st = cfg_of(o, buf, &dc);
    if (st) return st;
    mn_train_cfg tc;
    mn_pass_train_cfg(&mn_pass_distill, o, &o->t, env, &tc);
    dc.seed = tc.seed;
    hook h = {env, NULL};
    if ((st = mn_distill_new(g, env->teachers, env->nteachers, &dc, &h.d))) return st;
    mn_distill_attach(h.d, &tc);
    tc.on_progress = env->on_progress ? on_progress : NULL;
    tc.on_epoch = on_epoch;
    tc.ud = &h;
    st = mn_train(g, env->train, env->val, &tc);
    mn_distill_free(h.d);
    return st;
}

const mn_pass_def mn_pass_distill = {"distill", "", 1, OPTS, (int)(sizeof OPTS / sizeof OPTS[0]), sizeof(distill_opts),
                                     defaults, finish, needs_train, NULL, check, run};
