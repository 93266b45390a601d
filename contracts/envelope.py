"""Envelopes every message travels in: who is acting, why (correlation), and the replies.

Integration events, commands and queries all carry the same actor and correlation metadata, so that an
auditor can follow one user's action through every service it touched.
"""

from __future__ import annotations

import builtins
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar
from uuid import UUID, uuid4, uuid5

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from contracts import text

# Namespace for ids derived from other ids (uuid5): replays and redeliveries give the same id.
SENDCASE_NAMESPACE = UUID("5e4dca5e-0000-4000-8000-000000000000")


def derived_id(*parts: object) -> UUID:
    """A deterministic id for a thing caused by other things (the cause's ids as parts)."""
    return uuid5(SENDCASE_NAMESPACE, ":".join(str(p) for p in parts))


class Role(StrEnum):
    SENCO = "senco"
    TEACHER = "teacher"
    HEADTEACHER = "headteacher"
    PARENT = "parent"
    YOUNG_PERSON = "young_person"
    LA_CASEWORKER = "la_caseworker"
    LA_MANAGER = "la_manager"
    PROFESSIONAL = "professional"
    AUDITOR = "auditor"
    DATA_OFFICER = "data_officer"
    SYSTEM = "system"  # a service acting on its own policy, e.g. a reaction to another service's event


# school:<URN> for school staff; la:<code> for the LA's staff; org:<name> for a professional outside the LA
# (health, social care: e.g. org:nhs-cdd-ft); citizen for parents and young people, who act for themselves
# (what they may see is what they were invited to: docs/security.md); service:<name> for a service's policy.
_ORGANISATION = re.compile(r"^(school:[0-9]{6}|la:[0-9]{3}|org:[a-z0-9][a-z0-9-]{0,62}|citizen|service:[a-z_]+)$")


def _validate_organisation(value: str) -> str:
    if not _ORGANISATION.match(value):
        raise ValueError(
            "organisation is 'school:<6-digit URN>', 'la:<3-digit LA code>', 'org:<name in lower case>', "
            "'citizen' or 'service:<name>'"
        )
    return value


Organisation = Annotated[str, AfterValidator(_validate_organisation)]


class Frozen(BaseModel):
    """Immutable, strict about unknown fields: every contracts model."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Contract(Frozen):
    """Base of every contracts model that carries what people typed: every text in it is safe to store and
    show (contracts/text.py: NFC, no control characters, line breaks only where allowed)."""

    @field_validator("*", mode="before")
    @classmethod
    def _safe_text(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, (int, float, bool)) or value is None or issubclass(cls, View):
            return value
        line_breaks, controls, nested = text.rules_for(cls, info.field_name or "")
        return value if nested else text.clean(value, line_breaks, controls)


class View(Contract):
    """What a query or command answers with: made by a service from what it stored (which was checked on
    the way in), so it is never refused for its text; a view of old data must always be readable."""


class Actor(Contract):
    """Who did it: a person (or a service's policy) in a role, for an organisation."""

    user_id: str = Field(min_length=1, max_length=200)
    role: Role
    organisation: Organisation

    @property
    def school_urn(self) -> str | None:
        kind, _, code = self.organisation.partition(":")
        return code if kind == "school" else None

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(user_id=f"service:{name}", role=Role.SYSTEM, organisation=f"service:{name}")


class SubjectIds(Contract):
    """The things an event is about, for routing and for an auditor's search."""

    pupil_id: UUID | None = None
    case_id: UUID | None = None
    school_urn: str | None = None


# ---------------------------------------------------------------------------------------------------------
# Integration events


class EventPayload(Contract):
    """Base of every integration event payload. Subclasses set TYPE and SCHEMA_VERSION."""

    TYPE: ClassVar[str]  # "<service>.<event_name>", also the last two tokens of the NATS subject
    SCHEMA_VERSION: ClassVar[int] = 1


class EventEnvelope(Contract):
    """An integration event as it travels on JetStream: an auditable fact, replayable forever."""

    event_id: UUID
    type: str
    schema_version: int = Field(ge=1)
    producer: str  # the service whose log it came from
    sequence: int = Field(ge=1)  # its position in the producer's notification log (gap-free)
    occurred_at: AwareDatetime  # when it happened in the world
    recorded_at: AwareDatetime  # when the producer stored it
    actor: Actor
    subject: SubjectIds
    correlation_id: UUID
    causation_id: UUID | None = None
    payload: dict[str, Any]

    def payload_as(self, model: builtins.type[P]) -> P:
        if self.type != model.TYPE:
            raise ValueError(f"event {self.type} is not a {model.TYPE}")
        return model.model_validate(self.payload)


P = TypeVar("P", bound=EventPayload)


# ---------------------------------------------------------------------------------------------------------
# Commands, queries and their replies


class Command(Contract):
    """Base of every command. Subclasses set SUBJECT ("<service>.<command_name>") and Result, the type of
    what an accepted command answers (a contracts model, or a list of them)."""

    SUBJECT: ClassVar[str]
    Result: ClassVar[Any]


class Query(Contract):
    """Base of every query. Subclasses set SUBJECT ("<service>.<query_name>") and Result, the type of the
    answer."""

    SUBJECT: ClassVar[str]
    Result: ClassVar[Any]


C = TypeVar("C", bound=Command)
Q = TypeVar("Q", bound=Query)


class CommandEnvelope(Contract, Generic[C]):
    command: C
    actor: Actor
    # The command's own id, its idempotency key: sent again with the same id (a retry after a timeout), the
    # command is not done again and the first reply comes back. One per command, never the correlation id
    # (one correlation spans many commands). A client that sends none gets a fresh one: no retry is safe.
    command_id: UUID = Field(default_factory=uuid4)
    correlation_id: UUID = Field(default_factory=uuid4)
    causation_id: UUID | None = None


class QueryEnvelope(Contract, Generic[Q]):
    query: Q
    actor: Actor
    correlation_id: UUID = Field(default_factory=uuid4)


class FieldError(Frozen):  # in replies, made by us
    field: str  # dotted path into the request, e.g. "command.pupil.upn"
    problem: str


R = TypeVar("R")


class Accepted(Frozen, Generic[R]):  # replies are made by us: their text was cleaned on the way in
    """A command was carried out; `result` is of the command's declared Result type."""

    outcome: Literal["accepted"] = "accepted"
    result: R
    correlation_id: UUID


class Answered(Frozen, Generic[R]):
    """A query's answer; `result` is of the query's declared Result type."""

    outcome: Literal["answered"] = "answered"
    result: R
    correlation_id: UUID


class RejectionCode(StrEnum):
    INVALID = "invalid"  # the message did not parse or a field is wrong: see field_errors
    NOT_AUTHORISED = "not_authorised"  # the actor may not do this
    RULE_BROKEN = "rule_broken"  # a domain rule says no: see message
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # someone else changed the same record at the same moment, again and again: try again
    INTERNAL_ERROR = "internal_error"  # our fault; logged under correlation_id


class Rejected(Frozen):  # made by us, discriminated by outcome: not re-cleaned
    outcome: Literal["rejected"] = "rejected"
    code: RejectionCode
    rule: str | None = None  # the name of the broken rule, for machines (e.g. "already_on_sen_support")
    message: str  # for a person: what is wrong and what to do
    field_errors: list[FieldError] = Field(default_factory=list)
    correlation_id: UUID | None = None


Reply = Annotated[Accepted[Any] | Answered[Any] | Rejected, Field(discriminator="outcome")]


def reply_type(message: type[Command] | type[Query]) -> Any:
    """The exact reply type of one command or query: its typed success, or a rejection."""
    result: Any = message.Result
    success: Any = Accepted[result] if issubclass(message, Command) else Answered[result]
    return Annotated[success | Rejected, Field(discriminator="outcome")]


# Results shared by many commands


class PupilRef(View):
    """A command about one pupil was carried out: the pupil's id."""

    pupil_id: UUID


class ServiceHealth(View):
    """Answer to a ping: a service is up, how far its outbox and each read model have got, and whether it
    is degraded (events parked by a read model that could not take them)."""

    service: str
    pid: int
    started_at: datetime
    last_notification_id: int
    relayed_up_to: int
    projection_lag: dict[str, int] = Field(default_factory=dict)  # events each read model is behind its log
    parked_events: dict[str, int] = Field(default_factory=dict)  # events each read model has parked
    degraded: list[str] = Field(default_factory=list)  # what is wrong, in words; empty when healthy


class ParkedEvent(View):
    projection: str
    position: int
    topic: str
    error: str
    attempts: int
    parked_at: datetime


class ParkedEventsAction(Contract):
    """An operator's request about a service's parked events: list them, retry them after a fix, or skip
    them (with a reason, kept beside each)."""

    actor: Actor
    action: Literal["list", "retry", "skip"]
    projection: str | None = None
    reason: str | None = Field(default=None, min_length=5, max_length=500)


class ParkedEventsAnswer(View):
    parked: list[ParkedEvent]
    retried: int = 0
    still_parked: int = 0
    skipped: int = 0
