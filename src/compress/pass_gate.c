/* The gate pass: SkipNet-style gates on a residual net's identity-shortcut
 * blocks, trained against a MACs cost (minnow/gate.h).  Options are
 * `minnow gate`'s. */
#include <stddef.h>

#include "compress/pass_impl.h"
#include "minnow/gate.h"

typedef struct gate_opts {
    mn_pass_base b;
    double cost, open;
    mn_pass_train t;
} gate_opts;

#define O(name, type, field, lo, hi, help) {name, type, offsetof(gate_opts, field), lo, hi, 0, 0, NULL, help, 0, 0, 0}
static const mn_pass_opt OPTS[] = {
    O("cost", MN_OPT_NUM, cost, 0, 1e6, "weight of the executed-MACs fraction in the loss"),
    O("open", MN_OPT_NUM, open, 1e-3, 30, "the gates' starting bias (> 0: every block open)"),
    MN_PASS_TRAIN_OPTS(gate_opts, t),
};

static void defaults(void *v) {
    gate_opts *o = v;
    o->open = 1;
    mn_pass_train_default(&o->t, 3);
}

static mn_status finish(void *v) {
    if (!mn_pass_opt_given(&mn_pass_gate, v, "cost")) return mn_error(MN_EARG, "pass 'gate' needs 'cost'");
    if (((gate_opts *)v)->t.epochs < 1) return mn_error(MN_EARG, "pass 'gate': 'epochs' must be at least 1 (the gates start untrained)");
    return MN_OK;
}

static int needs_train(const void *v) { (void)v; return 1; }

static mn_status run(const void *v, mn_graph *g, const mn_pass_env *env) {
    const gate_opts *o = v;
    mn_graph q;
    int n;
    mn_status st = mn_gate_add(g, (float)o->open, &q, &n);
    if (st) return st;
    mn_train_cfg tc;
    mn_pass_train_cfg(&mn_pass_gate, o, &o->t, env, &tc);
    /* Fine-tuning a trained net: a from-scratch rate would knock it out. */
    if (!mn_pass_opt_given(&mn_pass_gate, o, "lr")) tc.opt.lr = tc.opt.kind == MN_OPT_ADAM ? 1e-4f : 1e-2f;
    st = mn_gate_train(&q, env->train, env->val, &tc, (float)o->cost);
    if (st) { mn_graph_free(&q); return st; }
    mn_graph_free(g);
    *g = q;
    return MN_OK;
}

const mn_pass_def mn_pass_gate = {"gate", "", 1, OPTS, (int)(sizeof OPTS / sizeof OPTS[0]), sizeof(gate_opts),
                                  defaults, finish, needs_train, NULL, NULL, run};
