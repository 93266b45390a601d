"""The tracked consumer applies what it fetches in batches, one transaction each, against real JetStream and
PostgreSQL: a reaction that fails makes its batch fall back to one message at a time (only it is retried, then
dead-lettered; every other message takes effect once); a batch delivered again has no second effect; and two
messages of one batch about the same aggregate both take effect, in order, each stamped with its own cause."""

import asyncio
from collections import Counter

import nats
import pytest
from eventsourcing.persistence import Tracking

from contracts.register import PeopleToTellRecorded, PupilAddedToSenSupport
from contracts.subjects import event_subject
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.domain.notification import Notification, UnmetDuties
from services.notifications.policies import (
    looked_up,
    when_duty_to_tell_arises_owe_notifications,
    when_register_or_ehcp_event,
)
from services.runtime.aggregate import event_metadata
from services.runtime.clock import FixedClock
from services.runtime.consumer import EventSourcedReaction, TrackedConsumer
from services.runtime.database import ensure_database
from services.runtime.streams import ensure_streams
from tests.conftest import SCHOOL_DAY
from tests.support.register_events import mother, publish, pupil_added, wrap
from tests.support.stack import Sandbox, as_operator, eventually, stream_messages


class CountingReaction(EventSourcedReaction):
    """The runtime's reaction, counting the batches it was given and how many of them it stored."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []
        self.stored_batches = 0

    async def apply_batch(self, envelopes):
        self.batches.append(len(envelopes))
        applied = await super().apply_batch(envelopes)
        self.stored_batches += 1
        return applied


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

    def start(sink, *, backoff=(0.3,), max_attempts=3) -> TrackedConsumer:
        consumer = TrackedConsumer(
            "notifications-batches",
            js,
            sink,
            stream=settings.events_stream,
            prefix=settings.subject_prefix,
            filter_subjects=[event_subject(settings.subject_prefix, PupilAddedToSenSupport.TYPE)],
            max_attempts=max_attempts,
            backoff_seconds=backoff,
            ack_wait_seconds=5,
            batch_size=50,
            fetch_timeout=0.3,
        )
        tasks.append(asyncio.create_task(consumer.run()))
        return consumer

    def stored(kind) -> list:
        app = service.store.app
        return [
            e
            for e in (app.mapper.to_domain_event(n) for n in app.notifications_after(0, 10_000))
            if isinstance(e, kind)
        ]

    yield settings, js, start, stored, service
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await nc.close()
    service.store.close()


async def test_a_batch_whose_reaction_fails_is_applied_one_at_a_time_and_only_the_bad_one_is_retried(world) -> None:
    settings, js, start, stored, service = world
    calls: Counter = Counter()

    def poisoned(app, envelope):
        calls[envelope.sequence] += 1
        if envelope.sequence == 3:
            raise ValueError("this pupil's record cannot be read")
        return when_duty_to_tell_arises_owe_notifications(app, envelope)

    for seq in range(1, 9):  # all waiting before the consumer starts: its first fetch takes them in one batch
        await publish(js, settings.subject_prefix, pupil_added(seq, [mother(seq)]))
    sink = CountingReaction(service.store, service.clock, poisoned)
    consumer = start(sink)

    async def settled() -> bool:
        return consumer.applied == 7 and consumer.dead_lettered == 1

    await eventually(settled, what="seven applied, the poison dead-lettered")
    assert sink.batches[0] == 8 and sink.stored_batches == 0  # the one batch fell back: nothing stored by it
    assert calls[1] == 2 and calls[2] == 2  # decided in the batch, then again on their own
    assert all(calls[seq] == 1 for seq in range(4, 9))  # the batch stopped at the poison
    assert calls[3] >= 3  # retried on its own until its attempts were used up
    owed = stored(Notification.Owed)
    assert sorted(e.about for e in owed) == sorted(f"Sam Taylor{n}" for n in (1, 2, 4, 5, 6, 7, 8))  # once each
    [letter] = await stream_messages(as_operator(settings.nats_url), settings.dead_letter_stream)
    assert letter.headers["Sendcase-Attempts"] == "3"
    assert "cannot be read" in letter.headers["Sendcase-Reason"]
    assert consumer.duplicates == 0


async def test_a_batch_delivered_again_after_its_commit_has_no_second_effect(world) -> None:
    settings, js, start, stored, service = world

    class DiesAfterCommit(CountingReaction):
        """The process dies after the batch's commit, before the acks: JetStream will deliver it all again."""

        died = False

        async def apply_batch(self, envelopes):
            applied = await super().apply_batch(envelopes)
            if not self.died:
                self.died = True
                raise ConnectionError("process killed after the commit, before the ack")
            return applied

    for seq in range(1, 6):
        await publish(js, settings.subject_prefix, pupil_added(seq, [mother(seq)]))
    sink = DiesAfterCommit(service.store, service.clock, when_duty_to_tell_arises_owe_notifications)
    consumer = start(sink)

    async def settled() -> bool:
        return consumer.duplicates == 5

    await eventually(settled, what="the five messages found already applied")
    assert sink.stored_batches == 1 and consumer.applied == 0
    assert len(stored(Notification.Owed)) == 5

    # the same messages applied again as a batch (a redelivery after ack_wait), with a new one among them and
    # one of them twice (re-published): only the new one has an effect, once
    again = [pupil_added(seq, [mother(seq)]) for seq in (1, 2, 6, 6, 3)]
    assert await sink.apply_batch(again) == [False, False, True, False, False]
    assert await sink.apply_batch(again) == [False] * 5
    assert sorted(e.about for e in stored(Notification.Owed)) == sorted(f"Sam Taylor{n}" for n in range(1, 7))
    assert service.store.app.tracked_among([Tracking("register", n) for n in (1, 6, 7)]) == {
        ("register", 1),
        ("register", 6),
    }


@pytest.mark.parametrize("prefetch", [None, looked_up], ids=["loading-each", "prefetched"])
async def test_two_messages_of_one_batch_about_the_same_pupil_both_take_effect_in_order(world, prefetch) -> None:
    _settings, _js, _start, stored, service = world
    sink = EventSourcedReaction(service.store, service.clock, when_register_or_ehcp_event, prefetch)
    nobody_yet = pupil_added(1)  # nobody recorded: the duty cannot be met yet, and waits for the pupil
    pupil_id = nobody_yet.subject.pupil_id
    assert pupil_id is not None
    recorded = wrap(PeopleToTellRecorded(pupil_id=pupil_id, people_to_tell=[mother(1)]), "register", 2, pupil_id)

    assert await sink.apply_batch([nobody_yet, recorded]) == [True, True]

    app = service.store.app
    unmet_id = Notification.create_id(nobody_yet.event_id, None)
    unmet: Notification = app.repository.get(unmet_id)
    assert unmet.status == "told_later"  # the second message saw the first's undecided duty, uncommitted
    [told] = [app.repository.get(i) for i in unmet.owed_to]
    assert told.status == "rendered" and told.recipient["name"] == "Alex Taylor1"
    index: UnmetDuties = app.repository.get(UnmetDuties.create_id(pupil_id))
    assert index.waiting == []  # waited after the first message, met after the second: in order
    assert [type(e).__name__ for e in app.events.get(index.id)] == ["Started", "Waiting", "Met"]

    # each event stamped with the message that caused it: actor the service, correlation and causation its own
    owed = {e.originator_id: e for e in stored(Notification.Owed)}
    assert event_metadata(owed[unmet_id])["causation_id"] == str(nobody_yet.event_id)
    assert event_metadata(owed[unmet_id])["correlation_id"] == str(nobody_yet.correlation_id)
    assert event_metadata(owed[told.id])["causation_id"] == str(recorded.event_id)
    assert event_metadata(owed[told.id])["correlation_id"] == str(recorded.correlation_id)
    [told_later] = stored(Notification.ToldLater)
    assert event_metadata(told_later)["causation_id"] == str(recorded.event_id)
    assert event_metadata(told_later)["actor"]["user_id"] == "service:notifications"
    _started, waiting, met = app.events.get(index.id)
    assert event_metadata(waiting)["causation_id"] == str(nobody_yet.event_id)
    assert event_metadata(met)["causation_id"] == str(recorded.event_id)
