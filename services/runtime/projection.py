"""Projections: read models kept by asyncpg from the service's own notification log.

Each projection has its own position in runtime_positions, updated in the same transaction as the rows
it changes, so a crash leaves the view and its position consistent. `rebuild` empties the view and
resets the position; the runner then replays the whole log and arrives at the same rows.

The runner reads the log in large pages, each decoded once in the event store's thread pool while the
previous page is being written (read-ahead), and hands a whole page to the projection's `apply_batch`,
which folds it in memory and writes it with a few set-based statements (`unnest_insert`): the same rows
as applying its events one at a time, later events overriding earlier ones for the same row. A page that
fails is applied one event at a time (batches of one), so only an event the view cannot take is parked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg

from services.runtime.database import PositionStore
from services.runtime.logfollower import Decoded, LogFollower, decoder
from services.runtime.logging import get_logger

log = get_logger(__name__)


class Projection(Protocol):
    """A read model. It may also set `version` (default 1): a projection whose tables or rows change shape
    bumps it, and then starts again from an empty view at position 0 and replays the whole log (its old
    version's position is left behind)."""

    name: str

    async def setup(self, conn: asyncpg.Connection) -> None:
        """Create the view's tables if missing."""
        ...

    async def clear(self, conn: asyncpg.Connection) -> None:
        """Empty the view, for a rebuild."""
        ...

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[tuple[Any, int]]) -> None:
        """Fold these stored domain events, each with its notification id, in log order, into the view: the
        rows must be exactly those that applying them one at a time would give (a later event overriding
        an earlier one for the same row). Called with a batch of one to apply a single event."""
        ...


def unnest_insert(table: str, columns: Sequence[tuple[str, str]], conflict: str = "DO NOTHING") -> str:
    """`INSERT INTO table (columns) SELECT * FROM unnest($1::type[], ...) ON CONFLICT ...`: many rows in one
    statement, one array per column (pass them with `as_columns`). `conflict` is what follows ON CONFLICT."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, start=1))
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) ON CONFLICT {conflict}"


def update_all(key: str, columns: Sequence[tuple[str, str]]) -> str:
    """An ON CONFLICT clause that replaces every column but the key with the new row's."""
    sets = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in columns if name != key)
    return f"({key}) DO UPDATE SET {sets}"


def as_columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows -> one list per column (the arguments of an `unnest_insert`)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class ProjectionRunner:
    def __init__(self, projection: Projection, follower: LogFollower, pool: asyncpg.Pool, positions: PositionStore):
        self.parked = ParkedEvents(pool)
        self.projection = projection
        self.follower = follower
        self.pool = pool
        self.positions = positions
        version = getattr(projection, "version", 1)
        self.key = f"projection:{projection.name}" + (f":v{version}" if version > 1 else "")
        self.position = 0
        self._decode = decoder(follower.store.app.mapper)
        self._lock = asyncio.Lock()  # a rebuild and a batch never interleave
        self._restart = asyncio.Event()  # set by rebuild: drop the batch being fetched, start again
        self._generation = 0  # bumped by each rebuild; a batch fetched before it is dropped
        self._caught_up = asyncio.Condition()

    async def setup(self) -> None:
        await self.parked.setup()
        async with self.pool.acquire() as conn:
            await self.projection.setup(conn)
        self.position = await self.positions.get(self.key)
        if self.position == 0:  # new, or a new version: whatever an older version left is replayed
            async with self.pool.acquire() as conn, conn.transaction():
                await self.projection.clear(conn)

    async def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until the view has applied the log up to `position` (read-your-writes); False on timeout."""
        if self.position >= position:
            return True
        try:
            async with asyncio.timeout(timeout):
                async with self._caught_up:
                    await self._caught_up.wait_for(lambda: self.position >= position)
            return True
        except TimeoutError:
            return False

    def _fetch(self, after: int) -> asyncio.Future[list[Decoded]]:
        return asyncio.ensure_future(self.follower.next_page(after, self._decode))

    async def run(self) -> None:
        await self.setup()
        log.info("projection.started", projection=self.projection.name, position=self.position)
        fetch: asyncio.Future[list[Decoded]] | None = None
        try:
            while True:
                generation = self._generation
                if fetch is None:
                    fetch = self._fetch(self.position)
                restart = asyncio.ensure_future(self._restart.wait())
                try:
                    await asyncio.wait((fetch, restart), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not restart.done():
                        restart.cancel()
                if self._restart.is_set():
                    self._restart.clear()
                    fetch.cancel()
                    fetch = None
                    continue
                page = fetch.result()
                fetch = self._fetch(page[-1].id)  # read and decode the next page while this one is written
                await self.apply_batch(page, generation)
                if generation != self._generation:  # a rebuild came meanwhile: what was read ahead is stale
                    fetch.cancel()
                    fetch = None
        finally:
            if fetch is not None:
                fetch.cancel()

    async def apply_batch(self, batch: Sequence[Decoded], generation: int | None = None) -> None:
        """Apply a batch in one transaction with the position. If it fails, apply its events one at a time,
        so that only an event the view cannot take is parked (recorded with its error, the view moving on)
        and every other one is applied. A failure of the database itself parks nothing: it is raised, and
        the runtime restarts the loop from the recorded position."""
        # (notification ids can have gaps: a rolled-back insert still uses up its sequence number)
        async with self._lock:
            if generation is not None and generation != self._generation:
                return  # fetched before a rebuild reset the position
            try:
                events = []
                for decoded in batch:
                    if decoded.error is not None:
                        raise decoded.error
                    events.append((decoded.event, decoded.id))
                async with self.pool.acquire() as conn, conn.transaction():
                    await self.projection.apply_batch(conn, events)
                    await self.positions.set(self.key, batch[-1].id, conn)
            except TRANSIENT:
                raise
            except Exception as e:
                if len(batch) > 1:
                    log.warning(
                        "projection.batch_failed",
                        projection=self.projection.name,
                        first=batch[0].id,
                        last=batch[-1].id,
                        error=type(e).__name__,
                        then="one event at a time",
                    )
                for decoded in batch:
                    await self._apply_one_or_park(decoded)
            self.position = batch[-1].id
        async with self._caught_up:
            self._caught_up.notify_all()

    async def _apply(self, conn: asyncpg.Connection, decoded: Decoded) -> None:
        if decoded.error is not None:
            raise decoded.error
        await self.projection.apply_batch(conn, [(decoded.event, decoded.id)])

    async def _apply_one_or_park(self, decoded: Decoded) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await self._apply(conn, decoded)
                await self.positions.set(self.key, decoded.id, conn)
        except TRANSIENT:
            raise
        except Exception as e:
            await self.parked.park(self.projection.name, decoded.notification, e, self.positions, self.key)

    async def retry_parked(self) -> tuple[int, int]:
        """Apply each parked event again (after a fix), oldest first: (applied, still parked)."""
        applied = still = 0
        async with self._lock:
            for position in await self.parked.positions(self.projection.name):
                [notification] = await self.follower.store.call(
                    None, self.follower.store.app.recorder.select_notifications, position, 1
                ) or [None]
                if notification is None or notification.id != position:
                    continue
                [decoded] = self._decode([notification])
                try:
                    async with self.pool.acquire() as conn, conn.transaction():
                        await self._apply(conn, decoded)
                        await self.parked.resolve(conn, self.projection.name, position, "retried")
                    applied += 1
                except TRANSIENT:
                    raise
                except Exception as e:
                    await self.parked.park(self.projection.name, notification, e)
                    still += 1
        return applied, still

    async def rebuild(self) -> None:
        """Empty the view and replay the whole log into it (while the service keeps running)."""
        async with self._lock:
            async with self.pool.acquire() as conn, conn.transaction():
                await self.projection.clear(conn)
                await self.positions.set(self.key, 0, conn)
            self.position = 0
            self._generation += 1
            self._restart.set()


# Failures of the database or the connection, not of an event: never a reason to park one.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.CancelledError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InsufficientResourcesError,
)


class ParkedEvents:
    """Events a view could not take, kept with their error for a person to look at (`runtime_parked_events`).

    A parked event is passed over, so one bad event never stops a view (a name holding a NUL once left a
    school's register empty with no error anywhere); while any is parked the service reports itself
    degraded (`sendcase status`), and an operator retries them after a fix or skips them, with a reason.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def setup(self) -> None:
        await self.pool.execute(
            """CREATE TABLE IF NOT EXISTS runtime_parked_events (
                   projection  text NOT NULL,
                   position    bigint NOT NULL,
                   topic       text NOT NULL,
                   error       text NOT NULL,
                   attempts    int NOT NULL DEFAULT 1,
                   parked_at   timestamptz NOT NULL DEFAULT now(),
                   status      text NOT NULL DEFAULT 'parked',  -- parked, retried, skipped
                   resolved_at timestamptz,
                   resolution  text,
                   PRIMARY KEY (projection, position))"""
        )

    async def park(
        self,
        projection: str,
        notification: Any,
        error: BaseException,
        positions: PositionStore | None = None,
        key: str | None = None,
    ) -> None:
        # The error's type and message (never the event's content: it may hold a child's personal data).
        described = f"{type(error).__name__}: {str(error)[:500]}"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO runtime_parked_events (projection, position, topic, error) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (projection, position) DO UPDATE SET error = EXCLUDED.error,
                       attempts = runtime_parked_events.attempts + 1, status = 'parked', resolved_at = NULL""",
                projection,
                notification.id,
                notification.topic,
                described,
            )
            if positions is not None and key is not None:
                await positions.set(key, notification.id, conn)
        log.error(
            "projection.event_parked",
            projection=projection,
            position=notification.id,
            topic=notification.topic,
            error=described,
        )

    async def positions(self, projection: str) -> list[int]:
        rows = await self.pool.fetch(
            "SELECT position FROM runtime_parked_events WHERE projection = $1 AND status = 'parked' ORDER BY position",
            projection,
        )
        return [r["position"] for r in rows]

    async def resolve(
        self, conn: asyncpg.Connection, projection: str, position: int, how: str, resolution: str | None = None
    ) -> None:
        await conn.execute(
            """UPDATE runtime_parked_events SET status = $3, resolved_at = now(), resolution = $4
               WHERE projection = $1 AND position = $2""",
            projection,
            position,
            how,
            resolution,
        )

    async def skip(self, projection: str | None, reason: str, by: str) -> int:
        async with self.pool.acquire() as conn:
            result = await conn.execute(
                """UPDATE runtime_parked_events SET status = 'skipped', resolved_at = now(), resolution = $2
                   WHERE status = 'parked' AND ($1::text IS NULL OR projection = $1)""",
                projection,
                f"skipped by {by}: {reason}",
            )
        return int(result.split()[-1])

    async def listed(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT projection, position, topic, error, attempts, parked_at FROM runtime_parked_events "
            "WHERE status = 'parked' ORDER BY projection, position"
        )
        return [dict(r) for r in rows]


class ReadModels:
    """What a service's read side is given: the read-model pool, and a way to wait until its views have
    caught up with everything stored so far, so a query right after a command sees that command."""

    def __init__(self, pool: asyncpg.Pool, runners: list[ProjectionRunner], log_head: Any, timeout: float = 2.0):
        self.pool = pool
        self._runners = runners  # filled in as the runtime starts each projection
        self._log_head = log_head  # async () -> the last position in the service's log
        self.timeout = timeout

    async def caught_up(self, *names: str) -> None:
        """Wait (bounded) until the named views (all, when none is named) reach the log's head now. After the
        bound the query is answered from the view as it is, and the wait is logged."""
        head = await self._log_head()
        for runner in self._runners:
            if names and runner.projection.name not in names:
                continue
            if not await runner.wait_for(head, self.timeout):
                log.warning("projection.behind", projection=runner.projection.name, position=runner.position, head=head)
