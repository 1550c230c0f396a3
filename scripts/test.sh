#!/usr/bin/env bash
# The test suite: installs what it needs on Debian 12 (as root), then runs every tier that exists so far.
# Needs root: the netlink and read-only tests create network and mount namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test web
if [ "$(id -u)" -ne 0 ]; then
  echo "test: run as root: the tests create network and mount namespaces" >&2
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace --all-targets 2>&1 | tee "$log"
# One closing line for the whole run: the sum over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i + 1) ~ /^passed/) p += $i; if ($(i + 1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
