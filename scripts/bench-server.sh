#!/usr/bin/env bash
# bench-server.sh — figures for the running binary: time from start to
# /readyz 200 (fresh data dir, and again on existing data), idle RSS, and
# bytes written while idle. Prints one line per figure.
#   scripts/bench-server.sh [idle-seconds]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-10}
export PATH="/usr/local/go/bin:$PATH"
make -s build >/dev/null
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

port=$(( 20000 + RANDOM % 20000 ))
start() {
  local t0 t1
  t0=$(date +%s%N)
  bin/skiff server --data-dir "$dir/data" --listen "127.0.0.1:$port" --config "$dir/none.yaml" --disable-agent >"$dir/log" 2>&1 &
  pid=$!
  until curl -skf "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; exit 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  took=$(( (t1 - t0) / 1000000 ))
}
: > "$dir/none.yaml"
start
echo "startup-to-ready (first start, makes CA and keys): $took ms"
kill "$pid"; wait "$pid" 2>/dev/null || true
start
echo "startup-to-ready (existing data):                 $took ms"
sleep 2
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
w0=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
sleep "$idle"
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
w1=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
echo "idle RSS after start:                             ${rss0} kB (after ${idle}s more idle: ${rss1} kB)"
echo "bytes written while idle ${idle}s:                      $(( w1 - w0 ))"
