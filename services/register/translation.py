"""Register domain events -> integration events. The one place the register decides what it publishes.

Published: the facts that create a duty to tell parents (added to the register, removed from it, special
educational provision made: CFA 2014 s.68; Durham 2b), each naming everyone with parental
responsibility; and a pupil's record moving school. Families invited to see the record: the invitation (for
notifications to send its one-time code, made again here from the invitation's nonce: it is stored nowhere), and
each grant and its end (for every service holding the child's records: contracts/access.py). Never published: a
child looked after's protected address (it is on no event translated here), consent, notes of concern, the other
registers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.envelope import EventEnvelope, EventPayload, Role, SubjectIds
from contracts.identifiers import NeedType
from contracts.people import ContactPoint, PersonToTell
from contracts.register import (
    AccessGranted,
    AccessRevoked,
    InvitationIssued,
    PeopleToTellRecorded,
    PupilAddedToSenSupport,
    PupilErased,
    PupilRemovedFromSenRegister,
    PupilTransferred,
    SpecialEducationalProvisionMade,
)
from services.register.domain.invitation import Invitation, code_for
from services.register.domain.pupil import Pupil
from services.runtime.access import Grant
from services.runtime.clock import today_in_england
from services.runtime.dispatch import EventDispatch
from services.runtime.translation import envelope

SERVICE = "register"


def _people(event: Any) -> list[PersonToTell]:
    return [PersonToTell.model_validate(p) for p in (getattr(event, "people_to_tell", None) or [])]


# Each published event: its payload, what it is about, and the day it happened in the world.
publish = EventDispatch[tuple[EventPayload, SubjectIds, date]]("register events published")


@publish.on(Pupil.AddedToSenSupport)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    payload = PupilAddedToSenSupport(
        pupil_id=event.originator_id,
        upn=event.upn,
        school_urn=event.school_urn,
        given_name=event.given_name,
        family_name=event.family_name,
        date_of_birth=event.date_of_birth,
        primary_need=NeedType(event.primary_need),
        secondary_need=NeedType(event.secondary_need) if event.secondary_need else None,
        effective_date=event.effective_date,
        reason=event.reason,
        people_to_tell=_people(event),
    )
    return payload, _about(event), event.effective_date


@publish.on(Pupil.RemovedFromSenRegister, Pupil.EhcPlanCeasedOffRegister)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    on = getattr(event, "effective_date", None) or event.ceased_on
    payload = PupilRemovedFromSenRegister(
        pupil_id=event.originator_id,
        upn=event.upn,
        school_urn=event.school_urn,
        given_name=event.given_name,
        family_name=event.family_name,
        effective_date=on,
        reason=event.reason,
        people_to_tell=_people(event),
    )
    return payload, _about(event), on


@publish.on(Pupil.SpecialEducationalProvisionMade)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    payload = SpecialEducationalProvisionMade(
        pupil_id=event.originator_id,
        upn=event.upn,
        school_urn=event.school_urn,
        given_name=event.given_name,
        family_name=event.family_name,
        provision=event.provision,
        effective_date=event.effective_date,
        people_to_tell=_people(event),
    )
    return payload, _about(event), event.effective_date


@publish.on(Pupil.TransferredToSchool)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    payload = PupilTransferred(
        pupil_id=event.originator_id,
        upn=event.upn,
        from_school_urn=event.from_school_urn,
        to_school_urn=event.to_school_urn,
        leaving_date=event.leaving_date,
    )
    return payload, SubjectIds(pupil_id=event.originator_id, school_urn=event.to_school_urn), event.leaving_date


@publish.on(Pupil.PeopleWithParentalResponsibilityRecorded)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    # Who is to be told now: notifications owes them every duty that could not be met before.
    payload = PeopleToTellRecorded(pupil_id=event.originator_id, people_to_tell=_people_of(event))
    return payload, SubjectIds(pupil_id=event.originator_id), today_in_england(event.timestamp)


@publish.on(Pupil.Erased)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    # Every service drops its copies and shows "[erased]" (the keys are gone already).
    payload = PupilErased(
        pupil_id=event.originator_id, erased_on=event.erased_on, rule=event.rule, people_erased=event.people_erased
    )
    return payload, SubjectIds(pupil_id=event.originator_id), event.erased_on


@publish.on(Invitation.Issued)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    payload = InvitationIssued(
        invitation_id=event.originator_id,
        pupil_id=event.pupil_id,
        school_urn=event.school_urn,
        given_name=event.given_name,
        family_name=event.family_name,
        role=Role(event.role),
        relationship=str(event.person["relationship"]),
        code=code_for(event.nonce),
        issued_on=event.issued_on,
        expires_on=event.expires_on,
        invited_by_name=event.invited_by_name,
        invited_by_role=Role(event.invited_by_role),
        invited_by_organisation=event.invited_by_organisation,
        contact=ContactPoint(name=event.invited_by_name),
        people_to_tell=[PersonToTell.model_validate(event.person)],
    )
    return payload, SubjectIds(pupil_id=event.pupil_id, school_urn=event.school_urn), event.issued_on


@publish.on(Pupil.AccessGranted)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    grant = Grant.from_dict(event.grant)
    payload = AccessGranted(
        grant_id=grant.grant_id,
        pupil_id=event.originator_id,
        user_id=grant.user_id,
        role=grant.role,
        relationship=grant.relationship,
        person_id=grant.person_id,
        case_id=grant.case_id,
        granted_on=grant.granted_on,
        until=grant.until,
        until_event=grant.until_event,
    )
    return payload, SubjectIds(pupil_id=event.originator_id), grant.granted_on


@publish.on(Pupil.AccessRevoked)
def _(event: Any) -> tuple[EventPayload, SubjectIds, date]:
    payload = AccessRevoked(
        grant_id=event.grant_id, pupil_id=event.originator_id, revoked_on=event.revoked_on, reason=event.reason
    )
    return payload, SubjectIds(pupil_id=event.originator_id), event.revoked_on


def _people_of(event: Any) -> list[PersonToTell]:
    """Who is to be told now: as the record worked it out when the people were recorded (the young person over
    compulsory school age, and their parents as they and the LA allow); before December 2026, everyone with parental
    responsibility."""
    told = getattr(event, "people_to_tell", None)
    if told is not None:
        return [PersonToTell.model_validate(p) for p in told]
    return [PersonToTell.model_validate(p) for p in event.people if p.get("has_parental_responsibility")]


def _about(event: Any) -> SubjectIds:
    return SubjectIds(pupil_id=event.originator_id, school_urn=getattr(event, "school_urn", None))


def translate(event: Any, sequence: int) -> EventEnvelope | None:
    """Everything not published above is internal: the roll, the other registers, consent, concerns."""
    published = publish(event)
    if published is None:
        return None
    payload, subject, occurred_on = published
    return envelope(SERVICE, sequence, event, payload, subject, occurred_on=occurred_on)
