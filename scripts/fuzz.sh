#!/usr/bin/env bash
# Builds (if needed) and runs the libFuzzer targets of fuzz/ with ASan and
# UBSan, each on its corpus (seeds generated from valid files by
# fuzz/gen_corpus, plus what earlier runs found).
#
#   scripts/fuzz.sh TARGET SECONDS [RUNS]   one target (RUNS: stop after that many executions)
#   scripts/fuzz.sh all SECONDS [RUNS]      every target, one after another
#   scripts/fuzz.sh list                    the targets
#
# Environment: MINNOW_FUZZ_BUILD (build dir, default build-fuzz),
# MINNOW_FUZZ_MAXLEN (default 4096), MINNOW_FUZZ_REQUIRED=1 (fail instead
# of skipping when clang or libFuzzer is missing).  Crashing inputs go to
# $MINNOW_FUZZ_BUILD/crashes/; a summary line per target goes to stdout and
# to $MINNOW_FUZZ_BUILD/fuzz-results.txt.  Exit status 0 only if no target
# found anything.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${MINNOW_FUZZ_BUILD:-build-fuzz}
MAXLEN=${MINNOW_FUZZ_MAXLEN:-4096}
what=${1:-}
secs=${2:-60}
runs=${3:-}

skip() {
  if [ "${MINNOW_FUZZ_REQUIRED:-0}" = 1 ]; then echo "fuzz: $*" >&2; exit 1; fi
  echo "fuzz: $*; skipping the fuzz targets" >&2
  exit 0
}
case "$what" in
  ""|-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

command -v clang >/dev/null || skip "clang not found (apt-get install clang libclang-rt-14-dev)"
tmpc=$(mktemp -d)
trap 'rm -rf "$tmpc"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$tmpc/t.c"
clang -fsanitize=fuzzer,address,undefined "$tmpc/t.c" -o "$tmpc/t" 2>/dev/null ||
  skip "clang cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)"

if [ ! -f "$B/CMakeCache.txt" ]; then
  CC=clang cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINNOW_FUZZ=ON -DMINNOW_TESTS=OFF >/dev/null ||
    { echo "fuzz: configuring $B failed" >&2; exit 1; }
else
  cmake "$B" >/dev/null || { echo "fuzz: configuring $B failed" >&2; exit 1; }
fi
mapfile -t all < "$B/fuzz_targets.txt"
if [ "$what" = list ]; then printf '%s\n' "${all[@]}"; exit 0; fi
if [ "$what" = all ]; then targets=("${all[@]}"); else targets=("$what"); fi
for t in "${targets[@]}"; do
  printf '%s\n' "${all[@]}" | grep -qx -- "$t" || { echo "fuzz: unknown target '$t' (scripts/fuzz.sh list)" >&2; exit 2; }
done

build=(gen_corpus)
for t in "${targets[@]}"; do build+=("fuzz_$t"); done
cmake --build "$B" -j"$(nproc)" --target "${build[@]}" >"$B/fuzz-build.log" 2>&1 ||
  { tail -30 "$B/fuzz-build.log" >&2; echo "fuzz: build failed (log: $B/fuzz-build.log)" >&2; exit 1; }
rm -rf "$B/seeds"
"$B/fuzz/gen_corpus" "$B/seeds" || { echo "fuzz: seed generation failed" >&2; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1
export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$B/crashes" "$B/logs"
fails=0
printf '%-16s %12s %8s %10s  %s\n' target executions seconds exec/s result
for t in "${targets[@]}"; do
  mkdir -p "$B/corpus/$t" "$B/seeds/$t"
  len=$MAXLEN
  [ "$t" = cifar ] && [ "$len" -lt 8192 ] && len=8192 # two 3073-byte records
  log="$B/logs/$t.log"
  extra=()
  [ -n "$runs" ] && extra+=("-runs=$runs")
  [ -f "fuzz/$t.dict" ] && extra+=("-dict=fuzz/$t.dict")
  start=$(date +%s.%N)
  "$B/fuzz/fuzz_$t" -max_total_time="$secs" -max_len="$len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$B/crashes/$t-" "${extra[@]}" \
    "$B/corpus/$t" "$B/seeds/$t" >"$log" 2>&1
  rc=$?
  el=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.0f", e - s}')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  rate=$(awk -v n="$execs" -v s="$el" 'BEGIN{printf "%.0f", (s > 0) ? (n / s) : n}')
  if grep -q "^minnow-fuzz: .*not registered" "$log"; then
    result="skipped (kind not in this build)"
  elif [ $rc = 0 ]; then
    result=ok
  else
    art=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
    why=$(grep -m1 -oE "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z-]+[^ ]*|runtime error: .*|fuzz check failed.*" "$log" | head -1)
    result="FAILED (rc $rc: ${why:-see $log}; input ${art:-none})"
    fails=$((fails + 1))
  fi
  line=$(printf '%-16s %12s %8s %10s  %s' "$t" "$execs" "$el" "$rate" "$result")
  echo "$line"
  echo "$(date -u +%FT%TZ) $line" >>"$B/fuzz-results.txt"
done
[ $fails = 0 ]
