#!/usr/bin/env bash
# Builds minnow and runs the demo: train LeNet-300-100 on real MNIST (else
# Fashion-MNIST, which scripts/deps.sh installs from Debian) and compress
# it.  `minnow data list` shows where each data set is found (docs/DATA.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
exec ./build/minnow demo "$@"
