"""A pupil's place on their school's SEN register.

Rules (DOMAIN.md section 2; Durham SEND toolkit 2b):
- only the SENCO of the pupil's school may change SEN status or need types;
- a pupil at K (SEN support) or E (EHC plan) has a primary need; the secondary need differs from it;
- a pupil already at K or E cannot be added to SEN support again;
- nothing is recorded as happening in the future, and a date of birth must make a plausible pupil
  (0 to 25 years old: the Code of Practice covers 0-25).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import Actor, Role, derived_id
from contracts.identifiers import NeedType, SenStatus
from services.runtime.aggregate import Aggregate
from services.runtime.errors import DomainError, NotAuthorised

OLDEST_AGE = 25  # SEND Code of Practice 0-25


def age_on(date_of_birth: date, day: date) -> int:
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def check_date_of_birth(date_of_birth: date, today: date) -> None:
    if date_of_birth > today:
        raise DomainError(
            f"The date of birth {date_of_birth:%d %B %Y} is in the future.",
            rule="date_of_birth_in_future", field="date_of_birth",
        )
    age = age_on(date_of_birth, today)
    if age > OLDEST_AGE:
        raise DomainError(
            f"A date of birth of {date_of_birth:%d %B %Y} makes the pupil {age} years old; "
            f"the SEND register covers children and young people up to {OLDEST_AGE}. Check the date.",
            rule="date_of_birth_implausible", field="date_of_birth",
        )


def check_not_in_future(day: date, today: date, field: str, what: str) -> None:
    if day > today:
        raise DomainError(
            f"The {what} {day:%d %B %Y} is in the future; record it on or after the day it happens.",
            rule="date_in_future", field=field,
        )


def check_is_schools_senco(actor: Actor, school_urn: str) -> None:
    """Only the SENCO of the pupil's school may change SEN status or need types (Durham 2b)."""
    if actor.role != Role.SENCO or actor.school_urn != school_urn:
        raise NotAuthorised(
            f"Only the SENCO of school {school_urn} can change this pupil's SEN status or needs; "
            f"you are signed in as {actor.role.value} for {actor.organisation}.",
        )


class Pupil(Aggregate):
    @staticmethod
    def create_id(upn: str, **_: Any) -> UUID:
        # The UPN is unique to a pupil for their whole school career, so it keys the record.
        return derived_id("pupil", upn)

    @event("Registered")
    def __init__(self, upn: str, given_name: str, family_name: str, date_of_birth: date, school_urn: str) -> None:
        self.upn = upn
        self.given_name = given_name
        self.family_name = family_name
        self.date_of_birth = date_of_birth
        self.school_urn = school_urn
        self.status = SenStatus.NO_SEN
        self.primary_need: NeedType | None = None
        self.secondary_need: NeedType | None = None

    def add_to_sen_support(
        self,
        *,
        actor: Actor,
        today: date,
        primary_need: NeedType,
        secondary_need: NeedType | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
    ) -> None:
        check_is_schools_senco(actor, self.school_urn)
        if self.status == SenStatus.SEN_SUPPORT:
            raise DomainError(
                f"{self.given_name} {self.family_name} is already on the SEN register at SEN support.",
                rule="already_on_sen_support",
            )
        if self.status == SenStatus.EHC_PLAN:
            raise DomainError(
                f"{self.given_name} {self.family_name} has an EHC plan (E). A pupil moves from E to SEN "
                "support only when the local authority ceases the plan.",
                rule="has_ehc_plan",
            )
        if secondary_need is not None and secondary_need == primary_need:
            raise DomainError(
                "The secondary need must differ from the primary need.", rule="needs_not_ranked",
                field="secondary_need",
            )
        check_not_in_future(effective_date, today, "effective_date", "start date of SEN support")
        self._added_to_sen_support(
            # who the pupil is, as at this event, so the fact stands on its own when published
            upn=self.upn,
            school_urn=self.school_urn,
            given_name=self.given_name,
            family_name=self.family_name,
            date_of_birth=self.date_of_birth,
            primary_need=primary_need.value,
            secondary_need=secondary_need.value if secondary_need else None,
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
        )

    @event("AddedToSenSupport")
    def _added_to_sen_support(
        self, upn: str, school_urn: str, given_name: str, family_name: str, date_of_birth: date,
        primary_need: str, secondary_need: str | None, effective_date: date, reason: str,
        evidence_reference: str | None,
    ) -> None:
        self.status = SenStatus.SEN_SUPPORT
        self.primary_need = NeedType(primary_need)
        self.secondary_need = NeedType(secondary_need) if secondary_need else None
