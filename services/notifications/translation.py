"""Notifications domain events -> integration events: a duty owed, a message delivered, someone not reached."""

from __future__ import annotations

from typing import Any

from contracts.envelope import EventEnvelope, SubjectIds
from contracts.notifications import CouldNotNotify, Duty, NotificationDelivered, NotificationOwed
from services.notifications.domain.notification import Notification
from services.runtime.translation import envelope

SERVICE = "notifications"


def translate(event: Any, sequence: int) -> EventEnvelope | None:
    # The other facts (rendered, sending, failed and retried) stay inside: they matter to this service's
    # own queries, not to other services.
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
    return None
