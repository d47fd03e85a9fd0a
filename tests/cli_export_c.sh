#!/usr/bin/env bash
# `minnow export-c`: a Deep-Compressed LeNet-300-100 (recipe) and a pruned,
# int8 small CNN, and binarized MLPs and CNNs (BinaryConnect, XNOR-Net with
# thresholds and input scales, bitwise with zeros) become standalone C that
# compiles with strict C99 flags alone, whose outputs on real MNIST val
# images equal minnow's runtime outputs, and whose const weight bytes stay
# within 10% of the .mnw file.
# Skips (77) without MNIST data or gcc.
set -u
BIN=${1:?usage: cli_export_c.sh path/to/minnow}
[ -n "${MINNOW_DATA:-}" ] || MINNOW_DATA=../shared/data
export MINNOW_DATA # minnow itself has no default beside the checkout
[ -f "$MINNOW_DATA/mnist/train-labels-idx1-ubyte.gz" ] || { echo "no MNIST data: skip"; exit 77; }
command -v gcc >/dev/null || { echo "no gcc: skip"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
STRICT="-std=c99 -Wall -Wextra -Werror -pedantic"

# Sum of the sizes of the object's read-only data symbols (the const arrays).
rodata() { nm -S "$1" | awk '$3 ~ /^[rR]$/ {print $2}' | while read -r h; do echo $((16#$h)); done | awk '{s += $1} END {print s + 0}'; }

# export MODEL DIR [TOL]: export-c with a 200-image check, strict compile of model.c
# alone, then the check program; prints the JSON report.
export_and_check() {
  local m=$1 d=$2 tol=${3:-1e-4}
  "$BIN" export-c "$m" -o "$d" --check 200 --tol "$tol" --json >"$d.json" 2>"$T/err" || { bad "export-c $m: $(cat "$T/err")"; return 1; }
  (cd "$d" && gcc $STRICT -c model.c -o model.o) 2>"$T/err" || { bad "$m: model.c does not compile strictly: $(head -5 "$T/err")"; return 1; }
  (cd "$d" && gcc -std=c99 -O2 model_test.c model.c -o check -lm) 2>"$T/err" || { bad "$m: model_test.c: $(head -5 "$T/err")"; return 1; }
  "$d/check" >"$d.check" || { bad "$m: exported C differs from minnow: $(cat "$d.check")"; return 1; }
  echo "  $(basename "$m"): $(cat "$d.json") $(cat "$d.check")"
  # no malloc, nothing but memcpy/memset (and expf/tanhf) from libc
  local und; und=$(nm -u "$d/model.o" | awk '{print $2}' | grep -v -E '^(memcpy|memset|expf|tanhf)$')
  [ -z "$und" ] || bad "$m: model.o needs $und"
  return 0
}

# 1. Deep Compression of LeNet-300-100: prune, k-means share, Huffman-code.
"$BIN" train --arch lenet300 --epochs 2 --threads 1 -o "$T/dense.mnw" 2>/dev/null || bad "train lenet300"
"$BIN" compress "$T/dense.mnw" --recipe recipes/deep-compression-lenet300.yaml -o "$T/dc.mnw" >/dev/null 2>&1 ||
  bad "compress with the Deep Compression recipe"
if export_and_check "$T/dc.mnw" "$T/dc"; then
  wb=$(grep -o '"weight_bytes":[0-9]*' "$T/dc.json" | cut -d: -f2)
  fb=$(stat -c %s "$T/dc.mnw")
  rb=$(rodata "$T/dc/model.o")
  echo "  deep-compressed lenet300: const weight arrays $wb bytes (nm: $rb), .mnw file $fb bytes"
  [ "$rb" -ge "$wb" ] && [ "$rb" -le $((wb + 1024)) ] || bad "nm counts $rb bytes of const data, export-c said $wb"
  [ $((wb * 10)) -le $((fb * 11)) ] && [ $((wb * 10)) -ge $((fb * 9)) ] || bad "weights $wb bytes not within 10% of the file's $fb"
  grep -q 'math.h' "$T/dc/model.c" && bad "lenet300 needs no math.h"
  grep -q 'malloc' "$T/dc/model.c" && bad "model.c mentions malloc"
fi

# 2. A small CNN (conv, pools, batchnorm, residual add, concat): pruned (CSR), then int8 affine.
SPEC='input in c=1 h=28 w=28; conv c1 filters=6 k=5; relu r1; maxpool p1 k=2; batchnorm bn1; conv c2 filters=6 k=3 pad=1; relu r2; add a1 in=r2,bn1; conv s1 filters=2 k=1 in=bn1; concat cc in=a1,s1; avgpool p2 k=2; flatten f; dense fc1 units=32; relu r3; dense fc2 units=classes'
"$BIN" train --arch "$SPEC" --epochs 1 --threads 1 -o "$T/cnn.mnw" 2>/dev/null || bad "train small cnn"
export_and_check "$T/cnn.mnw" "$T/cnn_f32" >/dev/null || true
"$BIN" prune "$T/cnn.mnw" --method magnitude --sparsity 0.8 -o "$T/cnn_p.mnw" >/dev/null 2>&1 || bad "prune cnn"
export_and_check "$T/cnn_p.mnw" "$T/cnn_p" || true
grep -q mdl_csr_row "$T/cnn_p/model.c" && grep -q mdl_dense_csr "$T/cnn_p/model.c" || bad "pruned cnn not exported as CSR"
"$BIN" quantize "$T/cnn.mnw" --method affine --bits 8 -o "$T/cnn_q.mnw" >/dev/null 2>&1 || bad "quantize cnn"
# int8 activations: the generated C sums the same integer products as
# minnow's kernels, so the logits agree to float tolerance.
export_and_check "$T/cnn_q.mnw" "$T/cnn_q" || true
grep -q 'signed char p' "$T/cnn_q/model.c" || bad "int8 cnn not exported as int8 codes"
grep -q 'mdl_dot16' "$T/cnn_q/model.c" || bad "int8 cnn not run on the integer kernels"
# int8 depthwise convs: integer window sums in minnow (mn_i8_dw) and here.
"$BIN" train --arch lenet5dw --epochs 1 --threads 1 -o "$T/dw.mnw" 2>/dev/null || bad "train lenet5dw"
"$BIN" quantize "$T/dw.mnw" --method affine --bits 8 -o "$T/dw_q.mnw" >/dev/null 2>&1 || bad "quantize lenet5dw"
export_and_check "$T/dw_q.mnw" "$T/dw_q" || true
[ "$(grep -c 'mdl_conv_plane16(xq' "$T/dw_q/model.c")" = 4 ] || bad "int8 depthwise convs not run on the integer kernels"

# 3. Binarized models: the weights stay 1 bit (uint64_t sign planes, a zero
# plane for bitwise sparsity), +-1 layers run XNOR + popcount, and the logits
# equal minnow's to float tolerance with every argmax the same.
binary_case() { # NAME MODEL
  local d="$T/$1"
  export_and_check "$2" "$d" || return 1
  grep -q 'argmax_agree 200' "$d.check" || bad "$1: argmax differs: $(cat "$d.check")"
  grep -q 'static const uint64_t p[0-9]*_w\[' "$d/model.c" || bad "$1: no packed sign plane"
  grep -q 'stdint.h' "$d/model.c" || bad "$1: no stdint.h"
  grep -E -q 'mdl_xnor\(xb|mdl_sacc\(x|mdl_cacc\(x' "$d/model.c" || bad "$1: no binary kernel used"
  return 0
}
MLP='input in c=1 h=28 w=28; flatten f; dense fc1 units=48; relu r1; dense fc2 units=32; relu r2; dense fc3 units=classes'
BCNN='input in c=1 h=28 w=28; conv c1 filters=4 k=5; relu r1; maxpool p1 k=2; conv c2 filters=8 k=3 pad=1; relu r2; conv c3 filters=8 k=3 stride=2 pad=1; relu r3; flatten f; dense fc units=classes'
"$BIN" train --arch lenet300 --binary binaryconnect --epochs 1 --val none --threads 1 -o "$T/bc.mnw" 2>/dev/null || bad "train --binary binaryconnect"
if binary_case bc "$T/bc.mnw"; then
  # all three layers binary: the const arrays are the bits, close to the file
  wb=$(grep -o '"weight_bytes":[0-9]*' "$T/bc.json" | cut -d: -f2)
  fb=$(stat -c %s "$T/bc.mnw")
  rb=$(rodata "$T/bc/model.o")
  echo "  binaryconnect lenet300: const weight arrays $wb bytes (nm: $rb), .mnw file $fb bytes"
  [ "$rb" -ge "$wb" ] && [ "$rb" -le $((wb + 1024)) ] || bad "bc: nm counts $rb bytes of const data, export-c said $wb"
  [ $((wb * 10)) -le $((fb * 11)) ] && [ $((wb * 10)) -ge $((fb * 9)) ] || bad "bc: weights $wb bytes not within 10% of the file's $fb"
fi
"$BIN" train --arch "$MLP" --epochs 1 --val none --threads 1 -o "$T/mlp.mnw" 2>/dev/null || bad "train mlp"
"$BIN" train --arch "$BCNN" --epochs 1 --val none --threads 1 -o "$T/bcnn.mnw" 2>/dev/null || bad "train cnn"
binarize() { # OUT PARENT ARGS...
  local o=$1 p=$2; shift 2
  "$BIN" binarize "$T/$p.mnw" "$@" --epochs 1 --val none --threads 1 -o "$T/$o.mnw" >/dev/null 2>&1 || bad "binarize $o: $*"
}
binarize xnor mlp --method xnor
binary_case xnor "$T/xnor.mnw" && { grep -q '? 1.0f : -1.0f' "$T/xnor/model.c" || bad "xnor: no thresholds"; }
binarize bw mlp --method bitwise --sparsity 0.3 --pretrain-epochs 1
binary_case bw "$T/bw.mnw" && { grep -q 'static const uint64_t p[0-9]*_m\[' "$T/bw/model.c" || bad "bitwise: no zero plane"; }
binarize xcnn bcnn --method xnor
binary_case xcnn "$T/xcnn.mnw" && { grep -q 'mdl_field' "$T/xcnn/model.c" || bad "xnor cnn: no binary conv"; }
binarize xcnnk bcnn --method xnor --input-scale
binary_case xcnnk "$T/xcnnk.mnw" && { grep -q 'mdl_kbox(s' "$T/xcnnk/model.c" || bad "xnor cnn: no input scale K"; }

# 4. Bad input: one line, non-zero exit.
"$BIN" export-c "$T/missing.mnw" -o "$T/x" 2>"$T/err"; rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] || bad "missing model: exit $rc, $(cat "$T/err")"
"$BIN" export-c "$T/dc.mnw" 2>"$T/err"; rc=$?
[ $rc != 0 ] && [ $rc -lt 128 ] || bad "no -o: exit $rc"

[ $fails = 0 ] && echo "cli_export_c: all passed" && exit 0
echo "cli_export_c: $fails failed"; exit 1
