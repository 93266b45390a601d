"""`register_views`: the current register (`register_pupils`) and its dated timeline (`register_timeline`).

The timeline row copies the pupil's row after each change that moves the register, dated by the day the
change took effect, so the register can be read back exactly as it stood on any date.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from contracts.identifiers import SenStatus
from services.register.domain.pupil import Pupil
from services.runtime.clock import today_in_england
from services.runtime.dispatch import EventDispatch

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


took_effect.on(Pupil.Registered)(lambda e: e.on_roll_from)
took_effect.on(Pupil.AddedToSenSupport, Pupil.NeedsChanged, Pupil.RemovedFromSenRegister)(lambda e: e.effective_date)
took_effect.on(Pupil.EhcPlanFinalised)(lambda e: e.issued_on)
took_effect.on(Pupil.EhcPlanCeasedToSenSupport, Pupil.EhcPlanCeasedOffRegister)(lambda e: e.ceased_on)
took_effect.on(Pupil.TransferredToSchool)(lambda e: e.leaving_date)


class RegisterViews:
    """The current register and its dated timeline, kept together: the timeline row copies the pupil's row."""

    name = "register_views"

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS register_pupils (
                pupil_id        uuid PRIMARY KEY,
                upn             text NOT NULL,
                given_name      text NOT NULL,
                family_name     text NOT NULL,
                date_of_birth   date NOT NULL,
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
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE register_pupils, register_timeline")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        if not isinstance(event, Pupil.Event):
            return  # roll imports: their reports are read from the event store
        pid = event.originator_id
        if isinstance(event, Pupil.Registered):
            await conn.execute(
                """INSERT INTO register_pupils (pupil_id, upn, given_name, family_name, date_of_birth, year_group,
                       year_group_on, school_urn, status, log_position)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (pupil_id) DO NOTHING""",
                pid,
                event.upn,
                event.given_name,
                event.family_name,
                event.date_of_birth,
                getattr(event, "year_group", None),
                event.on_roll_from,
                event.school_urn,
                N,
                notification_id,
            )
        elif (columns := changes(event)) is not None:
            assignments = ", ".join(f"{column} = ${i + 3}" for i, column in enumerate(columns))
            await conn.execute(
                f"UPDATE register_pupils SET {assignments}, log_position = $2 WHERE pupil_id = $1",
                pid,
                notification_id,
                *columns.values(),
            )
        if took_effect.handles(event):
            effective_from = took_effect(event)
            if not isinstance(effective_from, date):  # recorded without a day: the day it was recorded
                effective_from = today_in_england(event.timestamp)
            await conn.execute(
                """INSERT INTO register_timeline
                   SELECT pupil_id, $2, $3, school_urn, status, primary_need, secondary_need, removed_on, $4
                   FROM register_pupils WHERE pupil_id = $1
                   ON CONFLICT DO NOTHING""",
                pid,
                notification_id,
                effective_from,
                event.timestamp,
            )
