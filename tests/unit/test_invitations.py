"""Invitations through the register application, on the in-memory event store: invited, accepted, refused;
a wrong code refused and counted (the count kept although the command is refused); a family member's view of the
record; access ended."""

from __future__ import annotations

import functools
from datetime import timedelta
from uuid import UUID

import pytest

from contracts.envelope import Actor, Role
from contracts.people import PersonToTell
from services.register.application import Register
from services.register.domain.invitation import CodeAttempts, Invitation, code_for
from services.runtime.errors import DomainError, NotAuthorised, RefusedAndRecorded
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import caseworker, senco, upn
from tests.support.inmemory import as_actor
from tests.support.register_events import father, mother
from tests.support.register_factories import enrol_kwargs

UPN = upn(1)
MUM = Actor(user_id="urn:fdc:gov.uk:2022:mum", role=Role.PARENT, organisation="citizen")


@pytest.fixture
def app() -> Register:
    register = Register(env=IN_MEMORY_ENV)
    as_actor(senco(), SCHOOL_DAY, register.enrol_pupil, **enrol_kwargs())
    people = [mother(1), father(1)]
    as_actor(senco(), SCHOOL_DAY, register.record_people_with_parental_responsibility, upn=UPN, people=people)
    return register


def invite(app: Register, who: PersonToTell) -> str:
    sent = as_actor(senco(), SCHOOL_DAY, app.invite_person, upn=UPN, person_id=who.person_id, invited_by_name="SENCO")
    invitation: Invitation = app.repository.get(sent.invitation_id)
    return code_for(invitation.nonce)


def accept(app: Register, code: str, actor: Actor = MUM, at=SCHOOL_DAY):
    return as_actor(actor, at, functools.partial(app.accept_invitation, now=at), code=code)


def test_an_accepted_invitation_lets_her_see_the_record_without_the_other_parents_contacts(app: Register) -> None:
    code = invite(app, mother(1))
    with pytest.raises(NotAuthorised):
        as_actor(MUM, SCHOOL_DAY, app.pupil_record, upn=UPN)
    granted = accept(app, code)
    assert granted.role == Role.PARENT and granted.relationship == "mother"
    record = as_actor(MUM, SCHOOL_DAY, app.pupil_record, upn=UPN)
    assert [p.person_id for p in record.people_with_parental_responsibility] == [mother(1).person_id]
    staff_view = as_actor(caseworker(), SCHOOL_DAY, app.pupil_record, upn=UPN)
    assert len(staff_view.people_with_parental_responsibility) == 2
    with pytest.raises(DomainError) as used:
        accept(app, code)
    assert used.value.rule == "invitation_used"


def test_a_wrong_code_is_refused_and_counted_for_that_person_only(app: Register) -> None:
    invite(app, mother(1))
    before = app.max_notification_id()
    with pytest.raises(RefusedAndRecorded) as wrong:
        accept(app, "ABCD-EFGH-JKMN")
    assert wrong.value.rule == "wrong_code" and wrong.value.field == "code"
    [attempts] = wrong.value.record
    assert isinstance(attempts, CodeAttempts) and len(attempts.wrong) == 1
    assert app.max_notification_id() == before  # the runtime stores the record (services/runtime/commands.py)


def test_a_newer_invitation_withdraws_the_older_and_revoking_ends_access_and_what_waits(app: Register) -> None:
    first = invite(app, mother(1))
    second = invite(app, mother(1))
    with pytest.raises(DomainError) as withdrawn:
        accept(app, first)
    assert withdrawn.value.rule == "invitation_withdrawn"
    accept(app, second)
    waiting = invite(app, father(1))
    ended = as_actor(
        senco(), SCHOOL_DAY, app.revoke_access, upn=UPN, person_id=mother(1).person_id, reason="Court order"
    )
    assert (ended.grants_ended, ended.invitations_withdrawn) == (1, 0)
    with pytest.raises(NotAuthorised):
        as_actor(MUM, SCHOOL_DAY, app.pupil_record, upn=UPN)
    ended = as_actor(
        senco(), SCHOOL_DAY, app.revoke_access, upn=UPN, person_id=father(1).person_id, reason="Court order"
    )
    assert (ended.grants_ended, ended.invitations_withdrawn) == (0, 1)
    dad = Actor(user_id="urn:fdc:gov.uk:2022:dad", role=Role.PARENT, organisation="citizen")
    with pytest.raises(DomainError) as refused:
        accept(app, waiting, dad)
    assert refused.value.rule == "invitation_withdrawn"


def test_a_code_runs_out_after_fourteen_days(app: Register) -> None:
    code = invite(app, mother(1))
    accept_by = SCHOOL_DAY + timedelta(days=14)
    with pytest.raises(DomainError) as expired:
        accept(app, code, at=accept_by + timedelta(days=1))
    assert expired.value.rule == "invitation_expired"
    assert accept(app, code, at=accept_by).pupil_id == UUID(str(app.pupil(UPN).id))
