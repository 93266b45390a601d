"""Subject access (UK GDPR Article 15): everything a service holds about a child, for the LA's data officer.

Every service that holds personal data answers one query of this shape, declared once here: a service's
contracts name it with a subclass (`class RegisterSubjectAccess(SubjectAccess): SUBJECT =
"register.subject_access"`) and its entrypoints bind it, in one line, to the runtime's collection
(services/runtime/subject_access.py), which finds every stored fact whose `data_subject` is the child. The
CLI (`sendcase audit subject-access`) asks every service that declares one, page after page, and assembles
the export a family is sent (docs/audit.md, "Subject access").

An answer holds what is stored, opened: "[erased]" where a person's key was destroyed, "[withheld]" where a
service never discloses a value (a child looked after's protected address). It holds third parties' personal
data (staff user ids, other people named): the export removes what the LA's policy says to, and marks it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from contracts.envelope import Query, View
from contracts.paging import cursor, page_size
from contracts.service import declared_queries

# Page sizes (contracts/paging.py): a fact is a few hundred bytes, a message's up to several KB (its text).
SUBJECT_ACCESS_PAGE_SIZE, SUBJECT_ACCESS_PAGE_MOST = 100, 500

WITHHELD = "[withheld]"  # a value a service never discloses, even to the person it is about

# How a record is shown: "record" (the child's record, field by field) or "message" (something sent to the
# family: the export shows to whom, on which channel, when, what it said and whether it arrived). A message
# record's `as_it_stands` carries: recipient (a person: name, relationship, has_parental_responsibility,
# contact details), duty, channel, status, content (subject, body, sms), owed_since, reason, unreachable.
ShownAs = Literal["record", "message"]


class HeldFact(View):
    """One stored fact about the child: what was recorded, when, and by whom."""

    position: int  # in the service's log
    recorded_at: datetime
    record_id: UUID
    record_kind: str  # the kind of record it changed, e.g. "Pupil", "Notification"
    what: str  # the fact's name, e.g. "AddedToSenSupport"
    by_user: str | None  # who recorded it (a person's user id, or service:<name> for a service's own policy)
    by_role: str | None
    by_organisation: str | None
    details: dict[str, Any]  # the fact's fields as stored, opened


class HeldRecord(View):
    """A record about the child as it stands now (after its last fact)."""

    record_id: UUID
    record_kind: str
    shown_as: ShownAs
    first_recorded_at: datetime
    last_changed_at: datetime
    as_it_stands: dict[str, Any]


class HeldPage(View):
    """One page of what a service holds about a child: its facts in log order, and each record whose last fact
    is on this page, as it stands."""

    service: str
    pupil_id: UUID
    erased: bool  # the child's personal data was erased (their key destroyed): "[erased]" stands in for it
    records: list[HeldRecord]
    facts: list[HeldFact]
    next_after: str | None = None  # the next page's `after`; None: this is the last page


class SubjectAccess(Query):
    """Everything this service holds about a child, for the LA's data officer or auditor only. Each service
    that holds personal data declares a subclass naming its SUBJECT ("<service>.subject_access")."""

    Result = HeldPage

    pupil_id: UUID
    # Paged (contracts/paging.py): facts in the order they were recorded.
    page_size: int = page_size(default=SUBJECT_ACCESS_PAGE_SIZE, most=SUBJECT_ACCESS_PAGE_MOST)
    after: str | None = cursor()


def subject_access_queries() -> list[type[SubjectAccess]]:
    """Every service's subject access query, from every contracts package (a new service's joins by being
    declared): in the order of their subjects."""
    return declared_queries(SubjectAccess)
