"""A batch of decisions on the in-memory store: a later item sees what an earlier one decided before anything
is saved, each item's events carry its own context, and a unit that is dropped leaves nothing behind."""

import pytest
from eventsourcing.persistence import Tracking

from contracts.register import PeopleToTellRecorded
from services.notifications.application import Notifications
from services.notifications.domain.notification import Notification, UnmetDuties
from services.notifications.policies import looked_up, when_register_or_ehcp_event
from services.runtime.aggregate import event_metadata
from services.runtime.clock import FixedClock
from services.runtime.consumer import EventSourcedReaction
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.eventstore import IN_MEMORY_ENV, EventStore
from services.runtime.unit_of_work import unit_of_work
from tests.conftest import SCHOOL_DAY
from tests.support.register_events import mother, pupil_added, wrap


@pytest.mark.parametrize("prefetch", [None, looked_up], ids=["loading-each", "prefetched"])
async def test_a_batch_on_the_in_memory_store_sees_its_own_decisions_and_is_recorded_once(prefetch) -> None:
    store = EventStore(Notifications(env=IN_MEMORY_ENV), threads=1)
    try:
        sink = EventSourcedReaction(store, FixedClock(SCHOOL_DAY), when_register_or_ehcp_event, prefetch)
        nobody = pupil_added(1)
        pupil_id = nobody.subject.pupil_id
        assert pupil_id is not None
        recorded = wrap(PeopleToTellRecorded(pupil_id=pupil_id, people_to_tell=[mother(1)]), "register", 2, pupil_id)
        assert await sink.apply_batch([nobody, recorded, nobody]) == [True, True, False]
        assert await sink.apply_batch([recorded, pupil_added(3, [mother(3)])]) == [False, True]
        app = store.app
        assert app.tracked_among([Tracking("register", n) for n in (1, 2, 3, 4)]) == {
            ("register", 1),
            ("register", 2),
            ("register", 3),
        }
        unmet: Notification = app.repository.get(Notification.create_id(nobody.event_id, None))
        assert unmet.status == "told_later"
        assert app.repository.get(UnmetDuties.create_id(pupil_id)).waiting == []
        [told_later] = [e for e in app.events.get(unmet.id) if isinstance(e, Notification.ToldLater)]
        assert event_metadata(told_later)["causation_id"] == str(recorded.event_id)
    finally:
        store.close()


def test_a_dropped_unit_leaves_nothing_and_the_repository_is_itself_again() -> None:
    app = Notifications(env=IN_MEMORY_ENV)
    token = set_context(CommandContext(actor=pupil_added(1).actor, now=SCHOOL_DAY))
    try:
        envelope = pupil_added(5, [mother(5)])
        with unit_of_work(app) as unit:
            made = when_register_or_ehcp_event(app, envelope)
            unit.stage(made)
            assert made[0].id in app.repository  # the unit's own, not yet saved
            assert all("meta" in vars(e) for e in made[0].pending_events)  # stamped with the item's context
        assert made[0].id not in app.repository  # dropped: never saved
        assert app.max_notification_id() == 0
    finally:
        reset_context(token)
