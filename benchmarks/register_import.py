"""How fast the register imports school rolls, and how long its read models take to rebuild from zero.

Run on demand (not a test):  .venv/bin/python benchmarks/register_import.py [--pupils 50000] [--per-school 2000]
Uses the embedded PostgreSQL (or SENDCASE_TEST_POSTGRES_URL). It imports N pupils as CSV rolls of
--per-school pupils each (one ImportRoll per school, as the SENCO's command runs it: parse, check each row,
look the pupil up, save the school's new pupils in one transaction), puts one in seven on SEN support,
then times a rebuild of each register read model from an empty table to the end of the log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._support import senco
from contracts.identifiers import NeedType, upn_check_letter
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.register.bootstrap import bootstrap
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.logfollower import LogFollower
from services.runtime.projection import ProjectionRunner

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def school_urn(index: int) -> str:
    return f"{800000 + index:06d}"


def roll(index: int, size: int) -> tuple[str, list[str]]:
    lines = ["UPN,Legal Surname,Legal Forename,DOB,NC Year,Contact 1 Name,Contact 1 Relationship,Contact 1 Email"]
    upns = []
    for serial in range(size):
        body = f"{index // 100:03d}{8000 + index % 100:04d}{serial // 1000:02d}{serial % 1000:03d}"
        upn = upn_check_letter(body) + body
        upns.append(upn)
        lines.append(
            f"{upn},Pupil{serial},Alex,{1 + serial % 28:02d}/03/{2011 + serial % 11},,"
            f"Parent {serial},mother,parent{serial}@example.org"
        )
    return "\n".join(lines) + "\n", upns


def import_all(app, pupils: int, per_school: int) -> tuple[int, float, int, float]:
    imported = 0
    on_support = 0
    import_seconds = 0.0
    support_seconds = 0.0
    for index in range(0, (pupils + per_school - 1) // per_school):
        size = min(per_school, pupils - index * per_school)
        urn = school_urn(index)
        text, upns = roll(index, size)
        token = set_context(CommandContext(actor=senco(urn), now=NOW))
        try:
            t0 = time.perf_counter()
            report = app.import_roll(
                school_urn=urn, file_name=f"{urn}.csv", csv_text=text, on_roll_from=date(2026, 9, 3)
            )
            import_seconds += time.perf_counter() - t0
            assert not report.rejected, report.rejected[:3]
            imported += report.enrolled
            t0 = time.perf_counter()
            batch = []
            for upn in upns[::7]:
                pupil = app.pupil(upn)
                pupil.add_to_sen_support(
                    actor=senco(urn),
                    today=NOW.date(),
                    primary_need=NeedType.SPLD,
                    secondary_need=None,
                    effective_date=date(2026, 9, 20),
                    reason="benchmark",
                    evidence_reference=None,
                )
                batch.append(pupil)
            app.save(*batch)
            support_seconds += time.perf_counter() - t0
            on_support += len(batch)
        finally:
            reset_context(token)
    return imported, import_seconds, on_support, support_seconds


async def main(pupils: int, per_school: int) -> None:
    with scratch_servers() as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        settings = sandbox.settings("register")
        await ensure_database(settings.database_url)
        service = bootstrap(settings, FixedClock(NOW))
        app = service.store.app
        imported, import_seconds, on_support, support_seconds = await asyncio.to_thread(
            import_all, app, pupils, per_school
        )
        last = app.max_notification_id()
        print(
            f"imported {imported:,} pupils from {(pupils + per_school - 1) // per_school} CSV rolls in "
            f"{import_seconds:.1f}s = {imported / import_seconds:,.0f} pupils/s ({last:,} domain events in the log)"
        )
        print(
            f"added {on_support:,} of them to SEN support in {support_seconds:.1f}s "
            f"= {on_support / support_seconds:,.0f} pupils/s (one save per school)"
        )

        pool = await create_pool(settings.database_url, max_size=4)
        positions = PositionStore(pool)
        await positions.setup()
        for projection in service.projections:
            follower = LogFollower(service.store, settings.database_url, poll_seconds=0.2, batch_size=1000)
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
            print(
                f"rebuilt read model {projection.name!r} from zero over {last:,} events in {elapsed:.1f}s "
                f"= {last / elapsed:,.0f} events/s"
            )
        t0 = time.perf_counter()
        from services.register.projections import counts_as_at

        counts = await counts_as_at(pool, date(2026, 10, 1), None)
        print(
            f"LA counts as at the October census over a roll of {counts.roll:,}: {time.perf_counter() - t0:.2f}s "
            f"(SEN support {counts.sen_support:,} = {counts.sen_support_percent}%)"
        )
        await pool.close()
        service.store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pupils", type=int, default=50_000)
    parser.add_argument("--per-school", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(main(args.pupils, args.per_school))
