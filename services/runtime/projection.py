"""Projections: read models kept by asyncpg from the service's own notification log.

Each projection has its own position in runtime_positions, updated in the same transaction as the rows
it changes, so a crash leaves the view and its position consistent. `rebuild` empties the view and
resets the position; the runner then replays the whole log and arrives at the same rows.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import asyncpg

from services.runtime.database import PositionStore
from services.runtime.logfollower import LogFollower
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

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        """Fold one stored domain event into the view."""
        ...


class ProjectionRunner:
    def __init__(self, projection: Projection, follower: LogFollower, pool: asyncpg.Pool, positions: PositionStore):
        self.projection = projection
        self.follower = follower
        self.pool = pool
        self.positions = positions
        version = getattr(projection, "version", 1)
        self.key = f"projection:{projection.name}" + (f":v{version}" if version > 1 else "")
        self.position = 0
        self._lock = asyncio.Lock()  # a rebuild and a batch never interleave
        self._restart = asyncio.Event()  # set by rebuild: drop the batch being fetched, start again
        self._generation = 0  # bumped by each rebuild; a batch fetched before it is dropped
        self._caught_up = asyncio.Condition()

    async def setup(self) -> None:
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

    async def run(self) -> None:
        await self.setup()
        log.info("projection.started", projection=self.projection.name, position=self.position)
        while True:
            generation = self._generation
            fetch = asyncio.ensure_future(self.follower.next_batch(self.position))
            restart = asyncio.ensure_future(self._restart.wait())
            try:
                await asyncio.wait({fetch, restart}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (fetch, restart):
                    if not task.done():
                        task.cancel()
            if self._restart.is_set():
                self._restart.clear()
                continue
            await self.apply_batch(fetch.result(), generation)

    async def apply_batch(self, batch: Any, generation: int | None = None) -> None:
        # (notification ids can have gaps: a rolled-back insert still uses up its sequence number)
        mapper = self.follower.store.app.mapper
        async with self._lock:
            if generation is not None and generation != self._generation:
                return  # fetched before a rebuild reset the position
            async with self.pool.acquire() as conn, conn.transaction():
                for notification in batch:
                    await self.projection.apply(conn, mapper.to_domain_event(notification), notification.id)
                await self.positions.set(self.key, batch[-1].id, conn)
            self.position = batch[-1].id
        async with self._caught_up:
            self._caught_up.notify_all()

    async def rebuild(self) -> None:
        """Empty the view and replay the whole log into it (while the service keeps running)."""
        async with self._lock:
            async with self.pool.acquire() as conn, conn.transaction():
                await self.projection.clear(conn)
                await self.positions.set(self.key, 0, conn)
            self.position = 0
            self._generation += 1
            self._restart.set()


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
