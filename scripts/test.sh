#!/usr/bin/env bash
# Install sendcase with its test tools into ./.venv and run the whole test suite: lint (ruff check and
# ruff format --check), types (mypy), the import rules, then
# unit, integration and end-to-end tests on real PostgreSQL and NATS (embedded, started by the tests;
# or yours, via SENDCASE_TEST_POSTGRES_URL and SENDCASE_TEST_NATS_URL). Extra arguments go to pytest,
# e.g. `scripts/test.sh -m unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/pytest "$@"
