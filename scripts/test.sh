#!/usr/bin/env bash
# The test suite: a Release build and an AddressSanitizer +
# UndefinedBehaviorSanitizer build, each running every test under CTest.
# Data-dependent tests skip when $MINNOW_DATA/mnist is absent; this
# project's test data is ../shared/data, used when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MINNOW_DATA:-}" ] && [ -d ../shared/data ]; then
  MINNOW_DATA=$(cd ../shared/data && pwd)
  export MINNOW_DATA
fi
./scripts/deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
if [ "${MINNOW_SKIP_ASAN:-0}" != 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINNOW_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  # OpenBLAS and OpenMP keep thread pools alive at exit; those are not ours.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  MINNOW_ASAN=1 ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
# One loaded model run from several threads (tests/test_threads.c) under
# ThreadSanitizer, where clang has it (skipped with a note otherwise).
if [ "${MINNOW_SKIP_TSAN:-0}" != 1 ]; then
  if command -v clang >/dev/null && echo 'int main(void){return 0;}' | clang -fsanitize=thread -x c - -o /tmp/minnow-tsan-probe.$$ 2>/dev/null; then
    rm -f /tmp/minnow-tsan-probe.$$
    CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINNOW_TSAN=ON >/dev/null
    cmake --build build-tsan -j"$jobs" --target test_threads
    TSAN_OPTIONS="suppressions=$PWD/scripts/tsan.supp halt_on_error=1" ./build-tsan/test_threads
  else
    echo "test.sh: clang with ThreadSanitizer not found: test_threads not run under TSan" >&2
  fi
fi
