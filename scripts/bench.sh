#!/usr/bin/env bash
# Benchmarks causeway store against a real etcd 3.5, side by side in one run:
# etcd (the reference), causeway store on SQLite, and causeway store on
# PostgreSQL, each on free loopback ports with its data on the same disk.
# Prints the causeway-bench table on stdout; progress goes to stderr.
#
#   scripts/bench.sh [--etcd-only] [causeway-bench flags, e.g. --quick]
#
# --etcd-only benchmarks etcd alone (it needs no causeway binary).
set -euo pipefail
cd "$(dirname "$0")/.."

etcd_only=false
if [ "${1:-}" = "--etcd-only" ]; then etcd_only=true; shift; fi

command -v etcd >/dev/null || { echo "bench.sh: etcd is not installed (scripts/install-test-deps.sh)" >&2; exit 1; }
command -v etcdctl >/dev/null || { echo "bench.sh: etcdctl is not installed (scripts/install-test-deps.sh)" >&2; exit 1; }

if $etcd_only; then
  cargo build --release --locked -p causeway-bench >&2
else
  cargo build --release --locked -p causeway-cli -p causeway-bench >&2
fi
target_dir=${CARGO_TARGET_DIR:-target}
bench="$target_dir/release/causeway-bench"
causeway="$target_dir/release/causeway"
if ! $etcd_only && [ ! -x "$causeway" ]; then
  echo "bench.sh: the causeway binary is missing at $causeway after the build" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/causeway-bench.XXXXXX")
pids=()
pg_started=false
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if $pg_started; then stop_test_postgres; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until the etcd API at $1 answers a read; $2 is the server's pid and
# $3 its log, shown if it dies or never answers.
wait_ready() {
  local endpoint=$1 pid=$2 log=$3 i
  for i in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench.sh: the server for $endpoint exited; its log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    if ETCDCTL_API=3 etcdctl --endpoints="$endpoint" --dial-timeout=1s --command-timeout=2s \
        get causeway-bench-probe >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench.sh: $endpoint did not answer within 30 s; its log:" >&2
  tail -n 30 "$log" >&2
  exit 1
}

targets=()

client=$(free_port)
peer=$(free_port)
etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "bench=http://127.0.0.1:$peer" --log-level warn >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_ready "127.0.0.1:$client" "${pids[-1]}" "$work/etcd.log"
targets+=(--target "etcd=127.0.0.1:$client")

# Starts causeway store on datastore $2 and adds it as target $1.
start_causeway() {
  local name=$1 datastore=$2 port log
  port=$(free_port)
  log="$work/causeway-$name.log"
  "$causeway" store --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$(free_port)" \
    --datastore "$datastore" >"$log" 2>&1 &
  pids+=($!)
  wait_ready "127.0.0.1:$port" "${pids[-1]}" "$log"
  targets+=(--target "$name=127.0.0.1:$port")
}

if ! $etcd_only; then
  start_causeway sqlite "sqlite://$work/store.db"

  # shellcheck source=scripts/postgres.sh
  source scripts/postgres.sh
  start_test_postgres >&2
  pg_started=true
  psql -X -q -v ON_ERROR_STOP=1 -d "$CAUSEWAY_TEST_POSTGRES_URL" -c "CREATE DATABASE causeway_bench" >&2
  start_causeway postgres "${CAUSEWAY_TEST_POSTGRES_URL%/*}/causeway_bench"
fi

"$bench" "${targets[@]}" "$@"
