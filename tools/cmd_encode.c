/* minnow encode */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minnow/cluster.h"
#include "minnow/io.h"
#include "store/codebook.h"
#include "store/store.h"

static const char *HELP =
    "usage: minnow encode IN.mnw --huffman -o OUT.mnw [--json]\n"
    "Entropy-codes the weight-shared (codebook) layers of a model, the last stage of\n"
    "Deep Compression: the centroid indices and the sparse index gaps of every\n"
    "codebook layer are Huffman-coded (each stream only where that is smaller) and\n"
    "decoded again when the model is loaded.  Make codebook layers first with\n"
    "`minnow quantize --method kmeans` or `minnow compress`.\n"
    "  --huffman         Huffman-code the streams\n"
    "  --plain           undo it: fixed-width fields again\n"
    "  -o FILE           output model, written atomically\n"
    "  --json            one JSON object on stdout\n";

typedef struct row { char name[2 * MN_NAME_MAX]; mn_codebook_info before, after; } row;

static double per_entry(size_t bytes, int64_t n) { return n ? 8.0 * (double)bytes / (double)n : 0; }

int cmd_encode(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 huffman plain o: json", HELP);
    const char *in = cli_pos(&a, 0, "input model IN.mnw"), *out = cli_str(&a, "o", NULL);
    if (!out) cli_die("-o OUT.mnw is required (see --help)");
    int huff = cli_flag(&a, "huffman"), plain = cli_flag(&a, "plain");
    if (huff == plain) cli_die("give exactly one of --huffman or --plain (see --help)");
    mn_graph g;
    cli_load_model(in, &g);
    static row rows[1024];
    int n = 0;
    for (int p = 0; p < g.nparams && n < 1024; p++) {
        const mn_store *s = g.params[p].store;
        if (!s || s->kind != MN_ST_CODEBOOK) continue;
        snprintf(rows[n].name, sizeof rows[n].name, "%s", g.params[p].name);
        cli_check(mn_codebook_info_of(s, &rows[n].before));
        n++;
    }
    if (n == 0) cli_die("%s has no codebook layers to encode (share weights first: minnow quantize --method kmeans)", in);
    mn_pass pass; /* the registry's encode pass, as a recipe's */
    cli_pass(&a, "encode", NULL, NULL, &pass);
    cli_check(mn_pass_run(&pass, &g, NULL));
    mn_pass_free(&pass);
    for (int p = 0, i = 0; p < g.nparams && i < n; p++) {
        const mn_store *s = g.params[p].store;
        if (s && s->kind == MN_ST_CODEBOOK) cli_check(mn_codebook_info_of(s, &rows[i++].after));
    }
    cli_check(mn_graph_set_meta(&g, "encoded", huff ? "huffman" : "plain"));
    cli_check(mn_model_save(&g, out));
    long b0 = cli_file_size(in), b1 = cli_file_size(out);
    if (cli_flag(&a, "json")) {
        printf("{\"input\":");
        cli_json_str(in);
        printf(",\"output\":");
        cli_json_str(out);
        printf(",\"coding\":\"%s\",\"layers\":[", huff ? "huffman" : "plain");
        for (int i = 0; i < n; i++) {
            const row *r = &rows[i];
            printf("%s{\"name\":", i ? "," : "");
            cli_json_str(r->name);
            printf(",\"entries\":%lld,\"bits\":%d,\"sparse\":%s,"
                   "\"bytes_before\":%zu,\"bytes_after\":%zu,\"index_bits_before\":%.4f,\"index_bits_after\":%.4f,"
                   "\"gap_bits_before\":%.4f,\"gap_bits_after\":%.4f,\"huffman_index\":%s,\"huffman_gaps\":%s}",
                   (long long)r->after.entries, r->after.bits, r->after.sparse ? "true" : "false",
                   r->before.bytes, r->after.bytes, per_entry(r->before.index_bytes, r->before.entries),
                   per_entry(r->after.index_bytes, r->after.entries), per_entry(r->before.gap_bytes, r->before.entries),
                   per_entry(r->after.gap_bytes, r->after.entries), r->after.huff_index ? "true" : "false",
                   r->after.huff_gaps ? "true" : "false");
        }
        printf("],\"file_bytes_before\":%ld,\"file_bytes_after\":%ld}\n", b0, b1);
    } else {
        printf("%-16s %9s %5s %14s %14s %16s\n", "layer", "entries", "bits", "index b/entry", "gap b/entry", "bytes");
        for (int i = 0; i < n; i++) {
            const row *r = &rows[i];
            char ib[32], gb[32], by[32];
            snprintf(ib, sizeof ib, "%.2f -> %.2f", per_entry(r->before.index_bytes, r->before.entries),
                     per_entry(r->after.index_bytes, r->after.entries));
            snprintf(gb, sizeof gb, "%.2f -> %.2f", per_entry(r->before.gap_bytes, r->before.entries),
                     per_entry(r->after.gap_bytes, r->after.entries));
            snprintf(by, sizeof by, "%zu -> %zu", r->before.bytes, r->after.bytes);
            printf("%-16s %9lld %5d %14s %14s %16s\n", r->name, (long long)r->after.entries, r->after.bits,
                   ib, r->after.sparse ? gb : "-", by);
        }
        printf("%s: %ld bytes -> %s: %ld bytes (%.2fx smaller)\n", in, b0, out, b1, b1 > 0 ? (double)b0 / b1 : 0.0);
    }
    mn_graph_free(&g);
    return 0;
}
