#!/usr/bin/env bash
# Install benchmark: boots the image's root file system as a system container (as the cluster tier does),
# runs one uninterrupted `stackboxd install` of examples/allinone.toml, smoke test included, and prints
# the seconds from start to the smoke test passed, the seconds per service (the steps' first name part:
# mariadb, keystone, nova, ...) and the ten slowest steps, beside the figures last recorded in the
# README. It asserts nothing about time (no timed tests); a failed install exits non-zero.
#
#   sudo bench/install.sh [ROOTFS.tar] [STACKBOXD] [WORKDIR]
#   (defaults: the boot tier's target/tmp/boot-image/rootfs.tar, target/debug/stackboxd, /var/tmp/stackbox-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)
[ "$(id -u)" -eq 0 ] || { echo "install bench: run as root (it boots a system container)" >&2; exit 1; }
rootfs=${1:-target/tmp/boot-image/rootfs.tar}
stackboxd=${2:-target/debug/stackboxd}
work=${3:-/var/tmp/stackbox-bench}
[ -e "$rootfs" ] || { echo "install bench: no $rootfs; build one with: cargo test -p stackbox --test boot -- --ignored" >&2; exit 1; }
for tool in systemd-nspawn ip nsenter; do
  command -v "$tool" >/dev/null || { echo "install bench: $tool is missing (apt-get install systemd-container iproute2)" >&2; exit 1; }
done

sw=sbx-bsw-$$ n1=sbx-bn1-$$
cleanup() {
  [ -n "${nspawn_pid:-}" ] && kill "$nspawn_pid" 2>/dev/null && wait "$nspawn_pid" 2>/dev/null
  ip netns del "$sw" 2>/dev/null || true
  ip netns del "$n1" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work" && mkdir -p "$work/root"
tar xf "$rootfs" -C "$work/root"
install -m 0755 "$stackboxd" "$work/root/usr/local/sbin/stackboxd"
install -m 0755 "$stackboxd" "$work/root/usr/bin/stackboxd"
cp examples/allinone.toml "$work/root/root/allinone.toml"
printf '[Match]\nName=eth0\n[Network]\nAddress=10.20.0.11/24\n' > "$work/root/etc/systemd/network/10-eth0.network"
printf '[Match]\nName=eth1\n[Network]\nAddress=10.30.0.11/24\n' > "$work/root/etc/systemd/network/10-eth1.network"
echo STACKBOX_PROFILE=lab > "$work/root/etc/default/stackbox"
ip netns add "$sw"; ip netns add "$n1"
for br in br-mgmt br-data; do ip -n "$sw" link add "$br" type bridge; ip -n "$sw" link set "$br" up; done
ip -n "$sw" link add n1-m type veth peer name eth0 netns "$n1"
ip -n "$sw" link add n1-d type veth peer name eth1 netns "$n1"
ip -n "$sw" link set n1-m master br-mgmt up
ip -n "$sw" link set n1-d master br-data up
# shellcheck source=tests/cluster/container.sh
source "$here/tests/cluster/container.sh"
container_boot "$work/root" "$n1" stackbox-bench "$work/console.log"
[ -n "$leader" ] || { echo "install bench: the container did not boot (see $work/console.log)" >&2; exit 1; }

start=$SECONDS
status=0
inside stackboxd install -v --config /root/allinone.toml > "$work/install.log" 2>&1 || status=$?
took=$((SECONDS - start))
if [ "$status" -ne 0 ]; then
  tail -30 "$work/install.log" >&2
  echo "install bench: the install failed (exit $status); KEEP=1 keeps $work" >&2
  exit "$status"
fi
echo "all-in-one install, start to smoke test passed: $took s"
echo "  README, last recorded: $(grep -o 'start to smoke test passed: [0-9]* s[^|]*' README.md | head -1 || echo none)"
# "ID: done in 12.3s" per step; ID is NODE/SERVICE.WHAT.
sed -n 's|^[^ /]*/\([^ :]*\): done in \([0-9.]*\)s$|\1 \2|p' "$work/install.log" > "$work/steps.txt"
echo "seconds per service (sum of its steps):"
awk '{ split($1, p, "."); s[p[1]] += $2 } END { for (k in s) printf "  %-12s %7.1f\n", k, s[k] }' "$work/steps.txt" | sort -k2 -rn
echo "the ten slowest steps:"
sort -k2 -rn "$work/steps.txt" | head -10 | awk '{ printf "  %-32s %7.1f\n", $1, $2 }'
