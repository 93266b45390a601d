"""People who must be told things: parents and carers, young people, professionals.

A child looked after's protected address is never in any contract: the register keeps it and never
publishes it (Durham 2b), so nothing downstream can put it on a document.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import EmailStr, Field

from contracts.envelope import Contract


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"


class PostalAddress(Contract):
    lines: list[str] = Field(min_length=1, max_length=6)  # house and street, locality...
    town: str = Field(min_length=1, max_length=100)
    postcode: str = Field(min_length=5, max_length=8)


class PersonToTell(Contract):
    """Someone entitled to a notification, with how to reach them.

    For a pupil, everyone with parental responsibility is entitled (CFA 2014 s.68; Durham 2b), and
    the young person themself from 16. For a child looked after, the people the register names (the
    social worker / virtual school as corporate parent, and any parent who keeps responsibility), with
    their own addresses: never the child's protected address.
    """

    person_id: UUID
    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=100)  # "mother", "carer", "young person", "social worker"
    has_parental_responsibility: bool
    email: EmailStr | None = None
    mobile: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{10,15}$")
    postal_address: PostalAddress | None = None
    preferred_channel: Channel


class ContactPoint(Contract):
    """Who the reader of a notification should get in touch with about it."""

    name: str = Field(min_length=1, max_length=200)  # "SEND Casework Team", "Mrs Patel, SENCO"
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=30)
