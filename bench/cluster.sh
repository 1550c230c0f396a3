#!/usr/bin/env bash
# Cluster benchmark: runs the cluster tier on a built root file system and prints its figures: seconds
# from the first install command to the wizard's done page (smoke test included), the node's memory
# after the install, and seconds from power-on to keystone answering at the API address after a power
# loss. It asserts nothing about time (no timed tests); the tier's own checks still count.
#
#   sudo bench/cluster.sh [ROOTFS.tar] [STACKBOXD]
#   (defaults: the boot tier's target/tmp/boot-image/rootfs.tar and target/debug/stackboxd)
#
# Phase 2 adds: seconds to join two nodes and grow to three, to boot a VM on a survivor after losing
# node 1, and to get Galera of three and keystone back after a full power loss; each node's memory.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "cluster bench: run as root (it boots a system container)" >&2; exit 1; }
rootfs=${1:-target/tmp/boot-image/rootfs.tar}
stackboxd=${2:-target/debug/stackboxd}
[ -e "$rootfs" ] || { echo "cluster bench: no $rootfs; build one with: cargo test -p stackbox --test boot -- --ignored" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
tests/cluster/allinone.sh "$rootfs" "$stackboxd" > "$log" 2>&1 || status=$?
grep -E '^(figure:|api: [0-9]+ neutron calls|a no-op rerun took|cluster: )' "$log" | sed 's/^figure: //'
exit $status
