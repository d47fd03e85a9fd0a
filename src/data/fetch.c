/* `minnow data fetch`: downloads a data set's published files through
 * libcurl.  A file is written to NAME.part, resumed with an HTTP range
 * when a .part is already there (restarted when the server will not), and
 * takes its final name only after its MD5 matched the published one, so
 * a name without .part is always a complete, verified file.  Built without
 * libcurl, mn_data_fetch says so. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/fetch_impl.h"
#include "minnow/datasets.h"

#ifdef MINNOW_HAVE_CURL
#include <curl/curl.h>
#endif
#include <stdarg.h>

int mn_data_can_fetch(void) {
#ifdef MINNOW_HAVE_CURL
    return 1;
#else
    return 0;
#endif
}

#ifdef MINNOW_HAVE_CURL
/* Appends to a message buffer, cutting what does not fit. */
static void appendf(char *buf, size_t cap, const char *fmt, ...) {
    size_t l = strlen(buf);
    if (l + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + l, cap - l, fmt, ap);
    va_end(ap);
}

static int64_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
}

/* fsync of a file by name, then of its directory, so a rename survives a
 * crash with the data it names. */
static int sync_path(const char *p) {
    int fd = open(p, O_RDONLY);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static void sync_dir(const char *dir) { (void)sync_path(dir); }

/* Every regular member under cifar-10-batches-bin/ ending in .bin goes to
 * DIR/basename (through a .part name and a rename, like the downloads). */
mn_status mn__untar_bins(const char *tgz, const char *dir) {
    gzFile g = gzopen(tgz, "rb");
    if (!g) return mn_error(MN_EIO, "cannot open %s", tgz);
    unsigned char h[512];
    static char buf[1 << 16];
    mn_status st = MN_OK;
    int nbin = 0;
    for (;;) {
        int r = gzread(g, h, 512);
        if (r == 0) break;
        if (r != 512) { st = mn_error(MN_EFORMAT, "%s: truncated tar header", tgz); break; }
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++) zero = !h[i];
        if (zero) break; /* end of archive */
        char name[101], szs[13];
        memcpy(name, h, 100), name[100] = 0;
        memcpy(szs, h + 124, 12), szs[12] = 0;
        char *e;
        long long size = strtoll(szs, &e, 8);
        if (e == szs || size < 0 || size > (1LL << 34)) { st = mn_error(MN_EFORMAT, "%s: bad tar header", tgz); break; }
        int type = h[156];
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        size_t bl = strlen(base);
        FILE *out = NULL;
        char path[4200], part[4300];
        if ((type == '0' || type == 0) && !strncmp(name, "cifar-10-batches-bin/", 21) && bl > 4 &&
            !strcmp(base + bl - 4, ".bin") && !strchr(base, '\\')) {
            snprintf(path, sizeof path, "%s/%s", dir, base);
            snprintf(part, sizeof part, "%s.part", path);
            if (!(out = fopen(part, "wb"))) { st = mn_error(MN_EIO, "cannot write %s", part); break; }
        }
        long long left = (size + 511) / 512 * 512, data = size;
        while (left > 0 && !st) {
            int want = left < (long long)sizeof buf ? (int)left : (int)sizeof buf;
            int got = gzread(g, buf, (unsigned)want);
            if (got <= 0) { st = mn_error(MN_EFORMAT, "%s: truncated archive", tgz); break; }
            int use = data < got ? (int)data : got;
            if (out && use > 0 && fwrite(buf, 1, (size_t)use, out) != (size_t)use)
                st = mn_error(MN_EIO, "write error on %s", part);
            data -= use, left -= got;
        }
        if (out) {
            if (fflush(out) || fsync(fileno(out))) st = st ? st : mn_error(MN_EIO, "write error on %s", part);
            fclose(out);
            if (!st && rename(part, path)) st = mn_error(MN_EIO, "cannot rename %s", part);
            if (st) remove(part);
            else nbin++;
        }
        if (st) break;
    }
    gzclose(g);
    if (!st && !nbin) st = mn_error(MN_EFORMAT, "%s holds no cifar-10-batches-bin/*.bin", tgz);
    if (!st) sync_dir(dir);
    return st;
}

typedef struct {
    FILE *f;
    const mn_fetch_cfg *cfg;
    const char *name;
    int64_t base, total;
    double last;
} xfer;

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
    xfer *x = ud;
    return fwrite(p, sz, n, x->f) * sz;
}

static int on_info(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)ultotal, (void)ulnow;
    xfer *x = ud;
    if (x->cfg && x->cfg->progress) {
        double now = mn_now();
        if (now - x->last >= 0.1 || (dltotal && dlnow == dltotal)) {
            x->last = now;
            int64_t tot = x->total ? x->total : (dltotal ? x->base + dltotal : 0);
            x->cfg->progress(x->cfg->ud, x->name, x->base + dlnow, tot);
        }
    }
    return 0;
}

/* One attempt: appends URL's bytes from `from` on to part.  Returns the
 * curl code; *http gets the HTTP status. */
static CURLcode get(CURL *c, const char *url, const char *part, int64_t from, xfer *x, long *http,
                    char *err) {
    x->f = fopen(part, from ? "ab" : "wb");
    if (!x->f) { err[0] = 0; appendf(err, CURL_ERROR_SIZE, "cannot write %s: %s", part, strerror(errno)); return CURLE_WRITE_ERROR; }
    x->base = from;
    x->last = 0;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 64L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "minnow-data-fetch");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_info);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    if (from) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)from);
    err[0] = 0;
    CURLcode rc = curl_easy_perform(c);
    *http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
    if (fflush(x->f) || fsync(fileno(x->f))) rc = rc ? rc : CURLE_WRITE_ERROR;
    fclose(x->f);
    x->f = NULL;
    if (rc && !err[0]) snprintf(err, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
    return rc;
}

/* 1 if part is complete and its MD5 is the published one. */
static int part_ok(const char *part, const mn_data_file *f, char *hex) {
    int64_t sz = file_size(part);
    if (sz < 0 || (f->bytes && sz != f->bytes)) return 0;
    return mn_md5_file(part, 0, hex) == MN_OK && !strcmp(hex, f->md5);
}

/* Fetches one file; MN_OK once DIR/NAME is the verified file.  MN_EIO
 * when no mirror gave it (`why` says what each did; *corrupt is set when
 * one served a complete file with the wrong checksum); any other status is
 * a local failure (the verified file could not be put in place). */
static mn_status fetch_one(CURL *c, const char *dir, const mn_data_file *f, const char *const *mirrors,
                           int nm, const mn_fetch_cfg *cfg, char *why, size_t wcap, int *corrupt) {
    char path[4200], part[4300], url[4400], hex[33] = "", err[CURL_ERROR_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, f->name);
    snprintf(part, sizeof part, "%s.part", path);
    why[0] = 0;
    for (int m = 0; m < nm; m++) {
        snprintf(url, sizeof url, "%s%s%s", mirrors[m], mirrors[m][strlen(mirrors[m]) - 1] == '/' ? "" : "/",
                 f->name);
        for (int attempt = 0; attempt < 2; attempt++) {
            int64_t have = file_size(part);
            if (have < 0 || (f->bytes && have >= f->bytes)) have = 0; /* restart, never trust an over-long part */
            xfer x = {NULL, cfg, f->name, 0, f->bytes, 0};
            long http = 0;
            CURLcode rc = get(c, url, part, have, &x, &http, err);
            if (rc == CURLE_RANGE_ERROR || (have && rc == CURLE_HTTP_RETURNED_ERROR && http == 416)) {
                remove(part); /* the server will not resume: start over */
                continue;
            }
            size_t wl = strlen(why);
            if (rc) {
                appendf(why, wcap, "%s%s: %s", wl ? "; " : "", url, err);
                if (file_size(part) == 0) remove(part);
                break; /* a non-empty .part stays, for a later resume */
            }
            if (part_ok(part, f, hex)) {
                if (sync_path(part) || rename(part, path))
                    return mn_error(MN_EFORMAT, "%s is verified but cannot be renamed to %s: %s", part, path,
                                    strerror(errno));
                sync_dir(dir);
                return MN_OK;
            }
            int64_t sz = file_size(part);
            remove(part);
            if (have) { hex[0] = 0; continue; } /* a bad resumed file: once more from the start */
            *corrupt = 1;
            appendf(why, wcap, "%s%s: %lld bytes with MD5 %s, published %s: refused", wl ? "; " : "", url,
                     (long long)sz, hex[0] ? hex : "?", f->md5);
            break;
        }
    }
    return MN_EIO;
}
#endif

mn_status mn_data_fetch(const mn_data_spec *s, const char *dir, const mn_fetch_cfg *cfg) {
#ifndef MINNOW_HAVE_CURL
    (void)dir, (void)cfg;
    return mn_error(MN_EUNSUPPORTED, "built without libcurl: download %s's files by hand (%s, see docs/DATA.md)",
                    s->name, s->mirrors[0]);
#else
    const char *const *mirrors = cfg && cfg->nmirrors ? cfg->mirrors : s->mirrors;
    int nm = cfg && cfg->nmirrors ? cfg->nmirrors : 0;
    if (!nm)
        while (nm < MN_DATA_MAX_MIRRORS && s->mirrors[nm]) nm++;
    for (int m = 0; m < nm; m++)
        if (!mirrors[m] || !*mirrors[m]) return mn_error(MN_EARG, "empty mirror URL");
    const char *only = cfg ? cfg->only_split : NULL;
    if (only && strcmp(only, "train") && strcmp(only, "test"))
        return mn_error(MN_EARG, "can fetch split train or test, not '%s' (val is held out of train)", only);
    /* mkdir -p DIR */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) return mn_error(MN_EARG, "path too long: %s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(tmp, 0755); *p = '/'; }
    if (mkdir(tmp, 0755) && errno != EEXIST) return mn_error(MN_EIO, "cannot create %s: %s", dir, strerror(errno));
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return mn_error(MN_EIO, "libcurl failed to initialise");
    CURL *c = curl_easy_init();
    if (!c) { curl_global_cleanup(); return mn_error(MN_ENOMEM, "libcurl: out of memory"); }
    mn_status st = MN_OK;
    char why[2048], files[512] = "";
    int failed = 0;
    for (int i = 0; i < s->nfiles && !st; i++) {
        const mn_data_file *f = &s->files[i];
        if (only && !s->archive && strcmp(f->split, only)) continue;
        int state = 0, corrupt = 0; /* per file: a bad mirror for one file says nothing of the next */
        if (mn_data_verify_file(dir, f, &state) == MN_OK && state) continue; /* already there, verified */
        mn_status fs = fetch_one(c, dir, f, mirrors, nm, cfg, why, sizeof why, &corrupt);
        if (fs == MN_EIO && !corrupt) {
            /* Offline or unreachable: name every missing file at once. */
            failed = 1;
            size_t l = strlen(files);
            snprintf(files + l, sizeof files - l, "%s%s", l ? " " : "", f->name);
            continue;
        }
        if (fs == MN_EIO)
            st = mn_error(MN_EFORMAT, "%s: checksum refused, nothing kept under %s/%s (%s)", f->name, dir, f->name,
                          why);
        else st = fs;
    }
    /* An archive (CIFAR-10): its batches come out once it is verified. */
    if (!st && !failed && s->archive && !mn_data_has_split(dir, "train")) {
        snprintf(tmp, sizeof tmp, "%s/%s", dir, s->files[0].name);
        st = mn__untar_bins(tmp, dir);
    }
    if (!st && failed) {
        char urls[1024] = "";
        for (int m = 0; m < nm; m++) {
            size_t l = strlen(urls);
            snprintf(urls + l, sizeof urls - l, "%s%s", m ? " or " : "", mirrors[m]);
        }
        st = mn_error(MN_EIO, "cannot download %s (%s): rerun to resume, or put %s from %s into %s by hand, then run `minnow data verify %s --dir %s`",
                      s->name, why, files, urls, dir, s->name, dir);
    }
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return st;
#endif
}
