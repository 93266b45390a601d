"""Running an application in memory inside a command context (unit tests of pure logic only)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import uuid4

from contracts.envelope import Actor
from services.runtime.clock import today_in_england
from services.runtime.context import CommandContext, acting

T = TypeVar("T")


def as_actor(actor: Actor, now: datetime, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an application method as `actor` at `now`, as the runtime's routes do: inside a command context,
    and passing `actor` and `today` to a method that takes them."""
    parameters = inspect.signature(fn).parameters
    if "actor" in parameters:
        kwargs.setdefault("actor", actor)
    if "today" in parameters:
        kwargs.setdefault("today", today_in_england(now))
    with acting(CommandContext(actor=actor, now=now, correlation_id=uuid4())):
        return fn(*args, **kwargs)


def pupil_view(app: Any, actor: Actor, now: datetime, upn: str) -> Any:
    """A pupil's record as GetPupil answers it: the record from the application, its status history folded
    from the pupil's events by the read model's own rules (on the in-memory store there is no read model)."""
    from services.register.projections.pupil_history import status_history_of

    record = as_actor(actor, now, app.pupil_record, upn=upn)
    return record.model_copy(update={"history": status_history_of(app.events.get(record.pupil_id))})
