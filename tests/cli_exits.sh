#!/usr/bin/env bash
# CLI behaviour of multi-exit training (`minnow train --exit-weights`),
# early-exit evaluation (`minnow eval --exit-threshold / --sweep / --svg`)
# and `minnow arch` on a small CSV problem: real runs with JSON reports, and
# bad input (one clear stderr line, non-zero exit, no output file left).
set -u
BIN=${1:?usage: cli_exits.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
py() { /usr/bin/python3 -c "$@"; }

mkdir -p "$T/d"
mkcsv_signs "$T/d/train.csv" 400 3
mkcsv_signs "$T/d/val.csv" 150 4
XSPEC="input x; dense h1 units=16; relu a1; dense exit1 units=classes; dense h2 units=32 in=a1; relu a2; dense h3 units=32; relu a3; dense out units=classes"
SSPEC="input x; dense h1 units=8; relu a1; dense out units=classes"

for v in eval arch; do expect_ok "$BIN" "$v" --help; done
expect_ok "$BIN" train --arch "$XSPEC" --data "$T/d" --epochs 30 --batch 20 --lr 0.01 --exit-weights 0.5,1 -o "$T/x.mnw" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); assert r["val_error"]<=0.15, r' "$T/out" && ok || bad "train report $(head -c 300 "$T/out")"
expect_ok "$BIN" train --arch "$SSPEC" --data "$T/d" --epochs 5 --batch 20 --lr 0.01 -o "$T/s.mnw"

# sweep: threshold 0 = everyone at exit 1, above 1 = everyone at the end
expect_ok "$BIN" eval "$T/x.mnw" --data "$T/d" --sweep --json --svg "$T/curve.svg"
py 'import json,sys
r=json.load(open(sys.argv[1])); ex=r["exits"]; sw=r["sweep"]
assert len(ex)==2 and ex[0]["node"]=="exit1" and ex[1]["node"]=="out" and ex[0]["macs"]<ex[1]["macs"], ex
assert sw[0]["threshold"]==0 and sw[0]["taken"]==[150,0] and abs(sw[0]["avg_macs"]-ex[0]["macs"])<1e-6, sw[0]
assert sw[-1]["taken"]==[0,150] and abs(sw[-1]["avg_macs"]-ex[1]["macs"])<1e-6 and abs(sw[-1]["error"]-ex[1]["error_alone"])<1e-6, sw[-1]
assert all(a["avg_macs"]<=b["avg_macs"]+1e-6 for a,b in zip(sw,sw[1:])), sw' "$T/out" && ok || bad "sweep report $(head -c 400 "$T/out")"
head -c 4 "$T/curve.svg" | grep -q "<svg" && grep -q "</svg>" "$T/curve.svg" && ok || bad "svg not written"
expect_ok "$BIN" eval "$T/x.mnw" --data "$T/d" --sweep
grep -q "threshold" "$T/out" && ok || bad "sweep table $(head -c 300 "$T/out")"

# one threshold: the real piecewise run
expect_ok "$BIN" eval "$T/x.mnw" --data "$T/d" --exit-threshold 0.9 --json
py 'import json,sys; r=json.load(open(sys.argv[1])); assert r["n"]==150 and sum(r["taken"])==150 and r["avg_macs"]<=r["full_macs"] and 0<=r["error"]<=0.2, r' "$T/out" && ok || bad "threshold report $(head -c 300 "$T/out")"
expect_ok "$BIN" eval "$T/x.mnw" --data "$T/d" --exit-threshold 0.9
grep -q "fewer" "$T/out" && ok || bad "threshold text $(head -c 300 "$T/out")"
# plain eval of a multi-exit model is the last head
expect_ok "$BIN" eval "$T/x.mnw" --data "$T/d" --json

# export-c with the decisions: model_run returns at the first sure head, with
# minnow's answers and, sample by sample, the same exits as eval
expect_ok "$BIN" eval "$T/x.mnw" --data "$T/d" --exit-threshold 0.9 --json
cp "$T/out" "$T/taken.json"
if command -v gcc >/dev/null; then
  expect_ok "$BIN" export-c "$T/x.mnw" --exit-threshold 0.9 -o "$T/xc" --check 150 --data "$T/d" --target host
  cat >"$T/xc/count.c" <<'EOF'
#include <stdio.h>
#include "model.h"
static float x[MODEL_IN_SIZE], y[MODEL_OUT_SIZE], s[MODEL_SCRATCH_BYTES / sizeof(float) + 1];
int main(void) {
    int taken[8] = {0}, r;
    FILE *f = fopen("inputs.bin", "rb");
    if (!f) return 2;
    while (fread(x, sizeof(float), MODEL_IN_SIZE, f) == MODEL_IN_SIZE)
        if ((r = model_run(x, y, s)) >= 0 && r < 8) taken[r]++;
    printf("[%d,%d]\n", taken[0], taken[1]);
    return 0;
}
EOF
  if (cd "$T/xc" && gcc -std=c99 -Wall -Wextra -Werror -pedantic -c model.c -o model.o &&
      gcc -std=c99 -O2 model_test.c model.c -o check -lm && gcc -std=c99 -O2 count.c model.c -o count -lm) 2>"$T/err"; then
    "$T/xc/check" >"$T/xc.out" && ok || bad "exported early exit differs from minnow: $(cat "$T/xc.out")"
    (cd "$T/xc" && ./count) >"$T/xc.count"
    py 'import json,sys; t=json.load(open(sys.argv[1]))["taken"]; c=json.load(open(sys.argv[2])); assert c==t and c[0]>0, (c,t)' \
      "$T/taken.json" "$T/xc.count" && ok || bad "exported exits $(cat "$T/xc.count") vs eval's $(head -c 200 "$T/taken.json")"
  else
    bad "early-exit model.c does not compile: $(head -3 "$T/err")"
  fi
fi
expect_fail 1 "one head" -- "$BIN" export-c "$T/s.mnw" --exit-threshold 0.9 -o "$T/sc"
absent "$T/sc"

# bad input
expect_fail 1 "exit weights" -- "$BIN" train --arch "$XSPEC" --data "$T/d" --epochs 1 --exit-weights 1 -o "$T/bad.mnw"
expect_fail 1 "exit-weights" -- "$BIN" train --arch "$XSPEC" --data "$T/d" --epochs 1 --exit-weights 1,x -o "$T/bad.mnw"
expect_fail 1 "non-negative" -- "$BIN" train --arch "$XSPEC" --data "$T/d" --epochs 1 --exit-weights 1,-2 -o "$T/bad.mnw"
[ -e "$T/bad.mnw" ] && bad "failed train left a file" || ok
expect_fail 1 "one head" -- "$BIN" eval "$T/s.mnw" --data "$T/d" --exit-threshold 0.9
expect_fail 1 "sweep" -- "$BIN" eval "$T/x.mnw" --data "$T/d" --svg "$T/no.svg"
[ -e "$T/no.svg" ] && bad "svg written without --sweep" || ok
expect_fail 2 "exit-threshold" -- "$BIN" eval "$T/x.mnw" --data "$T/d" --exit-threshold 3
expect_fail 1 "" -- "$BIN" eval "$T/x.mnw" --data "$T/d" --sweep --svg "$T/nodir/c.svg"

# arch: side by side
expect_ok "$BIN" arch lenet5 lenet5dw --json
py 'import json,sys; a=json.load(open(sys.argv[1]))["archs"]; assert a[0]["conv_params"]>=3*a[1]["conv_params"] and a[1]["conv_params_ratio"]>=3 and a[1]["macs"]<a[0]["macs"], a' "$T/out" && ok || bad "arch report $(head -c 300 "$T/out")"
expect_ok "$BIN" arch conv4 conv4dw --shape 3,32,32
expect_ok "$BIN" arch "$T/x.mnw" "$XSPEC" --shape 6,1,1 --classes 3
expect_fail 1 "shape" -- "$BIN" arch lenet5 --shape 1,28
expect_fail 1 "unknown architecture" -- "$BIN" arch nosuch
expect_fail 2 "ARCH" -- "$BIN" arch

finish cli_exits
