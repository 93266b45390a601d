#!/usr/bin/env bash
# Install sendcase into ./.venv (first time only) and run every benchmark, printing one table: each figure
# beside the limit the same servers reached in the same run, the ratio, the goal and pass/fail.
# `scripts/bench.sh --quick` takes about a minute; without it, larger loads (about 5 minutes on 2 cores).
# `--only register_commands relay_throughput` runs some. Exit code 1 when a goal is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh ""  # (no extras: not this script's own arguments)
exec .venv/bin/python benchmarks/run_all.py "$@"
