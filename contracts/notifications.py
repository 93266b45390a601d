"""The notifications service's queries and integration events (schema version 1)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from contracts.envelope import Contract, EventPayload, Query


class Duty(StrEnum):
    """Why someone must be told something; each names the rule that creates the duty."""

    SEN_PROVISION_STARTED = "sen_provision_started"  # CFA 2014 s.68: added to the register, provision made


class NotificationOwed(EventPayload):
    TYPE = "notifications.notification_owed"
    SCHEMA_VERSION = 1

    notification_id: UUID
    duty: Duty
    pupil_id: UUID
    school_urn: str
    recipients: str  # who must be told, e.g. "everyone with parental responsibility"
    cause_event_id: UUID
    cause_event_type: str
    owed_since: date


class NotificationsForPupil(Query):
    SUBJECT = "notifications.for_pupil"

    pupil_id: UUID


class NotificationView(Contract):
    notification_id: UUID
    duty: Duty
    pupil_id: UUID
    school_urn: str
    recipients: str
    status: str
    cause_event_id: UUID
    cause_event_type: str
    owed_since: date
    recorded_at: datetime
