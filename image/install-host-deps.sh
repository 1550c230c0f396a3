#!/usr/bin/env bash
# Installs the build host's packages for the image pipeline and the boot tier (image/host-packages.txt).
#
#   sudo image/install-host-deps.sh
#
# Debian 12's qemu-system-x86 needs qemu-utils from the same release; a qemu-utils from bookworm-backports
# (found preinstalled on some machines) breaks it, so qemu-utils is taken from bookworm, downgrading if needed.
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" -eq 0 ] || { echo "install-host-deps: run as root" >&2; exit 1; }
pkgs=()
while read -r pkg; do
  pkg=${pkg%%#*}; pkg=${pkg//[[:space:]]/}
  [ -n "$pkg" ] && pkgs+=("$pkg")
done < host-packages.txt
missing=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
qemu_utils_version=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
if [[ "$qemu_utils_version" == *bpo* ]]; then
  missing+=("qemu-utils/bookworm")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-host-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends --allow-downgrades "${missing[@]}" >/dev/null
