"""A duty to tell that could not be met stays owed until it is: when the parents of a pupil added to SEN
support before anyone was recorded are recorded, they are told, once; the school's list of families not yet
told no longer shows it; recording them again tells nobody twice."""

from datetime import date

from contracts.envelope import Answered
from contracts.notifications import UndeliveredNotifications
from contracts.register import RecordPeopleWithParentalResponsibility
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.notifications import delivery_settings, notifications_service, outbox_files, rows
from tests.support.register_events import father, mother
from tests.support.stack import Sandbox, as_operator, eventually, running_service


async def test_parents_recorded_after_the_pupil_was_added_are_told_then_once(sandbox: Sandbox, tmp_path) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)):
        async with notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path)) as notes:
            async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
                added = await client.command(add_to_sen_support(1, effective_date=date(2026, 11, 20)))
                pupil_id = added.result.pupil_id

                async def states():
                    return sorted(r["status"] for r in await rows(notes, pupil_id))

                await eventually(lambda: _is(states, ["cannot_notify"]), what="nobody to tell yet")
                waiting = await client.query(UndeliveredNotifications(school_urn="123456"))
                assert isinstance(waiting, Answered) and [n.status for n in waiting.result.notifications] == [
                    "cannot_notify"
                ]

                people = RecordPeopleWithParentalResponsibility(upn=upn(1), people=[mother(1), father(1)])
                assert (await client.command(people)).outcome == "accepted"
                await eventually(
                    lambda: _is(states, ["delivered", "delivered", "told_later"]),
                    what="both parents told, the unmet duty told later",
                )
                found = await rows(notes, pupil_id)
                later = [r for r in found if r["status"] == "delivered"]
                assert sorted(r["recipient_name"] for r in later) == ["Alex Taylor1", "Jordan Reed1"]
                assert all(r["duty"] == "sen_provision_started" for r in later)
                assert len(outbox_files(tmp_path)) == 2  # an email to the mother, a letter to the father
                waiting = await client.query(UndeliveredNotifications(school_urn="123456"))
                assert isinstance(waiting, Answered) and waiting.result.notifications == []

                # recorded again (a new phone number): the duty was met; nobody is told twice
                again = RecordPeopleWithParentalResponsibility(
                    upn=upn(1), people=[mother(1, mobile="07700 900999"), father(1)]
                )
                assert (await client.command(again)).outcome == "accepted"
                await eventually(lambda: _processed_people_events(notes, 2), what="the second recording seen")
                assert await states() == ["delivered", "delivered", "told_later"]
                assert len(outbox_files(tmp_path)) == 2


async def _is(states, expected) -> bool:
    return await states() == expected


async def _processed_people_events(runtime, count: int) -> bool:
    tracked = await runtime.pool.fetchval(
        "SELECT count(*) FROM notifications_tracking WHERE application_name = 'register'"
    )
    return tracked >= 1 + count  # the duty, then each recording of the people
