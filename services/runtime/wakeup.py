"""Waking a loop when its service's event store changes: PostgreSQL NOTIFY, with a poll as the safety net.

eventsourcing sends NOTIFY on the events table's channel after every insert. A loop whose work follows from
new events (the notifications delivery worker: a notification owed and written is due to be sent) waits on
a Wakeup instead of polling: it is woken at once by a NOTIFY and otherwise looks again only every
`safety_net_seconds` (a LISTEN connection can die silently: it is checked and reconnected before each wait,
and a dead one costs at most one safety-net interval). An idle loop costs nothing but that.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from services.runtime.logging import get_logger

log = get_logger(__name__)


class Wakeup:
    def __init__(self, database_url: str, channel: str | None, *, safety_net_seconds: float) -> None:
        self.database_url = database_url
        self.channel = channel  # None (an in-memory store): polling only
        self.safety_net_seconds = safety_net_seconds
        self._woken = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def listen(self) -> None:
        """Make sure a NOTIFY will wake the next wait; then forget earlier ones (call before looking for
        work, so that anything stored while looking wakes the wait that follows)."""
        await self._ensure_listening()
        self._woken.clear()

    async def wait(self, timeout: float | None = None) -> bool:
        """Until a NOTIFY since `listen`, or the safety net (or `timeout`, if sooner). True if notified."""
        seconds = self.safety_net_seconds if timeout is None else max(0.0, min(timeout, self.safety_net_seconds))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout=seconds)
        return self._woken.is_set()

    async def _ensure_listening(self) -> None:
        if self.channel is None:
            return
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.database_url)
            await self._listener.add_listener(self.channel, self._notified)
        except (OSError, asyncpg.PostgresError) as e:
            log.warning("wakeup.listen_failed", error=str(e), fallback="safety-net poll")
            await self.close()

    def _notified(self, *_: object) -> None:
        self._woken.set()

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            with contextlib.suppress(Exception):
                await listener.close()
