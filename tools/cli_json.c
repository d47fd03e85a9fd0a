/* The CLI's one JSON string writer: every file path, layer or node name and
 * spec that a verb puts in its --json output goes through cli_jq, so a name
 * with a quote, a backslash or a control byte still gives valid JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Results stay valid for the next JQ_SLOTS calls: enough for the strings
 * of one printf. */
#define JQ_SLOTS 8

const char *cli_jq(const char *s) {
    static char *slot[JQ_SLOTS];
    static int next;
    if (!s) return "null";
    size_t n = strlen(s);
    char *o = malloc(6 * n + 3); /* worst case: every byte \u00XX */
    if (!o) cli_die("out of memory");
    char *p = o;
    *p++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { *p++ = '\\'; *p++ = (char)c; }
        else if (c < 0x20) p += sprintf(p, "\\u%04x", c);
        else *p++ = (char)c;
    }
    *p++ = '"';
    *p = 0;
    free(slot[next]);
    slot[next] = o;
    next = (next + 1) % JQ_SLOTS;
    return o;
}

void cli_json_str(const char *s) { fputs(cli_jq(s), stdout); }
