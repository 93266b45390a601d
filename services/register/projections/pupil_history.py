"""`pupil_history`: a pupil's full history in words, with who did what and when, and their SEN status
history (`pupil_status_history`), the changes of status and needs a pupil record shows.

Never the protected address of a child looked after (only that one is held).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import asyncpg

from contracts.identifiers import SenStatus
from contracts.register import PupilStatusChange
from services.register.domain.pupil import Pupil
from services.runtime.aggregate import event_metadata
from services.runtime.clock import today_in_england
from services.runtime.dispatch import EventDispatch

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


def status_row(event: Any, status_before: SenStatus | None) -> PupilStatusChange | None:
    """The line an event adds to the pupil's status history (None: it changes neither status nor needs)."""
    changed = status_change(event)
    if changed is None:
        return None
    status, what = changed
    actor = event_metadata(event)["actor"]
    return PupilStatusChange(
        recorded_at=event.timestamp,
        effective_date=effective_date(event) or today_in_england(event.timestamp),
        status=status or status_before or SenStatus.SEN_SUPPORT,  # needs changed: the status stays
        primary_need=getattr(event, "primary_need", None) or None,
        secondary_need=getattr(event, "secondary_need", None) or None,
        reason=getattr(event, "reason", None) or what,
        evidence_reference=getattr(event, "evidence_reference", None),
        by_user=actor["user_id"],
        by_role=actor["role"],
        by_organisation=actor["organisation"],
    )


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
        if not isinstance(event, Pupil.Event):
            return
        pid = event.originator_id
        if isinstance(event, Pupil.Registered | Pupil.TransferredToSchool):
            await conn.execute(
                """INSERT INTO pupil_history_schools VALUES ($1, $2)
                   ON CONFLICT (pupil_id) DO UPDATE SET school_urn = EXCLUDED.school_urn""",
                pid,
                getattr(event, "to_school_urn", None) or event.school_urn,
            )
        described = describe(event)
        if described is None:
            return
        actor = event_metadata(event)["actor"]
        by = (actor["user_id"], actor["role"], actor["organisation"])
        school = await conn.fetchval("SELECT school_urn FROM pupil_history_schools WHERE pupil_id = $1", pid)
        evidence = getattr(event, "evidence_reference", None)
        await conn.execute(
            """INSERT INTO pupil_history VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
               ON CONFLICT DO NOTHING""",
            pid,
            notification_id,
            event.timestamp,
            effective_date(event),
            described[0],
            described[1],
            school or "",
            *by,
            evidence,
        )
        if status_change.handles(event):
            before = await conn.fetchval(
                "SELECT status FROM pupil_status_history WHERE pupil_id = $1 ORDER BY log_position DESC LIMIT 1", pid
            )
            row = status_row(event, SenStatus(before) if before else None)
            assert row is not None
            await conn.execute(
                """INSERT INTO pupil_status_history VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                   ON CONFLICT DO NOTHING""",
                pid,
                notification_id,
                row.recorded_at,
                row.effective_date,
                row.status.value,
                row.primary_need.value if row.primary_need else None,
                row.secondary_need.value if row.secondary_need else None,
                row.reason,
                row.evidence_reference,
                row.by_user,
                row.by_role,
                row.by_organisation,
            )
