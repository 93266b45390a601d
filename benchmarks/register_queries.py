"""How fast the register answers as-at queries for a whole LA, as a client sees them (NATS request/reply).

Run on demand (not a test):  .venv/bin/python benchmarks/register_queries.py [--quick] [--schools 600]
[--pupils-per-school 100]. Uses the embedded PostgreSQL and NATS (or SENDCASE_TEST_POSTGRES_URL /
SENDCASE_TEST_NATS_URL). It loads an LA (600 schools of 100 pupils; --quick: 100 schools) with the bulk roll
import, puts one pupil in seven on SEN support and one in forty on an EHC plan's worth of register (E) on
dates through the autumn term, removes one in ten of those again after the October census, runs the
register service (its read models catch up from the log), then asks over NATS, as a data officer:
- one school's register as at the October census day (a random school each time): p50 and p99;
- the whole LA's counts as at that day: p50 and p99;
- the whole LA's register as at that day, paged through with the client's page helper: total time, pages.
It prints the plan PostgreSQL runs for one school's register as at the date, to show the index is used.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import Figure, Goal, percentile, table
from benchmarks._support import senco
from benchmarks.register_import import NOW, import_as_routed, pupil_upn, roll, school_urn
from contracts.envelope import Actor, Answered, Role
from contracts.identifiers import NeedType
from contracts.register import LaCounts, SchoolRegister
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.register.bootstrap import bootstrap
from services.register.domain.pupil import Pupil
from services.register.queries import counts_as_at, explain_counts_as_at, explain_register_as_at
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import ensure_database
from services.runtime.service import ServiceRuntime

OCTOBER_CENSUS = date(2026, 10, 1)
DATA_OFFICER = Actor(user_id="data.officer@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:000")
NEEDS = list(NeedType)


def load_la(app: Any, schools: int, per_school: int) -> int:
    """Every school's roll imported; then, school by school, one pupil in seven on SEN support (dated through
    the autumn term), and one in ten of those removed again in November. Returns the pupils enrolled."""
    enrolled = 0
    for index in range(schools):
        urn = school_urn(index)
        enrolled += import_as_routed(app, urn, roll(index, per_school), f"{urn}.csv").enrolled
        ids = [Pupil.create_id(pupil_upn(index, serial)) for serial in range(0, per_school, 7)]
        pupils = app.get_many(ids)
        token = set_context(CommandContext(actor=senco(urn), now=NOW))
        try:
            for n, pupil_id in enumerate(ids):
                pupil = pupils[pupil_id]
                pupil.add_to_sen_support(
                    actor=senco(urn),
                    today=NOW.date(),
                    primary_need=NEEDS[n % len(NEEDS)],
                    secondary_need=None,
                    effective_date=date(2026, 9, 10) + timedelta(days=n % 60),
                    reason="benchmark",
                    evidence_reference=None,
                )
                if n % 10 == 9:
                    pupil.remove_from_sen_register(
                        actor=senco(urn),
                        today=NOW.date(),
                        effective_date=date(2026, 11, 10),
                        reason="targets met",
                        evidence_reference=None,
                    )
            app.save(*pupils.values())
        finally:
            reset_context(token)
    return enrolled


async def caught_up(runtime: ServiceRuntime, last: int) -> float:
    t0 = time.perf_counter()
    while any(r.position < last for r in runtime.projections) or (runtime.relay and runtime.relay.position < last):
        await asyncio.sleep(0.2)
    return time.perf_counter() - t0


async def timed(samples: int, ask: Any) -> list[float]:
    took = []
    for n in range(samples):
        t0 = time.perf_counter()
        reply = await ask(n)
        took.append((time.perf_counter() - t0) * 1000)
        assert isinstance(reply, Answered), reply
    return took


async def measure(quick: bool, schools: int | None = None, per_school: int = 100) -> list[Figure]:
    schools = schools or (100 if quick else 600)
    pupils = schools * per_school
    scale = f"{schools} schools, {pupils:,} pupils" + (" (quick: the full run is 600 schools, 60,000)" if quick else "")
    rng = random.Random(7)
    with scratch_servers() as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        settings = sandbox.settings("register")
        await ensure_database(settings.database_url)
        service = bootstrap(settings, FixedClock(NOW))
        t0 = time.perf_counter()
        enrolled = await asyncio.to_thread(load_la, service.store.app, schools, per_school)
        loaded = time.perf_counter() - t0
        last = service.store.app.max_notification_id()
        runtime = ServiceRuntime(service)
        await runtime.start()
        try:
            catch_up = await caught_up(runtime, last)
            assert runtime.pool is not None
            plan = await explain_register_as_at(runtime.pool, OCTOBER_CENSUS, school_urn(schools // 2), 1000)
            counts_plan = await explain_counts_as_at(runtime.pool, OCTOBER_CENSUS, None)
            sql_only = []
            for _ in range(30 if quick else 50):
                t0 = time.perf_counter()
                await counts_as_at(runtime.pool, OCTOBER_CENSUS, None)
                sql_only.append((time.perf_counter() - t0) * 1000)
            async with Client(sandbox.servers.nats_url, settings.subject_prefix, DATA_OFFICER, timeout=30) as client:
                for _ in range(5):  # warm: connections, prepared statements
                    await client.query(SchoolRegister(school_urn=school_urn(0), as_at=OCTOBER_CENSUS))
                    await client.query(LaCounts(as_at=OCTOBER_CENSUS))
                one_school = await timed(
                    100 if quick else 300,
                    lambda n: client.query(
                        SchoolRegister(school_urn=school_urn(rng.randrange(schools)), as_at=OCTOBER_CENSUS)
                    ),
                )
                la_counts = await timed(30 if quick else 100, lambda n: client.query(LaCounts(as_at=OCTOBER_CENSUS)))
                t0 = time.perf_counter()
                pages = entries = 0
                roll_size = 0
                async for page in client.pages(SchoolRegister(as_at=OCTOBER_CENSUS)):
                    assert isinstance(page, Answered), page
                    pages += 1
                    entries += len(page.result.entries)
                    roll_size = page.result.roll
                paged = time.perf_counter() - t0
        finally:
            await runtime.stop()
    print(f"Plan of one school's register as at {OCTOBER_CENSUS} ({scale}):\n{plan}\n")
    print(f"Plan of the whole LA's counts as at {OCTOBER_CENSUS}:\n{counts_plan}\n")
    index_used = "register_timeline_school" in plan
    return [
        Figure(
            "one school's register as at a date, p50",
            percentile(one_school, 50),
            "ms",
            note=f"{scale}; a random school each time, over NATS as a client sees it; "
            f"plan uses register_timeline_school: {'yes' if index_used else 'NO'} (printed above)",
        ),
        Figure("one school's register as at a date, p99", percentile(one_school, 99), "ms", Goal.at_most(20)),
        Figure("whole-LA counts as at a date, p50", percentile(la_counts, 50), "ms", note=scale),
        Figure("whole-LA counts as at a date, p99", percentile(la_counts, 99), "ms", Goal.at_most(100)),
        Figure(
            "whole-LA counts, the database's part, p50",
            percentile(sql_only, 50),
            "ms",
            note="the same counts read in the service's process straight from the pool (no NATS, no check that "
            f"the view has caught up): p99 {percentile(sql_only, 99):.0f} ms",
        ),
        Figure(
            "whole-LA register paged through",
            paged * 1000,
            "ms",
            note=f"{entries:,} entries of a roll of {roll_size:,} in {pages} pages of up to 1,000 "
            f"({scale}); loaded {enrolled:,} pupils in {loaded:.1f}s, read models caught up in {catch_up:.1f}s",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 schools instead of 600")
    parser.add_argument("--schools", type=int, default=None)
    parser.add_argument("--pupils-per-school", type=int, default=100)
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.quick, args.schools, args.pupils_per_school))))
