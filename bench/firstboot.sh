#!/usr/bin/env bash
# Times `stackboxd check` and `stackboxd tune --dry-run` as whole processes on this machine (the target:
# a full check under 20 ms), and the same check against a fixture root. Prints mean, median and p95.
#
#   bench/firstboot.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
cargo build --release --locked -q -p stackbox --bin stackboxd
bin=target/release/stackboxd

time_cmd() { # time_cmd LABEL CMD...: runs CMD $runs times, prints figures in ms
  local label=$1; shift
  "$@" >/dev/null 2>&1 || true # warm the page cache
  local samples=()
  for ((i = 0; i < runs; i++)); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    samples+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk -v label="$label" -v n="$runs" '
    { v[NR] = $1; sum += $1 }
    END { printf "%-44s runs=%d mean=%.2f ms median=%.2f ms p95=%.2f ms\n", label, n, sum / n / 1000, v[int(n / 2) + 1] / 1000, v[int(n * 0.95)] / 1000 }'
}

time_cmd "stackboxd check (this machine)" "$bin" check --profile lab
time_cmd "stackboxd check --format json (this machine)" "$bin" check --profile lab --format json
time_cmd "stackboxd tune --dry-run (this machine)" "$bin" tune --dry-run
time_cmd "stackboxd check --root intel-server-4nic" "$bin" check --root machine/tests/fixtures/machines/intel-server-4nic/root
echo "binary size: $(stat -c %s "$bin") bytes"
