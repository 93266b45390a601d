"""What trust costs the register (docs/audit.md): the hash chain and the sealing of personal data, on the roll
import and on rebuilding the read models, before and after in the same run.

Run on demand (not a test):  .venv/bin/python benchmarks/trust_cost.py [--quick] [--pupils 30000] [--per-school 2000].
Three registers on the same PostgreSQL, each on its own database: "before" (no chain, nothing sealed: the event
store as it was before issue 11; UnchainedRecorder and an empty personal_fields exist only for this figure),
"chain" (the chain on, nothing sealed) and "after" (the register as it is: chained, every personal value sealed
under its person's key in the sandbox's PostgreSQL keyring). The schools' rolls (one parent each) are imported into
all three in turn, roll by roll, the order rotating, so all see the same machine at the same moments. Then each of
the register's read models is rebuilt from zero on "before" and on "after", alternately, twice each (the better
run of each counts); opening the sealed values is part of "after"'s decoding. Goal for each: within 20% of
"before". Last, the whole chained log is verified (`sendcase audit verify`'s walk, without checkpoints).
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
from benchmarks.projection_rebuild import PAGE, rebuild
from benchmarks.register_import import import_as_routed, roll, school_urn
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.register.application import Register
from services.register.projections import PupilHistoryView, RegisterViews
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.eventstore import EventStore, UnchainedRecorder, open_store
from services.runtime.logfollower import LogFollower
from services.runtime.projection import ProjectionRunner
from services.runtime.verify import verify_log


class UnsealedRegister(Register):
    personal_fields = frozenset()  # nothing sealed (this figure only)


class BeforeRegister(UnsealedRegister):
    recorder_class = UnchainedRecorder  # and no chain: the event store before issue 11 (this figure only)


async def rebuild_rates(stores: dict[str, EventStore], urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """Each register read model rebuilt from zero on each store, alternately, twice: the better rate of each."""
    found: dict[str, dict[str, float]] = {}
    pools = {name: await create_pool(urls[name], max_size=4) for name in stores}
    try:
        runners: dict[str, list[tuple[ProjectionRunner, LogFollower]]] = {}
        for name, store in stores.items():
            positions = PositionStore(pools[name])
            await positions.setup()
            runners[name] = []
            for projection in (RegisterViews(), PupilHistoryView()):
                follower = LogFollower(store, urls[name], poll_seconds=5.0, batch_size=PAGE)
                runner = ProjectionRunner(projection, follower, pools[name], positions)
                await runner.setup()
                runners[name].append((runner, follower))
        for attempt in range(2):
            for name in stores if attempt == 0 else reversed(list(stores)):
                last = stores[name].app.max_notification_id()
                for runner, _ in runners[name]:
                    rate = await rebuild(runner, last)
                    key = runner.projection.name
                    found.setdefault(key, {})[name] = max(found.get(key, {}).get(name, 0.0), rate)
        for pairs in runners.values():
            for _, follower in pairs:
                await follower.close()
    finally:
        for pool in pools.values():
            await pool.close()
    return found


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
    with scratch_servers("trust") as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        urls = {name: sandbox.database_url(f"register_{name}") for name in ("before", "chain", "after")}
        for url in urls.values():
            await ensure_database(url)
        stores = {
            "before": open_store(BeforeRegister, urls["before"], 2),
            "chain": open_store(UnsealedRegister, urls["chain"], 2),
            "after": open_store(Register, urls["after"], 2),
        }
        try:
            apps = {name: store.app for name, store in stores.items()}
            # a small warm-up on each (connections, caches), not counted: school 0
            await asyncio.to_thread(import_alternately, apps, 200, 200)
            before = {name: app.max_notification_id() for name, app in apps.items()}
            stored = await asyncio.to_thread(import_alternately, apps, pupils, per_school, 1)
            rebuilt = await rebuild_rates({k: stores[k] for k in ("before", "after")}, urls)
            conn = await asyncpg.connect(urls["after"])
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
    events = {name: stored[name][0] - before[name] for name in stored}
    figures = [
        Figure(
            f"roll import, chain and sealing, {pupils:,} pupils",
            rates["after"],
            "events/s",
            Goal.ratio_at_least(0.8),
            limit=rates["before"],
            limit_what="the same import before (no chain, nothing sealed)",
            note=f"{events['after']:,} events ({events['before']:,} before); rolls of {per_school:,} into each in "
            f"turn; trust costs {1 - rates['after'] / rates['before']:.0%} of the rate (goal: within 20%)",
        ),
        Figure(
            "roll import, chain only",
            rates["chain"],
            "events/s",
            Goal.ratio_at_least(0.8),
            limit=rates["before"],
            limit_what="before",
            note=f"the chain alone costs {1 - rates['chain'] / rates['before']:.0%}",
        ),
    ]
    for projection, by in rebuilt.items():
        figures.append(
            Figure(
                f"rebuild {projection}, chain and sealing",
                by["after"],
                "events/s",
                Goal.ratio_at_least(0.8),
                limit=by["before"],
                limit_what="the same rebuild before",
                note=f"opening sealed values (one keyring lookup a page) costs {1 - by['after'] / by['before']:.0%}",
            )
        )
    figures.append(
        Figure(
            "whole log verified against its chain",
            verified.events / verify_seconds,
            "events/s",
            note=f"{verified.events:,} events read in pages, each hashed and linked, in {verify_seconds:.1f}s",
        )
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 pupils instead of 30,000")
    parser.add_argument("--pupils", type=int, default=None)
    parser.add_argument("--per-school", type=int, default=2_000)
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.quick, args.pupils, args.per_school))))
