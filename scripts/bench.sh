#!/usr/bin/env bash
# Benchmarks causeway store against a real etcd 3.5, side by side in one run:
# etcd (the reference), causeway store on SQLite, and causeway store on
# PostgreSQL, each on free loopback ports with its data on the same disk.
# Prints the causeway-bench table on stdout; progress goes to stderr.
#
#   scripts/bench.sh [--etcd-only] [--big] [--check-perf] [--soak SECONDS]
#                    [--no-workloads] [causeway-bench flags, e.g. --quick]
#
# --etcd-only     benchmarks etcd alone (it needs no causeway binary).
# --big           also runs count-1m and page-1m, loading 1,000,000 keys into
#                 each server first (minutes per server).
# --check-perf    also runs `etcdctl check perf --load=l` against a fresh etcd
#                 and a fresh causeway on SQLite (a minute or more each), then
#                 `causeway-bench check-perf-ceiling` (two minutes more).
# --soak SECONDS  also soaks a fresh causeway on SQLite: writers and 100
#                 watchers, its memory sampled; fails if memory grows.
# --no-workloads  skips the causeway-bench table (to run only the above).
#
# A second causeway process shares the PostgreSQL database, so that
# watch-cross measures delivery from a write on one process to a watcher on
# the other.
set -euo pipefail
cd "$(dirname "$0")/.."

# This script's flags may come anywhere; the rest go to causeway-bench.
etcd_only=false big=() check_perf=false soak= workloads=true rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --etcd-only) etcd_only=true ;;
    --big) big=(--big --keep-big) ;;
    --check-perf) check_perf=true ;;
    --soak)
      [ $# -ge 2 ] || { echo "bench.sh: --soak needs a number of seconds" >&2; exit 2; }
      soak=$2; shift ;;
    --no-workloads) workloads=false ;;
    *) rest+=("$1") ;;
  esac
  shift
done
if $etcd_only && { $check_perf || [ -n "$soak" ]; }; then
  echo "bench.sh: --check-perf and --soak need causeway; drop --etcd-only" >&2
  exit 2
fi

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
# Stops every server started so far.
stop_servers() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
  if $pg_started; then stop_test_postgres; pg_started=false; fi
}
cleanup() {
  # Without this, when the script exits on a failed command (set -e), bash
  # also exits at the first command substitution in this trap (bash 5.2),
  # which left PostgreSQL running and the work directory behind.
  set +e
  stop_servers
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
peers=()

# Starts an etcd with its data under $work/$1; sets etcd_port.
start_etcd() {
  local dir=$work/$1 client peer
  client=$(free_port)
  peer=$(free_port)
  etcd --name bench --data-dir "$dir" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "bench=http://127.0.0.1:$peer" --log-level warn >"$dir.log" 2>&1 &
  pids+=($!)
  wait_ready "127.0.0.1:$client" "${pids[-1]}" "$dir.log"
  etcd_port=$client
}

# Starts causeway store named $1 on datastore $2, with any further
# arguments as store flags; sets store_port and store_pid.
start_store() {
  local name=$1 datastore=$2 log
  shift 2
  store_port=$(free_port)
  log="$work/causeway-$name.log"
  "$causeway" store --listen "127.0.0.1:$store_port" --metrics-listen "127.0.0.1:$(free_port)" \
    --datastore "$datastore" "$@" >"$log" 2>&1 &
  pids+=($!)
  store_pid=$!
  wait_ready "127.0.0.1:$store_port" "$store_pid" "$log"
}

if $workloads; then
  start_etcd etcd
  targets+=(--target "etcd=127.0.0.1:$etcd_port")

  if ! $etcd_only; then
    start_store sqlite "sqlite://$work/store.db"
    targets+=(--target "sqlite=127.0.0.1:$store_port")

    # shellcheck source=scripts/postgres.sh
    source scripts/postgres.sh
    start_test_postgres >&2
    pg_started=true
    psql -X -q -v ON_ERROR_STOP=1 -d "$CAUSEWAY_TEST_POSTGRES_URL" -c "CREATE DATABASE causeway_bench" >&2
    pg_db="${CAUSEWAY_TEST_POSTGRES_URL%/*}/causeway_bench"
    start_store postgres "$pg_db"
    targets+=(--target "postgres=127.0.0.1:$store_port")
    # A second process on the same database: watch-cross watches here.
    start_store postgres-peer "$pg_db"
    peers+=(--peer "postgres=127.0.0.1:$store_port")
  fi

  "$bench" "${targets[@]}" "${peers[@]}" "${big[@]}" "${rest[@]}"
  # Idle servers still take CPU and memory; the runs below get the machine.
  stop_servers
fi

# Runs etcdctl check perf --load=l against $2 (named $1), printing its
# verdicts; a FAIL is a result here, not an error.
check_perf() {
  local name=$1 endpoint=$2 out rc=0
  echo "bench.sh: etcdctl check perf --load=l against $name ($endpoint)" >&2
  out=$(ETCDCTL_API=3 etcdctl --endpoints "$endpoint" check perf --load=l 2>&1) || rc=$?
  echo "== etcdctl check perf --load=l: $name (exit status $rc)"
  # Drop the progress bar; keep the verdict lines. The bar's last redraw has
  # no line end, so the first verdict line is split off it first.
  printf '%s\n' "$out" | tr '\r' '\n' | sed -E 's/(PASS|FAIL)/\n\1/' \
    | grep -v -E '^[[:space:]]*$|[0-9]+ / [0-9]+' || true
}

if $check_perf; then
  # Fresh servers, so that neither the workloads' data nor check perf's
  # (hundreds of thousands of writes) affects the other.
  # One server at a time, each stopped before the next starts.
  start_etcd etcd-check-perf
  check_perf etcd "127.0.0.1:$etcd_port"
  stop_servers
  start_store sqlite-check-perf "sqlite://$work/check-perf.db"
  check_perf sqlite "127.0.0.1:$store_port"
  stop_servers
  # The same check against a server that stores nothing, answering puts at
  # once and after a group commit with fdatasync: this machine's ceiling.
  echo "bench.sh: causeway-bench check-perf-ceiling" >&2
  "$bench" check-perf-ceiling
fi

if [ -n "$soak" ]; then
  # A fresh server. Compaction every 30 s (instead of 5 min) so that it runs
  # several times within a soak of minutes, as it would over hours.
  start_store soak "sqlite://$work/soak.db" --compact-interval 30s
  "$bench" --target "sqlite=127.0.0.1:$store_port" --soak "$soak" --soak-pid "$store_pid"
fi
