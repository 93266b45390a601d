"""People who must be told things: parents and carers, young people, professionals.

A child looked after's protected address is never in any contract: the register keeps it and never
publishes it (Durham 2b), so nothing downstream can put it on a document.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, EmailStr, Field, model_validator

from contracts.envelope import Contract
from contracts.languages import check_language, language_name


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"


class PostalAddress(Contract):
    lines: list[str] = Field(min_length=1, max_length=6)  # house and street, locality...
    town: str = Field(min_length=1, max_length=100)
    postcode: str = Field(min_length=5, max_length=8)


class Format(StrEnum):
    """A format a person needs their letters in (the LA arranges it: the letter itself is written in English)."""

    LARGE_PRINT = "large_print"
    EASY_READ = "easy_read"
    BRAILLE = "braille"
    AUDIO = "audio"

    @property
    def in_words(self) -> str:
        return {
            Format.LARGE_PRINT: "large print",
            Format.EASY_READ: "Easy Read",
            Format.BRAILLE: "Braille",
            Format.AUDIO: "audio",
        }[self]


LanguageCode = Annotated[str, AfterValidator(check_language)]


class CommunicationNeeds(Contract):
    """What a person needs so that a letter reaches them in a form they can use: another language, an interpreter
    (spoken, or British Sign Language as language 'bfi'), a format. Recorded by the school or the LA; shown to
    whoever sends each message, so that they can meet it (the letter sendcase writes is in English)."""

    language: LanguageCode | None = None  # ISO 639-1 ("ur", "pl", "zh"), or "bfi": their letters in this language
    interpreter: bool = False  # an interpreter at meetings and calls (in `language`, when one is given)
    formats: list[Format] = Field(default_factory=list, max_length=4)
    notes: str | None = Field(default=None, max_length=300)  # anything else, in the family's words

    @model_validator(mode="after")
    def _meaningful(self) -> CommunicationNeeds:
        if len(set(self.formats)) != len(self.formats):
            raise ValueError("each format is given once")
        if self.language == "en" and not self.interpreter:
            raise ValueError("'en' (English) is not another language: leave the language out")
        if not (self.language or self.interpreter or self.formats or self.notes):
            raise ValueError("name at least one need (a language, an interpreter, a format or a note), or leave it out")
        return self

    @property
    def in_words(self) -> str:
        """'Urdu (ur), with an interpreter; large print; Easy Read'."""
        parts = []
        if self.language:
            parts.append(language_name(self.language) + (", with an interpreter" if self.interpreter else ""))
        elif self.interpreter:
            parts.append("an interpreter")
        parts += [f.in_words for f in self.formats]
        if self.notes:
            parts.append(self.notes)
        return "; ".join(parts)


def needs_in_words(needs: dict | None) -> str | None:
    """A recipient's needs as published (a dict, or None), in words for whoever sends."""
    if not needs:
        return None
    return CommunicationNeeds.model_validate(needs).in_words


class PersonToTell(Contract):
    """Someone entitled to a notification, with how to reach them.

    For a pupil, everyone with parental responsibility is entitled (CFA 2014 s.68; Durham 2b); once the pupil is
    over compulsory school age, the young person themself (relationship "young person"), and their parents only as
    the young person and the LA's policy allow (docs/register.md, "The young person"). For a child looked after,
    the people the register names (the social worker / virtual school as corporate parent, and any parent who keeps
    responsibility), with their own addresses: never the child's protected address.
    """

    person_id: UUID
    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=100)  # "mother", "carer", "young person", "social worker"
    has_parental_responsibility: bool
    email: EmailStr | None = None
    mobile: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{10,15}$")
    postal_address: PostalAddress | None = None
    preferred_channel: Channel
    needs: CommunicationNeeds | None = None  # another language, an interpreter, large print, Easy Read...


class YoungPersonsWish(StrEnum):
    """What a young person over compulsory school age said about their parents being told too (CFA 2014 s.80 for
    a young person who lacks capacity: their parent acts for them, Regs 64)."""

    PARENTS_TOLD = "parents_told"  # the young person agrees that their parents are told as well
    PARENTS_NOT_TOLD = "parents_not_told"  # the young person does not want their parents told
    LACKS_CAPACITY = "lacks_capacity"  # the young person lacks capacity: their parents are told (Regs 64)


class ContactPoint(Contract):
    """Who the reader of a notification should get in touch with about it."""

    name: str = Field(min_length=1, max_length=200)  # "SEND Casework Team", "Mrs Patel, SENCO"
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=30)
