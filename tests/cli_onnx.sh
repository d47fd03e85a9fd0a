#!/usr/bin/env bash
# `minnow import` / `minnow export-onnx` on the command line: hostile and
# unsupported ONNX files get one clear line and exit 1 (never a crash, never
# an output file); a minnow model goes out and back in.  The PyTorch and ONNX
# Runtime round trips are in tests/test_onnx.c.  Skips (77) without ONNX
# support or python3-onnx.
set -u
BIN=${1:?usage: cli_onnx.sh path/to/minnow}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
"$BIN" import --help >/dev/null || { bad "import --help"; }
"$BIN" export-onnx --help >/dev/null || { bad "export-onnx --help"; }
"$BIN" import /nonexistent.onnx -o "$T/x.mnw" 2>"$T/err"
if grep -q "without ONNX support" "$T/err"; then echo "built without ONNX support: skip"; exit 77; fi
/usr/bin/python3 tests/onnx/make_hostile.py "$T"; rc=$?
[ $rc = 77 ] && { echo "python3-onnx missing: skip"; exit 77; }
[ $rc = 0 ] || bad "make_hostile.py failed ($rc)"

expect_refused() { # CASE NEEDLE
  "$BIN" import "$T/$1.onnx" -o "$T/$1.mnw" >"$T/out" 2>"$T/err"; local rc=$?
  if [ $rc != 1 ]; then bad "$1: exit $rc (want 1): $(head -c 300 "$T/err")"; return; fi
  [ "$(wc -l <"$T/err")" = 1 ] || bad "$1: not one line: $(cat "$T/err")"
  grep -qi -- "$2" "$T/err" || bad "$1: '$(cat "$T/err")' lacks '$2'"
  [ -e "$T/$1.mnw" ] && bad "$1: left an output file"
  echo "  $1: $(cat "$T/err")"
}
expect_refused missing_init "missing"
expect_refused cycle "cycle"
expect_refused huge_dims "huge"
expect_refused short_data "bytes"
expect_refused wrong_type "not float32"
expect_refused unsupported_op "LSTM.*not supported"
expect_refused asym_pads "asymmetric pads"
expect_refused shape_mismatch "features"
expect_refused truncated "truncated or corrupt"
expect_refused garbage "not an ONNX model"
expect_refused no_output "not computed"
expect_refused huge_input "fixed positive size"
expect_refused deep_nesting "nested deeper"

"$BIN" export-onnx /nonexistent.mnw -o "$T/y.onnx" 2>"$T/err"; rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -e "$T/y.onnx" ] || bad "export-onnx of a missing model: exit $rc"

# out and back in: a CNN with normalisation, batchnorm, a residual add; eval agrees
[ -n "${MINNOW_DATA:-}" ] || MINNOW_DATA=../shared/data
export MINNOW_DATA # minnow itself has no default beside the checkout
if [ -f "$MINNOW_DATA/mnist/val-labels-idx1-ubyte.gz" ]; then
  SPEC='input in c=1 h=28 w=28; conv c1 filters=4 k=3 pad=1; batchnorm bn; relu r; conv c2 filters=4 k=3 pad=1; add a in=c2,r; maxpool p k=2; flatten f; dense fc units=classes'
  "$BIN" train --arch "$SPEC" --epochs 1 --threads 1 -o "$T/m.mnw" 2>/dev/null || bad "train"
  "$BIN" export-onnx "$T/m.mnw" -o "$T/m.onnx" --json >"$T/j" || bad "export-onnx"
  "$BIN" import "$T/m.onnx" -o "$T/m2.mnw" --json >/dev/null || bad "import of our own export"
  e1=$("$BIN" eval "$T/m.mnw" --split val --json | grep -o '"error":[0-9.e-]*')
  e2=$("$BIN" eval "$T/m2.mnw" --split val --json | grep -o '"error":[0-9.e-]*')
  [ -n "$e1" ] && [ "$e1" = "$e2" ] || bad "val error changed through ONNX: $e1 vs $e2"
  echo "  round trip: $e1 / $e2"
fi
[ $fails = 0 ] && echo "cli_onnx: all passed" && exit 0
echo "cli_onnx: $fails failed"; exit 1
