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
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.envelope import EventEnvelope
from contracts.subjects import event_subject, service_events
from services.runtime.database import PositionStore
from services.runtime.logfollower import LogFollower
from services.runtime.logging import get_logger
from services.runtime.retry import Backoff
from services.runtime.translation import Translator

log = get_logger(__name__)
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
    ) -> None:
        self.service = service
        self.follower = follower
        self.translate = translate
        self.js = js
        self.positions = positions
        self.prefix = prefix
        self.stream = stream
        self.publish_timeout = publish_timeout
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
            batch = await self.follower.next_batch(self.position)
            try:
                await self.relay(batch)
                failures = 0
            except Exception as e:  # NATS down, timeout, a translation bug: never skip, retry
                failures += 1
                delay = RELAY_RETRY.after(failures)
                log.error("relay.publish_failed", error=repr(e), position=self.position, retry_in=delay)
                await asyncio.sleep(delay)

    async def relay(self, batch: Sequence) -> None:
        """Publish one batch (pipelined) and advance the recorded position past it."""
        app = self.follower.store.app
        outgoing: list[tuple[int, EventEnvelope]] = []
        for notification in batch:
            envelope = self.translate(app.mapper.to_domain_event(notification), notification.id)
            if envelope is not None:
                outgoing.append((notification.id, envelope))
        results = await asyncio.gather(*(self._publish(nid, env) for nid, env in outgoing), return_exceptions=True)
        # Advance only over the prefix that is safely in the stream; a failure stops the advance there.
        new_position = batch[-1].id
        for (nid, _), result in zip(outgoing, results, strict=True):
            if isinstance(result, BaseException):
                new_position = nid - 1
                await self._record(new_position)
                raise result
        await self._record(new_position)

    async def _publish(self, notification_id: int, env: EventEnvelope) -> None:
        ack = await self.js.publish(
            event_subject(self.prefix, env.type),
            env.model_dump_json().encode(),
            timeout=self.publish_timeout,
            stream=self.stream,
            headers={"Nats-Msg-Id": message_id(self.service, notification_id), "Sendcase-Type": env.type},
        )
        if not ack.duplicate:
            self.published += 1

    async def _record(self, position: int) -> None:
        if position > self.position:
            await self.positions.set(RELAY, position)
            self.position = position
