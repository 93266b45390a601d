"""Notifications domain events -> integration events: a duty owed, a message delivered, someone not reached.

The other steps (written, sending, a failure with another channel still to try) stay inside: they matter to
this service's own queries, not to other services.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope, EventPayload, SubjectIds
from contracts.notifications import CouldNotNotify, Duty, NotificationDelivered, NotificationOwed
from services.notifications.domain.notification import Notification
from services.runtime.dispatch import EventDispatch
from services.runtime.translation import envelope

SERVICE = "notifications"


def _subject(regarding: dict[str, Any]) -> SubjectIds:
    case = regarding.get("case_id")
    return SubjectIds(
        pupil_id=UUID(regarding["pupil_id"]),
        case_id=UUID(case) if case else None,
        school_urn=regarding.get("school_urn"),
    )


# Each published event: its payload and what it is about (None: this one stays inside).
publish = EventDispatch[tuple[EventPayload, SubjectIds] | None]("notifications events published")


@publish.on(Notification.Owed)
def _(event: Any) -> tuple[EventPayload, SubjectIds]:
    r = event.recipient
    payload = NotificationOwed(
        notification_id=event.originator_id,
        duty=Duty(event.duty),
        pupil_id=event.pupil_id,
        school_urn=event.school_urn,
        recipients=f"{r['name']} ({r['relationship']})" if r else "nobody recorded",
        cause_event_id=event.cause_event_id,
        cause_event_type=event.cause_event_type,
        owed_since=event.owed_since,
    )
    return payload, SubjectIds(pupil_id=event.pupil_id, case_id=event.case_id, school_urn=event.school_urn)


@publish.on(Notification.Delivered)
def _(event: Any) -> tuple[EventPayload, SubjectIds] | None:
    about = getattr(event, "regarding", None)
    if about is None:
        return None
    payload = NotificationDelivered(
        notification_id=event.originator_id,
        pupil_id=about["pupil_id"],
        school_urn=about["school_urn"],
        channel=event.channel,
        content_hash=about["content_hash"] or "",
    )
    return payload, _subject(about)


@publish.on(Notification.CouldNotNotify, Notification.SendFailed)
def _(event: Any) -> tuple[EventPayload, SubjectIds] | None:
    about = getattr(event, "regarding", None)
    failed_everywhere = isinstance(event, Notification.SendFailed)
    if about is None or (failed_everywhere and event.next_channel is not None):
        return None  # a failure with another channel still to try stays inside
    payload = CouldNotNotify(
        notification_id=event.originator_id,
        duty=Duty(about["duty"]),
        pupil_id=about["pupil_id"],
        school_urn=about["school_urn"],
        recipient=about["recipient"],
        reason=f"Failed to reach them on every channel: {event.reason}" if failed_everywhere else event.reason,
    )
    return payload, _subject(about)


def translate(event: Any, sequence: int) -> EventEnvelope | None:
    """Written, sending and failures with another channel to try stay inside: they matter to this
    service's own queries, not to other services."""
    published = publish(event)
    if published is None:
        return None
    payload, subject = published
    return envelope(SERVICE, sequence, event, payload, subject)
