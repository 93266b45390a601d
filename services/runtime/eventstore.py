"""The event-store adapter: an eventsourcing Application on PostgreSQL, driven from asyncio.

eventsourcing is synchronous (psycopg 3); every call goes through one thread pool, here and nowhere else,
with the command context copied into the worker thread. Every stored domain event is stamped with the
context's actor, correlation id and causation id. Tracking records (upstream service, sequence) are
written in the same transaction as a reaction's events, one row per message (multi-row tracking), so a
redelivered event is detected by the primary key whatever order messages arrive in.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import get_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from services.runtime.context import CommandContext, current_context, reset_context, set_context
from services.runtime.receipts import CommandReceipt, InMemoryReceiptRecorder, PostgresReceiptRecorder, collected_saves

T = TypeVar("T")


class StampingMapper(Mapper):
    """Stores the command context's metadata with every domain event, under the key `meta`.

    eventsourcing rebuilds an event's __dict__ from its stored state, so the metadata comes back as the
    event's `meta` attribute with no further work.
    """

    _last: tuple[CommandContext, dict[str, Any]] | None = None  # the metadata of the last context seen

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if "meta" not in vars(domain_event):
            ctx = current_context()
            last = self._last  # one read: other threads may replace it meanwhile
            if last is None or last[0] is not ctx:
                last = self._last = (ctx, ctx.metadata())  # a command's thousands of events: built once
            object.__setattr__(domain_event, "meta", last[1])
        return super().to_stored_event(domain_event)


class DateAsISO(Transcoding):
    """Calendar dates (a date of birth, an effective date) as ISO strings in stored events."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


# While a batch of commands runs (services/runtime/commands.py), the aggregates its commands changed, as they
# now are (their events collected for the batch's one save), so a later command in the batch that loads
# one carries on from there instead of from what is stored.
_batch_cache: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "sendcase_batch_cache", default=None
)


@contextlib.contextmanager
def batch_cache(enabled: bool = True) -> Iterator[dict[Any, Any]]:
    cache: dict[Any, Any] = {}
    token = _batch_cache.set(cache if enabled else None)
    try:
        yield cache
    finally:
        _batch_cache.reset(token)


ABSENT = object()  # in a batch cache: this aggregate was looked for, and none is stored


class BatchRepository(Repository):
    """The library's repository, which first looks in the running batch's cache (latest version only)."""

    def get(self, aggregate_id: Any, *, version: int | None = None, **kwargs: Any) -> Any:
        cache = _batch_cache.get()
        if cache is not None and version is None:
            found = cache.get(aggregate_id)
            if found is ABSENT:
                raise AggregateNotFoundError(aggregate_id)
            if found is not None:
                return found
        return super().get(aggregate_id, version=version, **kwargs)


def stamp_events(aggregates: Sequence[Any], ctx: CommandContext) -> list[Any]:
    """Collect the aggregates' pending events, each stamped now with this context's metadata (so that saved
    later with other commands' events, in another context, each keeps its own actor and correlation)."""
    meta = ctx.metadata()
    processing: ProcessingEvent[Any] = ProcessingEvent()
    processing.collect_events(*aggregates)
    for event in processing.events:
        if "meta" not in vars(event):
            object.__setattr__(event, "meta", meta)
    return list(processing.events)


class SendcaseRecorder(PostgresReceiptRecorder):
    """The receipts recorder, inserting events as four plain arrays (binary uuid, bigint, text and bytea)
    instead of one array of a composite type, which psycopg writes out as text in Python: a roll import's
    thousands of events cost a fifth as much to send. Same rows, same order, same lock and notify."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_events_as_arrays = SQL(
            "INSERT INTO {0}.{1} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
        ).format(
            Identifier(self.datastore.schema),
            Identifier(self.events_table_name),
            Identifier(self.datastore.originator_id_type),  # uuid (ours), or text
        )

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # As PostgresApplicationRecorder._insert_stored_events: lock the table (so the notification log has no
        # gaps a reader could pass), notify the channel, insert; only the insert's parameters differ.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_events_as_arrays,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )


class SendcaseApplication(Application):
    """Base of every service's application. Subclasses set `name` (it names the tables)."""

    env: ClassVar[dict[str, str]] = {"SINGLE_ROW_TRACKING": "f", "CREATE_TABLE": "y"}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_repository(self) -> Repository:
        return BatchRepository(event_store=self.events, snapshot_store=self.snapshots)

    def construct_mapper(self) -> Mapper:
        return StampingMapper(transcoder=self.construct_transcoder())

    def construct_recorder(self) -> Any:
        """The library's process recorder (events and tracking), extended with command receipts."""
        if isinstance(self.factory, PostgresFactory):
            self.factory.env[PostgresFactory.PROCESS_RECORDER_TOPIC] = get_topic(SendcaseRecorder)
            return self.factory.process_recorder()
        return InMemoryReceiptRecorder()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save now; or, inside a routed command, collect for the runtime to save once with the command's
        receipt (services/runtime/receipts.py)."""
        collected = collected_saves()
        if collected is not None and not kwargs:
            collected.extend(o for o in objs if o is not None)
            return []
        return super().save(*objs, *self.saved_with(objs), **kwargs)

    def loaded_by(self, commands: Sequence[Any]) -> list[Any]:
        """The ids of the aggregates these commands will load, so that a batch of them loads all in one query
        (get_many) instead of one each. None by default; a guess is harmless (unused ones are ignored)."""
        return []

    def saved_with(self, aggregates: Sequence[Any]) -> list[Any]:
        """Other aggregates a service keeps in step with these, saved in the same transaction (an index kept
        by the application, e.g. notifications' unmet duties per pupil). None by default."""
        return []

    def save_command(self, receipt: CommandReceipt, *aggregates: Any) -> None:
        """Store a command's events and its receipt in one transaction. Raises IntegrityError (a
        RecordConflictError when an aggregate moved on meanwhile) and stores nothing when either clashes."""
        self.save_together(aggregates, receipts=[receipt])

    def save_together(
        self, aggregates: Sequence[Any], *, receipts: Sequence[CommandReceipt] = (), trackings: Sequence[Tracking] = ()
    ) -> None:
        """Group commit: the pending events of many aggregates (several commands', or a batch of consumed
        messages' effects), with their command receipts and tracking records, in one transaction. All or
        nothing: IntegrityError when any of them clashes (the caller then saves them one at a time)."""
        processing: ProcessingEvent[Any] = ProcessingEvent()
        processing.collect_events(*aggregates, *self.saved_with(aggregates))
        self.put_events(processing.events, receipts=receipts, trackings=trackings)

    def put_events(
        self, events: Sequence[Any], *, receipts: Sequence[CommandReceipt] = (), trackings: Sequence[Tracking] = ()
    ) -> None:
        """Store events already collected (and stamped: stamp_events) with receipts and tracking records, in
        one transaction; IntegrityError and nothing stored when any of them clashes."""
        self.events.put(events, command_receipts=receipts, trackings=trackings)

    def get_many(self, ids: Iterable[UUID]) -> dict[UUID, Any]:
        """Many aggregates at once: every stored event of all of them read with one statement, each aggregate
        rebuilt with the application's mapper as Repository.get does. Ids with no events are left out. (With
        snapshots or the in-memory store it falls back to one Repository.get per id.)"""
        wanted = list(dict.fromkeys(ids))
        recorder: Any = self.recorder
        datastore = getattr(recorder, "datastore", None)
        if not wanted:
            return {}
        if datastore is None or self.snapshots is not None:
            found: dict[UUID, Any] = {}
            for aggregate_id in wanted:
                try:
                    found[aggregate_id] = self.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    continue
            return found
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(datastore.schema), Identifier(recorder.events_table_name))
        with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, (wanted,))
            rows = curs.fetchall()
        found = {}
        to_domain_event = self.mapper.to_domain_event
        aggregate: Any = None
        for originator_id, version, topic, state in rows:
            domain_event: Any = to_domain_event(StoredEvent(originator_id, version, topic, bytes(state)))
            if version == 1 or aggregate is None or aggregate.id != originator_id:
                aggregate = None
            # As the library's project_aggregate, without its per-event isinstance check against a protocol
            # (slow in Python 3.11): each event mutates the aggregate its predecessor made.
            aggregate = domain_event.mutate(aggregate)
            if aggregate is not None:
                found[originator_id] = aggregate
        return found

    def find_receipt(self, command_id: UUID) -> str | None:
        return self.find_receipts([command_id]).get(command_id)

    def find_receipts(self, command_ids: Sequence[UUID]) -> dict[UUID, str]:
        """The first replies of those of these commands already done, in one query."""
        return self.recorder.find_receipts(command_ids)  # type: ignore[attr-defined]  # our recorders have it

    def purge_receipts(self, before: datetime) -> int:
        return self.recorder.purge_receipts(before)  # type: ignore[attr-defined]  # our recorders have it

    def save_tracked(self, tracking: Tracking, *aggregates: Any) -> None:
        """Store a reaction's events and the position of the message that caused it, atomically.

        Raises AlreadyProcessed when that message was handled before (nothing is stored twice).
        """
        processing: ProcessingEvent[Any] = ProcessingEvent(tracking=tracking)
        processing.collect_events(*aggregates, *self.saved_with(aggregates))
        try:
            self.events.put(processing.events, tracking=tracking)
        except IntegrityError as e:
            if self.is_tracked(tracking):
                raise AlreadyProcessed(tracking) from e
            raise  # a real conflict (e.g. a concurrent writer): the caller retries

    def is_tracked(self, tracking: Tracking) -> bool:
        """Was the message at this position (producer, sequence) handled already?"""
        recorder: Any = self.recorder
        datastore = getattr(recorder, "datastore", None)
        table = getattr(recorder, "tracking_table_name", None)
        if datastore is None or table is None:  # in-memory recorder: positions are monotonic there
            return recorder.has_tracking_id(tracking.application_name, tracking.notification_id)
        statement = SQL("SELECT 1 FROM {0}.{1} WHERE application_name = %s AND notification_id = %s").format(
            Identifier(datastore.schema), Identifier(table)
        )
        with datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (tracking.application_name, tracking.notification_id))
            return curs.fetchone() is not None

    def notifications_after(self, position: int, limit: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(start=position + 1, limit=limit)

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    @property
    def notify_channel(self) -> str | None:
        """The PostgreSQL NOTIFY channel eventsourcing signals on after each insert."""
        return getattr(self.recorder, "channel_name", None)


class AlreadyProcessed(Exception):
    def __init__(self, tracking: Tracking) -> None:
        super().__init__(f"{tracking.application_name}#{tracking.notification_id} was already processed")
        self.tracking = tracking


def postgres_env(database_url: str, pool_size: int = 5) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings from a database URL."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {database_url!r}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
    }


IN_MEMORY_ENV = {"PERSISTENCE_MODULE": "eventsourcing.popo"}

A = TypeVar("A", bound=SendcaseApplication)


class EventStore(Generic[A]):
    """Runs an application's methods from asyncio code in one thread pool, inside a command context."""

    def __init__(self, app: A, threads: int = 8) -> None:
        self.app = app
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"{app.name}-store")

    async def call(self, ctx: CommandContext | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn(*args, **kwargs) in the pool; with ctx set for its duration when given."""
        loop = asyncio.get_running_loop()
        run = functools.partial(_run_in_context, ctx, fn, args, kwargs)
        return await loop.run_in_executor(self._executor, contextvars.copy_context().run, run)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.app.close()


def _run_in_context(ctx: CommandContext | None, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    if ctx is None:
        return fn(*args, **kwargs)
    token = set_context(ctx)
    try:
        return fn(*args, **kwargs)
    finally:
        reset_context(token)


def open_store(
    application: type[A], database_url: str | None, threads: int, env: dict[str, str] | None = None
) -> EventStore[A]:
    """A service's application on its PostgreSQL database (or on `env`, e.g. IN_MEMORY_ENV in tests), behind
    the one thread pool that runs it."""
    return EventStore(application(env=env if env is not None else postgres_env(database_url or "")), threads=threads)
