/* The .mnw header, checked before the file is read whole: a 2 GB file that
 * starts with "MNW1" but whose header does not hold (CRC, section table,
 * sections inside the file, nothing but alignment padding after the last)
 * is refused after reading at most 1.5 KB instead of after reading 2 GB.
 * mn_model_load then checks everything again on the whole buffer. */
#include <string.h>
#include <zlib.h>

#include "io/mnw_fmt.h"
#include "minnow/io.h"
#include "core/file.h"


static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

mn_status mn__mnw_peek(const char *path) {
    FILE *f;
    size_t size;
    mn_status st = mn_open_regular(path, &f, &size);
    if (st) return st;
    unsigned char h[MNW_HDR_SIZE(MNW_MAX_SECTIONS)];
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    if (got >= 4 && memcmp(h, MNW_MAGIC, 4) == 0 && size > MNW_FILE_MAX)
        return mn_error(MN_EFORMAT, "%s: file of %zu bytes is larger than the 2 GiB limit of a model", path, size);
    /* Until the file is big enough for its header, what was read is it. */
    uint32_t ns;
    if ((st = mn__mnw_check_header(h, got, path, &ns))) return st;
    size_t hs = MNW_HDR_SIZE(ns);
    uint64_t end = hs;
    for (uint32_t i = 0; i < ns; i++) {
        const unsigned char *e = h + MNW_HDR_FIXED + MNW_SECTION_ENTRY * (size_t)i;
        uint64_t off = le(e + 4, 8), len = le(e + 12, 8);
        if (off > size || len > size - off)
            return mn_error(MN_EFORMAT, "%s: truncated: a section ends past the file's %zu bytes", path, size);
        if (off + len > end) end = off + len;
    }
    if (size > end + MNW_ALIGN)
        return mn_error(MN_EFORMAT, "%s: the header's sections end at byte %llu but the file has %zu bytes", path,
                        (unsigned long long)end, size);
    return MN_OK;
}
