"""A query right after a command sees that command: the read side waits (bounded) for its views to reach
what was stored before the query arrived, so a SENCO never sees a register without the pupil just added."""

from datetime import date

import pytest

from contracts.envelope import Accepted, Answered
from contracts.register import EnrolPupil, GetPupil, PupilHistory, PupilIdentity, SchoolRegister
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.stack import Sandbox, as_operator, running_service


@pytest.fixture
async def register(sandbox: Sandbox):
    # The views poll rarely here, so only the read side's wait (or luck with NOTIFY) can show the write.
    settings = sandbox.settings("register", poll_seconds=5.0)
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            yield runtime, client


async def test_each_query_right_after_a_command_sees_it(register) -> None:
    _, client = register
    for serial in range(1, 21):
        added = await client.command(add_to_sen_support(serial))
        assert isinstance(added, Accepted), added
        school = await client.query(SchoolRegister(school_urn="123456"))
        assert isinstance(school, Answered)
        assert upn(serial) in [e.upn for e in school.result.entries], f"pupil {serial} missing right after adding"
        pupil = await client.query(GetPupil(upn=upn(serial)))
        assert isinstance(pupil, Answered) and [h.status for h in pupil.result.history] == ["K"]
    enrolled = PupilIdentity(upn=upn(99), given_name="Ava", family_name="Shah", date_of_birth=date(2018, 1, 9))
    assert isinstance(
        await client.command(EnrolPupil(school_urn="123456", pupil=enrolled, on_roll_from=date(2026, 9, 1))), Accepted
    )
    history = await client.query(PupilHistory(upn=upn(99)))
    assert isinstance(history, Answered) and [h.what for h in history.result] == ["put on the roll"]
