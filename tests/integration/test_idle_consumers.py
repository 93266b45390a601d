"""An idle consumer never crashes: left with nothing to fetch across many fetch timeouts (nats-py sometimes
raises asyncio's TimeoutError, not its own, on an empty fetch), its loop keeps running, and a provision
recorded by a SENCO afterwards reaches the notifications service in well under a second."""

import asyncio
import io
import logging
import time

import structlog

from contracts.register import RecordPeopleWithParentalResponsibility
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.logging import configure_logging
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.notifications import delivery_settings, notifications_service, rows
from tests.support.register_events import mother
from tests.support.stack import Sandbox, as_operator, running_service


async def test_an_idle_service_does_not_crash_and_a_command_reaches_notifications_in_under_a_second(
    sandbox: Sandbox, tmp_path
) -> None:
    buffer = io.StringIO()
    configure_logging("test", "json", "INFO", file=buffer)
    try:
        settings = sandbox.settings("register")
        async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)):
            async with notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path)) as notes:
                await asyncio.sleep(12)  # a dozen empty one-second fetches for each consumer
                async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
                    await client.command(add_to_sen_support(1))
                    await asyncio.sleep(1.5)
                    start = time.monotonic()
                    people = RecordPeopleWithParentalResponsibility(upn=upn(1), people=[mother(1)])
                    assert (await client.command(people)).outcome == "accepted"
                    while not [r for r in await rows(notes) if r["person_id"] is not None]:
                        assert time.monotonic() - start < 5, "the owed notification never came"
                        await asyncio.sleep(0.01)
                    took = time.monotonic() - start
        assert took < 1.0, f"command -> notification owed took {took:.2f}s"
        assert "loop_crashed" not in buffer.getvalue()
        assert "consumer.started" in buffer.getvalue()
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        logging.basicConfig(force=True)
