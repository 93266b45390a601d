"""How fast the register imports school rolls, beside the raw write rate of the same rows.

Run on demand (not a test):  .venv/bin/python benchmarks/register_import.py [--quick] [--pupils 50000]
[--per-school 2000] [--rebuild]. Uses the embedded PostgreSQL (or SENDCASE_TEST_POSTGRES_URL). It imports N pupils
as CSV rolls of --per-school pupils each (one ImportRoll per school, as the runtime runs the SENCO's command: parse,
check each row, load every pupil the file names with one query, save the school's events with the command's
receipt in one transaction), then imports the first roll again with one change per pupil (the pupils are
loaded and updated), and finally copies the very rows the import stored into an empty copy of the events
table with COPY: the raw write rate of the same servers in the same run, the limit the import is set against.
With --rebuild it then times each register read model rebuilt from an empty table to the end of the log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from benchmarks._report import Figure, Goal, table
from benchmarks._support import senco
from contracts.identifiers import upn_check_letter
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.register.bootstrap import bootstrap
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.logfollower import LogFollower
from services.runtime.projection import ProjectionRunner
from services.runtime.receipts import CommandReceipt, collecting_saves

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
ON_ROLL_FROM = date(2026, 9, 3)
HEADER = "UPN,Legal Surname,Legal Forename,DOB,NC Year,Contact 1 Name,Contact 1 Relationship,Contact 1 Email"


def school_urn(index: int) -> str:
    return f"{800000 + index:06d}"


def pupil_upn(index: int, serial: int) -> str:
    body = f"{index // 100:03d}{8000 + index % 100:04d}{serial // 1000:02d}{serial % 1000:03d}"
    return upn_check_letter(body) + body


def roll(index: int, size: int, surname: str = "Pupil") -> str:
    """One school's roll as its MIS exports it: one pupil a line, one parent each."""
    lines = [HEADER]
    for serial in range(size):
        lines.append(
            f"{pupil_upn(index, serial)},{surname}{serial},Alex,{1 + serial % 28:02d}/03/{2011 + serial % 11},,"
            f"Parent {serial},mother,parent{serial}@example.org"
        )
    return "\n".join(lines) + "\n"


def import_as_routed(app: Any, urn: str, text: str, file_name: str) -> Any:
    """ImportRoll as services/runtime/routes.py runs it: the application's saves collected, then written once
    with the command's receipt in one transaction."""
    ctx = CommandContext(actor=senco(urn), now=NOW, command_id=uuid4())
    token = set_context(ctx)
    try:
        with collecting_saves() as changed:
            report = app.import_roll(
                actor=senco(urn),
                today=NOW.date(),
                school_urn=urn,
                file_name=file_name,
                csv_text=text,
                on_roll_from=ON_ROLL_FROM,
            )
        app.save_command(CommandReceipt(ctx.command_id, report.model_dump_json(), NOW), *changed)
    finally:
        reset_context(token)
    return report


def import_all(app: Any, pupils: int, per_school: int) -> tuple[int, float, float, int, float]:
    """Every school's roll, then the first school's roll again with every surname changed. Returns pupils
    enrolled, seconds and this process's CPU seconds for that, pupils updated, seconds for that."""
    imported, seconds, cpu = 0, 0.0, 0.0
    schools = (pupils + per_school - 1) // per_school
    texts = [roll(index, min(per_school, pupils - index * per_school)) for index in range(schools)]
    for index, text in enumerate(texts):
        t0, c0 = time.perf_counter(), time.process_time()
        report = import_as_routed(app, school_urn(index), text, f"{school_urn(index)}.csv")
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
        assert not report.rejected, report.rejected[:3]
        imported += report.enrolled
    again = roll(0, min(per_school, pupils), surname="Renamed")
    t0 = time.perf_counter()
    report = import_as_routed(app, school_urn(0), again, "again.csv")
    reimport_seconds = time.perf_counter() - t0
    assert report.updated == min(per_school, pupils), report
    return imported, seconds, cpu, report.updated, reimport_seconds


async def raw_copy_rate(database_url: str) -> tuple[int, float]:
    """COPY the rows the import stored into an empty table shaped like the events table (its indexes too)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT originator_id, originator_version, topic, state FROM register_events ORDER BY notification_id"
        )
        await conn.execute(
            "DROP TABLE IF EXISTS raw_events; CREATE TABLE raw_events (LIKE register_events INCLUDING ALL)"
        )
        t0 = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(
                "raw_events",
                records=[tuple(r) for r in rows],
                columns=["originator_id", "originator_version", "topic", "state"],
            )
        elapsed = time.perf_counter() - t0
        await conn.execute("DROP TABLE raw_events")
    finally:
        await conn.close()
    return len(rows), elapsed


async def rebuild_rates(service: Any, database_url: str) -> list[Figure]:
    """Each register read model rebuilt from an empty table to the end of the log (--rebuild)."""
    pool = await create_pool(database_url, max_size=4)
    positions = PositionStore(pool)
    await positions.setup()
    last = service.store.app.max_notification_id()
    figures = []
    try:
        for projection in service.projections:
            follower = LogFollower(service.store, database_url, poll_seconds=0.2, batch_size=1000)
            runner = ProjectionRunner(projection, follower, pool, positions)
            await runner.setup()
            await runner.rebuild()
            task = asyncio.create_task(runner.run())
            t0 = time.perf_counter()
            while runner.position < last:
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - t0
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await follower.close()
            figures.append(
                Figure(
                    f"rebuild of read model {projection.name!r}", last / elapsed, "events/s", note=f"{last:,} events"
                )
            )
    finally:
        await pool.close()
    return figures


async def measure(
    quick: bool, pupils: int | None = None, per_school: int = 2_000, rebuild: bool = False
) -> list[Figure]:
    pupils = pupils or (10_000 if quick else 50_000)
    with scratch_servers() as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        settings = sandbox.settings("register")
        await ensure_database(settings.database_url)
        service = bootstrap(settings, FixedClock(NOW))
        app = service.store.app
        try:
            imported, seconds, cpu, updated, reimport_seconds = await asyncio.to_thread(
                import_all, app, pupils, per_school
            )
            events = app.max_notification_id()
            first_import_events = events - updated - 1  # the re-import stored one event per pupil and its record
            raw_rows, raw_seconds = await raw_copy_rate(settings.database_url)
            rebuilt = await rebuild_rates(service, settings.database_url) if rebuild else []
        finally:
            service.store.close()
    schools = (pupils + per_school - 1) // per_school
    raw_rate = raw_rows / raw_seconds
    return [
        Figure(
            f"roll import, {pupils:,} pupils",
            first_import_events / seconds,
            "events/s",
            Goal.at_least(20_000),
            limit=raw_rate,
            limit_what="COPY of the same rows",
            note=f"{imported:,} pupils enrolled from {schools} CSV rolls of {per_school:,} in {seconds:.1f}s "
            f"= {imported / seconds:,.0f} pupils/s; each roll one routed command (parse, check, one query to "
            "load its pupils, one transaction with the receipt)",
        ),
        Figure(
            "roll import, per CPU-second of the importing process",
            first_import_events / cpu,
            "events/s",
            note=f"{cpu:.1f} CPU-s of {seconds:.1f}s: what one free core could do (the rest is PostgreSQL's time, "
            "and other work on a shared machine)",
        ),
        Figure(
            f"roll re-import, {updated:,} pupils changed",
            (updated + 1) / reimport_seconds,
            "events/s",
            note=f"the first roll again with every surname changed: {updated:,} pupils loaded with one query and "
            f"updated in {reimport_seconds:.2f}s",
        ),
        Figure(
            "raw write rate (COPY)",
            raw_rate,
            "events/s",
            note=f"{raw_rows:,} stored rows copied into an empty copy of register_events in {raw_seconds:.2f}s",
        ),
        *rebuilt,
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 pupils instead of 50,000")
    parser.add_argument("--pupils", type=int, default=None)
    parser.add_argument("--per-school", type=int, default=2_000)
    parser.add_argument("--rebuild", action="store_true", help="also time each read model rebuilt from zero")
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.quick, args.pupils, args.per_school, args.rebuild))))
