/* What the CLI guarantees about its outputs (docs/HARDENING.md):
 *  - output files named by options are checked before any work starts;
 *  - positional arguments beyond what a verb takes are refused;
 *  - --json output is all or nothing: stdout is held in a temporary file and
 *    copied out only when the verb returns, never after cli_die, a usage
 *    error or a signal;
 *  - SIGINT/SIGTERM remove the temporary files of atomic writes in flight. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "minnow/io.h"
#include "core/file.h"

/* Spec tokens: "@N" (at most N positional arguments); "name:dir" (a value
 * that names an output directory); "o:" and "svg:" name output files. */
void cli_spec_checks(const cli_args *a, const char *spec) {
    const char *at = strchr(spec, '@');
    if (at && (at == spec || at[-1] == ' ')) {
        int max = atoi(at + 1);
        if (a->npos > max) {
            fprintf(stderr, "minnow: unexpected argument '%s' (see --help)\n", a->pos[max]);
            exit(2);
        }
    }
    for (int i = 0; i < a->n; i++) {
        /* "KEY:dir" in the spec: KEY names an output directory */
        char dkey[48];
        snprintf(dkey, sizeof dkey, "%s:dir", a->key[i]);
        const char *hit = strstr(spec, dkey);
        int dir = hit && (hit == spec || hit[-1] == ' ');
        int file = (!strcmp(a->key[i], "o") || !strcmp(a->key[i], "svg")) && !dir;
        if (file) {
            cli_check(mn_output_check(a->val[i]));
        } else if (dir) {
            size_t n = strlen(a->val[i]);
            if (!n) cli_die("empty output directory");
            if (n > MN_PATH_MAX - 64) cli_die("output directory path too long (%zu bytes)", n);
        }
    }
}

static int g_json_fd = -1;  /* the real stdout while --json output is held */
static FILE *g_json_tmp;

void cli_json_hold(int argc, char **argv) {
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return;
        if (!strcmp(argv[i], "--json")) json = 1;
    }
    if (!json) return;
    fflush(stdout);
    FILE *t = tmpfile();
    if (!t) return; /* best effort: unbuffered behaviour as before */
    int keep = dup(1);
    if (keep < 0 || dup2(fileno(t), 1) < 0) {
        if (keep >= 0) close(keep);
        fclose(t);
        return;
    }
    g_json_fd = keep;
    g_json_tmp = t;
}

int cli_json_release(void) {
    if (g_json_fd < 0) return 0;
    int bad = fflush(stdout) != 0;
    rewind(g_json_tmp);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, g_json_tmp)) > 0) {
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(g_json_fd, buf + off, n - off);
            if (w <= 0) { bad = 1; break; }
            off += (size_t)w;
        }
        if (off < n) break;
    }
    /* Later writes (none expected) go to the real stdout again. */
    dup2(g_json_fd, 1);
    close(g_json_fd);
    g_json_fd = -1;
    fclose(g_json_tmp);
    g_json_tmp = NULL;
    return bad;
}

static void on_signal(int sig) {
    mn_afile_remove_temps();
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction old;
        /* A signal ignored on entry (nohup, a background job) stays ignored. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
    }
}
