"""Running one service: its endpoints, outbox relay, tracked consumers and projections, supervised.

A service's bootstrap returns a ServiceDefinition (what it is made of); this module runs it the same way
for every service. Each background loop is supervised: if it crashes it is logged and restarted with a
backoff, and the rest of the service keeps answering.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import asyncpg
from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.security import NatsSecurity

from contracts.envelope import (
    EventEnvelope,
    ParkedEvent,
    ParkedEventsAction,
    ParkedEventsAnswer,
    Rejected,
    Role,
    ServiceHealth,
)
from contracts.subjects import event_subject, inbox_prefix, parked_events_subject, ping_subject
from services.runtime.anchors import Anchoring
from services.runtime.audit import ChainTampered, anchoring_for, check_chain_at_start, events_table_of, signing_key_of
from services.runtime.clock import Clock, SystemClock
from services.runtime.commands import CommandBatcher
from services.runtime.consumer import EventSourcedReaction, TrackedConsumer
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.endpoints import bounded_json, rejection_for, router_for
from services.runtime.errors import DomainError, NotAuthorised, NotFound
from services.runtime.eventstore import EventStore
from services.runtime.keyring import MasterKeys, PostgresKeyring, use_keyring
from services.runtime.logfollower import LogFollower
from services.runtime.logging import configure_logging, get_logger
from services.runtime.nats_connection import tls_context, without_password
from services.runtime.outbox import OutboxRelay
from services.runtime.projection import Projection, ProjectionRunner, ReadModels
from services.runtime.read_log import KIND as READS_KIND
from services.runtime.read_log import TABLE as READ_LOG_TABLE
from services.runtime.read_log import ReadLog
from services.runtime.read_log import check_declared as check_reads_declared
from services.runtime.retry import Backoff
from services.runtime.routes import Routes
from services.runtime.settings import ServiceSettings
from services.runtime.streams import check_server_version, check_streams, ensure_streams
from services.runtime.subject_access import check_declared as check_subject_access_declared
from services.runtime.translation import Translator

log = get_logger(__name__)
LOOP_RESTART = Backoff.doubling(1.0, 30.0)  # a background loop that crashed is restarted after


@dataclass
class Reaction:
    """A policy: react to other services' integration events by storing facts of our own."""

    name: str  # names the durable consumer: <service>-<name>
    event_types: list[str]
    react: Callable[[Any, EventEnvelope], Sequence[Any]]
    # Optional: the ids of the aggregates `react` will look up for an event (existing or not), so that a
    # consumed batch reads them all with one query instead of one each.
    prefetch: Callable[[EventEnvelope], Iterable[Any]] | None = None


class Worker(Protocol):
    """A service-specific loop the runtime runs and supervises beside the relay (e.g. a delivery worker)."""

    name: str

    async def run(self, runtime: ServiceRuntime) -> None:
        """Run until cancelled; the runtime restarts it (with a backoff) if it crashes."""
        ...


@dataclass
class ServiceDefinition:
    """What a service is made of, declared by its bootstrap (the composition root)."""

    name: str
    settings: ServiceSettings
    clock: Clock
    store: EventStore
    translate: Translator
    routes: Routes = field(default_factory=Routes)
    # The read side, built once the read-model pool is open: the object whose async methods answer the
    # queries routed to it. It is given the pool and a read-your-writes wait (ReadModels).
    read_side: Callable[[ReadModels], object] | None = None
    reactions: list[Reaction] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)


Bootstrap = Callable[[ServiceSettings, Clock], ServiceDefinition]


class ServiceRuntime:
    def __init__(self, service: ServiceDefinition) -> None:
        self.service = service
        self.settings = service.settings
        self.started_at: datetime | None = None
        self.tasks: list[asyncio.Task] = []
        self.followers: list[LogFollower] = []
        self.relay: OutboxRelay | None = None
        self.commands = CommandBatcher(
            service.store,
            max_batch=service.settings.command_batch_max,
            gather_seconds=service.settings.command_gather_seconds,
        )
        self.consumers: list[TrackedConsumer] = []
        self.projections: list[ProjectionRunner] = []
        self.pool: asyncpg.Pool | None = None
        self.read_side: object | None = None
        self.nc: Any = None
        self.broker: NatsBroker | None = None
        self.anchoring: Anchoring | None = None  # publishes the hash chain's signed checkpoints (docs/audit.md)
        self.read_log: ReadLog | None = None  # every read of a child's record by a person (read_log.py)
        self.read_log_anchoring: Anchoring | None = None

    def _follower(self, batch_size: int) -> LogFollower:
        follower = LogFollower(
            self.service.store,
            self.settings.database_url or "",
            poll_seconds=self.settings.poll_seconds,
            batch_size=batch_size,
            gather_seconds=self.settings.follow_gather_seconds,
        )
        self.followers.append(follower)
        return follower

    async def start(self) -> None:
        s, svc = self.settings, self.service
        self.started_at = svc.clock.now()
        self.pool = await create_pool(s.database_url or "")
        store = svc.store
        read_models = ReadModels(self.pool, self.projections, lambda: store.call(None, store.app.max_notification_id))
        self.read_side = svc.read_side(read_models) if svc.read_side else None
        positions = PositionStore(self.pool)
        await positions.setup()
        self.read_log = ReadLog(svc.name, self.pool)
        await self.read_log.setup()

        # One NATS connection per service: FastStream's, shared by the request/reply endpoints, the relay
        # and the tracked consumers.
        tls = tls_context(s.nats_tls_ca_file, s.nats_tls_cert_file, s.nats_tls_key_file)
        self.broker = NatsBroker(
            s.nats_servers,
            name=f"sendcase-{svc.name}",
            inbox_prefix=inbox_prefix(svc.name),  # the only inboxes its NATS user may read
            security=NatsSecurity(ssl_context=tls) if tls is not None else None,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            graceful_timeout=10.0,
            log_level=logging.DEBUG,
        )
        self.nc = await self.broker.connect()
        version = self.nc.connected_server_version
        check_server_version(version.major, version.minor, without_password(s.nats_url))
        js = self.nc.jetstream()
        if s.manage_streams:
            await ensure_streams(
                js,
                s.subject_prefix,
                s.events_stream,
                s.dead_letter_stream,
                duplicate_window_seconds=s.duplicate_window_seconds,
                replicas=s.stream_replicas,
            )
        else:  # production: an operator creates the streams; refuse to start unless they are right
            await check_streams(js, s.subject_prefix, s.events_stream, s.dead_letter_stream)

        # Tamper-evident history: the tail of the log checked against its chain and latest checkpoint (refusing
        # to start when they disagree), then the chain's head published, signed, while the service runs.
        events_table = events_table_of(store)
        if events_table is not None:
            signing_key = signing_key_of(s)
            await check_chain_at_start(s, js, self.pool, events_table, signing_key)
            self.anchoring = anchoring_for(s, js, self.pool, svc.clock, events_table, signing_key)
            # the read log's chain too, under its own subject (<prefix>.audit.<service>.reads)
            self.read_log_anchoring = anchoring_for(
                s,
                js,
                self.pool,
                svc.clock,
                events_table,
                signing_key,
                kind=READS_KIND,
                chain_table=READ_LOG_TABLE,
                position_column="position",
            )

        self.relay = OutboxRelay(
            svc.name,
            self._follower(s.relay_batch_size),
            svc.translate,
            js,
            positions,
            prefix=s.subject_prefix,
            stream=s.events_stream,
            in_flight=s.relay_in_flight,
        )
        self.consumers = tracked_consumers(svc, js)
        for projection in svc.projections:
            runner = ProjectionRunner(projection, self._follower(s.projection_batch_size), self.pool, positions)
            await runner.setup()
            self.projections.append(runner)

        # Consumers are set up before the endpoints answer, so a service that answers ping is consuming.
        for consumer in self.consumers:
            await consumer.setup()

        check_subject_access_declared(svc.store.app, svc.routes)
        check_reads_declared(svc.routes, svc.store.app)
        read_sides = [self.read_side] if self.read_side is not None else []
        bound = svc.routes.bind(svc.store, *read_sides, self.read_log, batcher=self.commands)
        router = router_for(
            svc.name,
            s.subject_prefix,
            bound,
            svc.clock,
            in_flight=s.requests_in_flight,
            read_log=self.read_log,
        )
        self._add_ping(router)
        self.broker.include_router(router)
        await self.broker.start()

        self._spawn("relay", self.relay.run)
        for consumer in self.consumers:
            self._spawn(f"consumer:{consumer.name}", consumer.run)
        for runner in self.projections:
            self._spawn(f"projection:{runner.projection.name}", runner.run)
        for worker in svc.workers:
            self._spawn(worker.name, functools.partial(worker.run, self))
        self._spawn("command-receipts", self._forget_old_command_ids)
        for anchoring in (self.anchoring, self.read_log_anchoring):
            if anchoring is not None:
                self._spawn(anchoring.name, anchoring.run)
        # Everything built at start (modules, routes, models) is kept out of the garbage collector's full
        # passes from now on: they then walk only what requests create, not the whole program, each time.
        gc.freeze()
        log.info("service.started", pid=os.getpid(), database=s.database_name, nats=without_password(s.nats_url))

    async def _forget_old_command_ids(self) -> None:
        """Purge command receipts older than the kept period, hourly (any replica may: it is idempotent)."""
        store, kept = self.service.store, timedelta(days=self.settings.command_ids_kept_days)
        while True:
            purged = await store.call(None, store.app.purge_receipts, self.service.clock.now() - kept)
            if purged:
                log.info("command_receipts.purged", count=purged, older_than_days=self.settings.command_ids_kept_days)
            await asyncio.sleep(3600)

    def _add_ping(self, router: NatsRouter) -> None:
        @router.subscriber(ping_subject(self.settings.subject_prefix, self.service.name), title="ping")
        async def ping() -> ServiceHealth:
            """Is the service up, how far have its outbox and read models got, is it degraded?"""
            return await self.health()

        subject = parked_events_subject(self.settings.subject_prefix, self.service.name)

        @router.subscriber(subject, queue=self.service.name, title="parked events", decoder=bounded_json)
        async def parked(request: ParkedEventsAction) -> ParkedEventsAnswer | Rejected:
            """An operator lists, retries or skips the events a read model parked."""
            try:
                return await self.parked_events(request)
            except DomainError as e:
                return rejection_for(e, None)

    async def health(self) -> ServiceHealth:
        assert self.started_at is not None
        store = self.service.store
        head = await store.call(None, store.app.max_notification_id)
        lag = {r.projection.name: max(0, head - r.position) for r in self.projections}
        parked: dict[str, int] = {}
        if self.pool is not None and self.projections:
            for row in await self.projections[0].parked.listed():
                parked[row["projection"]] = parked.get(row["projection"], 0) + 1
        degraded = [
            f"{name}: {count} event(s) parked (see `sendcase projections parked {self.service.name}`)"
            for name, count in parked.items()
        ]
        return ServiceHealth(
            service=self.service.name,
            pid=os.getpid(),
            started_at=self.started_at,
            last_notification_id=head,
            relayed_up_to=self.relay.position if self.relay else 0,
            projection_lag=lag,
            parked_events=parked,
            degraded=degraded,
        )

    async def parked_events(self, request: ParkedEventsAction) -> ParkedEventsAnswer:
        """List, retry or skip the events the service's read models parked (an LA manager or a service)."""
        if request.actor.role not in (Role.LA_MANAGER, Role.SYSTEM):
            raise NotAuthorised("Only a local authority manager (or an operator acting as one) can do this.")
        runners = [r for r in self.projections if request.projection in (None, r.projection.name)]
        if not runners:
            raise NotFound(f"{self.service.name} has no read model called {request.projection!r}.")
        retried = still = skipped = 0
        if request.action == "retry":
            for runner in runners:
                done, left = await runner.retry_parked()
                retried, still = retried + done, still + left
        elif request.action == "skip":
            if not request.reason:
                raise DomainError(
                    "Say why these events are skipped (--reason): it is kept beside each.",
                    rule="reason_required",
                    field="reason",
                )
            skipped = await runners[0].parked.skip(request.projection, request.reason, request.actor.user_id)
            log.warning("projection.parked_skipped", count=skipped, by=request.actor.user_id, reason=request.reason)
        listed = await runners[0].parked.listed()
        return ParkedEventsAnswer(
            parked=[ParkedEvent(**row) for row in listed if request.projection in (None, row["projection"])],
            retried=retried,
            still_parked=still,
            skipped=skipped,
        )

    def _spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(asyncio.create_task(_supervise(name, run), name=name))

    async def stop(self) -> None:
        if self.broker is not None:
            # No new requests; in-flight ones finish. (FastStream closes the connection only after its
            # subscribers have drained, so the relay and consumers are cancelled first.)
            for sub in self.broker.subscribers:
                await sub.stop()
        await cancel_until_done(self.tasks)
        for consumer in self.consumers:
            await consumer.close()
        for anchoring in (self.anchoring, self.read_log_anchoring):  # the heads as they are at a graceful stop
            if anchoring is None:
                continue
            try:
                await asyncio.wait_for(anchoring.anchor_if_moved(), timeout=10)
            except Exception as e:
                log.warning("anchors.not_published_at_stop", log=anchoring.log_name, error=f"{type(e).__name__}: {e}")
        if self.broker is not None:
            await self.broker.stop()
        for follower in self.followers:
            await follower.close()
        if self.pool is not None:
            await self.pool.close()
        self.service.store.close()
        log.info("service.stopped")


def tracked_consumers(service: ServiceDefinition, js: Any) -> list[TrackedConsumer]:
    """The service's durable consumers, one per reaction, named <service>-<reaction> (also used by
    `sendcase recover`, which makes them replay the stream after a restore)."""
    s = service.settings
    return [
        TrackedConsumer(
            f"{service.name}-{reaction.name}",
            js,
            EventSourcedReaction(service.store, service.clock, reaction.react, reaction.prefetch),
            stream=s.events_stream,
            prefix=s.subject_prefix,
            filter_subjects=[event_subject(s.subject_prefix, t) for t in reaction.event_types],
            max_attempts=s.consumer_max_attempts,
            backoff_seconds=s.consumer_backoff_seconds,
            ack_wait_seconds=s.consumer_ack_wait_seconds,
            batch_size=s.consumer_batch_size,
        )
        for reaction in service.reactions
    ]


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
            delay = LOOP_RESTART.after(failures)
            log.exception("service.loop_crashed", loop=name, restart_in=delay)
            await asyncio.sleep(delay)


async def open_keyring(settings: ServiceSettings, master: MasterKeys | None = None) -> PostgresKeyring:
    """The deployment's keyring (services/runtime/keyring.py), made this process's: what every service, and any
    command that reads personal data as a service does (`sendcase recover`), opens before anything else."""
    master = master or settings.master_keys()
    if settings.create_database:
        await ensure_database(settings.keyring_database_url)
    keyring = PostgresKeyring(
        settings.keyring_database_url,
        master,
        max_age=settings.key_cache_seconds,
        flushed_with_the_events=same_server(settings.keyring_database_url, settings.database_url or ""),
    )
    use_keyring(keyring)
    return keyring


def same_server(one: str, other: str) -> bool:
    """Do two PostgreSQL URLs name databases on the same server (host and port)?"""
    a, b = urlsplit(one), urlsplit(other)
    return (a.hostname or "127.0.0.1", a.port or 5432) == (b.hostname or "127.0.0.1", b.port or 5432)


async def run_service(bootstrap: Bootstrap, settings: ServiceSettings, clock: Clock | None = None) -> None:
    """Run one service until SIGINT or SIGTERM (the production path: `sendcase serve <service>`)."""
    configure_logging(settings.service, settings.log_format, settings.log_level)
    master = settings.master_keys()  # first: no keys, no service (and nothing touched)
    if settings.create_database:
        await ensure_database(settings.database_url or "")
    keyring = await open_keyring(settings, master)
    service = bootstrap(settings, clock or SystemClock())
    runtime = ServiceRuntime(service)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
    except ChainTampered as e:
        log.error("service.refused_to_start", reason=str(e))
        await runtime.stop()
        raise SystemExit(3) from None
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        keyring.close()
