#!/usr/bin/env bash
# Seconds to install the appliance to a disk natively (`stackboxd install-os` from the built squashfs to a
# loop device), beside plain copies in the same run: the squashfs's bytes (`dd`, the floor of reading the
# medium) and the raw disk image (`dd` of disk.raw, the "raw root image on the medium" alternative). Prints
# the median of RUNS runs of each and the ratios. As root; IMAGE is a finished build (default: the boot
# tier's), STACKBOXD the binary to time (default: target/debug/stackboxd).
#
#   bench/install-os.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
image=${IMAGE:-target/tmp/boot-image}
bin=${STACKBOXD:-target/debug/stackboxd}
for f in "$image/pxe/filesystem.squashfs" "$image/disk.raw" "$bin"; do
  [ -e "$f" ] || { echo "bench: $f is missing (build the image: cargo test -p stackbox --test boot -- --ignored, or set IMAGE)" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/bench-install-os.XXXXXX)
disk="$work/disk.raw"
truncate -s 12G "$disk"
loop=$(losetup --find --show "$disk")
cleanup() { losetup -d "$loop" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
time_runs() { # time_runs CMD...: prints the median seconds of $runs runs
  local samples=()
  for ((i = 0; i < runs; i++)); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    samples+=("$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", ns / 1e9 }')")
  done
  printf '%s\n' "${samples[@]}" | median
}

state="$work/state"
mkdir -p "$state"
install=$(time_runs "$bin" install-os --target "$loop" --source "$image/pxe/filesystem.squashfs" --state "$state" --yes)
copy_squashfs=$(time_runs dd if="$image/pxe/filesystem.squashfs" of="$loop" bs=4M conv=fsync)
copy_raw=$(time_runs dd if="$image/disk.raw" of="$loop" bs=4M conv=fsync)
sq_mb=$(( $(stat -c %s "$image/pxe/filesystem.squashfs") >> 20 ))
raw_mb=$(( $(stat -c %s "$image/disk.raw") >> 20 ))
printf 'install-os to a 12 GiB loop device        %6s s (median of %d)\n' "$install" "$runs"
printf 'dd of the squashfs (%5d MB)              %6s s   install-os / dd = %s\n' "$sq_mb" "$copy_squashfs" \
  "$(awk -v a="$install" -v b="$copy_squashfs" 'BEGIN { printf "%.1f", a / b }')"
printf 'dd of disk.raw (%5d MB, raw root image)   %6s s   install-os / dd = %s\n' "$raw_mb" "$copy_raw" \
  "$(awk -v a="$install" -v b="$copy_raw" 'BEGIN { printf "%.2f", a / b }')"
