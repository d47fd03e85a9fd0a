/* Every verb is `int cmd_NAME(int argc, char **argv)` (argv after the verb). */
#ifndef MINNOW_CMDS_H
#define MINNOW_CMDS_H
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_distill(int argc, char **argv);
/* distill --mutual N (cmd_distill_mutual.c), with cmd_distill's parsed arguments. */
struct cli_args;
int cmd_distill_mutual(struct cli_args *a, int npeers);
int cmd_factorize(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_sensitivity(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_binarize(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export_onnx(int argc, char **argv);
int cmd_export_c(int argc, char **argv);
int cmd_arch(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_fold(int argc, char **argv);
int cmd_slim(int argc, char **argv);
int cmd_gate(int argc, char **argv);
#endif
