#!/usr/bin/env bash
# CLI behaviour of `minnow distill` and `minnow factorize` on a small CSV
# problem: real runs with JSON reports, full-rank factorisation changing no
# prediction, and bad input (one clear stderr line, non-zero exit, no output
# file left behind).
set -u
BIN=${1:?usage: cli_distill.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
py() { /usr/bin/python3 -c "$@"; }

mkdir -p "$T/d"
mkcsv_signs "$T/d/train.csv" 400 3
mkcsv_signs "$T/d/val.csv" 150 4
TSPEC="input x; dense fc1 units=24; relu r1; dense fc2 units=24; relu r2; dense fc3 units=classes"
SSPEC="input x; dense h1 units=8; relu a1; dense out units=classes"

for v in distill factorize; do expect_ok "$BIN" "$v" --help; done
expect_ok "$BIN" train --arch "$TSPEC" --data "$T/d" --epochs 30 --batch 20 --lr 0.01 -o "$T/t1.mnw"
expect_ok "$BIN" train --arch "$TSPEC" --data "$T/d" --epochs 30 --batch 20 --lr 0.01 --seed 2 -o "$T/t2.mnw"

# distill: one teacher, an ensemble, a hint through a regressor (24 -> 8)
expect_ok "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --epochs 20 --batch 20 --lr 0.01 \
  --temperature 3 --alpha 0.8 -o "$T/s.mnw" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); assert r["temperature"]==3 and abs(r["alpha"]-0.8)<1e-6 and r["val_error"]<=0.15 and r["teachers"][0]["val_error"]<=0.15, r' "$T/out" && ok || bad "distill report $(head -c 300 "$T/out")"
expect_ok "$BIN" info "$T/s.mnw" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); assert r["params"]==6*8+8+8*3+3, r' "$T/out" && ok || bad "student shape"
expect_ok "$BIN" distill --teacher "$T/t1.mnw" --teacher "$T/t2.mnw" --arch "$SSPEC" --data "$T/d" --epochs 5 \
  --batch 20 --lr 0.01 --hint r2:a1 --hint-weight 0.1 -o "$T/s2.mnw" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r["teachers"])==2 and 0<=r["ensemble_val_error"]<=1 and r["hint"]["student"]=="a1" and r["last_epoch_loss"]["hint"]>0, r' "$T/out" && ok || bad "ensemble report $(head -c 300 "$T/out")"

# distill: bad arguments
expect_fail 2 "temperature" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --temperature 0 -o "$T/x.mnw"
expect_fail 2 "temperature" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --temperature -2 -o "$T/x.mnw"
expect_fail 2 "alpha" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --alpha 1.5 -o "$T/x.mnw"
expect_fail 2 "alpha" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --alpha nan -o "$T/x.mnw"
expect_fail 1 "teacher" -- "$BIN" distill --arch "$SSPEC" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "hint" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --hint r2 -o "$T/x.mnw"
expect_fail 1 "hint" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --hint-weight 2 -o "$T/x.mnw"
expect_fail 1 "no node" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" --hint nope:a1 -o "$T/x.mnw"
expect_fail 1 "missing.mnw" -- "$BIN" distill --teacher "$T/missing.mnw" --arch "$SSPEC" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "outputs" -- "$BIN" distill --teacher "$T/t1.mnw" --arch "input x; dense o units=5" --data "$T/d" -o "$T/x.mnw"
[ -e "$T/x.mnw" ] && bad "failed distill left $T/x.mnw"

# factorize: full rank changes no prediction; truncation shrinks the model
expect_ok "$BIN" eval "$T/t1.mnw" --data "$T/d" --split val --json
e0=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$T/out")
expect_ok "$BIN" factorize "$T/t1.mnw" --layers fc1=24,fc2=24 -o "$T/f.mnw" --json
expect_ok "$BIN" eval "$T/f.mnw" --data "$T/d" --split val --json
e1=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$T/out")
[ "$e0" = "$e1" ] && ok || bad "full-rank factorisation changed val error $e0 -> $e1"
expect_ok "$BIN" factorize "$T/t1.mnw" --rank 3 --finetune 3 --batch 20 --data "$T/d" -o "$T/f3.mnw" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); L={l["name"]:l for l in r["layers"]}
assert L["fc2"]["factorized"] and L["fc2"]["rank"]==3 and not L["fc3"]["factorized"], L
assert r["params_after"]<r["params_before"] and 0<=r["val_error_finetuned"]<=1, r' "$T/out" && ok || bad "factorize report $(head -c 400 "$T/out")"
expect_ok "$BIN" info "$T/f3.mnw" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); n=[l["name"] for l in r["layers"]]; assert "fc2_a" in n and "fc2_b" in n and "fc2" not in n, n' "$T/out" && ok || bad "factorised layers"
expect_ok "$BIN" factorize "$T/t1.mnw" --energy 0.9 --layers fc2 -o "$T/fe.mnw" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); l=r["layers"][0]; assert len(r["layers"])==1 and l["kept_energy"]>=0.9 and l["rank"]<=24, r' "$T/out" && ok || bad "energy report"

# factorize: bad arguments
expect_fail 2 "rank" -- "$BIN" factorize "$T/t1.mnw" --rank 0 -o "$T/x.mnw"
expect_fail 2 "energy" -- "$BIN" factorize "$T/t1.mnw" --energy 1.5 -o "$T/x.mnw"
expect_fail 1 "not both" -- "$BIN" factorize "$T/t1.mnw" --rank 3 --energy 0.5 -o "$T/x.mnw"
expect_fail 1 "required" -- "$BIN" factorize "$T/t1.mnw" -o "$T/x.mnw"
expect_fail 1 "no node" -- "$BIN" factorize "$T/t1.mnw" --layers fc9=3 -o "$T/x.mnw"
expect_fail 1 "relu" -- "$BIN" factorize "$T/t1.mnw" --layers r1=3 -o "$T/x.mnw"
expect_fail 1 "rank" -- "$BIN" factorize "$T/t1.mnw" --layers fc1=x -o "$T/x.mnw"
expect_fail 1 "energy" -- "$BIN" factorize "$T/t1.mnw" --layers fc1=1.5 -o "$T/x.mnw"
expect_fail 1 "missing.mnw" -- "$BIN" factorize "$T/missing.mnw" --rank 2 -o "$T/x.mnw"
[ -e "$T/x.mnw" ] && bad "failed factorize left $T/x.mnw"

# online distillation: deep mutual learning, 2 and 3 peers
expect_ok "$BIN" distill --mutual 2 --arch "$SSPEC" --data "$T/d" --epochs 20 --batch 20 --lr 0.01 -o "$T/dml.mnw" --json
check "$T/out" "r['mode'] == 'mutual' and r['peers'] == 2 and len(r['val_errors']) == 2 and all(e <= 0.15 for e in r['val_errors']) and r['temperature'] == 1 and r['alpha'] == 0.5"
[ -f "$T/dml.mnw" ] && [ -f "$T/dml-peer2.mnw" ] && ok || bad "mutual: peer files $(ls "$T")"
expect_ok "$BIN" distill --mutual 3 --arch "$SSPEC" --data "$T/d" --epochs 2 --batch 20 -o "$T/dml3.mnw" --json
check "$T/out" "len(r['val_errors']) == 3"
[ -f "$T/dml3-peer3.mnw" ] && ok || bad "mutual: no third peer"
expect_fail 1 "no --teacher" -- "$BIN" distill --mutual 2 --teacher "$T/t1.mnw" --arch "$SSPEC" --data "$T/d" -o "$T/xm.mnw"
expect_fail 1 "--mutual needs --arch" -- "$BIN" distill --mutual 2 --data "$T/d" -o "$T/xm.mnw"
expect_fail 2 "--mutual" -- "$BIN" distill --mutual 1 --arch "$SSPEC" --data "$T/d" -o "$T/xm.mnw"
absent "$T/xm.mnw"
mkdir -p "$T/xm-peer2.mnw"
expect_fail 1 "xm-peer2.mnw" -- "$BIN" distill --mutual 2 --arch "$SSPEC" --data "$T/d" --epochs 1 -o "$T/xm.mnw"
absent "$T/xm.mnw"
# self-distillation: born-again (the teacher's own architecture, fresh weights)
expect_ok "$BIN" distill --teacher "$T/t1.mnw" --born-again --data "$T/d" --epochs 10 --batch 20 --lr 0.01 -o "$T/ba.mnw" --json
check "$T/out" "r['arch'] == 'born-again' and r['val_error'] <= 0.15"
expect_ok "$BIN" info "$T/ba.mnw" --json
cp "$T/out" "$T/ba.json"
expect_ok "$BIN" info "$T/t1.mnw" --json
"$PY" -c 'import json,sys; a, b = (json.load(open(f)) for f in sys.argv[1:]); assert a["params"] == b["params"]' "$T/ba.json" "$T/out" && ok || bad "born-again: not the teacher's architecture"
expect_fail 1 "no --arch" -- "$BIN" distill --teacher "$T/t1.mnw" --born-again --arch "$SSPEC" --data "$T/d" -o "$T/xb.mnw"
absent "$T/xb.mnw"
# self-distillation from the network's own last head (multi-exit training)
XSPEC="input x; dense h1 units=16; relu r1; dense e1 units=classes in=r1; dense h2 units=16 in=r1; relu r2; dense out units=classes"
expect_ok "$BIN" train --arch "$XSPEC" --exit-weights 0.5,1 --self-distill 0.7 --self-temperature 2 --data "$T/d" --epochs 10 --batch 20 --lr 0.01 -o "$T/sd.mnw" --json
check "$T/out" "r['val_error'] <= 0.15"
expect_fail 1 "needs --exit-weights" -- "$BIN" train --arch "$XSPEC" --self-distill 0.5 --data "$T/d" -o "$T/xs.mnw"
expect_fail 2 "--self-distill" -- "$BIN" train --arch "$XSPEC" --exit-weights 0.5,1 --self-distill 1.5 --data "$T/d" -o "$T/xs.mnw"
absent "$T/xs.mnw"

finish cli_distill
