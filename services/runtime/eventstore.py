"""The event-store adapter: an eventsourcing Application on PostgreSQL, driven from asyncio.

eventsourcing is synchronous (psycopg 3); every call goes through one thread pool, here and nowhere else,
with the command context copied into the worker thread. Every stored domain event is stamped with the
context's actor, correlation id and causation id. Tracking records (upstream service, sequence) are
written in the same transaction as a reaction's events, one row per message (multi-row tracking), so a
redelivered event is detected by the primary key whatever order messages arrive in.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast
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
    MapperDeserialisationError,
    Notification,
    Recording,
    StoredEvent,
    Tracking,
    Transcoding,
    find_id_convertor,
)
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import get_topic, resolve_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from services.runtime.chain import ChainStatements
from services.runtime.context import CommandContext, acting, current_context
from services.runtime.logging import get_logger
from services.runtime.receipts import CommandReceipt, InMemoryReceiptRecorder, PostgresReceiptRecorder, collected_saves
from services.runtime.sealing import SEALED, Sealer, Unprepared, keyring_keys
from services.runtime.subject_access import subject_access as _subject_access
from services.runtime.unit_of_work import UnitOfWorkRepository

log = get_logger(__name__)

T = TypeVar("T")


class StampingMapper(Mapper):
    """Stores the command context's metadata with every domain event, under the key `meta`, and seals the
    personal values in it under their person's key (services/runtime/sealing.py).

    eventsourcing rebuilds an event's __dict__ from its stored state, so the metadata comes back as the
    event's `meta` attribute with no further work.
    """

    _last: tuple[CommandContext, dict[str, Any]] | None = None  # the metadata of the last context seen
    sealer: Sealer | None = None  # set by the application when it has personal fields

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if "meta" not in vars(domain_event):
            ctx = current_context()
            last = self._last  # one read: other threads may replace it meanwhile
            if last is None or last[0] is not ctx:
                last = self._last = (ctx, ctx.metadata())  # a command's thousands of events: built once
            object.__setattr__(domain_event, "meta", last[1])
        sealer = self.sealer
        if sealer is None:
            return super().to_stored_event(domain_event)
        # As Mapper.to_stored_event, with the state sealed before it is encoded (no compressor or cipher here).
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        subject = event_state.get("data_subject") or event_state.get("pupil_id")
        keys = _prepared_keys.get()  # fetched for the whole write (put_events), usually
        try:
            event_state = sealer.seal(event_state, subject, keys or {}, self.transcoder.encode)
        except Unprepared:
            wanted: set[UUID] = set()
            sealer.subjects_to_seal(event_state, subject, wanted)
            keys = {**(keys or {}), **keyring_keys(wanted, True)}
            event_state = sealer.seal(event_state, subject, keys, self.transcoder.encode)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=self.transcoder.encode(event_state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if self.sealer is None:
            return super().to_domain_event(stored_event)
        return self.to_domain_events([stored_event])[0]

    def to_domain_events(self, stored_events: Sequence[StoredEvent]) -> list[Any]:
        """Many stored events decoded, their sealed values opened with one keyring lookup for all."""
        if self.sealer is None:
            return [super(StampingMapper, self).to_domain_event(e) for e in stored_events]
        states = []
        for stored in stored_events:
            try:
                states.append(self.transcoder.decode(stored.state))
            except Exception as e:
                raise MapperDeserialisationError(
                    f"Failed to deserialise state of stored event with topic '{stored.topic}', originator_id "
                    f"'{stored.originator_id}' and originator_version {stored.originator_version}: {e}"
                ) from e
        # Only the events holding sealed values are walked (a byte search, in C, finds them: most lifecycle
        # events, a notification sent or delivered, hold nothing personal).
        sealed = [state for stored, state in zip(stored_events, states, strict=True) if SEALED_MARK in stored.state]
        if sealed:
            self.sealer.open_many(sealed, self.transcoder.decode)
        return [_domain_event(stored, state) for stored, state in zip(stored_events, states, strict=True)]


def _domain_event(stored_event: StoredEvent, event_state: dict[str, Any]) -> Any:
    """As the end of Mapper.to_domain_event: a decoded state made the domain event its topic names."""
    cls = resolve_topic(stored_event.topic)
    id_convertor = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
    event_state["originator_id"] = id_convertor(stored_event.originator_id)
    event_state["originator_version"] = stored_event.originator_version
    class_version = getattr(cls, "class_version", 1)
    from_version = event_state.pop("class_version", 1)
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
        from_version += 1
    domain_event = object.__new__(cls)
    object.__setattr__(domain_event, "__dict__", event_state)
    return domain_event


SEALED_MARK = f'"{SEALED}"'.encode()  # how a sealed value's key looks in a stored event's JSON

# Keys fetched for a whole write before its events are mapped one by one (SendcaseApplication.put_events).
_prepared_keys: contextvars.ContextVar[dict[UUID, bytes | None] | None] = contextvars.ContextVar(
    "prepared_keys", default=None
)


class DateAsISO(Transcoding):
    """Calendar dates (a date of birth, an effective date) as ISO strings in stored events."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class SendcaseRecorder(PostgresReceiptRecorder):
    """The receipts recorder, inserting events as four plain arrays (binary uuid, bigint, text and bytea)
    instead of one array of a composite type, which psycopg writes out as text in Python: a roll import's
    thousands of events cost a fifth as much to send. Same rows, same order, same lock and notify.

    It also writes each event's link in the log's hash chain (services/runtime/chain.py) in the same
    transaction: the insert reads the chain's head as well, and the links follow, pipelined with the commit."""

    chained: ClassVar[bool] = True  # off only for the benchmark's before/after figure (UnchainedRecorder)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.datastore.enable_db_functions:  # that path inserts through a stored function, past the chain
            raise ValueError("sendcase's event store does not support POSTGRES_ENABLE_DB_FUNCTIONS (the hash chain)")
        self.chain = ChainStatements(self.datastore.schema, self.events_table_name, self.datastore.originator_id_type)
        self.insert_events_as_arrays = SQL(
            "INSERT INTO {0}.{1} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
        ).format(
            Identifier(self.datastore.schema),
            Identifier(self.events_table_name),
            Identifier(self.datastore.originator_id_type),  # uuid (ours), or text
        )

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.chain.create)
            if self.chained and (begun := self.chain.begin_over_existing(curs)):
                log.warning("chain.begun_over_existing_events", table=self.events_table_name, events=begun)

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # As PostgresApplicationRecorder._insert_stored_events: lock the table (so the notification log has no
        # gaps a reader could pass), notify the channel, insert; only the insert's parameters differ.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.chain.insert_events if self.chained else self.insert_events_as_arrays,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if not self.chained:
            return super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        row = curs.fetchone()
        ids = row["ids"] or []
        statement, params = self.chain.chained(stored_events, ids, row["head"])
        curs.execute(statement, params)  # pipelined: sent with the commit
        return ids


class UnchainedRecorder(SendcaseRecorder):
    """The recorder without the hash chain: only to measure what the chain costs (benchmarks/trust_cost.py)."""

    chained: ClassVar[bool] = False


class SendcaseApplication(Application):
    """Base of every service's application. Subclasses set `name` (it names the tables)."""

    env: ClassVar[dict[str, str]] = {"SINGLE_ROW_TRACKING": "f", "CREATE_TABLE": "y"}
    # The names of the service's personal fields (a pupil's names, UPN, date of birth, free text about the
    # child): wherever they occur in a stored event, their values are sealed under their person's key
    # (services/runtime/sealing.py; a person's name and contact details are sealed under their own key
    # without being named here). Empty: the service stores nothing personal.
    personal_fields: ClassVar[frozenset[str]] = frozenset()
    recorder_class: ClassVar[type] = SendcaseRecorder  # (UnchainedRecorder only in the benchmark)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_mapper(self) -> Mapper:
        mapper = StampingMapper(transcoder=self.construct_transcoder())
        if self.personal_fields:
            mapper.sealer = Sealer(self.personal_fields, keyring_keys)
        return mapper

    def construct_recorder(self) -> Any:
        """The library's process recorder (events and tracking), extended with command receipts."""
        if isinstance(self.factory, PostgresFactory):
            self.factory.env[PostgresFactory.PROCESS_RECORDER_TOPIC] = get_topic(self.recorder_class)
            return self.factory.process_recorder()
        return InMemoryReceiptRecorder()

    def construct_repository(self) -> Repository:
        """The library's repository, which also hands out the aggregates of an open unit of work (a batch
        decided item by item and saved at once: services/runtime/unit_of_work.py)."""
        return UnitOfWorkRepository.like(super().construct_repository())

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save now; or, inside a routed command, collect for the runtime to save once with the command's
        receipt (services/runtime/receipts.py)."""
        objs = tuple(o for o in objs if o is not None)  # "save this, and that if there is one"
        collected = collected_saves()
        if collected is not None and not kwargs:
            collected.extend(objs)
            return []
        return super().save(*objs, *self.saved_with(objs), **kwargs)

    # Everything the service holds about a child (subject access, services/runtime/subject_access.py): a
    # service's entrypoints bind its contracts' SubjectAccess query to it, one line.
    subject_access = _subject_access

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
    ) -> list[Recording]:
        """Group commit: the pending events of many aggregates (several commands', or a batch of consumed
        messages' effects), with their command receipts and tracking records, in one transaction. All or
        nothing: IntegrityError when any of them clashes (the caller then saves them one at a time).
        Returns what was recorded (each event with its position in the notification log)."""
        # Each aggregate's pending events, taken directly (the library's ProcessingEvent.collect_events first
        # asks of every object whether it is a domain event, an isinstance check against a Protocol: slow).
        events = [e for a in (*aggregates, *self.saved_with(aggregates)) if a is not None for e in a.collect_events()]
        return self.put_events(events, receipts=receipts, trackings=trackings)

    def put_events(
        self, events: Sequence[Any], *, receipts: Sequence[CommandReceipt] = (), trackings: Sequence[Tracking] = ()
    ) -> list[Recording]:
        """Store events already collected (and stamped: unit_of_work.staged_events) with receipts and tracking
        records, in one transaction; IntegrityError and nothing stored when any of them clashes."""
        mapper: Any = self.mapper
        if mapper.sealer is None or not events:
            return self.events.put(events, command_receipts=receipts, trackings=trackings)
        # The keys of every person these events hold personal data about, fetched (or made) in one go.
        wanted: set[UUID] = set()
        for e in events:
            state = vars(e)
            mapper.sealer.subjects_to_seal(state, state.get("data_subject") or state.get("pupil_id"), wanted)
        token = _prepared_keys.set(keyring_keys(wanted, True) if wanted else None)
        try:
            return self.events.put(events, command_receipts=receipts, trackings=trackings)
        finally:
            _prepared_keys.reset(token)

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
        mapper: Any = self.mapper
        decoded = mapper.to_domain_events([StoredEvent(oid, v, t, bytes(state)) for oid, v, t, state in rows])
        aggregate: Any = None
        for (originator_id, version, _, _), domain_event in zip(rows, decoded, strict=True):
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

    def tracked_among(self, trackings: Sequence[Tracking]) -> set[tuple[str, int]]:
        """Which of these positions (producer, sequence) were handled already: one query for a batch."""
        if not trackings:
            return set()
        recorder: Any = self.recorder
        datastore = getattr(recorder, "datastore", None)
        table = getattr(recorder, "tracking_table_name", None)
        if datastore is None or table is None:  # in-memory recorder
            return {
                (t.application_name, t.notification_id)
                for t in trackings
                if recorder.has_tracking_id(t.application_name, t.notification_id)
            }
        statement = SQL(
            "SELECT application_name, notification_id FROM {0}.{1} "
            "WHERE (application_name, notification_id) IN (SELECT * FROM unnest(%s::text[], %s::bigint[]))"
        ).format(Identifier(datastore.schema), Identifier(table))
        names = [t.application_name for t in trackings]
        positions = [t.notification_id for t in trackings]
        with datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (names, positions))
            return {(row["application_name"], row["notification_id"]) for row in curs.fetchall()}

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


def postgres_env(database_url: str, pool_size: int = 5, *, pre_ping: bool = False) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings from a database URL. `pre_ping`: test each pooled connection with a
    query before lending it out (off by default: a round trip per checkout; a dead connection is otherwise
    found by the statement that uses it, and the caller's retry takes a fresh one)."""
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
        "POSTGRES_PRE_PING": "y" if pre_ping else "n",
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
    with acting(ctx):
        return fn(*args, **kwargs)


def open_store(
    application: type[A],
    database_url: str | None,
    threads: int,
    env: dict[str, str] | None = None,
    *,
    pre_ping: bool = False,
) -> EventStore[A]:
    """A service's application on its PostgreSQL database (or on `env`, e.g. IN_MEMORY_ENV in tests), behind
    the one thread pool that runs it. `pre_ping`: the `database_pre_ping` setting (postgres_env)."""
    if env is None:
        env = postgres_env(database_url or "", pre_ping=pre_ping)
    return EventStore(application(env=env), threads=threads)
