"""Pupils, parents and school rolls for the register's tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.envelope import derived_id
from contracts.people import PersonToTell
from tests.support.factories import SCHOOL, upn

ROLL_DAY = date(2026, 9, 3)  # first day of the autumn term


def parent(name: str = "Jo Taylor", relationship: str = "mother", email: str = "jo.taylor@example.org") -> PersonToTell:
    return PersonToTell(
        person_id=derived_id("person", name),
        name=name,
        relationship=relationship,
        has_parental_responsibility=True,
        email=email,
        preferred_channel="email",
    )


def enrol_kwargs(serial: int = 1, urn: str = SCHOOL, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        school_urn=urn,
        upn=upn(serial),
        given_name="Sam",
        family_name=f"Taylor{serial}",
        date_of_birth=date(2017, 3, 14),
        year_group=None,
        on_roll_from=ROLL_DAY,
    )
    values.update(changes)
    return values


PROTECTED = {"lines": ["12 Hidden Lane"], "town": "Durham", "postcode": "DH1 9ZZ"}


def roll_csv(serials: range, extra_rows: list[str] | None = None, **overrides: str) -> str:
    lines = ["UPN,Legal Surname,Legal Forename,DOB,NC Year,Contact 1 Name,Contact 1 Relationship,Contact 1 Email"]
    for serial in serials:
        lines.append(
            f"{upn(serial)},Pupil{serial},Alex,{overrides.get('dob', '14/03/2017')},{overrides.get('year', '5')},"
            f"Parent {serial},mother,parent{serial}@example.org"
        )
    lines.extend(extra_rows or [])
    return "\n".join(lines) + "\n"
