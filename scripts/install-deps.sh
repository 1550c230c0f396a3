#!/usr/bin/env bash
# Installs the Debian packages listed in deps/<list>.txt that are not installed yet.
#
#   scripts/install-deps.sh test [more lists...]
#
# Runs apt-get as root; otherwise prints exactly what to install and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for list in "$@"; do
  [ -f "deps/$list.txt" ] || { echo "install-deps: no list deps/$list.txt" >&2; exit 2; }
  while read -r pkg; do
    pkg=${pkg%%#*}; pkg=${pkg//[[:space:]]/}
    [ -n "$pkg" ] || continue
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$pkg")
    fi
  done < "deps/$list.txt"
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages; as root run: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
