/* libFuzzer target: the YAML compression recipe parser (mn_recipe_parse).
 * Built twice: `recipe` parses the input as it is; `recipe_deep`
 * (FUZZ_AMPLIFY) reads u16 N, u8 a, u8 b, then text T and parses
 * T[0,a) + T[a,b) x N + T[b,end), so 4 KB inputs reach nesting and size
 * extremes (tens of thousands of levels, up to twice the size cap); the
 * parse must stay fast (libFuzzer's -timeout) and anything over the caps of
 * minnow/recipe.h must be refused. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "minnow/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void parse(const char *text, size_t n) {
    mn_recipe r;
    mn_status st = mn_recipe_parse(text, n, "fuzz.yaml", &r);
    fz_check_errmsg(st);
    if (n > MN_RECIPE_MAX_BYTES) FZ_CHECK(st != MN_OK);
    if (st != MN_OK) return;
    FZ_CHECK(r.npasses >= 0 && r.npasses <= MN_RECIPE_MAX_PASSES);
    for (int i = 0; i < r.npasses; i++) {
        const mn_recipe_pass *p = &r.pass[i];
        FZ_CHECK(p->kind >= MN_PASS_PRUNE && p->kind <= MN_PASS_DISTILL && p->nopts >= 0 && p->nopts <= MN_RECIPE_MAX_OPTS);
        FZ_CHECK(memchr(p->method, 0, sizeof p->method) && memchr(p->spec, 0, sizeof p->spec));
    }
    FZ_CHECK(memchr(r.name, 0, sizeof r.name));
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
#ifdef FUZZ_AMPLIFY
    if (n < 4) return 0;
    size_t reps = (size_t)d[0] | (size_t)d[1] << 8, t = n - 4;
    size_t a = d[2] % (t + 1), b = d[3] % (t + 1);
    if (b < a) { size_t x = a; a = b; b = x; }
    const char *s = (const char *)d + 4;
    size_t unit = b - a;
    if (unit && reps > (2 * MN_RECIPE_MAX_BYTES) / unit) reps = (2 * MN_RECIPE_MAX_BYTES) / unit;
    size_t len = a + unit * reps + (t - b);
    char *buf = malloc(len ? len : 1);
    if (!buf) return 0;
    size_t at = 0;
    memcpy(buf, s, a);
    at = a;
    for (size_t i = 0; i < reps; i++, at += unit) memcpy(buf + at, s + a, unit);
    memcpy(buf + at, s + b, t - b);
    at += t - b;
    FZ_CHECK(at == len);
    parse(buf, len);
    free(buf);
#else
    parse((const char *)d, n);
#endif
    return 0;
}
