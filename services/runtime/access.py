"""Grants: what a parent, a young person or an outside professional may read (contracts/access.py, docs/security.md).

A school's and the LA's staff read by their role and organisation (each service's rules). Families and outside
professionals read only what a service granted them, and only while the grant stands:

- a grant names one signed-in person (their user id at their identity provider) in one role (parent, young_person,
  professional), and a scope: a pupil, or one case of the pupil's;
- it may lapse on a day (`until`), or end when its granting service records a fact (`until_event`: the service then
  publishes the end, like a revocation);
- the person must act in the role it was granted for, for the kind of organisation that role belongs to (a parent or
  young person as `citizen`, a professional as `org:<name>`): a teacher who is also a parent reads their child's
  record as a parent, signed in as a citizen, and nothing else in that role.

Pure rules, used by every service the same way: the register keeps its grants on the pupil's record, notifications
keeps the grants it learns from the granting services' events (its ReaderGrants), ehcp will keep its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any
from uuid import UUID

from contracts.envelope import Actor, Role
from services.runtime.errors import NotAuthorised

FAMILY_ROLES = frozenset({Role.PARENT, Role.YOUNG_PERSON})
GRANTED_ROLES = FAMILY_ROLES | {Role.PROFESSIONAL}


def reads_by_grant(actor: Actor) -> bool:
    """Does this actor read only what they were granted (a family member, an outside professional)?"""
    return actor.role in GRANTED_ROLES


def acts_as_themself(actor: Actor) -> bool:
    """A family member signs in as a citizen; a professional outside the LA as their organisation."""
    if actor.role in FAMILY_ROLES:
        return actor.organisation == "citizen"
    return actor.role is Role.PROFESSIONAL and actor.organisation.startswith("org:")


@dataclass(frozen=True)
class Grant:
    grant_id: UUID
    user_id: str
    role: Role
    pupil_id: UUID
    relationship: str
    granted_on: date
    person_id: UUID | None = None
    case_id: UUID | None = None
    until: date | None = None
    until_event: str | None = None

    def covers(self, actor: Actor, pupil_id: UUID, today: date, case_id: UUID | None = None) -> bool:
        """Does this grant let `actor` read about `pupil_id` (and `case_id`, when the read is about one case) today?"""
        if self.user_id != actor.user_id or self.role != actor.role or not acts_as_themself(actor):
            return False
        if self.pupil_id != pupil_id:
            return False
        if self.case_id is not None and self.case_id != case_id:
            return False  # a grant for one case covers that case only
        return self.until is None or today <= self.until

    def to_dict(self) -> dict[str, Any]:
        """As kept in an aggregate's events (ids and dates as text: a grant is a plain value there)."""
        values = asdict(self)
        for key in ("grant_id", "pupil_id", "person_id", "case_id"):
            values[key] = str(values[key]) if values[key] is not None else None
        values["role"] = self.role.value
        values["granted_on"] = self.granted_on.isoformat()
        values["until"] = self.until.isoformat() if self.until else None
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Grant:
        def day(v: Any) -> date | None:
            return v if isinstance(v, date) or v is None else date.fromisoformat(str(v))

        def uid(v: Any) -> UUID | None:
            return v if isinstance(v, UUID) or v is None else UUID(str(v))

        return cls(
            grant_id=uid(values["grant_id"]),  # type: ignore[arg-type]
            user_id=str(values["user_id"]),
            role=Role(values["role"]),
            pupil_id=uid(values["pupil_id"]),  # type: ignore[arg-type]
            relationship=str(values["relationship"]),
            granted_on=day(values["granted_on"]),  # type: ignore[arg-type]
            person_id=uid(values.get("person_id")),
            case_id=uid(values.get("case_id")),
            until=day(values.get("until")),
            until_event=values.get("until_event"),
        )


def grant_for(
    actor: Actor, grants: Iterable[Grant], pupil_id: UUID, today: date, case_id: UUID | None = None
) -> Grant | None:
    return next((g for g in grants if g.covers(actor, pupil_id, today, case_id)), None)


def check_granted(
    actor: Actor,
    grants: Iterable[Grant],
    pupil_id: UUID | None,
    today: date,
    case_id: UUID | None = None,
) -> Grant:
    """The grant that lets `actor` read about this child (and case) today, or NotAuthorised. The refusal is the same
    whether the child exists or not, so nobody learns from it whose records there are."""
    if not acts_as_themself(actor):
        raise NotAuthorised(
            f"A {actor.role.value.replace('_', ' ')} acts for themself: sign in as yourself "
            f"({'citizen' if actor.role in FAMILY_ROLES else 'org:<your organisation>'}), not for "
            f"{actor.organisation}.",
            rule="acts_as_themself",
        )
    found = grant_for(actor, grants, pupil_id, today, case_id) if pupil_id is not None else None
    if found is None:
        what = {
            Role.PROFESSIONAL: "the records of the cases you were asked to advise on",
            Role.YOUNG_PERSON: "your own records",
        }.get(actor.role, "your own child's records")
        raise NotAuthorised(
            f"You can see only {what}, once you have accepted the invitation sent to you; this is not one of them "
            "(or your access has ended).",
            rule="not_granted",
        )
    return found
