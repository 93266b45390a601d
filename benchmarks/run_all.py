"""Every benchmark, one after another, into one table: figure, limit (measured in the same run), ratio, goal,
pass or fail. Run with scripts/bench.sh (add --quick for a run of a few minutes).

Each benchmark starts its own embedded PostgreSQL and NATS (or uses SENDCASE_TEST_POSTGRES_URL /
SENDCASE_TEST_NATS_URL) and stops them afterwards, so one's load does not colour the next one's figures.
A benchmark that fails outright is shown as a failed row with its error, and the others still run.
The exit code is 1 when any goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import Figure, Goal, table

# In the order the issue lists them: the write path, consumers, read models, relay, import, queries.
BENCHMARKS = [
    "register_commands",
    "notifications_throughput",
    "projection_rebuild",
    "relay_throughput",
    "register_import",
    "register_queries",
    "trust_cost",
]


def machine() -> str:
    cpus = len(__import__("os").sched_getaffinity(0))
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    python = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs ({model}){memory}, Python {python}"


async def run(names: list[str], quick: bool) -> list[Figure]:
    figures: list[Figure] = []
    for name in names:
        started = time.perf_counter()
        print(f"-- {name} ...", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            found = await module.measure(quick)
        except Exception as e:
            traceback.print_exc()
            found = [Figure(f"{name}: did not complete", math.nan, "", Goal.at_least(0), note=repr(e)[:300])]
        print(table(found), flush=True)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
        figures.extend(found)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller loads and shorter runs: a few minutes")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args()
    started = datetime.now(UTC)
    figures = asyncio.run(run(args.only or BENCHMARKS, args.quick))
    print()
    print(f"sendcase benchmarks{' (quick)' if args.quick else ''}, {started:%Y-%m-%d %H:%M} UTC, on {machine()}")
    print()
    print(table(figures))
    return 1 if any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
