#!/usr/bin/env bash
# Loads the wizard with wrk on loopback: requests per second and p99 latency for /api/v1/status (no
# session) and the hardware page (signed in), then the server's resident memory (now and peak).
# Targets on 2 cores: at least 5,000 req/s, p99 under 20 ms, RSS under 50 MB.
#
#   bench/web.sh [DURATION] [CONNECTIONS]      defaults: 10s 64
#
# Needs wrk and curl (deps/web.txt). The server reads the intel-server-4nic fixture machine, so the
# figures do not depend on this machine's hardware. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
conns=${2:-64}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench/web: $tool is missing: apt-get install wrk curl" >&2; exit 1; }
done
cargo build --release --locked -q -p stackbox --bin stackboxd
bin=${CARGO_TARGET_DIR:-target}/release/stackboxd

state=$(mktemp -d)
jar=$state/cookies
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=https://127.0.0.1:$port
"$bin" serve --listen "127.0.0.1:$port" --state "$state" --allow 127.0.0.0/8 --profile lab \
  --root machine/tests/fixtures/machines/intel-server-4nic/root 2>"$state/serve.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
# Wait for the server to answer (it prints its listening line first).
for _ in $(seq 1 200); do
  curl -skf "$url/api/v1/status" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$state/serve.log" >&2; exit 1; }
  sleep 0.05
done

# Sign in as an operator would: token, then the admin password.
csrf() { grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
c=$(curl -sk -c "$jar" -b "$jar" "$url/login" | csrf)
curl -sk -c "$jar" -b "$jar" -o /dev/null --data-urlencode "csrf=$c" --data-urlencode "secret=$(cat "$state/setup-token")" "$url/login"
c=$(curl -sk -c "$jar" -b "$jar" "$url/set-password" | csrf)
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_') # a random one: guessable passwords are refused
curl -sk -c "$jar" -b "$jar" -o /dev/null --data-urlencode "csrf=$c" --data-urlencode "password=$password" \
  --data-urlencode "confirm=$password" "$url/set-password"
session=$(awk '$6 == "stackbox_session" { print $7 }' "$jar" | tail -1)
code=$(curl -sk -o /dev/null -w '%{http_code}' -b "stackbox_session=$session" "$url/hardware")
[ "$code" = 200 ] || { echo "bench/web: signing in failed (hardware page answered $code)" >&2; exit 1; }

run() { # run LABEL PATH [HEADER]
  local label=$1 path=$2 out
  if [ $# -ge 3 ]; then
    out=$(wrk -t2 -c"$conns" -d"$duration" --latency -H "$3" "$url$path")
  else
    out=$(wrk -t2 -c"$conns" -d"$duration" --latency "$url$path")
  fi
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$out")
  local xfer
  xfer=$(awk '/^Transfer\/sec/ { print $2 }' <<<"$out")
  printf '%-28s %10s req/s   p99 %8s   %9s/s   non-2xx %s\n' "$label" "$rps" "$p99" "$xfer" "${non2xx:-0}"
}
echo "wrk: 2 threads, $conns connections, $duration each, TLS 1.3, server with $(nproc) workers; load average before: $(cut -d" " -f1-3 /proc/loadavg)"
run "GET /api/v1/status" /api/v1/status
run "GET /hardware (signed in)" /hardware "Cookie: stackbox_session=$session"
awk '/^VmRSS/ { rss = $2 } /^VmHWM/ { hwm = $2 } END { printf "server RSS %.1f MB now, %.1f MB peak\n", rss / 1024, hwm / 1024 }' "/proc/$pid/status"
