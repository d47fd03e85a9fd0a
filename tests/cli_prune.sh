#!/usr/bin/env bash
# CLI behaviour of `minnow prune` and `minnow sensitivity` on a small CSV
# problem (no MNIST needed): every method runs and hits its sparsity, the
# reports are JSON, and bad arguments give one clear line and a non-zero
# exit without leaving an output file.
set -u
BIN=${1:?usage: cli_prune.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"

mkcsv() { # file n: 3 classes by the signs of two of 8 features
  awk -v n="$2" 'BEGIN{srand(5); print "a,b,c,d,e,f,g,h,label";
    for(i=0;i<n;i++){a=rand()*2-1;b=rand()*2-1; l=(a>0)+(b>0);
      printf "%.4f,%.4f", a, b; for(j=0;j<6;j++) printf ",%.4f", rand(); printf ",%d\n", l}}' >"$1"
}
mkdir -p "$T/d"
mkcsv "$T/d/train.csv" 400
mkcsv "$T/d/val.csv" 150
SPEC="input x; dense fc1 units=32; relu r1; dense fc2 units=16; relu r2; dense fc3 units=classes"
D=(--data "$T/d" --batch 20 --lr 0.01)
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 15 -o "$T/m.mnw" || { echo "cannot train"; exit 1; }

# ---- bad arguments --------------------------------------------------------
expect_ok "$BIN" prune --help
expect_ok "$BIN" sensitivity --help
expect_fail 1 "--method is required" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "unknown method 'frob'" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method frob --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "outside [0, 1)" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 1.0 -o "$T/x.mnw"
expect_fail 1 "outside [0, 1)" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 1.5 -o "$T/x.mnw"
expect_fail 1 "outside [0, 1)" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity=-0.1 -o "$T/x.mnw"
expect_fail 1 "outside [0, 1)" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity fc1=0.5,fc2=1 -o "$T/x.mnw"
expect_fail 1 "unknown layer 'fc9'" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity fc1=0.5,fc9=0.5 -o "$T/x.mnw"
expect_fail 1 "not a number" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity lots -o "$T/x.mnw"
expect_fail 1 "one sparsity for all layers" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --scope global --sparsity fc1=0.5 -o "$T/x.mnw"
expect_fail 1 "unknown scope" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --scope world --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "not a dense hidden layer" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method neuron --sparsity fc3=0.5 -o "$T/x.mnw"
expect_fail 1 "no layer that can be pruned" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method filter --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "unknown criterion" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method neuron --criterion size --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "starts from --arch" -- "$BIN" prune "${D[@]}" --method snip --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "--arch applies to snip and lottery" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --arch "$SPEC" --method magnitude --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "use --finetune" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.5 --epochs 3 -o "$T/x.mnw"
expect_fail 1 "gradual applies to magnitude" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method obd --schedule gradual --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "-o OUT.mnw is required" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.5
expect_fail 2 "missing input model" -- "$BIN" prune "${D[@]}" --method magnitude --sparsity 0.5 -o "$T/x.mnw"
expect_fail 1 "" -- "$BIN" prune "$T/nosuch.mnw" "${D[@]}" --method magnitude --sparsity 0.5 -o "$T/x.mnw"
expect_fail 2 "--steps" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.5 --steps 0 -o "$T/x.mnw"
expect_fail 2 "unknown option" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.5 --bogus -o "$T/x.mnw"
expect_fail 1 "not a fraction" -- "$BIN" sensitivity "$T/m.mnw" --data "$T/d" --levels 0,2
[ -e "$T/x.mnw" ] && bad "a failed prune left $T/x.mnw" || ok

# ---- every method -----------------------------------------------------------
# magnitude per layer, iterative with fine-tune: exact counts (fc1 8x32, fc2 32x16)
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity fc1=0.75,fc2=0.5 --steps 2 --finetune 2 -o "$T/mag.mnw" --json
L='{l["name"]: l for l in r["layers"]}'
check "$T/out" "(lambda L: L['fc1.weight']['nonzero'] == 64 and L['fc2.weight']['nonzero'] == 256 and L['fc3.weight']['nonzero'] == 48 and len(r['stages']) == 2 and 0 <= r['val_error'] <= 1)($L)"
expect_ok "$BIN" info "$T/mag.mnw" --json
check "$T/out" "r['nonzero'] < r['params']"
# the same in text: per-layer table and val error before/after
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.6 -o "$T/mag2.mnw"
grep -q "val error: .* before, .* after" "$T/out" && grep -q "^fc1.weight" "$T/out" && ok || bad "text report: $(cat "$T/out")"
# global: one threshold, exact total
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --scope global --sparsity 0.7 -o "$T/glob.mnw" --json
check "$T/out" "r['nonzero'] == r['weights'] - round(0.7 * r['weights'])"
# gradual schedule during training
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --schedule gradual --sparsity 0.8 --epochs 3 --dt 10 -o "$T/grad.mnw" --json
check "$T/out" "r['nonzero'] == r['weights'] - (round(0.8 * 256) + round(0.8 * 512) + round(0.8 * 48)) and len(r['stages']) >= 3"
# obd
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method obd --sparsity 0.6 --samples 50 --finetune 1 -o "$T/obd.mnw" --json
check "$T/out" "r['nonzero'] == r['weights'] - (round(0.6 * 256) + round(0.6 * 512) + round(0.6 * 48))"
# snip from an architecture, global
expect_ok "$BIN" prune "${D[@]}" --arch "$SPEC" --method snip --sparsity 0.9 --samples 2 --epochs 3 -o "$T/snip.mnw" --json
check "$T/out" "r['nonzero'] == r['weights'] - round(0.9 * r['weights'])"
# lottery with the control: output layer at half the rate
expect_ok "$BIN" prune "${D[@]}" --arch "$SPEC" --method lottery --sparsity 0.75 --rounds 2 --control scratch --epochs 3 -o "$T/lt.mnw" --json
check "$T/out" "(lambda L: L['fc1.weight']['nonzero'] == 64 and L['fc2.weight']['nonzero'] == 128 and L['fc3.weight']['nonzero'] == 160 - round(0.4375 * 160) and 0 <= r['lottery']['control_val_error'] <= 1)($L)"
# lottery with a hold-out: every training early-stopped on the last 100 train rows
expect_ok "$BIN" prune "${D[@]}" --arch "$SPEC" --method lottery --sparsity 0.5 --rounds 2 --control scratch --holdout 100 --epochs 3 -o "$T/lth.mnw" --json
check "$T/out" "(lambda t: all(1 <= t[k] <= 3 for k in ('dense_epoch', 'ticket_epoch', 'control_epoch')) and all(0 <= t[k] <= 1 for k in ('dense_holdout_error', 'ticket_holdout_error', 'control_holdout_error')) and [x['round'] for x in t['rounds']] == [0, 1, 2] and all(1 <= x['epoch'] <= 3 and 0 <= x['holdout_error'] <= 1 for x in t['rounds']))(r['lottery'])"
# the controls (Liu et al.'s scratch, Blalock et al.'s random) beside magnitude, neuron, filter and lottery
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.8 --steps 2 --finetune 2 --control scratch -o "$T/cs.mnw" --json
check "$T/out" "r['control']['kind'] == 'scratch' and r['control']['epochs'] == 15 + 4 and 0 <= r['control']['val_error'] <= 1 and abs(r['control']['density'] - r['density']) < 1e-6"
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.8 --steps 2 --finetune 2 --control random -o "$T/cr.mnw" --json
check "$T/out" "r['control']['kind'] == 'random' and r['control']['epochs'] == 4 and abs(r['control']['density'] - r['density']) < 1e-6"
grep -q "^control: random pruning at the same per-layer sparsity" <("$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.8 --finetune 1 --control random -o "$T/cr2.mnw" 2>/dev/null) && ok || bad "control text"
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method neuron --sparsity 0.5 --finetune 1 --control scratch --scratch-epochs 3 -o "$T/cn.mnw" --json
check "$T/out" "r['control']['kind'] == 'scratch' and r['control']['epochs'] == 3 and 0 <= r['control']['val_error'] <= 1"
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method neuron --sparsity 0.5 --finetune 1 --control random -o "$T/cn2.mnw" --json
check "$T/out" "r['control']['kind'] == 'random' and r['control']['epochs'] == 1"
expect_ok "$BIN" prune "${D[@]}" --arch "$SPEC" --method lottery --sparsity 0.5 --rounds 1 --control random --epochs 2 -o "$T/ltr.mnw" --json
check "$T/out" "0 <= r['lottery']['control_val_error'] <= 1 and 'control' not in r"
expect_fail 1 "--control applies to magnitude" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method random --sparsity 0.5 --control scratch -o "$T/xc.mnw"
expect_fail 1 "scratch or random" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.5 --control maybe -o "$T/xc.mnw"
expect_fail 1 "--scratch-epochs applies" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.5 --control random --scratch-epochs 3 -o "$T/xc.mnw"
# a model that does not say how long it trained (imported, say): scratch needs --scratch-epochs
"$BIN" export-onnx "$T/m.mnw" -o "$T/m.onnx" >/dev/null 2>&1 && "$BIN" import "$T/m.onnx" -o "$T/mi.mnw" >/dev/null 2>&1 &&
  expect_fail 1 "scratch-epochs" -- "$BIN" prune "$T/mi.mnw" "${D[@]}" --method magnitude --sparsity 0.5 --finetune 1 --control scratch -o "$T/xc.mnw"
absent "$T/xc.mnw"
printf 'passes:\n  - prune: {sparsity: 0.5, finetune: 1, control: random}\n' >"$T/rc.yaml"
expect_fail 1 "has nowhere to report it" -- "$BIN" compress "$T/m.mnw" --recipe "$T/rc.yaml" --data "$T/d" -o "$T/xc.mnw"
absent "$T/xc.mnw"
expect_ok "$BIN" prune "${D[@]}" --arch "$SPEC" --method lottery --sparsity 0.5 --holdout 100 --epochs 2 -o "$T/lth2.mnw"
grep -q "held-out error at the kept epoch: dense" "$T/out" && ok || bad "lottery hold-out text: $(cat "$T/out")"
expect_fail 1 "leaves nothing to train on" -- "$BIN" prune "${D[@]}" --arch "$SPEC" --method lottery --sparsity 0.5 --holdout 400 --epochs 1 -o "$T/xl.mnw"
expect_fail 1 "--control-all and --holdout apply to lottery" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method magnitude --sparsity 0.5 --holdout 10 -o "$T/xl.mnw"
expect_fail 2 "--holdout" -- "$BIN" prune "${D[@]}" --arch "$SPEC" --method lottery --sparsity 0.5 --holdout=-5 -o "$T/xl.mnw"
[ -e "$T/xl.mnw" ] && bad "a failed lottery left $T/xl.mnw" || ok
# neuron: half of the hidden units go, shapes shrink
expect_ok "$BIN" prune "$T/m.mnw" "${D[@]}" --method neuron --sparsity 0.5 --criterion activity --finetune 1 -o "$T/neu.mnw" --json
check "$T/out" "(lambda L: (L['fc1.weight']['rows'], L['fc2.weight']['rows'], L['fc2.weight']['cols'], L['fc3.weight']['cols']) == (16, 8, 16, 8))($L)"
expect_ok "$BIN" info "$T/neu.mnw" --json
check "$T/out" "r['params'] == 8*16+16 + 16*8+8 + 8*3+3"
expect_ok "$BIN" eval "$T/neu.mnw" --data "$T/d" --split val --json

# ---- sensitivity --------------------------------------------------------------
expect_ok "$BIN" sensitivity "$T/m.mnw" --data "$T/d" --json --svg "$T/s.svg"
check "$T/out" "len(r['levels']) == 11 and [l['name'] for l in r['layers']] == ['fc1.weight', 'fc2.weight', 'fc3.weight'] and all(len(l['val_error']) == 11 for l in r['layers'])"
head -c 5 "$T/s.svg" | grep -q "<svg" && $PY -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$T/s.svg" && ok || bad "svg"
expect_ok "$BIN" sensitivity "$T/m.mnw" --data "$T/d" --levels 0,0.5
grep -q "^fc2.weight" "$T/out" && ok || bad "sensitivity table: $(cat "$T/out")"

# ---- layer pruning: whole residual blocks ----------------------------------
RSPEC="input x; dense fc0 units=16; relu r0; dense a1 units=16; batchnorm ab; add aa in=ab,r0; relu ao;
  dense b1 units=16; batchnorm bb; add ba in=bb,ao; relu bo; dense c1 units=16; batchnorm cb; add ca in=cb,bo; relu co;
  dense fc units=classes"
expect_ok "$BIN" train --arch "$RSPEC" "${D[@]}" --epochs 10 -o "$T/res.mnw"
expect_ok "$BIN" prune "$T/res.mnw" "${D[@]}" --method blocks --sparsity 0.34 --finetune 2 --json -o "$T/rb.mnw"
check "$T/out" "r['blocks_before'] == 3 and r['blocks'] == 2 and r['nodes'] == r['nodes_before'] - 4 and r['macs'] < r['macs_before'] and r['val_error'] < 0.3 and len(r['stages']) == 1"
expect_ok "$BIN" info "$T/rb.mnw"
expect_ok "$BIN" prune "$T/res.mnw" "${D[@]}" --method blocks --sparsity 0.67 --steps 2 --samples 100 --json -o "$T/rb2.mnw"
check "$T/out" "r['blocks'] == 1 and len(r['stages']) == 2"
expect_ok "$BIN" prune "$T/res.mnw" "${D[@]}" --method blocks --sparsity 0.34 --control scratch --scratch-epochs 2 --json -o "$T/rb3.mnw"
check "$T/out" "r['control']['kind'] == 'scratch' and r['control']['val_error'] >= 0"
expect_fail 1 "no residual block" -- "$BIN" prune "$T/m.mnw" "${D[@]}" --method blocks --sparsity 0.5 -o "$T/x.mnw"
absent "$T/x.mnw"
expect_fail 1 "--control scratch" -- "$BIN" prune "$T/res.mnw" "${D[@]}" --method blocks --sparsity 0.3 --control random -o "$T/x.mnw"
expect_fail 1 "one sparsity" -- "$BIN" prune "$T/res.mnw" "${D[@]}" --method blocks --sparsity a1=0.5 -o "$T/x.mnw"
absent "$T/x.mnw"
# from a recipe, as a pass
printf 'passes:\n  - prune: {method: blocks, sparsity: 0.34, finetune: 1}\n' >"$T/blocks.yaml"
expect_ok "$BIN" compress "$T/res.mnw" --recipe "$T/blocks.yaml" --data "$T/d" -o "$T/rb4.mnw"
expect_ok "$BIN" info "$T/rb4.mnw" --json
check "$T/out" "sum(1 for l in r['layers'] if l['op'] == 'add') == 2"

finish cli_prune
