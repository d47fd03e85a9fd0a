#!/usr/bin/env bash
# Slimmable network on Fashion-MNIST (docs/DYNAMIC.md): one set of weights
# trained at widths 0.25, 0.5, 0.75 and 1 (switchable batch norm, the sum
# of the widths' losses), against the network of each width trained alone
# with the same recipe (ALONE="0.5 1" to train only those two).
#
#   bench/slim.sh [SEEDS]      (default "1"; e.g. "1 2 3")
#
# Per seed one JSON line: each width's val error, MACs and batch-1 latency
# (median, one thread), the networks trained alone, and the minutes.
# Environment: MINNOW (default build/minnow), OUT (default bench-slim/),
# THREADS for training (default 1), EPOCHS (default 15).  Data: Debian's
# dataset-fashion-mnist (val: 6,000 images held out of train).
set -uo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-1}
BIN=${MINNOW:-build/minnow}
OUT=${OUT:-bench-slim}
TH=${THREADS:-1}
EP=${EPOCHS:-15}
ALONE=${ALONE:-0.25 0.5 0.75 1}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "bench/slim.sh: no minnow at $BIN" >&2; exit 1; }
# A VGG-style net with batch norm: 4.8M MACs at full width.
SPEC="input x; conv c1 filters=16 k=3 pad=1; batchnorm b1; relu r1; conv c2 filters=16 k=3 pad=1; batchnorm b2; relu r2;
maxpool p1 k=2; conv c3 filters=32 k=3 pad=1; batchnorm b3; relu r3; conv c4 filters=32 k=3 pad=1; batchnorm b4; relu r4;
maxpool p2 k=2; flatten f; dense fc1 units=128; batchnorm b5; relu r5; dense fc2 units=classes"
TRAIN=(--epochs "$EP" --batch 128 --opt sgd --lr 0.1 --momentum 0.9 --wd 5e-4 --sched cosine --augment 2
       --data fashion-mnist --threads "$TH")
run() { # NAME extra...: train once (reused), JSON in OUT/NAME.json
  local n=$1; shift
  [ -s "$OUT/$n.mnw" ] && [ -s "$OUT/$n.json" ] && return 0
  "$BIN" train --arch "$SPEC" "${TRAIN[@]}" "$@" --json -o "$OUT/$n.mnw" >"$OUT/$n.json" 2>"$OUT/$n.log" ||
    { echo "train $n failed: $(tail -1 "$OUT/$n.log")" >&2; exit 1; }
}
for s in $SEEDS; do
  t0=$(date +%s)
  run "slim-s$s" --widths 0.25,0.5,0.75,1 --seed "$s"
  t1=$(date +%s)
  for w in $ALONE; do
    if [ "$w" = 1 ]; then run "alone1-s$s" --seed "$s"; else run "alone${w/./}-s$s" --width "$w" --seed "$s"; fi
  done
  t2=$(date +%s)
  "$BIN" eval "$OUT/slim-s$s.mnw" --sweep-width --data fashion-mnist --json --svg "$OUT/slim-s$s.svg" \
    >"$OUT/sweep-s$s.json" 2>/dev/null || { echo "eval --sweep-width failed" >&2; exit 1; }
  for w in 0.25 0.5 0.75 1; do
    "$BIN" bench "$OUT/slim-s$s.mnw" --width "$w" --json >"$OUT/bench-$w-s$s.json" 2>/dev/null
  done
  for w in $ALONE; do
    n="alone${w/./}"; [ "$w" = 1 ] && n=alone1
    "$BIN" bench "$OUT/$n-s$s.mnw" --json >"$OUT/bench-$n-s$s.json" 2>/dev/null
  done
  python3 - "$s" "$OUT" "$t0" "$t1" "$t2" "$ALONE" <<'PY'
import json, sys
s, out = sys.argv[1], sys.argv[2]
t0, t1, t2 = map(int, sys.argv[3:6])
alone = sys.argv[6].split()
ld = lambda n: json.load(open("%s/%s" % (out, n)))
sw = ld("sweep-s%s.json" % s)
row = {"seed": int(s), "widths": []}
for w in sw["widths"]:
    b = ld("bench-%g-s%s.json" % (w["width"], s))
    row["widths"].append({"width": w["width"], "val_error": w["error"], "macs": w["avg_macs"], "params": w["params"],
                          "latency_us": b["latency_us"]})
row["alone"] = []
for w in alone:
    n = "alone1" if w == "1" else "alone" + w.replace(".", "")
    r = ld("%s-s%s.json" % (n, s))
    row["alone"].append({"width": float(w), "val_error": r["val_error"],
                         "latency_us": ld("bench-%s-s%s.json" % (n, s))["latency_us"]})
row["minutes"] = {"slimmable": round((t1 - t0) / 60, 1), "alone": round((t2 - t1) / 60, 1)}
print(json.dumps(row))
PY
done
