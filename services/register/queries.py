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
from uuid import UUID

import asyncpg

from contracts.envelope import Actor
from contracts.identifiers import NeedType, SenStatus
from contracts.register import (
    CensusFile,
    ChildAccess,
    CountLine,
    HistoryEntry,
    PupilStatusChange,
    PupilView,
    RegisterAsAt,
    RegisterCounts,
    RegisterEntry,
    RetentionReview,
)
from services.register.application import Register
from services.register.domain import census
from services.register.domain.retention import RetentionSchedule, load_schedule
from services.register.domain.rules import check_may_read, check_may_review_retention, is_family
from services.register.retention import review
from services.runtime.access import check_granted
from services.runtime.errors import NotAuthorised, NotFound
from services.runtime.eventstore import EventStore
from services.runtime.keyring import pupil_id_for
from services.runtime.paging import decode_cursor, encode_cursor, invalid_cursor
from services.runtime.projection import ReadModels


class RegisterQueries:
    def __init__(
        self, read_models: ReadModels, store: EventStore[Register], schedule: RetentionSchedule | None = None
    ) -> None:
        self.read_models = read_models
        self.pool = read_models.pool
        self.store = store
        self.schedule = schedule or load_schedule(None)  # the LA's retention schedule (default: the default one)

    async def pupil(self, *, upn: str, actor: Actor, today: date) -> PupilView:
        """The pupil's record (from the event store) with its status history (from the read model)."""
        record = await self.store.call(None, self.store.app.pupil_record, upn=upn, actor=actor, today=today)
        await self.read_models.caught_up("pupil_history")
        history = await status_history(self.pool, record.pupil_id)
        if is_family(actor):
            history = [h.model_copy(update={"by_user": STAFF_AS_FAMILIES_SEE_THEM}) for h in history]
        return record.model_copy(update={"history": history})

    async def pupil_history(self, *, upn: str, actor: Actor, today: date) -> list[HistoryEntry]:
        pupil_id = pupil_id_for(upn)
        if is_family(actor):  # through their grant only, refused alike whether the pupil exists or not
            grants = await self.store.call(None, self.store.app.family_grants, pupil_id)
            check_granted(actor, grants, pupil_id, today)
        await self.read_models.caught_up("pupil_history")
        school, entries = await pupil_history(self.pool, pupil_id)
        if school is None:
            raise NotFound(f"No pupil with UPN {upn} is on any school's roll here.")
        if is_family(actor):
            return [_as_families_see_it(e) for e in entries]
        check_may_read(actor, school)
        return entries

    async def my_children(self, *, actor: Actor) -> list[ChildAccess]:
        """The children whose records the signed-in parent or young person may see (their grants, as they stand)."""
        if not is_family(actor) or actor.organisation != "citizen":
            raise NotAuthorised(
                "This lists the children a parent or young person, signed in as themself, was invited to see; you are "
                f"signed in as {actor.role.value} for {actor.organisation}."
            )
        await self.read_models.caught_up("access_grants", "register_views")
        rows = await self.pool.fetch(
            """SELECT g.pupil_id, g.role, g.relationship, g.granted_on, p.upn, p.given_name, p.family_name,
                      p.school_urn
               FROM register_access_grants g JOIN register_pupils p USING (pupil_id)
               WHERE g.user_id = $1 AND g.role = $2 ORDER BY g.log_position""",
            actor.user_id,
            actor.role.value,
        )
        return [ChildAccess(**dict(r)) for r in rows]

    async def school_register(
        self,
        *,
        school_urn: str | None,
        as_at: date | None,
        as_known_at: datetime | None,
        page_size: int,
        after: str | None,
        actor: Actor,
        today: date,
    ) -> RegisterAsAt:
        check_may_read(actor, school_urn)
        day, key = _register_page_cursor(after, as_at, today)
        await self.read_models.caught_up("register_views")
        return await register_as_at(self.pool, day, school_urn, as_known_at, page_size=page_size, after=key)

    async def counts(
        self, *, school_urn: str | None, as_at: date | None, as_known_at: datetime | None, actor: Actor, today: date
    ) -> RegisterCounts:
        check_may_read(actor, school_urn)
        await self.read_models.caught_up("register_views")
        return await counts_as_at(self.pool, as_at or today, school_urn, as_known_at)

    async def census_extract(
        self,
        *,
        census_date: date,
        school_urn: str | None,
        as_known_at: datetime | None,
        page_size: int,
        after: str | None,
        actor: Actor,
    ) -> CensusFile:
        check_may_read(actor, school_urn)
        key, erased = _census_page_cursor(after, census_date)
        await self.read_models.caught_up("register_views")
        return await census_extract(
            self.pool, census_date, school_urn, as_known_at, page_size=page_size, after=key, erased=erased
        )

    async def retention_due(
        self, *, as_at: date | None, page_size: int, after: str | None, actor: Actor, today: date
    ) -> RetentionReview:
        """The dry run: who would be erased under the LA's retention schedule, and who is held (docs/audit.md)."""
        check_may_review_retention(actor)
        day, key = _retention_page_cursor(after, as_at, today)
        await self.read_models.caught_up("register_views")
        return await review(self.pool, self.store, self.schedule, day, page_size=page_size, after=key)


# A parent or young person sees who did what by role and organisation (the school's SENCO), not staff members'
# user ids (usually their work email), as the subject access export shows them by default (docs/audit.md).
STAFF_AS_FAMILIES_SEE_THEM = "[staff]"


def _as_families_see_it(entry: HistoryEntry) -> HistoryEntry:
    if entry.by_organisation == "citizen":
        return entry
    return entry.model_copy(update={"by_user": STAFF_AS_FAMILIES_SEE_THEM})


def _retention_page_cursor(after: str | None, as_at: date | None, today: date) -> tuple[date, list[str] | None]:
    return _pinned_page_cursor(after, as_at, today, 2, "the review")


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


# The register as at a date is each pupil's latest timeline row effective on or before it (and recorded by
# `known_at`, when given). For one school, only that school's rows are touched: the pupils with any row there
# effective by the date (index register_timeline_school), each pupil's latest row found by index
# (register_timeline_latest), kept when that row is at the school. For the whole LA, one ordered pass over
# register_timeline_latest (no sort). $1 the date, $2 the school or NULL, $3 known_at or NULL.
_LATEST_AT_SCHOOL = """
    SELECT c.pupil_id, l.school_urn, l.status, l.primary_need, l.secondary_need, l.removed_on
    FROM (SELECT DISTINCT pupil_id FROM register_timeline
          WHERE school_urn = $2 AND effective_from <= $1 AND ($3::timestamptz IS NULL OR recorded_at <= $3)) c
    CROSS JOIN LATERAL (
        SELECT t.school_urn, t.status, t.primary_need, t.secondary_need, t.removed_on
        FROM register_timeline t
        WHERE t.pupil_id = c.pupil_id AND t.effective_from <= $1 AND ($3::timestamptz IS NULL OR t.recorded_at <= $3)
        ORDER BY t.effective_from DESC, t.log_position DESC
        LIMIT 1
    ) l
    WHERE l.school_urn = $2
"""
_LATEST_IN_LA = """
    SELECT DISTINCT ON (pupil_id) pupil_id, school_urn, status, primary_need, secondary_need, removed_on
    FROM register_timeline
    WHERE effective_from <= $1 AND ($3::timestamptz IS NULL OR recorded_at <= $3) AND $2::text IS NULL
    ORDER BY pupil_id, effective_from DESC, log_position DESC
"""


# The whole LA as at a date, as the register knows it now: each pupil's latest row (register_latest) is their
# row as at any date on or after it took effect; only the few pupils with a row taking effect after the date
# (a date in the past, or a change dated ahead) are looked up in the timeline.
_LATEST_IN_LA_NOW = """
    SELECT pupil_id, school_urn, status, primary_need, secondary_need, removed_on
    FROM register_latest WHERE effective_from <= $1 AND $2::text IS NULL AND $3::timestamptz IS NULL
    UNION ALL
    SELECT * FROM (
        SELECT DISTINCT ON (t.pupil_id) t.pupil_id, t.school_urn, t.status, t.primary_need, t.secondary_need,
               t.removed_on
        FROM register_latest f JOIN register_timeline t USING (pupil_id)
        WHERE f.effective_from > $1 AND t.effective_from <= $1
        ORDER BY t.pupil_id, t.effective_from DESC, t.log_position DESC
    ) earlier
"""


def _latest(school_urn: str | None, known_at: datetime | None = None) -> str:
    if school_urn is not None:
        return _LATEST_AT_SCHOOL
    return _LATEST_IN_LA_NOW if known_at is None else _LATEST_IN_LA


_PUPIL_COLUMNS = """l.pupil_id, l.school_urn, l.status, l.primary_need, l.secondary_need, l.removed_on,
    p.upn, p.given_name, p.family_name, p.date_of_birth, p.year_group, p.year_group_on"""


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


def _register_page_cursor(after: str | None, as_at: date | None, today: date) -> tuple[date, list[str] | None]:
    """The date the register is read as at (the first page's, on every later page) and the last entry's key."""
    pinned, key = _pinned_page_cursor(after, as_at, today, 4, "the register")
    if key is not None:
        try:
            UUID(key[3])
        except ValueError:
            raise invalid_cursor() from None
    return pinned, key


def _pinned_page_cursor(
    after: str | None, as_at: date | None, today: date, key_length: int, what: str
) -> tuple[date, list[str] | None]:
    """A paged read as at a date: the date (the first page's, on every later page) and the last row's key."""
    found = decode_cursor(after, keys=("as_at", "key"))
    if found is None:
        return as_at or today, None
    try:
        pinned, key = date.fromisoformat(found["as_at"]), [str(k) for k in found["key"]]
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    if len(key) != key_length:
        raise invalid_cursor()
    if as_at is not None and as_at != pinned:
        raise invalid_cursor(f"it continues {what} as at {pinned}, not {as_at}")
    return pinned, key


def _register_page(
    as_at: date, school_urn: str | None, known_at: datetime | None, page_size: int | None, after: list[str] | None
) -> tuple[Any, ...]:
    """The statement for one page of a register as at a date, and its arguments."""
    statement = f"""
        WITH on_roll AS MATERIALIZED (
            SELECT {_PUPIL_COLUMNS} FROM ({_latest(school_urn, known_at)}) l JOIN register_pupils p USING (pupil_id)
        )
        SELECT (SELECT count(*) FROM on_roll) AS roll, e.*
        FROM on_roll e
        WHERE (e.status <> 'N' OR (e.removed_on > $4 AND e.removed_on <= $1))
          AND ($5::text IS NULL OR (e.family_name, e.given_name, e.upn, e.pupil_id) > ($5, $6, $7, $8::uuid))
        ORDER BY e.family_name, e.given_name, e.upn, e.pupil_id
        LIMIT $9
        """
    last_census = census.last_census_day_before(as_at)
    return (statement, as_at, school_urn, known_at, last_census, *(after or (None, None, None, None)), page_size)


async def explain_register_as_at(pool: asyncpg.Pool, as_at: date, school_urn: str | None, page_size: int) -> str:
    """How PostgreSQL answers the first page of a register as at a date (EXPLAIN ANALYZE): for an operator or a
    benchmark to see that one school's register touches only that school's rows, by index."""
    statement, *args = _register_page(as_at, school_urn, None, page_size, None)
    rows = await pool.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + statement, *args)
    return "\n".join(r[0] for r in rows)


async def register_as_at(
    pool: asyncpg.Pool,
    as_at: date,
    school_urn: str | None,
    known_at: datetime | None = None,
    *,
    page_size: int | None = None,
    after: list[str] | None = None,
) -> RegisterAsAt:
    """The register as at a date, one page of it: entries by family name, given name, UPN and pupil id (the erased
    all read "[erased]": the id keeps them apart), after the entry keyed `after` (those four), at most `page_size`
    (None: all). Who is on it (K, E, or N at the first census after removal) is decided in SQL, so a page is
    `page_size` entries long until the last."""
    rows = await pool.fetch(*_register_page(as_at, school_urn, known_at, page_size, after))
    entries = []
    for row in rows:
        status = _census_status(row, as_at)
        if status is None:  # not on the register that day (decided above in SQL too)
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
    if rows:
        roll = rows[0]["roll"]
    else:  # nothing (more) on the register: the roll all the same
        roll = await pool.fetchval(
            f"SELECT count(*) FROM ({_latest(school_urn, known_at)}) l", as_at, school_urn, known_at
        )
    next_after = None
    if page_size is not None and len(rows) == page_size:
        last = rows[-1]
        next_after = encode_cursor(
            as_at=as_at, key=[last["family_name"], last["given_name"], last["upn"], str(last["pupil_id"])]
        )
    return RegisterAsAt(school_urn=school_urn, as_at=as_at, roll=roll, entries=entries, next_after=next_after)


def _counts(as_at: date, school_urn: str | None, known_at: datetime | None) -> tuple[Any, ...]:
    """The statement counting a register as at a date, and its arguments."""
    statement = f"""
        SELECT l.status, l.primary_need, p.year_group,
               CASE WHEN p.year_group IS NULL OR p.year_group_on IS NULL THEN NULL
                    ELSE extract(year FROM p.year_group_on)::int - (extract(month FROM p.year_group_on) < 9)::int
               END AS recorded_in,
               CASE WHEN p.year_group IS NULL OR p.year_group_on IS NULL
                    THEN extract(year FROM p.date_of_birth)::int + (extract(month FROM p.date_of_birth) >= 9)::int
               END AS cohort,
               min(p.date_of_birth) AS date_of_birth, min(p.year_group_on) AS year_group_on, count(*) AS pupils
        FROM ({_latest(school_urn, known_at)}) l JOIN register_pupils p USING (pupil_id)
        GROUP BY 1, 2, 3, 4, 5
        """
    return (statement, as_at, school_urn, known_at)


async def explain_counts_as_at(pool: asyncpg.Pool, as_at: date, school_urn: str | None) -> str:
    """How PostgreSQL counts a register as at a date (EXPLAIN ANALYZE)."""
    statement, *args = _counts(as_at, school_urn, None)
    rows = await pool.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + statement, *args)
    return "\n".join(r[0] for r in rows)


async def counts_as_at(
    pool: asyncpg.Pool, as_at: date, school_urn: str | None, known_at: datetime | None = None
) -> RegisterCounts:
    """Counted in SQL: pupils grouped by what decides their year group (the school's recorded year group and
    the academic year it was recorded in, else the academic cohort of their birth), status and primary need, a
    few hundred groups however large the LA; each group's year group then worked out once, by the same rule
    (census.year_group_on) as everywhere else."""
    groups = await pool.fetch(*_counts(as_at, school_urn, known_at))
    roll_by_year: dict[int, int] = defaultdict(int)
    k_by_year: dict[int, int] = defaultdict(int)
    e_by_year: dict[int, int] = defaultdict(int)
    k_by_need: dict[str, int] = defaultdict(int)
    e_by_need: dict[str, int] = defaultdict(int)
    for group in groups:
        year, pupils = _year_group(group, as_at), group["pupils"]
        roll_by_year[year] += pupils
        if group["status"] == SenStatus.SEN_SUPPORT:
            k_by_year[year] += pupils
            k_by_need[group["primary_need"]] += pupils
        elif group["status"] == SenStatus.EHC_PLAN:
            e_by_year[year] += pupils
            e_by_need[group["primary_need"]] += pupils
    roll = sum(roll_by_year.values())
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


def erased_notice(erased: int) -> str:
    """The last line of a census file in which someone has been erased: a reader cannot take the file for the
    return as it was made (a comment line, no commas: a loader that reads it takes it as one field)."""
    who = "1 pupil" if erased == 1 else f"{erased} pupils"
    return (
        f"# NOTE: {who} in this file had their personal data erased after the census (retention or an erasure "
        "decision: docs/audit.md); their UPN and names show [erased] and their date of birth is blank; their "
        "school; year group; SEN provision and need types are as recorded\n"
    )


async def census_extract(
    pool: asyncpg.Pool,
    census_date: date,
    school_urn: str | None,
    known_at: datetime | None = None,
    *,
    page_size: int | None = None,
    after: list[str] | None = None,
    erased: int | None = None,
) -> CensusFile:
    """CSV a data officer can load: one line per pupil on the roll, SEN provision N/K/E, and in the January
    census the ranked need types (May and October collect status only). One page of it: lines by school URN
    and pupil id (an order no erasure changes) after the line keyed `after` (URN, pupil id), at most `page_size`
    (None: all); the heading row on the first page only.

    A pupil erased since shows as erased (UPN and names [erased], no date of birth) on their own line, every
    other line as before; `erased` counts them (worked out on the first page, carried by the cursor), and the
    file's last line says so (`erased_notice`)."""
    args = (census_date, school_urn, known_at)
    if erased is None:
        erased = await pool.fetchval(
            f"SELECT count(*) FROM ({_latest(school_urn, known_at)}) l JOIN register_pupils p USING (pupil_id) "
            "WHERE p.date_of_birth IS NULL",
            *args,
        )
    rows = await pool.fetch(
        f"""
        SELECT {_PUPIL_COLUMNS}
        FROM ({_latest(school_urn, known_at)}) l JOIN register_pupils p USING (pupil_id)
        WHERE $4::text IS NULL OR (l.school_urn, l.pupil_id) > ($4, $5::uuid)
        ORDER BY l.school_urn, l.pupil_id
        LIMIT $6
        """,
        *args,
        *(after or (None, None)),
        page_size,
    )
    with_needs = census_date.month == 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if after is None:
        writer.writerow(CENSUS_COLUMNS)
    for row in rows:
        status = _census_status(row, census_date)
        writer.writerow(
            [
                row["school_urn"],
                row["upn"],
                row["family_name"],
                row["given_name"],
                row["date_of_birth"].isoformat() if row["date_of_birth"] else "",  # erased
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
    next_after = None
    if page_size is not None and len(rows) == page_size:
        last = rows[-1]
        next_after = encode_cursor(
            census_date=census_date, key=[last["school_urn"], str(last["pupil_id"])], erased=erased
        )
    elif erased:
        out.write(erased_notice(erased))
    return CensusFile(
        csv=out.getvalue(),
        next_after=next_after,
        erased=erased,
        notice=erased_notice(erased).lstrip("# ").strip() if erased else None,
    )


def _census_page_cursor(after: str | None, census_date: date) -> tuple[list[str] | None, int | None]:
    found = decode_cursor(after, keys=("census_date", "key", "erased"))
    if found is None:
        return None, None
    if found["census_date"] != census_date.isoformat():
        raise invalid_cursor(f"it continues the extract for {found['census_date']}, not {census_date}")
    key, erased = found["key"], found["erased"]
    if not isinstance(key, list) or len(key) != 2 or not all(isinstance(k, str) for k in key):
        raise invalid_cursor()
    if not isinstance(erased, int) or isinstance(erased, bool) or erased < 0:
        raise invalid_cursor()
    try:
        UUID(key[1])
    except ValueError:
        raise invalid_cursor() from None
    return key, erased


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
