#!/usr/bin/env bash
# Slimmable networks from the CLI on a small CSV problem (no MNIST needed):
# `train --widths` writes one model whose widths eval/bench/info/export-c
# run alone (fewer MACs, fewer units in the exported C, whose outputs equal
# the runtime's); `slim` cuts one width out; `train --width` trains one
# width alone with the same units; every misuse is one line and exit 1.
set -u
BIN=${1:?usage: cli_slim.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"

mkdir -p "$T/d"
mkcsv_signs "$T/d/train.csv" 400 3
mkcsv_signs "$T/d/val.csv" 200 4
D=(--data "$T/d" --batch 20 --lr 0.01 --epochs 6)
SPEC="input x; dense fc1 units=16; batchnorm b1; relu r1; dense fc2 units=12; batchnorm b2; relu r2; dense fc3 units=classes"

expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --widths 0.25,0.5,1 --json -o "$T/s.mnw" || { echo "cannot train"; exit 1; }
check "$T/out" "[w['width'] for w in r['widths']] == [0.25, 0.5, 1] and r['widths'][0]['macs'] < r['widths'][1]['macs'] < r['widths'][2]['macs']"
check "$T/out" "r['widths'][2]['val_error'] < 0.3"

# every width, its error and MACs; the plot
expect_ok "$BIN" eval "$T/s.mnw" --data "$T/d" --sweep-width --json --svg "$T/sw.svg"
cp "$T/out" "$T/sweep.json"
check "$T/sweep.json" "len(r['widths']) == 3 and all(a['avg_macs'] < b['avg_macs'] and a['params'] < b['params'] for a, b in zip(r['widths'], r['widths'][1:]))"
grep -q "<svg" "$T/sw.svg" && ok || bad "no SVG from --sweep-width --svg"
# 0.5: fc1 keeps 8 of 16 units, fc2 6 of 12: (6*8 + 8*6 + 6*3) MACs + batch norm
expect_ok "$BIN" eval "$T/s.mnw" --data "$T/d" --width 0.5 --json
check "$T/out" "r['avg_macs'] == [w for w in json.load(open('$T/sweep.json'))['widths'] if w['width'] == 0.5][0]['avg_macs']"
check "$T/out" "r['error'] == [w for w in json.load(open('$T/sweep.json'))['widths'] if w['width'] == 0.5][0]['error']"
# without --width: the full width
expect_ok "$BIN" eval "$T/s.mnw" --data "$T/d" --json
check "$T/out" "r['avg_macs'] == json.load(open('$T/sweep.json'))['widths'][2]['avg_macs']"

expect_ok "$BIN" info "$T/s.mnw" --json
check "$T/out" "[w['width'] for w in r['widths']] == [0.25, 0.5, 1] and r['macs'] == r['widths'][2]['macs']"
expect_ok "$BIN" info "$T/s.mnw" --width 0.25 --json
check "$T/out" "[l['output'] for l in r['layers'] if l['name'] in ('fc1', 'fc2', 'fc3')] == ['4', '3', '3']"
expect_ok "$BIN" bench "$T/s.mnw" --width 0.25 --runs 50 --json
check "$T/out" "r['macs'] == json.load(open('$T/sweep.json'))['widths'][0]['avg_macs']"

# slim: a plain model of one width, the same outputs
expect_ok "$BIN" slim "$T/s.mnw" --width 0.5 -o "$T/h.mnw" --json
expect_ok "$BIN" eval "$T/h.mnw" --data "$T/d" --json
check "$T/out" "r['error'] == [w for w in json.load(open('$T/sweep.json'))['widths'] if w['width'] == 0.5][0]['error']"
expect_ok "$BIN" info "$T/h.mnw" --json
check "$T/out" "'widths' not in r and not any(l['op'] == 'sbn' for l in r['layers'])"
expect_ok "$BIN" prune "$T/h.mnw" --method magnitude --sparsity 0.5 --data "$T/d" -o "$T/hp.mnw"

# export-c at two widths: only that width's units in the C, outputs equal
if command -v gcc >/dev/null; then
  for w in 0.25 1; do
    expect_ok "$BIN" export-c "$T/s.mnw" --width $w -o "$T/c$w" --check 50 --data "$T/d" --json
    if (cd "$T/c$w" && gcc -std=c99 -O2 model_test.c model.c -o check -lm) 2>"$T/err"; then
      "$T/c$w/check" >"$T/c$w.out" && ok || bad "export-c --width $w differs from minnow: $(cat "$T/c$w.out")"
    else
      bad "export-c --width $w: model_test.c does not compile: $(head -3 "$T/err")"
    fi
  done
  a=$(stat -c %s "$T/c0.25/model.c") b=$(stat -c %s "$T/c1/model.c")
  [ "$a" -lt "$b" ] && ok || bad "model.c of width 0.25 ($a bytes) is not smaller than width 1's ($b)"
fi

# train --width: the narrower network alone, the same units as the slimmable width
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --width 0.5 --json -o "$T/a.mnw"
expect_ok "$BIN" info "$T/a.mnw" --json
check "$T/out" "r['macs'] == [w for w in json.load(open('$T/sweep.json'))['widths'] if w['width'] == 0.5][0]['avg_macs']"

# misuse: one line, exit 1, nothing written
expect_fail 1 "not one of the model's widths" -- "$BIN" eval "$T/s.mnw" --data "$T/d" --width 0.3
expect_fail 1 "slimmable model" -- "$BIN" prune "$T/s.mnw" --method magnitude --sparsity 0.5 --data "$T/d" -o "$T/x.mnw"
absent "$T/x.mnw"
expect_fail 1 "slimmable model" -- "$BIN" export-onnx "$T/s.mnw" -o "$T/x.onnx"
absent "$T/x.onnx"
expect_fail 1 "--width applies to slimmable models" -- "$BIN" eval "$T/a.mnw" --data "$T/d" --width 0.5
expect_fail 1 "not a slimmable model" -- "$BIN" eval "$T/a.mnw" --data "$T/d" --sweep-width
expect_fail 1 "the last width must be 1" -- "$BIN" train --arch "$SPEC" "${D[@]}" --widths 0.25,0.5 -o "$T/x.mnw"
expect_fail 1 "not ascending" -- "$BIN" train --arch "$SPEC" "${D[@]}" --widths 1,0.5 -o "$T/x.mnw"
expect_fail 1 "not both" -- "$BIN" train --arch "$SPEC" "${D[@]}" --widths 0.5,1 --width 0.5 -o "$T/x.mnw"
expect_fail 1 "exclude --binary" -- "$BIN" train --arch "$SPEC" "${D[@]}" --widths 0.5,1 --binary xnor -o "$T/x.mnw"
expect_fail 1 "excludes --width" -- "$BIN" eval "$T/s.mnw" --data "$T/d" --sweep-width --width 0.5
expect_fail 1 "--width W is required" -- "$BIN" slim "$T/s.mnw" -o "$T/x.mnw"
absent "$T/x.mnw"
finish cli_slim
