"""The register's read side: every query answered from its read models (services/register/projections/).

`RegisterQueries` holds the routes' query methods: each checks who may read, waits (bounded) until the
views have caught up with what was stored before it was asked (so a SENCO's query right after a command
sees it), then reads. The functions below it are the reads themselves.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import asyncpg

from contracts.envelope import Actor, derived_id
from contracts.identifiers import NeedType, SenStatus
from contracts.register import (
    CensusFile,
    CountLine,
    HistoryEntry,
    PupilStatusChange,
    PupilView,
    RegisterAsAt,
    RegisterCounts,
    RegisterEntry,
)
from services.register.application import Register
from services.register.domain import census
from services.register.domain.rules import check_may_read
from services.runtime.errors import NotFound
from services.runtime.eventstore import EventStore
from services.runtime.projection import ReadModels


class RegisterQueries:
    def __init__(self, read_models: ReadModels, store: EventStore[Register]) -> None:
        self.read_models = read_models
        self.pool = read_models.pool
        self.store = store

    async def pupil(self, *, upn: str, actor: Actor) -> PupilView:
        """The pupil's record (from the event store) with its status history (from the read model)."""
        record = await self.store.call(None, self.store.app.pupil_record, upn=upn, actor=actor)
        await self.read_models.caught_up("pupil_history")
        return record.model_copy(update={"history": await status_history(self.pool, record.pupil_id)})

    async def pupil_history(self, *, upn: str, actor: Actor) -> list[HistoryEntry]:
        await self.read_models.caught_up("pupil_history")
        school, entries = await pupil_history(self.pool, derived_id("pupil", upn))
        if school is None:
            raise NotFound(f"No pupil with UPN {upn} is on any school's roll here.")
        check_may_read(actor, school)
        return entries

    async def school_register(
        self, *, school_urn: str | None, as_at: date | None, as_known_at: datetime | None, actor: Actor, today: date
    ) -> RegisterAsAt:
        check_may_read(actor, school_urn)
        await self.read_models.caught_up("register_views")
        return await register_as_at(self.pool, as_at or today, school_urn, as_known_at)

    async def counts(
        self, *, school_urn: str | None, as_at: date | None, as_known_at: datetime | None, actor: Actor, today: date
    ) -> RegisterCounts:
        check_may_read(actor, school_urn)
        await self.read_models.caught_up("register_views")
        return await counts_as_at(self.pool, as_at or today, school_urn, as_known_at)

    async def census_extract(
        self, *, census_date: date, school_urn: str | None, as_known_at: datetime | None, actor: Actor
    ) -> CensusFile:
        check_may_read(actor, school_urn)
        await self.read_models.caught_up("register_views")
        return CensusFile(csv=await census_extract(self.pool, census_date, school_urn, as_known_at))


async def status_history(pool: asyncpg.Pool | asyncpg.Connection, pupil_id: Any) -> list[PupilStatusChange]:
    rows = await pool.fetch("SELECT * FROM pupil_status_history WHERE pupil_id = $1 ORDER BY log_position", pupil_id)
    return [
        PupilStatusChange(
            recorded_at=r["recorded_at"],
            effective_date=r["effective_date"],
            status=SenStatus(r["status"]),
            primary_need=NeedType(r["primary_need"]) if r["primary_need"] else None,
            secondary_need=NeedType(r["secondary_need"]) if r["secondary_need"] else None,
            reason=r["reason"],
            evidence_reference=r["evidence_reference"],
            by_user=r["by_user"],
            by_role=r["by_role"],
            by_organisation=r["by_organisation"],
        )
        for r in rows
    ]


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
        as_at,
        school_urn,
        known_at,
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
        entries.append(
            RegisterEntry(
                pupil_id=row["pupil_id"],
                upn=row["upn"],
                given_name=row["given_name"],
                family_name=row["family_name"],
                year_group=_year_group(row, as_at),
                status=status,
                primary_need=primary,
                secondary_need=NeedType(row["secondary_need"]) if row["secondary_need"] else None,
                primary_area=primary.broad_area.value if primary else None,
            )
        )
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
        if row["status"] == SenStatus.SEN_SUPPORT:
            k_by_year[year] += 1
            k_by_need[row["primary_need"]] += 1
        elif row["status"] == SenStatus.EHC_PLAN:
            e_by_year[year] += 1
            e_by_need[row["primary_need"]] += 1
    roll = len(rows)
    k, e = sum(k_by_year.values()), sum(e_by_year.values())

    def line(key: str, ks: int, es: int, of: int) -> CountLine:
        return CountLine(
            key=key,
            sen_support=ks,
            ehc_plan=es,
            roll=of,
            sen_support_percent=census.percent(ks, of),
            ehc_plan_percent=census.percent(es, of),
        )

    return RegisterCounts(
        school_urn=school_urn,
        as_at=as_at,
        roll=roll,
        sen_support=k,
        ehc_plan=e,
        sen_support_percent=census.percent(k, roll),
        ehc_plan_percent=census.percent(e, roll),
        national_sen_support_percent=census.NATIONAL_SEN_SUPPORT_PERCENT,
        national_ehc_plan_percent=census.NATIONAL_EHC_PLAN_PERCENT,
        national_label=census.NATIONAL_COMPARATOR_LABEL,
        by_year_group=[
            line(census.year_group_label(y), k_by_year[y], e_by_year[y], roll_by_year[y]) for y in sorted(roll_by_year)
        ],
        by_primary_need=[
            line(n.value, k_by_need[n.value], e_by_need[n.value], roll)
            for n in NeedType
            if k_by_need[n.value] or e_by_need[n.value]
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
        writer.writerow(
            [
                row["school_urn"],
                row["upn"],
                row["family_name"],
                row["given_name"],
                row["date_of_birth"].isoformat(),
                census.year_group_label(_year_group(row, census_date)),
                status.value if status else "",  # blank: not on the SEN register
                (row["primary_need"] or "")
                if with_needs and status in (SenStatus.SEN_SUPPORT, SenStatus.EHC_PLAN)
                else "",
                (row["secondary_need"] or "")
                if with_needs and status in (SenStatus.SEN_SUPPORT, SenStatus.EHC_PLAN)
                else "",
            ]
        )
    return out.getvalue()


async def pupil_history(pool: asyncpg.Pool, pupil_id: Any) -> tuple[str | None, list[HistoryEntry]]:
    school = await pool.fetchval("SELECT school_urn FROM pupil_history_schools WHERE pupil_id = $1", pupil_id)
    rows = await pool.fetch("SELECT * FROM pupil_history WHERE pupil_id = $1 ORDER BY log_position", pupil_id)
    return school, [
        HistoryEntry(
            recorded_at=r["recorded_at"],
            effective_date=r["effective_date"],
            what=r["what"],
            detail=r["detail"],
            school_urn=r["school_urn"],
            by_user=r["by_user"],
            by_role=r["by_role"],
            by_organisation=r["by_organisation"],
            evidence_reference=r["evidence_reference"],
        )
        for r in rows
    ]
