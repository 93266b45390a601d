"""Each service's application runs the same scenario on the in-memory and the PostgreSQL event store, chosen
by the environment alone (as the eventsourcing library's own examples do): what the unit tests prove in
memory holds on the store production uses."""

from datetime import date, timedelta

import pytest

from contracts.identifiers import NeedType, SenStatus
from services.notifications.application import Notifications
from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
from services.register.application import Register
from services.runtime.database import ensure_database
from services.runtime.errors import DomainError, NotAuthorised
from services.runtime.eventstore import IN_MEMORY_ENV, postgres_env
from tests.conftest import SCHOOL_DAY
from tests.support.factories import caseworker, senco, teacher, upn
from tests.support.inmemory import as_actor, pupil_view
from tests.support.register_events import mother, pupil_added
from tests.support.register_factories import enrol_kwargs, parent
from tests.support.stack import Sandbox


@pytest.fixture(params=["in memory", "postgresql"])
async def env(request, sandbox: Sandbox):
    if request.param == "in memory":
        return dict(IN_MEMORY_ENV)
    url = sandbox.database_url("application")
    await ensure_database(url)
    return postgres_env(url)


async def test_the_register_scenario_is_the_same_on_either_store(env) -> None:
    app = Register(env=env)
    try:
        as_actor(senco(), SCHOOL_DAY, app.enrol_pupil, **enrol_kwargs())
        as_actor(senco(), SCHOOL_DAY, app.record_people_with_parental_responsibility, upn=upn(1), people=[parent()])
        with pytest.raises(NotAuthorised):
            as_actor(teacher(), SCHOOL_DAY, app.note_concern, upn=upn(1), note="x", noted_on=date(2026, 11, 2))
        for primary, on in ((NeedType.SLCN, date(2026, 10, 5)), (NeedType.ASD, date(2026, 11, 2))):
            method = app.add_to_sen_support if primary is NeedType.SLCN else app.change_needs
            kwargs = dict(
                upn=upn(1),
                primary_need=primary,
                secondary_need=None,
                effective_date=on,
                reason="APDR review",
                evidence_reference=None,
            )
            if method == app.add_to_sen_support:
                kwargs.update(
                    school_urn="123456", given_name="Sam", family_name="Taylor1", date_of_birth=date(2017, 3, 14)
                )
            as_actor(senco(), SCHOOL_DAY, method, **kwargs)
        view = pupil_view(app, caseworker(), SCHOOL_DAY, upn(1))
        assert (view.status, view.primary_need) == (SenStatus.SEN_SUPPORT, NeedType.ASD)
        assert [h.status for h in view.history] == [SenStatus.SEN_SUPPORT, SenStatus.SEN_SUPPORT]
        assert [p.name for p in view.people_with_parental_responsibility] == ["Jo Taylor"]
        # enrolled, people (and who names that person: PersonLinks), K, needs: the refused concern stored nothing
        assert app.max_notification_id() == 5
    finally:
        app.close()


async def test_the_notifications_scenario_is_the_same_on_either_store(env) -> None:
    app = Notifications(env=env)
    try:
        [owed] = as_actor(
            senco(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, pupil_added(1, [mother(1)])
        )
        as_actor(senco(), SCHOOL_DAY, app.save, owed)
        as_actor(senco(), SCHOOL_DAY, app.start_sending, owed.id, "email")
        as_actor(
            senco(), SCHOOL_DAY, app.record_failure, owed.id, "email", "421 try later", False, timedelta(minutes=5), 5
        )
        later = SCHOOL_DAY + timedelta(minutes=6)
        as_actor(senco(), later, app.start_sending, owed.id, "email")
        as_actor(senco(), later, app.record_sent, owed.id, "email", "ref-1", "sent", True)
        n = app.notification(owed.id)
        assert (n.status, n.channel, n.attempts) == ("delivered", "email", {"email": 2})
        with pytest.raises(DomainError):  # a delivered notice cannot be cancelled: it reached them
            as_actor(caseworker(), later, app.cancel, owed.id, "handed over at the meeting")
        assert app.max_notification_id() == 7  # owed, rendered, sending, failed, sending, sent, delivered
    finally:
        app.close()
