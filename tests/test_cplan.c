/* export-c's activation plan (src/deploy/export_c_plan.c): for built-ins
 * and specs with residual adds, concats and XNOR-Net input scales, no value
 * is overwritten while a later node still reads it, checked by replaying
 * the schedule over the planned offsets; and the plan needs less than one
 * buffer per node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/export_c_impl.h"
#include "minnow/arch.h"
#include "testutil.h"

static int src_of(const mn_graph *g, int v) {
    while (g->nodes[v].op == MN_OP_FLATTEN || g->nodes[v].op == MN_OP_DROPOUT) v = g->nodes[v].in[0];
    return v;
}

/* Replays the schedule: owner[f] is the node whose value float f holds.
 * Every read (inputs, and an XNOR scale's pre-sign value) must find its
 * value still there. */
static void check_plan(const mn_graph *g, const mn_cplan *p) {
    int *owner = malloc(sizeof(int) * (size_t)(p->arena + 1));
    assert_non_null(owner);
    for (int64_t f = 0; f < p->arena; f++) owner[f] = -1;
    for (int j = 0; j < g->nnodes; j++) {
        const mn_node *n = &g->nodes[j];
        if (n->op == MN_OP_FLATTEN || n->op == MN_OP_DROPOUT) continue;
        int reads[MN_MAX_IN + 1], nr = 0;
        for (int k = 0; k < n->nin; k++) reads[nr++] = src_of(g, n->in[k]);
        if ((n->op == MN_OP_BDENSE || n->op == MN_OP_BCONV) && n->a.xscale) {
            int k = n->in[0];
            if (g->nodes[k].op == MN_OP_FLATTEN) k = g->nodes[k].in[0];
            if (g->nodes[k].op == MN_OP_SIGN) reads[nr++] = src_of(g, g->nodes[k].in[0]);
        }
        for (int r = 0; r < nr; r++) {
            int v = reads[r], b = p->alias[v];
            if (p->off[b] < 0) continue; /* the model's input */
            for (int64_t f = 0; f < mn_shape_numel(&g->nodes[v].out); f++) assert_int_equal(owner[p->off[b] + f], v);
        }
        int b = p->alias[j];
        assert_true(p->off[b] >= 0 || n->op == MN_OP_INPUT);
        if (p->off[b] < 0) continue;
        /* A node writes its own buffer, or (in place) its first input's;
         * never over another value it reads. */
        int64_t o0 = p->off[b], o1 = o0 + mn_shape_numel(&n->out);
        for (int r = 0; r < nr; r++) {
            int v = reads[r], vb = p->alias[v];
            if (p->off[vb] < 0 || (vb == b && r == 0)) continue;
            int64_t v0 = p->off[vb], v1 = v0 + mn_shape_numel(&g->nodes[v].out);
            assert_true(o1 <= v0 || v1 <= o0);
        }
        assert_true(p->off[b] + mn_shape_numel(&n->out) <= p->arena);
        for (int64_t f = 0; f < mn_shape_numel(&n->out); f++) owner[p->off[b] + f] = j;
    }
    int o = src_of(g, g->output), b = p->alias[o];
    if (p->off[b] >= 0)
        for (int64_t f = 0; f < mn_shape_numel(&g->nodes[o].out); f++) assert_int_equal(owner[p->off[b] + f], o);
    assert_true(p->rb == p->arena && p->xq >= p->rb && p->total >= p->xq);
    free(owner);
}

static int64_t plan(const char *arch, int c, int h, int w) {
    mn_graph g;
    assert_int_equal(mn_arch_build(&g, arch, c, h, w, 10), MN_OK);
    mn_cplan p = {0};
    p.off = calloc((size_t)g.nnodes, sizeof(int64_t));
    p.alias = calloc((size_t)g.nnodes, sizeof(int));
    assert_int_equal(mn_cplan_layout(&g, &p), MN_OK);
    check_plan(&g, &p);
    fprintf(stderr, "  %-40.40s arena %lld floats, one buffer per node %lld\n", arch, (long long)p.arena, (long long)p.naive);
    assert_true(p.arena <= p.naive);
    int64_t a = p.arena, nv = p.naive;
    free(p.off);
    free(p.alias);
    mn_graph_free(&g);
    return nv - a;
}

static void t_plans(void **s) {
    (void)s;
    assert_true(plan("lenet5", 1, 28, 28) > 0);
    assert_true(plan("lenet300", 1, 28, 28) > 0);
    plan("conv6", 3, 32, 32);
    plan("lenet5dw", 1, 28, 28);
    /* a residual add, a concat, batch norm, a value read twice */
    assert_true(plan("input in c=1 h=12 w=12; conv c1 filters=4 k=3; relu r1; batchnorm bn1; conv c2 filters=4 k=3 pad=1;"
                     "relu r2; add a1 in=r2,bn1; conv s1 filters=2 k=1 in=bn1; concat cc in=a1,s1; relu r3; avgpool p k=2;"
                     "flatten f; dense fc units=classes; softmax sm", 1, 12, 12) > 0);
    /* the input itself read by two nodes, and an add of a value with itself */
    plan("input in c=1 h=8 w=8; conv a filters=2 k=3 pad=1; conv b filters=2 k=3 pad=1 in=in; add s in=a,b;"
         "add t in=s,s; relu r; flatten f; dense fc units=classes", 1, 8, 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_plans)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
