/* minnow data: the data sets minnow knows by name (list), their files
 * against the published checksums (verify), and downloading them (fetch).
 * docs/DATA.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "minnow/datasets.h"

static const char *HELP =
    "usage: minnow data list [--json]\n"
    "       minnow data verify NAME [--dir DIR] [--json]\n"
    "       minnow data fetch NAME [--dir DIR] [--split train|test] [--mirror URL]... [--json]\n"
    "Data sets by name (mnist, fashion-mnist, kmnist, cifar10), for --data NAME.\n"
    "A name is looked for in $MINNOW_DATA/NAME, then $XDG_DATA_HOME/minnow/NAME\n"
    "(default ~/.local/share/minnow/NAME), then where a distribution installs it\n"
    "(Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist).\n"
    "Splits: train, val, test.  Where only train and test are published, val is\n"
    "every 10th sample of train (index % 10 == 9), held out of train (docs/DATA.md).\n"
    "  list              each data set: where found, splits and sizes, verified or not\n"
    "  verify NAME       checks every file against the published MD5s (in the source)\n"
    "  fetch NAME        downloads the published files (libcurl), each verified before\n"
    "                    it takes its final name; an interrupted fetch resumes\n"
    "  --dir DIR         the data set's directory (fetch default: $XDG_DATA_HOME/minnow/NAME)\n"
    "  --split S         fetch only train or only test\n"
    "  --mirror URL      base URL to fetch from instead of the built-in mirrors (repeatable)\n"
    "  --json            one JSON object on stdout\n";

static const char *STATE[] = {"absent", "published", "same content as published"};

static const mn_data_spec *spec_of(const char *name) {
    const mn_data_spec *s = mn_data_spec_find(name);
    if (!s) {
        char names[256];
        mn_data_spec_names(names, sizeof names);
        cli_die("unknown data set '%s' (known: %s)", name, names);
    }
    return s;
}

/* Checks every published file; *nok gets how many matched, the return the
 * first that differs (its message in mn_errmsg) or -1. */
static int verify_all(const mn_data_spec *s, const char *dir, int *state, int *nok, char *bad, size_t cap) {
    int first_bad = -1;
    *nok = 0;
    for (int i = 0; i < s->nfiles; i++) {
        if (mn_data_verify_file(dir, &s->files[i], &state[i]) != MN_OK) {
            state[i] = -1;
            if (first_bad < 0) {
                first_bad = i;
                snprintf(bad, cap, "%s", mn_errmsg());
            }
        } else if (state[i]) (*nok)++;
    }
    return first_bad;
}

static int do_list(const cli_args *a) {
    const mn_data_spec *s;
    int n = mn_data_specs(&s), json = cli_flag(a, "json");
    static const char *splits[3] = {"train", "val", "test"};
    if (json) printf("{\"datasets\":[");
    for (int i = 0; i < n; i++) {
        char dir[4096], bad[1024] = "";
        int found = mn_data_find(s[i].name, dir, sizeof dir) == MN_OK;
        int cnt[3] = {-1, -1, -1}, held = 0, state[MN_DATA_MAX_FILES], nok = 0, fb = -1;
        if (found) {
            for (int k = 0; k < 3; k++) {
                mn_dataset d;
                mn_split_info si;
                if (mn_data_load_split(dir, splits[k], NULL, &d, &si) == MN_OK) {
                    cnt[k] = si.n;
                    held |= si.held_out;
                    mn_dataset_free(&d);
                }
            }
            fb = verify_all(&s[i], dir, state, &nok, bad, sizeof bad);
        }
        const char *ver = !found ? "" : fb >= 0 ? "differs from the published files" : nok ? "verified" : "not verified";
        if (json) {
            printf("%s{\"name\":\"%s\",\"found\":%s,\"dir\":%s,\"train\":%d,\"val\":%d,\"test\":%d,"
                   "\"val_held_out\":%s,\"verified\":%s}",
                   i ? "," : "", s[i].name, found ? "true" : "false", cli_jq(found ? dir : ""), cnt[0], cnt[1], cnt[2],
                   held ? "true" : "false", found && fb < 0 && nok ? "true" : "false");
        } else if (!found) {
            printf("%-14s not found          %s\n", s[i].name, s[i].what);
        } else {
            printf("%-14s %s\n", s[i].name, dir);
            printf("%-14s train %d, val %d%s, test %d; %s%s%s\n", "", cnt[0], cnt[1],
                   held ? " (held out of train)" : "", cnt[2], ver, fb >= 0 ? ": " : "", fb >= 0 ? bad : "");
        }
    }
    if (json) printf("]}\n");
    return 0;
}

static int do_verify(const cli_args *a) {
    const mn_data_spec *s = spec_of(cli_pos(a, 1, "data set NAME"));
    char dir[4096];
    const char *d = cli_str(a, "dir", NULL);
    if (d) snprintf(dir, sizeof dir, "%s", d);
    else cli_check(mn_data_find(s->name, dir, sizeof dir));
    int state[MN_DATA_MAX_FILES], nok = 0;
    char bad[1024] = "";
    int fb = verify_all(s, dir, state, &nok, bad, sizeof bad);
    if (cli_flag(a, "json")) {
        printf("{\"name\":\"%s\",\"dir\":%s,\"ok\":%s,\"files\":[", s->name, cli_jq(dir), fb < 0 && nok ? "true" : "false");
        for (int i = 0; i < s->nfiles; i++)
            printf("%s{\"file\":\"%s\",\"state\":\"%s\"}", i ? "," : "", s->files[i].name,
                   state[i] < 0 ? "differs" : STATE[state[i]]);
        printf("]}\n");
    } else {
        for (int i = 0; i < s->nfiles; i++)
            printf("%-30s %s\n", s->files[i].name, state[i] < 0 ? "DIFFERS" : STATE[state[i]]);
    }
    /* With --json the object above is the answer (held until the verb
     * returns): the reason goes to stderr and the exit is 1. */
    const char *why = fb >= 0 ? bad : !nok ? "none of the published files is there" : NULL;
    if (why && cli_flag(a, "json")) {
        fprintf(stderr, "minnow: %s%s%s\n", fb >= 0 ? "" : s->name, fb >= 0 ? "" : ": ", why);
        return 1;
    }
    fflush(stdout);
    if (fb >= 0) cli_die("%s", bad);
    if (!nok) cli_die("none of %s's published files is in %s", s->name, dir);
    return 0;
}

static void bar(void *ud, const char *file, int64_t done, int64_t total) {
    (void)ud;
    if (total > 0) {
        int w = 30, k = (int)(done * w / (total ? total : 1));
        char b[64];
        for (int i = 0; i < w; i++) b[i] = i < k ? '#' : '.';
        b[w] = 0;
        fprintf(stderr, "\r%-28s [%s] %5.1f%% of %.1f %s ", file, b, 100.0 * done / total,
                total >= 1000000 ? total / 1e6 : total / 1e3, total >= 1000000 ? "MB" : "kB");
    } else {
        fprintf(stderr, "\r%-28s %.1f MB ", file, done / 1e6);
    }
    fflush(stderr);
}

static int do_fetch(const cli_args *a) {
    const mn_data_spec *s = spec_of(cli_pos(a, 1, "data set NAME"));
    if (!mn_data_can_fetch())
        cli_die("built without libcurl: download %s's files from %s into a directory by hand (docs/DATA.md)",
                s->name, s->mirrors[0]);
    char dir[4096];
    const char *d = cli_str(a, "dir", NULL);
    if (d) snprintf(dir, sizeof dir, "%s", d);
    else cli_check(mn_data_user_dir(s->name, dir, sizeof dir));
    const char *mirrors[8];
    mn_fetch_cfg cfg = {0};
    cfg.nmirrors = cli_all(a, "mirror", mirrors, 8);
    cfg.mirrors = mirrors;
    cfg.only_split = cli_str(a, "split", NULL);
    int tty = isatty(2);
    if (tty) cfg.progress = bar;
    mn_status st = mn_data_fetch(s, dir, &cfg);
    if (tty) fputs("\r\033[K", stderr);
    cli_check(st);
    if (cli_flag(a, "json")) printf("{\"name\":\"%s\",\"dir\":%s,\"ok\":true}\n", s->name, cli_jq(dir));
    else printf("%s: %s (every file verified)\n", s->name, dir);
    return 0;
}

int cmd_data(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@2 dir: split: mirror: json", HELP);
    const char *what = cli_pos(&a, 0, "list, verify or fetch");
    if (!strcmp(what, "list")) return do_list(&a);
    if (!strcmp(what, "verify")) return do_verify(&a);
    if (!strcmp(what, "fetch")) return do_fetch(&a);
    fprintf(stderr, "minnow: data: unknown action '%s' (list, verify or fetch; see --help)\n", what);
    return 2;
}
