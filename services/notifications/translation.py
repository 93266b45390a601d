"""Notifications domain events -> integration events: a duty owed, a message delivered, someone not reached.

The other steps (written, sending, a failure with another channel still to try) stay inside: they matter to
this service's own queries, not to other services.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope, SubjectIds
from contracts.notifications import CouldNotNotify, Duty, NotificationDelivered, NotificationOwed
from services.notifications.domain.notification import Notification
from services.runtime.translation import envelope

SERVICE = "notifications"


def _subject(regarding: dict[str, Any]) -> SubjectIds:
    case = regarding.get("case_id")
    return SubjectIds(pupil_id=UUID(regarding["pupil_id"]), case_id=UUID(case) if case else None,
                      school_urn=regarding.get("school_urn"))


def translate(event: Any, sequence: int) -> EventEnvelope | None:
    if isinstance(event, Notification.Owed):
        r = event.recipient
        payload: Any = NotificationOwed(
            notification_id=event.originator_id, duty=Duty(event.duty), pupil_id=event.pupil_id,
            school_urn=event.school_urn,
            recipients=f"{r['name']} ({r['relationship']})" if r else "nobody recorded",
            cause_event_id=event.cause_event_id, cause_event_type=event.cause_event_type,
            owed_since=event.owed_since,
        )
        subject = SubjectIds(pupil_id=event.pupil_id, case_id=event.case_id, school_urn=event.school_urn)
        return envelope(SERVICE, sequence, event, payload, subject)
    kind = type(event).__name__
    about = getattr(event, "regarding", None)
    if about is None:
        return None
    if kind == "Delivered":
        payload = NotificationDelivered(
            notification_id=event.originator_id, pupil_id=about["pupil_id"], school_urn=about["school_urn"],
            channel=event.channel, content_hash=about["content_hash"] or "",
        )
    elif kind == "CouldNotNotify" or (kind == "SendFailed" and event.next_channel is None):
        payload = CouldNotNotify(
            notification_id=event.originator_id, duty=Duty(about["duty"]), pupil_id=about["pupil_id"],
            school_urn=about["school_urn"], recipient=about["recipient"],
            reason=event.reason if kind == "CouldNotNotify" else f"Failed to reach them on every channel: {event.reason}",
        )
    else:
        return None
    return envelope(SERVICE, sequence, event, payload, _subject(about))
