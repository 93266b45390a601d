"""Running an application in memory inside a command context (unit tests of pure logic only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import uuid4

from contracts.envelope import Actor
from services.runtime.context import CommandContext, reset_context, set_context

T = TypeVar("T")


def as_actor(actor: Actor, now: datetime, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    token = set_context(CommandContext(actor=actor, now=now, correlation_id=uuid4()))
    try:
        return fn(*args, **kwargs)
    finally:
        reset_context(token)
