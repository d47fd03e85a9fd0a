/* minnow slim: one width of a slimmable model cut out as a plain model
 * (minnow/slim.h), for the verbs that take one network: prune, quantize,
 * export-onnx, ... */
#include <stdio.h>

#include "cli.h"
#include "minnow/io.h"
#include "minnow/slim.h"

static const char *HELP =
    "usage: minnow slim IN.mnw --width W -o OUT.mnw [--json]\n"
    "Cuts width W out of a slimmable model (minnow train --widths): a plain model\n"
    "with that width's units and batch norm, which every verb takes.  Its outputs\n"
    "are those of `minnow eval IN.mnw --width W`.\n"
    "  --width W  one of the model's widths (minnow info IN.mnw lists them)\n"
    "  -o FILE    output model, written atomically\n"
    "  --json     one JSON object on stdout\n";

int cmd_slim(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 width: o: json", HELP);
    const char *in = cli_pos(&a, 0, "input model IN.mnw"), *out = cli_str(&a, "o", NULL);
    if (!out) cli_die("-o OUT.mnw is required (see --help)");
    if (!cli_flag(&a, "width")) cli_die("--width W is required (see --help)");
    double w = cli_width(&a);
    mn_graph g;
    int nw = 0;
    cli_load_model_width(in, &g, w, &nw);
    cli_check(mn_model_save(&g, out));
    if (cli_flag(&a, "json"))
        printf("{\"input\":%s,\"output\":%s,\"width\":%g,\"params\":%lld,\"macs\":%lld,\"file_bytes\":%ld}\n", cli_jq(in),
               cli_jq(out), w, (long long)cli_trainable_params(&g), (long long)mn_graph_macs(&g), cli_file_size(out));
    else
        printf("%s -> %s: width %g, %lld MACs per sample, %ld bytes\n", in, out, w, (long long)mn_graph_macs(&g),
               cli_file_size(out));
    mn_graph_free(&g);
    return 0;
}
