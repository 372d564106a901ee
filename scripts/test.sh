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
cargo test --workspace --locked -- --test-threads "${CAUSEWAY_TEST_THREADS:-2}"
