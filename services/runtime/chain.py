"""The hash chain over a service's event log: tamper-evident history (docs/audit.md).

Every stored event gets one row in `<events table>_chain`, written in the transaction that stores it:

    content_hash = sha256(len|originator_id, version, len|topic, len|state)   (state: the stored bytes, `meta` included)
    chain_hash   = sha256(previous chain_hash || notification_id (8 bytes) || content_hash)

the previous chain_hash being that of the event before it in the notification log (32 zero bytes before the
first). An event changed, removed, slipped in or moved afterwards no longer matches its row, or breaks the
link after it; a log rewritten together with a recomputed chain no longer matches the chain hashes published
outside the database (services/runtime/anchors.py). `services/runtime/verify.py` walks a log against both.

The recorder (eventstore.SendcaseRecorder) inserts a write's events under eventsourcing's table lock with one
statement that also reads the chain's head, computes the write's links here (two sha256 calls an event), and
inserts them with one more statement in the same transaction, pipelined with the commit: no extra round trip.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

from services.runtime.logging import get_logger

log = get_logger(__name__)

GENESIS = bytes(32)  # the "previous chain hash" of the first event
_LENGTH = struct.Struct(">I")
_VERSION = struct.Struct(">q")
_POSITION = struct.Struct(">Q")
_sha256 = hashlib.sha256


def content_hash(originator_id: UUID | str, originator_version: int, topic: str, state: bytes) -> bytes:
    """sha256 over the event's stored fields, each length-prefixed (so no two events share an encoding)."""
    oid = originator_id.bytes if isinstance(originator_id, UUID) else str(originator_id).encode()
    t = topic.encode()
    return _sha256(
        b"".join(
            (
                _LENGTH.pack(len(oid)),
                oid,
                _VERSION.pack(originator_version),
                _LENGTH.pack(len(t)),
                t,
                _LENGTH.pack(len(state)),
                state,
            )
        )
    ).digest()


def link(previous: bytes, position: int, content: bytes) -> bytes:
    """The chain hash of the event at `position` whose content hash is `content`, after `previous`."""
    return _sha256(previous + _POSITION.pack(position) + content).digest()


def links(previous: bytes, positions: Sequence[int], contents: Sequence[bytes]) -> list[bytes]:
    """The chain hashes of consecutive events, after `previous`."""
    out = []
    for position, content in zip(positions, contents, strict=True):
        previous = _sha256(previous + _POSITION.pack(position) + content).digest()
        out.append(previous)
    return out


def chain_table_name(events_table: str) -> str:
    return f"{events_table}_chain"


class ChainStatements:
    """The SQL of one events table's chain (psycopg), for the recorder."""

    def __init__(self, schema: str, events_table: str, originator_id_type: str) -> None:
        self.events = Identifier(schema, events_table)
        self.table = Identifier(schema, chain_table_name(events_table))
        self.create = SQL(
            "CREATE TABLE IF NOT EXISTS {0} (notification_id bigint PRIMARY KEY, content_hash bytea NOT NULL, "
            "chain_hash bytea NOT NULL)"
        ).format(self.table)
        # The write's events inserted, their ids (in log order) and the chain's head read with them: one statement,
        # run after the table lock, so no other writer can move the head before this transaction commits.
        self.insert_events = SQL(
            "WITH ins AS (INSERT INTO {0} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id) "
            "SELECT (SELECT array_agg(notification_id ORDER BY notification_id) FROM ins) AS ids, "
            "(SELECT chain_hash FROM {1} ORDER BY notification_id DESC LIMIT 1) AS head"
        ).format(self.events, self.table, Identifier(originator_id_type))
        self.insert_links = SQL(
            "INSERT INTO {0} (notification_id, content_hash, chain_hash) "
            "SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::bytea[])"
        ).format(self.table)
        self.lock_events = SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(self.events)

    def chained(self, stored_events: Sequence[Any], ids: Sequence[int], head: bytes | None) -> tuple[Composed, tuple]:
        """The statement and parameters inserting the links of a write's events, given their ids (RETURNING, in
        log order: eventsourcing maps ids to events in the order they were given, and so do we) and the head."""
        if len(ids) != len(stored_events):
            raise RuntimeError(f"got {len(ids)} notification ids for {len(stored_events)} events")
        contents = [content_hash(e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events]
        chain = links(bytes(head) if head is not None else GENESIS, ids, contents)
        return self.insert_links, (list(ids), contents, chain)

    def begin_over_existing(self, curs: Any, page: int = 10_000) -> int:
        """Where the log has events but the chain has none (a database from before the chain): begin the chain
        over the events there are, in log order, under the table lock. Returns how many were chained (0: the
        chain was there already, or there are no events)."""
        curs.execute(SQL("SELECT EXISTS (SELECT 1 FROM {0})").format(self.table))
        if curs.fetchone()[0]:
            return 0
        curs.execute(self.lock_events)
        curs.execute(SQL("SELECT EXISTS (SELECT 1 FROM {0})").format(self.table))  # again, under the lock
        if curs.fetchone()[0]:
            return 0
        previous, after, done = GENESIS, 0, 0
        select = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(self.events)
        while True:
            curs.execute(select, (after, page))
            rows = curs.fetchall()
            if not rows:
                break
            ids = [r[0] for r in rows]
            contents = [content_hash(r[1], r[2], r[3], bytes(r[4])) for r in rows]
            chain = links(previous, ids, contents)
            curs.execute(self.insert_links, (ids, contents, chain))
            previous, after, done = chain[-1], ids[-1], done + len(rows)
        return done
