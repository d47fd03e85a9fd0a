/* IDX (MNIST-style) reader.  zlib's gzread passes plain files through
 * untouched, so one code path reads both the raw and the .gz files. */
#include "minnow/data.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
/* Far beyond any set minnow is meant for, and keeps c*h*w and n inside an
 * int; mostly it stops a hostile header from making us reserve the memory it
 * claims before the data has shown up. */
#define IDX_MAX_BYTES ((size_t)INT_MAX)
/* The first buffer for a gzip body; it doubles as data arrives, so memory
 * stays within twice what the file really holds. */
#define IDX_FIRST_CHUNK ((size_t)1 << 20)
/* A gzip body may declare at most 256 bytes per compressed byte plus 1 MiB
 * (MNIST's ratio is ~5; deflate's ceiling is ~1032): checked against the
 * file's size before inflating, so a 261 KB bomb declaring 268M pixels is
 * refused at once instead of costing 1.3 GB.  Decompress such a file to
 * read it anyway. */
#define IDX_MAX_RATIO 256u
#define IDX_RATIO_SLACK ((size_t)1 << 20)

static mn_status gz_fail(gzFile f, const char *path) {
    int err = 0;
    const char *msg = gzerror(f, &err);
    if (err == Z_ERRNO) return mn_error(MN_EIO, "%s: read error", path);
    return mn_error(MN_EFORMAT, "%s: corrupt gzip data (%s)", path, msg);
}

static mn_status read_header(gzFile f, const char *path, uint32_t magic,
                             uint32_t *dims, int ndims) {
    unsigned char b[16];
    int want = 4 * (1 + ndims);
    int got = gzread(f, b, (unsigned)want);
    if (got < 0) return gz_fail(f, path);
    if (got < 4) return mn_error(MN_EFORMAT, "%s: too short for an IDX file", path);
    uint32_t v[4] = {0};
    for (int i = 0; i < got / 4; i++)
        v[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    if (v[0] != magic)
        return mn_error(MN_EFORMAT, "%s: bad IDX magic 0x%08x (expected 0x%08x, %s)",
                        path, (unsigned)v[0], (unsigned)magic,
                        magic == IDX_IMAGES ? "unsigned-byte images" : "unsigned-byte labels");
    if (got != want) return mn_error(MN_EFORMAT, "%s: truncated IDX header", path);
    for (int i = 0; i < ndims; i++) {
        if (v[1 + i] == 0 || v[1 + i] > INT_MAX)
            return mn_error(MN_EFORMAT, "%s: bad dimension %u", path, (unsigned)v[1 + i]);
        dims[i] = v[1 + i];
    }
    return MN_OK;
}

/* Reads exactly `total` bytes of body and checks nothing follows. */
static mn_status read_body(gzFile f, const char *path, size_t hdr, size_t total,
                           unsigned char **out) {
    *out = NULL;
    if (gzdirect(f)) {
        /* A plain file: its size is known, so check it before allocating. */
        struct stat st;
        if (stat(path, &st) != 0) return mn_error(MN_EIO, "cannot stat %s", path);
        if ((unsigned long long)st.st_size != hdr + total)
            return mn_error(MN_EFORMAT, "%s: %s: holds %lld bytes, header needs %zu",
                            path, (size_t)st.st_size < hdr + total ? "truncated" : "trailing bytes",
                            (long long)st.st_size, hdr + total);
    }
    else {
        struct stat st;
        if (stat(path, &st) != 0) return mn_error(MN_EIO, "cannot stat %s", path);
        uint64_t zs = (uint64_t)st.st_size;
        if ((uint64_t)total > zs * IDX_MAX_RATIO + IDX_RATIO_SLACK)
            return mn_error(MN_EFORMAT, "%s: a gzip file of %llu bytes declares %zu bytes of data, more than %ux "
                            "its size plus 1 MiB: refused as a decompression bomb (gunzip it to read it anyway)",
                            path, (unsigned long long)zs, total, IDX_MAX_RATIO);
    }
    size_t cap = gzdirect(f) || total < IDX_FIRST_CHUNK ? total : IDX_FIRST_CHUNK, have = 0;
    unsigned char *buf = mn_alloc(cap, 1);
    if (!buf) return mn_error(MN_ENOMEM, "%s: cannot allocate %zu bytes", path, cap);
    while (have < total) {
        if (have == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : total;
            unsigned char *nb = mn_alloc(ncap, 1);
            if (!nb) { mn_free(buf); return mn_error(MN_ENOMEM, "%s: cannot allocate %zu bytes", path, ncap); }
            memcpy(nb, buf, have);
            mn_free(buf);
            buf = nb, cap = ncap;
        }
        size_t want = cap - have;
        int got = gzread(f, buf + have, (unsigned)(want < (1u << 30) ? want : (1u << 30)));
        if (got <= 0) {
            mn_free(buf);
            if (got < 0) return gz_fail(f, path);
            return mn_error(MN_EFORMAT, "%s: truncated: header needs %zu data bytes, file holds %zu",
                            path, total, have);
        }
        have += (size_t)got;
    }
    unsigned char extra;
    int got = gzread(f, &extra, 1);
    if (got != 0) {
        mn_free(buf);
        if (got < 0) return gz_fail(f, path);
        return mn_error(MN_EFORMAT, "%s: trailing bytes after the %zu the header declares", path, total);
    }
    *out = buf;
    return MN_OK;
}

static mn_status open_gz(const char *path, gzFile *f) {
    *f = gzopen(path, "rb");
    if (!*f) return mn_error(MN_EIO, "cannot open %s", path);
    gzbuffer(*f, 1u << 17);
    return MN_OK;
}

mn_status mn_data_load_idx(const char *images_path, const char *labels_path,
                           mn_dataset *out) {
    memset(out, 0, sizeof *out);
    gzFile fi = NULL, fl = NULL;
    unsigned char *pix = NULL, *lab = NULL;
    uint32_t idim[3] = {0, 0, 0}, ldim[1] = {0};
    size_t per = 0, total = 0;
    mn_status st = open_gz(images_path, &fi);
    if (!st) st = read_header(fi, images_path, IDX_IMAGES, idim, 3);
    if (!st && (mn_mul_overflows(idim[1], idim[2], &per) ||
                mn_mul_overflows(per, idim[0], &total) || total > IDX_MAX_BYTES))
        st = mn_error(MN_EFORMAT, "%s: declared size %ux%ux%u is too large", images_path,
                      (unsigned)idim[0], (unsigned)idim[1], (unsigned)idim[2]);
    if (!st) st = read_body(fi, images_path, 16, total, &pix);
    if (!st) st = open_gz(labels_path, &fl);
    if (!st) st = read_header(fl, labels_path, IDX_LABELS, ldim, 1);
    if (!st && ldim[0] != idim[0])
        st = mn_error(MN_EFORMAT, "%s has %u images but %s has %u labels", images_path,
                      (unsigned)idim[0], labels_path, (unsigned)ldim[0]);
    if (!st) st = read_body(fl, labels_path, 8, ldim[0], &lab);
    if (!st) {
        out->x = mn_alloc(total, sizeof(float));
        out->y = mn_alloc(idim[0], sizeof(int32_t));
        if (!out->x || !out->y)
            st = mn_error(MN_ENOMEM, "%s: cannot allocate %zu floats", images_path, total);
    }
    if (!st) {
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = (float)v / 255.0f;
        for (size_t i = 0; i < total; i++) out->x[i] = lut[pix[i]];
        int maxl = 0;
        for (uint32_t i = 0; i < idim[0]; i++) {
            out->y[i] = lab[i];
            if (lab[i] > maxl) maxl = lab[i];
        }
        out->n = (int)idim[0];
        out->c = 1, out->h = (int)idim[1], out->w = (int)idim[2];
        out->nclass = maxl + 1;
    }
    if (fi) gzclose(fi);
    if (fl) gzclose(fl);
    mn_free(pix);
    mn_free(lab);
    if (st) mn_dataset_free(out);
    return st;
}
