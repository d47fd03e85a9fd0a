/* Training checkpoints (layout in include/minnow/checkpoint.h).  The reader
 * treats the file as hostile: the CRC is checked first, then every count
 * and length against the bytes left before anything is allocated. */
#include "minnow/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "minnow/io.h"
#include "core/file.h"

#define CK_MAGIC "MNCK"
#define CK_VERSION 1u
#define CK_LOG_REC 28u

/* ---- little-endian writer into a growing buffer ------------------------- */

typedef struct wbuf { unsigned char *p; size_t n, cap; int oom; } wbuf;

static unsigned char *wgrow(wbuf *b, size_t k) {
    if (b->oom) return NULL;
    if (k > SIZE_MAX / 2 - b->n) { b->oom = 1; return NULL; }
    if (b->n + k > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + k) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return NULL; }
        b->p = p, b->cap = cap;
    }
    unsigned char *at = b->p + b->n;
    b->n += k;
    return at;
}

static void wle(wbuf *b, uint64_t v, int bytes) {
    unsigned char *at = wgrow(b, (size_t)bytes);
    if (at) for (int i = 0; i < bytes; i++) at[i] = (unsigned char)(v >> (8 * i));
}
static void w32(wbuf *b, uint32_t v) { wle(b, v, 4); }
static void w64(wbuf *b, uint64_t v) { wle(b, v, 8); }
static void wf32(wbuf *b, float f) { uint32_t u; memcpy(&u, &f, 4); w32(b, u); }
static void wf64(wbuf *b, double f) { uint64_t u; memcpy(&u, &f, 8); w64(b, u); }
static void wbytes(wbuf *b, const void *p, size_t n) {
    unsigned char *at = wgrow(b, n);
    if (at && n) memcpy(at, p, n);
}

/* ---- bounds-checked reader ---------------------------------------------- */

typedef struct rbuf { const unsigned char *p; size_t n, at; } rbuf;

static mn_status need(rbuf *r, size_t k, const char *what) {
    if (k <= r->n - r->at) return MN_OK;
    return mn_error(MN_EFORMAT, "checkpoint truncated: %s needs %zu bytes at offset %zu, %zu left",
                    what, k, r->at, r->n - r->at);
}
static uint64_t rle(rbuf *r, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[r->at + i] << (8 * i);
    r->at += (size_t)bytes;
    return v;
}
static uint32_t r32(rbuf *r) { return (uint32_t)rle(r, 4); }
static uint64_t r64(rbuf *r) { return rle(r, 8); }
static float rf32(rbuf *r) { uint32_t u = r32(r); float f; memcpy(&f, &u, 4); return f; }
static double rf64(rbuf *r) { uint64_t u = r64(r); double f; memcpy(&f, &u, 8); return f; }

/* ---- the run description ------------------------------------------------ */

void mn_ckpt_run_of(const mn_train_cfg *c, const mn_dataset *train, mn_ckpt_run *r) {
    memset(r, 0, sizeof *r);
    r->epochs = c->epochs, r->batch = c->batch, r->opt = (int)c->opt.kind, r->sched = (int)c->sched;
    r->step_epochs = c->step_epochs, r->augment_shift = c->augment_shift;
    r->lr = c->opt.lr, r->momentum = c->opt.momentum, r->beta1 = c->opt.beta1, r->beta2 = c->opt.beta2;
    r->eps = c->opt.eps, r->weight_decay = c->opt.weight_decay, r->gamma = c->gamma;
    r->seed = c->seed;
    r->n = (uint32_t)train->n;
    /* Order and content both matter to the run, so one CRC over both. */
    size_t isz = (size_t)train->c * train->h * train->w;
    uLong crc = crc32_z(0L, (const Bytef *)train->x, sizeof(float) * isz * (size_t)train->n);
    r->data_crc = (uint32_t)crc32_z(crc, (const Bytef *)train->y, sizeof(int32_t) * (size_t)train->n);
}

static void put_run(wbuf *b, const mn_ckpt_run *r) {
    const int ints[6] = {r->epochs, r->batch, r->opt, r->sched, r->step_epochs, r->augment_shift};
    for (int i = 0; i < 6; i++) w32(b, (uint32_t)ints[i]);
    const float fl[7] = {r->lr, r->momentum, r->beta1, r->beta2, r->eps, r->weight_decay, r->gamma};
    for (int i = 0; i < 7; i++) wf32(b, fl[i]);
    w64(b, r->seed);
    w32(b, r->n);
    w32(b, r->data_crc);
}

#define RUN_BYTES (6 * 4 + 7 * 4 + 8 + 4 + 4)
static void get_run(rbuf *b, mn_ckpt_run *r) {
    int *ints[6] = {&r->epochs, &r->batch, &r->opt, &r->sched, &r->step_epochs, &r->augment_shift};
    for (int i = 0; i < 6; i++) *ints[i] = (int32_t)r32(b);
    float *fl[7] = {&r->lr, &r->momentum, &r->beta1, &r->beta2, &r->eps, &r->weight_decay, &r->gamma};
    for (int i = 0; i < 7; i++) *fl[i] = rf32(b);
    r->seed = r64(b);
    r->n = r32(b);
    r->data_crc = r32(b);
}

/* ---- save ---------------------------------------------------------------- */

mn_status mn_checkpoint_save_mem(const mn_graph *g, const mn_ckpt_run *run,
                                 const mn_train_state *s, const mn_epoch_stats *log,
                                 int nlog, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if (!g->finalized) return mn_error(MN_EARG, "checkpoint: the graph is not finalized");
    if (s->epoch < 0 || nlog < 0) return mn_error(MN_EARG, "checkpoint: bad epoch %d or log size %d", s->epoch, nlog);
    unsigned char *model;
    size_t mlen;
    mn_status st = mn_model_save_mem(g, &model, &mlen);
    if (st) return st;
    if (nlog > MN_CKPT_LOG_MAX) { log += nlog - MN_CKPT_LOG_MAX; nlog = MN_CKPT_LOG_MAX; }
    wbuf b = {0};
    wbytes(&b, CK_MAGIC, 4);
    w32(&b, CK_VERSION);
    w64(&b, 0); /* file length, patched below */
    put_run(&b, run);
    w32(&b, (uint32_t)s->epoch);
    w64(&b, (uint64_t)s->step);
    for (int i = 0; i < 4; i++) w64(&b, s->rng.s[i]);
    for (int i = 0; i < 4; i++) w64(&b, s->graph_rng.s[i]);
    w64(&b, (uint64_t)s->opt.t);
    w32(&b, (uint32_t)nlog);
    for (int i = 0; i < nlog; i++) {
        w32(&b, (uint32_t)log[i].epoch);
        wf32(&b, log[i].loss), wf32(&b, log[i].train_acc), wf32(&b, log[i].val_error), wf32(&b, log[i].val_loss);
        wf64(&b, log[i].seconds);
    }
    w64(&b, mlen);
    wbytes(&b, model, mlen);
    free(model);
    w64(&b, (uint64_t)g->nw);
    for (int64_t i = 0; i < g->nw; i++) wf32(&b, g->m[i]);
    for (int64_t i = 0; i < g->nw; i++) wf32(&b, g->v[i]);
    uint32_t nmask = 0;
    for (int p = 0; p < g->nparams; p++) nmask += g->params[p].mask != NULL;
    w32(&b, nmask);
    for (int p = 0; p < g->nparams; p++) {
        const float *mk = g->params[p].mask;
        if (!mk) continue;
        w32(&b, (uint32_t)p);
        size_t nb = (size_t)(g->params[p].n + 7) / 8;
        unsigned char *at = wgrow(&b, nb);
        if (!at) break;
        memset(at, 0, nb);
        for (int64_t k = 0; k < g->params[p].n; k++)
            if (mk[k] != 0) at[k / 8] |= (unsigned char)(1u << (k % 8));
    }
    if (!b.oom) {
        size_t total = b.n + 4;
        for (int i = 0; i < 8; i++) b.p[8 + i] = (unsigned char)((uint64_t)total >> (8 * i));
        w32(&b, (uint32_t)crc32_z(0L, b.p, b.n));
    }
    if (b.oom) {
        free(b.p);
        return mn_error(MN_ENOMEM, "checkpoint: out of memory");
    }
    *buf = b.p;
    *len = b.n;
    return MN_OK;
}

mn_status mn_checkpoint_save(const char *path, const mn_graph *g,
                             const mn_ckpt_run *run, const mn_train_state *s,
                             const mn_epoch_stats *log, int nlog) {
    unsigned char *buf;
    size_t len;
    mn_status st = mn_checkpoint_save_mem(g, run, s, log, nlog, &buf, &len);
    if (st) return st;
    st = mn_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}

/* ---- load ---------------------------------------------------------------- */

void mn_checkpoint_free(mn_checkpoint *ck) {
    free(ck->log);
    memset(ck, 0, sizeof *ck);
}

static mn_status parse(rbuf *r, mn_graph *g, mn_checkpoint *ck) {
    mn_status st;
    if (r->n < 20 || memcmp(r->p, CK_MAGIC, 4) != 0)
        return mn_error(MN_EFORMAT, "not a minnow checkpoint (no \"MNCK\" magic)");
    r->at = 4;
    uint32_t ver = r32(r);
    if (ver != CK_VERSION)
        return mn_error(ver > CK_VERSION ? MN_EUNSUPPORTED : MN_EFORMAT,
                        "checkpoint format version %u; this minnow reads version %u", ver, CK_VERSION);
    uint64_t flen = r64(r);
    if (flen != r->n)
        return mn_error(MN_EFORMAT, "checkpoint truncated or padded: it says %llu bytes, the file has %zu",
                        (unsigned long long)flen, r->n);
    uint32_t crc = (uint32_t)(r->p[r->n - 4] | r->p[r->n - 3] << 8 | r->p[r->n - 2] << 16 | (uint32_t)r->p[r->n - 1] << 24);
    uint32_t calc = (uint32_t)crc32_z(0L, r->p, r->n - 4);
    if (crc != calc)
        return mn_error(MN_EFORMAT, "checkpoint CRC mismatch (stored %08x, computed %08x)", crc, calc);
    r->n -= 4; /* the CRC is not content */

    if ((st = need(r, RUN_BYTES + 4 + 8 + 64 + 8 + 4, "run and state"))) return st;
    get_run(r, &ck->run);
    if (ck->run.epochs < 0 || ck->run.batch <= 0)
        return mn_error(MN_EFORMAT, "checkpoint: bad epochs %d or batch %d", ck->run.epochs, ck->run.batch);
    uint32_t ep = r32(r);
    if (ep > (uint32_t)ck->run.epochs)
        return mn_error(MN_EFORMAT, "checkpoint: epoch %u is past the run's %d epochs", ep, ck->run.epochs);
    ck->state.epoch = (int)ep;
    ck->state.step = (int64_t)r64(r);
    for (int i = 0; i < 4; i++) ck->state.rng.s[i] = r64(r);
    for (int i = 0; i < 4; i++) ck->state.graph_rng.s[i] = r64(r);
    uint64_t t = r64(r);
    if (ck->state.step < 0 || t > INT64_MAX)
        return mn_error(MN_EFORMAT, "checkpoint: bad step count");
    ck->state.opt.t = (int64_t)t;

    uint32_t nlog = r32(r);
    if (nlog > MN_CKPT_LOG_MAX || nlog > (r->n - r->at) / CK_LOG_REC)
        return mn_error(MN_EFORMAT, "checkpoint: epoch log of %u entries does not fit in %zu bytes",
                        nlog, r->n - r->at);
    ck->log = calloc(nlog ? nlog : 1, sizeof *ck->log);
    if (!ck->log) return mn_error(MN_ENOMEM, "checkpoint: out of memory");
    ck->nlog = (int)nlog;
    for (uint32_t i = 0; i < nlog; i++) {
        mn_epoch_stats *e = &ck->log[i];
        e->epoch = (int)(r32(r) & 0x7fffffff);
        e->loss = rf32(r), e->train_acc = rf32(r), e->val_error = rf32(r), e->val_loss = rf32(r);
        e->seconds = rf64(r);
    }

    if ((st = need(r, 8, "model length"))) return st;
    uint64_t mlen = r64(r);
    if (mlen > r->n - r->at)
        return mn_error(MN_EFORMAT, "checkpoint: model of %llu bytes does not fit in the %zu left",
                        (unsigned long long)mlen, r->n - r->at);
    if ((st = mn_model_load_mem(r->p + r->at, (size_t)mlen, g))) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", mn_errmsg());
        return mn_error(MN_EFORMAT, "checkpoint: model: %s", msg);
    }
    r->at += (size_t)mlen;

    if ((st = need(r, 8, "moment count"))) return st;
    uint64_t nw = r64(r);
    if (nw != (uint64_t)g->nw)
        return mn_error(MN_EFORMAT, "checkpoint: %llu optimizer moments for a model of %lld values",
                        (unsigned long long)nw, (long long)g->nw);
    if ((st = need(r, 8 * (size_t)nw, "optimizer moments"))) return st;
    for (int k = 0; k < 2; k++) {
        float *dst = k ? g->v : g->m;
        for (uint64_t i = 0; i < nw; i++) {
            dst[i] = rf32(r);
            if (!isfinite(dst[i])) return mn_error(MN_EFORMAT, "checkpoint: optimizer moment %llu is not finite",
                                                   (unsigned long long)i);
        }
    }

    if ((st = need(r, 4, "mask count"))) return st;
    uint32_t nmask = r32(r);
    if (nmask > (uint32_t)g->nparams)
        return mn_error(MN_EFORMAT, "checkpoint: %u masks for %d parameters", nmask, g->nparams);
    for (uint32_t i = 0; i < nmask; i++) {
        if ((st = need(r, 4, "mask index"))) return st;
        uint32_t p = r32(r);
        if (p >= (uint32_t)g->nparams || g->params[p].mask)
            return mn_error(MN_EFORMAT, "checkpoint: bad or repeated mask parameter %u", p);
        size_t nb = (size_t)(g->params[p].n + 7) / 8;
        if ((st = need(r, nb, "mask bits"))) return st;
        float *mk = mn_param_mask(g, (int)p);
        if (!mk) return mn_error(MN_ENOMEM, "checkpoint: out of memory");
        for (int64_t k = 0; k < g->params[p].n; k++)
            mk[k] = (float)((r->p[r->at + (size_t)(k / 8)] >> (k % 8)) & 1);
        r->at += nb;
    }
    if (r->at != r->n)
        return mn_error(MN_EFORMAT, "checkpoint: %zu unexpected bytes after the content", r->n - r->at);
    return MN_OK;
}

mn_status mn_checkpoint_load_mem(const unsigned char *buf, size_t len,
                                 mn_graph *g, mn_checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    mn_graph_init(g);
    rbuf r = {buf, len, 0};
    mn_status st = parse(&r, g, ck);
    if (st) {
        mn_graph_free(g);
        mn_checkpoint_free(ck);
    }
    return st;
}

/* Magic, version and stated length from the first 16 bytes, before the
 * file is read whole: a 2 GB file that is not a checkpoint costs nothing. */
static mn_status peek(const char *path) {
    FILE *f;
    size_t size;
    mn_status st = mn_open_regular(path, &f, &size);
    if (st) return st;
    unsigned char h[16];
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    if (got < 16 || memcmp(h, CK_MAGIC, 4) != 0)
        return mn_error(MN_EFORMAT, "%s: not a minnow checkpoint (no \"MNCK\" magic)", path);
    uint32_t ver = (uint32_t)(h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24);
    uint64_t flen = 0;
    for (int i = 0; i < 8; i++) flen |= (uint64_t)h[8 + i] << (8 * i);
    if (ver != CK_VERSION)
        return mn_error(ver > CK_VERSION ? MN_EUNSUPPORTED : MN_EFORMAT,
                        "%s: checkpoint format version %u; this minnow reads version %u", path, ver, CK_VERSION);
    if (flen != size)
        return mn_error(MN_EFORMAT, "%s: checkpoint truncated or padded: it says %llu bytes, the file has %zu", path,
                        (unsigned long long)flen, size);
    return MN_OK;
}

mn_status mn_checkpoint_load(const char *path, mn_graph *g, mn_checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    mn_graph_init(g);
    unsigned char *buf;
    size_t len;
    mn_status st = peek(path);
    if (st) return st;
    st = mn_read_file(path, &buf, &len);
    if (st) return st;
    st = mn_checkpoint_load_mem(buf, len, g, ck);
    free(buf);
    if (st) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", mn_errmsg());
        return mn_error(st, "%s: %s", path, msg);
    }
    return MN_OK;
}

/* ---- matching a checkpoint to the run that resumes it -------------------- */

mn_status mn_checkpoint_match(const mn_checkpoint *ck, const mn_train_cfg *c,
                              const mn_dataset *train) {
    mn_ckpt_run now;
    mn_ckpt_run_of(c, train, &now);
    const mn_ckpt_run *was = &ck->run;
#define INT_FIELD(f, opt) \
    if (was->f != now.f) return mn_error(MN_EARG, "the checkpoint was made with %s %lld, this run has %lld", \
                                         opt, (long long)was->f, (long long)now.f)
#define FLT_FIELD(f, opt) \
    if (memcmp(&was->f, &now.f, sizeof(float)) != 0) \
        return mn_error(MN_EARG, "the checkpoint was made with %s %g, this run has %g", opt, \
                        (double)was->f, (double)now.f)
    INT_FIELD(epochs, "--epochs");
    INT_FIELD(batch, "--batch");
    INT_FIELD(opt, "optimizer");
    INT_FIELD(sched, "schedule");
    INT_FIELD(step_epochs, "step epochs");
    INT_FIELD(augment_shift, "--augment");
    INT_FIELD(seed, "--seed");
    FLT_FIELD(lr, "--lr");
    FLT_FIELD(momentum, "--momentum");
    FLT_FIELD(beta1, "beta1");
    FLT_FIELD(beta2, "beta2");
    FLT_FIELD(eps, "eps");
    FLT_FIELD(weight_decay, "--wd");
    FLT_FIELD(gamma, "gamma");
#undef INT_FIELD
#undef FLT_FIELD
    if (was->n != now.n || was->data_crc != now.data_crc)
        return mn_error(MN_EARG, "the checkpoint was made on other training data (%u samples, CRC %08x; "
                        "this run has %u samples, CRC %08x)", was->n, was->data_crc, now.n, now.data_crc);
    return MN_OK;
}

mn_status mn_checkpoint_match_graph(const mn_graph *ck_g, const mn_graph *want) {
    if (ck_g->nparams != want->nparams)
        return mn_error(MN_EARG, "the checkpoint's model has %d parameters, the architecture asked for has %d",
                        ck_g->nparams, want->nparams);
    for (int p = 0; p < want->nparams; p++) {
        const mn_param *a = &ck_g->params[p], *b = &want->params[p];
        if (strcmp(a->name, b->name) != 0 || a->shape.ndim != b->shape.ndim ||
            memcmp(a->shape.d, b->shape.d, sizeof(int) * (size_t)a->shape.ndim) != 0)
            return mn_error(MN_EARG, "the checkpoint's model differs from the architecture asked for at "
                            "parameter '%s' ('%s')", b->name, a->name);
    }
    return MN_OK;
}
