"""Read models applied in batches (one statement per table per batch) keep exactly the rows that applying
the events one at a time gives: several events on one pupil or notification in one batch, a status changed
back and forth, a removal, a move of school, a channel that failed; and a bad event in a batch is parked
alone while the rest of its batch is applied."""

import asyncio
from datetime import date, timedelta
from typing import Any

from contracts.envelope import Role, derived_id
from contracts.identifiers import NeedType
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.domain.notification import Notification
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.register.projections.pupil_history import status_history_of
from services.runtime.access import Grant
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.logfollower import LogFollower
from services.runtime.projection import ProjectionRunner
from tests.conftest import SCHOOL_DAY, TODAY
from tests.support.factories import senco, upn
from tests.support.register_events import mother
from tests.support.stack import Sandbox, eventually

REGISTER_TABLES = {
    "register_views": [
        "SELECT * FROM register_pupils ORDER BY pupil_id",
        "SELECT * FROM register_timeline ORDER BY pupil_id, log_position",
    ],
    "pupil_history": [
        "SELECT * FROM pupil_history ORDER BY pupil_id, log_position",
        "SELECT * FROM pupil_history_schools ORDER BY pupil_id",
        "SELECT * FROM pupil_status_history ORDER BY pupil_id, log_position",
    ],
    "access_grants": ["SELECT * FROM register_access_grants ORDER BY grant_id"],
}
NOTIFICATION_TABLES = {"notifications_by_pupil": ["SELECT * FROM notifications_by_pupil ORDER BY notification_id"]}


def in_context(fn: Any) -> None:
    token = set_context(CommandContext(actor=senco(), now=SCHOOL_DAY))
    try:
        fn()
    finally:
        reset_context(token)


def mixed_register_history(app: Any, family_names: dict[int, str] | None = None) -> None:
    """Pupil 1: K, needs changed, removed (N), K again, moved school. Pupil 2: K, then removed. Pupil 3: only
    on the roll, its mother and father given access and the mother's ended. Pupil 4: K, moved, the move acknowledged.
    All saved together (one page, one batch)."""
    names = family_names or {}

    def store() -> None:
        pupils = []
        for serial in range(1, 5):
            pupils.append(
                Pupil(
                    upn=upn(serial),
                    given_name="Sam",
                    family_name=names.get(serial, f"Taylor{serial}"),
                    date_of_birth=date(2017, 3, 14),
                    school_urn="123456",
                    on_roll_from=date(2026, 9, 3),
                )
            )
        one, two, three, four = pupils
        support = dict(actor=senco(), today=TODAY, secondary_need=None, evidence_reference=None)
        for pupil in (one, two, four):
            pupil.add_to_sen_support(
                primary_need=NeedType.ASD, effective_date=date(2026, 9, 20), reason="APDR", **support
            )
        one.change_needs(primary_need=NeedType.SLCN, effective_date=date(2026, 10, 1), reason="review", **support)
        for pupil in (one, two):
            pupil.remove_from_sen_register(
                actor=senco(),
                today=TODAY,
                effective_date=date(2026, 10, 20),
                reason="progress",
                evidence_reference=None,
            )
        one.add_to_sen_support(primary_need=NeedType.SEMH, effective_date=date(2026, 11, 2), reason="again", **support)
        for pupil in (one, four):
            pupil.transfer_to(actor=senco(), today=TODAY, to_school_urn="654321", leaving_date=TODAY, reason="moved")
        four.acknowledge_transfer(actor=senco("654321"), today=TODAY, received_on=TODAY)
        for parent in ("mum", "dad"):
            three.grant_access(
                Grant(
                    grant_id=derived_id("grant", parent),
                    user_id=f"urn:fdc:gov.uk:2022:{parent}",
                    role=Role.PARENT,
                    pupil_id=three.id,
                    relationship="mother" if parent == "mum" else "father",
                    granted_on=TODAY,
                    person_id=derived_id("person", parent),
                )
            )
        three.revoke_access_of(derived_id("person", "mum"), TODAY, "court order")
        app.save(*pupils)

    in_context(store)


def notifications_history(app: Any) -> None:
    """Three notifications: delivered; failed on its first channel for good, then sent on the next;
    only owed and rendered."""

    def store() -> None:
        notes = []
        for serial in range(1, 4):
            person = mother(serial)
            note = Notification(
                cause_event_id=Pupil.create_id(upn(serial)),
                cause_event_type="register.pupil_added_to_sen_support",
                duty="pupil_added_to_sen_support",
                pupil_id=Pupil.create_id(upn(serial)),
                case_id=None,
                school_urn="123456",
                person_id=person.person_id,
                recipient=person.model_dump(mode="json"),
                owed_since=TODAY,
                about="added to SEN support",
                facts={},
            )
            note.render("sen_support", "Subject", "Body", "SMS", "ab" * 32)
            channel = note.channel
            assert channel is not None
            if serial == 2:
                note.start_sending(channel)
                note.record_failure(channel, "bounced", True, SCHOOL_DAY, timedelta(minutes=5), 3)
                channel = note.channel
                assert channel is not None
            if serial < 3:
                note.start_sending(channel)
                note.record_sent(channel, f"ref-{serial}")
            if serial == 1:
                note.record_delivered(channel, "delivered")
            notes.append(note)
        app.save(*notes)

    in_context(store)


async def snapshot(pool: Any, queries: list[str]) -> list[list[dict[str, Any]]]:
    return [[dict(r) for r in await pool.fetch(q)] for q in queries]


async def views_in_batches_and_one_at_a_time(
    service: Any, database_url: str, tables: dict[str, list[str]]
) -> dict[str, tuple[Any, Any]]:
    """Each projection's tables rebuilt with the whole log in one batch, then with one event per batch."""
    pool = await create_pool(database_url, max_size=4)
    positions = PositionStore(pool)
    await positions.setup()
    last = service.store.app.max_notification_id()
    found = {}
    try:
        for projection in service.projections:
            results = []
            for batch_size in (10_000, 1):
                follower = LogFollower(service.store, database_url, poll_seconds=0.2, batch_size=batch_size)
                runner = ProjectionRunner(projection, follower, pool, positions)
                await runner.setup()
                await runner.rebuild()
                runner._restart.clear()
                page = await follower.next_page(0, runner._decode)
                while True:
                    await runner.apply_batch(page)
                    if page[-1].id >= last:
                        break
                    page = await follower.next_page(page[-1].id, runner._decode)
                await follower.close()
                assert await pool.fetchval("SELECT count(*) FROM runtime_parked_events") == 0
                results.append(await snapshot(pool, tables[projection.name]))
            found[projection.name] = (results[0], results[1])
    finally:
        await pool.close()
    return found


async def test_register_views_in_batches_equal_one_event_at_a_time(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    await ensure_database(settings.database_url)
    service = register_bootstrap(settings, FixedClock(SCHOOL_DAY))
    try:
        mixed_register_history(service.store.app)
        found = await views_in_batches_and_one_at_a_time(service, settings.database_url, REGISTER_TABLES)
    finally:
        service.store.close()
    for name, (batched, one_by_one) in found.items():
        assert batched == one_by_one, name
    [pupils, timeline] = found["register_views"][0]
    by_upn = {p["upn"]: p for p in pupils}
    assert by_upn[upn(1)]["status"] == "K" and by_upn[upn(1)]["primary_need"] == "SEMH"
    assert by_upn[upn(1)]["school_urn"] == "654321" and by_upn[upn(1)]["removed_on"] is None
    assert by_upn[upn(2)]["status"] == "N" and by_upn[upn(2)]["removed_on"] == date(2026, 10, 20)
    assert by_upn[upn(3)]["status"] == "N" and not by_upn[upn(4)]["awaiting_acknowledgement"]
    one = by_upn[upn(1)]["pupil_id"]
    assert [t["status"] for t in timeline if t["pupil_id"] == one] == ["N", "K", "K", "N", "K", "K"]
    statuses = [r for r in found["pupil_history"][0][2] if r["pupil_id"] == one]
    assert [(s["status"], s["primary_need"]) for s in statuses] == [
        ("K", "ASD"),
        ("K", "SLCN"),
        ("N", None),
        ("K", "SEMH"),
    ]
    [[grant]] = found["access_grants"][0]  # the father's stands, the mother's was ended
    assert (grant["relationship"], grant["user_id"]) == ("father", "urn:fdc:gov.uk:2022:dad")


async def test_status_history_in_batches_equals_the_pure_fold(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    await ensure_database(settings.database_url)
    service = register_bootstrap(settings, FixedClock(SCHOOL_DAY))
    try:
        mixed_register_history(service.store.app)
        found = await views_in_batches_and_one_at_a_time(service, settings.database_url, REGISTER_TABLES)
        one = Pupil.create_id(upn(1))
        events = list(service.store.app.events.get(one))
    finally:
        service.store.close()
    expected = [(c.status.value, c.primary_need.value if c.primary_need else None) for c in status_history_of(events)]
    rows = [r for r in found["pupil_history"][0][2] if r["pupil_id"] == one]
    assert [(r["status"], r["primary_need"]) for r in rows] == expected


async def test_notifications_view_in_batches_equals_one_event_at_a_time(sandbox: Sandbox) -> None:
    settings = sandbox.settings("notifications")
    await ensure_database(settings.database_url)
    service = notifications_bootstrap(settings, FixedClock(SCHOOL_DAY))
    try:
        notifications_history(service.store.app)
        found = await views_in_batches_and_one_at_a_time(service, settings.database_url, NOTIFICATION_TABLES)
    finally:
        service.store.close()
    [[rows]] = [found["notifications_by_pupil"][0]]
    assert found["notifications_by_pupil"][0] == found["notifications_by_pupil"][1]
    by_status = sorted((r["status"], len(r["unreachable_channels"])) for r in rows)
    assert by_status == [("delivered", 0), ("rendered", 0), ("sent", 1)]
    failed = next(r for r in rows if r["unreachable_channels"])
    assert '"bounced' in failed["history"] and failed["attempts"] >= 1


async def test_a_bad_event_in_a_batch_is_parked_alone_and_the_rest_of_the_batch_applied(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    await ensure_database(settings.database_url)
    service = register_bootstrap(settings, FixedClock(SCHOOL_DAY))
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        mixed_register_history(service.store.app, family_names={2: "Tay\x00lor"})  # as old data could be
        positions = PositionStore(pool)
        await positions.setup()
        [views, _history, _grants] = service.projections
        follower = LogFollower(service.store, settings.database_url, poll_seconds=0.2, batch_size=10_000)
        runner = ProjectionRunner(views, follower, pool, positions)
        await runner.setup()
        last = service.store.app.max_notification_id()
        page = await follower.next_page(0, runner._decode)
        assert page[-1].id == last  # the whole history in one batch
        await runner.apply_batch(page)
        await follower.close()
        parked = await runner.parked.listed()
        assert [p["topic"].rsplit(".", 1)[-1] for p in parked] == ["Registered"]
        assert await positions.get(runner.key) == last and runner.position == last
        upns = [r["upn"] for r in await pool.fetch("SELECT upn FROM register_pupils ORDER BY upn")]
        assert upns == sorted([upn(1), upn(3), upn(4)])  # pupil 2 never made it; their later events change nothing
        assert (
            await pool.fetchval("SELECT count(*) FROM register_timeline WHERE pupil_id = $1", Pupil.create_id(upn(2)))
            == 0
        )
    finally:
        await pool.close()
        service.store.close()


async def test_an_idle_projection_sleeps_and_notify_wakes_it(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    await ensure_database(settings.database_url)
    service = register_bootstrap(settings, FixedClock(SCHOOL_DAY))
    pool = await create_pool(settings.database_url, max_size=4)
    reads = 0
    real = service.store.app.notifications_after

    def counted(position: int, limit: int) -> Any:
        nonlocal reads
        reads += 1
        return real(position, limit)

    service.store.app.notifications_after = counted  # type: ignore[method-assign]
    try:
        positions = PositionStore(pool)
        await positions.setup()
        follower = LogFollower(service.store, settings.database_url, poll_seconds=30.0, batch_size=2000)
        runner = ProjectionRunner(service.projections[0], follower, pool, positions)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(1.5)
        assert reads <= 2, reads  # idle: one read, then asleep until NOTIFY (or the poll, 30 s away)
        mixed_register_history(service.store.app)
        last = service.store.app.max_notification_id()

        async def caught_up() -> bool:
            return runner.position >= last

        await eventually(caught_up, timeout=5, what="the projection woken by NOTIFY")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await follower.close()
    finally:
        await pool.close()
        service.store.close()
