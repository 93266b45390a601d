"""One event a read model cannot take never stops it: the event is parked with its error (only it: the
batch is applied one event at a time once it fails), the view carries on, the service says it is degraded,
and an operator retries or skips it. (Before this, a name holding a NUL, stored before the contracts
refused them, left a school's register empty with no error anywhere.)"""

from datetime import date

from contracts.envelope import Answered, ParkedEventsAction, ParkedEventsAnswer, Rejected
from contracts.register import SchoolRegister
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext
from tests.conftest import SCHOOL_DAY, TODAY
from tests.support.factories import add_to_sen_support, caseworker, senco, upn
from tests.support.register_factories import enrol_kwargs
from tests.support.stack import Sandbox, as_operator, eventually, running_service

MANAGER = caseworker().model_copy(update={"role": "la_manager", "user_id": "manager@la.gov.uk"})


async def test_an_event_the_view_cannot_take_is_parked_and_the_view_carries_on(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        store = runtime.service.store
        ctx = CommandContext(actor=senco(), now=SCHOOL_DAY)
        # Stored as old data could have been, before the contracts refused control characters.
        for serial, family in ((1, "Taylor"), (2, "Tay\x00lor"), (3, "Shah")):
            await store.call(
                ctx,
                store.app.enrol_pupil,
                actor=senco(),
                today=TODAY,
                **enrol_kwargs(serial, family_name=family, on_roll_from=date(2026, 9, 1)),
            )
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            assert (await client.command(add_to_sen_support(3))).outcome == "accepted"

            async def register_shows_1_and_3():
                answer = await client.query(
                    SchoolRegister(school_urn="123456", as_at=date(2026, 11, 23)), actor=caseworker()
                )
                return answer if isinstance(answer, Answered) and answer.result.roll == 2 else None

            register = await eventually(register_shows_1_and_3, what="the view past the bad event")
            assert [e.upn for e in register.result.entries] == [upn(3)]  # the one at K
            health = await runtime.health()
            assert health.parked_events == {"register_views": 1}  # the history never copies the name
            assert health.degraded and "parked" in health.degraded[0]
            assert all(lag == 0 for lag in health.projection_lag.values())

            refused = await client.parked_events("register", ParkedEventsAction(actor=senco(), action="list"))
            assert isinstance(refused, Rejected) and refused.code == "not_authorised"
            listed = await client.parked_events("register", ParkedEventsAction(actor=MANAGER, action="list"))
            assert isinstance(listed, ParkedEventsAnswer)
            assert [(p.projection, p.topic.rsplit(".", 1)[-1]) for p in listed.parked] == [
                ("register_views", "Registered")
            ]
            assert all("0x00" in p.error or "\\x00" in p.error or "NUL" in p.error.upper() for p in listed.parked), (
                listed
            )
            assert "Tay" not in "".join(p.error for p in listed.parked)  # the error, never the child's data

            retried = await client.parked_events("register", ParkedEventsAction(actor=MANAGER, action="retry"))
            assert isinstance(retried, ParkedEventsAnswer)
            assert (retried.retried, retried.still_parked, len(retried.parked)) == (0, 1, 1)
            no_reason = await client.parked_events("register", ParkedEventsAction(actor=MANAGER, action="skip"))
            assert isinstance(no_reason, Rejected) and no_reason.rule == "reason_required"
            skipped = await client.parked_events(
                "register",
                ParkedEventsAction(
                    actor=MANAGER, action="skip", reason="Name to be corrected by the school; see ticket 4411"
                ),
            )
            assert isinstance(skipped, ParkedEventsAnswer) and skipped.skipped == 1 and skipped.parked == []
            assert (await runtime.health()).degraded == []
