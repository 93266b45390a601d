"""A notification owed: the duty to tell someone something, from the moment it arises.

Its id is derived from the event that caused it and who must be told, so a redelivered or replayed event
can only ever find the same notification, never create a second one.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import derived_id
from services.runtime.aggregate import Aggregate

OWED = "owed"


class Notification(Aggregate):
    @staticmethod
    def create_id(cause_event_id: UUID, recipients: str, **_: Any) -> UUID:
        return derived_id("notification", cause_event_id, recipients)

    @event("Owed")
    def __init__(
        self,
        cause_event_id: UUID,
        cause_event_type: str,
        duty: str,
        pupil_id: UUID,
        school_urn: str,
        recipients: str,
        owed_since: date,
        about: str,
    ) -> None:
        self.cause_event_id = cause_event_id
        self.cause_event_type = cause_event_type
        self.duty = duty
        self.pupil_id = pupil_id
        self.school_urn = school_urn
        self.recipients = recipients
        self.owed_since = owed_since
        self.about = about
        self.status = OWED
