"""Building integration event envelopes from stored domain events (used by each service's translation)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from contracts.envelope import Actor, EventEnvelope, EventPayload, SubjectIds, derived_id
from services.runtime.aggregate import event_metadata
from services.runtime.clock import ENGLAND

# A service's translation: a stored domain event and its position in the log -> the integration event to
# publish, or None for an internal event that other services need not know about.
Translator = Callable[[Any, int], EventEnvelope | None]


@functools.lru_cache(maxsize=4096)
def _actor(**fields: str) -> Actor:
    """The actor stamped on a stored event, as a contracts model (validated once per person, not per event)."""
    return Actor.model_validate(fields)


def integration_event_id(producer: str, sequence: int) -> UUID:
    """Stable across re-publication: the same stored event always has the same integration event id."""
    return derived_id("event", producer, sequence)


def envelope(
    producer: str,
    sequence: int,
    domain_event: Any,
    payload: EventPayload,
    subject: SubjectIds,
    occurred_on: date | datetime | None = None,
) -> EventEnvelope:
    meta = event_metadata(domain_event)
    recorded_at: datetime = domain_event.timestamp
    if occurred_on is None:
        occurred_at = recorded_at
    elif isinstance(occurred_on, datetime):
        occurred_at = occurred_on
    else:  # a date in England, e.g. the effective date a SENCO gave: midnight there
        occurred_at = datetime.combine(occurred_on, time(0, 0), tzinfo=ENGLAND)
    causation = meta.get("causation_id")
    # Built without validating again: the payload and the actor were validated (text included) just now,
    # as contracts models; checking the payload's dict a second time would cost the relay half its time.
    return EventEnvelope.model_construct(
        event_id=integration_event_id(producer, sequence),
        type=payload.TYPE,
        schema_version=payload.SCHEMA_VERSION,
        producer=producer,
        sequence=sequence,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        actor=_actor(**meta["actor"]),
        subject=subject,
        correlation_id=UUID(meta["correlation_id"]),
        causation_id=UUID(causation) if causation else None,
        payload=payload.model_dump(mode="json"),
    )
