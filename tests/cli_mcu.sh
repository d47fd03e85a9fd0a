#!/usr/bin/env bash
# Exported models on a microcontroller's instruction set (docs/MCU.md):
# `export-c --target` builds with arm-none-eabi-gcc and runs in
# qemu-system-arm, and scripts/mcu.sh finds every output equal to minnow's,
# for every storage kind (f32, CSR, int8 and int4 affine, codebook with
# Huffman-coded indices, binary, XNOR with input scales) and a CNN with a
# residual add, a concat and batch norm, on Cortex-M4, M7 and M33 and the
# host; codebooks decoded once (--decode startup); int8 layers on SMLAD
# against their portable twin; the memory plan (--report, --max-ram,
# --max-flash) and bad input.
# Skips (77) without the ARM toolchain or QEMU; the MNIST part without
# $MINNOW_DATA/mnist.
set -u
BIN=${1:?usage: cli_mcu.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
for t in arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm make python3; do
  command -v $t >/dev/null || { echo "no $t: skip (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"; exit 77; }
done
[ -f "$(arm-none-eabi-gcc -print-file-name=rdimon.specs)" ] || { echo "no newlib (rdimon.specs): skip (apt-get install libnewlib-arm-none-eabi)"; exit 77; }
MCU="$(dirname "$0")/../scripts/mcu.sh"
export MINNOW=$BIN

mkcsv_signs "$T/train.csv" 300 3
mkcsv_signs "$T/val.csv" 100 4
mkdir -p "$T/d" && mv "$T/train.csv" "$T/val.csv" "$T/d/"
SPEC="input x; dense fc1 units=16; relu r1; dense fc2 units=classes"
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 2 --threads 1 -o "$T/csv.mnw"

# mcu MODEL TARGET DATA N [TOL]: one JSON line, every image agreeing.
mcu() {
  local out="$T/mcu.$RANDOM.json"
  if "$MCU" "$1" "$2" "$3" val "$4" "${5:-1e-3}" >"$out" 2>"$T/err"; then
    check "$out" "r['target'] == '$2' and r['n'] == $4 and r['agree'] == $4 and r['flash_bytes'] > 0 and r['ram_bytes'] > 0"
    echo "  $(basename "$1") on $2: $(cat "$out")"
    cp "$out" "$T/last.json"
  else
    bad "mcu.sh $1 $2: $(cat "$T/err") $(cat "$out")"
  fi
}
mcu "$T/csv.mnw" cortex-m4 "$T/d" 50
check "$T/last.json" "r['insns_per_inference'] > 0 and r['model_flash_bytes'] <= r['flash_bytes']"
mcu "$T/csv.mnw" cortex-m33 "$T/d" 10
mcu "$T/csv.mnw" host "$T/d" 10
check "$T/last.json" "r['ns_per_inference'] > 0"

# The plan: what --report prints, and budgets refused before anything is written.
expect_ok "$BIN" export-c "$T/csv.mnw" -o "$T/rep" --report
grep -q '^fc1 *f32' "$T/out" && grep -q '^flash: ' "$T/out" && grep -q '^ram: ' "$T/out" && ok || bad "--report: $(cat "$T/out")"
expect_ok "$BIN" export-c "$T/csv.mnw" -o "$T/rep2" --json
check "$T/out" "r['plan']['arena_bytes'] <= r['plan']['naive_arena_bytes'] and r['nlayers'] == 2 and r['plan']['flash_bytes'] >= r['weight_bytes'] and [l['name'] for l in r['layers']] == ['fc1', 'fc2']"
expect_fail 1 "--max-ram" -- "$BIN" export-c "$T/csv.mnw" -o "$T/small" --max-ram 100
absent "$T/small"
expect_fail 1 "--max-flash" -- "$BIN" export-c "$T/csv.mnw" -o "$T/small" --max-flash 100
absent "$T/small"
expect_ok "$BIN" export-c "$T/csv.mnw" -o "$T/fits" --max-ram 100000 --max-flash 100000
expect_fail 1 "unknown target" -- "$BIN" export-c "$T/csv.mnw" -o "$T/x" --target cortex-a53
absent "$T/x"
expect_fail 1 "usage" -- "$MCU" "$T/csv.mnw" cortex-m4
expect_fail 1 "unknown target" -- "$MCU" "$T/csv.mnw" avr "$T/d" val 5
expect_fail 1 "positive integer" -- "$MCU" "$T/csv.mnw" cortex-m4 "$T/d" val many
expect_fail 1 "TOL must be" -- "$MCU" "$T/csv.mnw" cortex-m4 "$T/d" val 5 tight
expect_fail 2 "max-ram" -- "$BIN" export-c "$T/csv.mnw" -o "$T/x" --max-ram 0
# a failed export leaves none of its files (here: main.c cannot be written)
mkdir -p "$T/half/main.c"
expect_fail 1 "main.c" -- "$BIN" export-c "$T/csv.mnw" -o "$T/half" --target host
absent "$T/half/model.c"
expect_fail 1 "no such model" -- "$MCU" "$T/missing.mnw" cortex-m4 "$T/d" val 5
# An image whose outputs differ at all from minnow's disagrees at TOL 0
# (summation order differs between the device and the BLAS).
"$MCU" "$T/csv.mnw" cortex-m4 "$T/d" val 50 >"$T/z.json" 2>/dev/null
if "$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["max_abs_diff"] > 0 else 1)' "$T/z.json"; then
  "$MCU" "$T/csv.mnw" cortex-m4 "$T/d" val 50 0 >"$T/z0.json" 2>/dev/null && bad "TOL 0 with differences: exit 0" || ok
  check "$T/z0.json" "r['agree'] < r['n']"
fi

if [ ! -f "${MINNOW_DATA:-}/mnist/train-labels-idx1-ubyte.gz" ]; then
  echo "cli_mcu: \$MINNOW_DATA/mnist absent: the storage kinds on MNIST skipped"
  finish cli_mcu; exit
fi
M=(--data mnist --threads 1)
MLP='input in c=1 h=28 w=28; flatten f; dense fc1 units=64; relu r1; dense fc2 units=32; relu r2; dense fc3 units=classes'
CNN='input in c=1 h=28 w=28; conv c1 filters=6 k=5; relu r1; maxpool p1 k=2; batchnorm bn1; conv c2 filters=6 k=3 pad=1; relu r2; add a1 in=r2,bn1; conv s1 filters=2 k=1 in=bn1; concat cc in=a1,s1; avgpool p2 k=2; flatten f; dense fc1 units=32; relu r3; dense fc2 units=classes'
BCNN='input in c=1 h=28 w=28; conv c1 filters=4 k=5; relu r1; maxpool p1 k=2; conv c2 filters=8 k=3 pad=1; relu r2; conv c3 filters=8 k=3 stride=2 pad=1; relu r3; flatten f; dense fc units=classes'
expect_ok "$BIN" train --arch "$MLP" "${M[@]}" --epochs 1 -o "$T/mlp.mnw"
expect_ok "$BIN" train --arch "$CNN" "${M[@]}" --epochs 1 -o "$T/cnn.mnw"
expect_ok "$BIN" train --arch "$BCNN" "${M[@]}" --epochs 1 --val none -o "$T/bcnn.mnw"
expect_ok "$BIN" prune "$T/mlp.mnw" --method magnitude --sparsity 0.9 "${M[@]}" -o "$T/csr.mnw"
expect_ok "$BIN" quantize "$T/cnn.mnw" --method affine --bits 8 "${M[@]}" -o "$T/int8.mnw"
expect_ok "$BIN" quantize "$T/mlp.mnw" --method affine --bits 4 "${M[@]}" -o "$T/int4.mnw"
cat >"$T/dc.yaml" <<YAML
passes:
  - prune: {sparsity: 0.9}
  - quantize: {method: kmeans, bits: 4, finetune: 0}
  - encode: {huffman: true}
YAML
expect_ok "$BIN" compress "$T/mlp.mnw" --recipe "$T/dc.yaml" "${M[@]}" -o "$T/cb.mnw"
sed 's/sparsity: 0.9/sparsity: 0.5/' "$T/dc.yaml" >"$T/dc_cnn.yaml" # the 1x1 conv has 12 weights
expect_ok "$BIN" compress "$T/cnn.mnw" --recipe "$T/dc_cnn.yaml" "${M[@]}" -o "$T/cnn_cb.mnw"
expect_ok "$BIN" binarize "$T/mlp.mnw" --method binaryconnect --epochs 1 --val none "${M[@]}" -o "$T/bc.mnw"
expect_ok "$BIN" binarize "$T/bcnn.mnw" --method xnor --input-scale --epochs 1 --val none "${M[@]}" -o "$T/xnor.mnw"
# The issue's models on Cortex-M4 and M7, 100 val images each: every class
# equal to minnow's, int8 bit-exact, float within 1e-3; the plan's flash and
# RAM within 5% of the linker's sections plus the painted stack.
expect_ok "$BIN" train --arch lenet300 "${M[@]}" --epochs 1 -o "$T/l300.mnw"
expect_ok "$BIN" compress "$T/l300.mnw" --recipe recipes/deep-compression-lenet300.yaml "${M[@]}" -o "$T/dc300.mnw"
expect_ok "$BIN" train --arch lenet5 "${M[@]}" --epochs 1 -o "$T/l5.mnw"
expect_ok "$BIN" quantize "$T/l5.mnw" --method affine --bits 8 "${M[@]}" -o "$T/q5.mnw"
# and a pruned ResNet-20 (a quarter of the width: batch norm, residual adds, strided and 1x1 convs)
expect_ok "$BIN" train --arch resnet20:0.25 "${M[@]}" --epochs 1 -o "$T/r20.mnw"
expect_ok "$BIN" prune "$T/r20.mnw" --method magnitude --sparsity 0.5 --finetune 1 "${M[@]}" -o "$T/r20p.mnw"
# and half its filters removed by channel groups (batch norm folded on export)
expect_ok "$BIN" prune "$T/r20.mnw" --method filter --sparsity 0.5 --finetune 1 "${M[@]}" -o "$T/r20f.mnw"
for target in cortex-m4 cortex-m7; do
  for m in l300 dc300 q5 bc r20p r20f; do
    mcu "$T/$m.mnw" $target mnist 100
    check "$T/last.json" "abs(r['plan_flash_bytes'] / r['model_flash_bytes'] - 1) <= 0.05 and abs(r['plan_ram_bytes'] / r['model_ram_bytes'] - 1) <= 0.05"
    [ $m = q5 ] && check "$T/last.json" "r['max_abs_diff'] == 0"
  done
done
mcu "$T/mlp.mnw" cortex-m4 mnist 20
mcu "$T/cnn.mnw" cortex-m4 mnist 20
mcu "$T/csr.mnw" cortex-m4 mnist 20
# int8 activations: integer kernels, SMLAD on the DSP cores; the portable C
# twin (-DMDL_PORTABLE) gives the same outputs in more instructions.
mcu "$T/int8.mnw" cortex-m4 mnist 20
cp "$T/last.json" "$T/dsp.json"
MCU_MAKE_OPTS="EXTRA=-DMDL_PORTABLE" mcu "$T/int8.mnw" cortex-m4 mnist 20
"$PY" - "$T/dsp.json" "$T/last.json" <<'PY' && ok || bad "SMLAD vs portable: $(cat "$T/dsp.json" "$T/last.json")"
import json, sys
d, p = (json.load(open(f)) for f in sys.argv[1:])
assert d["max_abs_diff"] == p["max_abs_diff"] and d["insns_per_inference"] < p["insns_per_inference"], (d, p)
PY
mcu "$T/int4.mnw" cortex-m4 mnist 20
# 4-bit codes two to a byte on the device too
expect_ok "$BIN" export-c "$T/int4.mnw" -o "$T/i4" --json
check "$T/out" "[l['bytes'] for l in r['layers'] if l['name'] == 'fc1'][0] <= 784 * 64 // 2 + 1024"
mcu "$T/cb.mnw" cortex-m4 mnist 20
cp "$T/last.json" "$T/fly.json"
# codebooks decoded once into RAM: the same outputs, fewer instructions, more RAM
MCU_EXPORT_OPTS="--decode startup" mcu "$T/cb.mnw" cortex-m4 mnist 20
"$PY" - "$T/fly.json" "$T/last.json" <<'PY' && ok || bad "--decode startup: $(cat "$T/last.json")"
import json, sys
f, s = (json.load(open(p)) for p in sys.argv[1:])
assert s["decode"] == "startup" and f["decode"] == "fly"
assert s["insns_per_inference"] < f["insns_per_inference"] and s["plan_ram_bytes"] > f["plan_ram_bytes"], (f, s)
PY
MCU_EXPORT_OPTS="--decode startup" mcu "$T/cnn_cb.mnw" cortex-m4 mnist 20
mcu "$T/bc.mnw" cortex-m4 mnist 20
mcu "$T/xnor.mnw" cortex-m4 mnist 20
mcu "$T/cnn.mnw" cortex-m7 mnist 20
# int8 depthwise convs run on integer window sums, as minnow runs them
expect_ok "$BIN" train --arch lenet5dw "${M[@]}" --epochs 1 -o "$T/l5dw.mnw"
expect_ok "$BIN" quantize "$T/l5dw.mnw" --method affine --bits 8 "${M[@]}" -o "$T/l5dwq.mnw"
mcu "$T/l5dwq.mnw" cortex-m4 mnist 20
mcu "$T/cb.mnw" cortex-m33 mnist 20
mcu "$T/xnor.mnw" cortex-m33 mnist 20
finish cli_mcu
