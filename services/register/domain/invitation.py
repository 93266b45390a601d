"""Invitations: the only way a parent or young person comes to see a child's record (docs/register.md).

The SENCO of the pupil's school (or an LA caseworker) invites a person recorded on the pupil's record: someone with
parental responsibility, or the young person (16 or over). A one-time code goes to the contact details the school
recorded for them (the notifications service sends it: the register publishes `register.invitation_issued`). The
person signs in as themself (organisation `citizen`, their own identity provider) and enters the code: the register
then grants them access to the pupil's record (`register.access_granted`).

The code:
- is short and typable: 12 characters of Crockford's base32 (no I, L, O or U; read back case-blind, with O as 0 and
  I or L as 1), shown as three groups of four, "K7QM-3XD9-TWPA": 60 bits, so that guessing one among a few thousand
  open invitations within their 14 days, five guesses a quarter of an hour, is hopeless;
- is stored only as a keyed hash: the invitation's id is the keyed blind index of the code (services/runtime/keyring:
  HMAC-SHA256 under the deployment's blind-index key), so the code a person types finds its invitation and nothing
  else; the stored invitation holds a random nonce, from which only the holder of that key can make the code again
  (the register's relay does, once, to put it in the message: sealed on the stream and in the notifications
  service's store, under the child's key). No database holds the code, sealed or not;
- works once, for the role it was sent for (a parent's code makes its user a parent for the child, a young person's a
  young person), until its expiry day (14 days on); a newer invitation to the same person withdraws the older one;
- repeated wrong codes from one person (5 within 15 minutes) lock that person out of entering codes for 15 minutes
  (CodeAttempts: keyed by the blind index of their user id; it holds times only).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import Actor, Role
from services.runtime.aggregate import Aggregate
from services.runtime.clock import ENGLAND
from services.runtime.errors import DomainError, NotAuthorised
from services.runtime.keyring import current_keyring, keyed_id

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: 32 symbols, 5 bits each
CODE_LENGTH = 12  # 60 bits
DAYS_VALID = 14
WRONG_CODES_ALLOWED = 5  # within WRONG_CODES_WITHIN, then locked for LOCKED_FOR
WRONG_CODES_WITHIN = timedelta(minutes=15)
LOCKED_FOR = timedelta(minutes=15)
_READ_AS = {"O": "0", "I": "1", "L": "1"}  # what a person may type for what the code holds


def new_nonce() -> str:
    """The random part an invitation keeps, from which its code is made (with the deployment's key)."""
    return secrets.token_hex(16)


def code_for(nonce: str) -> str:
    """The code of the invitation holding this nonce: 60 bits of HMAC-SHA256 under the blind-index key, in
    Crockford's base32, as "XXXX-XXXX-XXXX"."""
    digest = current_keyring().blind_index("invitation-code", nonce)
    number = int.from_bytes(digest[:8], "big") >> 4  # 60 bits
    symbols = "".join(CODE_ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH)))
    return "-".join(symbols[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalised_code(typed: str) -> str | None:
    """The code as typed, the way it is held ("k7qm 3xd9 twpa" -> "K7QM3XD9TWPA"), or None when it cannot be one."""
    symbols = "".join(_READ_AS.get(c, c) for c in typed.upper() if c not in " -")
    if len(symbols) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in symbols):
        return None
    return symbols


def invitation_id_for(code: str) -> UUID:
    """The invitation a (normalised) code opens: its keyed blind index."""
    return keyed_id("invitation", code)


class Invitation(Aggregate):
    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Issued: ClassVar[type[Any]]
        Accepted: ClassVar[type[Any]]
        Withdrawn: ClassVar[type[Any]]

    # In a subject access export: who accepted it by their id at their identity provider is never shown (it
    # identifies their account, and may be another family member's), nor the nonce its code is made from.
    withheld_from_subject_access = frozenset({"user_id", "nonce"})

    @staticmethod
    def create_id(nonce: str, **_: Any) -> UUID:
        return invitation_id_for(code_for(nonce).replace("-", ""))

    @property
    def data_subject(self) -> UUID:
        return self.pupil_id

    @event("Issued")
    def __init__(
        self,
        nonce: str,
        pupil_id: UUID,
        school_urn: str,
        given_name: str,
        family_name: str,
        person: dict[str, Any],  # the person invited, as the pupil's record names them (sealed under their key)
        role: str,
        invited_by_name: str,
        invited_by_role: str,
        invited_by_organisation: str,
        issued_on: date,
        expires_on: date,
    ) -> None:
        self.nonce = nonce
        self.pupil_id = pupil_id
        self.school_urn = school_urn
        self.given_name = given_name
        self.family_name = family_name
        self.person = person
        self.person_id = UUID(str(person["person_id"]))
        self.relationship = str(person["relationship"])
        self.role = Role(role)
        self.invited_by_name = invited_by_name
        self.invited_by_role = invited_by_role
        self.invited_by_organisation = invited_by_organisation
        self.issued_on = issued_on
        self.expires_on = expires_on
        self.accepted_on: date | None = None
        self.grant_id: UUID | None = None
        self.withdrawn_on: date | None = None

    @property
    def waiting(self) -> bool:
        """Not yet accepted or withdrawn (it may have expired)."""
        return self.accepted_on is None and self.withdrawn_on is None

    def check_may_be_accepted(self, actor: Actor, today: date) -> None:
        if self.accepted_on is not None:
            raise DomainError(
                f"This code was already used, on {self.accepted_on:%-d %B %Y}: each code works once. If you entered "
                "it then, you can already see the record; if not, ask for a new invitation.",
                rule="invitation_used",
                field="code",
            )
        if self.withdrawn_on is not None:
            raise DomainError(
                f"This invitation was withdrawn on {self.withdrawn_on:%-d %B %Y} (a newer one was sent, or the access "
                "was ended): use the newest code you were sent, or ask for a new invitation.",
                rule="invitation_withdrawn",
                field="code",
            )
        if today > self.expires_on:
            raise DomainError(
                f"This code expired on {self.expires_on:%-d %B %Y} (a code works for {DAYS_VALID} days): ask "
                f"{self.invited_by_name} for a new invitation.",
                rule="invitation_expired",
                field="code",
            )
        if actor.role != self.role:
            meant = "a person with parental responsibility (sign in as a parent)"
            if self.role is Role.YOUNG_PERSON:
                meant = "the young person themself (sign in as a young person)"
            raise NotAuthorised(
                f"This invitation is for {meant}; you are signed in as {actor.role.value.replace('_', ' ')}.",
                rule="invitation_for_another_role",
            )

    @event("Accepted")
    def accept(self, user_id: str, accepted_on: date, grant_id: UUID) -> None:
        self.accepted_on = accepted_on
        self.grant_id = grant_id

    @event("Withdrawn")
    def withdraw(self, withdrawn_on: date, reason: str) -> None:
        self.withdrawn_on = withdrawn_on


class CodeAttempts(Aggregate):
    """The wrong codes one person entered lately: too many lock them out for a while. Keyed by the blind index of
    their user id; it holds only times."""

    if TYPE_CHECKING:
        WrongCodeEntered: ClassVar[type[Any]]

    @staticmethod
    def id_for(user_id: str) -> UUID:
        return keyed_id("invitation-attempts", user_id)

    @staticmethod
    def create_id(holder: UUID, **_: Any) -> UUID:
        return holder

    @classmethod
    def of(cls, user_id: str) -> CodeAttempts:
        """A person's attempts before any was recorded (created with their first wrong code)."""
        return cls(holder=cls.id_for(user_id))

    @event("Begun")
    def __init__(self, holder: UUID) -> None:
        self.wrong: list[datetime] = []

    def locked_until(self, now: datetime) -> datetime | None:
        recent = [t for t in self.wrong if t > now - WRONG_CODES_WITHIN - LOCKED_FOR]
        if len(recent) < WRONG_CODES_ALLOWED:
            return None
        last = recent[-1]
        window = [t for t in recent if t > last - WRONG_CODES_WITHIN]
        if len(window) >= WRONG_CODES_ALLOWED and now < last + LOCKED_FOR:
            return last + LOCKED_FOR
        return None

    def check_not_locked(self, now: datetime) -> None:
        until = self.locked_until(now)
        if until is not None:
            raise NotAuthorised(
                f"Too many wrong codes were entered: try again after {until.astimezone(ENGLAND):%H:%M} "
                f"({WRONG_CODES_ALLOWED} wrong codes within {WRONG_CODES_WITHIN.seconds // 60} minutes lock code "
                f"entry for {LOCKED_FOR.seconds // 60} minutes).",
                rule="too_many_wrong_codes",
            )

    @event("WrongCodeEntered")
    def wrong_code(self, at: datetime) -> None:
        # only what the lockout needs is kept in memory
        self.wrong = [t for t in self.wrong if t > at - WRONG_CODES_WITHIN - LOCKED_FOR] + [at]

    def left_before_lockout(self, now: datetime) -> int:
        recent = [t for t in self.wrong if t > now - WRONG_CODES_WITHIN]
        return max(0, WRONG_CODES_ALLOWED - len(recent))
