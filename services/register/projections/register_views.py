"""`register_views`: the current register (`register_pupils`) and its dated timeline (`register_timeline`).

The timeline row copies the pupil's row after each change that moves the register, dated by the day the
change took effect, so the register can be read back exactly as it stood on any date.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from contracts.identifiers import SenStatus
from services.register.domain.pupil import Pupil
from services.runtime.clock import today_in_england
from services.runtime.dispatch import EventDispatch
from services.runtime.projection import as_columns, unnest_insert, update_all
from services.runtime.sealing import ERASED

K, E, N = SenStatus.SEN_SUPPORT.value, SenStatus.EHC_PLAN.value, SenStatus.NO_SEN.value

# The columns of register_pupils each event changes, and their new values.
changes = EventDispatch[dict[str, Any]]("register_pupils columns changed")
# The day each event that moves the register took effect (the timeline's effective_from).
took_effect = EventDispatch[date]("the day a register change took effect")


@changes.on(Pupil.RollDetailsUpdated)
def _(e: Any) -> dict[str, Any]:
    return {
        "given_name": e.given_name,
        "family_name": e.family_name,
        "date_of_birth": e.date_of_birth,
        "year_group": e.year_group,
        "year_group_on": e.on,
    }


@changes.on(Pupil.ConcernNoted)
def _(e: Any) -> dict[str, Any]:
    return {"on_monitoring": True}


@changes.on(Pupil.AddedToSenSupport)
def _(e: Any) -> dict[str, Any]:
    return {
        "status": K,
        "primary_need": e.primary_need,
        "secondary_need": e.secondary_need,
        "removed_on": None,
        "on_monitoring": False,
    }


@changes.on(Pupil.NeedsChanged)
def _(e: Any) -> dict[str, Any]:
    return {"primary_need": e.primary_need, "secondary_need": e.secondary_need}


@changes.on(Pupil.RemovedFromSenRegister)
def _(e: Any) -> dict[str, Any]:
    return {"status": N, "primary_need": None, "secondary_need": None, "removed_on": e.effective_date}


@changes.on(Pupil.EhcPlanFinalised)
def _(e: Any) -> dict[str, Any]:
    secondary = e.secondary_need if e.secondary_need != e.primary_need else None
    return {
        "status": E,
        "primary_need": e.primary_need,
        "secondary_need": secondary,
        "removed_on": None,
        "on_monitoring": False,
    }


@changes.on(Pupil.EhcPlanCeasedToSenSupport)
def _(e: Any) -> dict[str, Any]:
    return {"status": K}


@changes.on(Pupil.EhcPlanCeasedOffRegister)
def _(e: Any) -> dict[str, Any]:
    return {"status": N, "primary_need": None, "secondary_need": None, "removed_on": e.ceased_on}


@changes.on(Pupil.TransferredToSchool)
def _(e: Any) -> dict[str, Any]:
    return {"school_urn": e.to_school_urn, "awaiting_acknowledgement": True}


@changes.on(Pupil.TransferAcknowledged)
def _(e: Any) -> dict[str, Any]:
    return {"awaiting_acknowledgement": False}


@changes.on(Pupil.Erased)
def _(e: Any) -> dict[str, Any]:
    # The year group the pupil was in is kept (it is no one's date of birth), so the counts by year group for
    # any date read the same as before the erasure.
    return {
        "upn": ERASED,
        "given_name": ERASED,
        "family_name": ERASED,
        "date_of_birth": None,
        "year_group": e.year_group,
        "year_group_on": e.erased_on,
    }


took_effect.on(Pupil.Registered)(lambda e: e.on_roll_from)
took_effect.on(Pupil.AddedToSenSupport, Pupil.NeedsChanged, Pupil.RemovedFromSenRegister)(lambda e: e.effective_date)
took_effect.on(Pupil.EhcPlanFinalised)(lambda e: e.issued_on)
took_effect.on(Pupil.EhcPlanCeasedToSenSupport, Pupil.EhcPlanCeasedOffRegister)(lambda e: e.ceased_on)
took_effect.on(Pupil.TransferredToSchool)(lambda e: e.leaving_date)


class RegisterViews:
    """The current register and its dated timeline, kept together: the timeline row copies the pupil's row;
    and each pupil's latest timeline row (by date it took effect, then log order), which is the pupil's row
    as at any date on or after it: the whole LA as at such a date is read from it, not from the timeline."""

    name = "register_views"
    version = 3  # 2: register_latest; 3: erasure (a date of birth may be NULL)

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS register_pupils (
                pupil_id        uuid PRIMARY KEY,
                upn             text NOT NULL,
                given_name      text NOT NULL,
                family_name     text NOT NULL,
                date_of_birth   date,  -- NULL once erased
                year_group      int,
                year_group_on   date,
                school_urn      text NOT NULL,
                status          text NOT NULL,
                primary_need    text,
                secondary_need  text,
                removed_on      date,
                on_monitoring   boolean NOT NULL DEFAULT false,
                awaiting_acknowledgement boolean NOT NULL DEFAULT false,
                log_position    bigint NOT NULL
            );
            CREATE INDEX IF NOT EXISTS register_pupils_school ON register_pupils (school_urn, status);
            CREATE TABLE IF NOT EXISTS register_timeline (
                pupil_id        uuid NOT NULL,
                log_position    bigint NOT NULL,
                effective_from  date NOT NULL,
                school_urn      text NOT NULL,
                status          text NOT NULL,
                primary_need    text,
                secondary_need  text,
                removed_on      date,
                recorded_at     timestamptz NOT NULL,
                PRIMARY KEY (pupil_id, log_position)
            );
            CREATE INDEX IF NOT EXISTS register_timeline_when ON register_timeline (effective_from);
            -- as at a date, for one school: that school's rows by date (services/register/queries.py) ...
            CREATE INDEX IF NOT EXISTS register_timeline_school ON register_timeline (school_urn, effective_from);
            -- ... and each pupil's latest row on or before a date (for one pupil, or in one pass for the LA,
            -- read from the index alone: it carries every column an as-at query reads)
            CREATE INDEX IF NOT EXISTS register_timeline_latest
                ON register_timeline (pupil_id, effective_from DESC, log_position DESC)
                INCLUDE (school_urn, status, primary_need, secondary_need, removed_on, recorded_at);
            CREATE TABLE IF NOT EXISTS register_latest (
                pupil_id        uuid PRIMARY KEY,
                log_position    bigint NOT NULL,
                effective_from  date NOT NULL,
                school_urn      text NOT NULL,
                status          text NOT NULL,
                primary_need    text,
                secondary_need  text,
                removed_on      date,
                recorded_at     timestamptz NOT NULL
            );
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE register_pupils, register_timeline, register_latest")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        await self.apply_batch(conn, [(event, notification_id)])

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[tuple[Any, int]]) -> None:
        """Fold the batch into the rows of the pupils it touches (read once), then write those rows and the
        new timeline rows with one statement each. A pupil's row is created by Registered only (a change to
        a pupil not on the register changes nothing), and each timeline row copies the pupil's row as it is
        right after its event, as applying the events one at a time did."""
        pupil_events = [(event, position) for event, position in events if isinstance(event, Pupil.Event)]
        if not pupil_events:
            return  # roll imports: their reports are read from the event store
        touched = list({event.originator_id for event, _ in pupil_events})
        rows: dict[UUID, dict[str, Any]] = {r["pupil_id"]: dict(r) for r in await conn.fetch(SELECT_PUPILS, touched)}
        written: dict[UUID, dict[str, Any]] = {}
        timeline: list[tuple[Any, ...]] = []
        for event, position in pupil_events:
            pid = event.originator_id
            row = rows.get(pid)
            if isinstance(event, Pupil.Registered):
                if row is None:  # (a pupil already on the register keeps their row)
                    row = rows[pid] = written[pid] = {
                        "pupil_id": pid,
                        "upn": event.upn,
                        "given_name": event.given_name,
                        "family_name": event.family_name,
                        "date_of_birth": event.date_of_birth,
                        "year_group": getattr(event, "year_group", None),
                        "year_group_on": event.on_roll_from,
                        "school_urn": event.school_urn,
                        "status": N,
                        "primary_need": None,
                        "secondary_need": None,
                        "removed_on": None,
                        "on_monitoring": False,
                        "awaiting_acknowledgement": False,
                        "log_position": position,
                    }
            elif row is not None and (columns := changes(event)) is not None:
                row.update(columns)
                row["log_position"] = position
                written[pid] = row
            if row is not None and took_effect.handles(event):
                effective_from = took_effect(event)
                if not isinstance(effective_from, date):  # recorded without a day: the day it was recorded
                    effective_from = today_in_england(event.timestamp)
                timeline.append(
                    (
                        pid,
                        position,
                        effective_from,
                        row["school_urn"],
                        row["status"],
                        row["primary_need"],
                        row["secondary_need"],
                        row["removed_on"],
                        event.timestamp,
                    )
                )
        if written:
            pupils = [pupil_values(row) for row in written.values()]
            await conn.execute(UPSERT_PUPILS, *as_columns(pupils, len(PUPIL_COLUMNS)))
        if timeline:
            await conn.execute(INSERT_TIMELINE, *as_columns(timeline, len(TIMELINE_COLUMNS)))
            latest: dict[UUID, tuple[Any, ...]] = {}
            for entry in timeline:  # (pupil, position, effective_from, ...): the batch's latest row per pupil
                held = latest.get(entry[0])
                if held is None or (entry[2], entry[1]) > (held[2], held[1]):
                    latest[entry[0]] = entry
            await conn.execute(UPSERT_LATEST, *as_columns(list(latest.values()), len(TIMELINE_COLUMNS)))


PUPIL_COLUMNS = (
    ("pupil_id", "uuid"),
    ("upn", "text"),
    ("given_name", "text"),
    ("family_name", "text"),
    ("date_of_birth", "date"),
    ("year_group", "int"),
    ("year_group_on", "date"),
    ("school_urn", "text"),
    ("status", "text"),
    ("primary_need", "text"),
    ("secondary_need", "text"),
    ("removed_on", "date"),
    ("on_monitoring", "boolean"),
    ("awaiting_acknowledgement", "boolean"),
    ("log_position", "bigint"),
)
TIMELINE_COLUMNS = (
    ("pupil_id", "uuid"),
    ("log_position", "bigint"),
    ("effective_from", "date"),
    ("school_urn", "text"),
    ("status", "text"),
    ("primary_need", "text"),
    ("secondary_need", "text"),
    ("removed_on", "date"),
    ("recorded_at", "timestamptz"),
)
pupil_values = operator.itemgetter(*(name for name, _ in PUPIL_COLUMNS))
SELECT_PUPILS = (
    f"SELECT {', '.join(name for name, _ in PUPIL_COLUMNS)} FROM register_pupils WHERE pupil_id = ANY($1::uuid[])"
)
UPSERT_PUPILS = unnest_insert("register_pupils", PUPIL_COLUMNS, update_all("pupil_id", PUPIL_COLUMNS))
INSERT_TIMELINE = unnest_insert("register_timeline", TIMELINE_COLUMNS)
# Each pupil's latest timeline row: timeline rows are never changed, so a new row replaces the latest when it
# took effect later, or on the same day and later in the log (one statement for the batch's latest rows).
UPSERT_LATEST = unnest_insert(
    "register_latest",
    TIMELINE_COLUMNS,
    update_all("pupil_id", TIMELINE_COLUMNS)
    + " WHERE (EXCLUDED.effective_from, EXCLUDED.log_position)"
    + " > (register_latest.effective_from, register_latest.log_position)",
)
