"""The command context: who is acting, on whose behalf, and when, for the duration of one message.

Set by the command endpoint (from the command envelope) or the tracked consumer (from the event that
caused the reaction); read by the event store when it records domain events, so that every stored event
carries its actor, correlation and causation without each aggregate method having to pass them along.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import Actor


@dataclass(frozen=True)
class CommandContext:
    actor: Actor
    now: datetime
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    command_id: UUID | None = None  # the idempotency key of the command being handled, if it is one

    def metadata(self) -> dict[str, Any]:
        """What is stored beside every domain event recorded in this context. A parent's or young person's user id
        (their id at their own identity provider: the family's personal data, not staff data) is stored as a keyed
        pseudonym (`citizen_pseudonym`), never in the clear: a stored event's metadata is never sealed or changed."""
        actor = self.actor.model_dump(mode="json")
        if self.actor.organisation == "citizen":
            actor["user_id"] = citizen_pseudonym(self.actor.user_id)
        return {
            "actor": actor,
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id) if self.causation_id else None,
        }


def citizen_pseudonym(user_id: str) -> str:
    """How a family member is named in stored metadata: `citizen:` and the keyed blind index of their user id
    (services/runtime/keyring.py): the same person always has the same pseudonym, and nobody without the deployment's
    blind-index key can tell whose it is."""
    from services.runtime.keyring import current_keyring

    return "citizen:" + current_keyring().blind_index("citizen", user_id)[:16].hex()


_current: ContextVar[CommandContext] = ContextVar("sendcase_command_context")


class NoCommandContext(RuntimeError):
    pass


def current_context() -> CommandContext:
    try:
        return _current.get()
    except LookupError:
        raise NoCommandContext(
            "a domain event was created outside a command context: every stored event needs its actor "
            "and correlation id (run it through the event store adapter's `call`)"
        ) from None


@contextlib.contextmanager
def acting(ctx: CommandContext) -> Iterator[CommandContext]:
    """The block runs inside this command context; the one before is back after it."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_context(ctx: CommandContext) -> object:
    return _current.set(ctx)


def reset_context(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
