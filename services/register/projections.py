"""The register's read models (asyncpg), each rebuildable from zero from the register's own log.

- `register_pupils`: every pupil on a roll, now: school, status, ranked needs (the current register).
- `register_timeline`: one row per change of school, status or needs, dated by when it took effect, so
  the register of any school or of the whole LA can be read back exactly as it stood on any date.
- `pupil_history`: a pupil's full history, in words, with who did what and when.

None of them holds a child looked after's protected address, consent details or notes of concern text
beyond the note itself (history only).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import asyncpg

from contracts.identifiers import NeedType, SenStatus
from contracts.register import CountLine, HistoryEntry, RegisterAsAt, RegisterCounts, RegisterEntry
from services.register.domain import census
from services.register.domain.pupil import Pupil
from services.runtime.aggregate import event_metadata
from services.runtime.clock import ENGLAND

# Events after which the pupil's dated row changes: the event class name -> the attribute with its date
TIMELINE_EVENTS = {
    "Registered": "on_roll_from",
    "AddedToSenSupport": "effective_date",
    "NeedsChanged": "effective_date",
    "RemovedFromSenRegister": "effective_date",
    "EhcPlanFinalised": "issued_on",
    "EhcPlanCeasedToSenSupport": "ceased_on",
    "EhcPlanCeasedOffRegister": "ceased_on",
    "TransferredToSchool": "leaving_date",
}


def _day(event: Any, attribute: str) -> date:
    value = vars(event).get(attribute)
    return value if isinstance(value, date) else event.timestamp.astimezone(ENGLAND).date()


def describe(event: Any) -> tuple[str, str] | None:
    """What happened, in a SENCO's words, for the history. Never the protected address."""
    name, e = type(event).__name__, vars(event)
    needs = lambda: e["primary_need"] + (f", then {e['secondary_need']}" if e.get("secondary_need") else "")  # noqa: E731
    match name:
        case "Registered":
            return "put on the roll", f"school {e['school_urn']}"
        case "RollDetailsUpdated":
            return "roll details updated", f"{e['given_name']} {e['family_name']}, born {e['date_of_birth']}"
        case "PeopleWithParentalResponsibilityRecorded":
            return "people with parental responsibility recorded", ", ".join(
                f"{p['name']} ({p['relationship']})" for p in e["people"]
            )
        case "LookedAfterRecorded":
            if not e["looked_after"]:
                return "no longer looked after", ""
            held = "; protected address held (never shown)" if e["protected_address"] else ""
            return "child looked after", f"PEP {e['pep_reference']}{held}"
        case "OtherRegistersRecorded":
            flags = [f for f, on in (("EAL", e["eal"]), ("medical needs", e["medical_needs"])) if on]
            plan = f"; healthcare plan {e['healthcare_plan_reference']}" if e["healthcare_plan_reference"] else ""
            return "other registers", (", ".join(flags) or "none") + plan
        case "ConsentToShareGiven":
            return "consent to share given", f"by {e['given_by_name']} ({e['given_by'].replace('_', ' ')})"
        case "ConsentToShareWithdrawn":
            return "consent to share withdrawn", ""
        case "ConcernNoted":
            return "concern noted (monitoring, not on the SEN register)", e["note"]
        case "AddedToSenSupport":
            return "added to SEN support (K)", f"needs {needs()}: {e['reason']}"
        case "NeedsChanged":
            return "need types changed", f"needs {needs()}: {e['reason']}"
        case "RemovedFromSenRegister":
            return "removed from the SEN register", e["reason"]
        case "SpecialEducationalProvisionMade":
            return "special educational provision made", e["provision"]
        case "EhcPlanFinalised":
            return "EHC plan finalised (E)", f"case {e['case_id']}, needs {needs()}"
        case "EhcPlanCeasedToSenSupport":
            return "EHC plan ceased: back to SEN support (K)", e["reason"]
        case "EhcPlanCeasedOffRegister":
            return "EHC plan ceased: off the SEN register", e["reason"]
        case "TransferredToSchool":
            return "moved school", f"from {e['from_school_urn']} to {e['to_school_urn']}: {e['reason']}"
        case "TransferAcknowledged":
            return "record received and acknowledged", f"from school {e['from_school_urn']}"
    return None


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
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE register_pupils, register_timeline")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        if not isinstance(event, Pupil.Event):
            return  # roll imports: their reports are read from the event store
        name, e, pid = type(event).__name__, vars(event), event.originator_id
        if name == "Registered":
            await conn.execute(
                """INSERT INTO register_pupils (pupil_id, upn, given_name, family_name, date_of_birth, year_group,
                       year_group_on, school_urn, status, log_position)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'N', $9) ON CONFLICT (pupil_id) DO NOTHING""",
                pid, e["upn"], e["given_name"], e["family_name"], e["date_of_birth"], e.get("year_group"),
                _day(event, "on_roll_from"), e["school_urn"], notification_id,
            )
        else:
            sets, args = _changes(name, e)
            if sets:
                assignments = ", ".join(f"{column} = ${i + 3}" for i, column in enumerate(sets))
                await conn.execute(
                    f"UPDATE register_pupils SET {assignments}, log_position = $2 WHERE pupil_id = $1",
                    pid, notification_id, *args,
                )
        if name in TIMELINE_EVENTS:
            await conn.execute(
                """INSERT INTO register_timeline
                   SELECT pupil_id, $2, $3, school_urn, status, primary_need, secondary_need, removed_on, $4
                   FROM register_pupils WHERE pupil_id = $1
                   ON CONFLICT DO NOTHING""",
                pid, notification_id, _day(event, TIMELINE_EVENTS[name]), event.timestamp,
            )


def _changes(name: str, e: dict[str, Any]) -> tuple[list[str], list[Any]]:
    match name:
        case "RollDetailsUpdated":
            return (["given_name", "family_name", "date_of_birth", "year_group", "year_group_on"],
                    [e["given_name"], e["family_name"], e["date_of_birth"], e["year_group"], e["on"]])
        case "ConcernNoted":
            return ["on_monitoring"], [True]
        case "AddedToSenSupport":
            return (["status", "primary_need", "secondary_need", "removed_on", "on_monitoring"],
                    ["K", e["primary_need"], e["secondary_need"], None, False])
        case "NeedsChanged":
            return ["primary_need", "secondary_need"], [e["primary_need"], e["secondary_need"]]
        case "RemovedFromSenRegister":
            return (["status", "primary_need", "secondary_need", "removed_on"],
                    ["N", None, None, e["effective_date"]])
        case "EhcPlanFinalised":
            secondary = e["secondary_need"] if e["secondary_need"] != e["primary_need"] else None
            return (["status", "primary_need", "secondary_need", "removed_on", "on_monitoring"],
                    ["E", e["primary_need"], secondary, None, False])
        case "EhcPlanCeasedToSenSupport":
            return ["status"], ["K"]
        case "EhcPlanCeasedOffRegister":
            return (["status", "primary_need", "secondary_need", "removed_on"], ["N", None, None, e["ceased_on"]])
        case "TransferredToSchool":
            return ["school_urn", "awaiting_acknowledgement"], [e["to_school_urn"], True]
        case "TransferAcknowledged":
            return ["awaiting_acknowledgement"], [False]
    return [], []


class PupilHistoryView:
    """A pupil's full history in words (its own position: rebuilt on its own)."""

    name = "pupil_history"

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
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE pupil_history, pupil_history_schools")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        if not isinstance(event, Pupil.Event):
            return
        e, pid = vars(event), event.originator_id
        if type(event).__name__ in ("Registered", "TransferredToSchool"):
            await conn.execute(
                """INSERT INTO pupil_history_schools VALUES ($1, $2)
                   ON CONFLICT (pupil_id) DO UPDATE SET school_urn = EXCLUDED.school_urn""",
                pid, e.get("to_school_urn") or e["school_urn"],
            )
        described = describe(event)
        if described is not None:
            meta = event_metadata(event)
            school = await conn.fetchval("SELECT school_urn FROM pupil_history_schools WHERE pupil_id = $1", pid)
            effective = next((e[k] for k in ("effective_date", "issued_on", "ceased_on", "leaving_date",
                                              "received_on", "noted_on", "given_on", "withdrawn_on", "on_roll_from")
                              if isinstance(e.get(k), date)), None)
            await conn.execute(
                """INSERT INTO pupil_history VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                   ON CONFLICT DO NOTHING""",
                pid, notification_id, event.timestamp, effective, described[0], described[1], school or "",
                meta["actor"]["user_id"], meta["actor"]["role"], meta["actor"]["organisation"],
                e.get("evidence_reference"),
            )




# ------------------------------------------------------------------------------------------------------
# Queries over the read models


async def pupils_as_at(
    pool: asyncpg.Pool, as_at: date, school_urn: str | None, known_at: datetime | None = None
) -> list[asyncpg.Record]:
    """Every pupil on a roll on `as_at` (of one school or the whole LA), with their status that day; as the
    register knew it at `known_at` when given (changes recorded later, even backdated ones, left out)."""
    return await pool.fetch(
        """
        WITH latest AS (
            SELECT DISTINCT ON (pupil_id) *
            FROM register_timeline
            WHERE effective_from <= $1 AND ($3::timestamptz IS NULL OR recorded_at <= $3)
            ORDER BY pupil_id, effective_from DESC, log_position DESC
        )
        SELECT l.pupil_id, l.school_urn, l.status, l.primary_need, l.secondary_need, l.removed_on,
               p.upn, p.given_name, p.family_name, p.date_of_birth, p.year_group, p.year_group_on
        FROM latest l JOIN register_pupils p USING (pupil_id)
        WHERE $2::text IS NULL OR l.school_urn = $2
        ORDER BY p.family_name, p.given_name, p.upn
        """,
        as_at, school_urn, known_at,
    )


def _year_group(row: asyncpg.Record, as_at: date) -> int:
    return census.year_group_on(row["date_of_birth"], as_at, row["year_group"], row["year_group_on"])


def _census_status(row: asyncpg.Record, as_at: date) -> SenStatus | None:
    """The status to show on the register that day: K or E; N only at the first census after removal."""
    status = SenStatus(row["status"])
    if status is not SenStatus.NO_SEN:
        return status
    if row["removed_on"] is not None and census.removed_pupil_shows_as_n(row["removed_on"], as_at):
        return SenStatus.NO_SEN
    return None


async def register_as_at(
    pool: asyncpg.Pool, as_at: date, school_urn: str | None, known_at: datetime | None = None
) -> RegisterAsAt:
    rows = await pupils_as_at(pool, as_at, school_urn, known_at)
    entries = []
    for row in rows:
        status = _census_status(row, as_at)
        if status is None:
            continue
        primary = NeedType(row["primary_need"]) if row["primary_need"] else None
        entries.append(RegisterEntry(
            pupil_id=row["pupil_id"], upn=row["upn"], given_name=row["given_name"], family_name=row["family_name"],
            year_group=_year_group(row, as_at), status=status, primary_need=primary,
            secondary_need=NeedType(row["secondary_need"]) if row["secondary_need"] else None,
            primary_area=primary.broad_area.value if primary else None,
        ))
    return RegisterAsAt(school_urn=school_urn, as_at=as_at, roll=len(rows), entries=entries)


async def counts_as_at(
    pool: asyncpg.Pool, as_at: date, school_urn: str | None, known_at: datetime | None = None
) -> RegisterCounts:
    rows = await pupils_as_at(pool, as_at, school_urn, known_at)
    roll_by_year: dict[int, int] = defaultdict(int)
    k_by_year: dict[int, int] = defaultdict(int)
    e_by_year: dict[int, int] = defaultdict(int)
    k_by_need: dict[str, int] = defaultdict(int)
    e_by_need: dict[str, int] = defaultdict(int)
    for row in rows:
        year = _year_group(row, as_at)
        roll_by_year[year] += 1
        if row["status"] == "K":
            k_by_year[year] += 1
            k_by_need[row["primary_need"]] += 1
        elif row["status"] == "E":
            e_by_year[year] += 1
            e_by_need[row["primary_need"]] += 1
    roll = len(rows)
    k, e = sum(k_by_year.values()), sum(e_by_year.values())

    def line(key: str, ks: int, es: int, of: int) -> CountLine:
        return CountLine(key=key, sen_support=ks, ehc_plan=es, roll=of,
                         sen_support_percent=census.percent(ks, of), ehc_plan_percent=census.percent(es, of))

    return RegisterCounts(
        school_urn=school_urn, as_at=as_at, roll=roll, sen_support=k, ehc_plan=e,
        sen_support_percent=census.percent(k, roll), ehc_plan_percent=census.percent(e, roll),
        national_sen_support_percent=census.NATIONAL_SEN_SUPPORT_PERCENT,
        national_ehc_plan_percent=census.NATIONAL_EHC_PLAN_PERCENT,
        national_label=census.NATIONAL_COMPARATOR_LABEL,
        by_year_group=[
            line(census.year_group_label(y), k_by_year[y], e_by_year[y], roll_by_year[y]) for y in sorted(roll_by_year)
        ],
        by_primary_need=[
            line(n.value, k_by_need[n.value], e_by_need[n.value], roll)
            for n in NeedType if k_by_need[n.value] or e_by_need[n.value]
        ],
    )


CENSUS_COLUMNS = ["URN", "UPN", "Surname", "Forename", "DOB", "NCYearActual", "SENprovision", "SENtype1", "SENtype2"]


async def census_extract(
    pool: asyncpg.Pool, census_date: date, school_urn: str | None, known_at: datetime | None = None
) -> str:
    """CSV a data officer can load: one line per pupil on the roll, SEN provision N/K/E, and in the January
    census the ranked need types (May and October collect status only)."""
    rows = await pupils_as_at(pool, census_date, school_urn, known_at)
    with_needs = census_date.month == 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CENSUS_COLUMNS)
    for row in sorted(rows, key=lambda r: (r["school_urn"], r["upn"])):
        status = _census_status(row, census_date)
        writer.writerow([
            row["school_urn"], row["upn"], row["family_name"], row["given_name"], row["date_of_birth"].isoformat(),
            census.year_group_label(_year_group(row, census_date)),
            status.value if status else "",  # blank: not on the SEN register
            (row["primary_need"] or "") if with_needs and status in (SenStatus.SEN_SUPPORT, SenStatus.EHC_PLAN) else "",
            (row["secondary_need"] or "") if with_needs and status in (SenStatus.SEN_SUPPORT, SenStatus.EHC_PLAN) else "",
        ])
    return out.getvalue()


async def pupil_history(pool: asyncpg.Pool, pupil_id: Any) -> tuple[str | None, list[HistoryEntry]]:
    school = await pool.fetchval("SELECT school_urn FROM pupil_history_schools WHERE pupil_id = $1", pupil_id)
    rows = await pool.fetch("SELECT * FROM pupil_history WHERE pupil_id = $1 ORDER BY log_position", pupil_id)
    return school, [
        HistoryEntry(
            recorded_at=r["recorded_at"], effective_date=r["effective_date"], what=r["what"], detail=r["detail"],
            school_urn=r["school_urn"], by_user=r["by_user"], by_role=r["by_role"],
            by_organisation=r["by_organisation"], evidence_reference=r["evidence_reference"],
        )
        for r in rows
    ]


def today_in_england(now: datetime) -> date:
    return now.astimezone(ENGLAND).date()
