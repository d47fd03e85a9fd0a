/* Canonical, length-limited Huffman coding (format in minnow/huffman.h). */
#include "store/huffman.h"

#include <stdlib.h>
#include <string.h>

typedef struct { uint64_t f; uint32_t s; } leaf;

/* Ascending frequency; ties by descending symbol, so that among equally
 * frequent symbols the smaller one is ranked "more frequent" (shorter). */
static int leaf_cmp(const void *a, const void *b) {
    const leaf *x = a, *y = b;
    if (x->f != y->f) return x->f < y->f ? -1 : 1;
    return x->s < y->s ? 1 : (x->s > y->s ? -1 : 0);
}

mn_status mn_huff_code_lengths(const uint64_t *freq, uint32_t nsym, int maxlen,
                               uint8_t *len) {
    if (maxlen < 1 || maxlen > MN_HUFF_MAX_LEN)
        return mn_error(MN_EARG, "huffman: code length limit %d not in 1..%d", maxlen, MN_HUFF_MAX_LEN);
    if (nsym > MN_HUFF_MAX_SYMS)
        return mn_error(MN_EARG, "huffman: %u symbols, at most %u", nsym, MN_HUFF_MAX_SYMS);
    if (nsym) memset(len, 0, nsym);
    uint32_t m = 0;
    for (uint32_t s = 0; s < nsym; s++) m += freq[s] != 0;
    if (m == 0) return MN_OK;
    if ((uint64_t)m > (1ull << maxlen))
        return mn_error(MN_EARG, "huffman: %u used symbols do not fit %d-bit codes", m, maxlen);
    if (m == 1) {
        for (uint32_t s = 0; s < nsym; s++) if (freq[s]) len[s] = 1;
        return MN_OK;
    }
    uint32_t nn = 2 * m - 1;
    leaf *L = malloc(sizeof *L * m);
    uint64_t *wt = malloc(sizeof *wt * nn);
    uint32_t *par = malloc(sizeof *par * nn), *cnt = NULL;
    if (!L || !wt || !par) goto oom;
    for (uint32_t s = 0, i = 0; s < nsym; s++)
        if (freq[s]) L[i++] = (leaf){freq[s], s};
    qsort(L, m, sizeof *L, leaf_cmp);
    for (uint32_t i = 0; i < m; i++) wt[i] = L[i].f;
    /* Two queues: sorted leaves and internal nodes, which are created in
     * non-decreasing weight order; so the two lightest are at the fronts. */
    uint32_t li = 0, ii = m;
    for (uint32_t next = m; next < nn; next++) {
        uint32_t pick[2];
        for (int t = 0; t < 2; t++)
            pick[t] = (li < m && (ii >= next || wt[li] <= wt[ii])) ? li++ : ii++;
        uint64_t w = wt[pick[0]] + wt[pick[1]];
        wt[next] = w < wt[pick[0]] ? UINT64_MAX : w; /* saturate */
        par[pick[0]] = par[pick[1]] = next;
    }
    /* Depths: a parent always has a larger index than its children.  wt is
     * reused for them. */
    wt[nn - 1] = 0;
    uint64_t maxd = 0;
    for (uint32_t i = nn - 1; i-- > 0;) {
        wt[i] = wt[par[i]] + 1;
        if (i < m && wt[i] > maxd) maxd = wt[i];
    }
    size_t ncnt = (size_t)(maxd > (uint64_t)maxlen ? maxd : (uint64_t)maxlen) + 1;
    cnt = calloc(ncnt, sizeof *cnt);
    if (!cnt) goto oom;
    for (uint32_t i = 0; i < m; i++) cnt[wt[i]]++;
    /* Too-deep leaves: take two siblings at depth i, make their parent a leaf
     * (one of them moves up) and split the deepest leaf above i-1 into two
     * (the other goes there).  The Kraft sum stays exactly 1; a shallow
     * enough leaf exists because m <= 2^maxlen. */
    for (size_t i = ncnt - 1; i > (size_t)maxlen; i--) {
        while (cnt[i] > 0) {
            size_t j = i - 2;
            while (j > 0 && cnt[j] == 0) j--;
            cnt[i] -= 2;
            cnt[i - 1] += 1;
            cnt[j + 1] += 2;
            cnt[j] -= 1;
        }
    }
    /* The most frequent symbols get the shortest codes. */
    uint32_t k = m;
    for (int l = 1; l <= maxlen; l++)
        for (uint32_t c = 0; c < cnt[l]; c++) len[L[--k].s] = (uint8_t)l;
    free(L); free(wt); free(par); free(cnt);
    return MN_OK;
oom:
    free(L); free(wt); free(par); free(cnt);
    return mn_error(MN_ENOMEM, "huffman: out of memory");
}

/* Canonical codes from lengths (as in DEFLATE). */
static void canonical(const uint8_t *len, uint32_t nsym, uint32_t *code) {
    uint32_t blc[MN_HUFF_MAX_LEN + 1] = {0}, next[MN_HUFF_MAX_LEN + 1] = {0};
    for (uint32_t s = 0; s < nsym; s++) blc[len[s]]++;
    blc[0] = 0;
    uint32_t c = 0;
    for (int l = 1; l <= MN_HUFF_MAX_LEN; l++) {
        c = (c + blc[l - 1]) << 1;
        next[l] = c;
    }
    for (uint32_t s = 0; s < nsym; s++) code[s] = len[s] ? next[len[s]]++ : 0;
}

typedef struct { unsigned char *p; size_t pos; uint64_t acc; int nacc; } bitw;

static void put(bitw *w, uint32_t v, int nbits) {
    w->acc = (w->acc << nbits) | v;
    w->nacc += nbits;
    while (w->nacc >= 8) {
        w->nacc -= 8;
        w->p[w->pos++] = (unsigned char)(w->acc >> w->nacc);
    }
    w->acc &= (1ull << w->nacc) - 1;
}

static void flush(bitw *w) {
    if (w->nacc) w->p[w->pos++] = (unsigned char)(w->acc << (8 - w->nacc));
    w->nacc = 0;
    w->acc = 0;
}

static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

mn_status mn_huff_encode(const uint32_t *sym, size_t n, unsigned char **out,
                         size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    if (n > UINT32_MAX) return mn_error(MN_EARG, "huffman: %zu symbols, at most 2^32-1", n);
    uint32_t nsym = 0;
    for (size_t i = 0; i < n; i++) {
        if (sym[i] >= MN_HUFF_MAX_SYMS)
            return mn_error(MN_EARG, "huffman: symbol %u out of range (max %u)", sym[i], MN_HUFF_MAX_SYMS - 1);
        if (sym[i] >= nsym) nsym = sym[i] + 1;
    }
    uint64_t *freq = calloc(nsym ? nsym : 1, sizeof *freq);
    uint8_t *len = malloc(nsym ? nsym : 1);
    uint32_t *code = malloc(sizeof *code * (nsym ? nsym : 1));
    mn_status st = MN_OK;
    if (!freq || !len || !code) { st = mn_error(MN_ENOMEM, "huffman: out of memory"); goto out; }
    for (size_t i = 0; i < n; i++) freq[sym[i]]++;
    if ((st = mn_huff_code_lengths(freq, nsym, MN_HUFF_MAX_LEN, len))) goto out;
    int maxl = 0;
    uint64_t bits = 0;
    for (uint32_t s = 0; s < nsym; s++) {
        if (len[s] > maxl) maxl = len[s];
        bits += freq[s] * len[s];
    }
    int lenbits = n == 0 ? 0 : maxl <= 15 ? 4 : 5;
    size_t tb = ((size_t)nsym * lenbits + 7) / 8, total = 9 + tb + (size_t)((bits + 7) / 8);
    canonical(len, nsym, code);
    bitw w = {malloc(total), 0, 0, 0};
    if (!w.p) { st = mn_error(MN_ENOMEM, "huffman: out of memory"); goto out; }
    wr32(w.p, nsym);
    wr32(w.p + 4, (uint32_t)n);
    w.p[8] = (unsigned char)lenbits;
    w.pos = 9;
    for (uint32_t s = 0; s < nsym && lenbits; s++) put(&w, len[s], lenbits);
    flush(&w);
    for (size_t i = 0; i < n; i++) put(&w, code[sym[i]], len[sym[i]]);
    flush(&w);
    *out = w.p;
    *outlen = w.pos;
out:
    free(freq); free(len); free(code);
    return st;
}

/* Up to 24 bits at bit position bp, MSB first; bits past the end read 0. */
static uint32_t peek24(const unsigned char *p, size_t n, uint64_t bp) {
    size_t b = (size_t)(bp >> 3);
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = (v << 8) | (b + i < n ? p[b + i] : 0);
    return (uint32_t)(v << (bp & 7)) >> 8;
}

#define LUT_BITS 9

mn_status mn_huff_decode(const unsigned char *buf, size_t len, uint32_t nsym_max,
                         uint32_t *sym, size_t n) {
    if (len < 9) return mn_error(MN_EFORMAT, "huffman stream: %zu bytes, shorter than its header", len);
    uint32_t nsym = rd32(buf), count = rd32(buf + 4);
    int lenbits = buf[8];
    if (count != n) return mn_error(MN_EFORMAT, "huffman stream holds %u symbols, expected %zu", count, n);
    if (n == 0) {
        if (nsym != 0 || lenbits != 0 || len != 9) return mn_error(MN_EFORMAT, "huffman stream: malformed empty stream");
        return MN_OK;
    }
    if (nsym == 0 || nsym > nsym_max || nsym > MN_HUFF_MAX_SYMS)
        return mn_error(MN_EFORMAT, "huffman stream: alphabet of %u symbols, at most %u allowed", nsym, nsym_max);
    if (lenbits != 4 && lenbits != 5) return mn_error(MN_EFORMAT, "huffman stream: bad length field width %d", lenbits);
    size_t tb = ((size_t)nsym * lenbits + 7) / 8;
    if (len - 9 < tb) return mn_error(MN_EFORMAT, "huffman stream: truncated code-length table");
    const unsigned char *tp = buf + 9, *pay = tp + tb;
    size_t np = len - 9 - tb;
    uint8_t *ln = malloc(nsym);
    uint32_t *sorted = malloc(sizeof *sorted * nsym);
    uint32_t *lut = calloc(1u << LUT_BITS, sizeof *lut);
    mn_status st = MN_OK;
    if (!ln || !sorted || !lut) { st = mn_error(MN_ENOMEM, "huffman: out of memory"); goto out; }
    uint32_t cnt[MN_HUFF_MAX_LEN + 1] = {0};
    for (uint32_t s = 0; s < nsym; s++) {
        uint64_t bp = (uint64_t)s * lenbits;
        ln[s] = (uint8_t)(peek24(tp, tb, bp) >> (24 - lenbits));
        if (ln[s] > MN_HUFF_MAX_LEN) { st = mn_error(MN_EFORMAT, "huffman stream: code length %d > %d", ln[s], MN_HUFF_MAX_LEN); goto out; }
        cnt[ln[s]]++;
    }
    uint64_t tbits = (uint64_t)nsym * lenbits;
    if (tbits & 7 && (tp[tb - 1] & ((1u << (8 - (tbits & 7))) - 1)))
        { st = mn_error(MN_EFORMAT, "huffman stream: non-zero padding in the length table"); goto out; }
    /* Kraft: an over-subscribed set of lengths is no prefix code. */
    uint64_t kraft = 0;
    for (int l = 1; l <= MN_HUFF_MAX_LEN; l++) kraft += (uint64_t)cnt[l] << (MN_HUFF_MAX_LEN - l);
    if (kraft == 0 || kraft > (1ull << MN_HUFF_MAX_LEN))
        { st = mn_error(MN_EFORMAT, "huffman stream: code lengths do not form a prefix code"); goto out; }
    /* Symbols sorted by (length, symbol): the canonical order. */
    uint32_t off[MN_HUFF_MAX_LEN + 2] = {0};
    for (int l = 1; l <= MN_HUFF_MAX_LEN; l++) off[l + 1] = off[l] + cnt[l];
    {
        uint32_t pos[MN_HUFF_MAX_LEN + 2];
        memcpy(pos, off, sizeof pos);
        for (uint32_t s = 0; s < nsym; s++) if (ln[s]) sorted[pos[ln[s]]++] = s;
    }
    /* Fast table for codes of up to LUT_BITS bits: entry = sym << 5 | len. */
    {
        uint32_t code = 0, idx = 0;
        for (int l = 1; l <= LUT_BITS; l++) {
            for (uint32_t c = 0; c < cnt[l]; c++, code++, idx++) {
                uint32_t base = code << (LUT_BITS - l), span = 1u << (LUT_BITS - l);
                for (uint32_t e = 0; e < span; e++) lut[base + e] = sorted[idx] << 5 | (uint32_t)l;
            }
            code <<= 1;
        }
    }
    uint64_t nbits = (uint64_t)np * 8, bp = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = peek24(pay, np, bp), e = lut[v >> (24 - LUT_BITS)];
        if (e) {
            sym[i] = e >> 5;
            bp += e & 31;
        } else {
            /* Canonical decoding one bit at a time (as zlib's puff). */
            uint32_t code = 0, first = 0, index = 0;
            int l = 1, found = 0;
            for (; l <= MN_HUFF_MAX_LEN; l++) {
                code |= (v >> (24 - l)) & 1;
                if (code - first < cnt[l]) { sym[i] = sorted[index + code - first]; found = 1; break; }
                index += cnt[l];
                first = (first + cnt[l]) << 1;
                code <<= 1;
            }
            if (!found) { st = mn_error(MN_EFORMAT, "huffman stream: invalid code at symbol %zu", i); goto out; }
            bp += (uint64_t)l;
        }
        if (bp > nbits) { st = mn_error(MN_EFORMAT, "huffman stream: truncated payload at symbol %zu", i); goto out; }
    }
    if ((bp + 7) / 8 != np) { st = mn_error(MN_EFORMAT, "huffman stream: %zu trailing bytes", np - (size_t)((bp + 7) / 8)); goto out; }
    if (bp & 7 && (pay[np - 1] & ((1u << (8 - (bp & 7))) - 1)))
        { st = mn_error(MN_EFORMAT, "huffman stream: non-zero padding after the last code"); goto out; }
out:
    free(ln); free(sorted); free(lut);
    return st;
}
