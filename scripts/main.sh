#!/usr/bin/env bash
# The main job, until the image pipeline lands: build stackboxd and judge this machine's hardware with
# it, as first boot would on the appliance (lab profile: shortfalls are warnings).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
cargo build --release --locked -p stackbox --bin stackboxd
exec target/release/stackboxd check --profile "${STACKBOX_PROFILE:-lab}" "$@"
