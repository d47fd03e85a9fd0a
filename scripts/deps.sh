#!/usr/bin/env bash
# Installs the Debian packages minnow needs, if any is missing (needs root
# or sudo for that; otherwise says what to install).
set -euo pipefail
# libcurl4-openssl-dev: `minnow data fetch`; dataset-fashion-mnist: data for
# the demo on a machine without MNIST (/usr/share/datasets/fashion-mnist);
# gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm: export-c
# --target cortex-m* and scripts/mcu.sh (docs/MCU.md); libopenmpi-dev,
# openmpi-bin: training and sweeps under mpirun (docs/DISTRIBUTED.md).
pkgs="build-essential cmake pkg-config zlib1g-dev libopenblas-openmp-dev libcmocka-dev liblapacke-dev libyaml-dev protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev dataset-fashion-mnist python3-onnx python3-torch clang libclang-rt-14-dev gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm libopenmpi-dev openmpi-bin"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node (for the ONNX Runtime peer and round-trip tests) may come from
# elsewhere with its own npm; Debian's npm would fight it, so only a machine
# without node gets Debian's.
command -v node >/dev/null || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "minnow: please install:$missing" >&2; exit 1
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
