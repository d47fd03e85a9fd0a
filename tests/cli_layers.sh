#!/usr/bin/env bash
# The one-way layers (docs/HACKING.md): no source file includes a header of
# a higher layer, public headers include only public headers and name no
# instruction set.  Calls are checked by the build itself (CMakeLists.txt
# links each layer alone with --no-undefined).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
python3 scripts/check_layers.py .
