#!/usr/bin/env bash
# Data sets by name and real data for a real user (docs/DATA.md):
#   minnow data fetch against a local HTTP server on 127.0.0.1 that this test
#   starts (tests/fetch_server.py): a good file, a corrupt one, a truncated
#   transfer, a server that dies mid-file, and no server at all;
#   minnow data verify on the published MNIST train files and on a copy with
#   one byte changed; --data by name; the held-out val;
#   a digits CSV headed `Class`: refused without --label, under 5% test
#   error with it; a diverging run and a one-class data set are refused.
# The parts that need $MINNOW_DATA/mnist-full (the published MNIST train
# files) are skipped when it is absent.
set -u
BIN=${1:?usage: cli_data.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
FULL=${MINNOW_DATA:-}/mnist-full
[ -n "${MINNOW_DATA:-}" ] && [ -e "$FULL/train-labels-idx1-ubyte.gz" ] || FULL=""
export HOME="$T/home" XDG_DATA_HOME=""
mkdir -p "$HOME"

# help, JSON, usage
expect_ok "$BIN" data --help
expect_fail 2 "unknown action" -- "$BIN" data frob
expect_fail 1 "unknown data set" -- "$BIN" data verify nosuch
expect_ok "$BIN" data list --json && check "$T/out" 'len(r["datasets"]) >= 4 and {"mnist","fashion-mnist","kmnist","cifar10"} <= {d["name"] for d in r["datasets"]}'

# --data NAME: not found says where it looked and how to get it.
MINNOW_DATA="$T/none" expect_fail 1 "minnow data fetch kmnist" -- "$BIN" train --arch lenet300 --data kmnist -o "$T/k.mnw"
absent "$T/k.mnw"
expect_fail 1 "not a data set name" -- "$BIN" train --arch lenet300 --data no-such-thing -o "$T/k.mnw"

# No server: one line naming the URL, the files and the directory.
# A build without libcurl says so instead, and the fetch tests are skipped.
CURL=1
"$BIN" data fetch mnist --dir "$T/off" --mirror http://127.0.0.1:1/ 2>"$T/err" >/dev/null
if grep -q "built without libcurl" "$T/err"; then CURL=0; echo "built without libcurl: fetch tests skipped"; fi
[ $CURL = 1 ] && expect_fail 1 "by hand" -- "$BIN" data fetch mnist --dir "$T/off" --mirror http://127.0.0.1:1/
[ $CURL = 1 ] && for w in "http://127.0.0.1:1/" "t10k-images-idx3-ubyte.gz" "train-labels-idx1-ubyte.gz" "$T/off"; do
  grep -qF -- "$w" "$T/err" && ok || bad "offline message lacks $w: $(cat "$T/err")"
done
[ -z "$(ls -A "$T/off" 2>/dev/null)" ] && ok || bad "offline fetch left $(ls "$T/off")"

# Starts the test server in MODE over DIR; sets PORT.  It stops by itself.
serve() { # dir mode
  rm -f "$T/port"
  /usr/bin/python3 "$HERE/fetch_server.py" "$1" "$2" "$T/port" --log "$T/srvlog" --life 60 &
  for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
  PORT=$(cat "$T/port" 2>/dev/null)
}
fetch() { # dir  (fetches mnist's train files from the server)
  "$BIN" data fetch mnist --split train --dir "$1" --mirror "http://127.0.0.1:$PORT/"
}

if [ -n "$FULL" ]; then
  # verify: the published train files pass; one changed byte is named.
  expect_ok "$BIN" data verify mnist --dir "$FULL" --json
  check "$T/out" 'r["ok"] and r["files"][0]["state"] == "published" and r["files"][1]["state"] == "published"'
  mkdir -p "$T/v" && cp "$FULL"/train-*-ubyte.gz "$T/v/" && chmod u+w "$T/v"/*
  printf '\x42' | dd of="$T/v/train-labels-idx1-ubyte.gz" bs=1 seek=1000 conv=notrunc status=none
  expect_fail 1 "train-labels-idx1-ubyte.gz differs" -- "$BIN" data verify mnist --dir "$T/v"
  grep -q "DIFFERS" "$T/out" && ok || bad "verify table lacks DIFFERS"
  # with --json the answer is the object (ok false), the reason on stderr
  expect_fail 1 "train-labels-idx1-ubyte.gz differs" -- "$BIN" data verify mnist --dir "$T/v" --json
  check "$T/out" 'not r["ok"] and r["files"][1]["state"] == "differs"'

fi
if [ -n "$FULL" ] && [ $CURL = 1 ]; then
  # a good server
  serve "$FULL" good
  expect_ok fetch "$T/good" && expect_ok "$BIN" data verify mnist --dir "$T/good"
  cmp -s "$T/good/train-images-idx3-ubyte.gz" "$FULL/train-images-idx3-ubyte.gz" && ok || bad "fetched file differs"
  # already there and verified: nothing downloaded again
  : >"$T/srvlog"
  expect_ok fetch "$T/good"
  [ ! -s "$T/srvlog" ] && ok || bad "refetched verified files: $(cat "$T/srvlog")"

  # a corrupt file: refused, nothing under the final name, no .part
  serve "$FULL" corrupt
  expect_fail 1 "checksum refused" -- fetch "$T/bad"
  absent "$T/bad/train-images-idx3-ubyte.gz"
  absent "$T/bad/train-images-idx3-ubyte.gz.part"

  # a truncated transfer: fails, the partial file never takes the final name,
  # and the next fetch resumes it (an HTTP range) to the verified file
  serve "$FULL" truncate
  expect_fail 1 "rerun to resume" -- fetch "$T/tr"
  absent "$T/tr/train-images-idx3-ubyte.gz"
  [ -s "$T/tr/train-images-idx3-ubyte.gz.part" ] && ok || bad "no partial file kept for resuming"
  : >"$T/srvlog"
  serve "$FULL" good
  expect_ok fetch "$T/tr"
  grep -q "good train-images-idx3-ubyte.gz range=bytes=[1-9]" "$T/srvlog" && ok || bad "did not resume: $(cat "$T/srvlog")"
  cmp -s "$T/tr/train-images-idx3-ubyte.gz" "$FULL/train-images-idx3-ubyte.gz" && ok || bad "resumed file differs"
  absent "$T/tr/train-images-idx3-ubyte.gz.part"

  # a server that dies mid-file; then one that ignores ranges: a clean restart
  serve "$FULL" vanish
  expect_fail 1 "cannot download mnist" -- fetch "$T/van"
  absent "$T/van/train-images-idx3-ubyte.gz"
  serve "$FULL" norange
  expect_ok fetch "$T/van" && expect_ok "$BIN" data verify mnist --dir "$T/van"
  ls "$T/van" | grep -q part && bad "a .part left after a good fetch" || ok
fi
if [ -n "$FULL" ]; then
  # --data NAME through $MINNOW_DATA, and the held-out val of a train+test set
  mkdir -p "$T/md/mnist" && cp "$FULL"/train-*-ubyte.gz "$T/md/mnist/"
  MINNOW_DATA="$T/md" expect_ok "$BIN" data list --json
  check "$T/out" '[d for d in r["datasets"] if d["name"]=="mnist"][0]["val"] == 6000 and [d for d in r["datasets"] if d["name"]=="mnist"][0]["train"] == 54000 and [d for d in r["datasets"] if d["name"]=="mnist"][0]["verified"]'
  MINNOW_DATA="$T/md" expect_ok "$BIN" train --arch "input x; dense fc units=classes" --data mnist --epochs 1 --json -o "$T/z.mnw"
  check "$T/out" 'r["train_split"] == "train" and r["train_n"] == 54000 and r["val_n"] == 6000'
fi

# CSV: a digits CSV with the label last, headed Class (MNIST at 14x14, 0-16
# per pixel, like the UCI digits: the first pixel is always 0).  Without
# --label it is refused with the header; with it, under 5% test error.
if [ -n "$FULL" ]; then
  mkdir -p "$T/digits"
  cat >"$T/mk.py" <<'PY'
import gzip, sys
src, out, split, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
px = gzip.open("%s/%s-images-idx3-ubyte.gz" % (src, split)).read()[16:]
lab = gzip.open("%s/%s-labels-idx1-ubyte.gz" % (src, split)).read()[8:]
with open(out, "w") as f:
    f.write(",".join("pixel%d" % i for i in range(196)) + ",Class\n")
    for k in range(min(limit, len(lab))):
        im = px[k * 784:(k + 1) * 784]
        row = [str((sum(sum(im[(2 * by + y) * 28 + 2 * bx:(2 * by + y) * 28 + 2 * bx + 2]) for y in (0, 1)) * 4 + 127) // 255)
               for by in range(14) for bx in range(14)]
        f.write(",".join(row) + ",%d\n" % lab[k])
PY
  # Under the sanitizers only the refusal is checked, on a small file.
  NTR=20000 NTE=4000
  [ "${MINNOW_ASAN:-0}" = 1 ] && NTR=300 NTE=100
  /usr/bin/python3 "$T/mk.py" "$FULL" "$T/digits/train.csv" train $NTR
  /usr/bin/python3 "$T/mk.py" "$FULL" "$T/digits/test.csv" val $NTE
  MLP="input x; dense fc1 units=256; relu r; dense fc2 units=classes"
  expect_fail 1 "pass --label" -- "$BIN" train --arch "$MLP" --data "$T/digits" -o "$T/dg.mnw"
  grep -qF "pixel0,pixel1,pixel2" "$T/err" && grep -qF "pixel195,Class" "$T/err" && ok || bad "refusal does not list the header: $(cat "$T/err")"
  absent "$T/dg.mnw"
fi
if [ -n "$FULL" ] && [ "${MINNOW_ASAN:-0}" != 1 ]; then
  expect_ok "$BIN" train --arch "$MLP" --data "$T/digits" --label Class --epochs 20 -o "$T/dg.mnw"
  expect_ok "$BIN" eval "$T/dg.mnw" --data "$T/digits" --label Class --split test --json
  check "$T/out" 'r["split"] == "test" and r["n"] == 4000 and r["error"] < 0.05'
  echo "digits CSV (--label Class), test split: $(cat "$T/out")"
  # --label by index (0-based): the last column
  expect_ok "$BIN" eval "$T/dg.mnw" --data "$T/digits" --label 196 --split test --json
  check "$T/out" 'r["error"] < 0.05'
fi

# Bad input: one line, non-zero exit, no output file.
mkdir -p "$T/c1" "$T/cf"
awk 'BEGIN{srand(5); print "a,b,label"; for(i=0;i<200;i++) printf "%.3f,%.3f,0\n", rand(), rand()}' >"$T/c1/train.csv"
SPEC="input x; dense fc1 units=8; relu r; dense fc2 units=classes"
expect_fail 1 "one class" -- "$BIN" train --arch "$SPEC" --data "$T/c1" --val none -o "$T/one.mnw"
absent "$T/one.mnw"
awk 'BEGIN{srand(5); print "a,b,label"; for(i=0;i<200;i++) printf "%.3f,%.3f,%d\n", rand(), rand(), i%2}' >"$T/cf/train.csv"
expect_fail 1 "is not an integer" -- "$BIN" train --arch "$SPEC" --data "$T/cf" --label b -o "$T/nf.mnw"
absent "$T/nf.mnw"
expect_fail 1 "no column 'z'" -- "$BIN" train --arch "$SPEC" --data "$T/cf" --label z -o "$T/nf.mnw"
# divergence that stays finite (Adam at lr 1e9): named step, loss and cause
expect_fail 1 "diverged" -- "$BIN" train --arch "$SPEC" --data "$T/cf" --lr 1e9 --epochs 5 -o "$T/div.mnw"
grep -q "step [0-9]*: loss [0-9.e+]*" "$T/err" && grep -qi "lower --lr" "$T/err" && ok || bad "divergence message: $(cat "$T/err")"
absent "$T/div.mnw"

finish cli_data
