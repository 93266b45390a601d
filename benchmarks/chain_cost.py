"""What the hash chain costs the register's roll import (docs/audit.md), before and after in the same run.

Run on demand (not a test):  .venv/bin/python benchmarks/chain_cost.py [--quick] [--pupils 30000] [--per-school 2000].
Two registers on the same PostgreSQL, each on its own database: one with the event store's recorder as it is (the
chain written in each write's transaction), one with the chain off (UnchainedRecorder, which exists only for this
figure). The schools' rolls are imported into both alternately, roll by roll, so both see the same machine at the
same moments; the figure is the chained import rate beside the unchained one, with the goal "within 20%". Then the
whole chained log is verified (`sendcase audit verify`'s walk, without checkpoints) and its rate shown.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from benchmarks._report import Figure, Goal, table
from benchmarks.register_import import import_as_routed, roll, school_urn
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.register.application import Register
from services.runtime.database import ensure_database
from services.runtime.eventstore import UnchainedRecorder, open_store
from services.runtime.verify import verify_log


class UnchainedRegister(Register):
    recorder_class = UnchainedRecorder


def import_alternately(
    apps: dict[str, Any], pupils: int, per_school: int, first_school: int = 0
) -> dict[str, tuple[int, float]]:
    """Each school's roll into every app in turn (which goes first swapped each school), schools numbered from
    `first_school`. Events stored in all and seconds spent importing, per app."""
    schools = (pupils + per_school - 1) // per_school
    seconds = dict.fromkeys(apps, 0.0)
    names = list(apps)
    for number in range(schools):
        index = first_school + number
        text = roll(index, min(per_school, pupils - number * per_school))
        for name in names if number % 2 == 0 else list(reversed(names)):
            t0 = time.perf_counter()
            report = import_as_routed(apps[name], school_urn(index), text, f"{school_urn(index)}.csv")
            seconds[name] += time.perf_counter() - t0
            assert not report.rejected, report.rejected[:3]
    return {name: (app.max_notification_id(), seconds[name]) for name, app in apps.items()}


async def measure(quick: bool, pupils: int | None = None, per_school: int = 2_000) -> list[Figure]:
    pupils = pupils or (10_000 if quick else 30_000)
    with scratch_servers("chain") as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        urls = {"chained": sandbox.database_url("register"), "unchained": sandbox.database_url("register_unchained")}
        for url in urls.values():
            await ensure_database(url)
        stores = {
            "chained": open_store(Register, urls["chained"], 2),
            "unchained": open_store(UnchainedRegister, urls["unchained"], 2),
        }
        try:
            apps = {name: store.app for name, store in stores.items()}
            # a small warm-up on each (connections, caches), not counted: school 0
            await asyncio.to_thread(import_alternately, apps, 200, 200)
            before = {name: app.max_notification_id() for name, app in apps.items()}
            stored = await asyncio.to_thread(import_alternately, apps, pupils, per_school, 1)
            conn = await asyncpg.connect(urls["chained"])
            try:
                t0 = time.perf_counter()
                verified = await verify_log(conn, "register", [], {})
                verify_seconds = time.perf_counter() - t0
            finally:
                await conn.close()
            assert verified.clean, verified.lines()[:5]
        finally:
            for store in stores.values():
                store.close()
    rates = {name: (events - before[name]) / seconds for name, (events, seconds) in stored.items()}
    chained_events = stored["chained"][0] - before["chained"]
    return [
        Figure(
            f"roll import with the hash chain, {pupils:,} pupils",
            rates["chained"],
            "events/s",
            Goal.ratio_at_least(0.8),
            limit=rates["unchained"],
            limit_what="the same import, chain off",
            note=f"{chained_events:,} events each; rolls of {per_school:,} imported into both registers alternately; "
            f"the chain costs {1 - rates['chained'] / rates['unchained']:.0%} (goal: within 20%)",
        ),
        Figure(
            "whole log verified against its chain",
            verified.events / verify_seconds,
            "events/s",
            note=f"{verified.events:,} events read in pages, each hashed and linked, in {verify_seconds:.1f}s",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 pupils instead of 30,000")
    parser.add_argument("--pupils", type=int, default=None)
    parser.add_argument("--per-school", type=int, default=2_000)
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.quick, args.pupils, args.per_school))))
