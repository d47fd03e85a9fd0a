/* Private (src/deploy): the growing string the C generator writes into. */
#ifndef MINNOW_DEPLOY_STRBUF_H
#define MINNOW_DEPLOY_STRBUF_H

#include <stddef.h>
#include <stdint.h>

/* A growing string; any allocation failure sticks in err. */
typedef struct mn_sb { char *s; size_t n, cap; int err; } mn_sb;
void mn_sb_printf(mn_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A float literal that reads back to exactly v (v finite). */
void mn_sb_float(mn_sb *b, float v);
/* `static const TYPE name[n] = {...};` counting its bytes into *bytes. */
void mn_sb_farray(mn_sb *b, const char *name, const float *v, int64_t n, size_t *bytes);

#endif
