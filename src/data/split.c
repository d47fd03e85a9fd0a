/* Splits train / val / test of a data directory.  Data sets that publish
 * only train and test (MNIST, Fashion-MNIST, KMNIST, CIFAR-10) get a fixed
 * val held out of train: the samples whose index i in the training file(s)
 * has i % 10 == 9, the same samples on every machine, and train is the
 * other nine tenths.  A directory with a val split of its own keeps it and
 * its whole train (docs/DATA.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minnow/datasets.h"

#define HOLD_EVERY 10

static int exists(const char *dir, const char *name) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int mn_data_has_split(const char *dir, const char *split) {
    char n[128];
    const char *pre[2] = {split, !strcmp(split, "test") ? "t10k" : NULL};
    if (strlen(split) > 64) return 0;
    for (int p = 0; p < 2 && pre[p]; p++) {
        snprintf(n, sizeof n, "%s-images-idx3-ubyte", pre[p]);
        if (exists(dir, n)) return 1;
        snprintf(n, sizeof n, "%s-images-idx3-ubyte.gz", pre[p]);
        if (exists(dir, n)) return 1;
    }
    snprintf(n, sizeof n, "%s.csv", split);
    if (exists(dir, n)) return 1;
    snprintf(n, sizeof n, "%s_batch.bin", split);
    if (exists(dir, n)) return 1;
    snprintf(n, sizeof n, "%s_batch_1.bin", !strcmp(split, "train") ? "data" : split);
    return exists(dir, n);
}

/* Keeps the samples with (i % HOLD_EVERY == HOLD_EVERY - 1) == keep_val. */
static mn_status take(mn_dataset *d, int keep_val) {
    size_t per = (size_t)d->c * d->h * d->w;
    int m = 0;
    for (int i = 0; i < d->n; i++) {
        if ((i % HOLD_EVERY == HOLD_EVERY - 1) != keep_val) continue;
        if (m != i) {
            memmove(d->x + (size_t)m * per, d->x + (size_t)i * per, per * sizeof(float));
            d->y[m] = d->y[i];
        }
        m++;
    }
    if (!m) return mn_error(MN_EFORMAT, "train has %d samples: too few to hold out a val split", d->n);
    d->n = m; /* nclass stays that of the whole file: train and val agree */
    return MN_OK;
}

mn_status mn_data_load_split(const char *dir, const char *split, const char *label, mn_dataset *out,
                             mn_split_info *info) {
    mn_split_info tmp;
    if (!info) info = &tmp;
    memset(info, 0, sizeof *info);
    snprintf(info->split, sizeof info->split, "%s", split ? split : "");
    int is_train = split && !strcmp(split, "train"), is_val = split && !strcmp(split, "val");
    int hold = (is_train || is_val) && !mn_data_has_split(dir, "val") && mn_data_has_split(dir, "train");
    mn_status st = mn_data_load_label(dir, hold ? "train" : split, label, out);
    if (st) return st;
    info->of = out->n;
    if (hold && (st = take(out, is_val))) {
        mn_dataset_free(out);
        return st;
    }
    info->n = out->n;
    info->held_out = hold;
    return MN_OK;
}
