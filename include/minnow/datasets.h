/* minnow datasets: well-known data sets by name (where they are found, their
 * published checksums, their splits), verification and download.
 * docs/DATA.md describes the names, the lookup order, the splits and the
 * held-out val.  Library code: nothing here prints. */
#ifndef MINNOW_DATASETS_H
#define MINNOW_DATASETS_H

#include <stdint.h>

#include "minnow/core.h"
#include "minnow/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One file as its publisher ships it. */
typedef struct mn_data_file {
    const char *name;        /* e.g. "train-images-idx3-ubyte.gz" */
    const char *split;       /* "train" or "test" */
    const char *md5;         /* published MD5 of the file as downloaded */
    int64_t bytes;           /* published size, 0 if unknown */
    const char *content_md5; /* MD5 of the decompressed content, NULL if unknown */
} mn_data_file;

#define MN_DATA_MAX_FILES 4
#define MN_DATA_MAX_MIRRORS 3

typedef struct mn_data_spec {
    const char *name;                       /* "mnist", "fashion-mnist", ... */
    const char *what;                       /* one line for `minnow data list` */
    const char *mirrors[MN_DATA_MAX_MIRRORS]; /* base URLs, canonical first */
    int nfiles;
    mn_data_file files[MN_DATA_MAX_FILES];
    const char *system_dir;                 /* where a distribution installs it, or NULL */
    int archive;                            /* 1: files[0] is a .tar.gz holding the split files */
} mn_data_spec;

/* The known data sets, and one of them by name (NULL if unknown). */
int mn_data_specs(const mn_data_spec **out);
const mn_data_spec *mn_data_spec_find(const char *name);
/* The known names, ", "-separated, into out (for messages). */
void mn_data_spec_names(char *out, size_t cap);

/* Where a named data set is found: $MINNOW_DATA/NAME, then
 * $XDG_DATA_HOME/minnow/NAME (default ~/.local/share/minnow/NAME), then the
 * spec's system directory.  A directory counts when it holds a train split.
 * On failure the message lists every place looked at. */
mn_status mn_data_find(const char *name, char *dir, size_t cap);
/* The directory `minnow data fetch` writes to without --dir:
 * $XDG_DATA_HOME/minnow/NAME (default ~/.local/share/minnow/NAME). */
mn_status mn_data_user_dir(const char *name, char *dir, size_t cap);
/* `arg` as --data takes it: an existing directory, else a data set name
 * looked up with mn_data_find. */
mn_status mn_data_resolve(const char *arg, char *dir, size_t cap);

/* Which samples a split holds. */
typedef struct mn_split_info {
    char split[16];   /* the split asked for */
    int n;            /* samples in it */
    int of;           /* samples in the file(s) it came from */
    int held_out;     /* 1: val is the held-out part of train, or train excludes it */
} mn_split_info;

/* Loads `split` of DIR (train, val, test or any name mn_data_load knows).
 * When DIR has no val split of its own, val is the fixed held-out part of
 * train (every sample whose 0-based index i has i % 10 == 9) and train is
 * the rest; test is DIR's test (t10k) split.  label: CSV label column (a
 * header name or a 0-based index), NULL for the column headed "label".
 * info may be NULL. */
mn_status mn_data_load_split(const char *dir, const char *split, const char *label,
                             mn_dataset *out, mn_split_info *info);
/* 1 if DIR holds files for `split` (without loading them). */
int mn_data_has_split(const char *dir, const char *split);

/* Checks one file of a spec in DIR.  Returns MN_OK with *state set:
 * 0 absent, 1 the published file, 2 the published content recompressed or
 * decompressed (DIR/name without .gz, or a different gzip of it);
 * MN_EFORMAT (with a message naming the file) when it differs. */
mn_status mn_data_verify_file(const char *dir, const mn_data_file *f, int *state);

/* Downloads a spec's files into DIR through libcurl.  Each file goes to
 * DIR/NAME.part (resumed when the server allows, else restarted), is
 * checked against its MD5, and only then renamed to DIR/NAME; files already
 * there and verified are kept.  mirrors: base URLs to use instead of the
 * spec's (NULL for the spec's).  only_split: fetch only that split's files
 * (NULL for all).  progress: called as bytes arrive (total 0 if unknown).
 * Offline, the message names the URLs, the files and DIR. */
typedef struct mn_fetch_cfg {
    const char *const *mirrors;
    int nmirrors;
    const char *only_split;
    void (*progress)(void *ud, const char *file, int64_t done, int64_t total);
    void *ud;
} mn_fetch_cfg;
mn_status mn_data_fetch(const mn_data_spec *s, const char *dir, const mn_fetch_cfg *cfg);
/* 1 if this build has libcurl (mn_data_fetch works), 0 if not. */
int mn_data_can_fetch(void);

/* MD5 of a whole file (hex, 33 bytes with the NUL); decompressed with zlib
 * when gunzip is 1. */
mn_status mn_md5_file(const char *path, int gunzip, char hex[33]);

#ifdef __cplusplus
}
#endif
#endif
