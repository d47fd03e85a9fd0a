/* Private: streaming MD5 for the data set checksums (src/data/md5.c). */
#ifndef MINNOW_DATA_MD5_H
#define MINNOW_DATA_MD5_H

#include <stddef.h>
#include <stdint.h>

typedef struct mn__md5 {
    uint32_t h[4];
    uint64_t len;
    unsigned char buf[64];
} mn__md5;

void mn__md5_init(mn__md5 *c);
void mn__md5_update(mn__md5 *c, const void *data, size_t n);
void mn__md5_hex(mn__md5 *c, char hex[33]);

#endif
