"""How many integration events per second the outbox relay moves from PostgreSQL to JetStream.

Run on demand (not a test):  .venv/bin/python benchmarks/relay_throughput.py [--quick]
Uses the embedded PostgreSQL and NATS (or SENDCASE_TEST_POSTGRES_URL / SENDCASE_TEST_NATS_URL).
It stores N pupils added to SEN support in the register's event store (not timed), then times a fresh relay
publishing all of them and recording its position. The limit, in the same run: the same envelopes published
straight to the same stream with as many in flight (the better of a run before and one after the relay).
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

from benchmarks._report import Figure, Goal, table
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


async def raw_publish(js, subject: str, stream: str, messages: list[tuple[str, bytes, str]], in_flight: int) -> float:
    """Messages/s: the same envelopes published straight to JetStream, `in_flight` awaiting their ack."""
    window = asyncio.Semaphore(in_flight)
    acks = []
    t0 = time.perf_counter()
    for msg_id, data, kind in messages:
        await window.acquire()
        ack = await js.publish_async(
            subject, data, stream=stream, headers={"Nats-Msg-Id": msg_id, "Sendcase-Type": kind}
        )
        ack.add_done_callback(lambda _: window.release())
        acks.append(ack)
    await asyncio.gather(*acks)
    return len(messages) / (time.perf_counter() - t0)


async def measure(quick: bool, batch: int = 500, in_flight: int = 512) -> list[Figure]:
    events = 10_000 if quick else 50_000  # pupils: two stored events each, one of them published
    with scratch_servers("relay") as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        settings = sandbox.settings("register", relay_batch_size=batch)
        await ensure_database(settings.database_url)
        service = bootstrap(settings, FixedClock(SCHOOL_DAY))
        await asyncio.to_thread(store_pupils, service.store.app, events)
        pool = await create_pool(settings.database_url)
        positions = PositionStore(pool)
        await positions.setup()
        nc = await nats.connect(sandbox.servers.nats_url)  # as the operator: it makes the streams
        js = nc.jetstream(publish_async_max_pending=4000)
        await ensure_streams(
            js,
            settings.subject_prefix,
            settings.events_stream,
            settings.dead_letter_stream,
            duplicate_window_seconds=settings.duplicate_window_seconds,
        )
        follower = LogFollower(service.store, settings.database_url or "", poll_seconds=5.0, batch_size=batch)
        relay = OutboxRelay(
            "register",
            follower,
            service.translate,
            js,
            positions,
            prefix=settings.subject_prefix,
            stream=settings.events_stream,
            in_flight=in_flight,
        )
        last = service.store.app.max_notification_id()
        # The same envelopes, prepared (not timed), for the raw publish: under other ids, on another subject
        # of the same stream, so neither run is deduplicated against the other.
        notifications = service.store.app.notifications_after(0, last)
        page = relay.prepare(notifications)
        messages = [(f"raw:{nid}", data, kind) for nid, _subject, data, kind in page.outgoing]
        raw_subject = f"{settings.subject_prefix}.events.raw.benchmark"
        raw_before = await raw_publish(js, raw_subject, settings.events_stream, messages, in_flight)

        task = asyncio.create_task(relay.run())
        t0 = time.perf_counter()
        while relay.position < last:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        rate = relay.published / elapsed
        messages = [(f"raw2:{nid}", data, kind) for nid, data, kind in messages]
        raw = max(raw_before, await raw_publish(js, raw_subject, settings.events_stream, messages, in_flight))
        t0 = time.perf_counter()
        relay.prepare(notifications)
        prepared = len(messages) / (time.perf_counter() - t0)
        await follower.close()
        await nc.close()
        await pool.close()
        service.store.close()
    size = sum(len(data) for _, data, _ in messages) // max(1, len(messages))
    return [
        Figure(
            "relay: outbox to JetStream",
            rate,
            "events/s",
            Goal.ratio_at_least(0.75),
            limit=raw,
            limit_what="raw pipelined publish",
            note=(
                f"{relay.published:,} integration events ({last:,} stored events; pages of {batch}, {in_flight} "
                f"in flight, position recorded after acks); raw: the same {size}-byte envelopes, publish_async, "
                f"{in_flight} in flight, the better of a run before and after"
            ),
        ),
        Figure(
            "relay: read + decode + translate + serialise alone",
            prepared,
            "events/s",
            note="the relay's own work per published event, without publishing (one thread, the GIL)",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 integration events (default 50,000)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=512)
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.quick, args.batch, args.in_flight))))
