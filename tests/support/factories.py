"""Realistic people, pupils and commands for the tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.envelope import Actor, Role
from contracts.identifiers import NeedType, upn_check_letter
from contracts.register import AddToSenSupport, PupilIdentity

SCHOOL = "123456"
OTHER_SCHOOL = "654321"


def upn(serial: int) -> str:
    body = f"8012000{serial // 1000 % 100:02d}{serial % 1000:03d}"
    return upn_check_letter(body) + body


def senco(urn: str = SCHOOL) -> Actor:
    return Actor(user_id=f"senco@{urn}.sch.uk", role=Role.SENCO, organisation=f"school:{urn}")


def teacher(urn: str = SCHOOL) -> Actor:
    return Actor(user_id=f"teacher@{urn}.sch.uk", role=Role.TEACHER, organisation=f"school:{urn}")


def caseworker() -> Actor:
    return Actor(user_id="caseworker@la.gov.uk", role=Role.LA_CASEWORKER, organisation="la:840")


def auditor() -> Actor:
    return Actor(user_id="auditor@la.gov.uk", role=Role.AUDITOR, organisation="la:840")


def add_to_sen_support(serial: int = 1, urn: str = SCHOOL, **changes: Any) -> AddToSenSupport:
    values: dict[str, Any] = dict(
        school_urn=urn,
        pupil=PupilIdentity(
            upn=upn(serial), given_name="Sam", family_name=f"Taylor{serial}", date_of_birth=date(2017, 3, 14)
        ),
        primary_need=NeedType.SLCN,
        secondary_need=NeedType.SEMH,
        effective_date=date(2026, 11, 20),
        reason="Little progress after two APDR cycles of speech and language work.",
        evidence_reference="APDR review 20 Nov 2026",
    )
    values.update(changes)
    return AddToSenSupport(**values)


def add_kwargs(command: AddToSenSupport) -> dict[str, Any]:
    """The application method's simple values for a command."""
    return dict(
        school_urn=command.school_urn,
        upn=command.pupil.upn,
        given_name=command.pupil.given_name,
        family_name=command.pupil.family_name,
        date_of_birth=command.pupil.date_of_birth,
        primary_need=command.primary_need,
        secondary_need=command.secondary_need,
        effective_date=command.effective_date,
        reason=command.reason,
        evidence_reference=command.evidence_reference,
    )
