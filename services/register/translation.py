"""Register domain events -> integration events. The one place the register decides what it publishes.

Published: the facts that create a duty to tell parents (added to the register, removed from it, special
educational provision made: CFA 2014 s.68; Durham 2b), each naming everyone with parental
responsibility; and a pupil's record moving school. Never published: a child looked after's protected
address (it is on no event translated here), consent, notes of concern, the other registers.
"""

from __future__ import annotations

from typing import Any

from contracts.envelope import EventEnvelope, SubjectIds
from contracts.identifiers import NeedType
from contracts.people import PersonToTell
from contracts.register import (
    PupilAddedToSenSupport,
    PupilRemovedFromSenRegister,
    PupilTransferred,
    SpecialEducationalProvisionMade,
)
from services.register.domain.pupil import Pupil
from services.runtime.translation import envelope

SERVICE = "register"


def _people(event: Any) -> list[PersonToTell]:
    return [PersonToTell.model_validate(p) for p in (getattr(event, "people_to_tell", None) or [])]


def translate(event: Any, sequence: int) -> EventEnvelope | None:
    subject = SubjectIds(pupil_id=event.originator_id, school_urn=getattr(event, "school_urn", None))
    if isinstance(event, Pupil.AddedToSenSupport):
        payload: Any = PupilAddedToSenSupport(
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
        return envelope(SERVICE, sequence, event, payload, subject, occurred_on=event.effective_date)
    if isinstance(event, Pupil.RemovedFromSenRegister | Pupil.EhcPlanCeasedOffRegister):
        on = getattr(event, "effective_date", None) or event.ceased_on
        payload = PupilRemovedFromSenRegister(
            pupil_id=event.originator_id, upn=event.upn, school_urn=event.school_urn, given_name=event.given_name,
            family_name=event.family_name, effective_date=on, reason=event.reason, people_to_tell=_people(event),
        )
        return envelope(SERVICE, sequence, event, payload, subject, occurred_on=on)
    if isinstance(event, Pupil.SpecialEducationalProvisionMade):
        payload = SpecialEducationalProvisionMade(
            pupil_id=event.originator_id, upn=event.upn, school_urn=event.school_urn, given_name=event.given_name,
            family_name=event.family_name, provision=event.provision, effective_date=event.effective_date,
            people_to_tell=_people(event),
        )
        return envelope(SERVICE, sequence, event, payload, subject, occurred_on=event.effective_date)
    if isinstance(event, Pupil.TransferredToSchool):
        payload = PupilTransferred(
            pupil_id=event.originator_id, upn=event.upn, from_school_urn=event.from_school_urn,
            to_school_urn=event.to_school_urn, leaving_date=event.leaving_date,
        )
        subject = SubjectIds(pupil_id=event.originator_id, school_urn=event.to_school_urn)
        return envelope(SERVICE, sequence, event, payload, subject, occurred_on=event.leaving_date)
    # Everything else is internal: the roll, the other registers, consent, concerns, acknowledgements.
    return None
