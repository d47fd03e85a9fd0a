#!/usr/bin/env bash
# `minnow gate` on a small residual MLP and a CSV problem (no MNIST needed):
# gates go on both residual blocks; a high cost makes samples skip blocks
# (fewer MACs per sample, measured per sample by eval); the exported C runs
# the same decisions (outputs equal the runtime's); misuse is one line and
# exit 1 with nothing written.
set -u
BIN=${1:?usage: cli_gate.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"

mkdir -p "$T/d"
mkcsv_signs "$T/d/train.csv" 600 3
mkcsv_signs "$T/d/val.csv" 300 4
SPEC="input x; dense fc0 units=16; relu r0; dense b1 units=16; relu b1r; dense b2 units=16; add a1 in=b2,r0; relu r1;
dense b3 units=16; relu b3r; dense b4 units=16; add a2 in=b4,r1; relu r2; dense out units=classes"
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --batch 20 --lr 0.01 --epochs 8 -o "$T/m.mnw" || { echo "cannot train"; exit 1; }

expect_ok "$BIN" gate --help
expect_ok "$BIN" gate "$T/m.mnw" --cost 0 --epochs 2 --data "$T/d" --batch 20 --json -o "$T/g0.mnw"
check "$T/out" "r['gates'] == 2 and r['after']['avg_macs'] == r['after']['full_macs'] and r['before']['error'] < 0.2"
expect_ok "$BIN" gate "$T/m.mnw" --cost 20 --epochs 4 --opt sgd --lr 0.05 --data "$T/d" --batch 20 --json -o "$T/g.mnw"
cp "$T/out" "$T/gate.json"
check "$T/gate.json" "r['after']['avg_macs'] < 0.9 * r['after']['full_macs'] and len(r['after']['open']) == 2"
check "$T/gate.json" "sum(b['n'] for b in r['after']['by_open_gates']) == r['after']['n'] == 300"

# with the ungated model as a distillation teacher
expect_ok "$BIN" gate "$T/m.mnw" --cost 20 --distill --temperature 2 --epochs 2 --opt sgd --lr 0.05 --data "$T/d" --batch 20 --json -o "$T/gk.mnw"
check "$T/out" "r['distill'] and r['after']['avg_macs'] <= r['after']['full_macs']"
expect_fail 1 "go with --distill" -- "$BIN" gate "$T/m.mnw" --cost 1 --alpha 0.5 --data "$T/d" -o "$T/x.mnw"

# eval runs each sample as its gates decide
expect_ok "$BIN" eval "$T/g.mnw" --data "$T/d" --json
check "$T/out" "r['avg_macs'] == json.load(open('$T/gate.json'))['after']['avg_macs'] and r['errors'] == json.load(open('$T/gate.json'))['after']['errors']"
expect_ok "$BIN" info "$T/g.mnw" --json
check "$T/out" "sorted(l['op'] for l in r['layers'] if l['op'] in ('gate', 'gadd')) == ['gadd', 'gadd', 'gate', 'gate']"

# export-c: the decisions in C, outputs equal
if command -v gcc >/dev/null; then
  expect_ok "$BIN" export-c "$T/g.mnw" -o "$T/c" --check 100 --data "$T/d"
  grep -q "\[0\] != 0) {" "$T/c/model.c" && ok || bad "model.c has no gated branch"
  if (cd "$T/c" && gcc -std=c99 -Wall -Wextra -Werror -pedantic -c model.c -o model.o &&
      gcc -std=c99 -O2 model_test.c model.c -o check -lm) 2>"$T/err"; then
    "$T/c/check" >"$T/c.out" && ok || bad "exported gated C differs from minnow: $(cat "$T/c.out")"
  else
    bad "gated model.c does not compile: $(head -3 "$T/err")"
  fi
fi

# a recipe pass
printf 'name: gated\npasses:\n  - gate:\n      cost: 20\n      epochs: 4\n      opt: sgd\n      lr: 0.05\n      batch: 20\n' >"$T/g.yaml"
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/g.yaml" --data "$T/d" -o "$T/rg.mnw"
expect_ok "$BIN" eval "$T/rg.mnw" --data "$T/d" --json
check "$T/out" "r['avg_macs'] < 0.9 * r['gates']['full_macs']"
printf 'name: gated\npasses:\n  - gate:\n      epochs: 1\n' >"$T/g2.yaml"
expect_fail 1 "needs 'cost'" -- "$BIN" compress "$T/m.mnw" --recipe "$T/g2.yaml" --data "$T/d" -o "$T/x.mnw"

# misuse
expect_fail 1 "--cost C is required" -- "$BIN" gate "$T/m.mnw" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "gated already" -- "$BIN" gate "$T/g.mnw" --cost 1 --data "$T/d" -o "$T/x.mnw"
"$BIN" train --arch "input x; dense a units=8; relu r; dense o units=classes" --data "$T/d" --epochs 1 -o "$T/p.mnw" 2>/dev/null
expect_fail 1 "no residual block" -- "$BIN" gate "$T/p.mnw" --cost 1 --data "$T/d" -o "$T/x.mnw"
absent "$T/x.mnw"
expect_fail 1 "has no ONNX form" -- "$BIN" export-onnx "$T/g.mnw" -o "$T/x.onnx"
absent "$T/x.onnx"
finish cli_gate
