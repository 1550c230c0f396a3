#!/usr/bin/env bash
# The network tier: `stackboxd network apply` with automatic rollback, in the image's root booted as a
# system container (systemd-nspawn -b) in its own network namespace, its eth0 on a management bridge whose
# switch namespace holds the gateway and name server (10.20.0.1, dnsmasq), and an operator's laptop in a
# client namespace (10.20.0.99) that reaches the wizard over HTTPS, as the cluster tier's nodes are built.
#   1. A change that moves the address the laptop reaches the wizard on, not confirmed: reverted when the
#      deadline passes (timed), and the wizard answers on the old address again.
#   2. A gateway that does not answer ARP: the probe fails and the old network is back at once.
#   3. stackboxd killed -9 (the apply and the wizard) inside the window: the systemd timer still reverts.
#   4. The container restarted inside the window: the boot guard boots the previous network.
#   5. From the wizard (the laptop's browser): Apply on the network page, the confirmation over the new
#      address with the page's one-time link; the revert timer disarmed, and kept across a restart.
# The container's kernel is the host's: CI's has no bonding and no 802.1Q module, so the bond and VLAN
# shapes are checked by networkd's parse only (network/tests/networkd.rs), not built here.
#
#   tests/cluster/network.sh ROOTFS.tar STACKBOXD [WORKDIR]
#
# Prints `cluster: N passed, M failed` last. Needs root, systemd-container, iproute2, dnsmasq, curl and
# python3.
set -euo pipefail
rootfs_tar=${1:?usage: network.sh ROOTFS.tar STACKBOXD [WORKDIR]}
stackboxd=${2:?usage: network.sh ROOTFS.tar STACKBOXD [WORKDIR]}
work=${3:-/var/tmp/stackbox-network}
here=$(cd "$(dirname "$0")/../.." && pwd)
for tool in systemd-nspawn ip nsenter dnsmasq curl; do
  command -v "$tool" >/dev/null || { echo "network: $tool is missing (scripts/install-deps.sh test)"; echo "cluster: 0 passed, 1 failed"; exit 1; }
done
passed=0 failed=0
check() { # check NAME CMD...: one assertion
  if "${@:2}"; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAILED: $1"; fi
}

sw=sbn-sw-$$ n1=sbn-n1-$$ cl=sbn-cl-$$
cleanup() {
  [ -n "${nspawn_pid:-}" ] && kill "$nspawn_pid" 2>/dev/null && wait "$nspawn_pid" 2>/dev/null
  [ -n "${dns_pid:-}" ] && kill "$dns_pid" 2>/dev/null
  for ns in "$sw" "$n1" "$cl"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

rm -rf "$work" && mkdir -p "$work/root"
tar xf "$rootfs_tar" -C "$work/root"
install -m 0755 "$stackboxd" "$work/root/usr/bin/stackboxd"
echo STACKBOX_PROFILE=lab > "$work/root/etc/default/stackbox"
# The network before any change: as if a first one had been confirmed (stackbox's file for eth0).
printf '[Match]\nName=eth0\n[Network]\nAddress=10.20.0.11/24\nGateway=10.20.0.1\n' \
  > "$work/root/etc/systemd/network/10-stackbox-eth0.network"
net=$work/root/etc/systemd/network

ip netns add "$sw"; ip netns add "$cl"
ip -n "$sw" link add br-mgmt type bridge; ip -n "$sw" link set br-mgmt up
ip -n "$sw" addr add 10.20.0.1/24 dev br-mgmt
ip -n "$sw" link set lo up
node_netns() { # the node's network namespace with eth0 on the switch: made anew at each power-on, as a
  # machine's links start from nothing when it restarts (a namespace would keep the last boot's bridge)
  ip netns del "$n1" 2>/dev/null || true
  ip -n "$sw" link del n1-m 2>/dev/null || true
  ip netns add "$n1"
  ip -n "$sw" link add n1-m type veth peer name eth0 netns "$n1"
  ip -n "$sw" link set n1-m master br-mgmt up
}
node_netns
ip -n "$sw" link add cl-m type veth peer name eth0 netns "$cl"
ip -n "$sw" link set cl-m master br-mgmt up
ip -n "$cl" link set lo up; ip -n "$cl" addr add 10.20.0.99/24 dev eth0; ip -n "$cl" link set eth0 up
# The name server: answers every name with "no such name", which is an answer.
ip netns exec "$sw" dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address=10.20.0.1 \
  --bind-interfaces --address=/#/ --pid-file= --user=root 2> "$work/dnsmasq.log" &
dns_pid=$!

# shellcheck source=tests/cluster/container.sh
source "$here/tests/cluster/container.sh"
boot_node() { container_boot "$work/root" "$n1" stackbox-net "$work/console.log"; } # boots the node (again)
stop_node() { kill "$nspawn_pid" 2>/dev/null; wait "$nspawn_pid" 2>/dev/null || true; nspawn_pid=; node_netns; }
# The laptop reaches the wizard on ADDRESS (within SECS, default 20).
wizard_on() {
  local until=$((SECONDS + ${2:-20}))
  while [ $SECONDS -lt $until ]; do
    ip netns exec "$cl" curl -sk -m 2 -o /dev/null "https://$1:8443/" && return 0
    sleep 0.5
  done
  return 1
}
# The laptop does not reach the wizard on ADDRESS now.
not_on() { ! ip netns exec "$cl" curl -sk -m 2 -o /dev/null "https://$1:8443/"; }
status_has() { inside stackboxd network status --format json | grep -q "$1"; }

# The change: the bridge br-mgmt over eth0 with 10.20.0.21/24, the name server and NTP server 10.20.0.1.
config() { # config GATEWAY > FILE
  cat <<EOF
hostname = "node1"
management_nic = "eth0"
data_nic = "eth0"
bridge = "br-mgmt"
mtu = 1500
vxlan_min = 1
vxlan_max = 1000
ntp = ["10.20.0.1"]

[addressing]
mode = "static"
address = "10.20.0.21/24"
gateway = "$1"
dns = ["10.20.0.1"]
EOF
}
config 10.20.0.1 > "$work/root/root/good.toml"
config 10.20.0.254 > "$work/root/root/deaf-gateway.toml"

boot_node
check "the wizard answers the laptop on the first address" wizard_on 10.20.0.11 60

# 1. Not confirmed: reverted at the deadline.
apply_start=$SECONDS
check "apply moves the node to 10.20.0.21" inside stackboxd network apply --config /root/good.toml --confirm-within 15
echo "figure: apply (write, reload, probe) took $((SECONDS - apply_start)) s"
check "the wizard answers on the new address while the change waits" wizard_on 10.20.0.21
check "and no longer on the old one" not_on 10.20.0.11
check "status shows the change waiting" status_has '"seconds_left"'
check "chrony has the NTP server" grep -q 'server 10.20.0.1 iburst' "$work/root/etc/chrony/sources.d/stackbox.sources"
deadline=$((apply_start + 15))
check "without a confirmation the old address comes back" wizard_on 10.20.0.11 45
echo "figure: reverted $((SECONDS - deadline)) s after the deadline"
check "the new address is gone" not_on 10.20.0.21
check "chrony's sources are as before" test ! -e "$work/root/etc/chrony/sources.d/stackbox.sources"
check "status says why it was reverted" status_has 'no confirmation within 15 s'
check "the journal has the revert" sh -c "nsenter -t $leader -a journalctl -t stackbox-network --no-pager | grep -q 'reverted: no confirmation'"

# 2. A gateway that does not answer: the probe fails, reverted at once.
check "a deaf gateway fails the apply" sh -c "! nsenter -t $leader -a stackboxd network apply --config /root/deaf-gateway.toml --settle 10 > '$work/deaf.log' 2>&1"
check "it says the gateway did not answer" grep -q 'did not answer ARP' "$work/deaf.log"
check "the old address answers at once" wizard_on 10.20.0.11 5
check "the old file is back" test -f "$net/10-stackbox-eth0.network" -a ! -e "$net/10-stackbox-br-mgmt.netdev"

# 3. stackboxd killed -9 inside the window: the timer reverts anyway.
inside stackboxd network apply --config /root/good.toml --confirm-within 20 > "$work/killed.log" 2>&1 &
for _ in $(seq 100); do [ -e "$net/10-stackbox-br-mgmt.netdev" ] && break; sleep 0.1; done
# Every stackboxd of the container (the apply and the wizard), found from the host by PID namespace.
for pid in $(pgrep -x stackboxd || true); do
  # One may end between pgrep and kill (the apply returns once the change waits for confirmation).
  [ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" = "$(readlink "/proc/$leader/ns/pid")" ] && { kill -KILL "$pid" 2>/dev/null || true; }
done
wait $! 2>/dev/null || true
check "after stackboxd was killed, the old address comes back by itself" wizard_on 10.20.0.11 60

# 4. Restarted inside the window: the boot guard boots the previous network.
check "apply again" inside stackboxd network apply --config /root/good.toml --confirm-within 120
stop_node
check "the change was pending at the restart" test -e "$work/root/var/lib/stackbox/network/pending.json"
boot_node
check "after the restart the old address answers" wizard_on 10.20.0.11 60
check "status says the restart reverted it" status_has 'restarted before the change was confirmed'

# 5. From the wizard, as the operator's browser: Apply on the network page, then the page's link to the
#    new address, where the one-time code confirms it. Kept past the deadline and across a restart.
confirm_start=$SECONDS
set +o pipefail
ip netns exec "$cl" python3 "$here/tests/cluster/wizard.py" https://10.20.0.11:8443 \
  "$work/root/var/lib/stackbox" network 10.20.0.21/24 2>&1 | tee "$work/wizard-network.log"
set -o pipefail
passed=$((passed + $(grep -c '^ok: ' "$work/wizard-network.log" || true)))
failed=$((failed + $(grep -c '^FAILED: ' "$work/wizard-network.log" || true)))
grep -q '^wizard: finished' "$work/wizard-network.log" || { failed=$((failed + 1)); echo "FAILED: the wizard driver stopped early"; }
echo "figure: apply to confirmed from the wizard took $((SECONDS - confirm_start)) s"
check "status shows the confirmed network" status_has '"current":{'
check "the node's network file has the new address" grep -q 'Address=10.20.0.21/24' "$net/10-stackbox-br-mgmt.network"
check "the revert timer is disarmed" sh -c "! nsenter -t $leader -a systemctl is-active --quiet stackbox-network-revert.timer"
check "nothing waits for confirmation" test ! -e "$work/root/var/lib/stackbox/network/pending.json"
stop_node
boot_node
check "after a restart the confirmed address answers" wizard_on 10.20.0.21 60
check "eth0 is in the bridge" sh -c "ip -n $n1 -o link show eth0 | grep -q 'master br-mgmt'"

echo "cluster: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
