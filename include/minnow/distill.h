/* minnow distill: knowledge distillation (Hinton, Vinyals & Dean 2015) from
 * one teacher or an ensemble, with an optional FitNets hint (Romero et al.
 * 2015) on an intermediate layer; and online distillation between peers
 * trained together (deep mutual learning, below).
 *
 * The student trains through mn_train's loss hook.  For every batch the hook
 * runs each teacher forward (train = 0: no dropout, running batchnorm stats,
 * no gradients kept), averages the teachers' probabilities at temperature T
 * and returns
 *
 *   L = alpha * T^2 * CE(q_T, softmax(z_s / T)) + (1 - alpha) * CE(y, softmax(z_s))
 *       [+ hint_weight * mean((R h_s - h_t)^2)]
 *
 * where q_T = mean over teachers of softmax(z_t / T).  The T^2 keeps the soft
 * term's gradient on the scale of the hard one as T changes.  The hint
 * compares a teacher node's output h_t with a student node's output h_s
 * (mean squared error over batch and features); when their sizes differ, R
 * is a learned linear regressor (dense, with bias) trained jointly with its
 * own Adam, as in FitNets; when they are equal, R is the identity.  Its
 * gradient reaches the student through mn_node.dy_extra. */
#ifndef MINNOW_DISTILL_H
#define MINNOW_DISTILL_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MN_DISTILL_MAX_TEACHERS 16

typedef struct mn_distill_cfg {
    float temperature;          /* T > 0 */
    float alpha;                /* weight of the soft term, in [0, 1] */
    const char *hint_teacher;   /* teacher node name, or NULL for no hint */
    const char *hint_student;   /* student node name (both or neither) */
    float hint_weight;          /* >= 0 */
    float hint_lr;              /* Adam learning rate of the regressor */
    uint64_t seed;              /* regressor initialisation */
} mn_distill_cfg;

/* T 4, alpha 0.9, no hint (weight 1 and lr 1.2e-3 when one is named). */
void mn_distill_default(mn_distill_cfg *c);
/* MN_EARG with a clear message for T <= 0 or non-finite, alpha outside
 * [0, 1], a negative hint weight, or only one of the two hint nodes. */
mn_status mn_distill_check(const mn_distill_cfg *c);

/* The distillation loss on logits alone: zs[b, k] student logits, q[b, k]
 * soft targets (rows summing to 1, already at temperature T), y hard labels.
 * Returns the batch mean of L above (without the hint); writes dL/dzs into dz
 * when it is non-NULL. */
float mn_kd_loss(const float *zs, const float *q, const int32_t *y, int batch,
                 int k, float T, float alpha, float *dz);

/* Averaged softened probabilities of the teachers on x: q[b, k] =
 * mean_t softmax(z_t / T).  Teachers must share the input size and output
 * count; they are reserved for `batch` here. */
mn_status mn_teachers_soft(mn_graph *const *teachers, int nteachers,
                           const float *x, int batch, float T, float *q);
/* Error of the ensemble (argmax of the averaged T = 1 probabilities). */
mn_status mn_teachers_eval(mn_graph *const *teachers, int nteachers,
                           const mn_dataset *d, mn_eval_result *r);

/* The state behind the loss hook: teachers (borrowed, not freed here),
 * buffers, the hint regressor.  Ownership: the caller keeps the student and
 * the teachers alive until mn_distill_free. */
typedef struct mn_distill mn_distill;

/* Checks the configuration and that every teacher fits the student (same
 * input size and class count, hint nodes present and not the input). */
mn_status mn_distill_new(mn_graph *student, mn_graph *const *teachers,
                         int nteachers, const mn_distill_cfg *c,
                         mn_distill **out);
/* Clears the student's dy_extra and frees the state (NULL is fine). */
void mn_distill_free(mn_distill *d);
/* Points c->loss / c->loss_ud at the distillation loss. */
void mn_distill_attach(mn_distill *d, mn_train_cfg *c);
/* The mn_loss_fn itself (ud is the mn_distill).  Returns NAN, which stops
 * mn_train, if a buffer cannot be allocated. */
float mn_distill_loss(void *ud, mn_graph *g, const float *x, const int32_t *y,
                      int batch, const float *logits, float *dlogits);

/* Hinton et al. 2015's correction for a class the student never saw: the
 * shift of the output bias of class k, among 0, step, 2 step, ... max, that
 * gives the fewest errors on d (a labelled set that has class k, not the
 * one reported on), is added to g's output layer.  *shift: the shift
 * chosen; *err0, *err1: the error on d before and after. */
mn_status mn_distill_fix_bias(mn_graph *g, const mn_dataset *d, int k, float max, float step,
                              float *shift, float *err0, float *err1);

/* Online distillation: deep mutual learning (Zhang et al. 2018).  peers[0]
 * trains through mn_train with cfg's loss hook pointed here
 * (mn_mutual_attach); the hook steps peers 1..n-1 on the same batch with
 * their own optimizers (cfg's kind, rate and schedule; ntrain: the training
 * set's size, for the schedule).  Each peer's loss is mn_kd_loss towards the
 * mean of the other peers' softened predictions (T, alpha).  The peers must
 * stay alive until mn_mutual_free. */
typedef struct mn_mutual mn_mutual;
mn_status mn_mutual_new(mn_graph **peers, int n, const mn_train_cfg *cfg, float T, float alpha, int ntrain,
                        mn_mutual **out);
void mn_mutual_attach(mn_mutual *m, mn_train_cfg *c);
float mn_mutual_loss(void *ud, mn_graph *g, const float *x, const int32_t *y, int batch, const float *logits,
                     float *dlogits);
void mn_mutual_free(mn_mutual *m);

/* Running means of the loss parts since the last call (for reports); resets. */
typedef struct mn_distill_parts { double soft, hard, hint; long batches; } mn_distill_parts;
void mn_distill_take_parts(mn_distill *d, mn_distill_parts *p);

#ifdef __cplusplus
}
#endif
#endif
