/* minnow checkpoint: the whole state of a training run after a completed
 * epoch, so that a killed run resumes where it stopped and, with one
 * thread, ends with exactly the model the uninterrupted run would have.
 *
 * A checkpoint holds the model (an embedded .mnw), the optimizer moments
 * (g->m, g->v), the parameter masks, the loop state (mn_train_state: epochs
 * done, step count, the training and dropout rngs, the optimizer step), the
 * epoch log so far, and the run's configuration and a CRC of its training
 * data, so that resuming with other settings or other data is refused
 * instead of silently giving a different model.  The file is written
 * atomically and read like any hostile file: every length and count is
 * checked against the bytes present, and a CRC32 covers it all.
 *
 * Layout (little-endian), version 1:
 *   "MNCK", u32 version, u64 file length
 *   run:   i32 epochs batch opt sched step_epochs augment,
 *          f32 lr momentum beta1 beta2 eps weight_decay gamma,
 *          u64 seed, u32 train samples, u32 train data CRC
 *   state: u32 epoch, u64 step, 4 x u64 rng, 4 x u64 graph rng, u64 opt.t
 *   log:   u32 count, count x (u32 epoch, f32 loss train_acc val_error
 *          val_loss, f64 seconds)
 *   model: u64 length, the .mnw bytes
 *   moments: u64 nw, nw f32 of m, nw f32 of v
 *   masks: u32 count, count x (u32 param index, ceil(n/8) bytes of bits)
 *   u32 CRC32 of every byte before it */
#ifndef MINNOW_CHECKPOINT_H
#define MINNOW_CHECKPOINT_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest epoch log a checkpoint keeps (older entries are dropped). */
#define MN_CKPT_LOG_MAX 4096

/* The settings a resumed run must share with the run that saved. */
typedef struct mn_ckpt_run {
    int epochs, batch, opt, sched, step_epochs, augment_shift;
    float lr, momentum, beta1, beta2, eps, weight_decay, gamma;
    uint64_t seed;
    uint32_t n, data_crc;   /* training samples and a CRC of their x and y */
} mn_ckpt_run;

typedef struct mn_checkpoint {
    mn_ckpt_run run;
    mn_train_state state;
    int nlog;
    mn_epoch_stats *log;    /* nlog entries, owned (mn_checkpoint_free) */
} mn_checkpoint;

/* The run description of configuration c training on `train`. */
void mn_ckpt_run_of(const mn_train_cfg *c, const mn_dataset *train, mn_ckpt_run *r);

/* Serialises g (model, moments, masks), the state s after its last
 * completed epoch and the epoch log log[0..nlog) of the run described by
 * `run` (mn_ckpt_run_of).  _mem: *buf is malloc'd and owned by the caller.
 * The file version is written atomically (a temporary beside it, fsynced,
 * renamed), so a kill leaves the previous checkpoint or the new one. */
mn_status mn_checkpoint_save_mem(const mn_graph *g, const mn_ckpt_run *run,
                                 const mn_train_state *s, const mn_epoch_stats *log,
                                 int nlog, unsigned char **buf, size_t *len);
mn_status mn_checkpoint_save(const char *path, const mn_graph *g,
                             const mn_ckpt_run *run, const mn_train_state *s,
                             const mn_epoch_stats *log, int nlog);

/* Reads a checkpoint: g gets the model with its moments and masks (g is
 * initialised here; free with mn_graph_free), ck the rest (free with
 * mn_checkpoint_free).  On failure (MN_EFORMAT for a corrupt file) g is an
 * empty graph and ck holds nothing. */
mn_status mn_checkpoint_load_mem(const unsigned char *buf, size_t len,
                                 mn_graph *g, mn_checkpoint *ck);
mn_status mn_checkpoint_load(const char *path, mn_graph *g, mn_checkpoint *ck);
void mn_checkpoint_free(mn_checkpoint *ck);

/* MN_EARG naming the first difference if ck was saved by a run with another
 * configuration or other training data than c on train. */
mn_status mn_checkpoint_match(const mn_checkpoint *ck, const mn_train_cfg *c,
                              const mn_dataset *train);
/* MN_EARG if the checkpoint's graph ck_g does not have the parameters
 * (names and shapes) of want, the graph the command line asks for. */
mn_status mn_checkpoint_match_graph(const mn_graph *ck_g, const mn_graph *want);

#ifdef __cplusplus
}
#endif
#endif
