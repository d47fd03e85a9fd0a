/* The table of storage kinds, freeing and cloning a store. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "store/affine.h"
#include "store/binary.h"
#include "store/codebook.h"
#include "store/csr.h"

/* Each kind's traits live in its own file; a kind not built yet is NULL. */
static const mn_store_traits *g_kinds[MN_ST__COUNT] = {
    [MN_ST_F32] = NULL,
    [MN_ST_BINARY] = &mn_st_binary,
    [MN_ST_CSR] = &mn_st_csr,
    [MN_ST_CODEBOOK] = &mn_st_codebook,
    [MN_ST_AFFINE] = &mn_st_affine,
};

const mn_store_traits *mn_store_traits_of(mn_storage_kind k) {
    return (k > 0 && k < MN_ST__COUNT) ? g_kinds[k] : NULL;
}

const char *mn_storage_name(mn_storage_kind k) {
    if (k == MN_ST_F32) return "f32";
    const mn_store_traits *t = mn_store_traits_of(k);
    return t ? t->name : "unknown";
}

void mn_store_free(mn_store *s) {
    if (!s) return;
    const mn_store_traits *t = mn_store_traits_of(s->kind);
    if (t && t->free) t->free(s);
    free(s);
}

size_t mn_store_scratch_bytes(const mn_store *s, int batch) {
    const mn_store_traits *t = s ? mn_store_traits_of(s->kind) : NULL;
    return t && t->scratch ? t->scratch(s, batch) : 0;
}

size_t mn_store_dw_scratch_bytes(int C, int H, int W, int pad) {
    size_t most = 0; /* the largest of the int8 kernels' image layouts */
    for (int i = 0; i < MN_I8__COUNT; i++) {
        size_t b = mn_i8_image_bytes((mn_i8_isa)i, C, H, W, pad);
        if (!b) return 0;
        if (b > most) most = b;
    }
    return most;
}

mn_status mn_store_clone(const mn_store *s, mn_store **out) {
    const mn_store_traits *t = mn_store_traits_of(s->kind);
    if (!t) return mn_error(MN_EUNSUPPORTED, "storage kind %d is not available", (int)s->kind);
    unsigned char *buf;
    size_t len;
    mn_status st = t->serialize(s, &buf, &len);
    if (st) return st;
    mn_store *c = calloc(1, sizeof *c);
    if (!c) { free(buf); return mn_error(MN_ENOMEM, "out of memory"); }
    c->kind = s->kind;
    st = t->deserialize(buf, len, s->rows, s->cols, c);
    free(buf);
    if (st) { free(c); return st; }
    *out = c;
    return MN_OK;
}
