"""Who looked at a child's records: every read of a child's record by a person, itself recorded (docs/security.md).

Every service records each read of a child's record by a person (never its own policy's) in its read log, in the
runtime (services/runtime/read_log.py): who (user, role, organisation), which child, which query, when, the
correlation id, and whether it was shown or refused. Every service that holds personal data answers one query of
this shape, declared once here: its contracts name it with a subclass (`class RegisterReads(ChildReads): SUBJECT =
"register.reads"`) and its entrypoints bind it, in one line, to the runtime's read log. `sendcase audit reads`
asks every service that declares one; the subject access export shows them (docs/audit.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from contracts.envelope import Query, View
from contracts.paging import cursor, page_size
from contracts.service import declared_queries

READS_PAGE_SIZE, READS_PAGE_MOST = 200, 1000  # a read is about 300 bytes of JSON


class ReadRecord(View):
    """One read of the child's record: who, when, what they asked, and whether it was shown or refused."""

    position: int  # in the service's read log
    read_at: datetime
    query: str  # what was asked, e.g. "register.pupil"
    outcome: Literal["read", "refused"]  # shown, or refused (not authorised)
    # Who: a member of staff's user id; a parent's or young person's id at their identity provider ("[erased]"
    # once the child's personal data is erased: it was kept sealed under the child's key).
    user_id: str
    role: str
    organisation: str
    correlation_id: UUID


class ReadsPage(View):
    service: str
    pupil_id: UUID
    reads: list[ReadRecord]  # in the order they were recorded
    next_after: str | None = None  # the next page's `after`; None: this is the last page


class ChildReads(Query):
    """Who looked at a child's records in this service, and when: for the LA's auditors, managers and data officer.
    Each service that holds personal data declares a subclass naming its SUBJECT ("<service>.reads")."""

    Result = ReadsPage

    pupil_id: UUID
    page_size: int = page_size(default=READS_PAGE_SIZE, most=READS_PAGE_MOST)
    after: str | None = cursor()


def read_log_queries() -> list[type[ChildReads]]:
    """Every service's read log query, from every contracts package: in the order of their subjects."""
    return declared_queries(ChildReads)
