"""Who, besides a school's and the LA's own staff, may read a child's records: a grant (docs/security.md).

Parents and young people sign in as themselves (organisation `citizen`), outside professionals as their own
organisation (`org:<name>`). Neither is staff of a school or the LA, so neither may read anything by their role
alone: each reads what a service granted them, and the grant is a fact that service publishes, so that every other
service holding the child's records learns it the same way (notifications keeps the grants it is told of, never
reading another service's tables).

A grant's scope is a pupil, or one case of the pupil's (an EHC case: a professional asked to advise on it), for a
person in a role; it may end on a day (`until`) or when the granting service records a fact (`until_event`, e.g.
"ehcp.advice_submitted"): the granting service then publishes the grant's end, `<service>.access_revoked`, as for a
revocation by hand. The register grants families access to their child's record through a verified invitation
(`register.access_granted`); the ehcp service grants professionals the cases they are asked to advise on, until
their advice is in (the same two events, under its own name).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from contracts.envelope import EventPayload, Role

# The services that grant access: the register (families, by invitation) and, once built, ehcp (professionals asked
# to advise on a case). Every other service learns grants from these services' facts and from nobody else's.
GRANTING_SERVICES = ("register", "ehcp")


def granted_types() -> list[str]:
    return [f"{service}.access_granted" for service in GRANTING_SERVICES]


def revoked_types() -> list[str]:
    return [f"{service}.access_revoked" for service in GRANTING_SERVICES]


class AccessGranted(EventPayload):
    """Someone who is not a school's or the LA's staff may now read a child's records (within the scope). Each
    granting service publishes it under its own name (`register.access_granted`)."""

    grant_id: UUID
    pupil_id: UUID
    user_id: str = Field(min_length=1, max_length=200)  # the signed-in person's id at their identity provider
    role: Role  # parent, young_person or professional: they act in this role only
    relationship: str = Field(min_length=1, max_length=100)  # "mother", "young person", "educational psychologist"
    # The person on the child's record the grant was made for (a parent recorded with parental responsibility):
    # the messages addressed to them are theirs to read.
    person_id: UUID | None = None
    case_id: UUID | None = None  # only this case of the child's (None: everything about the child)
    granted_on: date
    until: date | None = None  # it lapses after this day
    until_event: str | None = None  # ... or when the granting service records this fact (then: access_revoked)


class AccessRevoked(EventPayload):
    """A grant ended: revoked by the school or the LA, or over (its until_event recorded), or the child erased."""

    grant_id: UUID
    pupil_id: UUID
    revoked_on: date
    reason: str = Field(min_length=1, max_length=500)
