"""The base of every sendcase aggregate (pure: no I/O).

Events take their timestamp from the command context's clock rather than the wall clock, and carry the
context's actor and correlation metadata once stored (see eventstore.StampingMapper).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate as _Aggregate

from services.runtime.context import current_context


class Aggregate(_Aggregate):
    # Subject access (services/runtime/subject_access.py): how the record is shown in an export ("record", or
    # "message" for something sent to the family), and the fields it never discloses, even to the person it
    # is about (each shown as "[withheld]" wherever it occurs in the record and its history).
    shown_in_subject_access: ClassVar[str] = "record"
    withheld_from_subject_access: ClassVar[frozenset[str]] = frozenset()

    class Event(_Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return current_context().now

    @property
    def data_subject(self) -> UUID | None:
        """The person this aggregate's personal data is about (a pupil's record: the pupil), whose key seals
        it (services/runtime/sealing.py). None for an aggregate that holds no personal data."""
        return None

    def collect_events(self) -> Any:
        """The pending events, each told whose data it holds (stored as `data_subject`: an id, nothing
        personal; it also finds every fact about a person for a subject access request)."""
        events = super().collect_events()
        subject = self.data_subject
        if subject is not None:
            for e in events:
                if "data_subject" not in vars(e):
                    object.__setattr__(e, "data_subject", subject)
        return events


def event_metadata(domain_event: Any) -> dict[str, Any]:
    """The actor, correlation and causation stored with a domain event."""
    meta = vars(domain_event).get("meta")
    if meta is None:
        raise ValueError(f"{type(domain_event).__name__} has no stored metadata")
    return meta
