/* minnow export-c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/dist.h"
#include "minnow/exits.h"
#include "minnow/export_c.h"

static const char *HELP =
    "usage: minnow export-c MODEL.mnw -o DIR [--target T] [--check N [--data DIR] [--split val]]\n"
    "                       [--report] [--max-ram B] [--max-flash B] [--width W] [--json]\n"
    "Writes DIR/model.c and DIR/model.h: standalone C99 for a device, holding the\n"
    "weights in their compressed storage (f32, CSR, int8 affine, codebook with\n"
    "Huffman-coded indices, packed sign bits of binary layers with XNOR/popcount)\n"
    "and the inference code for exactly this model:\n"
    "    int model_run(const float *in, float *out, void *scratch);\n"
    "with MODEL_IN_SIZE, MODEL_OUT_SIZE and MODEL_SCRATCH_BYTES.  No malloc, no\n"
    "libc beyond memcpy/memset (expf/tanhf only for softmax/tanh models).\n"
    "  -o DIR            output directory (created if missing)\n"
    "  --target T        also write a program that runs the model on DIR/inputs.bin and\n"
    "                    prints its outputs: main.c and a Makefile for host (cc), or for\n"
    "                    cortex-m4 | cortex-m7 | cortex-m33 a bare-metal build for\n"
    "                    arm-none-eabi-gcc (startup.c, link.ld) that `make run` starts in\n"
    "                    qemu-system-arm (MPS2 AN386 / AN500 / AN505, semihosting I/O);\n"
    "                    with --check N, DIR/inputs.bin and DIR/expected.bin hold the N\n"
    "                    inputs and minnow's outputs (scripts/mcu.sh compares them)\n"
    "  --decode WHEN     codebook layers: fly (default: Huffman streams decoded a row at a\n"
    "                    time while the layer runs) | startup (decoded once, on the first\n"
    "                    call, into RAM: faster, costs 3 bytes per weight kept)\n"
    "  --report          print the memory plan: weight bytes per layer, flash (weights +\n"
    "                    code estimate), RAM (activation arena of the liveness plan,\n"
    "                    input/output, stack estimate)\n"
    "  --max-ram B       refuse (exit 1, nothing written) if the planned RAM exceeds B bytes\n"
    "  --max-flash B     ... if the planned flash exceeds B bytes\n"
    "  --check N         also write DIR/model_test.c: model_run on N images of the\n"
    "                    data split against minnow's own outputs\n"
    "  --data DIR        data for --check (DIR or data set name, default mnist)\n"
    "  --split NAME      split for --check (default val)\n"
    "  --tol X           largest |difference| model_test.c accepts (default 1e-4)\n"
    "  --exit-threshold P  multi-exit models (e.g. lenet5x3, resnet20x3): model_run stops at the\n"
    "                    first head whose top softmax probability is >= P, with that head's\n"
    "                    logits in out, and returns its index (later layers not run)\n"
    "  --width W         slimmable models: export width W alone (default the full width):\n"
    "                    the C holds and runs only that width's units\n"
    "  --json            one JSON object on stdout\n";

static int shown(const mn_export_c_info *f) {
    int cap = (int)(sizeof f->layers / sizeof f->layers[0]);
    return f->nlayers < cap ? f->nlayers : cap;
}

static void report(FILE *o, const mn_export_c_info *f) {
    fprintf(o, "%-16s %-9s %10s\n", "layer", "storage", "bytes");
    for (int i = 0; i < shown(f); i++) fprintf(o, "%-16s %-9s %10zu\n", f->layers[i].name, f->layers[i].storage, f->layers[i].bytes);
    if (f->nlayers > shown(f)) fprintf(o, "(and %d more layers)\n", f->nlayers - shown(f));
    fprintf(o, "flash: %zu bytes = weights %zu + code ~%zu (estimate)\n", f->flash_bytes, f->weight_bytes, f->code_bytes_est);
    fprintf(o, "ram:   %zu bytes = scratch %zu (activations %zu, one buffer per node: %zu; weight rows %zu)"
               " + input/output %zu + stack ~%zu (estimate)",
            f->ram_bytes, f->scratch_bytes, f->arena_bytes, f->naive_bytes, f->scratch_bytes - f->arena_bytes, f->io_bytes,
            f->stack_bytes_est);
    if (f->decoded_bytes) fprintf(o, " + decoded codebooks %zu", f->decoded_bytes);
    fprintf(o, "\n");
}

static void json(const mn_export_c_info *f, long fb, int nt, const char *target, const char *decode) {
    printf("{\"weight_bytes\":%zu,\"mnw_bytes\":%ld,\"ratio\":%.4f,\"scratch_bytes\":%zu,\"in\":%d,\"out\":%d,"
           "\"math\":%s,\"check\":%d,", f->weight_bytes, fb, fb > 0 ? (double)f->weight_bytes / (double)fb : 0,
           f->scratch_bytes, f->in_size, f->out_size, f->needs_math ? "true" : "false", nt);
    if (target) printf("\"target\":\"%s\",", target);
    printf("\"decode\":\"%s\",", decode);
    printf("\"plan\":{\"flash_bytes\":%zu,\"code_bytes_est\":%zu,\"ram_bytes\":%zu,\"scratch_bytes\":%zu,"
           "\"arena_bytes\":%zu,\"naive_arena_bytes\":%zu,\"io_bytes\":%zu,\"stack_bytes_est\":%zu,\"decoded_bytes\":%zu},"
           "\"nlayers\":%d,\"layers\":[",
           f->flash_bytes, f->code_bytes_est, f->ram_bytes, f->scratch_bytes, f->arena_bytes, f->naive_bytes, f->io_bytes,
           f->stack_bytes_est, f->decoded_bytes, f->nlayers);
    for (int i = 0; i < shown(f); i++) {
        printf("%s{\"name\":", i ? "," : "");
        cli_json_str(f->layers[i].name);
        printf(",\"storage\":\"%s\",\"bytes\":%zu}", f->layers[i].storage, f->layers[i].bytes);
    }
    printf("]}\n");
}

/* A failed export removes what it would have written (each file is written
 * atomically, but a directory holding half of an export is half-written). */
static void unwrite(const char *dir, const char *target, int nt) {
    if (!mn_dist_root()) return; /* under MPI rank 0 alone writes */
    static const char *const model[] = {"model.c", "model.h", "model_test.c"},
                             *harness[] = {"main.c", "Makefile", "startup.c", "link.ld", "inputs.bin", "expected.bin"};
    char p[4096];
    for (int i = 0; i < (nt > 0 ? 3 : 2); i++)
        if (snprintf(p, sizeof p, "%s/%s", dir, model[i]) < (int)sizeof p) remove(p);
    for (int i = 0; target && i < 6; i++)
        if ((i < 2 || strcmp(target, "host")) || i >= 4)
            if (snprintf(p, sizeof p, "%s/%s", dir, harness[i]) < (int)sizeof p) remove(p);
}

int cmd_export_c(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 o:dir target: check: data: split: tol: decode: report max-ram: max-flash: width: exit-threshold: json", HELP);
    const char *in = cli_pos(&a, 0, "input model MODEL.mnw"), *dir = cli_str(&a, "o", NULL);
    if (!dir) cli_die("-o DIR is required (see --help)");
    int nt = (int)cli_int(&a, "check", 0, 0, 10000);
    float tol = (float)cli_num(&a, "tol", 1e-4, 0, 1e30);
    const char *target = cli_str(&a, "target", NULL);
    if (target && !mn_export_c_target_known(target))
        cli_die("--target: unknown target '%s' (one of %s)", target, mn_export_c_targets());
    const char *decode = cli_str(&a, "decode", "fly");
    if (strcmp(decode, "fly") && strcmp(decode, "startup")) cli_die("--decode: fly or startup, not '%s'", decode);
    mn_export_c_opts opts = {.decode_startup = !strcmp(decode, "startup"),
                             .exit_threshold = (float)cli_num(&a, "exit-threshold", 0, 1e-6, 1)};
    double max_ram = cli_num(&a, "max-ram", 0, 1, 1e15), max_flash = cli_num(&a, "max-flash", 0, 1, 1e15);
    mn_graph g;
    cli_load_model_width(in, &g, cli_width(&a), NULL);
    float *x = NULL, *y = NULL;
    if (nt > 0) {
        mn_dataset d;
        cli_load_data(cli_data_dir(&a), cli_str(&a, "split", "val"), &d);
        int64_t ni = mn_shape_numel(mn_graph_input_shape(&g)), no = mn_shape_numel(mn_graph_output_shape(&g));
        if ((int64_t)d.c * d.h * d.w != ni) cli_die("the data's samples have %d values, the model takes %lld", d.c * d.h * d.w, (long long)ni);
        if (nt > d.n) nt = d.n;
        x = malloc(sizeof(float) * (size_t)(ni * nt));
        y = malloc(sizeof(float) * (size_t)(no * nt));
        if (!x || !y) cli_die("out of memory");
        memcpy(x, d.x, sizeof(float) * (size_t)(ni * nt));
        mn_dataset_free(&d);
        cli_check(mn_graph_reserve(&g, nt));
        if (opts.exit_threshold > 0) cli_check(mn_exits_answer(&g, x, nt, opts.exit_threshold, y, NULL));
        else memcpy(y, mn_graph_forward(&g, x, nt, 0), sizeof(float) * (size_t)(no * nt));
    }
    /* The plan first: a model over budget writes nothing. */
    mn_export_c_info info;
    cli_check(mn_export_c(&g, NULL, NULL, NULL, 0, tol, &opts, &info));
    if (cli_flag(&a, "report")) report(cli_flag(&a, "json") ? stderr : stdout, &info);
    if (max_ram > 0 && (double)info.ram_bytes > max_ram)
        cli_die("the model needs %zu bytes of RAM (arena %zu, input/output %zu, stack ~%zu), more than --max-ram %.0f",
                info.ram_bytes, info.scratch_bytes, info.io_bytes, info.stack_bytes_est, max_ram);
    if (max_flash > 0 && (double)info.flash_bytes > max_flash)
        cli_die("the model needs %zu bytes of flash (weights %zu, code ~%zu), more than --max-flash %.0f",
                info.flash_bytes, info.weight_bytes, info.code_bytes_est, max_flash);
    if (target && nt == 0 && mn_dist_root()) { /* a previous export's inputs would pass for this model's */
        char p[4096];
        if (snprintf(p, sizeof p, "%s/inputs.bin", dir) < (int)sizeof p) remove(p);
        if (snprintf(p, sizeof p, "%s/expected.bin", dir) < (int)sizeof p) remove(p);
    }
    mn_status st = mn_export_c(&g, dir, x, y, nt, tol, &opts, &info);
    if (!st && target) st = mn_export_c_harness(dir, target);
    if (!st && target && nt > 0) st = mn_export_c_io(dir, x, y, nt, info.in_size, info.out_size);
    if (st) unwrite(dir, target, nt);
    cli_check(st);
    long fb = cli_file_size(in);
    if (cli_flag(&a, "json"))
        json(&info, fb, nt, target, decode);
    else
        fprintf(stderr, "wrote %s/model.c, %s/model.h: %zu bytes of weights (the .mnw file: %ld bytes), %zu bytes of scratch\n",
                dir, dir, info.weight_bytes, fb, info.scratch_bytes);
    free(x);
    free(y);
    mn_graph_free(&g);
    return 0;
}
