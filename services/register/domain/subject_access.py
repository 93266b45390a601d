"""A subject access request about a child, recorded as a fact in the register's log before it is answered.

Who asked is recorded as a kind of requester (a parent, the young person, a representative) and the LA's own
reference, never a name: the fact holds nothing personal, so it stays readable after the child is erased, and
a later export shows it. Each export made for the request is recorded too (by whom: the event's actor).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import derived_id
from services.runtime.aggregate import Aggregate
from services.runtime.errors import DomainError


def one_month_after(received_on: date) -> date:
    """The day a subject access request must be answered by (UK GDPR Article 12(3), as the ICO reads it): the
    same date next month, or that month's last day when it has no such date (31 January: 28 or 29 February);
    a Saturday or Sunday moves to the Monday. (A bank holiday also moves it to the next working day: not
    known here, so the date may be a day early, never late.)"""
    year, month = (received_on.year + 1, 1) if received_on.month == 12 else (received_on.year, received_on.month + 1)
    due = date(year, month, min(received_on.day, calendar.monthrange(year, month)[1]))
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


class SubjectAccessRequest(Aggregate):
    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Received: ClassVar[type[Any]]
        ExportMade: ClassVar[type[Any]]

    @staticmethod
    def create_id(reference: str, **_: Any) -> UUID:
        return derived_id("subject-access-request", reference)

    @property
    def data_subject(self) -> UUID:
        return self.pupil_id

    @event("Received")
    def __init__(self, reference: str, pupil_id: UUID, requester: str, received_on: date) -> None:
        self.reference = reference
        self.pupil_id = pupil_id
        self.requester = requester
        self.received_on = received_on
        # UK GDPR Article 12(3): without undue delay and at the latest within one month of receipt
        self.respond_by = one_month_after(received_on)
        self.exports_made = 0

    def check_same_request(self, pupil_id: UUID, requester: str, received_on: date) -> None:
        if (pupil_id, requester, received_on) != (self.pupil_id, self.requester, self.received_on):
            raise DomainError(
                f"The subject access request {self.reference} was recorded on {self.received_on:%d %B %Y} "
                "for another child, requester or date of receipt: give this request its own reference.",
                rule="reference_taken",
                field="reference",
            )

    @event("ExportMade")
    def export_made(self, made_on: date) -> None:
        self.exports_made += 1
