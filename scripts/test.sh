#!/usr/bin/env bash
# Every test tier, on Debian 12 as root; installs what it needs first.
#   unit + component: cargo test (parsers, golden files, netlink in a namespace, MariaDB on loopback,
#                     the wizard over TLS and in headless Chromium)
#   boot:             builds the appliance image once and boots every medium and firmware under QEMU;
#                     install-os writes it to loop devices (refusals, a kill, a rerun) and the installed
#                     disk boots under UEFI and BIOS
#   network:          the image's root as a system container: `stackboxd network apply` moves its address;
#                     unconfirmed, killed -9 or restarted in the window it comes back by itself, a deaf
#                     gateway reverts at once, a confirmed change survives a restart (tests/cluster/network.sh)
#   cluster:          boots the image's root as a system container; its setup wizard is answered over
#                     HTTPS and, after a paused and a killed command-line run, resumes the all-in-one
#                     install to its done page (a VM booted by the smoke test); a rerun changes nothing;
#                     then two more containers join, the coordinator grows the cluster to three (killed
#                     and rerun), a node is lost and all power is lost (tests/cluster/grow.sh)
# Ends with one line: `tests: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test: run as root: the tests create network and mount namespaces, build images and boot containers" >&2
  exit 1
fi
scripts/install-deps.sh test web
image/install-host-deps.sh
# Incremental caches double the target directory and a fresh test run never reuses them.
export CARGO_INCREMENTAL=0
# The tiers need about 25 GB at their peak: the build (3 GB), the image and its package cache (8 GB) and
# three cluster roots with the cloud installed (13 GB). Too little space fails here, not as a linker's
# bus error an hour in.
need_gb=25
for dir in target /var/tmp; do
  mkdir -p "$dir"
  free_gb=$(( $(df --output=avail -k "$dir" | tail -1) / 1024 / 1024 ))
  if [ "$free_gb" -lt "$need_gb" ]; then
    echo "test: $dir has $free_gb GB free; the tiers need $need_gb GB (df -h $dir)" >&2
    exit 1
  fi
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
tier() { # tier NAME CMD...: runs one tier, keeps its output for the summary, remembers a failure
  echo "== $1"
  local start=$SECONDS
  "${@:2}" 2>&1 | tee -a "$log" || { status=1; echo "tier failed: $1" | tee -a "$log"; }
  echo "== $1 took $((SECONDS - start)) s"
}
tier "unit and component tiers" cargo test --locked --workspace --all-targets
# --workspace: the features the unit tier built with, so that nothing is compiled again (-p stackbox alone
# resolves its dependencies' features apart and rebuilt them for a minute and a half).
tier "boot tier" cargo test --locked --workspace --test boot -- --ignored --test-threads=1
tier "network tier" tests/cluster/network.sh target/tmp/boot-image/rootfs.tar target/debug/stackboxd
tier "cluster tier" tests/cluster/allinone.sh target/tmp/boot-image/rootfs.tar target/debug/stackboxd
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i + 1) ~ /^passed/) p += $i; if ($(i + 1) ~ /^failed/) f += $i } }
     /^cluster: [0-9]+ passed/ { p += $2; f += $4 }
     /^tier failed: / { f += 1 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit $status
