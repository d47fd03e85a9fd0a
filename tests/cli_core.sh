#!/usr/bin/env bash
# CLI behaviour of the core verbs: help, JSON reports, and bad input (one
# clear line on stderr, non-zero exit, no crash, no half-written output).
set -u
BIN=${1:?usage: cli_core.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
json_ok() { /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null || { bad "not JSON: $(head -c 200 "$1")"; return 1; }; ok; }

# A small separable CSV problem: 3 classes by the sign pattern of 4 features.
mkcsv() { # file n labelmax
  awk -v n="$2" -v lm="$3" 'BEGIN{srand(3); print "a,b,c,d,label";
    for(i=0;i<n;i++){a=rand()*2-1;b=rand()*2-1;c=rand();d=rand(); l=(a>0)+(b>0); if(l>lm)l=lm;
      printf "%.4f,%.4f,%.4f,%.4f,%d\n",a,b,c,d,l}}' >"$1"
}
mkdir -p "$T/d"
mkcsv "$T/d/train.csv" 300 2
mkcsv "$T/d/val.csv" 100 2
SPEC="input x; dense fc1 units=16; relu r; dense fc2 units=classes"

# help and usage
for v in train eval info bench demo; do expect_ok "$BIN" "$v" --help; done
expect_fail 2 "usage" -- "$BIN"
expect_fail 2 "unknown verb" -- "$BIN" frobnicate
expect_fail 2 "unknown option" -- "$BIN" eval --bogus x
expect_fail 2 "--epochs" -- "$BIN" train --arch lenet300 --epochs -3 -o "$T/x.mnw"

# a real run on CSV data, JSON reports
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 20 --batch 20 --lr 0.01 -o "$T/m.mnw" --json
json_ok "$T/out"
expect_ok "$BIN" eval "$T/m.mnw" --data "$T/d" --split val --json
json_ok "$T/out" && /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["n"]==100 and 0<=r["error"]<=0.2, r' "$T/out" || bad "eval result"
expect_ok "$BIN" info "$T/m.mnw" --json
json_ok "$T/out" && /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["params"]==4*16+16+16*3+3 and r["file_bytes"]>0 and r["layers"], r' "$T/out" || bad "info result"
expect_ok "$BIN" bench "$T/m.mnw" --batch 4 --runs 50 --json
json_ok "$T/out"

# unknown architecture, bad spec
expect_fail 1 "unknown architecture" -- "$BIN" train --arch nosuchnet --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "unknown op" -- "$BIN" train --arch "input x; frob y" --data "$T/d" -o "$T/x.mnw"
[ -e "$T/x.mnw" ] && bad "failed train left $T/x.mnw"

# NaN during training: clear message naming the step, no output file
expect_fail 1 "diverged" -- "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 5 --lr 1e30 --opt sgd -o "$T/nan.mnw"
[ -e "$T/nan.mnw" ] && bad "diverged train left a file"
# ... and an existing output stays intact
cp "$T/m.mnw" "$T/keep.mnw"
expect_fail 1 "diverged" -- "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 5 --lr 1e30 --opt sgd -o "$T/keep.mnw"
cmp -s "$T/m.mnw" "$T/keep.mnw" || bad "failed train damaged an existing output"
ls "$T" | grep -q '\.tmp\.' && bad "temporary file left behind"

# labels out of range, wrong shapes
mkdir -p "$T/big"
mkcsv "$T/big/val.csv" 50 2
sed -i '3s/,[0-9]*$/,7/' "$T/big/val.csv"
expect_fail 1 "out of range" -- "$BIN" eval "$T/m.mnw" --data "$T/big" --split val
mkdir -p "$T/wide"
printf 'a,b,label\n0.1,0.2,1\n0.3,0.1,0\n' >"$T/wide/val.csv"
expect_fail 1 "model takes" -- "$BIN" eval "$T/m.mnw" --data "$T/wide" --split val
printf 'a,b,label\n0.1,0.2,-1\n' >"$T/wide/val.csv"
expect_fail 1 "label" -- "$BIN" eval "$T/m.mnw" --data "$T/wide" --split val
printf 'a,b,label\n0.1,0.2\n' >"$T/wide/val.csv"
expect_fail 1 "line" -- "$BIN" eval "$T/m.mnw" --data "$T/wide" --split val
expect_fail 1 "" -- "$BIN" eval "$T/m.mnw" --data "$T/nonexistent" --split val

# truncated and corrupt IDX
mkdir -p "$T/idx"
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03' >"$T/idx/val-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x02\x01\x00' >"$T/idx/val-labels-idx1-ubyte"
expect_fail 1 "idx" -- "$BIN" eval "$T/m.mnw" --data "$T/idx" --split val
printf 'garbage!garbage!garbage' >"$T/idx/val-images-idx3-ubyte"
expect_fail 1 "idx" -- "$BIN" eval "$T/m.mnw" --data "$T/idx" --split val

# truncated, corrupt and non-model files
size=$(stat -c %s "$T/m.mnw")
for cut in 3 20 100 $((size / 2)) $((size - 1)); do
  head -c "$cut" "$T/m.mnw" >"$T/cut.mnw"
  expect_fail 1 "cut.mnw" -- "$BIN" info "$T/cut.mnw"
done
cp "$T/m.mnw" "$T/flip.mnw"
printf '\xff' | dd of="$T/flip.mnw" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect_fail 1 "flip.mnw" -- "$BIN" eval "$T/flip.mnw" --data "$T/d"
expect_fail 1 "magic" -- "$BIN" info "$T/d/train.csv"
expect_fail 1 "" -- "$BIN" info "$T/missing.mnw"

# same seed, one thread: the same model bit for bit
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 3 --batch 16 --seed 9 -o "$T/s1.mnw"
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 3 --batch 16 --seed 9 -o "$T/s2.mnw"
cmp -s "$T/s1.mnw" "$T/s2.mnw" && ok || bad "same seed gave different models"
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 3 --batch 16 --seed 10 -o "$T/s3.mnw"
cmp -s "$T/s1.mnw" "$T/s3.mnw" && bad "different seeds gave the same model" || ok

# --json stays valid JSON whatever the names in it (one writer, cli_jq):
# a model path with a quote, a backslash and a tab
if command -v python3 >/dev/null; then
  odd="$T/q\"b\\s$(printf '\t')t.mnw"
  "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 1 --batch 16 -o "$odd" --json 2>/dev/null >"$T/j1" &&
    "$BIN" info "$odd" --json >"$T/j2" && "$BIN" eval "$odd" --data "$T/d" --json >"$T/j3" 2>/dev/null &&
    python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); json.load(open(sys.argv[3]))
assert a["output"] == b["file"] == sys.argv[4], (a["output"], b["file"])' "$T/j1" "$T/j2" "$T/j3" "$odd" && ok ||
    bad "--json with a quote, backslash and tab in the path is not valid JSON"
fi

# A BLAS that fell back to an old core for a CPU it does not know is
# bypassed where minnow has AVX2 kernels (OPENBLAS_CORETYPE=Prescott forces
# that fallback); a BLAS that knows the CPU is kept.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  OPENBLAS_CORETYPE=Prescott MINNOW_SIMD=avx2 "$BIN" bench "$T/m.mnw" --batch 8 --runs 3 --json >"$T/b1" 2>/dev/null &&
    OPENBLAS_CORETYPE=Haswell "$BIN" bench "$T/m.mnw" --batch 8 --runs 3 --json >"$T/b2" 2>/dev/null &&
    /usr/bin/python3 -c 'import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert a["blas"] == "none" or (a["blas"] == "Prescott" and a["blas_bypassed"]), a
assert b["blas"] == "none" or (b["blas"] == "Haswell" and not b["blas_bypassed"]), b' "$T/b1" "$T/b2" && ok ||
    bad "BLAS fallback check: $(cat "$T/b1" "$T/b2")"
fi

finish cli_core
