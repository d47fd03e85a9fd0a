#!/usr/bin/env bash
# What a new user does: clone into an empty directory (no ../shared beside
# it), with no MINNOW_DATA and an empty HOME, and run the README's two
# set-up commands.  The demo runs in full (it must train and compress on
# Fashion-MNIST when MNIST is nowhere, and print its figures); the test
# command runs its Release half unless MINNOW_FRESH_ASAN=1 (then also the
# sanitizer builds), to keep CI short.
# Clones the committed HEAD of this checkout.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/home" "$T/work"
git clone -q "$SRC" "$T/work/minnow"
cd "$T/work/minnow"
run() {
  env -u MINNOW_DATA -u XDG_DATA_HOME HOME="$T/home" "$@"
}
echo "fresh clone in $T/work/minnow (HOME=$T/home, no MINNOW_DATA, no ../shared)"
start=$(date +%s)
run ./scripts/demo.sh | tee "$T/demo.log"
echo "demo: $(( $(date +%s) - start )) s"
grep -q "^data: Fashion-MNIST in \|^data: MNIST in " "$T/demo.log"
grep -q "on val: error" "$T/demo.log"
grep -q "^files: " "$T/demo.log"
ls out/lenet300.mnw out/lenet300-deep-compressed.mnw out/lenet300-int8.mnw >/dev/null
asan=1
[ "${MINNOW_FRESH_ASAN:-0}" = 1 ] && asan=0
run env MINNOW_SKIP_ASAN=$asan MINNOW_SKIP_TSAN=$asan ./scripts/test.sh
echo "fresh clone: both README commands passed"
