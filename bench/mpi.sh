#!/usr/bin/env bash
# Data-parallel training on MPI against one process (docs/DISTRIBUTED.md).
#
#   bench/mpi.sh [EPOCHS]        (default 1 epoch per run)
#
# For lenet5 on mnist-full and resnet20 on the small mnist split (7,000
# images: a ResNet-20 epoch on 60,000 takes minutes), SGD, batch 128:
#   one process, 1 thread;  one process, 2 threads;  mpirun -np 2, 1 thread
#   per rank (the CPU budget of the second)
# and one JSON line per run: seconds per epoch (training steps only, the
# mean over the epochs), the time spent in MPI collectives per step (the
# gradient all-reduce, batch norm's and the loss's reductions, waiting for
# the slower rank included), the gradient bytes all-reduced per step.
# Then one line per model with the speed-ups.  Run it with and without the
# OPENBLAS_* variables (`env -u OPENBLAS_CORETYPE ...`): the line says which.
#
# Build: $MINNOW (default build/minnow, a Release build with MPI).
# Data: $MINNOW_DATA/mnist-full and $MINNOW_DATA/mnist.
set -uo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-1}
BIN=${MINNOW:-build/minnow}
DATA=${MINNOW_DATA:?set MINNOW_DATA to the directory holding mnist-full/ and mnist/}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -x "$BIN" ] || { echo "bench/mpi.sh: no minnow at $BIN (build it, or set MINNOW)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench/mpi.sh: no mpirun (apt install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
blas=$(env | grep -o '^OPENBLAS_[A-Z_]*=[^ ]*' | tr '\n' ' ')
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

run() { # model data threads ranks
  local m=$1 d=$2 th=$3 np=$4 pre=()
  [ "$np" -gt 1 ] && pre=(mpirun -q -np "$np")
  "${pre[@]}" "$BIN" train --arch "$m" --data "$d" --epochs "$EPOCHS" --batch 128 --opt sgd --lr 0.05 \
    --val none --threads "$th" --json -o "$T/m.mnw" >"$T/r.json" 2>"$T/err" ||
    { echo "bench/mpi.sh: $m failed: $(tail -1 "$T/err")" >&2; return 1; }
  python3 - "$T/r.json" "$m" "$d" "$th" "$np" "$blas" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ep = [e["seconds"] for e in r["epochs"]]
steps = (r["train_n"] + 127) // 128 * len(ep)
print(json.dumps({"model": sys.argv[2], "data": sys.argv[3], "threads": int(sys.argv[4]),
                  "ranks": r["ranks"], "epoch_seconds": round(sum(ep) / len(ep), 3), "steps_per_epoch": steps // len(ep),
                  "comm_ms_per_step": round(1000 * r["comm_seconds"] / steps, 3),
                  "allreduce_bytes_per_step": 4 * r["params"], "params": r["params"],
                  "openblas_env": sys.argv[6].strip() or None}))
PY
}

for spec in "lenet5 $DATA/mnist-full" "resnet20 $DATA/mnist"; do
  set -- $spec
  a=$(run "$1" "$2" 1 1) || continue
  b=$(run "$1" "$2" 2 1) || continue
  c=$(run "$1" "$2" 1 2) || continue
  printf '%s\n%s\n%s\n' "$a" "$b" "$c"
  python3 - "$a" "$b" "$c" <<'PY'
import json, sys
a, b, c = (json.loads(x) for x in sys.argv[1:])
print(json.dumps({"model": a["model"], "summary": True,
                  "speedup_2ranks_vs_1thread": round(a["epoch_seconds"] / c["epoch_seconds"], 2),
                  "speedup_2ranks_vs_2threads": round(b["epoch_seconds"] / c["epoch_seconds"], 2),
                  "speedup_2threads_vs_1thread": round(a["epoch_seconds"] / b["epoch_seconds"], 2),
                  "comm_share_at_2ranks": round(c["comm_ms_per_step"] * c["steps_per_epoch"] / 1000 / c["epoch_seconds"], 3)}))
PY
done
