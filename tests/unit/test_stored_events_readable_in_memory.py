"""Stored events written before the 2026-11 module moves are still readable (in-memory event store).

The same checks as tests/integration/test_stored_events_readable.py, on eventsourcing.popo: quick to run
while moving classes. See tests/support/stored_events.py and tests/fixtures/make_stored_events.py.
"""

import pytest

from services.runtime.eventstore import IN_MEMORY_ENV
from tests.support import stored_events as fixture


@pytest.fixture(params=sorted(fixture.APPLICATIONS))
def restored(request):
    name = request.param
    app = fixture.APPLICATIONS[name](env=IN_MEMORY_ENV)
    fixture.insert_fixture(app, name)
    yield app, name
    app.close()


def test_every_old_stored_event_maps_to_its_domain_event(restored) -> None:
    app, name = restored
    fixture.check_log_maps_to_domain_events(app, name)
    fixture.check_streams(app, name)


def test_every_aggregate_reads_back_from_old_stored_events_with_its_state(restored) -> None:
    app, name = restored
    (fixture.check_register if name == "register" else fixture.check_notifications)(app)
    fixture.check_known_outcomes(app, name)
