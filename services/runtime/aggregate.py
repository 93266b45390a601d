"""The base of every sendcase aggregate (pure: no I/O).

Events take their timestamp from the command context's clock rather than the wall clock, and carry the
context's actor and correlation metadata once stored (see eventstore.StampingMapper).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate as _Aggregate

from services.runtime.context import current_context


class Aggregate(_Aggregate):
    class Event(_Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return current_context().now


def event_metadata(domain_event: Any) -> dict[str, Any]:
    """The actor, correlation and causation stored with a domain event."""
    meta = vars(domain_event).get("meta")
    if meta is None:
        raise ValueError(f"{type(domain_event).__name__} has no stored metadata")
    return meta
