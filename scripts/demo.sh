#!/usr/bin/env bash
# Builds minnow and runs the demo: train LeNet-300-100 on real MNIST and
# compress it.  Data: $MINNOW_DATA/mnist (default ../shared/data/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
exec ./build/minnow demo "$@"
