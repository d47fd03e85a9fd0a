/* Knowledge distillation: the soft/hard loss, the teacher ensemble and the
 * FitNets hint, plugged into mn_train through its loss hook. */
#include "minnow/distill.h"
#include "minnow/dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "minnow/prune.h"

void mn_distill_default(mn_distill_cfg *c) {
    memset(c, 0, sizeof *c);
    c->temperature = 4.0f;
    c->alpha = 0.9f;
    c->hint_weight = 1.0f;
    c->hint_lr = 1.2e-3f;
    c->seed = 1;
}

mn_status mn_distill_check(const mn_distill_cfg *c) {
    if (!(c->temperature > 0) || !isfinite(c->temperature) || c->temperature > 1e4f)
        return mn_error(MN_EARG, "temperature must be a number in (0, 10000], got %g", (double)c->temperature);
    if (!(c->alpha >= 0 && c->alpha <= 1))
        return mn_error(MN_EARG, "alpha must be in [0, 1], got %g", (double)c->alpha);
    if ((c->hint_teacher == NULL) != (c->hint_student == NULL))
        return mn_error(MN_EARG, "a hint needs both a teacher node and a student node (TEACHER_NODE:STUDENT_NODE)");
    if (!(c->hint_weight >= 0) || !isfinite(c->hint_weight))
        return mn_error(MN_EARG, "hint weight must be a finite number >= 0, got %g", (double)c->hint_weight);
    if (c->hint_teacher && (!(c->hint_lr > 0) || !isfinite(c->hint_lr)))
        return mn_error(MN_EARG, "hint regressor learning rate must be > 0, got %g", (double)c->hint_lr);
    return MN_OK;
}

/* Both parts of the loss; soft and hard are the unweighted batch sums. */
static void kd_parts(const float *zs, const float *q, const int32_t *y, int batch,
                     int k, float T, float alpha, float *dz, double *soft, double *hard) {
    double s_sum = 0, h_sum = 0, invT = 1.0 / T;
    double ws = (double)alpha * T, wh = 1.0 - alpha;
    for (int b = 0; b < batch; b++) {
        const float *z = zs + (int64_t)b * k, *qb = q + (int64_t)b * k;
        float mx = z[0];
        for (int i = 1; i < k; i++) if (z[i] > mx) mx = z[i];
        double s1 = 0, sT = 0;
        for (int i = 0; i < k; i++) {
            s1 += exp((double)(z[i] - mx));
            sT += exp((double)(z[i] - mx) * invT);
        }
        double l1 = log(s1), lT = log(sT);
        h_sum -= (z[y[b]] - mx) - l1;
        for (int i = 0; i < k; i++) {
            double lpT = (z[i] - mx) * invT - lT;
            s_sum -= qb[i] * lpT;
            if (dz) {
                double p1 = exp((z[i] - mx) - l1), pT = exp(lpT);
                /* d/dz of T^2 CE(q, p_T) is T (p_T - q); of CE(y, p) is p - y.
                 * Written so that alpha = 0 rounds exactly like mn_xent_hard. */
                dz[(int64_t)b * k + i] = (float)((ws * (pT - qb[i]) + wh * (p1 - (i == y[b]))) / batch);
            }
        }
    }
    *soft = s_sum;
    *hard = h_sum;
}

float mn_kd_loss(const float *zs, const float *q, const int32_t *y, int batch,
                 int k, float T, float alpha, float *dz) {
    double soft, hard;
    kd_parts(zs, q, y, batch, k, T, alpha, dz, &soft, &hard);
    return (float)(((double)alpha * T * T * soft + (1.0 - alpha) * hard) / batch);
}

static mn_status teachers_fit(mn_graph *const *t, int n, int64_t *isz, int *k) {
    if (n < 1 || n > MN_DISTILL_MAX_TEACHERS)
        return mn_error(MN_EARG, "need 1..%d teachers, got %d", MN_DISTILL_MAX_TEACHERS, n);
    for (int i = 0; i < n; i++) {
        if (!t[i] || !t[i]->finalized) return mn_error(MN_EARG, "teacher %d is not a finalized model", i + 1);
        int64_t s = mn_shape_numel(mn_graph_input_shape(t[i]));
        int c = (int)mn_shape_numel(mn_graph_output_shape(t[i]));
        if (i == 0) { *isz = s; *k = c; continue; }
        if (s != *isz || c != *k)
            return mn_error(MN_ESHAPE, "teacher %d takes %lld inputs and gives %d outputs, teacher 1 %lld and %d",
                            i + 1, (long long)s, c, (long long)*isz, *k);
    }
    return MN_OK;
}

mn_status mn_teachers_soft(mn_graph *const *teachers, int nteachers,
                           const float *x, int batch, float T, float *q) {
    int64_t isz;
    int k;
    mn_status st = teachers_fit(teachers, nteachers, &isz, &k);
    if (st) return st;
    float *p = mn_alloc((size_t)batch * k, sizeof(float));
    if (!p) return mn_error(MN_ENOMEM, "out of memory");
    memset(q, 0, sizeof(float) * batch * k);
    for (int t = 0; t < nteachers; t++) {
        if ((st = mn_graph_reserve(teachers[t], batch))) break;
        const float *z = mn_graph_forward(teachers[t], x, batch, 0);
        mn_softmax_t(z, batch, k, T, p);
        for (int64_t i = 0; i < (int64_t)batch * k; i++) q[i] += p[i];
    }
    float inv = 1.0f / nteachers;
    for (int64_t i = 0; i < (int64_t)batch * k; i++) q[i] *= inv;
    mn_free(p);
    return st;
}

mn_status mn_teachers_eval(mn_graph *const *teachers, int nteachers,
                           const mn_dataset *d, mn_eval_result *r) {
    int64_t isz;
    int k;
    mn_status st = teachers_fit(teachers, nteachers, &isz, &k);
    if (st) return st;
    for (int t = 0; t < nteachers; t++)
        if ((st = mn_check_data(teachers[t], d))) return st;
    memset(r, 0, sizeof *r);
    const int B = 250;
    float *q = mn_alloc((size_t)B * k, sizeof(float));
    if (!q) return mn_error(MN_ENOMEM, "out of memory");
    double lsum = 0;
    int errors = 0;
    for (int s = 0; s < d->n && !st; s += B) {
        int b = d->n - s < B ? d->n - s : B;
        if ((st = mn_teachers_soft(teachers, nteachers, d->x + s * isz, b, 1.0f, q))) break;
        for (int i = 0; i < b; i++) {
            const float *qi = q + (int64_t)i * k;
            int best = 0;
            for (int j = 1; j < k; j++) if (qi[j] > qi[best]) best = j;
            errors += best != d->y[s + i];
            lsum -= log(fmax(qi[d->y[s + i]], 1e-30));
        }
    }
    mn_free(q);
    if (st) return st;
    r->n = d->n;
    r->errors = errors;
    r->error = (float)errors / d->n;
    r->loss = (float)(lsum / d->n);
    return MN_OK;
}

struct mn_distill {
    mn_graph *student;
    mn_graph *teachers[MN_DISTILL_MAX_TEACHERS];
    int nteachers, k;
    mn_distill_cfg cfg;
    int cap;                 /* samples the buffers hold */
    float *q;                /* cap * k soft targets */
    /* hint */
    int ht, hs;              /* node indices in teacher 1 and the student */
    int dt, ds;              /* their per-sample sizes */
    float *dr, *dh;          /* cap * dt, cap * ds */
    mn_graph reg;            /* regressor ds -> dt when the sizes differ */
    int has_reg;
    mn_optim ropt;
    mn_distill_parts parts;
};

static mn_status build_regressor(mn_distill *d) {
    mn_graph *r = &d->reg;
    mn_graph_init(r);
    if (mn_g_input(r, "h", d->ds, 1, 1) < 0 || mn_g_dense(r, "reg", "h", d->dt) < 0) return MN_EARG;
    mn_status st = mn_graph_finalize(r);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, d->cfg.seed ^ 0x4e47ULL);
    mn_graph_init_params(r, &rng);
    mn_optim_default(&d->ropt, MN_OPT_ADAM);
    d->ropt.lr = d->cfg.hint_lr;
    d->has_reg = 1;
    return MN_OK;
}

mn_status mn_distill_new(mn_graph *student, mn_graph *const *teachers,
                         int nteachers, const mn_distill_cfg *c,
                         mn_distill **out) {
    *out = NULL;
    mn_status st = mn_distill_check(c);
    if (st) return st;
    int64_t isz;
    int k;
    if ((st = teachers_fit(teachers, nteachers, &isz, &k))) return st;
    if (!student || !student->finalized) return mn_error(MN_EARG, "student is not a finalized model");
    if (mn_shape_numel(mn_graph_input_shape(student)) != isz)
        return mn_error(MN_ESHAPE, "student takes %lld inputs, the teachers %lld",
                        (long long)mn_shape_numel(mn_graph_input_shape(student)), (long long)isz);
    if (mn_shape_numel(mn_graph_output_shape(student)) != k)
        return mn_error(MN_ESHAPE, "student has %lld outputs, the teachers %d",
                        (long long)mn_shape_numel(mn_graph_output_shape(student)), k);
    mn_distill *d = calloc(1, sizeof *d);
    if (!d) return mn_error(MN_ENOMEM, "out of memory");
    d->student = student;
    memcpy(d->teachers, teachers, sizeof *teachers * nteachers);
    d->nteachers = nteachers;
    d->k = k;
    d->cfg = *c;
    d->ht = d->hs = -1;
    mn_graph_init(&d->reg);
    if (c->hint_teacher) {
        d->ht = mn_graph_find_node(teachers[0], c->hint_teacher);
        d->hs = mn_graph_find_node(student, c->hint_student);
        if (d->ht < 0) st = mn_error(MN_EARG, "hint: the (first) teacher has no node '%s'", c->hint_teacher);
        else if (d->hs < 0) st = mn_error(MN_EARG, "hint: the student has no node '%s'", c->hint_student);
        else if (student->nodes[d->hs].op == MN_OP_INPUT)
            st = mn_error(MN_EARG, "hint: student node '%s' is the input, which has nothing to learn", c->hint_student);
        if (!st) {
            int64_t dt = mn_shape_numel(&teachers[0]->nodes[d->ht].out);
            int64_t ds = mn_shape_numel(&student->nodes[d->hs].out);
            d->dt = (int)dt;
            d->ds = (int)ds;
            if (dt != ds && dt * ds > (INT64_C(1) << 26))
                st = mn_error(MN_EARG, "hint: a %lld x %lld regressor is too large; pick nodes of equal or smaller size",
                              (long long)dt, (long long)ds);
            else if (dt != ds)
                st = build_regressor(d);
        }
        if (st) { mn_distill_free(d); return st; }
    }
    *out = d;
    return MN_OK;
}

void mn_distill_free(mn_distill *d) {
    if (!d) return;
    if (d->hs >= 0 && d->student && d->hs < d->student->nnodes) d->student->nodes[d->hs].dy_extra = NULL;
    mn_free(d->q); mn_free(d->dr); mn_free(d->dh);
    mn_graph_free(&d->reg);
    free(d);
}

void mn_distill_attach(mn_distill *d, mn_train_cfg *c) {
    c->loss = mn_distill_loss;
    c->loss_ud = d;
}

static int grow(mn_distill *d, int batch) {
    if (batch <= d->cap) return 1;
    mn_free(d->q); mn_free(d->dr); mn_free(d->dh);
    d->q = mn_alloc((size_t)batch * d->k, sizeof(float));
    d->dr = d->ht >= 0 ? mn_alloc((size_t)batch * d->dt, sizeof(float)) : NULL;
    d->dh = d->ht >= 0 ? mn_alloc((size_t)batch * d->ds, sizeof(float)) : NULL;
    if (!d->q || (d->ht >= 0 && (!d->dr || !d->dh))) { d->cap = 0; return 0; }
    if (d->has_reg && mn_graph_reserve(&d->reg, batch)) { d->cap = 0; return 0; }
    d->cap = batch;
    return 1;
}

/* MSE between R h_s and h_t; writes dh (gradient into the student node,
 * weighted) and trains the regressor one step. */
static double hint_loss(mn_distill *d, int batch) {
    const float *ht = d->teachers[0]->nodes[d->ht].y, *hs = d->student->nodes[d->hs].y;
    /* A data-parallel step (mn_train under MPI): the regressor's gradient
     * is this rank's share, summed over the ranks before its step. */
    d->reg.dist_off = d->student->dist_off;
    d->reg.dist_batch = d->student->dist_batch;
    const float *r = d->has_reg ? mn_graph_forward(&d->reg, hs, batch, 1) : hs;
    int64_t n = (int64_t)batch * d->dt;
    double sum = 0, scale = 2.0 * d->cfg.hint_weight / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)r[i] - ht[i];
        sum += e * e;
        d->dr[i] = (float)(scale * e);
    }
    if (d->has_reg) {
        const float *w = mn_param_data(&d->reg, d->reg.nodes[d->reg.output].p[0]);
        /* dh = dr W (W is dt x ds), taken before the regressor moves. */
        mn_sgemm(0, 0, batch, d->ds, d->dt, 1.0f, d->dr, d->dt, w, d->ds, 0.0f, d->dh, d->ds);
        mn_graph_zero_grad(&d->reg);
        mn_graph_backward(&d->reg, d->dr, batch);
        if (d->reg.dist_batch && mn_dist_sum_f32(d->reg.gw, d->reg.nw)) return NAN;
        mn_optim_step(&d->reg, &d->ropt, d->ropt.lr);
    } else {
        memcpy(d->dh, d->dr, sizeof(float) * n);
    }
    d->student->nodes[d->hs].dy_extra = d->dh;
    return sum / (double)n;
}

float mn_distill_loss(void *ud, mn_graph *g, const float *x, const int32_t *y,
                      int batch, const float *logits, float *dlogits) {
    mn_distill *d = ud;
    (void)g;
    if (!grow(d, batch)) return NAN;
    float T = d->cfg.temperature, a = d->cfg.alpha;
    if (mn_teachers_soft(d->teachers, d->nteachers, x, batch, T, d->q)) return NAN;
    double soft, hard, hint = 0;
    kd_parts(logits, d->q, y, batch, d->k, T, a, dlogits, &soft, &hard);
    double loss = ((double)a * T * T * soft + (1.0 - a) * hard) / batch;
    if (d->ht >= 0) {
        /* Teacher 1's hint node still holds this batch: mn_teachers_soft ran
         * it, and every graph has its own activation buffers. */
        hint = hint_loss(d, batch);
        loss += d->cfg.hint_weight * hint;
    }
    d->parts.soft += soft / batch;
    d->parts.hard += hard / batch;
    d->parts.hint += hint;
    d->parts.batches++;
    return (float)loss;
}

void mn_distill_take_parts(mn_distill *d, mn_distill_parts *p) {
    *p = d->parts;
    if (p->batches) {
        p->soft /= p->batches;
        p->hard /= p->batches;
        p->hint /= p->batches;
    }
    memset(&d->parts, 0, sizeof d->parts);
}

/* The bias of the output layer: the dense/conv node the graph output is
 * reached from through parameter-free nodes (mn_prune_is_output_layer). */
static float *output_bias(mn_graph *g, int k) {
    for (int p = 0; p < g->nparams; p++) {
        if (!mn_prune_selectable(g, p, MN_SEL_WEIGHTS) || !mn_prune_is_output_layer(g, p)) continue;
        char name[2 * MN_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s", g->params[p].name);
        char *dot = strrchr(name, '.');
        if (!dot) return NULL;
        strcpy(dot, ".bias");
        int b = mn_graph_find_param(g, name);
        return b >= 0 && k < g->params[b].n ? g->w + g->params[b].off + k : NULL;
    }
    return NULL;
}

mn_status mn_distill_fix_bias(mn_graph *g, const mn_dataset *d, int k, float max, float step,
                              float *shift, float *err0, float *err1) {
    mn_status st = mn_check_data(g, d);
    if (st) return st;
    int nc = (int)mn_shape_numel(mn_graph_output_shape(g));
    if (k < 0 || k >= nc) return mn_error(MN_EARG, "class %d is not one of the model's 0..%d", k, nc - 1);
    if (!(step > 0) || !(max >= 0) || max / step > 10000) return mn_error(MN_EARG, "bad bias-shift grid");
    float *b = output_bias(g, k);
    if (!b) return mn_error(MN_EUNSUPPORTED, "the output layer has no bias to shift");
    const int B = 250;
    if ((st = mn_graph_reserve(g, B))) return st;
    int64_t isz = (int64_t)d->c * d->h * d->w;
    /* logits once; the shift only moves class k's */
    float *z = malloc(sizeof(float) * (size_t)d->n * nc);
    if (!z) return mn_error(MN_ENOMEM, "out of memory");
    for (int i0 = 0; i0 < d->n; i0 += B) {
        int n = d->n - i0 < B ? d->n - i0 : B;
        memcpy(z + (size_t)i0 * nc, mn_graph_forward(g, d->x + i0 * isz, n, 0), sizeof(float) * (size_t)n * nc);
    }
    int best = -1;
    float bs = 0;
    int nsteps = (int)(max / step + 0.5f);
    for (int s = 0; s <= nsteps; s++) {
        float sh = s * step;
        int wrong = 0;
        for (int i = 0; i < d->n; i++) {
            const float *zi = z + (size_t)i * nc;
            int am = 0;
            float bv = zi[0] + (k == 0 ? sh : 0);
            for (int c = 1; c < nc; c++) {
                float v = zi[c] + (c == k ? sh : 0);
                if (v > bv) { bv = v; am = c; }
            }
            wrong += am != d->y[i];
        }
        if (s == 0) *err0 = (float)wrong / d->n;
        if (best < 0 || wrong < best) { best = wrong; bs = sh; }
    }
    *b += bs;
    *shift = bs;
    *err1 = (float)best / d->n;
    free(z);
    return MN_OK;
}
