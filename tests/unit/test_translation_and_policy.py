"""Register events become integration events; the notifications policy turns them into duties."""

from datetime import date

from contracts.envelope import Role
from contracts.notifications import Duty
from contracts.register import PupilAddedToSenSupport
from services.notifications.application import Notifications
from services.notifications.domain.notification import Notification
from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
from services.register.application import Register
from services.register.translation import translate
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_kwargs, add_to_sen_support, senco
from tests.support.inmemory import as_actor


def published(register: Register):
    envelopes = []
    for n in register.notifications_after(0, 100):
        env = translate(register.mapper.to_domain_event(n), n.id)
        if env is not None:
            envelopes.append(env)
    return envelopes


def test_adding_to_sen_support_publishes_one_self_contained_fact() -> None:
    register = Register(env=IN_MEMORY_ENV)
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    [env] = published(register)
    assert env.type == "register.pupil_added_to_sen_support" and env.producer == "register"
    assert env.sequence == 2  # the registration (internal) was 1
    assert env.actor.role is Role.SENCO
    assert env.recorded_at == SCHOOL_DAY
    assert env.occurred_at.date() == date(2026, 11, 20)  # the effective date, in England
    fact = env.payload_as(PupilAddedToSenSupport)
    assert fact.upn == add_to_sen_support().pupil.upn and fact.school_urn == "123456"
    # translating again gives the same event id: a re-publish is recognisably the same fact
    assert published(register)[0].event_id == env.event_id


def test_a_register_event_naming_nobody_records_that_nobody_could_be_told() -> None:
    # Until the register fills people_to_tell from pupil records, its events name nobody: that must show
    # as a visible "cannot notify" fact for the school, never a silent drop.
    register = Register(env=IN_MEMORY_ENV)
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    [env] = published(register)
    app = Notifications(env=IN_MEMORY_ENV)
    first = as_actor(senco(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, env)
    [owed] = first
    assert isinstance(owed, Notification)
    assert owed.duty == Duty.SEN_PROVISION_STARTED and owed.recipients == "nobody recorded"
    assert owed.status == "cannot_notify" and "nobody to tell is recorded" in owed.reason
    assert owed.owed_since == date(2026, 11, 20)
    again = as_actor(senco(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, env)
    assert [n.id for n in again] == [owed.id]  # the same cause always finds the same notification
    as_actor(senco(), SCHOOL_DAY, app.save, *first)
    assert as_actor(senco(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, env) == []


def test_other_services_hear_of_each_duty_owed_each_delivery_and_each_person_not_reached() -> None:
    from datetime import timedelta

    from services.notifications.translation import translate as notifications_translate
    from tests.support.register_events import mother, pupil_added

    app = Notifications(env=IN_MEMORY_ENV)
    [reached] = as_actor(
        senco(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, pupil_added(1, [mother(1)])
    )
    [nobody] = as_actor(senco(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, pupil_added(2))
    [lost] = as_actor(
        senco(),
        SCHOOL_DAY,
        when_duty_to_tell_arises_owe_notifications,
        app,
        pupil_added(3, [mother(3, mobile=None, postal_address=None)]),
    )
    as_actor(senco(), SCHOOL_DAY, reached.start_sending, "email")
    as_actor(
        senco(),
        SCHOOL_DAY,
        reached.record_sent,
        "email",
        "file",
        "written",
    )
    as_actor(senco(), SCHOOL_DAY, reached.record_delivered, "email", "in the outbox")
    as_actor(senco(), SCHOOL_DAY, lost.start_sending, "email")
    as_actor(senco(), SCHOOL_DAY, lost.record_failure, "email", "550 user unknown", True, SCHOOL_DAY, timedelta(0), 5)
    as_actor(senco(), SCHOOL_DAY, app.save, reached, nobody, lost)
    published = [notifications_translate(app.mapper.to_domain_event(n), n.id) for n in app.notifications_after(0, 100)]
    facts = [(e.type, e.payload.get("recipient") or e.payload.get("recipients")) for e in published if e]
    assert facts == [
        ("notifications.notification_owed", "Alex Taylor1 (mother)"),
        ("notifications.notification_delivered", None),
        ("notifications.notification_owed", "nobody recorded"),
        ("notifications.could_not_notify", "nobody recorded"),
        ("notifications.notification_owed", "Alex Taylor3 (mother)"),
        ("notifications.could_not_notify", "Alex Taylor3 (mother)"),
    ]
    delivered = next(e for e in published if e and e.type == "notifications.notification_delivered")
    assert delivered.payload["content_hash"] == reached.content_hash and delivered.subject.pupil_id == reached.pupil_id
    failed = [e for e in published if e and e.type == "notifications.could_not_notify"][-1]
    assert failed.payload["reason"] == "Failed to reach them on every channel: 550 user unknown"
