"""What may be read from the notifications service: its queries and the views they answer with."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field, field_validator

from contracts.envelope import Query, View
from contracts.identifiers import SchoolUrn
from contracts.notifications.events import Duty, NotificationStatus
from contracts.notifications.reference import normalised_reference
from contracts.paging import cursor, page_size
from contracts.read_log import ChildReads
from contracts.subject_access import SubjectAccess
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
    # Since December 2026 (None for a message written before):
    reference: str | None = None  # the short reference printed on it, to quote: "HN4QX-7RB2M"
    needs: str | None = None  # the recipient's language and format needs, to meet: "Urdu (ur), with an interpreter"
    letter: Paragraphs | None = None  # the complete letter (the email may be a notice only: the LA's choice)
    sender: str | None = None  # who it is from: the school's or the LA's name
    dated_on: date | None = None  # the date it states as the day it is sent
    companion_of: UUID | None = None  # the complete letter sent besides that notification (a text, or a notice)


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


class NotificationsByReference(Query):
    """The message a person quotes by its short reference ("HN4QX-7RB2M", as printed, in any case, with or without
    the hyphen), or by its notification id: normally one; two should the reference of two messages ever coincide."""

    SUBJECT = "notifications.by_reference"
    Result = list[NotificationView]

    reference: str = Field(min_length=1, max_length=60)

    @field_validator("reference")
    @classmethod
    def _a_reference(cls, value: str) -> str:
        found = normalised_reference(value)
        if found is not None:
            return found
        try:
            return str(UUID(value.strip()))
        except ValueError:
            raise ValueError(
                "a message's reference is ten letters and digits as printed on it (e.g. HN4QX-7RB2M), or its "
                "notification id"
            ) from None


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


# -- the audit of one notification: "the letter the record says was sent is the letter that was sent" ------


class AuditStep(View):
    """One stored event of the notification, as it was recorded: when, by whom, what."""

    position: int  # the event's version in the notification's own history (1, 2, ...)
    at: datetime  # the service's clock when it was recorded
    what: str  # owed, rendered, sending, sent, delivered, send_failed, could_not_notify, cancelled, told_later
    detail: str  # the step in words
    channel: str | None = None
    by_user: str | None = None
    by_role: str | None = None
    by_organisation: str | None = None
    correlation_id: UUID | None = None


class SentAs(StrEnum):
    """What the bytes recorded as sent are (Sent.sent_as): what an auditor hashes to check them."""

    OUTBOX_FILE = "outbox_file"  # the file written to the outbox (file channel): hash the file
    MIME_MESSAGE = "mime_message"  # the whole MIME message given to the mail server (SMTP)
    NOTIFY_REQUEST_BODY = "notify_request_body"  # the JSON body posted to GOV.UK Notify (email, SMS)
    LETTER_PDF = "letter_pdf"  # the letter's PDF posted to GOV.UK Notify (base64 in the request body)

    @property
    def in_words(self) -> str:
        return {
            SentAs.OUTBOX_FILE: "the outbox file",
            SentAs.MIME_MESSAGE: "the MIME message given to the mail server",
            SentAs.NOTIFY_REQUEST_BODY: "the request body posted to GOV.UK Notify",
            SentAs.LETTER_PDF: "the letter's PDF posted to GOV.UK Notify",
        }[self]


class AuditReceipt(View):
    """A provider's delivery receipt, as recorded on the Delivered or SendFailed event it caused."""

    provider: str  # "GOV.UK Notify"
    status: str  # the provider's status: delivered, received (a letter), permanent-failure, ...
    provider_reference: str | None  # the provider's id for the message the receipt is about
    reference: str | None  # the reference the message was sent with, as the provider gives it back
    at: str | None  # when the provider says the status was reached, as it wrote it
    via: str  # callback (the provider posted it) or poll (we asked)
    recorded_at: datetime  # when we recorded it


class AuditAttempt(View):
    """One send on one channel: what left, its reference, and what became of it."""

    channel: str
    attempt: int  # on this channel: 1, 2, ...
    key: str  # the send's key everywhere: "<notification id>.<channel>" (file name, Message-ID, Notify reference)
    started_at: datetime
    sent_at: datetime | None = None  # None: not recorded as sent (failed, or still sending)
    how: str | None = None  # the channel's words: "written to the outbox as ...", "accepted by the mail server"
    provider_reference: str | None = None  # the outbox file's path, the SMTP Message-ID, Notify's id
    sent_sha256: str | None = None  # of the exact bytes sent; None: not recorded (sent before 2026-12)
    sent_size: int | None = None
    sent_as: SentAs | None = None  # what those bytes are: the outbox file, the MIME message, Notify's request body
    delivered_at: datetime | None = None
    delivery_evidence: str | None = None  # the outbox file written; Notify's receipt in words
    receipt: AuditReceipt | None = None  # the provider's receipt (Notify), delivered or failed
    failure: str | None = None  # why this attempt failed
    # a letter: the renderer that printed it (recorded since 2026-12), and the letter made again now from the stored
    # content, by the service answering (None: not a letter, not sent, or its content no longer hashes as stored)
    made_with: str | None = None
    made_again_sha256: str | None = None
    made_again_with: str | None = None


class NotificationAudit(View):
    """Everything the record holds about one notification, as stored: who it was to (name and relationship,
    never an address), why it was owed, every step with its time and actor, the content hash (and whether the
    stored content still hashes to it), and for each send the hash of the exact bytes sent, the provider's
    reference and the delivery receipt."""

    notification_id: UUID
    pupil_id: UUID
    school_urn: str | None
    case_id: UUID | None
    duty: Duty
    recipient_name: str | None
    relationship: str | None
    recipients: str  # "<name> (<relationship>)", or "nobody recorded"
    preferred_channel: str | None
    needs: str | None = None  # the recipient's language and format needs, as recorded when it was owed
    reference: str | None = None  # the short reference printed on it
    sender: str | None = None  # who it is from
    dated_on: date | None = None  # the date it states as the day it is sent
    cause_event_id: UUID
    cause_event_type: str
    owed_since: date
    status: NotificationStatus
    reason: Paragraphs | None
    template: str | None
    content_hash: str | None  # sha256 of the content written (subject, body, SMS text), stored when written
    content_hash_recomputed: str | None  # the same hash computed again now from the stored content
    attempts: list[AuditAttempt]
    steps: list[AuditStep]


class AuditNotification(Query):
    """An auditor's (or caseworker's) view of one notification as the record holds it, for checking against
    the outbox file or the provider: `sendcase audit notification <id>`."""

    SUBJECT = "notifications.audit"
    Result = NotificationAudit

    notification_id: UUID


class NotificationsSubjectAccess(SubjectAccess):
    SUBJECT = "notifications.subject_access"


class NotificationsReads(ChildReads):
    SUBJECT = "notifications.reads"
