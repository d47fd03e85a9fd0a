#!/usr/bin/env bash
# minnow under mpirun (docs/DISTRIBUTED.md): data-parallel training gives
# the one-process model within the stated bound (bit for bit at one rank),
# with 2 and 3 ranks (3 splits the batches unevenly), for an MLP with batch
# norm and dropout, lenet300 and a residual CNN; evaluation, sensitivity
# and search sweeps give the serial tables; a bad input on one rank or a
# rank killed mid-run ends the job with a non-zero exit, one line and no
# output; a run killed mid-way resumes to the uninterrupted model.
# Skipped (77) without mpirun or in a build without MPI.
set -u
BIN=${1:?usage: cli_mpi.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
TOOLS="$(dirname "$0")/mpi_tools.py"
command -v mpirun >/dev/null || { echo "skip: no mpirun (apt install openmpi-bin libopenmpi-dev)"; exit 77; }
# CI runs as root; OpenMPI refuses root unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun -q --oversubscribe)
# Under ASan: OpenMPI's own allocations at MPI_Init stay until exit; their
# stacks pass through plugins the frame-pointer unwinder cannot follow, so
# the slow one finds MPI_Init for scripts/lsan.supp.
[ -n "${ASAN_OPTIONS:-}" ] && { export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" LSAN_OPTIONS="${LSAN_OPTIONS:-}:print_suppressions=0"; }
# The bound on the largest weight difference against one process, relative
# to the largest weight, after the runs below (measured: 1e-7 to 7e-7).
BOUND=1e-5

mkdir -p "$T/d" "$T/img"
mkcsv_signs "$T/d/train.csv" 600 3
mkcsv_signs "$T/d/val.csv" 200 4
python3 "$TOOLS" images "$T/img" || { bad "cannot make images"; finish cli_mpi; }

SPEC="input x; dense fc1 units=16; batchnorm b1; relu r1; dropout d1 rate=0.2; dense fc2 units=12; relu r2; dense fc3 units=classes"
MLP=(train --arch "$SPEC" --data "$T/d" --batch 50 --epochs 3 --opt sgd --lr 0.05)
"${MPI[@]}" -np 2 "$BIN" "${MLP[@]}" -o "$T/probe.mnw" >/dev/null 2>"$T/err"
if grep -q "built without MPI" "$T/err"; then echo "skip: $(cat "$T/err")"; exit 77; fi

within() { # what one.mnw other.mnw
  local d
  d=$(python3 "$TOOLS" diff "$2" "$3") || { bad "$1: cannot compare"; return; }
  python3 -c "import sys; sys.exit(0 if float('$d') <= $BOUND else 1)" && ok || bad "$1: weights differ by $d (bound $BOUND)"
}
# Trains with "$@" alone and at 1, 2 and 3 ranks; checks the bound.
compare_train() { # name args...
  local name=$1; shift
  expect_ok "$BIN" "$@" -o "$T/$name-1.mnw" || return
  expect_ok "${MPI[@]}" -np 1 "$BIN" "$@" -o "$T/$name-np1.mnw"
  cmp -s "$T/$name-1.mnw" "$T/$name-np1.mnw" && ok || bad "$name: one rank is not bit-identical to no mpirun"
  for n in 2 3; do
    expect_ok "${MPI[@]}" -np $n "$BIN" "$@" -o "$T/$name-np$n.mnw" && within "$name at $n ranks" "$T/$name-1.mnw" "$T/$name-np$n.mnw"
  done
}

# 12 steps of 50 (3 ranks: 17/17/16); batch norm and dropout.
compare_train mlp "${MLP[@]}"
# lenet300 (20 steps of 25, 3 ranks: 9/8/8, the last batch 5/5/5) and a
# residual CNN (batch norm, projection shortcuts; steps of 200 and 40: 3
# ranks 67/67/66 and 14/13/13) on 28x28, with random shifts.  Few steps of
# SGD for the ResNet: a narrow BN net amplifies rounding differences ~30x
# a step at small batches, and Adam turns the rounding of a near-zero
# gradient into a whole step, as one process at 2 threads against 1 shows
# (docs/DISTRIBUTED.md); the bound is about the algorithm, not that.
compare_train lenet300 train --arch lenet300 --data "$T/img" --batch 25 --epochs 2 --opt sgd --lr 0.05 --augment 1
compare_train resnet train --arch resnet20:0.25 --data "$T/img" --batch 200 --epochs 1 --opt sgd --lr 0.05 --augment 1

# A slimmable net: the narrower widths run inside the loss hook, each with
# its own batch norm reductions; gates: the cost's gradient per sample.
compare_train slim "${MLP[@]}" --widths 0.5,1
RSPEC="input x; dense fc0 units=16; relu r0; dense b1 units=16; relu b1r; dense b2 units=16; add a1 in=b2,r0; relu r1; dense out units=classes"
expect_ok "$BIN" train --arch "$RSPEC" --data "$T/d" --batch 50 --epochs 2 --opt sgd --lr 0.05 -o "$T/res.mnw"
GATE=(gate "$T/res.mnw" --cost 2 --data "$T/d" --batch 50 --epochs 1 --opt sgd --lr 0.05)
expect_ok "$BIN" "${GATE[@]}" -o "$T/g1.mnw"
expect_ok "${MPI[@]}" -np 3 "$BIN" "${GATE[@]}" -o "$T/g3.mnw" && within "gate training at 3 ranks" "$T/g1.mnw" "$T/g3.mnw"

# Every verb that trains goes through the same loop: fine-tuning too.
expect_ok "$BIN" prune "$T/mlp-1.mnw" --data "$T/d" --method magnitude --sparsity 0.5 --finetune 2 --batch 50 --opt sgd --lr 0.05 -o "$T/p1.mnw"
expect_ok "${MPI[@]}" -np 2 "$BIN" prune "$T/mlp-1.mnw" --data "$T/d" --method magnitude --sparsity 0.5 --finetune 2 --batch 50 --opt sgd --lr 0.05 -o "$T/p2.mnw"
within "prune fine-tuning at 2 ranks" "$T/p1.mnw" "$T/p2.mnw"

# Deep mutual learning: the second peer's steps are inside the loss hook,
# with their own all-reduce and batch norm reductions.
DML=(distill --mutual 2 --arch "$SPEC" --data "$T/d" --epochs 2 --batch 50 --opt sgd --lr 0.05)
expect_ok "$BIN" "${DML[@]}" -o "$T/dml1.mnw"
expect_ok "${MPI[@]}" -np 3 "$BIN" "${DML[@]}" -o "$T/dml3.mnw"
within "mutual distillation at 3 ranks, peer 1" "$T/dml1.mnw" "$T/dml3.mnw"
within "mutual distillation at 3 ranks, peer 2" "$T/dml1-peer2.mnw" "$T/dml3-peer2.mnw"

# Evaluation split over the ranks: the same count of errors.
"$BIN" eval "$T/resnet-1.mnw" --data "$T/img" --json >"$T/e1.json" 2>/dev/null
"${MPI[@]}" -np 3 "$BIN" eval "$T/resnet-1.mnw" --data "$T/img" --json >"$T/e3.json" 2>/dev/null
python3 -c "
import json, sys
a, b = json.load(open('$T/e1.json')), json.load(open('$T/e3.json'))
sys.exit(0 if a['errors'] == b['errors'] and abs(a['loss'] - b['loss']) < 1e-5 else 1)" && ok || bad "eval at 3 ranks: $(cat "$T/e3.json") vs $(cat "$T/e1.json")"

# Sweeps: the layers of a sensitivity scan and the candidates of a budget
# search spread over the ranks give the serial tables.
"$BIN" sensitivity "$T/mlp-1.mnw" --data "$T/d" --json >"$T/s1.json" 2>/dev/null
"${MPI[@]}" -np 3 "$BIN" sensitivity "$T/mlp-1.mnw" --data "$T/d" --json >"$T/s3.json" 2>/dev/null
[ -s "$T/s1.json" ] && cmp -s "$T/s1.json" "$T/s3.json" && ok || bad "sensitivity at 3 ranks differs from the serial table"
S=(search "$T/lenet300-1.mnw" --budget bytes=60000 --data "$T/img" --eval-n 0 --finetune 1 --steps 1 --json)
"$BIN" "${S[@]}" -o "$T/q1.mnw" >"$T/q1.json" 2>/dev/null
"${MPI[@]}" -np 2 "$BIN" "${S[@]}" -o "$T/q2.mnw" >"$T/q2.json" 2>/dev/null
python3 -c "
import json, sys
a, b = json.load(open('$T/q1.json')), json.load(open('$T/q2.json'))
same = lambda k: a[k] == b[k]
sys.exit(0 if all(same(k) for k in a if k not in ('output', 'recipe', 'seconds', 'state')) else 1)" && ok ||
  bad "search at 2 ranks: a different table ($(head -c 300 "$T/q2.json"))"

# The lottery's controls after every round, one sweep job per round.
LT=(prune --method lottery --arch "input x; dense fc1 units=32; relu r1; dense fc2 units=32; relu r2; dense fc3 units=classes"
    --data "$T/d" --rounds 3 --sparsity 0.8 --control scratch --control-all --epochs 2 --batch 50 --opt sgd --lr 0.05 --json)
"$BIN" "${LT[@]}" -o "$T/lt1.mnw" >"$T/lt1.json" 2>/dev/null
"${MPI[@]}" -np 3 "$BIN" "${LT[@]}" -o "$T/lt3.mnw" >"$T/lt3.json" 2>/dev/null
python3 -c "
import json, sys
a, b = json.load(open('$T/lt1.json')), json.load(open('$T/lt3.json'))
sys.exit(0 if len(a['lottery']['rounds']) == 4 and all(a[k] == b[k] for k in a if k != 'output') else 1)" && ok ||
  bad "lottery at 3 ranks: another table ($(head -c 300 "$T/lt3.json"))"
# The seeds of a reproduction row over the ranks (bench/reproduce.sh), on
# the small MNIST split when it is there.
if [ -n "${MINNOW_DATA:-}" ] && [ -d "$MINNOW_DATA/mnist" ] && [ "${MINNOW_ASAN:-0}" != 1 ]; then
  R=(bench/reproduce.sh dense-lenet300 --quick --seeds 1,2,3 --data mnist --threads 1)
  MINNOW="$BIN" "${R[@]}" --out "$T/rs1" >"$T/rs1.out" 2>/dev/null
  MINNOW="$BIN" "${MPI[@]}" -np 2 "${R[@]}" --out "$T/rs2" >"$T/rs2.out" 2>/dev/null
  python3 - "$T/rs1.out" "$T/rs2.out" <<'PY' && ok || bad "reproduce at 2 ranks: $(head -c 400 "$T/rs2.out")"
import json, sys
strip = lambda d: {k: (strip(v) if isinstance(v, dict) else v) for k, v in d.items() if "minute" not in k and k != "plot"}
a = [strip(json.loads(l)) for l in open(sys.argv[1])]
b = [strip(json.loads(l)) for l in open(sys.argv[2])]
sys.exit(0 if len(a) == 4 and a == b else 1)
PY
fi

# A bad input on one rank only: the job ends, one line, no output.
"${MPI[@]}" -np 2 sh -c 'D='"$T/d"'; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && D='"$T/nowhere"'; exec "$0" "$@" --data "$D"' \
  "$BIN" train --arch "$SPEC" --epochs 3 -o "$T/bad.mnw" >"$T/out" 2>"$T/err"
rc=$?
[ $rc != 0 ] && ok || bad "a rank without data: exit 0"
[ "$(wc -l <"$T/err")" = 1 ] && grep -q "rank 1: data directory" "$T/err" && ok || bad "a rank without data: stderr '$(head -c 300 "$T/err")'"
absent "$T/bad.mnw"
# A step must give every rank a sample: 600 in batches of 299 leave a last
# batch of 2 for 3 ranks.
expect_fail 1 "fewer than the 3 ranks" -- "${MPI[@]}" -np 3 "$BIN" train --arch "$SPEC" --data "$T/d" --batch 299 -o "$T/bad.mnw"
absent "$T/bad.mnw"
# The same bad input everywhere: rank 0's line alone.
expect_fail 1 "not found" -- "${MPI[@]}" -np 2 "$BIN" train --arch "$SPEC" --data "$T/nowhere" -o "$T/bad.mnw"
absent "$T/bad.mnw"

# A rank killed mid-run: the job ends non-zero, no model; --resume from
# the checkpoint then ends at the uninterrupted model, bit for bit.
awk -v n=6000 -v seed=5 'BEGIN{srand(seed); printf "f0"; for(j=1;j<16;j++) printf ",f%d", j; print ",label";
  for(i=0;i<n;i++){s=0; for(j=0;j<16;j++){v=rand()*2-1; x[j]=v; s+=v*(j%3-1)}; l=(s>0)+(x[0]>0.5);
    for(j=0;j<16;j++) printf "%.3f,", x[j]; print l}}' >"$T/d/big.csv"
mkdir -p "$T/k" && mv "$T/d/big.csv" "$T/k/train.csv"
K=(train --arch "input x; dense fc1 units=256; relu r1; dense fc2 units=256; relu r2; dense fc3 units=classes"
   --data "$T/k" --val none --epochs 6 --batch 32 --checkpoint-every 1)
expect_ok "${MPI[@]}" -np 2 "$BIN" "${K[@]}" -o "$T/kref.mnw"
"${MPI[@]}" -np 2 "$BIN" "${K[@]}" -o "$T/k.mnw" >"$T/kout" 2>"$T/kerr" &
mp=$!
i=0
while ! grep -q "epoch 2:" "$T/kerr" 2>/dev/null && kill -0 $mp 2>/dev/null && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
victim=$(pgrep -P $mp | tail -1)
if [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; then
  wait $mp; rc=$?
  [ $rc != 0 ] && ok || bad "a killed rank: mpirun exit 0"
  absent "$T/k.mnw"
  [ -e "$T/k.mnw.ckpt" ] && ok || bad "no checkpoint after the kill"
  expect_ok "${MPI[@]}" -np 2 "$BIN" "${K[@]}" --resume -o "$T/k.mnw"
  grep -q "resuming from" "$T/err" && ok || bad "the resumed run did not resume: $(tail -1 "$T/err")"
  cmp -s "$T/k.mnw" "$T/kref.mnw" && ok || bad "resumed at 2 ranks: not the uninterrupted model"
else
  wait $mp; bad "the run ended before a rank could be killed"
fi
ls "$T" | grep -q "\.tmp\." && bad "temporary files left: $(ls "$T" | grep "\.tmp\.")" || ok

finish cli_mpi
