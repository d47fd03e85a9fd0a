/* The C generator's growing string (deploy/strbuf.h). */
#include "deploy/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mn_sb_printf(mn_sb *b, const char *fmt, ...) {
    if (b->err) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->err = 1; return; }
        if (b->s && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->n + (size_t)k) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) { b->err = 1; return; }
        b->s = s;
        b->cap = cap;
    }
}

void mn_sb_float(mn_sb *b, float v) {
    char t[48];
    snprintf(t, sizeof t, "%.9g", (double)v);
    mn_sb_printf(b, "%s%sf", t, strpbrk(t, ".en") ? "" : ".0");
}

void mn_sb_farray(mn_sb *b, const char *name, const float *v, int64_t n, size_t *bytes) {
    mn_sb_printf(b, "static const float %s[%lld] = {", name, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        mn_sb_printf(b, "%s", i % 8 ? ", " : (i ? ",\n    " : "\n    "));
        mn_sb_float(b, v[i]);
    }
    mn_sb_printf(b, "\n};\n");
    *bytes += 4 * (size_t)n;
}
