"""Running one service: its endpoints, outbox relay, tracked consumers and projections, supervised.

A service's bootstrap returns a ServiceDefinition (what it is made of); this module runs it the same way
for every service. Each background loop is supervised: if it crashes it is logged and restarted with a
backoff, and the rest of the service keeps answering.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import nats
from faststream.nats import NatsBroker, NatsMessage

from contracts.envelope import EventEnvelope, ServiceHealth
from contracts.subjects import event_subject, ping_subject
from services.runtime.clock import Clock, SystemClock
from services.runtime.consumer import EventSourcedReaction, TrackedConsumer
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.endpoints import CommandRoute, QueryRoute, register_command, register_query
from services.runtime.eventstore import EventStore
from services.runtime.logfollower import LogFollower
from services.runtime.logging import configure_logging, get_logger
from services.runtime.outbox import OutboxRelay
from services.runtime.projection import Projection, ProjectionRunner
from services.runtime.settings import ServiceSettings
from services.runtime.streams import check_server_version, ensure_streams
from services.runtime.translation import Translator

log = get_logger(__name__)


@dataclass
class Reaction:
    """A policy: react to other services' integration events by storing facts of our own."""

    name: str  # names the durable consumer: <service>-<name>
    event_types: list[str]
    react: Callable[[Any, EventEnvelope], Sequence[Any]]


@dataclass
class ServiceDefinition:
    name: str
    settings: ServiceSettings
    clock: Clock
    store: EventStore
    translate: Translator
    commands: list[CommandRoute] = field(default_factory=list)
    queries: list[QueryRoute] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)
    # Queries answered from read models need the pool; bootstrap hands them a callable to get it.
    on_pool: list[Callable[[asyncpg.Pool], None]] = field(default_factory=list)
    # Further loops the service runs, supervised like the relay (e.g. a delivery worker). Each gets the
    # running ServiceRuntime (its pool, NATS connection, settings) and runs until cancelled.
    background: list[tuple[str, Callable[[ServiceRuntime], Awaitable[None]]]] = field(default_factory=list)


Bootstrap = Callable[[ServiceSettings, Clock], ServiceDefinition]


class ServiceRuntime:
    def __init__(self, service: ServiceDefinition) -> None:
        self.service = service
        self.settings = service.settings
        self.started_at: datetime | None = None
        self.tasks: list[asyncio.Task] = []
        self.followers: list[LogFollower] = []
        self.relay: OutboxRelay | None = None
        self.consumers: list[TrackedConsumer] = []
        self.projections: list[ProjectionRunner] = []
        self.pool: asyncpg.Pool | None = None
        self.nc: Any = None
        self.broker: NatsBroker | None = None

    def _follower(self) -> LogFollower:
        follower = LogFollower(
            self.service.store,
            self.settings.database_url or "",
            poll_seconds=self.settings.poll_seconds,
            batch_size=self.settings.relay_batch_size,
        )
        self.followers.append(follower)
        return follower

    async def start(self) -> None:
        s, svc = self.settings, self.service
        self.started_at = svc.clock.now()
        self.pool = await create_pool(s.database_url or "")
        for hook in svc.on_pool:
            hook(self.pool)
        positions = PositionStore(self.pool)
        await positions.setup()

        self.nc = await nats.connect(
            s.nats_url, name=f"sendcase-{svc.name}", max_reconnect_attempts=-1, reconnect_time_wait=1
        )
        version = self.nc.connected_server_version
        check_server_version(version.major, version.minor, s.nats_url)
        js = self.nc.jetstream()
        await ensure_streams(
            js, s.subject_prefix, s.events_stream, s.dead_letter_stream,
            duplicate_window_seconds=s.duplicate_window_seconds, replicas=s.stream_replicas,
        )

        self.relay = OutboxRelay(
            svc.name, self._follower(), svc.translate, js, positions,
            prefix=s.subject_prefix, stream=s.events_stream,
        )
        for reaction in svc.reactions:
            self.consumers.append(
                TrackedConsumer(
                    f"{svc.name}-{reaction.name}",
                    js,
                    EventSourcedReaction(svc.store, svc.clock, reaction.react),
                    stream=s.events_stream,
                    prefix=s.subject_prefix,
                    filter_subjects=[event_subject(s.subject_prefix, t) for t in reaction.event_types],
                    max_attempts=s.consumer_max_attempts,
                    backoff_seconds=s.consumer_backoff_seconds,
                    ack_wait_seconds=s.consumer_ack_wait_seconds,
                    batch_size=s.consumer_batch_size,
                )
            )
        for projection in svc.projections:
            runner = ProjectionRunner(projection, self._follower(), self.pool, positions)
            await runner.setup()
            self.projections.append(runner)

        # Consumers are set up before the endpoints answer, so a service that answers ping is consuming.
        for consumer in self.consumers:
            await consumer.setup()

        self.broker = NatsBroker(s.nats_url, graceful_timeout=10.0, log_level=10)
        for route in svc.commands:
            register_command(self.broker, s.subject_prefix, svc.name, route, svc.clock)
        for query in svc.queries:
            register_query(self.broker, s.subject_prefix, svc.name, query, svc.clock)
        self._register_ping()
        await self.broker.start()

        self._spawn("relay", self.relay.run)
        for consumer in self.consumers:
            self._spawn(f"consumer:{consumer.name}", consumer.run)
        for runner in self.projections:
            self._spawn(f"projection:{runner.projection.name}", runner.run)
        for name, loop in svc.background:
            self._spawn(name, functools.partial(loop, self))
        log.info("service.started", pid=os.getpid(), database=s.database_name, nats=s.nats_url)

    def _register_ping(self) -> None:
        assert self.broker is not None

        @self.broker.subscriber(ping_subject(self.settings.subject_prefix, self.service.name))
        async def ping(msg: NatsMessage) -> bytes:
            return (await self.health()).model_dump_json().encode()

    async def health(self) -> ServiceHealth:
        assert self.started_at is not None
        store = self.service.store
        return ServiceHealth(
            service=self.service.name,
            pid=os.getpid(),
            started_at=self.started_at,
            last_notification_id=await store.call(None, store.app.max_notification_id),
            relayed_up_to=self.relay.position if self.relay else 0,
        )

    def _spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(asyncio.create_task(_supervise(name, run), name=name))

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.stop()  # no new requests; in-flight ones finish
        await cancel_until_done(self.tasks)
        for follower in self.followers:
            await follower.close()
        if self.nc is not None:
            await self.nc.close()
        if self.pool is not None:
            await self.pool.close()
        self.service.store.close()
        log.info("service.stopped")


async def cancel_until_done(tasks: Sequence[asyncio.Task]) -> None:
    """Cancel tasks and wait until they have stopped, cancelling again while any is still running.

    Python 3.11's asyncio.wait_for can swallow a cancellation that arrives just as the awaited result
    does (nats-py's fetch uses it): a loop that then carries on would make a single cancel() hang the stop.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    await asyncio.gather(*tasks, return_exceptions=True)


async def _supervise(name: str, run: Callable[[], Awaitable[None]]) -> None:
    failures = 0
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(30.0, 0.5 * 2**failures)
            log.exception("service.loop_crashed", loop=name, restart_in=delay)
            await asyncio.sleep(delay)


async def run_service(bootstrap: Bootstrap, settings: ServiceSettings, clock: Clock | None = None) -> None:
    """Run one service until SIGINT or SIGTERM (the production path: `sendcase serve <service>`)."""
    configure_logging(settings.service, settings.log_format, settings.log_level)
    if settings.create_database:
        await ensure_database(settings.database_url or "")
    service = bootstrap(settings, clock or SystemClock())
    runtime = ServiceRuntime(service)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
