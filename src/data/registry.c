/* The data sets minnow knows by name: where they are published (with
 * mirrors), their published checksums, where they are looked for, and the
 * check of files on disk against those checksums (docs/DATA.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minnow/datasets.h"

#define IDX_FILES(ti, tib, tl, tlb, ei, eib, el, elb) \
    {{"train-images-idx3-ubyte.gz", "train", ti, tib, NULL}, \
     {"train-labels-idx1-ubyte.gz", "train", tl, tlb, NULL}, \
     {"t10k-images-idx3-ubyte.gz", "test", ei, eib, NULL},   \
     {"t10k-labels-idx1-ubyte.gz", "test", el, elb, NULL}}

/* MD5s as their publishers list them (MNIST: LeCun's page and torchvision's
 * mirror; Fashion-MNIST: its README; KMNIST: ROIS-CODH; CIFAR-10: Krizhevsky's
 * page).  content_md5 values are of the decompressed files, computed here
 * from files whose published MD5 matched (MNIST train) or from Debian's
 * dataset-fashion-mnist, which ships the same images recompressed. */
static const mn_data_spec g_specs[] = {
    {"mnist", "MNIST handwritten digits, 28x28 grey, 10 classes (60000 train, 10000 test)",
     {"https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/",
      "https://storage.googleapis.com/cvdf-datasets/mnist/"},
     4,
     {{"train-images-idx3-ubyte.gz", "train", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422,
       "6bbc9ace898e44ae57da46a324031adb"},
      {"train-labels-idx1-ubyte.gz", "train", "d53e105ee54ea40749a09fcbcd1e9432", 28881,
       "a25bea736e30d166cdddb491f175f624"},
      {"t10k-images-idx3-ubyte.gz", "test", "9fb629c4189551a2d022fa330f9573f3", 1648877, NULL},
      {"t10k-labels-idx1-ubyte.gz", "test", "ec29112dd5afa0611ce80d1b7f02629c", 4542, NULL}},
     NULL, 0},
    {"fashion-mnist", "Fashion-MNIST (Zalando) clothing, 28x28 grey, 10 classes (60000 train, 10000 test)",
     {"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/", NULL},
     4,
     {{"train-images-idx3-ubyte.gz", "train", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880,
       "f4a8712d7a061bf5bd6d2ca38dc4d50a"},
      {"train-labels-idx1-ubyte.gz", "train", "25c81989df183df01b3e8a0aad5dffbe", 29515,
       "9018921c3c673c538a1fc5bad174d6f9"},
      {"t10k-images-idx3-ubyte.gz", "test", "bef4ecab320f06d8554ea6380940ec79", 4422102,
       "8181f5470baa50b63fa0f6fddb340f0a"},
      {"t10k-labels-idx1-ubyte.gz", "test", "bb300cfdad3c16e7a12a480ee83cd310", 5148,
       "15d484375f8d13e6eb1aabb0c3f46965"}},
     "/usr/share/datasets/fashion-mnist", 0},
    {"kmnist", "Kuzushiji-MNIST (ROIS-CODH) cursive Japanese, 28x28 grey, 10 classes (60000 train, 10000 test)",
     {"http://codh.rois.ac.jp/kmnist/dataset/kmnist/", NULL, NULL},
     4,
     IDX_FILES("bdb82020997e1d708af4cf47b453dcf7", 0, "e144d726b3acfaa3e44228e80efcd344", 0,
               "5c965bf0a639b31b8f53240b1b52f4d7", 0, "7320c461ea6c1c855c0b718fb2a4b134", 0),
     "/usr/share/datasets/kmnist", 0},
    {"cifar10", "CIFAR-10 (Krizhevsky) 32x32 colour, 10 classes (50000 train, 10000 test), binary version",
     {"https://www.cs.toronto.edu/~kriz/", NULL, NULL},
     1,
     {{"cifar-10-binary.tar.gz", "train", "c32a1d4ab5d03f1284b67883e8d87530", 170052171, NULL}},
     "/usr/share/datasets/cifar10", 1},
};
#define NSPECS (int)(sizeof g_specs / sizeof g_specs[0])

int mn_data_specs(const mn_data_spec **out) {
    *out = g_specs;
    return NSPECS;
}

const mn_data_spec *mn_data_spec_find(const char *name) {
    for (int i = 0; name && i < NSPECS; i++)
        if (!strcmp(g_specs[i].name, name)) return &g_specs[i];
    return NULL;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

mn_status mn_data_user_dir(const char *name, char *dir, size_t cap) {
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && *xdg == '/') n = snprintf(dir, cap, "%s/minnow/%s", xdg, name);
    else if (home && *home) n = snprintf(dir, cap, "%s/.local/share/minnow/%s", home, name);
    else return mn_error(MN_EARG, "neither XDG_DATA_HOME nor HOME is set: pass a directory");
    if (n < 0 || (size_t)n >= cap) return mn_error(MN_EARG, "data path too long");
    return MN_OK;
}

mn_status mn_data_find(const char *name, char *dir, size_t cap) {
    const mn_data_spec *s = mn_data_spec_find(name);
    char cand[3][1024], looked[3200] = "";
    int nc = 0;
    const char *md = getenv("MINNOW_DATA");
    if (md && *md) snprintf(cand[nc++], sizeof cand[0], "%s/%s", md, name);
    if (mn_data_user_dir(name, cand[nc], sizeof cand[0]) == MN_OK) nc++;
    if (s && s->system_dir) snprintf(cand[nc++], sizeof cand[0], "%s", s->system_dir);
    for (int i = 0; i < nc; i++) {
        if (is_dir(cand[i]) && mn_data_has_split(cand[i], "train")) {
            if (strlen(cand[i]) >= cap) return mn_error(MN_EARG, "data path too long");
            strcpy(dir, cand[i]);
            return MN_OK;
        }
        size_t l = strlen(looked);
        snprintf(looked + l, sizeof looked - l, "%s%s", i ? ", " : "", cand[i]);
    }
    return mn_error(MN_EIO, "data set '%s' not found (%s%s): `minnow data fetch %s` downloads it%s",
                    name, nc ? "looked in " : "nowhere to look: MINNOW_DATA and HOME are unset", looked,
                    name, !strcmp(name, "fashion-mnist") ? ", or apt-get install dataset-fashion-mnist" : "");
}

void mn_data_spec_names(char *out, size_t cap) {
    const mn_data_spec *s;
    int n = mn_data_specs(&s);
    if (cap) out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i ? ", " : "", s[i].name);
    }
}

mn_status mn_data_resolve(const char *arg, char *dir, size_t cap) {
    if (!arg || !*arg) return mn_error(MN_EARG, "empty --data");
    if (is_dir(arg) || strchr(arg, '/') || !mn_data_spec_find(arg)) {
        if (!is_dir(arg)) {
            char names[256];
            mn_data_spec_names(names, sizeof names);
            return mn_error(MN_EIO, "data directory %s not found (and it is not a data set name: %s)", arg, names);
        }
        if (strlen(arg) >= cap) return mn_error(MN_EARG, "data path too long: %s", arg);
        strcpy(dir, arg);
        return MN_OK;
    }
    return mn_data_find(arg, dir, cap);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

mn_status mn_data_verify_file(const char *dir, const mn_data_file *f, int *state) {
    char path[4200], hex[33], raw[33];
    mn_status st;
    *state = 0;
    snprintf(path, sizeof path, "%s/%s", dir, f->name);
    if (is_file(path)) {
        if ((st = mn_md5_file(path, 0, raw))) return st;
        if (!strcmp(raw, f->md5)) return *state = 1, MN_OK;
        size_t l = strlen(f->name);
        if (f->content_md5 && l > 3 && !strcmp(f->name + l - 3, ".gz") && mn_md5_file(path, 1, hex) == MN_OK &&
            !strcmp(hex, f->content_md5))
            return *state = 2, MN_OK;
        return mn_error(MN_EFORMAT, "%s differs from the published file (MD5 %s, published %s)", path, raw,
                        f->md5);
    }
    /* A decompressed copy: DIR/NAME without ".gz". */
    size_t l = strlen(path);
    if (l > 3 && !strcmp(path + l - 3, ".gz")) {
        path[l - 3] = 0;
        if (is_file(path)) {
            if (!f->content_md5)
                return mn_error(MN_EFORMAT, "%s: no published checksum for the decompressed file (keep %s.gz)",
                                path, path);
            if ((st = mn_md5_file(path, 0, hex))) return st;
            if (!strcmp(hex, f->content_md5)) return *state = 2, MN_OK;
            return mn_error(MN_EFORMAT, "%s differs from the published content (MD5 %s, expected %s)", path,
                            hex, f->content_md5);
        }
    }
    return MN_OK;
}
