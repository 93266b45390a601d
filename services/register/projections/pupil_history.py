"""`pupil_history`: a pupil's full history in words, with who did what and when, and their SEN status
history (`pupil_status_history`), the changes of status and needs a pupil record shows.

Never the protected address of a child looked after (only that one is held).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from contracts.identifiers import NeedType, SenStatus
from contracts.register import PupilStatusChange
from services.register.domain.pupil import Pupil
from services.runtime.aggregate import event_metadata
from services.runtime.clock import today_in_england
from services.runtime.dispatch import EventDispatch
from services.runtime.projection import as_columns, unnest_insert, update_all
from services.runtime.sealing import ERASED

# What happened, in a SENCO's words: (what, detail).
describe = EventDispatch[tuple[str, str]]("a pupil's history in words")
# For changes of SEN status or needs: (the status after it, or None where it stays as it was, the words).
status_change = EventDispatch[tuple[SenStatus | None, str]]("a change of SEN status or needs")


def _needs(e: Any) -> str:
    return e.primary_need + (f", then {e.secondary_need}" if e.secondary_need else "")


describe.on(Pupil.Registered)(lambda e: ("put on the roll", f"school {e.school_urn}"))
describe.on(Pupil.RollDetailsUpdated)(
    lambda e: ("roll details updated", f"{e.given_name} {e.family_name}, born {e.date_of_birth}")
)
describe.on(Pupil.PeopleWithParentalResponsibilityRecorded)(
    lambda e: (
        "people with parental responsibility recorded",
        ", ".join(f"{p['name']} ({p['relationship']})" for p in e.people),
    )
)


describe.on(Pupil.InvitationMade)(
    lambda e: ("invited to see this record", f"person {e.person_id}; the code works until {e.expires_on}")
)
describe.on(Pupil.AccessGranted)(
    lambda e: ("can now see this record", f"{e.grant['relationship']} (person {e.grant['person_id']}), as invited")
)
describe.on(Pupil.AccessRevoked)(lambda e: ("access to this record ended", e.reason))
describe.on(Pupil.LegalHoldPlaced)(lambda e: ("legal hold placed", f"{e.kind}: {e.reference}"))
describe.on(Pupil.LegalHoldLifted)(lambda e: ("legal hold lifted", e.reference))
describe.on(Pupil.Erased)(
    lambda e: (
        "personal data erased",
        f"under {e.rule}; people erased with it: {len(e.people_erased)}, kept (named on other records): "
        f"{len(e.people_kept)}",
    )
)


@describe.on(Pupil.LookedAfterRecorded)
def _(e: Any) -> tuple[str, str]:
    if not e.looked_after:
        return "no longer looked after", ""
    held = "; protected address held (never shown)" if e.protected_address else ""
    return "child looked after", f"PEP {e.pep_reference}{held}"


@describe.on(Pupil.OtherRegistersRecorded)
def _(e: Any) -> tuple[str, str]:
    flags = [f for f, on in (("EAL", e.eal), ("medical needs", e.medical_needs)) if on]
    plan = f"; healthcare plan {e.healthcare_plan_reference}" if e.healthcare_plan_reference else ""
    return "other registers", (", ".join(flags) or "none") + plan


describe.on(Pupil.ConsentToShareGiven)(
    lambda e: ("consent to share given", f"by {e.given_by_name} ({e.given_by.replace('_', ' ')})")
)
describe.on(Pupil.ConsentToShareWithdrawn)(lambda e: ("consent to share withdrawn", ""))
describe.on(Pupil.ConcernNoted)(lambda e: ("concern noted (monitoring, not on the SEN register)", e.note))
describe.on(Pupil.AddedToSenSupport)(lambda e: ("added to SEN support (K)", f"needs {_needs(e)}: {e.reason}"))
describe.on(Pupil.NeedsChanged)(lambda e: ("need types changed", f"needs {_needs(e)}: {e.reason}"))
describe.on(Pupil.RemovedFromSenRegister)(lambda e: ("removed from the SEN register", e.reason))
describe.on(Pupil.SpecialEducationalProvisionMade)(lambda e: ("special educational provision made", e.provision))
describe.on(Pupil.EhcPlanFinalised)(lambda e: ("EHC plan finalised (E)", f"case {e.case_id}, needs {_needs(e)}"))
describe.on(Pupil.EhcPlanCeasedToSenSupport)(lambda e: ("EHC plan ceased: back to SEN support (K)", e.reason))
describe.on(Pupil.EhcPlanCeasedOffRegister)(lambda e: ("EHC plan ceased: off the SEN register", e.reason))
describe.on(Pupil.TransferredToSchool)(
    lambda e: ("moved school", f"from {e.from_school_urn} to {e.to_school_urn}: {e.reason}")
)
describe.on(Pupil.TransferAcknowledged)(
    lambda e: ("record received and acknowledged", f"from school {e.from_school_urn}")
)

status_change.on(Pupil.AddedToSenSupport)(lambda e: (SenStatus.SEN_SUPPORT, "added to SEN support (K)"))
status_change.on(Pupil.NeedsChanged)(lambda e: (None, "need types changed"))
status_change.on(Pupil.RemovedFromSenRegister)(lambda e: (SenStatus.NO_SEN, "removed from the SEN register"))
status_change.on(Pupil.EhcPlanFinalised)(lambda e: (SenStatus.EHC_PLAN, "EHC plan finalised (E)"))
status_change.on(Pupil.EhcPlanCeasedToSenSupport)(
    lambda e: (SenStatus.SEN_SUPPORT, "EHC plan ceased: back to SEN support (K)")
)
status_change.on(Pupil.EhcPlanCeasedOffRegister)(lambda e: (SenStatus.NO_SEN, "EHC plan ceased: off the SEN register"))

# The day a change took effect, where the event has one: the first of these attributes that holds a date.
EFFECTIVE_DATE_ATTRIBUTES = (
    "effective_date",
    "issued_on",
    "ceased_on",
    "leaving_date",
    "received_on",
    "noted_on",
    "given_on",
    "withdrawn_on",
    "on_roll_from",
)


def effective_date(event: Any) -> date | None:
    found = (getattr(event, name, None) for name in EFFECTIVE_DATE_ATTRIBUTES)
    return next((value for value in found if isinstance(value, date)), None)


STATUS_LINE = (
    "recorded_at",
    "effective_date",
    "status",
    "primary_need",
    "secondary_need",
    "reason",
    "evidence_reference",
    "by_user",
    "by_role",
    "by_organisation",
)


def status_line(event: Any, status_before: str | None) -> tuple[Any, ...] | None:
    """The line an event adds to the pupil's status history, as stored (the fields of STATUS_LINE, enums as
    their codes), or None: it changes neither status nor needs."""
    changed = status_change(event)
    if changed is None:
        return None
    status, what = changed
    actor = event_metadata(event)["actor"]
    primary = getattr(event, "primary_need", None)
    secondary = getattr(event, "secondary_need", None)
    return (
        event.timestamp,
        effective_date(event) or today_in_england(event.timestamp),
        SenStatus(status or status_before or SenStatus.SEN_SUPPORT).value,  # needs changed: the status stays
        NeedType(primary).value if primary else None,
        NeedType(secondary).value if secondary else None,
        getattr(event, "reason", None) or what,
        getattr(event, "evidence_reference", None),
        actor["user_id"],
        actor["role"],
        actor["organisation"],
    )


def status_row(event: Any, status_before: SenStatus | None) -> PupilStatusChange | None:
    """The line an event adds to the pupil's status history (None: it changes neither status nor needs)."""
    line = status_line(event, status_before)
    return None if line is None else PupilStatusChange(**dict(zip(STATUS_LINE, line, strict=True)))


def status_history_of(events: Iterable[Any]) -> list[PupilStatusChange]:
    """A pupil's status history from their events, as the read model keeps it (for a pure fold in tests)."""
    history: list[PupilStatusChange] = []
    for event in events:
        row = status_row(event, history[-1].status if history else None)
        if row is not None:
            history.append(row)
    return history


class PupilHistoryView:
    """A pupil's full history in words and their status history (its own position: rebuilt on its own)."""

    name = "pupil_history"
    version = 2  # 2: the status history joined it

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS pupil_history (
                pupil_id        uuid NOT NULL,
                log_position    bigint NOT NULL,
                recorded_at     timestamptz NOT NULL,
                effective_date  date,
                what            text NOT NULL,
                detail          text NOT NULL,
                school_urn      text NOT NULL,
                by_user         text NOT NULL,
                by_role         text NOT NULL,
                by_organisation text NOT NULL,
                evidence_reference text,
                PRIMARY KEY (pupil_id, log_position)
            );
            CREATE TABLE IF NOT EXISTS pupil_history_schools (
                pupil_id        uuid PRIMARY KEY,
                school_urn      text NOT NULL
            );
            CREATE TABLE IF NOT EXISTS pupil_status_history (
                pupil_id        uuid NOT NULL,
                log_position    bigint NOT NULL,
                recorded_at     timestamptz NOT NULL,
                effective_date  date NOT NULL,
                status          text NOT NULL,
                primary_need    text,
                secondary_need  text,
                reason          text NOT NULL,
                evidence_reference text,
                by_user         text NOT NULL,
                by_role         text NOT NULL,
                by_organisation text NOT NULL,
                PRIMARY KEY (pupil_id, log_position)
            );
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE pupil_history, pupil_history_schools, pupil_status_history")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        await self.apply_batch(conn, [(event, notification_id)])

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[tuple[Any, int]]) -> None:
        """Fold the batch with each touched pupil's school and last status (read once), then write the
        schools, the history lines and the status lines with one statement each: the rows applying the
        events one at a time gave (a line names the school as it is right after its event; a status line
        follows the status of the pupil's latest line before it)."""
        pupil_events = [(event, position) for event, position in events if isinstance(event, Pupil.Event)]
        if not pupil_events:
            return
        touched = list({event.originator_id for event, _ in pupil_events})
        schools: dict[UUID, str] = {r["pupil_id"]: r["school_urn"] for r in await conn.fetch(SELECT_SCHOOLS, touched)}
        # each pupil's latest status line: (its position, its status)
        latest: dict[UUID, tuple[int, str]] = {
            r["pupil_id"]: (r["log_position"], r["status"]) for r in await conn.fetch(SELECT_LATEST_STATUS, touched)
        }
        moved: dict[UUID, str] = {}
        history: list[tuple[Any, ...]] = []
        statuses: list[tuple[Any, ...]] = []
        for event, position in pupil_events:
            pid = event.originator_id
            if isinstance(event, Pupil.Registered | Pupil.TransferredToSchool):
                schools[pid] = moved[pid] = getattr(event, "to_school_urn", None) or event.school_urn
            described = describe(event)
            if described is None:
                continue
            actor = event_metadata(event)["actor"]
            by = (actor["user_id"], actor["role"], actor["organisation"])
            evidence = getattr(event, "evidence_reference", None)
            history.append(
                (
                    pid,
                    position,
                    event.timestamp,
                    effective_date(event),
                    *described,
                    schools.get(pid) or "",
                    *by,
                    evidence,
                )
            )
            if status_change.handles(event):
                before = latest.get(pid)
                line = status_line(event, before[1] if before else None)
                assert line is not None
                statuses.append((pid, position, *line))
                if before is None or position > before[0]:
                    latest[pid] = (position, line[2])
        if moved:
            await conn.execute(UPSERT_SCHOOLS, list(moved), list(moved.values()))
        if history:
            await conn.execute(INSERT_HISTORY, *as_columns(history, len(HISTORY_COLUMNS)))
        if statuses:
            await conn.execute(INSERT_STATUSES, *as_columns(statuses, len(STATUS_COLUMNS)))
        erased = [(e.originator_id, position) for e, position in pupil_events if isinstance(e, Pupil.Erased)]
        if erased:  # what the lines before it quoted (names, notes, reasons) goes; who did what, and when, stays
            ids, positions = [pid for pid, _ in erased], [p for _, p in erased]
            await conn.execute(SCRUB_HISTORY, ids, positions, ERASED)
            await conn.execute(SCRUB_STATUSES, ids, positions, ERASED)


HISTORY_COLUMNS = (
    ("pupil_id", "uuid"),
    ("log_position", "bigint"),
    ("recorded_at", "timestamptz"),
    ("effective_date", "date"),
    ("what", "text"),
    ("detail", "text"),
    ("school_urn", "text"),
    ("by_user", "text"),
    ("by_role", "text"),
    ("by_organisation", "text"),
    ("evidence_reference", "text"),
)
STATUS_COLUMNS = (
    ("pupil_id", "uuid"),
    ("log_position", "bigint"),
    ("recorded_at", "timestamptz"),
    ("effective_date", "date"),
    ("status", "text"),
    ("primary_need", "text"),
    ("secondary_need", "text"),
    ("reason", "text"),
    ("evidence_reference", "text"),
    ("by_user", "text"),
    ("by_role", "text"),
    ("by_organisation", "text"),
)
SCHOOL_COLUMNS = (("pupil_id", "uuid"), ("school_urn", "text"))
SELECT_SCHOOLS = "SELECT pupil_id, school_urn FROM pupil_history_schools WHERE pupil_id = ANY($1::uuid[])"
SELECT_LATEST_STATUS = """SELECT DISTINCT ON (pupil_id) pupil_id, log_position, status FROM pupil_status_history
                          WHERE pupil_id = ANY($1::uuid[]) ORDER BY pupil_id, log_position DESC"""
UPSERT_SCHOOLS = unnest_insert("pupil_history_schools", SCHOOL_COLUMNS, update_all("pupil_id", SCHOOL_COLUMNS))
INSERT_HISTORY = unnest_insert("pupil_history", HISTORY_COLUMNS)
INSERT_STATUSES = unnest_insert("pupil_status_history", STATUS_COLUMNS)
SCRUB_HISTORY = """UPDATE pupil_history h SET detail = $3,
                   evidence_reference = CASE WHEN h.evidence_reference IS NULL THEN NULL ELSE $3 END,
                   by_user = CASE WHEN h.by_organisation = 'citizen' THEN $3 ELSE h.by_user END
                   FROM unnest($1::uuid[], $2::bigint[]) AS e(pupil_id, pos)
                   WHERE h.pupil_id = e.pupil_id AND h.log_position < e.pos"""
SCRUB_STATUSES = """UPDATE pupil_status_history h SET reason = $3,
                    evidence_reference = CASE WHEN h.evidence_reference IS NULL THEN NULL ELSE $3 END
                    FROM unnest($1::uuid[], $2::bigint[]) AS e(pupil_id, pos)
                    WHERE h.pupil_id = e.pupil_id AND h.log_position < e.pos"""
