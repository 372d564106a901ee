#!/usr/bin/env bash
# The one command that runs every test on a fresh machine: installs what the
# tests need, starts a PostgreSQL server for the suite, then runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

# One PostgreSQL server for the whole run; each test makes its own database.
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
start_test_postgres
trap stop_test_postgres EXIT

cargo build --workspace --all-targets --locked

# cargo prints one result line per test binary, and its last ones are
# doc-test binaries with nothing in them; close with the total instead.
log=$(mktemp)
set +e
cargo test --workspace --locked -- --test-threads "${CAUSEWAY_TEST_THREADS:-2}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($i == "passed;") p += $(i - 1)
         if ($i == "failed;") f += $(i - 1)
       }
     }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
