/* The factorize pass: low-rank (SVD) factorisation of dense/conv layers,
 * then optional fine-tuning.  Options are `minnow factorize`'s. */
#include <stdlib.h>
#include <string.h>

#include "compress/pass_impl.h"
#include "minnow/lowrank.h"

typedef struct fact_opts {
    mn_pass_base b;
    int rank, finetune;
    double energy;
    char layers[MN_PASS_STR_MAX];
    mn_pass_train t;
} fact_opts;

#define O(name, type, field, lo, hi, help) {name, type, offsetof(fact_opts, field), lo, hi, 0, 0, NULL, help, 0, 0, 0}
static const mn_pass_opt OPTS[] = {
    O("rank", MN_OPT_INT, rank, 1, 1 << 24, "rank for each selected layer"),
    O("energy", MN_OPT_NUM, energy, 1e-9, 1, "per layer, the smallest rank keeping this fraction of sum(s^2)"),
    O("layers", MN_OPT_STR, layers, 0, 0, "NAME=R, NAME=0.E or NAME, comma-separated"),
    O("finetune", MN_OPT_INT, finetune, 0, 100000, "epochs of fine-tuning afterwards"),
    MN_PASS_TUNE_OPTS(fact_opts, t),
};

static void defaults(void *v) { mn_pass_train_default(&((fact_opts *)v)->t, 0); }

static mn_status finish(void *v) {
    const fact_opts *o = v;
    if (o->rank && o->energy) return mn_error(MN_EARG, "give 'rank' or 'energy', not both");
    if (!o->rank && !o->energy && !o->layers[0]) return mn_error(MN_EARG, "one of 'rank', 'energy' or 'layers' is required");
    return MN_OK;
}

static int needs_train(const void *v) { return ((const fact_opts *)v)->finetune > 0; }

/* One 'layers' entry: NAME, NAME=R or NAME=0.E. */
static mn_status parse_entry(char *t, mn_lowrank_layer *L, int rank, double energy) {
    memset(L, 0, sizeof *L);
    char *eq = strchr(t, '=');
    if (eq) *eq = 0;
    if (!*t || strlen(t) >= MN_NAME_MAX) return mn_error(MN_EARG, "'layers': bad layer name '%s'", t);
    strcpy(L->name, t);
    if (!eq) {
        if (!rank && !energy)
            return mn_error(MN_EARG, "'layers': '%s' has no rank; write %s=R or give 'rank'/'energy'", t, t);
        L->rank = rank;
        L->energy = energy;
        return MN_OK;
    }
    const char *v = eq + 1;
    char *end;
    if (strchr(v, '.')) {
        double e = strtod(v, &end);
        if (!*v || *end || !(e > 0 && e <= 1))
            return mn_error(MN_EARG, "'layers': energy for '%s' must be in (0, 1], got '%s'", t, v);
        L->energy = e;
    } else {
        long r = strtol(v, &end, 10);
        if (!*v || *end || r < 1 || r > (1 << 24))
            return mn_error(MN_EARG, "'layers': rank for '%s' must be an integer >= 1, got '%s'", t, v);
        L->rank = (int)r;
    }
    return MN_OK;
}

/* The layers to factorise: those listed, or every dense and conv (groups
 * 1) layer, each left whole when its factors would not be smaller. */
static mn_status plan(const fact_opts *o, const mn_graph *g, mn_lowrank_layer **out, int *nout) {
    int cap = g->nnodes > 0 ? g->nnodes : 1, n = 0;
    mn_lowrank_layer *ls = calloc((size_t)cap, sizeof *ls);
    if (!ls) return mn_error(MN_ENOMEM, "out of memory");
    mn_status st = MN_OK;
    if (o->layers[0]) {
        char buf[MN_PASS_STR_MAX], *save = NULL;
        strcpy(buf, o->layers);
        for (char *t = strtok_r(buf, ",", &save); t && !st; t = strtok_r(NULL, ",", &save)) {
            if (n == cap) st = mn_error(MN_EARG, "'layers' lists more layers than the model has");
            else st = parse_entry(t, &ls[n++], o->rank, o->energy);
        }
        if (!st && !n) st = mn_error(MN_EARG, "'layers' is empty");
    } else {
        for (int i = 0; i < g->nnodes; i++) {
            const mn_node *nd = &g->nodes[i];
            if (nd->op != MN_OP_DENSE && !(nd->op == MN_OP_CONV && nd->a.groups <= 1)) continue;
            if (strlen(nd->name) + 2 >= MN_NAME_MAX) continue;
            strcpy(ls[n].name, nd->name);
            ls[n].rank = o->rank;
            ls[n].energy = o->energy;
            ls[n].only_if_smaller = 1;
            n++;
        }
        if (!n) st = mn_error(MN_EARG, "the model has no dense or conv layer to factorise");
    }
    if (st) {
        free(ls);
        return st;
    }
    *out = ls;
    *nout = n;
    return MN_OK;
}

static mn_status check(const void *v, const mn_graph *g, mn_pass_state *s) {
    mn_status st = MN_OK;
    if (!s->reshaped) {
        mn_lowrank_layer *ls;
        int n;
        if (!(st = plan(v, g, &ls, &n))) {
            for (int i = 0; !st && i < n; i++)
                if (mn_graph_find_node(g, ls[i].name) < 0) st = mn_error(MN_EARG, "'layers': no layer '%s'", ls[i].name);
            free(ls);
        }
    }
    s->reshaped = 1; /* X becomes X_a, X_b */
    s->codebooks = 0;
    return st;
}

static mn_status run(const void *v, mn_graph *g, const mn_pass_env *env) {
    const fact_opts *o = v;
    mn_lowrank_layer *ls;
    int n;
    mn_status st = plan(o, g, &ls, &n);
    if (st) return st;
    mn_graph dst;
    st = mn_factorize(g, ls, n, &dst);
    if (env->lowrank) {
        *env->lowrank = ls;
        if (env->nlowrank) *env->nlowrank = n;
    } else {
        free(ls);
    }
    if (st) return st;
    mn_graph_free(g);
    *g = dst;
    if (o->finetune > 0) {
        mn_train_cfg tc;
        mn_pass_train_cfg(&mn_pass_factorize, o, &o->t, env, &tc);
        tc.epochs = o->finetune;
        /* Fine-tuning starts near a minimum: the from-scratch rate knocks it out. */
        if (!mn_pass_opt_given(&mn_pass_factorize, o, "lr")) tc.opt.lr = tc.opt.kind == MN_OPT_ADAM ? 1e-4f : 1e-2f;
        st = mn_train(g, env->train, env->val, &tc);
    }
    return st;
}

const mn_pass_def mn_pass_factorize = {"factorize", "", 1, OPTS, (int)(sizeof OPTS / sizeof OPTS[0]), sizeof(fact_opts),
                                       defaults, finish, needs_train, NULL, check, run};
