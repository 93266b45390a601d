"""What may be read from the notifications service: its queries and the views they answer with."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from contracts.envelope import Query, View
from contracts.identifiers import SchoolUrn
from contracts.notifications.events import Duty, NotificationStatus
from contracts.paging import cursor, page_size
from contracts.text import Paragraphs


class NotificationView(View):
    notification_id: UUID
    duty: Duty
    pupil_id: UUID
    case_id: UUID | None
    school_urn: str | None
    person_id: UUID | None
    recipient_name: str | None
    relationship: str | None
    recipients: str  # "<name> (<relationship>)", or "nobody recorded"
    status: NotificationStatus
    channel: str | None
    reason: Paragraphs | None  # why it could not be sent or delivered, for a person
    unreachable_channels: list[str]  # channels that failed permanently (e.g. invalid email address)
    attempts: int
    subject: str | None
    body: Paragraphs | None
    content_hash: str | None
    cause_event_id: UUID
    cause_event_type: str
    owed_since: date
    recorded_at: datetime
    updated_at: datetime
    history: list[dict[str, Any]]  # every step: what happened, when, on which channel


class NotificationsPage(View):
    """One page of a list of notifications, in the order they were first owed."""

    notifications: list[NotificationView]
    next_after: str | None = None  # the next page's `after`; None: this is the last page


# Page sizes (contracts/paging.py): a notification carries its whole text and history, up to several KB.
NOTIFICATIONS_PAGE_SIZE, NOTIFICATIONS_PAGE_MOST = 25, 50


class CountsView(View):
    school_urn: str | None
    total: int
    by_status: dict[str, int]
    by_duty: dict[str, dict[str, int]]


class NotificationsForPupil(Query):
    SUBJECT = "notifications.for_pupil"
    Result = list[NotificationView]

    pupil_id: UUID


class NotificationsForCase(Query):
    SUBJECT = "notifications.for_case"
    Result = list[NotificationView]

    case_id: UUID


class UndeliveredNotifications(Query):
    """Everything not yet delivered (waiting, retrying, failed, cannot notify); one school or LA-wide."""

    SUBJECT = "notifications.undelivered"
    Result = NotificationsPage

    school_urn: SchoolUrn | None = None
    # Paged (contracts/paging.py): in the order the notifications were first owed.
    page_size: int = page_size(default=NOTIFICATIONS_PAGE_SIZE, most=NOTIFICATIONS_PAGE_MOST)
    after: str | None = cursor()


class FailedToReach(Query):
    """People we could not reach on some channel, or at all: the caseworker's or SENCO's list to act on."""

    SUBJECT = "notifications.failed_to_reach"
    Result = NotificationsPage

    school_urn: SchoolUrn | None = None
    # Paged (contracts/paging.py): in the order the notifications were first owed.
    page_size: int = page_size(default=NOTIFICATIONS_PAGE_SIZE, most=NOTIFICATIONS_PAGE_MOST)
    after: str | None = cursor()


class NotificationCounts(Query):
    """Counts by duty and status, for one school or LA-wide (no school_urn)."""

    SUBJECT = "notifications.counts"
    Result = CountsView

    school_urn: SchoolUrn | None = None
