"""Retention: which children's records have passed the LA's retention schedule, and the job that erases them
(docs/audit.md, "Retention and legal holds").

`review` reads the candidates: children not yet erased whose date of birth puts them past every rule of the
schedule that covers them (services/register/domain/retention.py), each with the legal holds on their record (read
from the record itself, not a view, so a hold placed a moment ago counts). `sendcase audit retention --dry-run`
shows them through the `ReviewRetention` query; nothing is changed.

`RetentionJob` is the register's supervised background loop that erases them: off unless
SENDCASE_REGISTER_RETENTION_JOB=true; in one replica at a time (`run_in_one_replica`); once a day at
`retention_run_at` (England time), and at start when that day's run is owed (so a service that was down at the
time catches up as soon as it is back). Each child is erased by the `ErasePupil` command's own application method
(`Register.erase_pupil`), acting as the register service (role system) and naming the rule, so each erasure is a
stored fact like any other (the `Erased` event: who, when, under which rule, whose keys went). A child under a
legal hold is not erased: the run's report says which holds stopped whom. Each run is recorded
(`register_retention_runs`: when, the schedule, how many erased, held and failed, and the report by pupil id).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import asyncpg
from eventsourcing.persistence import IntegrityError

from contracts.envelope import Actor
from contracts.register import LegalHoldView, RetentionCandidate, RetentionReview, RetentionRuleView
from services.register.application import Register
from services.register.domain.retention import RetentionSchedule
from services.register.settings import RegisterSettings
from services.runtime.clock import ENGLAND, Clock, today_in_england
from services.runtime.context import CommandContext
from services.runtime.errors import DomainError
from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger
from services.runtime.paging import decode_cursor, encode_cursor
from services.runtime.singleton import run_in_one_replica

if TYPE_CHECKING:
    from services.register.queries import RegisterQueries

log = get_logger(__name__)

# The children born early enough to be due under some rule, with what decides which rules cover them: ever on the
# SEN register (K or E) and ever with an EHC plan, from the dated timeline. One page, by school URN and pupil id.
# $1 born on or before, $2/$3 the last key of the page before (or NULL), $4 the page size.
_BORN_EARLY_ENOUGH = """
    SELECT p.pupil_id, p.school_urn, p.date_of_birth,
           EXISTS (SELECT 1 FROM register_timeline t WHERE t.pupil_id = p.pupil_id AND t.status IN ('K', 'E'))
               AS ever_sen,
           EXISTS (SELECT 1 FROM register_timeline t WHERE t.pupil_id = p.pupil_id AND t.status = 'E')
               AS ever_ehc_plan
    FROM register_pupils p
    WHERE p.date_of_birth IS NOT NULL AND p.date_of_birth <= $1
      AND ($2::text IS NULL OR (p.school_urn, p.pupil_id) > ($2, $3::uuid))
    ORDER BY p.school_urn, p.pupil_id
    LIMIT $4
"""


def rules_of(schedule: RetentionSchedule) -> list[RetentionRuleView]:
    return [
        RetentionRuleView(name=r.name, label=r.label, applies_to=r.applies_to, years=r.years, source=r.source)
        for r in schedule.rules
    ]


async def review(
    pool: asyncpg.Pool,
    store: EventStore[Register],
    schedule: RetentionSchedule,
    as_at: date,
    *,
    page_size: int,
    after: list[str] | None = None,
) -> RetentionReview:
    """One page of the children due for erasure as at a day: up to `page_size` children born early enough are
    looked at (in school URN and pupil id order, after the key `after`), and those past retention listed. A page
    may list fewer than it looked at; `next_after` is None once every child has been looked at."""
    born_by = schedule.born_on_or_before(as_at)
    school, pupil = after or (None, None)
    rows = await pool.fetch(_BORN_EARLY_ENOUGH, born_by, school, pupil, page_size)
    due = []
    for row in rows:
        rule = schedule.due(row["date_of_birth"], as_at, ever_sen=row["ever_sen"], ever_ehc_plan=row["ever_ehc_plan"])
        if rule is not None:
            due.append((row, rule))
    holds = await store.call(None, store.app.legal_holds, [row["pupil_id"] for row, _ in due]) if due else {}
    candidates = []
    for row, rule in due:
        held = holds.get(row["pupil_id"])
        if held is None:  # erased a moment ago (the view not yet showing it)
            continue
        candidates.append(
            RetentionCandidate(
                pupil_id=row["pupil_id"],
                school_urn=row["school_urn"],
                year_of_birth=row["date_of_birth"].year,
                rule=rule.label,
                kept_until=rule.kept_until(row["date_of_birth"]),
                holds=[LegalHoldView(kind=kind, reference=ref) for ref, kind in sorted(held.items())],
            )
        )
    next_after = None
    if len(rows) == page_size:
        next_after = encode_cursor(as_at=as_at, key=[rows[-1]["school_urn"], str(rows[-1]["pupil_id"])])
    return RetentionReview(
        local_authority=schedule.local_authority,
        schedule=schedule.name,
        schedule_file=schedule.source,
        rules=rules_of(schedule),
        as_at=as_at,
        candidates=candidates,
        next_after=next_after,
    )


# ------------------------------------------------------------------------------------------------------------
# The job


@dataclass
class RetentionRun:
    """What one run of the job did: by pupil id, school, year of birth and rule; never a name."""

    run_on: date
    run_id: UUID
    erased: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    left_for_next_run: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "run_on": self.run_on.isoformat(),
            "run_id": str(self.run_id),
            "erased": self.erased,
            "held": self.held,
            "failed": self.failed,
            "left_for_next_run": self.left_for_next_run,
        }


RUNS_TABLE = """
    CREATE TABLE IF NOT EXISTS register_retention_runs (
        run_id      uuid PRIMARY KEY,
        run_on      date NOT NULL,
        started_at  timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        schedule    text NOT NULL,
        erased      int NOT NULL,
        held        int NOT NULL,
        failed      int NOT NULL,
        report      jsonb NOT NULL
    );
    CREATE INDEX IF NOT EXISTS register_retention_runs_on ON register_retention_runs (run_on);
"""
REVIEW_PAGE = 1000
SAVE_ATTEMPTS = 3  # an erasure whose save clashes with another writer is tried again this many times


class RetentionJob:
    """The register's retention job (a supervised background loop: services/runtime/service.py `Worker`)."""

    name = "retention"

    def __init__(
        self, store: EventStore[Register], clock: Clock, schedule: RetentionSchedule, settings: RegisterSettings
    ) -> None:
        self.store = store
        self.clock = clock
        self.schedule = schedule
        self.settings = settings
        self.actor = Actor.service("register")

    async def run(self, runtime: Any) -> None:
        if not self.settings.retention_job:
            log.info("retention.job_off", schedule=self.schedule.source)
            return
        queries: RegisterQueries = runtime.read_side
        await run_in_one_replica(
            self.settings.database_url or "", "register-retention", lambda: self.run_daily(queries)
        )

    async def run_daily(self, queries: RegisterQueries) -> None:
        """Run at the day's time, or at once when the day's run is owed (never yet run today, and the time has
        passed: after downtime); then wait for the next day's time (looking again at least every 10 minutes, so
        a clock change or a day's run done by another replica is seen)."""
        await self.setup(queries.pool)
        log.info("retention.job_on", schedule=self.schedule.source, run_at=self.settings.retention_run_at.isoformat())
        while True:
            now = self.clock.now()
            today = today_in_england(now)
            time_today = datetime.combine(today, self.settings.retention_run_at, ENGLAND)
            if now >= time_today and not await self.ran_on(queries.pool, today):
                await self.run_once(queries, today)
                continue
            next_time = time_today if now < time_today else time_today + timedelta(days=1)
            await asyncio.sleep(min(max((next_time - now).total_seconds(), 1.0), 600.0))

    async def setup(self, pool: asyncpg.Pool) -> None:
        await pool.execute(RUNS_TABLE)

    async def ran_on(self, pool: asyncpg.Pool, day: date) -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM register_retention_runs WHERE run_on = $1", day))

    async def run_once(self, queries: RegisterQueries, today: date | None = None) -> RetentionRun:
        """Erase every child past retention as at today who is not held, and record the run."""
        pool = queries.pool
        await self.setup(pool)
        started = self.clock.now()
        today = today or today_in_england(started)
        run = RetentionRun(run_on=today, run_id=uuid4())
        await queries.read_models.caught_up("register_views")
        candidates = await self.candidates(pool, today)
        most = self.settings.retention_most_per_run or len(candidates)
        for candidate in candidates:
            line = {
                "pupil_id": str(candidate.pupil_id),
                "school_urn": candidate.school_urn,
                "year_of_birth": candidate.year_of_birth,
                "rule": candidate.rule,
            }
            if candidate.holds:
                run.held.append({**line, "holds": [h.model_dump() for h in candidate.holds]})
                continue
            if len(run.erased) >= most:
                run.left_for_next_run += 1
                continue
            await self._erase(run, candidate, line, today)
        finished = self.clock.now()
        await pool.execute(
            "INSERT INTO register_retention_runs (run_id, run_on, started_at, finished_at, schedule, erased, held, "
            "failed, report) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
            run.run_id,
            today,
            started,
            finished,
            self.schedule.source,
            len(run.erased),
            len(run.held),
            len(run.failed),
            json.dumps(run.summary()),
        )
        for held in run.held:
            log.info(
                "retention.held",
                pupil_id=held["pupil_id"],
                rule=held["rule"],
                holds=", ".join(f"{h['reference']} ({h['kind']})" for h in held["holds"]),
            )
        log.info(
            "retention.run",
            run_id=str(run.run_id),
            run_on=today.isoformat(),
            erased=len(run.erased),
            held=len(run.held),
            failed=len(run.failed),
            left_for_next_run=run.left_for_next_run,
        )
        return run

    async def candidates(self, pool: asyncpg.Pool, today: date) -> list[RetentionCandidate]:
        found: list[RetentionCandidate] = []
        after: list[str] | None = None
        while True:
            page = await review(pool, self.store, self.schedule, today, page_size=REVIEW_PAGE, after=after)
            found.extend(page.candidates)
            if page.next_after is None:
                return found
            after = (decode_cursor(page.next_after, keys=("as_at", "key")) or {})["key"]

    async def _erase(self, run: RetentionRun, candidate: RetentionCandidate, line: dict[str, Any], today: date) -> None:
        ctx = CommandContext(actor=self.actor, now=self.clock.now(), correlation_id=run.run_id)
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                report = await self.store.call(
                    ctx,
                    self.store.app.erase_pupil,
                    actor=self.actor,
                    today=today,
                    pupil_id=candidate.pupil_id,
                    rule=candidate.rule,
                )
            except IntegrityError:  # another writer changed the record at the same moment: load it again
                if attempt == SAVE_ATTEMPTS:
                    run.failed.append({**line, "problem": "the record kept changing; tried again on the next run"})
                continue
            except DomainError as e:
                if e.rule == "legal_hold":  # placed since the review
                    run.held.append({**line, "holds": [], "problem": str(e)})
                elif e.rule != "record_erased":  # erased meanwhile: nothing to do
                    run.failed.append({**line, "problem": str(e)})
                return
            except Exception as e:  # logged with its traceback; the run carries on with the next child
                log.exception("retention.erase_failed", pupil_id=line["pupil_id"])
                run.failed.append({**line, "problem": f"{type(e).__name__} (see the log)"})
                return
            run.erased.append(
                {
                    **line,
                    "people_erased": [str(p) for p in report.people_erased],
                    "people_kept": [str(p) for p in report.people_kept],
                }
            )
            return
