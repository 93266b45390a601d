#!/usr/bin/env bash
# Install sendcase into ./.venv (first time only) and run every benchmark, printing one table: each figure
# beside the limit the same servers reached in the same run, the ratio, the goal and pass/fail.
# `scripts/bench.sh --quick` takes a few minutes; without it, longer loads (about 15 minutes).
# `--only register_commands relay_throughput` runs some. Exit code 1 when a goal is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
exec .venv/bin/python benchmarks/run_all.py "$@"
