"""The tracked consumer against real JetStream and PostgreSQL: exactly-once effects, redelivery with
backoff, and dead letters that do not block what is behind them."""

import asyncio
from collections import Counter

import nats
import pytest

from contracts.envelope import EventEnvelope
from contracts.register import PupilAddedToSenSupport
from contracts.subjects import dead_letter_subject, event_subject
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.domain.notification import Notification
from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
from services.runtime.clock import FixedClock
from services.runtime.consumer import EventSourcedReaction, TrackedConsumer
from services.runtime.database import ensure_database
from services.runtime.streams import ensure_streams
from tests.conftest import SCHOOL_DAY
from tests.support.register_events import publish, pupil_added
from tests.support.stack import Sandbox, as_operator, eventually, stream_messages


@pytest.fixture
async def world(sandbox: Sandbox):
    settings = sandbox.settings("notifications")
    await ensure_database(settings.database_url)
    service = notifications_bootstrap(settings, FixedClock(SCHOOL_DAY))
    nc = await nats.connect(as_operator(settings.nats_url))
    js = nc.jetstream()
    await ensure_streams(
        js,
        settings.subject_prefix,
        settings.events_stream,
        settings.dead_letter_stream,
        duplicate_window_seconds=settings.duplicate_window_seconds,
    )
    tasks = []

    def start(react, *, backoff=(0.2, 0.4), max_attempts=3, sink=None) -> TrackedConsumer:
        consumer = TrackedConsumer(
            "notifications-test",
            js,
            sink or EventSourcedReaction(service.store, service.clock, react),
            stream=settings.events_stream,
            prefix=settings.subject_prefix,
            filter_subjects=[event_subject(settings.subject_prefix, PupilAddedToSenSupport.TYPE)],
            max_attempts=max_attempts,
            backoff_seconds=backoff,
            ack_wait_seconds=5,
            fetch_timeout=0.3,
        )
        tasks.append(asyncio.create_task(consumer.run()))
        return consumer

    def owed_notifications() -> list:
        app = service.store.app
        return [
            e
            for e in (app.mapper.to_domain_event(n) for n in app.notifications_after(0, 10_000))
            if isinstance(e, Notification.Owed)
        ]

    yield settings, js, start, owed_notifications, service
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await nc.close()
    service.store.close()


async def test_a_handler_that_fails_midway_is_redelivered_and_has_its_effect_once(world) -> None:
    settings, js, start, owed, _ = world
    calls: Counter = Counter()

    def flaky(app, envelope):
        notifications = when_duty_to_tell_arises_owe_notifications(app, envelope)
        calls[envelope.sequence] += 1
        if calls[envelope.sequence] == 1:
            raise ConnectionError("database went away mid-handler")  # after deciding, before saving
        return notifications

    consumer = start(flaky)
    for seq in range(1, 6):
        await publish(js, settings.subject_prefix, pupil_added(seq))

    async def all_applied() -> bool:
        return consumer.applied == 5

    await eventually(all_applied, what="five effects")
    assert all(n == 2 for n in calls.values())  # each failed once, then succeeded on redelivery
    assert sorted(e.about for e in owed()) == [f"Sam Taylor{n}" for n in range(1, 6)]


async def test_an_effect_committed_before_a_lost_ack_is_not_repeated(world) -> None:
    settings, js, start, owed, service = world
    real = EventSourcedReaction(service.store, service.clock, when_duty_to_tell_arises_owe_notifications)
    crashed = set()

    class CrashAfterCommit:
        async def apply(self, envelope):
            applied = await real.apply(envelope)
            if envelope.sequence not in crashed:
                crashed.add(envelope.sequence)
                raise RuntimeError("process died after the commit, before the ack")
            return applied

    consumer = start(None, sink=CrashAfterCommit())
    for seq in range(1, 4):
        await publish(js, settings.subject_prefix, pupil_added(seq))

    async def settled() -> bool:
        return consumer.duplicates == 3

    await eventually(settled, what="three redeliveries recognised as duplicates")
    assert consumer.applied == 0  # every redelivery found its position already recorded
    assert len(owed()) == 3


async def test_a_republished_event_has_no_second_effect(world) -> None:
    settings, js, start, owed, _ = world
    consumer = start(when_duty_to_tell_arises_owe_notifications)
    event = pupil_added(1)
    await publish(js, settings.subject_prefix, event)
    # the same fact published again past JetStream's dedupe (another message id), as after a long outage
    await js.publish(
        event_subject(settings.subject_prefix, event.type),
        event.model_dump_json().encode(),
        headers={"Nats-Msg-Id": "register:1:again"},
    )

    async def both_seen() -> bool:
        return consumer.applied + consumer.duplicates == 2

    await eventually(both_seen, what="both copies handled")
    assert (consumer.applied, consumer.duplicates) == (1, 1)
    assert len(owed()) == 1


async def test_a_poison_message_is_dead_lettered_after_its_attempts_and_does_not_block_the_rest(world) -> None:
    settings, js, start, owed, _ = world
    attempts: Counter = Counter()
    poison_tries_when_applied: dict[int, int] = {}

    def poisoned(app, envelope):
        attempts[envelope.sequence] += 1
        if envelope.sequence == 2:
            raise ValueError("this pupil's record cannot be read")
        poison_tries_when_applied[envelope.sequence] = attempts[2]
        return when_duty_to_tell_arises_owe_notifications(app, envelope)

    consumer = start(poisoned, backoff=(1.0, 1.0), max_attempts=3)
    for seq in range(1, 6):
        await publish(js, settings.subject_prefix, pupil_added(seq))

    async def others_done() -> bool:
        return consumer.applied == 4

    await eventually(others_done, what="the four good messages")
    # the messages behind the poison went through while it was still being retried: it blocked nothing
    assert all(poison_tries_when_applied[seq] < 3 for seq in (3, 4, 5)), poison_tries_when_applied
    # (a good message's reaction may run twice, once in a batch with the poison and again when that batch is
    # applied one message at a time; its effect is stored once: the owed notifications below)

    async def dead_lettered() -> bool:
        return consumer.dead_lettered == 1

    await eventually(dead_lettered, what="the poison message in the dead-letter stream")
    # three deliveries (each run on its own), plus a run in each batch it came in with others (then dropped)
    assert attempts[2] >= 3
    [letter] = await stream_messages(as_operator(settings.nats_url), settings.dead_letter_stream)
    assert letter.subject == dead_letter_subject(settings.subject_prefix, "notifications-test")
    assert letter.headers["Sendcase-Attempts"] == "3"
    assert "this pupil's record cannot be read" in letter.headers["Sendcase-Reason"]
    kept = EventEnvelope.model_validate_json(letter.data)  # kept whole, for a person to replay
    assert (kept.producer, kept.sequence, kept.event_id) == ("register", 2, pupil_added(2).event_id)
    assert sorted(e.about for e in owed()) == ["Sam Taylor1", "Sam Taylor3", "Sam Taylor4", "Sam Taylor5"]


async def test_a_message_that_is_not_an_envelope_is_dead_lettered_at_once(world) -> None:
    settings, js, start, _owed, _ = world
    consumer = start(when_duty_to_tell_arises_owe_notifications)
    await js.publish(event_subject(settings.subject_prefix, PupilAddedToSenSupport.TYPE), b"{not json")
    await publish(js, settings.subject_prefix, pupil_added(1))

    async def done() -> bool:
        return consumer.dead_lettered == 1 and consumer.applied == 1

    await eventually(done, what="garbage dead-lettered, good message applied")
    [letter] = await stream_messages(as_operator(settings.nats_url), settings.dead_letter_stream)
    assert letter.headers["Sendcase-Attempts"] == "1"
    assert "not a sendcase event envelope" in letter.headers["Sendcase-Reason"]


async def test_a_consumer_of_several_event_types_takes_only_those(world) -> None:
    # a consumer with a list of filter subjects (nats-server 2.10+, which every service requires) is handed
    # only those: other subjects have no effect and are not recorded.
    settings, js, _, owed, service = world
    from contracts.register import PupilRemovedFromSenRegister

    seen: list[str] = []

    def record(app, envelope):
        seen.append(envelope.type)
        return when_duty_to_tell_arises_owe_notifications(app, envelope)

    consumer = TrackedConsumer(
        "notifications-two-types",
        js,
        EventSourcedReaction(service.store, service.clock, record),
        stream=settings.events_stream,
        prefix=settings.subject_prefix,
        filter_subjects=[
            event_subject(settings.subject_prefix, t)
            for t in (PupilAddedToSenSupport.TYPE, PupilRemovedFromSenRegister.TYPE)
        ],
        max_attempts=3,
        backoff_seconds=[0.2],
        ack_wait_seconds=5,
        fetch_timeout=0.3,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await js.publish(
            f"{settings.subject_prefix}.events.ehcp.something_else", pupil_added(9).model_dump_json().encode()
        )
        await publish(js, settings.subject_prefix, pupil_added(1))

        async def applied() -> bool:
            return consumer.applied == 1

        await eventually(applied, what="the one wanted event")
        await asyncio.sleep(0.5)
        assert seen == [PupilAddedToSenSupport.TYPE] and consumer.dead_lettered == 0 and len(owed()) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
