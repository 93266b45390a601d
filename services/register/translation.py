"""Register domain events -> integration events. The one place the register decides what it publishes."""

from __future__ import annotations

from typing import Any

from contracts.envelope import EventEnvelope, SubjectIds
from contracts.identifiers import NeedType
from contracts.register import PupilAddedToSenSupport
from services.register.domain.pupil import Pupil
from services.runtime.translation import envelope

SERVICE = "register"


def translate(event: Any, sequence: int) -> EventEnvelope | None:
    if isinstance(event, Pupil.AddedToSenSupport):
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
        )
        subject = SubjectIds(pupil_id=event.originator_id, school_urn=event.school_urn)
        return envelope(SERVICE, sequence, event, payload, subject, occurred_on=event.effective_date)
    # Pupil.Registered is internal until the register publishes its roll (the register issue).
    return None
