"""Notifications domain events -> integration events."""

from __future__ import annotations

from typing import Any

from contracts.envelope import EventEnvelope, SubjectIds
from contracts.notifications import Duty, NotificationOwed
from services.notifications.domain.notification import Notification
from services.runtime.translation import envelope

SERVICE = "notifications"


def translate(event: Any, sequence: int) -> EventEnvelope | None:
    if isinstance(event, Notification.Owed):
        payload = NotificationOwed(
            notification_id=event.originator_id,
            duty=Duty(event.duty),
            pupil_id=event.pupil_id,
            school_urn=event.school_urn,
            recipients=event.recipients,
            cause_event_id=event.cause_event_id,
            cause_event_type=event.cause_event_type,
            owed_since=event.owed_since,
        )
        subject = SubjectIds(pupil_id=event.pupil_id, school_urn=event.school_urn)
        return envelope(SERVICE, sequence, event, payload, subject)
    return None
