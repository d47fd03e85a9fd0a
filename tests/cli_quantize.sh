#!/usr/bin/env bash
# `minnow quantize`: every method end to end on a small CSV problem (no MNIST
# needed), JSON reports, sizes, and bad input (one clear line on stderr,
# non-zero exit, no half-written output).
set -u
BIN=${1:?usage: cli_quantize.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"

# 3 classes from the signs of two of 12 features (CSV rows are flat, so
# this model is dense; the conv path runs on MNIST below when present).
mkcsv() { # file n
  awk -v n="$2" 'BEGIN{srand(7); printf "f0"; for(j=1;j<12;j++) printf ",f%d", j; print ",label";
    for(i=0;i<n;i++){a=rand()*2-1;b=rand()*2-1; l=(a>0)+(b>0); printf "%.4f,%.4f", a, b;
      for(j=2;j<12;j++) printf ",%.4f", rand(); printf ",%d\n", l}}' >"$1"
}
mkdir -p "$T/d"
mkcsv "$T/d/train.csv" 600
mkcsv "$T/d/val.csv" 200
SPEC="input x; dense fc1 units=32; relu r1; dense fc2 units=24; relu r2; dense fc3 units=classes"
D=(--data "$T/d")

expect_ok "$BIN" quantize --help
grep -q -- "--granularity" "$T/out" && ok || bad "help lacks --granularity"
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 30 --batch 20 --lr 0.01 -o "$T/m.mnw"
dense=$(stat -c %s "$T/m.mnw")

# affine int8 per channel: integer kernels, 4x smaller weights, accuracy kept
expect_ok "$BIN" quantize "$T/m.mnw" --method affine "${D[@]}" -o "$T/a8.mnw" --json
check "$T/out" 'r["method"]=="affine" and len(r["layers"])==3 and all(l["storage"]=="affine" and l["weight_bits"]==8 and l["act_bits"]==8 and l["kernel"]!="f32" for l in r["layers"])'
check "$T/out" 'r["val_error_after"] <= r["val_error_before"] + 0.02 and r["output_bytes"] < r["input_bytes"]'

# the PTQ debugger: fc2 at 2 bits among 8-bit layers is the layer flagged;
# fc3 at 0 bits stays f32
expect_ok "$BIN" quantize "$T/m.mnw" --method affine --layer-bits fc2=2,fc3=0 --report "${D[@]}" -o "$T/dbg.mnw"
grep -q '^  fc2 .*adds the most noise' "$T/out" && grep -q '^  output: SQNR' "$T/out" && ok || bad "--report: $(cat "$T/out")"
expect_ok "$BIN" quantize "$T/m.mnw" --method affine --layer-bits fc2=2,fc3=0 --report --report-samples 100 "${D[@]}" -o "$T/dbg.mnw" --json
check "$T/out" 'r["report"]["samples"] == 100 and [l["name"] for l in r["report"]["layers"]] == ["fc1", "fc2", "fc3"] and [l["adds_most"] for l in r["report"]["layers"]] == [False, True, False] and r["report"]["layers"][1]["sqnr_db"] < r["report"]["layers"][0]["sqnr_db"]'
check "$T/out" '[l["name"] for l in r["layers"]] == ["fc1", "fc2"] and r["layers"][1]["weight_bits"] == 2'
expect_ok "$BIN" info "$T/dbg.mnw"
grep -q '^fc3 .* f32 ' "$T/out" && ok || bad "fc3 not left f32: $(cat "$T/out")"
expect_fail 1 "no dense or conv layer 'nosuch'" -- "$BIN" quantize "$T/m.mnw" --method affine --layer-bits nosuch=4 "${D[@]}" -o "$T/bad.mnw"
absent "$T/bad.mnw"
expect_fail 1 "0 (float) or 2..8" -- "$BIN" quantize "$T/m.mnw" --method affine --layer-bits fc1=1 "${D[@]}" -o "$T/bad.mnw"
absent "$T/bad.mnw"
expect_fail 1 "--layer-bits applies to affine and kmeans" -- "$BIN" quantize "$T/m.mnw" --method qat --layer-bits fc1=0 "${D[@]}" -o "$T/bad.mnw"
expect_fail 1 "--report-samples goes with --report" -- "$BIN" quantize "$T/m.mnw" --method affine --report-samples 10 "${D[@]}" -o "$T/bad.mnw"
# --report checks the data against the model like every other verb
mkdir -p "$T/d3" && printf 'a,b,c,label\n' >"$T/d3/train.csv" && for i in $(seq 40); do echo "0.1,0.2,0.3,$((i % 3))" >>"$T/d3/train.csv"; done
expect_fail 1 "takes 12" -- "$BIN" quantize "$T/m.mnw" --method affine --act-bits 0 --report --data "$T/d3" --val none -o "$T/bad.mnw"
absent "$T/bad.mnw"
# a recipe's bad layer bits are refused before anything trains
printf 'passes:\n  - prune: {sparsity: 0.5, finetune: 1}\n  - quantize: {method: affine, layer-bits: "fc9=4"}\n' >"$T/rq.yaml"
expect_fail 1 "fc9" -- "$BIN" compress "$T/m.mnw" --recipe "$T/rq.yaml" "${D[@]}" -o "$T/bad.mnw"
grep -q "epoch" "$T/err" && bad "the recipe trained before refusing" || ok
absent "$T/bad.mnw"
expect_ok "$BIN" eval "$T/a8.mnw" "${D[@]}" --json
check "$T/out" 'r["error"] <= 0.15'
expect_ok "$BIN" bench "$T/a8.mnw" --batch 3 --runs 20 --json

# 4 and 2 bits pack 2 and 4 codes per byte
expect_ok "$BIN" quantize "$T/m.mnw" --method affine --bits 4 --scheme symmetric --calib minmax "${D[@]}" -o "$T/a4.mnw" --json
check "$T/out" 'all(l["weight_bits"]==4 and l["scales"]>1 for l in r["layers"])'
expect_ok "$BIN" quantize "$T/m.mnw" --method affine --bits 4 --granularity tensor --clip minmax "${D[@]}" -o "$T/a4t.mnw" --json
check "$T/out" 'all(l["weight_bits"]==4 and l["scales"]==1 for l in r["layers"])'
expect_ok "$BIN" quantize "$T/m.mnw" --method affine --bits 2 "${D[@]}" -o "$T/a2.mnw" --json
check "$T/out" 'all(l["weight_bits"]==2 for l in r["layers"])'
s8=$(stat -c %s "$T/a8.mnw"); s4=$(stat -c %s "$T/a4.mnw"); s2=$(stat -c %s "$T/a2.mnw")
[ "$s2" -lt "$s4" ] && [ "$s4" -lt "$s8" ] && [ "$s8" -lt "$dense" ] && ok || bad "sizes: dense $dense 8b $s8 4b $s4 2b $s2"
expect_ok "$BIN" quantize "$T/m.mnw" --method affine --act-bits 0 "${D[@]}" -o "$T/w8.mnw" --json
check "$T/out" 'all(l["kernel"]=="f32" and l["act_bits"]==0 for l in r["layers"])'

# fixed point: formats from histograms, the sweep, the stored model
expect_ok "$BIN" quantize "$T/m.mnw" --method fixed --frac-bits 6 "${D[@]}" -o "$T/f6.mnw" --json
check "$T/out" 'all(l["weight_frac_bits"]==6 and l["act_frac_bits"]==6 and l["storage"]=="affine" for l in r["layers"])'
expect_ok "$BIN" eval "$T/f6.mnw" "${D[@]}" --json
expect_ok "$BIN" quantize "$T/m.mnw" --method fixed --sweep --sweep-min 0 --sweep-max 6 "${D[@]}" --json
check "$T/out" 'len(r["sweep"])==7 and r["sweep"][0]["both"] >= r["sweep"][6]["both"] and r["output_bytes"]==-1'
expect_ok "$BIN" quantize "$T/m.mnw" --method fixed --target acts --frac-bits 3 "${D[@]}" -o "$T/fa.mnw" --json
check "$T/out" 'all(l["storage"]=="f32" and l["act_bits"]>0 for l in r["layers"])'

# quantization-aware training
expect_ok "$BIN" quantize "$T/m.mnw" --method qat --bits 2 --epochs 2 --batch 20 "${D[@]}" -o "$T/q2.mnw" --json
check "$T/out" 'r["quant"].endswith("qat2") and all(l["weight_bits"]==2 for l in r["layers"]) and r["val_error_after"] <= 0.3'

# bad input
expect_fail 1 "--method is required" -- "$BIN" quantize "$T/m.mnw" -o "$T/x.mnw"
expect_fail 1 "unknown --method" -- "$BIN" quantize "$T/m.mnw" --method frob -o "$T/x.mnw"
expect_fail 1 "-o" -- "$BIN" quantize "$T/m.mnw" --method affine "${D[@]}"
expect_fail 2 "--bits" -- "$BIN" quantize "$T/m.mnw" --method affine --bits 9 -o "$T/x.mnw"
expect_fail 2 "--granularity" -- "$BIN" quantize "$T/m.mnw" --method affine --granularity row -o "$T/x.mnw"
expect_fail 2 "--frac-bits" -- "$BIN" quantize "$T/m.mnw" --method fixed --frac-bits -1 -o "$T/x.mnw"
expect_fail 2 "unknown option" -- "$BIN" quantize "$T/m.mnw" --method affine --bogus -o "$T/x.mnw"
expect_fail 1 "needs 12-bit weights" -- "$BIN" quantize "$T/m.mnw" --method fixed --frac-bits 8 --int-bits 3 --target weights "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "nosuch" -- "$BIN" quantize "$T/nosuch.mnw" --method affine -o "$T/x.mnw"
head -c 300 "$T/a8.mnw" >"$T/trunc.mnw"
expect_fail 1 "trunc" -- "$BIN" quantize "$T/trunc.mnw" --method affine "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "" -- "$BIN" quantize "$T/m.mnw" --method affine --data "$T/nodata" -o "$T/x.mnw"
[ -e "$T/x.mnw" ] && bad "a failed quantize left $T/x.mnw" || ok

# conv layers on MNIST images, if the data is there (a tiny conv net, 1 epoch)
M=${MINNOW_DATA:-../shared/data}/mnist
if [ -e "$M/train-images-idx3-ubyte.gz" ] || [ -e "$M/train-images-idx3-ubyte" ]; then
  CS="input x; conv c1 filters=6 k=5; relu r1; maxpool p1 k=2; conv c2 filters=8 k=3 pad=1; relu r2; maxpool p2 k=2; flatten f; dense fc units=classes"
  expect_ok "$BIN" train --arch "$CS" --data "$M" --epochs 1 -o "$T/c.mnw"
  expect_ok "$BIN" quantize "$T/c.mnw" --method affine --data "$M" -o "$T/c8.mnw" --json
  check "$T/out" 'len(r["layers"])==3 and all(l["kernel"]!="f32" for l in r["layers"]) and r["val_error_after"] <= r["val_error_before"] + 0.01'
  expect_ok "$BIN" quantize "$T/c.mnw" --method fixed --frac-bits 5 --data "$M" -o "$T/cf.mnw" --json
  check "$T/out" 'r["val_error_after"] <= r["val_error_before"] + 0.02'
else
  echo "cli_quantize: no MNIST in $M, conv part skipped"
fi

finish cli_quantize
