"""What may be asked of the notifications service: its commands, each naming its Result."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.envelope import Command, View
from contracts.identifiers import SchoolUrn
from contracts.people import ContactPoint, PersonToTell
from contracts.text import Paragraphs


class NoticeRequested(View):
    """The notices owed to each professional named (asking again finds the same ones)."""

    notification_ids: list[UUID]


class NotificationRef(View):
    notification_id: UUID


class ReceiptRecorded(View):
    notification_id: UUID
    status: str  # what the receipt changed: the notification's status now, or "no change"


class RequestProfessionalNotice(Command):
    """An owning service (ehcp, plans) asks for a time-driven notice to be sent now, e.g. an annual review
    notice to professionals 6 weeks ahead (Durham policy). The owner keeps the clock; notifications only
    delivers. `notice_id` is the owner's key: asking twice sends once."""

    SUBJECT = "notifications.request_professional_notice"
    Result = NoticeRequested

    notice_id: UUID
    pupil_id: UUID
    case_id: UUID | None = None
    school_urn: SchoolUrn | None = None
    child_name: str = Field(min_length=1, max_length=200)
    about: str = Field(min_length=1, max_length=200)  # "Annual review of Sam Taylor's EHC plan"
    details: Paragraphs = Field(min_length=1, max_length=4000)  # what is happening and what is asked of them
    respond_by: date | None = None
    event_on: date | None = None  # e.g. the review meeting date
    people_to_tell: list[PersonToTell] = Field(min_length=1, max_length=50)
    contact: ContactPoint


class CancelNotification(Command):
    """A notification not yet sent is no longer owed, or was fulfilled another way (e.g. handed to the
    parent at a meeting). The reason is kept for the auditor."""

    SUBJECT = "notifications.cancel"
    Result = NotificationRef

    notification_id: UUID
    reason: Paragraphs = Field(min_length=5, max_length=1000)


class DeliveryReceipt(Command):
    """A GOV.UK Notify delivery status callback, forwarded as it came (Notify's documented shape)."""

    SUBJECT = "notifications.delivery_receipt"
    Result = ReceiptRecorded

    id: UUID  # Notify's id for the message
    reference: str | None = Field(min_length=1, max_length=200)  # ours: "<notification id>:<channel>"
    to: str = Field(max_length=400)
    status: Literal[
        "delivered",
        "permanent-failure",
        "temporary-failure",
        "technical-failure",
        "sending",
        "created",
        "accepted",
        "received",
        "pending",
        "sent",
        "failed",
        "validation-failed",
        "cancelled",
        "pending-virus-check",
        "virus-scan-failed",
    ]
    created_at: datetime
    completed_at: datetime | None = None
    sent_at: datetime | None = None
    notification_type: Literal["email", "sms", "letter"]
