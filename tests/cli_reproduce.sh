#!/usr/bin/env bash
# The pieces of the papers' tables (docs/REPRODUCE.md): training recipes
# (`minnow train --recipe`), the pruning controls (random pruning, SNIP's
# shuffled mask, the lottery's per-round re-initialisation), `minnow plot`,
# and every row of bench/reproduce.sh on a one-epoch budget of the small
# MNIST split (that part is skipped when $MINNOW_DATA has no mnist/), so
# that no row's command can rot.
set -u
BIN=${1:?usage: cli_reproduce.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"

mkcsv_signs "$T/train.csv" 400 3
mkcsv_signs "$T/val.csv" 150 4
mkdir -p "$T/d" && mv "$T/train.csv" "$T/val.csv" "$T/d/"
D=(--data "$T/d")
SPEC="input x; dense fc1 units=32; relu r1; dense fc2 units=16; relu r2; dense fc3 units=classes"

# ---- train --recipe ---------------------------------------------------------
cat >"$T/r.yaml" <<YAML
name: t
seed: 7
train:
  arch: "$SPEC"
  epochs: 3
  batch: 20
  opt: sgd
  lr: 0.05
  sched: cosine
YAML
expect_ok "$BIN" train --recipe "$T/r.yaml" "${D[@]}" -o "$T/a.mnw" --json && cp "$T/out" "$T/a.json"
check "$T/a.json" 'len(r["epochs"]) == 3 and r["val_error"] < 0.5'
# the same options on the command line give the same model, bit for bit
expect_ok "$BIN" train --arch "$SPEC" --epochs 3 --batch 20 --opt sgd --lr 0.05 --sched cosine --seed 7 "${D[@]}" -o "$T/b.mnw"
cmp -s <("$BIN" eval "$T/a.mnw" "${D[@]}" --json) <("$BIN" eval "$T/b.mnw" "${D[@]}" --json) && ok || bad "recipe != options"
# options given on the command line win
expect_ok "$BIN" train --recipe "$T/r.yaml" "${D[@]}" --epochs 2 -o "$T/c.mnw" --json && cp "$T/out" "$T/c.json"
check "$T/c.json" 'len(r["epochs"]) == 2'
printf 'train:\n  arch: lenet5\n  frobnicate: 1\n' >"$T/bad1.yaml"
expect_fail 1 "bad1.yaml:3: 'frobnicate' is not a training option" -- "$BIN" train --recipe "$T/bad1.yaml" "${D[@]}" -o "$T/x.mnw"
printf 'train:\n  arch: lenet5\n  o: elsewhere.mnw\n' >"$T/bad2.yaml"
expect_fail 1 "'o' is not a training option a recipe may set" -- "$BIN" train --recipe "$T/bad2.yaml" "${D[@]}" -o "$T/x.mnw"
printf 'train:\n  arch: lenet5\n  epochs: 2\n  epochs: 3\n' >"$T/bad3.yaml"
expect_fail 1 "'epochs' given twice" -- "$BIN" train --recipe "$T/bad3.yaml" "${D[@]}" -o "$T/x.mnw"
printf 'train:\n  arch: lenet5\n  epochs: [1, 2]\n' >"$T/bad4.yaml"
expect_fail 1 "bad4.yaml:3" -- "$BIN" train --recipe "$T/bad4.yaml" "${D[@]}" -o "$T/x.mnw"
printf 'name: x\n' >"$T/bad5.yaml"
expect_fail 1 "neither 'passes' nor 'train'" -- "$BIN" train --recipe "$T/bad5.yaml" "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "no 'train:' options" -- "$BIN" train --recipe recipes/deep-compression-lenet300.yaml "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "a training recipe" -- "$BIN" compress "$T/a.mnw" --recipe recipes/train-lenet5.yaml "${D[@]}" -o "$T/x.mnw"
printf 'train:\n  arch: lenet5\n  epochs: 0\n' >"$T/bad6.yaml"
expect_fail 1 "--epochs 0 trains nothing" -- "$BIN" train --recipe "$T/bad6.yaml" "${D[@]}" -o "$T/x.mnw"
absent "$T/x.mnw"
for r in recipes/train-*.yaml; do # every shipped recipe names only real options
  expect_ok "$BIN" train --recipe "$r" --arch "$SPEC" --epochs 1 "${D[@]}" -o "$T/x.mnw"
done
rm -f "$T/x.mnw"

# ---- the controls -----------------------------------------------------------
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 10 --batch 20 -o "$T/m.mnw"
# random pruning of a trained model: exactly the per-layer sparsity, seeded
expect_ok "$BIN" prune "$T/m.mnw" --method random --sparsity fc1=0.5,fc2=0.75 --steps 2 --finetune 1 "${D[@]}" -o "$T/r1.mnw" --json && cp "$T/out" "$T/r1.json"
check "$T/r1.json" '[round(l["sparsity"], 3) for l in r["layers"]] == [0.5, 0.75, 0.0]'
expect_ok "$BIN" prune "$T/m.mnw" --method magnitude --sparsity fc1=0.5,fc2=0.75 "${D[@]}" -o "$T/m1.mnw"
expect_ok "$BIN" prune "$T/m.mnw" --method random --sparsity fc1=0.5,fc2=0.75 "${D[@]}" -o "$T/r2.mnw" --seed 3
expect_ok "$BIN" prune "$T/m.mnw" --method random --sparsity fc1=0.5,fc2=0.75 "${D[@]}" -o "$T/r3.mnw" --seed 3
expect_ok "$BIN" prune "$T/m.mnw" --method random --sparsity fc1=0.5,fc2=0.75 "${D[@]}" -o "$T/r4.mnw" --seed 4
cmp -s "$T/r2.mnw" "$T/r3.mnw" && ok || bad "random pruning with one seed differs"
cmp -s "$T/r2.mnw" "$T/r4.mnw" && bad "random pruning ignores the seed" || ok
cmp -s "$T/r2.mnw" "$T/m1.mnw" && bad "random pruning = magnitude pruning" || ok
# at initialisation (--arch, --epochs), as SNIP
expect_ok "$BIN" prune --method random --arch "$SPEC" --sparsity 0.8 --epochs 2 --batch 20 "${D[@]}" -o "$T/ri.mnw" --json && cp "$T/out" "$T/ri.json"
check "$T/ri.json" 'all(abs(l["sparsity"] - 0.8) < 5e-3 for l in r["layers"])'
expect_fail 1 "--shuffle applies to snip" -- "$BIN" prune "$T/m.mnw" --method magnitude --shuffle --sparsity 0.5 "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "--scope applies to" -- "$BIN" prune "$T/m.mnw" --method random --scope global --sparsity 0.5 "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "--epochs applies to" -- "$BIN" prune "$T/m.mnw" --method random --epochs 2 --sparsity 0.5 "${D[@]}" -o "$T/x.mnw"
# SNIP's mask shuffled within each layer: SNIP's per-layer sparsity, other positions
S=(--arch "$SPEC" --sparsity 0.9 --epochs 1 --batch 20 --samples 2 "${D[@]}")
expect_ok "$BIN" prune --method snip "${S[@]}" -o "$T/s.mnw" --json && cp "$T/out" "$T/s.json"
expect_ok "$BIN" prune --method snip --shuffle "${S[@]}" -o "$T/sh.mnw" --json && cp "$T/out" "$T/sh.json"
"$PY" - "$T/s.json" "$T/sh.json" <<'PY' && ok || bad "shuffled mask: per-layer sparsity not kept"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert [l["nonzero"] for l in a["layers"]] == [l["nonzero"] for l in b["layers"]], (a["layers"], b["layers"])
PY
cmp -s "$T/s.mnw" "$T/sh.mnw" && bad "shuffled mask = SNIP's" || ok
# the lottery's control after every round
expect_ok "$BIN" prune --method lottery --arch "$SPEC" --sparsity 0.36 --rounds 2 --control-all --epochs 2 --batch 20 "${D[@]}" -o "$T/lt.mnw" --json && cp "$T/out" "$T/lt.json"
check "$T/lt.json" '[x["control_val_error"] >= 0 for x in r["lottery"]["rounds"]] == [False, True, True] and r["lottery"]["control_val_error"] == r["lottery"]["rounds"][-1]["control_val_error"]'

# Hinton et al.'s "no 3": a transfer set without a class, then its bias fixed
expect_ok "$BIN" distill --teacher "$T/m.mnw" --arch "$SPEC" --exclude-class 2 --fix-bias --epochs 3 --batch 20 "${D[@]}" -o "$T/n3.mnw" --json && cp "$T/out" "$T/n3.json"
check "$T/n3.json" 'r["excluded_class"] == 2 and 0 < r["transfer_n"] < 400 and r["bias_fix"]["shift"] >= 0 and r["bias_fix"]["train_error_after"] <= r["bias_fix"]["train_error_before"] and r["val_n"] == 150 and r["val_error"] == r["bias_fix"]["val_error_after"]'
expect_fail 1 "class 9 is not one of the data's 0..2" -- "$BIN" distill --teacher "$T/m.mnw" --arch "$SPEC" --exclude-class 9 --epochs 1 "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "--fix-bias needs --exclude-class" -- "$BIN" distill --teacher "$T/m.mnw" --arch "$SPEC" --fix-bias --epochs 1 "${D[@]}" -o "$T/x.mnw"
# the lecture's threshold: every |w| below it goes
expect_ok "$BIN" prune "$T/m.mnw" --method magnitude --threshold 0.2 "${D[@]}" -o "$T/th.mnw" --json && cp "$T/out" "$T/th.json"
"$PY" - "$T/th.json" <<'PY' && ok || bad "threshold: not the weights below it"
import json, sys
r = json.load(open(sys.argv[1]))
assert 0 < r["density"] < 1, r
PY
expect_fail 1 "--threshold excludes" -- "$BIN" prune "$T/m.mnw" --method magnitude --threshold 0.2 --sparsity 0.5 "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "--threshold applies to magnitude" -- "$BIN" prune "$T/m.mnw" --method obd --threshold 0.2 "${D[@]}" -o "$T/x.mnw"
absent "$T/x.mnw"

# ---- minnow plot -----------------------------------------------------------
printf '# a comment\nticket\t100\t1.5\t1.4\t1.6\nticket\t21.1\t1.3\t1.2\t1.4\nreinit <&>\t21.1\t1.9\t1.7\t2.0\nreinit <&>\t100\t1.5\t1.4\t1.6\n' >"$T/p.tsv"
expect_ok "$BIN" plot "$T/p.tsv" -o "$T/p.svg" --logx --reverse-x --title 'a < b' --x 'weights (%)' --y error
"$PY" -c 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); assert len(d.getElementsByTagName("polyline")) == 2; assert len(d.getElementsByTagName("circle")) == 4' "$T/p.svg" && ok || bad "plot: not the SVG expected"
printf 'a\t1\t2\n' >"$T/p1.tsv"; printf 'a\t1\n' >"$T/p2.tsv"; printf 'a\t1\tinf\n' >"$T/p3.tsv"
printf 'a\t1\t2\t1\t3\na\t2\t2\n' >"$T/p4.tsv"; printf 'a\t0\t2\n' >"$T/p5.tsv"; printf '# only\n' >"$T/p6.tsv"
printf 'a\t1\t2\t3\t4\n' >"$T/p7.tsv"
expect_fail 1 "got 2 fields" -- "$BIN" plot "$T/p2.tsv" -o "$T/x.svg"
expect_fail 1 "not a finite number" -- "$BIN" plot "$T/p3.tsv" -o "$T/x.svg"
expect_fail 1 "bars on some points only" -- "$BIN" plot "$T/p4.tsv" -o "$T/x.svg"
expect_fail 1 "X must be > 0 on a log axis" -- "$BIN" plot "$T/p5.tsv" -o "$T/x.svg" --logx
expect_fail 1 "no points" -- "$BIN" plot "$T/p6.tsv" -o "$T/x.svg"
expect_fail 1 "YMIN <= Y <= YMAX" -- "$BIN" plot "$T/p7.tsv" -o "$T/x.svg"
expect_fail 1 "" -- "$BIN" plot "$T/nonexistent.tsv" -o "$T/x.svg"
expect_fail 1 "-o PLOT.svg is required" -- "$BIN" plot "$T/p1.tsv"
absent "$T/x.svg"

# ---- every row of bench/reproduce.sh, one epoch, two seeds ------------------
if [ -z "${MINNOW_DATA:-}" ] || [ ! -d "$MINNOW_DATA/mnist" ]; then
  echo "cli_reproduce: \$MINNOW_DATA/mnist absent: the rows' quick runs skipped"
else
  export MINNOW="$BIN"
  for row in $(bench/reproduce.sh --list | awk '{print $1}'); do
    data=mnist
    case $row in *fashion*) [ -d /usr/share/datasets/fashion-mnist ] || [ -d "$MINNOW_DATA/fashion-mnist" ] || continue ;; esac
    case $row in *fashion*) data=fashion-mnist ;; esac
    seeds=1,2
    case $row in *lenet5*) seeds=1 ;; esac  # the convnet rows: one seed keeps the test short
    # Under the sanitizers (ten times slower) one seed of the MLP rows: the
    # convnet rows run the same verbs (and are covered in the Release build).
    if [ "${MINNOW_ASAN:-0}" = 1 ]; then
      case $row in *lenet5*) continue ;; esac
      seeds=1
    fi
    if bench/reproduce.sh "$row" --quick --seeds $seeds --data $data --threads 1 --out "$T/rep" >"$T/rep.out" 2>"$T/rep.err"; then
      n=$(wc -l <"$T/rep.out")
      want=$(( $(echo $seeds | tr ',' '\n' | wc -l) + 1 ))
      [ "$n" = "$want" ] && ok || bad "reproduce $row: $n lines, want $want"
      "$PY" - "$T/rep.out" "$row" <<'PY' && ok || bad "reproduce $row: $(tail -c 300 "$T/rep.out")"
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = lines[-1]
assert s["row"] == sys.argv[2] and s["summary"] and s["paper"], s
assert all(l["row"] == sys.argv[2] and "seed" in l and l["split"] == "val" for l in lines[:-1])
assert "plot" not in s or os.path.getsize(s["plot"]) > 500
PY
    else
      bad "reproduce $row failed: $(tail -c 300 "$T/rep.err")"
    fi
  done
fi
finish cli_reproduce
