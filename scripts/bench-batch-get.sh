#!/usr/bin/env bash
# Batch-get throughput, JetStream beside memory, measured in one run: two gateways with their
# embedded defaults (the JetStream provider, and --provider memory), 1000 keys of 100 bytes
# written to each, then wrk POSTing /buckets/bench/batch/get with 100 keys per request over
# 32 connections, alternating the two gateways (ROUNDS rounds of DURATION each). Prints the
# keys per second of every round and the median of each gateway.
#
#   scripts/bench-batch-get.sh              # DURATION=10s ROUNDS=3 THREADS=2
#   GATEWAY_BIN=/path/to/gateway scripts/bench-batch-get.sh
#
# It installs wrk with apt-get when it is missing (as root), builds the gateway unless
# GATEWAY_BIN names one, and listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
conns=32

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
  else
    echo "wrk is missing: install it (apt-get install wrk)" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bin=${GATEWAY_BIN:-}
if [ -z "$bin" ]; then
  bin="$work/gateway"
  go build -o "$bin" ./cmd/gateway
fi

# start VAR NAME ARGS...: runs a gateway on a free port and sets VAR to its URL once it listens.
start() {
  local var=$1 name=$2
  shift 2
  "$bin" --http-addr 127.0.0.1:0 --nats-listen 127.0.0.1:0 --data-dir "$work/$name" --log-format json \
    "$@" 2>"$work/$name.log" &
  pids+=($!)
  local url=""
  for _ in $(seq 1 100); do
    url=$(grep -o '"msg":"gateway listening"[^}]*' "$work/$name.log" | grep -o '"url":"[^"]*' | cut -d'"' -f4 | sed 's#/$##' || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "$name did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
  printf -v "$var" '%s' "$url"
}

start js jetstream
start mem memory --provider memory

keys=$(seq -f '"k%g"' 0 999 | paste -sd,)
value=$(head -c 75 /dev/zero | base64 -w0 | head -c 100)
items=$(seq -f "{\"key\":\"k%g\",\"value\":\"$value\"}" 0 999 | paste -sd,)
for url in "$js" "$mem"; do
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
    --data "{\"items\":[$items]}" "$url/buckets/bench/batch/set"
done

# Each request asks for 100 of the 1000 keys, a different hundred each time.
cat >"$work/batch.lua" <<'EOF'
local n = 0
request = function()
  local keys = {}
  local start = (n * 100) % 1000
  for i = 0, 99 do keys[#keys + 1] = '"k' .. (start + i) .. '"' end
  n = n + 1
  return wrk.format("POST", "/buckets/bench/batch/get", {["Content-Type"] = "application/json"},
    '{"keys":[' .. table.concat(keys, ",") .. ']}')
end
done = function(summary, latency, requests)
  local non2xx = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %d %d %d\n", summary.requests, summary.duration, non2xx))
end
EOF

declare -A runs
for r in $(seq 1 "$rounds"); do
  for name in jetstream memory; do
    url=$js
    [ "$name" = memory ] && url=$mem
    line=$(wrk -t"$threads" -c"$conns" -d"$duration" -s "$work/batch.lua" "$url" | grep '^RESULT')
    read -r _ reqs micros bad <<<"$line"
    kps=$(awk -v r="$reqs" -v us="$micros" 'BEGIN {printf "%d", r * 100 / (us / 1e6)}')
    echo "round $r $name: $kps keys/s ($reqs requests, $bad failed)"
    runs[$name]+="$kps "
  done
done
for name in jetstream memory; do
  median=$(tr ' ' '\n' <<<"${runs[$name]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "median $name: $median keys/s"
done
