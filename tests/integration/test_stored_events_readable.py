"""Stored events written before the 2026-11 module moves are still readable, on real PostgreSQL.

tests/fixtures/stored_events_2026_11.json holds every stored event of the register and notifications
applications with the class topics of that time (made once by tests/fixtures/make_stored_events.py; never
regenerate it after the moves). Each test inserts them with the library's recorder into a fresh event store
of the service's application on PostgreSQL, then reads them back as the services do: aggregates through the
repository, streams through app.events, the log through the recorder and notification log mapped to domain
events (as the relay and projections replay it). A moved class whose old topic is not registered
(eventsourcing.utils.register_topic) fails here.
"""

import pytest

from services.runtime.database import ensure_database
from services.runtime.eventstore import postgres_env
from tests.support import stored_events as fixture
from tests.support.stack import Sandbox


@pytest.fixture(params=sorted(fixture.APPLICATIONS))
async def restored(request, sandbox: Sandbox):
    name = request.param
    url = sandbox.database_url(name)
    assert await ensure_database(url), "a fresh database for the restored event store"
    app = fixture.APPLICATIONS[name](env=postgres_env(url, pool_size=2))
    try:
        fixture.insert_fixture(app, name)
        yield app, name
    finally:
        app.close()


async def test_every_old_stored_event_maps_to_its_domain_event(restored) -> None:
    app, name = restored
    fixture.check_log_maps_to_domain_events(app, name)
    fixture.check_streams(app, name)


async def test_every_aggregate_reads_back_from_old_stored_events_with_its_state(restored) -> None:
    app, name = restored
    (fixture.check_register if name == "register" else fixture.check_notifications)(app)
    fixture.check_known_outcomes(app, name)
