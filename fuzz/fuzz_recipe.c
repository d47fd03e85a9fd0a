/* libFuzzer target: the YAML compression recipe parser (mn_recipe_parse). */
#include <string.h>

#include "fuzz_util.h"
#include "minnow/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    mn_recipe r;
    mn_status st = mn_recipe_parse((const char *)d, n, "fuzz.yaml", &r);
    fz_check_errmsg(st);
    if (st != MN_OK) return 0;
    FZ_CHECK(r.npasses >= 0 && r.npasses <= MN_RECIPE_MAX_PASSES);
    for (int i = 0; i < r.npasses; i++) {
        const mn_recipe_pass *p = &r.pass[i];
        FZ_CHECK(p->kind >= MN_PASS_PRUNE && p->kind <= MN_PASS_FACTORIZE && p->nopts >= 0 && p->nopts <= MN_RECIPE_MAX_OPTS);
        FZ_CHECK(memchr(p->method, 0, sizeof p->method) && memchr(p->spec, 0, sizeof p->spec));
    }
    FZ_CHECK(memchr(r.name, 0, sizeof r.name));
    return 0;
}
