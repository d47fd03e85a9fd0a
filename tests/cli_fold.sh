#!/usr/bin/env bash
# CLI behaviour of `minnow fold` on a small CSV problem (no MNIST needed):
# a dense layer's batch norm folds into it with the same predictions, the
# exporters fold by themselves, and a model with nothing to fold is refused
# with one clear line and no output.
set -u
BIN=${1:?usage: cli_fold.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"

mkdir -p "$T/d"
mkcsv_signs "$T/d/train.csv" 400 3
mkcsv_signs "$T/d/val.csv" 200 4
D=(--data "$T/d" --batch 20 --lr 0.01 --epochs 8)
SPEC="input x; dense fc1 units=16; batchnorm b1; relu r1; dense fc2 units=12; batchnorm b2; relu r2; dense fc3 units=classes"
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" -o "$T/m.mnw" || { echo "cannot train"; exit 1; }
expect_ok "$BIN" train --arch "input x; dense fc1 units=8; relu r1; dense fc2 units=classes" "${D[@]}" -o "$T/plain.mnw"

expect_ok "$BIN" fold --help
expect_ok "$BIN" fold "$T/m.mnw" -o "$T/f.mnw" --json
check "$T/out" "r['folded'] == 2 and r['batchnorm_left'] == 0 and r['nodes'] == r['nodes_before'] - 2 and r['max_abs_diff'] < 1e-4"
"$BIN" eval "$T/m.mnw" --data "$T/d" --json >"$T/e1.json" 2>/dev/null
"$BIN" eval "$T/f.mnw" --data "$T/d" --json >"$T/e2.json" 2>/dev/null
check "$T/e2.json" "r['error'] == json.load(open('$T/e1.json'))['error']"
"$BIN" info "$T/f.mnw" >"$T/info" 2>&1
grep -q "batchnorm" "$T/info" && bad "a batch norm is left in the folded model" || ok

# The exporters fold: no batch norm loop in model.c.
expect_ok "$BIN" export-c "$T/m.mnw" -o "$T/c"
grep -qi "batchnorm" "$T/c/model.c" && bad "export-c kept a batch norm" || ok

expect_fail 1 "no batch norm to fold" -- "$BIN" fold "$T/plain.mnw" -o "$T/x.mnw"
absent "$T/x.mnw"
expect_fail 1 "-o OUT.mnw is required" -- "$BIN" fold "$T/m.mnw"
finish cli_fold
