/* Limits on a recipe's raw text, checked before libyaml parses it: its
 * scanner keeps one simple-key slot per flow level and rescans them for
 * every token, so 200,000 nested '[' took minutes.  A conservative scan: it
 * skips quoted scalars and comments, counts '[' '{' against ']' '}', and
 * takes a line's indentation plus its leading "- " / "? " / ": "
 * indicators as the bound on its block depth.  A real recipe is a few
 * hundred bytes, 3-4 levels deep. */
#include <string.h>

#include "minnow/recipe.h"

mn_status mn__recipe_caps(const char *t, size_t n, const char *label);

mn_status mn__recipe_caps(const char *t, size_t n, const char *label) {
    if (n > MN_RECIPE_MAX_BYTES)
        return mn_error(MN_EARG, "%s: recipe of %zu bytes is larger than the %d-byte limit", label, n,
                        MN_RECIPE_MAX_BYTES);
    int depth = 0, line = 1;
    size_t i = 0;
    while (i < n) {
        /* Start of a line: indentation and block indicators. */
        size_t col = 0;
        while (i < n && (t[i] == ' ' || t[i] == '\t')) { i++; col++; }
        while (i + 1 < n && (t[i] == '-' || t[i] == '?' || t[i] == ':') && (t[i + 1] == ' ' || t[i + 1] == '\t')) {
            i += 2;
            col += 2;
            while (i < n && (t[i] == ' ' || t[i] == '\t')) { i++; col++; }
        }
        if (col > MN_RECIPE_MAX_INDENT)
            return mn_error(MN_EARG, "%s:%d: indented %zu columns; a recipe may indent at most %d", label, line, col,
                            MN_RECIPE_MAX_INDENT);
        /* The rest of the line.  A quote opens a quoted scalar only where a
         * scalar starts (line start, after "[", "{", ",", ": ", "- " or
         * "? "), as in YAML: the one in "it's [[[..." is plain text, and
         * skipping from it would let the nesting after it through. */
        int prev_space = 1, tok_start = 1;
        while (i < n && t[i] != '\n') {
            char ch = t[i];
            if (ch == '#' && prev_space) {
                while (i < n && t[i] != '\n') i++;
                break;
            }
            if ((ch == '"' || ch == '\'') && tok_start) {
                /* Quoted scalar, possibly over several lines. */
                i++;
                while (i < n && t[i] != ch) {
                    if (t[i] == '\\' && ch == '"' && i + 1 < n) i++;
                    if (t[i] == '\n') line++;
                    i++;
                }
                if (i < n) i++;
                prev_space = tok_start = 0;
                continue;
            }
            if (ch == '[' || ch == '{') {
                if (++depth > MN_RECIPE_MAX_DEPTH)
                    return mn_error(MN_EARG, "%s:%d: nested more than %d levels deep", label, line,
                                    MN_RECIPE_MAX_DEPTH);
            } else if ((ch == ']' || ch == '}') && depth > 0) {
                depth--;
            }
            prev_space = ch == ' ' || ch == '\t' || ch == ',' || ch == '[' || ch == '{';
            int blank_next = i + 1 >= n || t[i + 1] == ' ' || t[i + 1] == '\t' || t[i + 1] == '\n';
            if (ch == ',' || ch == '[' || ch == '{' || ((ch == ':' || ch == '-' || ch == '?') && blank_next))
                tok_start = 1;
            else if (ch != ' ' && ch != '\t')
                tok_start = 0;
            i++;
        }
        if (i < n) { i++; line++; }
    }
    return MN_OK;
}
