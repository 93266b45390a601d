"""The notifications service's integration events, as published on JetStream (each with its SCHEMA_VERSION)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from contracts.envelope import EventPayload
from contracts.text import Paragraphs


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
    ACCESS_INVITATION = "access_invitation"  # a family member invited to see the child's record: their one-time code


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
    TOLD_LATER = "told_later"  # could not be told at first; owed again to the people recorded since


UNDELIVERED = [
    NotificationStatus.OWED,
    NotificationStatus.RENDERED,
    NotificationStatus.SENDING,
    NotificationStatus.RETRY_DUE,
    NotificationStatus.FAILED,
    NotificationStatus.CANNOT_NOTIFY,
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
    reason: Paragraphs
