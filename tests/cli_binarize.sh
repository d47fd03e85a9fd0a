#!/usr/bin/env bash
# CLI behaviour of `minnow binarize` and `minnow train --binary`: bad input
# gets one clear line and a non-zero exit with no output file left behind;
# real runs on a small CSV problem (no MNIST needed) give smaller models
# that load, evaluate, report and benchmark.
set -u
BIN=${1:?usage: cli_binarize.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
pycheck() { # FILE PYTHON-EXPR-ON-r
  /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert $2, r" "$1" 2>"$T/pyerr" \
    || bad "check '$2' on $(head -c 300 "$1"): $(tail -1 "$T/pyerr")"
}

# Three classes from the signs of two of four features.
mkcsv() { # file n
  awk -v n="$2" 'BEGIN{srand(5); print "a,b,c,d,label";
    for(i=0;i<n;i++){a=rand()*2-1;b=rand()*2-1;c=rand();d=rand(); l=(a>0)+(b>0);
      printf "%.4f,%.4f,%.4f,%.4f,%d\n",a,b,c,d,l}}' >"$1"
}
mkdir -p "$T/d"
mkcsv "$T/d/train.csv" 600
mkcsv "$T/d/val.csv" 200
SPEC="input x; dense fc1 units=64; relu r1; dense fc2 units=64; relu r2; dense fc3 units=classes"
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --epochs 15 --batch 20 --lr 0.01 -o "$T/dense.mnw" \
  || { echo "cannot train the dense parent"; exit 1; }

# usage and bad input
expect_ok "$BIN" binarize --help
grep -q "xnor" "$T/out" || bad "help lacks methods"
expect_fail 1 "--method is required" -- "$BIN" binarize "$T/dense.mnw" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "unknown binarization method" -- "$BIN" binarize "$T/dense.mnw" --method ternary --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "-o FILE" -- "$BIN" binarize "$T/dense.mnw" --method xnor --data "$T/d"
expect_fail 1 "stochastic" -- "$BIN" binarize "$T/dense.mnw" --method xnor --stochastic --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "input-scale" -- "$BIN" binarize "$T/dense.mnw" --method bitwise --input-scale --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "bitwise" -- "$BIN" binarize "$T/dense.mnw" --method bc --sparsity 0.2 --data "$T/d" -o "$T/x.mnw"
expect_fail 2 "sparsity" -- "$BIN" binarize "$T/dense.mnw" --method bitwise --sparsity 1.5 --data "$T/d" -o "$T/x.mnw"
expect_fail 2 "missing" -- "$BIN" binarize --method xnor --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "nosuch" -- "$BIN" binarize "$T/nosuch.mnw" --method xnor --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "unknown binarization method" -- "$BIN" train --arch "$SPEC" --binary nope --data "$T/d" -o "$T/x.mnw"
printf 'not a model' >"$T/junk.mnw"
expect_fail 1 "junk.mnw" -- "$BIN" binarize "$T/junk.mnw" --method xnor --data "$T/d" -o "$T/x.mnw"
[ -e "$T/x.mnw" ] && bad "a failed run left $T/x.mnw"

# real runs: every method, JSON reports, smaller files that load and run
for m in binaryconnect xnor bitwise; do
  extra=""
  [ $m = bitwise ] && extra="--sparsity 0.25 --pretrain-epochs 2"
  expect_ok "$BIN" binarize "$T/dense.mnw" --method $m $extra --data "$T/d" --epochs 4 --batch 20 -o "$T/$m.mnw" --json \
    || continue
  pycheck "$T/out" "r['method']=='$m' and r['output_bytes']<r['input_bytes'] and r['binary_weights']==4*64+64*64+64*3 and 0<=r['val_error']<0.5"
  expect_ok "$BIN" eval "$T/$m.mnw" --data "$T/d" --json && pycheck "$T/out" "r['n']==200 and r['error']<0.5"
  expect_ok "$BIN" info "$T/$m.mnw" --json && pycheck "$T/out" "r['layers']"
  expect_ok "$BIN" bench "$T/$m.mnw" --batch 3 --runs 20 --json
  expect_fail 1 "binarized already" -- "$BIN" binarize "$T/$m.mnw" --method xnor --data "$T/d" -o "$T/y.mnw"
done
# keep-first-last leaves fc1 and fc3 in f32; no-fold keeps batchnorm/sign
expect_ok "$BIN" binarize "$T/dense.mnw" --method xnor --keep-first-last --no-fold --data "$T/d" --epochs 2 --batch 20 \
  -o "$T/k.mnw" --json && pycheck "$T/out" "r['binary_weights']==64*64 and r['keep_first_last']==1"
expect_ok "$BIN" binarize "$T/dense.mnw" --method xnor --input-scale --data "$T/d" --epochs 2 --batch 20 -o "$T/s.mnw"
expect_ok "$BIN" eval "$T/s.mnw" --data "$T/d"
# training binarized from scratch
expect_ok "$BIN" train --arch "$SPEC" --binary xnor --keep-first-last --data "$T/d" --epochs 4 --batch 20 --lr 0.01 \
  -o "$T/t.mnw" --json && pycheck "$T/out" "r['val_error']<0.5"
expect_ok "$BIN" eval "$T/t.mnw" --data "$T/d"
expect_ok "$BIN" train --arch "$SPEC" --binary binaryconnect --data "$T/d" --epochs 2 --batch 20 -o "$T/t2.mnw"
[ -s "$T/t2.mnw" ] && [ "$(stat -c %s "$T/t2.mnw")" -lt "$(stat -c %s "$T/dense.mnw")" ] || bad "train --binary file not smaller"

finish cli_binarize
