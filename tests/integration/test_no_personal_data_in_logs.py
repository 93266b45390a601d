"""Logs carry ids, never personal data. The register and notifications run a SENCO's day (parents with
email, mobile and postal addresses, a child looked after with a protected address, refusals that name the
child, an unexpected failure with personal data in its local variables, a malformed GOV.UK Notify callback)
with logging as in production, console and JSON; no name, email, phone or address from it is in any line."""

import io
import logging
from datetime import date

import pytest
import structlog

from contracts.envelope import Rejected
from contracts.register import (
    AddToSenSupport,
    EnrolPupil,
    NoteConcern,
    PupilIdentity,
    RecordLookedAfter,
    RecordPeopleWithParentalResponsibility,
)
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.logging import configure_logging
from tests.conftest import SCHOOL_DAY
from tests.support.factories import senco, upn
from tests.support.notifications import delivery_settings, notifications_service, rows
from tests.support.register_events import father, mother
from tests.support.register_factories import PROTECTED
from tests.support.stack import Sandbox, as_operator, eventually, running_service

PERSONAL = [
    "Ruby",
    "Okonkwo-Hale",
    "Alex Taylor7",
    "alex.taylor7@example.org",
    "07700 900123",
    "12 Front Street",
    "DH1 3AB",
    "Jordan Reed7",
    "4 Elvet Bridge",
    "DH1 3AF",
    "12 Hidden Lane",
    "DH1 9ZZ",
]


@pytest.fixture(params=["console", "json"])
def log_text(request):
    buffer = io.StringIO()
    configure_logging("test", request.param, "DEBUG", file=buffer)
    yield buffer
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    logging.basicConfig(force=True)


async def test_a_sencos_day_leaves_no_personal_data_in_the_logs(sandbox: Sandbox, tmp_path, log_text) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register:
        async with notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path)) as notes:
            async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
                ruby = PupilIdentity(
                    upn=upn(7), given_name="Ruby", family_name="Okonkwo-Hale", date_of_birth=date(2016, 5, 2)
                )
                add = AddToSenSupport(
                    school_urn="123456",
                    pupil=ruby,
                    primary_need="SLCN",
                    effective_date=date(2026, 11, 20),
                    reason="Ruby finds phonics hard",
                )
                people = [mother(7), father(7)]
                assert (
                    await client.command(RecordPeopleWithParentalResponsibility(upn=upn(7), people=people))
                ).outcome == "rejected"  # not on a roll yet: refused, naming the UPN only
                enrol = EnrolPupil(school_urn="123456", pupil=ruby, on_roll_from=date(2026, 9, 1))
                assert (await client.command(enrol)).outcome == "accepted"
                people_recorded = RecordPeopleWithParentalResponsibility(upn=upn(7), people=people)
                assert (await client.command(people_recorded)).outcome == "accepted"
                assert (await client.command(add)).outcome == "accepted"
                await client.command(
                    RecordLookedAfter(upn=upn(7), looked_after=True, pep_reference="PEP-7", protected_address=PROTECTED)
                )
                again = await client.command(add)  # refused: "Ruby Okonkwo-Hale is already on SEN support"
                assert isinstance(again, Rejected) and "Ruby" in again.message
                app = register.service.store.app

                def broken(**_):
                    parent_email, home = "alex.taylor7@example.org", "12 Front Street, DH1 3AB"  # noqa: F841
                    raise RuntimeError(f"could not write to {parent_email}")

                app.note_concern = broken
                failed = await client.command(NoteConcern(upn=upn(7), note="x", noted_on=date(2026, 11, 2)))
                assert isinstance(failed, Rejected) and failed.code == "internal_error"
                await eventually(lambda: _rows_settled(notes), what="the parents' notices written")
    text = log_text.getvalue()
    assert "request.failed" in text and "Traceback" in text  # the failure is logged, with its traceback
    found = [value for value in PERSONAL if value in text]
    assert found == [], f"personal data in the logs: {found}"


async def _rows_settled(runtime) -> bool:
    found = await rows(runtime)
    return len(found) == 2 and all(r["status"] in ("delivered", "sent") for r in found)
