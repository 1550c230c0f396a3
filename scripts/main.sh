#!/usr/bin/env bash
# The main job: build the default appliance image (hybrid ISO, raw and qcow2 disks, PXE bundle, root
# tarball, manifest.json and SHA256SUMS) into out/, with the stage cache in cache/. Root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "main: run as root: the image build bootstraps a Debian root with mmdebstrap" >&2
  exit 1
fi
image/install-host-deps.sh
cargo build --release --locked -p stackbox --bin stackbox --bin stackboxd
target/release/stackbox build --out out --cache cache --stackboxd target/release/stackboxd --timings "$@"
target/release/stackbox verify out
