# Start and stop a throw-away PostgreSQL server on a free loopback port.
# Sourced by scripts/test.sh and scripts/bench.sh. Exports
# CAUSEWAY_TEST_POSTGRES_URL, a DSN of a superuser on that server.

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/postgres" ] && { echo "$d"; return; }; done
  echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql" >&2
  return 1
}

start_test_postgres() {
  local bin port dir as=()
  bin=$(pg_bin)
  dir=$(mktemp -d /tmp/causeway-pg.XXXXXX)
  # PostgreSQL refuses to run as root; use the postgres account the Debian
  # package creates.
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-k $dir -h 127.0.0.1 -p $port -c max_connections=400 -c fsync=on" start >/dev/null
  export CAUSEWAY_TEST_PG_DIR="$dir"
  export CAUSEWAY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "postgres.sh: PostgreSQL at $CAUSEWAY_TEST_POSTGRES_URL"
}

# Runs in a subshell with errexit off: it is used as an EXIT trap, and when a
# script under `set -e` exits on a failed command, bash (5.2) also exits the
# trap at its first command substitution, which left the server running.
stop_test_postgres() (
  set +e
  [ -n "${CAUSEWAY_TEST_PG_DIR:-}" ] || exit 0
  bin=$(pg_bin) || exit 1
  as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  "${as[@]}" "$bin/pg_ctl" -D "$CAUSEWAY_TEST_PG_DIR/data" -m fast stop >/dev/null 2>&1
  rm -rf "$CAUSEWAY_TEST_PG_DIR"
)
