"""Following a service's notification log: wake on PostgreSQL NOTIFY; poll only as a safety net.

The follower waits on a Wakeup (services/runtime/wakeup.py): woken at once by the NOTIFY eventsourcing sends
after every insert, the LISTEN connection checked (and reconnected) before every read, and a read every
`poll_seconds` when nothing woke it: at worst a new event waits one poll interval. Idle, a follower costs one
small query per poll interval and nothing else (no busy loop).

A page is read, and prepared (decoded, or decoded and translated), in the event store's thread pool in one
call, so the reading and the decoding of the next page can overlap what the caller does with this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from eventsourcing.persistence import Notification

from services.runtime.eventstore import EventStore
from services.runtime.wakeup import Wakeup

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
    to_domain_events = getattr(mapper, "to_domain_events", None)

    def decode(page: Sequence[Notification]) -> list[Decoded]:
        if to_domain_events is not None:  # the whole page at once (one keyring lookup), unless one fails
            try:
                return [Decoded(n, e) for n, e in zip(page, to_domain_events(page), strict=True)]
            except Exception:
                pass
        decoded = []
        for notification in page:
            try:
                decoded.append(Decoded(notification, to_domain_event(notification)))
            except Exception as e:
                decoded.append(Decoded(notification, None, e))
        return decoded

    return decode


class LogFollower:
    def __init__(
        self,
        store: EventStore,
        database_url: str,
        *,
        poll_seconds: float,
        batch_size: int,
        gather_seconds: float = 0.0,
    ) -> None:
        self.store = store
        self.batch_size = batch_size  # notifications read per page
        self.wakeup = Wakeup(database_url, store.app.notify_channel, safety_net_seconds=poll_seconds)
        # Under load, read at most this often after a page that was not full: a busy service's commits then
        # reach each follower a few at a time instead of one by one (fewer reads and transactions for the same
        # events); idle, nothing changes (a lone event waits at most this long).
        self.gather_seconds = gather_seconds
        self._last_read = 0.0

    async def next_batch(self, after: int) -> Sequence[Notification]:
        """The next notifications after `after`, waiting for some to exist."""
        return await self.next_page(after, list)

    async def next_page(self, after: int, prepare: Callable[[Sequence[Notification]], T]) -> T:
        """The next page of notifications after `after` (waiting for some to exist), passed through `prepare`
        in the store's thread pool (`prepare` is given a non-empty page)."""
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.listen()  # before reading: a NOTIFY from now on wakes the wait below
            if self.gather_seconds and (pause := self._last_read + self.gather_seconds - loop.time()) > 0:
                await asyncio.sleep(pause)
            self._last_read = loop.time()
            page, read = await self.store.call(None, self._read, after, prepare)
            if read:
                if read >= self.batch_size:
                    self._last_read = 0.0  # more is waiting: no pause before the next page
                return page  # type: ignore[return-value]  # prepared from a non-empty page
            await self.wakeup.wait()

    def _read(self, after: int, prepare: Callable[[Sequence[Notification]], T]) -> tuple[T | None, int]:
        page = self.store.app.notifications_after(after, self.batch_size)
        return (prepare(page) if page else None), len(page)

    async def close(self) -> None:
        await self.wakeup.close()
