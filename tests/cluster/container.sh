# Booting one node of the cluster tier: the image's root file system as a system container
# (systemd-nspawn -b) in a network namespace of its own. Sourced by tests/cluster/allinone.sh and
# bench/install.sh.
#
#   container_boot ROOT NETNS MACHINE CONSOLE_LOG
#
# boots the container in the background and returns once its first-boot unit has written its marker and
# systemd has started its units; sets nspawn_pid (systemd-nspawn) and leader (the container's init).
# os-vif and the neutron agents write /proc/sys/net inside the node (bridge and IPv6 settings of the VMs'
# taps); the node has a network namespace of its own, so it may.
container_boot() {
  local root=$1 netns=$2 machine=$3 console=$4 pid state
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn --register=no --keep-unit -q -D "$root" -b --machine="$machine" \
    --network-namespace-path="/run/netns/$netns" --bind=/dev/net/tun --property=DeviceAllow='/dev/net/tun rwm' \
    --capability=all >> "$console" 2>&1 &
  nspawn_pid=$!
  # The container announces itself: its first-boot unit writes the marker (on a boot again, it is there
  # from the first).
  leader=
  for _ in $(seq 600); do
    if [ -e "$root/var/lib/stackbox/firstboot.done" ]; then
      leader=$(container_init "$nspawn_pid")
      [ -n "$leader" ] && break
    fi
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.2
  done
  for _ in $(seq 300); do
    state=$(inside systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) break ;; esac
    sleep 0.2
  done
}

# container_init NSPAWN_PID: prints the container's init (nothing while there is none yet): the child of
# systemd-nspawn that runs systemd in a PID namespace of its own. nspawn's short-lived helper children run
# nspawn; one of them, caught early in a boot again on a busy machine, was once taken for the init and was
# gone a moment later.
container_init() {
  local p
  for p in $(pgrep -P "$1" || true); do
    if [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" != "$(readlink /proc/self/ns/pid)" ] \
      && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then
      echo "$p"
      return 0
    fi
  done
}

# inside CMD...: runs CMD in the container (every namespace of its init), with a clean environment.
inside() { nsenter -t "$leader" -a -- env -i PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
