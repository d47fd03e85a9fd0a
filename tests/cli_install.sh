#!/usr/bin/env bash
# `cmake --install` puts the CLI, both libraries, the headers and minnow.pc in
# place, and a program built against them with pkg-config runs.
set -u
BIN=${1:?usage: cli_install.sh path/to/minnow}
BUILD=$(dirname "$BIN")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
[ "${MINNOW_ASAN:-0}" = 1 ] && { echo "skipped under sanitizers"; exit 77; }
command -v pkg-config >/dev/null || { echo "no pkg-config"; exit 77; }
cmake --install "$BUILD" --prefix "$T/p" >/dev/null || { echo "install failed"; exit 1; }
fails=0; passes=0
for f in bin/minnow include/minnow/graph.h include/minnow/train.h; do
  [ -e "$T/p/$f" ] && passes=$((passes + 1)) || { echo "missing $f"; fails=$((fails + 1)); }
done
pc=$(find "$T/p" -name minnow.pc | head -1)
lib=$(dirname "$(find "$T/p" -name 'libminnow.a' | head -1)")
[ -n "$pc" ] && [ -e "$lib/libminnow.a" ] && ls "$lib"/libminnow.so* >/dev/null 2>&1 || { echo "libraries or minnow.pc missing"; exit 1; }
cat >"$T/hello.c" <<'C'
#include <stdio.h>
#include <minnow/arch.h>
int main(void) {
    mn_graph g;
    if (mn_arch_build(&g, "lenet300", 1, 28, 28, 10) != MN_OK) { fprintf(stderr, "%s\n", mn_errmsg()); return 1; }
    printf("%lld\n", (long long)mn_graph_macs(&g));
    mn_graph_free(&g);
    return 0;
}
C
export PKG_CONFIG_PATH=$(dirname "$pc")
# shellcheck disable=SC2046
cc -std=c11 "$T/hello.c" -o "$T/hello" $(pkg-config --cflags minnow) -Wl,-rpath,"$lib" $(pkg-config --libs minnow) -lm \
  && out=$("$T/hello") && [ "$out" = 266600 ] && passes=$((passes + 1)) || { echo "pkg-config build/run failed: ${out:-}"; fails=$((fails + 1)); }
# Every installed header stands alone: it compiles by itself, against the
# installed tree only (no private header of src/ leaks into the API).
for h in "$T"/p/include/minnow/*.h; do
  # shellcheck disable=SC2046
  echo "#include <minnow/$(basename "$h")>" | cc -std=c11 -Wall -Werror -fsyntax-only -x c - $(pkg-config --cflags minnow) \
    && passes=$((passes + 1)) || { echo "installed header $(basename "$h") does not compile alone"; fails=$((fails + 1)); }
done
"$T/p/bin/minnow" --help >/dev/null && passes=$((passes + 1)) || { echo "installed CLI does not run"; fails=$((fails + 1)); }
echo "cli_install: $passes passed, $fails failed"
[ "$fails" = 0 ]
