"""Following a service's notification log: wake on PostgreSQL NOTIFY; poll only as a safety net.

eventsourcing sends NOTIFY on the events table's channel after every insert, and the follower wakes on it
at once. A LISTEN connection can die silently (the library's own subscription stops when it does), so the
follower checks it (and reconnects) before every read, and also reads every `poll_seconds` when nothing
woke it: at worst a new event waits one poll interval. Idle, a follower costs one small query per poll
interval and nothing else (no busy loop: it sleeps on the wake-up or the poll timeout).

A page is read, and prepared (decoded, or decoded and translated), in the event store's thread pool in one
call, so the reading and the decoding of the next page can overlap what the caller does with this one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from eventsourcing.persistence import Notification

from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")


class Decoded:
    """A notification and its domain event, decoded once (or the error decoding it raised)."""

    __slots__ = ("error", "event", "notification")

    def __init__(self, notification: Notification, event: Any, error: Exception | None = None) -> None:
        self.notification = notification
        self.event = event
        self.error = error

    @property
    def id(self) -> int:
        return self.notification.id


def decoder(mapper: Any) -> Callable[[Sequence[Notification]], list[Decoded]]:
    """Decode a page of notifications with the application's mapper: an event that cannot be decoded is
    kept with its error (a projection parks it; it never stops the page)."""
    to_domain_event = mapper.to_domain_event

    def decode(page: Sequence[Notification]) -> list[Decoded]:
        decoded = []
        for notification in page:
            try:
                decoded.append(Decoded(notification, to_domain_event(notification)))
            except Exception as e:
                decoded.append(Decoded(notification, None, e))
        return decoded

    return decode


class LogFollower:
    def __init__(self, store: EventStore, database_url: str, *, poll_seconds: float, batch_size: int) -> None:
        self.store = store
        self.database_url = database_url
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size  # notifications read per page
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def next_batch(self, after: int) -> Sequence[Notification]:
        """The next notifications after `after`, waiting for some to exist."""
        return await self.next_page(after, list)

    async def next_page(self, after: int, prepare: Callable[[Sequence[Notification]], T]) -> T:
        """The next page of notifications after `after` (waiting for some to exist), passed through `prepare`
        in the store's thread pool (`prepare` is given a non-empty page)."""
        while True:
            await self._ensure_listening()
            self._wake.clear()  # before reading: a NOTIFY from now on wakes the wait below
            page = await self.store.call(None, self._read, after, prepare)
            if page is not None:
                return page
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def _read(self, after: int, prepare: Callable[[Sequence[Notification]], T]) -> T | None:
        page = self.store.app.notifications_after(after, self.batch_size)
        return prepare(page) if page else None

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
