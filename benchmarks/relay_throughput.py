"""How many integration events per second the outbox relay moves from PostgreSQL to JetStream.

Run on demand (not a test):  .venv/bin/python benchmarks/relay_throughput.py [--events 20000]
Uses the embedded PostgreSQL and NATS (or SENDCASE_TEST_POSTGRES_URL / SENDCASE_TEST_NATS_URL).
It stores N "added to SEN support" facts in the register's event store (in batches, not timed), then
times a fresh relay publishing all of them and recording its position, and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats

from benchmarks._support import SCHOOL_DAY, senco, upn
from contracts.identifiers import NeedType
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.register.bootstrap import bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.logfollower import LogFollower
from services.runtime.outbox import OutboxRelay
from services.runtime.streams import ensure_streams


def store_pupils(app, count: int) -> None:
    ctx = CommandContext(actor=senco(), now=SCHOOL_DAY)
    from services.runtime.context import reset_context, set_context

    token = set_context(ctx)
    try:
        for start in range(0, count, 1000):
            pupils = []
            for serial in range(start, min(count, start + 1000)):
                pupil = Pupil(
                    upn=upn(serial),
                    given_name="Sam",
                    family_name=f"T{serial}",
                    date_of_birth=date(2017, 3, 14),
                    school_urn="123456",
                )
                pupil.add_to_sen_support(
                    actor=senco(),
                    today=SCHOOL_DAY.date(),
                    primary_need=NeedType.ASD,
                    secondary_need=None,
                    effective_date=date(2026, 11, 20),
                    reason="benchmark",
                    evidence_reference=None,
                )
                pupils.append(pupil)
            app.save(*pupils)  # one transaction per thousand pupils: writes to one app are serialised
    finally:
        reset_context(token)


async def main(events: int, batch: int) -> None:
    with scratch_servers() as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        settings = sandbox.settings("register", relay_batch_size=batch)
        await ensure_database(settings.database_url)
        service = bootstrap(settings, FixedClock(SCHOOL_DAY))
        t0 = time.perf_counter()
        await asyncio.to_thread(store_pupils, service.store.app, events)
        stored = time.perf_counter() - t0
        pool = await create_pool(settings.database_url)
        positions = PositionStore(pool)
        await positions.setup()
        nc = await nats.connect(settings.nats_url)
        js = nc.jetstream()
        await ensure_streams(
            js,
            settings.subject_prefix,
            settings.events_stream,
            settings.dead_letter_stream,
            duplicate_window_seconds=settings.duplicate_window_seconds,
        )
        follower = LogFollower(service.store, settings.database_url, poll_seconds=0.2, batch_size=batch)
        relay = OutboxRelay(
            "register",
            follower,
            service.translate,
            js,
            positions,
            prefix=settings.subject_prefix,
            stream=settings.events_stream,
        )
        last = service.store.app.max_notification_id()
        task = asyncio.create_task(relay.run())
        t0 = time.perf_counter()
        while relay.position < last:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        print(
            f"stored {events} pupils added to SEN support ({last} domain events) in {stored:.1f}s "
            f"({events / stored:,.0f} pupils/s, batches of 1000)"
        )
        print(
            f"relay: {relay.published} integration events published and acknowledged in {elapsed:.2f}s "
            f"= {relay.published / elapsed:,.0f} events/s (log batch {batch}, pipelined publishes)"
        )
        await follower.close()
        await nc.close()
        await pool.close()
        service.store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch))
