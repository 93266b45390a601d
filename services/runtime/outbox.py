"""The outbox relay: the service's notification log, in order, onto JetStream.

Each stored domain event is translated (or skipped, if internal) and published with
Nats-Msg-Id = <service>:<notification id>, so JetStream drops a second copy. The relay records how far it
has got only after every publish up to that point was acknowledged. A crash anywhere therefore loses
nothing (it resumes from the recorded position) and duplicates nothing downstream (the re-publish is
deduplicated). Before resuming, it also reads the last id its service has in the stream, so even a relay
that was down for longer than the duplicate window does not publish twice.

It refuses to start when the stream holds a later id of its service than the event store has: the database
was restored from a backup (or reset) while the stream was kept, and new events would take ids that are on
the stream already (JetStream would drop them as duplicates). `sendcase recover <service>`
(services/runtime/recovery.py) reports the facts lost with the restore, moves the id sequence past the
stream's head and records that head as a known gap (runtime_positions, follower `recovery`); the relay then
accepts a stream ahead up to that recorded point, and no further.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import Any

from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.subjects import event_subject, service_events
from services.runtime.database import PositionStore
from services.runtime.logfollower import LogFollower
from services.runtime.logging import get_logger
from services.runtime.retry import Backoff
from services.runtime.sealing import seal_payloads
from services.runtime.translation import Translator

log = get_logger(__name__)
FIRST = asyncio.FIRST_COMPLETED
RELAY_RETRY = Backoff.doubling(1.0, 30.0)  # a publish that failed (NATS down): try again after

RELAY = "relay"
# The stream's head for this service as `sendcase recover` found it: the ids up to it that the database does
# not have are known to be lost with a restore (and were reported), so the relay may resume after them.
RECOVERED = "recovery"


def message_id(service: str, notification_id: int) -> str:
    return f"{service}:{notification_id}"


def published_position(msg: Any, service: str) -> int | None:
    """The notification id a stream message was published under by `service`'s relay, or None."""
    producer, _, number = (msg.headers or {}).get("Nats-Msg-Id", "").partition(":")
    return int(number) if producer == service and number.isdigit() else None


class StreamAheadOfEventStore(RuntimeError):
    pass


class OutboxRelay:
    def __init__(
        self,
        service: str,
        follower: LogFollower,
        translate: Translator,
        js: JetStreamContext,
        positions: PositionStore,
        *,
        prefix: str,
        stream: str,
        publish_timeout: float = 10.0,
        in_flight: int = 512,
    ) -> None:
        self.service = service
        self.follower = follower
        self.translate = translate
        self.js = js
        self.positions = positions
        self.prefix = prefix
        self.stream = stream
        self.publish_timeout = publish_timeout
        self.in_flight = in_flight  # publishes awaiting their acknowledgement at once, at most
        self.position = 0
        self.published = 0  # integration events published by this process (for benchmarks and health)

    async def resume_position(self) -> int:
        recorded = await self.positions.get(RELAY)
        in_stream = await self.last_published_in_stream()
        stored = await self.follower.store.call(None, self.follower.store.app.max_notification_id)
        recovered = await self.positions.get(RECOVERED)
        if in_stream > max(stored, recovered):
            # The stream has ids this event store does not have: its database was restored from a backup or
            # reset while the stream was kept. New events would reuse those ids (and be dropped as duplicates),
            # so nothing is published until an operator has run the recovery, which records how far the
            # stream was ahead (a later gap is refused again).
            known = f" (the recovery recorded {self.service}:{recovered})" if recovered else ""
            raise StreamAheadOfEventStore(
                f"the {self.stream} stream already holds {self.service}:{in_stream}, but the {self.service} "
                f"event store's last id is {stored}{known}: was its database reset or restored from a backup? "
                f"Stop the service and run `sendcase recover {self.service}` (docs/operations.md, Backup and "
                f"restore), or give this deployment its own subject prefix, before the relay publishes again."
            )
        if in_stream > recorded:
            log.info("relay.resume_from_stream", recorded=recorded, stream=in_stream)
            await self.positions.set(RELAY, in_stream)
        return max(recorded, in_stream)

    async def last_published_in_stream(self) -> int:
        try:
            last = await self.js.get_last_msg(self.stream, service_events(self.prefix, self.service))
        except NotFoundError:
            return 0
        return published_position(last, self.service) or 0

    async def run(self) -> None:
        self.position = await self.resume_position()
        log.info("relay.started", position=self.position)
        failures = 0
        while True:
            before = self.position
            try:
                await self.follow()
            except Exception as e:  # NATS down, timeout, a translation bug: never skip, retry
                failures = 1 if self.position > before else failures + 1
                delay = RELAY_RETRY.after(failures)
                log.error("relay.publish_failed", error=repr(e), position=self.position, retry_in=delay)
                await asyncio.sleep(delay)

    async def follow(self) -> None:
        """Publish the log from the recorded position on, until a publish fails (then raise). The next page is
        read, decoded and translated (in the store's thread pool) while this one's publishes are in flight;
        up to `in_flight` publishes await their acknowledgement at once, across pages; the position is
        recorded at each page's end once everything up to it is acknowledged, and at once when caught up."""
        flight = _InFlight(self)
        reading = asyncio.ensure_future(self.follower.next_page(self.position, self.prepare))
        try:
            while True:
                await flight.settle_while_reading(reading)  # caught up: everything sent acked and recorded
                page = await reading
                reading = asyncio.ensure_future(self.follower.next_page(page.last, self.prepare))
                await flight.send_page(page)
        finally:
            reading.cancel()
            flight.abandon()

    async def relay(self, batch: Sequence[Notification]) -> None:
        """Publish one batch (pipelined) and advance the recorded position past it."""
        flight = _InFlight(self)
        try:
            await flight.send_page(self.prepare(batch))
            await flight.settle_all()
        finally:
            flight.abandon()

    def prepare(self, batch: Sequence[Notification]) -> Page:
        """A page to publish: each notification decoded once, translated (internal ones skipped) and
        serialised. Run in the event store's thread pool, off the event loop."""
        mapper: Any = self.follower.store.app.mapper
        translated = []
        for notification, domain_event in zip(batch, mapper.to_domain_events(batch), strict=True):
            env = self.translate(domain_event, notification.id)
            if env is not None:
                translated.append((notification.id, env))
        if mapper.sealer is not None and translated:
            # Personal values travel sealed under their person's key, as they are stored (sealing.py).
            sealed = seal_payloads(mapper.sealer, [(e.payload, e.subject.pupil_id) for _, e in translated])
            translated = [
                (position, env.model_copy(update={"payload": payload}))
                for (position, env), payload in zip(translated, sealed, strict=True)
            ]
        outgoing = [
            (position, event_subject(self.prefix, env.type), env.model_dump_json().encode(), env.type)
            for position, env in translated
        ]
        return Page(batch[-1].id, outgoing)

    def _send(self, notification_id: int, subject: str, data: bytes, kind: str) -> Awaitable[asyncio.Future[Any]]:
        headers = {"Nats-Msg-Id": message_id(self.service, notification_id), "Sendcase-Type": kind}
        return self.js.publish_async(subject, data, stream=self.stream, headers=headers)

    async def _record(self, position: int) -> None:
        if position > self.position:
            await self.positions.set(RELAY, position)
            self.position = position


class Page:
    """Notifications up to `last`, and what of them is published: (notification id, subject, data, type)."""

    __slots__ = ("last", "outgoing")

    def __init__(self, last: int, outgoing: list[tuple[int, str, bytes, str]]) -> None:
        self.last = last
        self.outgoing = outgoing


class _InFlight:
    """Publishes awaiting their acknowledgement, in log order, with each page's end between them. They are
    settled strictly in order, so a position is recorded only when every publish up to it is acknowledged;
    a publish that failed (or was not acknowledged in time) records the position just before it and raises."""

    def __init__(self, relay: OutboxRelay) -> None:
        self.relay = relay
        self.waiting: deque[tuple[int, asyncio.Future[Any] | None]] = deque()  # None: a page's end
        self.publishes = 0

    async def send_page(self, page: Page) -> None:
        for notification_id, subject, data, kind in page.outgoing:
            while self.publishes >= self.relay.in_flight:
                await self.settle_oldest()
            self.waiting.append((notification_id, await self.relay._send(notification_id, subject, data, kind)))
            self.publishes += 1
        self.waiting.append((page.last, None))
        while self.waiting and (self.waiting[0][1] is None or self.waiting[0][1].done()):
            await self.settle_oldest()  # what is acknowledged already (no waiting)

    async def settle_while_reading(self, reading: asyncio.Future[Any]) -> None:
        """Settle in order (recording each page end reached) until the next page is read."""
        while self.waiting and not reading.done():
            _, ack = self.waiting[0]
            if ack is not None and not ack.done():
                await asyncio.wait((reading, ack), timeout=self.relay.publish_timeout, return_when=FIRST)
                if not ack.done() and reading.done():
                    return
            await self.settle_oldest()

    async def settle_all(self) -> None:
        while self.waiting:
            await self.settle_oldest()

    async def settle_oldest(self) -> None:
        notification_id, ack = self.waiting.popleft()
        if ack is None:
            await self.relay._record(notification_id)
            return
        self.publishes -= 1
        try:
            if not ack.done():
                await asyncio.wait((ack,), timeout=self.relay.publish_timeout)
            if not ack.done():
                ack.cancel()
                raise TimeoutError(f"no acknowledgement of {message_id(self.relay.service, notification_id)}")
            if not ack.result().duplicate:
                self.relay.published += 1
        except Exception:
            await self.relay._record(notification_id - 1)
            raise

    def abandon(self) -> None:
        """Stop waiting for what is still in flight (its acknowledgement is dropped; it is sent again)."""
        for _, ack in self.waiting:
            if ack is not None and not ack.done():
                ack.cancel()
        self.waiting.clear()
        self.publishes = 0
