"""Duties nobody could be told, met when their people are known: once, with the dates that run from the
notice moved on by as long as the family waited; and cancelled only by whoever owns the duty."""

from datetime import date, datetime, timedelta
from uuid import uuid4

import pytest

from contracts.ehcp import DraftEhcPlanIssued
from contracts.register import PeopleToTellRecorded
from services.notifications.application import Notifications, moved_on
from services.notifications.policies import when_register_or_ehcp_event
from services.register.domain.pupil import Pupil
from services.runtime.errors import NotAuthorised
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import caseworker, senco, upn
from tests.support.inmemory import as_actor
from tests.support.register_events import father, mother, pupil_added, wrap

PUPIL = Pupil.create_id(upn(1))


def react(app: Notifications, envelope, at: datetime = SCHOOL_DAY):
    changed = as_actor(caseworker(), at, when_register_or_ehcp_event, app, envelope)
    as_actor(caseworker(), at, app.save, *changed)
    return changed


def people_recorded(sequence: int, *people) -> object:
    return wrap(PeopleToTellRecorded(pupil_id=PUPIL, people_to_tell=list(people)), "register", sequence, PUPIL)


def test_a_draft_plan_nobody_could_be_told_is_owed_to_the_parents_with_its_reply_by_date_moved_on() -> None:
    app = Notifications(env=IN_MEMORY_ENV)
    draft = DraftEhcPlanIssued(
        case_id=uuid4(),
        pupil_id=PUPIL,
        upn=upn(1),
        child_name="Sam Taylor",
        issued_on=date(2026, 11, 23),
        respond_by=date(2026, 12, 8),
        final_plan_due_by=date(2027, 1, 20),
    )
    [unmet] = react(app, wrap(draft, "ehcp", 1, PUPIL))
    assert unmet.status == "cannot_notify" and app.unmet_duties(PUPIL).waiting == [unmet.id]
    ten_days_later = SCHOOL_DAY + timedelta(days=10)
    changed = react(app, people_recorded(2, mother(1), father(1)), ten_days_later)
    told = [n for n in changed if n.id != unmet.id]
    assert sorted(n.recipients for n in told) == ["Alex Taylor1 (mother)", "Jordan Reed1 (father)"]
    assert all(n.facts["respond_by"] == "2026-12-18" for n in told)  # 15 days from the notice, still
    assert all("reply by Friday 18 December 2026" in n.content["subject"] for n in told)
    assert all(n.owed_since == date(2026, 12, 3) for n in told)
    assert app.notification(unmet.id).status == "told_later"
    assert app.unmet_duties(PUPIL).waiting == []
    # the same fact again (a redelivery), or people recorded again: nobody is told twice
    assert as_actor(caseworker(), ten_days_later, when_register_or_ehcp_event, app, people_recorded(2, mother(1))) == []
    assert react(app, people_recorded(3, mother(1), father(1))) == []


def test_a_parent_with_no_usable_contact_is_told_once_a_contact_is_recorded() -> None:
    app = Notifications(env=IN_MEMORY_ENV)
    no_contact = mother(1, email=None, mobile=None, postal_address=None)
    [unmet] = react(app, pupil_added(1, [no_contact]))
    assert unmet.status == "cannot_notify" and "No usable contact" in unmet.reason
    [told, _] = react(app, people_recorded(2, mother(1), father(1)))  # the father was never owed this one
    assert told.recipients == "Alex Taylor1 (mother)" and told.status == "rendered"


def test_dates_that_run_from_the_notice_move_and_others_stay() -> None:
    facts = {"respond_by": "2026-12-08", "appeal_deadline": "2027-01-23", "issued_on": "2026-11-23", "x": 1}
    moved = moved_on(facts, date(2026, 11, 23), date(2026, 11, 30))
    assert moved == {"respond_by": "2026-12-15", "appeal_deadline": "2027-01-30", "issued_on": "2026-11-23", "x": 1}
    assert moved_on(facts, date(2026, 11, 23), date(2026, 11, 23)) is facts


def test_only_whoever_owns_the_duty_cancels_it() -> None:
    app = Notifications(env=IN_MEMORY_ENV)
    [school_duty] = react(app, pupil_added(1, [mother(1)]))
    for outsider in (caseworker(), senco("654321")):
        with pytest.raises(NotAuthorised):
            as_actor(outsider, SCHOOL_DAY, app.cancel, school_duty.id, "not ours to cancel")
    as_actor(senco(), SCHOOL_DAY, app.cancel, school_duty.id, "handed over at the review")
    draft = DraftEhcPlanIssued(
        case_id=uuid4(),
        pupil_id=PUPIL,
        upn=upn(1),
        child_name="Sam Taylor",
        issued_on=date(2026, 11, 23),
        respond_by=date(2026, 12, 8),
        final_plan_due_by=date(2027, 1, 20),
        people_to_tell=[mother(1)],
    )
    [la_duty] = react(app, wrap(draft, "ehcp", 2, PUPIL))
    with pytest.raises(NotAuthorised):
        as_actor(senco(), SCHOOL_DAY, app.cancel, la_duty.id, "the school cannot cancel the LA's")
    as_actor(caseworker(), SCHOOL_DAY, app.cancel, la_duty.id, "given by hand at the meeting")
    assert app.notification(la_duty.id).status == "cancelled"
