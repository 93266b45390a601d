"""After a service's database was restored from a backup: the way back (`sendcase recover <service>`).

The stream outlives the database. After a restore it holds facts the database no longer has, and the
database has lost effects the stream's consumers had acknowledged. Run with every replica of the service
stopped, against its database and NATS, this puts the three back in line:

1. Lost facts. This service's events on the stream (`Nats-Msg-Id` `<service>:<id>`) with an id above the
   database's largest notification id were stored after the backup and are gone from it. An integration
   event cannot rebuild a domain event, so they are listed (id, type, the whole event) in a report file for a
   person to re-enter or reconcile (and kept in the service's table runtime_lost_facts, which a service may
   read to avoid acting twice); the stream keeps them for the auditor. Internal events of that period
   and events not yet published when the database was lost were never on the stream: they cannot be listed.
2. New ids. The events table's notification id sequence (eventsourcing's `bigserial` column: the sequence
   `<schema>.<service>_events_notification_id_seq`, found with pg_get_serial_sequence) is moved past the
   stream's head, so a new event never takes an id whose message id is on the stream already (JetStream
   would drop it as a duplicate within its window, and publish a second, different fact under the same id
   after it).
3. The relay. Its position is set to the stream's head, and the head is recorded as a known gap
   (runtime_positions, follower `recovery`): the relay's refusal to start while the stream is ahead of the
   database accepts a gap up to that recorded point and no further. When the database is ahead of the stream
   instead (the stream's store restored from an older copy), the relay is moved back to the stream's head and
   publishes the rest again.
4. Consumers. Each of the service's durable consumers is deleted and created again, delivering the whole
   stream: effects lost with the restore are applied again in stream order, and those the database kept are
   recognised by their tracking rows and skipped without running the reaction.

Each run is recorded in runtime_recoveries. Running it twice is harmless: the second run finds the sequence
and positions already moved, lists the same lost facts, and makes the consumers replay once more (every
message skipped as handled).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import nats
import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.subjects import ping_subject, service_events
from services.runtime.clock import Clock
from services.runtime.database import POSITIONS_DDL, set_position
from services.runtime.outbox import RECOVERED, RELAY, published_position
from services.runtime.sealing import Sealer, keyring_keys, open_payloads
from services.runtime.service import Bootstrap, ServiceDefinition, tracked_consumers
from services.runtime.settings import ServiceSettings
from services.runtime.streams import every_message

RECOVERIES_DDL = """
CREATE TABLE IF NOT EXISTS runtime_recoveries (
    id              bigserial PRIMARY KEY,
    recovered_at    timestamptz NOT NULL DEFAULT now(),
    stream_head     bigint NOT NULL,    -- the largest <service>:<id> on the stream
    database_max    bigint NOT NULL,    -- the largest notification id in the restored events table
    lost_count      integer NOT NULL,   -- this service's facts on the stream but not in its database
    lost_first      bigint,
    lost_last       bigint,
    next_id_before  bigint NOT NULL,    -- the id the next stored event would have had
    next_id_after   bigint NOT NULL,
    relay_before    bigint NOT NULL,
    relay_after     bigint NOT NULL,
    consumers_reset text[] NOT NULL,
    report_file     text
)
"""

# The lost facts in the service's own database too, so that the service can avoid acting on them twice (e.g.
# notifications does not send again a message the stream says was delivered before the restore).
LOST_FACTS_DDL = """
CREATE TABLE IF NOT EXISTS runtime_lost_facts (
    message_id      text PRIMARY KEY,   -- <service>:<notification id>, as on the stream
    notification_id bigint NOT NULL,
    type            text NOT NULL,
    event           jsonb NOT NULL,     -- the integration event as published
    found_at        timestamptz NOT NULL DEFAULT now()
)
"""

SCAN_BATCH = 1000


class RecoveryRefused(RuntimeError):
    """The recovery cannot run as things are (the service is running, its database or stream is missing)."""


@dataclass(frozen=True)
class LostFact:
    """One of this service's facts that is on the stream but no longer in its database."""

    notification_id: int
    type: str
    stream_sequence: int
    published_at: datetime | None
    event: Any  # the integration event as published (JSON), for a person to re-enter or reconcile


@dataclass
class Recovery:
    """What a recovery found and did (or, dry, would do)."""

    service: str
    stream: str
    database: str
    stream_head: int
    database_max: int
    sequence: str
    next_id_before: int
    next_id_after: int
    relay_before: int
    relay_after: int
    lost: list[LostFact] = field(default_factory=list)
    consumers_reset: dict[str, int] = field(default_factory=dict)  # name -> messages it will replay
    report_file: Path | None = None
    dry_run: bool = False

    @property
    def lost_types(self) -> dict[str, int]:
        return dict(sorted(Counter(f.type for f in self.lost).items()))

    @property
    def to_republish(self) -> int:
        """Events in the database past the stream's head, which the relay will publish (when publishable)."""
        return max(0, self.database_max - self.stream_head)

    def summary(self) -> dict[str, Any]:
        """The report as data (for `--json`): ids and counts, never the facts' contents."""
        return {
            "service": self.service,
            "database": self.database,
            "stream": self.stream,
            "stream_head": self.stream_head,
            "database_max": self.database_max,
            "lost_count": len(self.lost),
            "lost_first": self.lost[0].notification_id if self.lost else None,
            "lost_last": self.lost[-1].notification_id if self.lost else None,
            "lost_types": self.lost_types,
            "report_file": str(self.report_file) if self.report_file else None,
            "sequence": self.sequence,
            "next_id_before": self.next_id_before,
            "next_id_after": self.next_id_after,
            "relay_before": self.relay_before,
            "relay_after": self.relay_after,
            "to_republish": self.to_republish,
            "consumers_reset": self.consumers_reset,
            "dry_run": self.dry_run,
        }

    def lines(self) -> list[str]:
        """The report for a person: ids and counts only, never the facts' contents."""
        will = "would" if self.dry_run else "will"
        out = [
            f"{self.service}: database {self.database} (largest notification id {self.database_max}); "
            f"stream {self.stream} (last {self.service}:{self.stream_head})."
        ]
        if self.lost:
            types = ", ".join(f"{t} x{n}" for t, n in self.lost_types.items())
            out.append(
                f"LOST WITH THE RESTORE: {len(self.lost)} fact(s) of {self.service} are on the stream but not in "
                f"the database: ids {self.lost[0].notification_id} to {self.lost[-1].notification_id} ({types})."
            )
            out.append(
                "  The stream cannot rebuild them. Those this service made in reaction to other services' facts "
                "are made again by its consumers' replay (below); the rest (what people told it) must be "
                "re-entered or reconciled by hand. "
                + (
                    f"The list is in {self.report_file} (it holds personal data: keep it as safely as the database)."
                    if self.report_file is not None
                    else "Run without --dry-run to write the list to a file."
                )
            )
            out.append(
                "  Internal events of that period, and any not yet published when the database was lost, "
                "were never on the stream and cannot be listed."
            )
        else:
            out.append("Nothing lost: every fact of this service on the stream is in its database.")
        if self.to_republish:
            out.append(
                f"The database is ahead of the stream by {self.to_republish} id(s): the relay "
                f"{will} publish them (those already on the stream are deduplicated)."
            )
        moved = self.next_id_after != self.next_id_before
        out.append(
            f"New events {will} be stored from id {self.next_id_after}"
            + (f" (was {self.next_id_before}: sequence {self.sequence} moved past the stream)" if moved else "")
            + "."
        )
        out.append(
            f"The relay {will} resume after {self.service}:{self.relay_after}"
            + (f" (its position was {self.relay_before})" if self.relay_after != self.relay_before else "")
            + "."
        )
        for name, pending in self.consumers_reset.items():
            out.append(
                f"Consumer {name} {'would replay' if self.dry_run else 'replays'} the stream from its start "
                f"({pending} message(s)): effects lost with the restore are applied again, the others skipped."
            )
        if self.dry_run:
            out.append("Dry run: nothing was changed.")
        return out


async def recover(
    service: ServiceDefinition,
    *,
    report_dir: Path | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Recovery:
    """Recover one service after its database was restored (see the module's docstring). Raises
    RecoveryRefused, changing nothing, while the service answers on NATS."""
    s = service.settings
    recorder: Any = service.store.app.recorder
    schema = recorder.datastore.schema
    table = f'"{schema}"."{recorder.events_table_name}"'
    try:
        conn = await asyncpg.connect(s.database_url)
    except asyncpg.InvalidCatalogNameError:
        raise RecoveryRefused(f"there is no database {s.database_name}: restore it first") from None
    nc = await nats.connect(s.nats_servers, name=f"sendcase-recover-{service.name}", max_reconnect_attempts=3)
    try:
        await _refuse_while_running(nc, s.subject_prefix, service.name)
        js = nc.jetstream()
        try:
            await js.stream_info(s.events_stream)
        except NotFoundError:
            raise RecoveryRefused(f"there is no stream {s.events_stream} on {s.nats_url}") from None

        sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'notification_id')", table)
        if sequence is None:
            raise RecoveryRefused(f"{table} has no notification id sequence: is this {service.name}'s database?")
        database_max = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {table}")
        subject = service_events(s.subject_prefix, service.name)
        published = await published_by(js, s.events_stream, subject, service.name)
        stream_head = max((f.notification_id for f in published), default=0)
        kept = set(
            await conn.fetchval(
                f"SELECT coalesce(array_agg(notification_id), '{{}}') FROM {table} WHERE notification_id = ANY($1)",
                [f.notification_id for f in published],
            )
        )
        lost = [f for f in published if f.notification_id not in kept]
        next_before = await _next_id(conn, sequence)
        next_after = max(next_before, stream_head + 1)
        has_positions = await conn.fetchval("SELECT to_regclass('runtime_positions') IS NOT NULL")
        relay_before = (
            await conn.fetchval("SELECT position FROM runtime_positions WHERE follower = $1", RELAY) or 0
            if has_positions
            else 0
        )
        found = Recovery(
            service=service.name,
            stream=s.events_stream,
            database=s.database_name,
            stream_head=stream_head,
            database_max=database_max,
            sequence=sequence,
            next_id_before=next_before,
            next_id_after=next_after,
            relay_before=relay_before,
            relay_after=stream_head,
            lost=lost,
            dry_run=dry_run,
        )
        consumers = tracked_consumers(service, js)
        if dry_run:
            for consumer in consumers:
                found.consumers_reset[consumer.name] = await _matching(js, s.events_stream, consumer.filter_subjects)
            return found

        # The list first: whatever happens next, the person has it.
        if lost:
            found.report_file = write_report(found, report_dir or Path.cwd(), now or datetime.now(UTC))
        async with conn.transaction():
            await conn.execute(POSITIONS_DDL)
            await conn.execute(RECOVERIES_DDL)
            await conn.execute(LOST_FACTS_DDL)
            # Writers wait (the service should be stopped; a replica left running cannot slip an event in).
            await conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            if await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {table}") != database_max:
                raise RecoveryRefused(f"{service.name} stored events during the recovery: stop every replica first")
            if next_after != next_before:
                await conn.execute("SELECT setval($1::regclass, $2, true)", sequence, stream_head)
            await conn.executemany(
                """INSERT INTO runtime_lost_facts (message_id, notification_id, type, event)
                   VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (message_id) DO NOTHING""",
                [(f"{service.name}:{f.notification_id}", f.notification_id, f.type, json.dumps(f.event)) for f in lost],
            )
            await set_position(conn, RELAY, stream_head)
            if stream_head > database_max:
                recorded = await conn.fetchval("SELECT position FROM runtime_positions WHERE follower = $1", RECOVERED)
                await set_position(conn, RECOVERED, max(stream_head, recorded or 0))
            await conn.execute(
                """INSERT INTO runtime_recoveries (stream_head, database_max, lost_count, lost_first, lost_last,
                       next_id_before, next_id_after, relay_before, relay_after, consumers_reset, report_file)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                stream_head,
                database_max,
                len(lost),
                lost[0].notification_id if lost else None,
                lost[-1].notification_id if lost else None,
                next_before,
                next_after,
                relay_before,
                stream_head,
                [c.name for c in consumers],
                str(found.report_file) if found.report_file else None,
            )
        for consumer in consumers:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(s.events_stream, consumer.name)
            info = await js.add_consumer(s.events_stream, consumer.config())
            found.consumers_reset[consumer.name] = info.num_pending or 0
        return found
    finally:
        await conn.close()
        await nc.close()


async def recover_service(
    bootstrap: Bootstrap,
    settings: ServiceSettings,
    clock: Clock,
    *,
    report_dir: Path | None = None,
    dry_run: bool = False,
) -> Recovery:
    """`sendcase recover <service>`: the service as its bootstrap makes it (nothing of it is started), recovered."""
    try:
        probe = await asyncpg.connect(settings.database_url)
    except asyncpg.InvalidCatalogNameError:
        raise RecoveryRefused(f"there is no database {settings.database_name}: restore it first") from None
    await probe.close()
    service = bootstrap(settings, clock)
    try:
        return await recover(service, report_dir=report_dir, dry_run=dry_run, now=clock.now())
    finally:
        service.store.close()


async def _refuse_while_running(nc: Any, prefix: str, name: str) -> None:
    try:
        reply = await nc.request(ping_subject(prefix, name), b"", timeout=2)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError, TimeoutError):
        return
    pid = json.loads(reply.data or b"{}").get("pid", "?") if reply.data else "?"
    raise RecoveryRefused(
        f"the {name} service is running (a replica with pid {pid} answered): stop every replica, then recover"
    )


async def _next_id(conn: asyncpg.Connection, sequence: str) -> int:
    # (a sequence's name is an identifier already quoted where needed by pg_get_serial_sequence)
    row = await conn.fetchrow(f"SELECT last_value, is_called FROM {sequence}")
    return int(row["last_value"]) + 1 if row["is_called"] else int(row["last_value"])


async def published_by(js: JetStreamContext, stream: str, subject: str, service: str) -> list[LostFact]:
    """Every message of this service on the stream, in stream order, by its `<service>:<id>` message id.

    (The largest id, not the last message's: a relay retrying a failed publish can put an id after a larger
    one.) Read with a throw-away consumer that acknowledges nothing."""
    found: list[LostFact] = []
    doing = f"sendcase recover {service}: reads the service's facts"
    for msg in await every_message(js, stream, subject, doing, batch=SCAN_BATCH):
        number = published_position(msg, service)
        if number is None:
            continue
        try:
            event = json.loads(msg.data)
        except ValueError:
            event = msg.data.decode(errors="replace")
        found.append(
            LostFact(
                notification_id=number,
                type=(msg.headers or {}).get("Sendcase-Type") or _type_of(event),
                stream_sequence=msg.metadata.sequence.stream,
                published_at=msg.metadata.timestamp,
                event=event,
            )
        )
    found.sort(key=lambda f: f.notification_id)
    return found


def _type_of(event: Any) -> str:
    return str(event.get("type", "?")) if isinstance(event, dict) else "?"


async def _matching(js: JetStreamContext, stream: str, filters: list[str]) -> int:
    """How many messages of the stream a consumer with these filter subjects would be delivered from the start."""
    info = await js.stream_info(stream, subjects_filter=">")
    counts = info.state.subjects or {}
    return sum(n for subject, n in counts.items() if any(subject_matches(f, subject) for f in filters))


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` one or more at the end."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(have) == len(want)


def write_report(found: Recovery, folder: Path, now: datetime) -> Path:
    """The lost facts, in full, as JSON, readable by its owner only (they hold personal data)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"recovery-{found.service}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    document = {
        "service": found.service,
        "database": found.database,
        "stream": found.stream,
        "written_at": now.isoformat(),
        "stream_head": found.stream_head,
        "database_max": found.database_max,
        "what_this_is": (
            f"Facts of {found.service} that were stored after the backup the database was restored from: they "
            "are on the stream (kept there) but no longer in the database, and cannot be rebuilt from it. "
            "Re-enter each (as a new command) or reconcile it with the people concerned. Other services kept "
            "or re-applied their effects (e.g. notifications owed), so re-entering may repeat those: check first."
        ),
        "lost_count": len(found.lost),
        "lost_types": found.lost_types,
        "lost": [
            {
                "notification_id": f.notification_id,
                "message_id": f"{found.service}:{f.notification_id}",
                "type": f.type,
                "stream_sequence": f.stream_sequence,
                "published_at": f.published_at.isoformat() if f.published_at else None,
                "event": copy.deepcopy(f.event),  # opened below for the report; kept sealed everywhere else
            }
            for f in found.lost
        ],
    }
    # The personal values travel sealed (services/runtime/sealing.py): opened for the person who reconciles
    # them, with the deployment's keyring (`sendcase recover` opens it as a service does); "[erased]" where
    # the person was erased since.
    events = [f["event"] for f in cast(list[dict[str, Any]], document["lost"]) if isinstance(f["event"], dict)]
    payloads = [e["payload"] for e in events if isinstance(e.get("payload"), dict)]
    with contextlib.suppress(RuntimeError):  # no keyring in this process: left sealed
        open_payloads(Sealer((), keyring_keys), payloads)
    for attempt in range(1, 1000):  # never over an earlier report
        path = folder / (f"{stem}.json" if attempt == 1 else f"{stem}-{attempt}.json")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as out:
            json.dump(document, out, indent=2, default=str)
        return path
    raise RecoveryRefused(f"too many recovery reports named {stem}* in {folder}")
