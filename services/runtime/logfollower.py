"""Following a service's notification log: wake on PostgreSQL NOTIFY, and poll as well.

eventsourcing sends NOTIFY on the events table's channel after every insert. A LISTEN connection can die
silently (the library's own subscription stops when it does), so the follower supervises it, reconnects,
and polls every `poll_seconds` whatever happens: at worst a new event waits one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import asyncpg
from eventsourcing.persistence import Notification

from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger

log = get_logger(__name__)


class LogFollower:
    def __init__(self, store: EventStore, database_url: str, *, poll_seconds: float, batch_size: int) -> None:
        self.store = store
        self.database_url = database_url
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def next_batch(self, after: int) -> Sequence[Notification]:
        """The next notifications after `after`, waiting for some to exist."""
        while True:
            await self._ensure_listening()
            self._wake.clear()
            batch = await self.store.call(None, self.store.app.notifications_after, after, self.batch_size)
            if batch:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _ensure_listening(self) -> None:
        channel = self.store.app.notify_channel
        if channel is None:  # in-memory store: polling only
            return
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.database_url)
            await self._listener.add_listener(channel, self._notified)
        except (OSError, asyncpg.PostgresError) as e:
            log.warning("log_follower.listen_failed", error=str(e), fallback="polling")
            self._listener = None

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def close(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        self._listener = None
