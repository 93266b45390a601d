"""How fast each read model rebuilds from zero, against reading and decoding the same log in the same run.

Run on demand (not a test):  .venv/bin/python benchmarks/projection_rebuild.py [--quick]
Uses the embedded PostgreSQL (or SENDCASE_TEST_POSTGRES_URL). It stores a mixed register history (pupils
put on the roll, added to SEN support, needs changed, some removed and added again, some moved school) and
a notifications history (each notification owed, rendered, sent and delivered; some failing a channel),
not timed. Then, for each projection: the limit is reading the whole log in the runner's pages and
decoding every event (as the runner does it: in the store's thread, once per event), and the figure is a
rebuild of the projection from an empty view to the end of the log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import Figure, Goal, table
from benchmarks._support import SCHOOL, SCHOOL_DAY, mother, senco, upn
from contracts.identifiers import NeedType
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.domain.notification import Notification
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.logfollower import LogFollower, decoder
from services.runtime.projection import ProjectionRunner
from services.runtime.service import ServiceDefinition

PAGE = 2000  # the runtime's projection_batch_size


def store_register_history(app: Any, pupils: int) -> None:
    """About five events a pupil: on the roll, K, needs changed; every third removed and added again (a
    status changed back and forth); every fifth moved school."""
    today = SCHOOL_DAY.date()
    token = set_context(CommandContext(actor=senco(), now=SCHOOL_DAY))
    try:
        for start in range(0, pupils, 500):
            batch = []
            for serial in range(start, min(pupils, start + 500)):
                pupil = Pupil(
                    upn=upn(serial),
                    given_name="Sam",
                    family_name=f"T{serial}",
                    date_of_birth=date(2017, 3, 14),
                    school_urn=SCHOOL,
                    on_roll_from=date(2026, 9, 3),
                )
                support = dict(actor=senco(), today=today, secondary_need=None, reason="benchmark")
                pupil.add_to_sen_support(
                    primary_need=NeedType.ASD, effective_date=date(2026, 9, 20), evidence_reference=None, **support
                )
                pupil.change_needs(
                    primary_need=NeedType.SLCN,
                    effective_date=date(2026, 10, 1),
                    evidence_reference="APDR 2",
                    **support,
                )
                if serial % 3 == 0:
                    pupil.remove_from_sen_register(
                        actor=senco(),
                        today=today,
                        effective_date=date(2026, 10, 20),
                        reason="benchmark",
                        evidence_reference=None,
                    )
                    pupil.add_to_sen_support(
                        primary_need=NeedType.SEMH, effective_date=date(2026, 11, 2), evidence_reference=None, **support
                    )
                if serial % 5 == 0:
                    pupil.transfer_to(
                        actor=senco(), today=today, to_school_urn="654321", leaving_date=today, reason="moved"
                    )
                batch.append(pupil)
            app.save(*batch)
    finally:
        reset_context(token)


def store_notifications_history(app: Any, count: int) -> None:
    """Five events a notification: owed, rendered, sending, sent, delivered; every fourth fails its first
    channel for good and is sent on the next."""
    token = set_context(CommandContext(actor=senco(), now=SCHOOL_DAY))
    try:
        for start in range(0, count, 500):
            batch = []
            for serial in range(start, min(count, start + 500)):
                person = mother(serial)
                cause = Pupil.create_id(upn(serial))  # any stable id
                note = Notification(
                    cause_event_id=cause,
                    cause_event_type="register.pupil_added_to_sen_support",
                    duty="pupil_added_to_sen_support",
                    pupil_id=Pupil.create_id(upn(serial)),
                    case_id=None,
                    school_urn=SCHOOL,
                    person_id=person.person_id,
                    recipient=person.model_dump(mode="json"),
                    owed_since=SCHOOL_DAY.date(),
                    about="added to SEN support",
                    facts={"pupil": f"Sam T{serial}"},
                )
                note.render("sen_support", "Your child's SEN support", "Dear parent, ...", "SEN support", "ab" * 32)
                channel = note.channel
                assert channel is not None
                if serial % 4 == 0:
                    note.start_sending(channel)
                    note.record_failure(channel, "bounced", True, SCHOOL_DAY, timedelta(minutes=5), 3)
                    channel = note.channel
                    assert channel is not None
                note.start_sending(channel)
                note.record_sent(channel, f"ref-{serial}")
                note.record_delivered(channel, "delivered by the provider")
                batch.append(note)
            app.save(*batch)
    finally:
        reset_context(token)


async def read_and_decode(follower: LogFollower, last: int) -> float:
    """Events/s reading the whole log in the runner's pages, each event decoded as the runner does it."""
    decode = decoder(follower.store.app.mapper)
    position, events = 0, 0
    t0 = time.perf_counter()
    while position < last:
        page = await follower.next_page(position, decode)
        position, events = page[-1].id, events + len(page)
    return events / (time.perf_counter() - t0)


async def rebuild(runner: ProjectionRunner, last: int) -> float:
    await runner.rebuild()
    task = asyncio.create_task(runner.run())
    t0 = time.perf_counter()
    while runner.position < last:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return last / elapsed


async def measure_service(service: ServiceDefinition, database_url: str, what: str) -> list[Figure]:
    last = service.store.app.max_notification_id()
    pool = await create_pool(database_url, max_size=4)
    positions = PositionStore(pool)
    await positions.setup()
    figures = []
    try:
        for projection in service.projections:
            follower = LogFollower(service.store, database_url, poll_seconds=5.0, batch_size=PAGE)
            runner = ProjectionRunner(projection, follower, pool, positions)
            await runner.setup()
            await rebuild(runner, last)  # warm up (tables, caches, prepared statements)
            # The limit: the better of two raw read-and-decode runs around the rebuild.
            raw = await read_and_decode(follower, last)
            rate = await rebuild(runner, last)
            raw = max(raw, await read_and_decode(follower, last))
            await follower.close()
            figures.append(
                Figure(
                    f"rebuild {projection.name}",
                    rate,
                    "events/s",
                    Goal.ratio_at_least(0.75),
                    limit=raw,
                    limit_what="read+decode",
                    note=f"{last:,} {what} events, pages of {PAGE}, from an empty view to the end of the log",
                )
            )
    finally:
        await pool.close()
    return figures


async def measure(quick: bool) -> list[Figure]:
    pupils, notifications = (4_000, 4_000) if quick else (20_000, 20_000)
    with scratch_servers("rebuild") as (servers, _root):
        sandbox = Sandbox(servers, new_prefix())
        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        figures = []
        register_settings = sandbox.settings("register")
        await ensure_database(register_settings.database_url)
        register = register_bootstrap(register_settings, FixedClock(SCHOOL_DAY))
        try:
            await asyncio.to_thread(store_register_history, register.store.app, pupils)
            figures += await measure_service(register, register_settings.database_url or "", "register")
        finally:
            register.store.close()
        notifications_settings = sandbox.settings("notifications")
        await ensure_database(notifications_settings.database_url)
        notes = notifications_bootstrap(notifications_settings, FixedClock(SCHOOL_DAY))
        try:
            await asyncio.to_thread(store_notifications_history, notes.store.app, notifications)
            figures += await measure_service(notes, notifications_settings.database_url or "", "notifications")
        finally:
            notes.store.close()
        return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller log (about 20,000 events each)")
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.quick))))
