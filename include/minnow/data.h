/* minnow data: IDX (raw or gzip), CIFAR-10 binary batches and CSV readers,
 * shuffling, batching and augmentation.  Pixels are scaled to [0, 1]; the
 * per-channel normalisation belongs to the model's input node, so a saved
 * model takes raw [0, 1] pixels. */
#ifndef MINNOW_DATA_H
#define MINNOW_DATA_H

#include "minnow/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_dataset {
    int n;          /* samples */
    int c, h, w;    /* per-sample shape; CSV rows are c = features, h = w = 1 */
    int nclass;     /* 1 + the largest label (at least 1) */
    float *x;       /* n * c*h*w floats, sample-major, channel-major (NCHW) */
    int32_t *y;     /* n labels, each in [0, nclass) */
} mn_dataset;

/* DIR/SPLIT-images-idx3-ubyte[.gz] and DIR/SPLIT-labels-idx1-ubyte[.gz];
 * split "test" also finds t10k-*.  Also finds CIFAR-10 (DIR/SPLIT_batch*.bin,
 * DIR/data_batch_*.bin for "train", DIR/test_batch.bin for "test") and
 * DIR/SPLIT.csv.  On success *out owns its arrays (mn_dataset_free). */
mn_status mn_data_load(const char *dir, const char *split, mn_dataset *out);
/* The same; a CSV's label column is `label` (a header name, any case, or a
 * 0-based index), or with label NULL the column headed "label" (none is an
 * error listing the header). */
mn_status mn_data_load_label(const char *dir, const char *split, const char *label,
                             mn_dataset *out);
mn_status mn_data_load_idx(const char *images_path, const char *labels_path,
                           mn_dataset *out);
/* CSV with a header row; label_col is the 0-based column holding an integer
 * label >= 0, every other column is a float feature. */
mn_status mn_data_load_csv(const char *path, int label_col, mn_dataset *out);
/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes. */
mn_status mn_data_load_cifar(const char *const *paths, int npaths,
                             mn_dataset *out);
void mn_dataset_free(mn_dataset *d);
/* In place (nclass stays): keep == 0 removes every sample labelled k (a
 * transfer set without one class, Hinton et al. 2015's "no 3"), keep != 0
 * keeps only those.  MN_EARG if k is outside [0, nclass) or no sample would
 * remain. */
mn_status mn_dataset_filter_class(mn_dataset *d, int k, int keep);

/* Per-channel mean and standard deviation over the whole set (c floats each). */
void mn_data_stats(const mn_dataset *d, float *mean, float *std);

/* perm[i] = i, then a Fisher-Yates shuffle driven by r. */
void mn_data_shuffle(int *perm, int n, mn_rng *r);
/* Copies samples idx[0..b) into x (b*c*h*w floats) and y (b labels). */
void mn_data_gather(const mn_dataset *d, const int *idx, int b, float *x,
                    int32_t *y);
/* Shifts each image by a random offset in [-max_shift, max_shift] in both
 * directions, filling uncovered pixels with 0 (in place). */
void mn_data_augment_shift(float *x, int b, int c, int h, int w, int max_shift,
                           mn_rng *r);

#ifdef __cplusplus
}
#endif
#endif
