#!/usr/bin/env bash
# Image pipeline benchmark: cold, warm and incremental build times, artifact sizes, reproducibility of two
# independent builds, and seconds from QEMU start to the guest's STACKBOX-FIRSTBOOT line (TCG).
#
#   sudo bench/image-build.sh [WORKDIR]      (default WORKDIR: target/image-bench)
#
# Prints figures; it asserts nothing about time (no timed tests). Needs root and the packages in
# image/host-packages.txt. Set SKIP_REPRO=1 to skip the second cold build, SKIP_BOOT=1 to skip the boots.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "image-build: run as root (the build uses mmdebstrap and chroot)" >&2; exit 1; }
work=$(realpath -m "${1:-target/image-bench}")
mkdir -p "$work"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

cargo build --locked --release -p stackbox --bin stackbox --bin stackboxd
sb="$CARGO_TARGET_DIR/release/stackbox"
sbd="$CARGO_TARGET_DIR/release/stackboxd"

secs() { local s=$SECONDS; "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; echo $((SECONDS - s)); }
build() { "$sb" build --out "$1" --cache "$2" --stackboxd "$3" --workspace "$PWD" --timings; }

rm -rf "$work/cache" "$work/out"
cold=$(secs build "$work/out" "$work/cache" "$sbd")
cold_timings=$(sed -n '/^stage /,$p' "$work/last.log")
warm=$(secs build "$work/out" "$work/cache" "$sbd")
# "Only stackboxd changed": a copy of the binary with one byte appended (still a valid ELF).
cp "$sbd" "$work/stackboxd-changed" && printf '\n' >>"$work/stackboxd-changed"
incr=$(secs build "$work/out" "$work/cache" "$work/stackboxd-changed")
incr_timings=$(sed -n '/^stage /,$p' "$work/last.log")
# Back to the real binary for the boots (a cached rebuild).
secs build "$work/out" "$work/cache" "$sbd" >/dev/null
"$sb" verify "$work/out"

echo "== build times (seconds, all formats, stackboxd prebuilt)"
echo "cold         $cold"
echo "warm         $warm"
echo "incremental  $incr   (only stackboxd changed)"
echo "-- cold stages";        echo "$cold_timings"
echo "-- incremental stages"; echo "$incr_timings"
echo "== artifact sizes (bytes; allocated MiB for sparse files)"
(cd "$work/out" && find . -type f ! -name SHA256SUMS ! -name manifest.json -printf '%P\t%s\t' -exec du -m {} \; | awk -F'\t' '{split($3,a," "); printf "%-26s %12d  %6s MiB\n", $1, $2, a[1]}')
python3 - "$work/out/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"root packages {len(m['root_packages'])}, pool packages {len(m['pool_packages'])}")
PY

if [ -z "${SKIP_REPRO:-}" ]; then
  echo "== reproducibility: a second cold build in a fresh cache, compared file by file"
  rm -rf "$work/cache2" "$work/out2"
  secs build "$work/out2" "$work/cache2" "$sbd" >/dev/null
  if diff <(sort -k2 "$work/out/SHA256SUMS") <(sort -k2 "$work/out2/SHA256SUMS") >"$work/repro.diff"; then
    echo "bit-identical: every artifact"
  else
    echo "differs (see image/README.md, Reproducibility):"; cat "$work/repro.diff"
  fi
  rm -rf "$work/cache2" "$work/out2"
fi

if [ -z "${SKIP_BOOT:-}" ]; then
  echo "== seconds from QEMU start to STACKBOX-FIRSTBOOT (TCG)"
  STACKBOX_IMAGE_DIR="$work/out" STACKBOX_CACHE_DIR="$work/cache" cargo test --locked -p stackbox --test boot -- --ignored \
    --nocapture --test-threads=1 2>&1 | grep -E 'first-boot line after|^test |test result' || true
fi
