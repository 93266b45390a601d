"""The notifications service's commands, queries and integration events (schema version 1)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from contracts.envelope import Command, Contract, EventPayload, Query
from contracts.identifiers import SchoolUrn
from contracts.people import ContactPoint, PersonToTell


class Duty(StrEnum):
    """Why someone must be told something; each names the rule that creates the duty."""

    SEN_PROVISION_STARTED = "sen_provision_started"  # CFA 2014 s.68: added to SEN support
    SEN_PROVISION_MADE = "sen_provision_made"  # CFA 2014 s.68: special educational provision made
    REMOVED_FROM_SEN_REGISTER = "removed_from_sen_register"  # Durham 2b: parents told of removal
    SUPPORT_PLAN_REVIEW_OUTCOME = "support_plan_review_outcome"  # CoP 6.65-6.71
    EHC_REQUEST_RECEIVED = "ehc_request_received"  # Regs 5(1)
    EHC_ASSESSMENT_AGREED = "ehc_assessment_agreed"  # CFA s.36(8)
    EHC_ASSESSMENT_REFUSED = "ehc_assessment_refused"  # Regs 5, with appeal rights
    EHC_ADVICE_REQUESTED = "ehc_advice_requested"  # Regs 8: advice within 6 weeks
    EHC_PLAN_NOT_ISSUED = "ehc_plan_not_issued"  # Regs 10, with appeal rights
    EHC_DRAFT_PLAN = "ehc_draft_plan"  # Regs 13(1): 15 days to respond
    EHC_FINAL_PLAN = "ehc_final_plan"  # Regs 14, with appeal rights
    ANNUAL_REVIEW_INVITATION = "annual_review_invitation"  # Regs 20
    ANNUAL_REVIEW_OUTCOME = "annual_review_outcome"  # Regs 20, Regs 22
    EHC_PLAN_CEASED = "ehc_plan_ceased"  # CFA s.45, Regs 31, with appeal rights
    PROFESSIONAL_NOTICE = "professional_notice"  # a time-driven notice an owning service asked for


class NotificationStatus(StrEnum):
    OWED = "owed"  # the duty exists; content not yet written
    RENDERED = "rendered"  # content written and hashed; waiting to be sent
    SENDING = "sending"  # handed to a channel; outcome not yet recorded
    SENT = "sent"  # the channel accepted it
    DELIVERED = "delivered"  # the channel confirmed delivery (or the file is in the outbox)
    RETRY_DUE = "retry_due"  # a transient failure, or a permanent one with another channel to try
    FAILED = "failed"  # every channel failed permanently: failed to reach
    CANNOT_NOTIFY = "cannot_notify"  # nobody to tell, or no usable contact detail
    CANCELLED = "cancelled"


UNDELIVERED = [
    NotificationStatus.OWED, NotificationStatus.RENDERED, NotificationStatus.SENDING,
    NotificationStatus.RETRY_DUE, NotificationStatus.FAILED, NotificationStatus.CANNOT_NOTIFY,
]


class NotificationOwed(EventPayload):
    TYPE = "notifications.notification_owed"
    SCHEMA_VERSION = 1

    notification_id: UUID
    duty: Duty
    pupil_id: UUID
    school_urn: str | None
    recipients: str  # who must be told: the recipient's name and relationship
    cause_event_id: UUID
    cause_event_type: str
    owed_since: date


class NotificationDelivered(EventPayload):
    TYPE = "notifications.notification_delivered"
    SCHEMA_VERSION = 1

    notification_id: UUID
    pupil_id: UUID
    school_urn: str | None
    channel: str
    content_hash: str


class CouldNotNotify(EventPayload):
    """A person entitled to be told could not be reached: a school or LA officer must act."""

    TYPE = "notifications.could_not_notify"
    SCHEMA_VERSION = 1

    notification_id: UUID
    duty: Duty
    pupil_id: UUID
    school_urn: str | None
    recipient: str | None
    reason: str


class NotificationsForPupil(Query):
    SUBJECT = "notifications.for_pupil"

    pupil_id: UUID


class NotificationsForCase(Query):
    SUBJECT = "notifications.for_case"

    case_id: UUID


class UndeliveredNotifications(Query):
    """Everything not yet delivered (waiting, retrying, failed, cannot notify); one school or LA-wide."""

    SUBJECT = "notifications.undelivered"

    school_urn: SchoolUrn | None = None


class FailedToReach(Query):
    """People we could not reach on some channel, or at all: the caseworker's or SENCO's list to act on."""

    SUBJECT = "notifications.failed_to_reach"

    school_urn: SchoolUrn | None = None


class NotificationCounts(Query):
    """Counts by duty and status, for one school or LA-wide (no school_urn)."""

    SUBJECT = "notifications.counts"

    school_urn: SchoolUrn | None = None


class NotificationView(Contract):
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
    reason: str | None  # why it could not be sent or delivered, for a person
    unreachable_channels: list[str]  # channels that failed permanently (e.g. invalid email address)
    attempts: int
    subject: str | None
    body: str | None
    content_hash: str | None
    cause_event_id: UUID
    cause_event_type: str
    owed_since: date
    recorded_at: datetime
    updated_at: datetime
    history: list[dict[str, Any]]  # every step: what happened, when, on which channel


class CountsView(Contract):
    school_urn: str | None
    total: int
    by_status: dict[str, int]
    by_duty: dict[str, dict[str, int]]


class RequestProfessionalNotice(Command):
    """An owning service (ehcp, plans) asks for a time-driven notice to be sent now, e.g. an annual review
    notice to professionals 6 weeks ahead (Durham policy). The owner keeps the clock; notifications only
    delivers. `notice_id` is the owner's key: asking twice sends once."""

    SUBJECT = "notifications.request_professional_notice"

    notice_id: UUID
    pupil_id: UUID
    case_id: UUID | None = None
    school_urn: SchoolUrn | None = None
    child_name: str = Field(min_length=1, max_length=200)
    about: str = Field(min_length=1, max_length=200)  # "Annual review of Sam Taylor's EHC plan"
    details: str = Field(min_length=1, max_length=4000)  # what is happening and what is asked of them
    respond_by: date | None = None
    event_on: date | None = None  # e.g. the review meeting date
    people_to_tell: list[PersonToTell] = Field(min_length=1, max_length=50)
    contact: ContactPoint


class CancelNotification(Command):
    """A notification not yet sent is no longer owed, or was fulfilled another way (e.g. handed to the
    parent at a meeting). The reason is kept for the auditor."""

    SUBJECT = "notifications.cancel"

    notification_id: UUID
    reason: str = Field(min_length=5, max_length=1000)


class DeliveryReceipt(Command):
    """A GOV.UK Notify delivery status callback, forwarded as it came (Notify's documented shape)."""

    SUBJECT = "notifications.delivery_receipt"

    id: UUID  # Notify's id for the message
    reference: str | None = Field(min_length=1, max_length=200)  # ours: "<notification id>:<channel>"
    to: str = Field(max_length=400)
    status: Literal[
        "delivered", "permanent-failure", "temporary-failure", "technical-failure", "sending", "created",
        "accepted", "received", "pending", "sent", "failed", "validation-failed", "cancelled",
        "pending-virus-check", "virus-scan-failed",
    ]
    created_at: datetime
    completed_at: datetime | None = None
    sent_at: datetime | None = None
    notification_type: Literal["email", "sms", "letter"]
