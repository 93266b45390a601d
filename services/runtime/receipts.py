"""Command receipts: each command id with its reply, written in the same transaction as the command's events.

A command sent again with the same id (a client that retried after a timeout, a double-click) finds its
receipt and gets the first reply; nothing is stored again and no letter is sent twice. Receipts are kept
for `command_ids_kept_days` (30 days by default; docs/operations.md), then purged: a command retried
later than that is taken as new.

The receipt rides on eventsourcing's own insert: the service's recorder (a subclass of the library's
process recorder, PostgreSQL or in memory) writes it inside the transaction that stores the events, and
a second receipt for the same id violates its primary key, so the whole save is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg.sql import SQL, Identifier


@dataclass(frozen=True)
class CommandReceipt:
    command_id: UUID
    reply: str  # the reply as sent (JSON)
    recorded_at: datetime


class PostgresReceiptRecorder(PostgresProcessRecorder):
    """The library's PostgreSQL process recorder, plus a `<name>_command_receipts` table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receipts_table_name = self.events_table_name.replace("_events", "") + "_command_receipts"

    def _receipts(self) -> Identifier:
        return Identifier(self.datastore.schema, self.receipts_table_name)

    def create_table(self) -> None:
        super().create_table()
        statement = SQL(
            "CREATE TABLE IF NOT EXISTS {0} (command_id uuid PRIMARY KEY, reply text NOT NULL, "
            "recorded_at timestamptz NOT NULL); CREATE INDEX IF NOT EXISTS {1} ON {0} (recorded_at)"
        ).format(self._receipts(), Identifier(f"{self.receipts_table_name}_recorded_at"))
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(statement)

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """Besides the library's one `tracking`: any number of command receipts and tracking records, each
        list written with one pipelined statement, in the transaction that stores the events (group commit:
        several commands, or a batch of consumed messages, saved together)."""
        receipts: Sequence[CommandReceipt] = kwargs.get("command_receipts", ())
        if receipts:
            curs.executemany(
                SQL("INSERT INTO {0} (command_id, reply, recorded_at) VALUES (%s, %s, %s)").format(self._receipts()),
                [(r.command_id, r.reply, r.recorded_at) for r in receipts],
            )
        trackings: Sequence[Tracking] = kwargs.get("trackings", ())
        if trackings:
            self._check_has_multi_row_tracking_table(curs)
            curs.executemany(
                self.insert_tracking_statement,
                [{"application_name": t.application_name, "notification_id": t.notification_id} for t in trackings],
            )
        super()._insert_events(curs, stored_events, **kwargs)

    def find_receipts(self, command_ids: Sequence[UUID]) -> dict[UUID, str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT command_id, reply FROM {0} WHERE command_id = ANY(%s)").format(self._receipts()),
                (list(command_ids),),
            )
            return {row["command_id"]: row["reply"] for row in curs.fetchall()}

    def purge_receipts(self, before: datetime) -> int:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {0} WHERE recorded_at < %s").format(self._receipts()), (before,))
            return curs.rowcount


class InMemoryReceiptRecorder(POPOProcessRecorder):
    """The library's in-memory process recorder, plus receipts (for unit tests)."""

    def __init__(self) -> None:
        super().__init__()
        self._receipts: dict[UUID, CommandReceipt] = {}

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        receipts: Sequence[CommandReceipt] = kwargs.get("command_receipts", ())
        ids = [r.command_id for r in receipts]
        if len(set(ids)) < len(ids) or any(i in self._receipts for i in ids):
            raise IntegrityError("a command in this save was already recorded")
        for t in kwargs.get("trackings", ()):
            if self.has_tracking_id(t.application_name, t.notification_id):
                raise IntegrityError(f"{t.application_name}#{t.notification_id} was already tracked")

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs)
        for receipt in kwargs.get("command_receipts", ()):
            self._receipts[receipt.command_id] = receipt
        for t in kwargs.get("trackings", ()):
            self._insert_tracking(t)
        return ids

    def find_receipts(self, command_ids: Sequence[UUID]) -> dict[UUID, str]:
        with self._database_lock:
            return {i: self._receipts[i].reply for i in command_ids if i in self._receipts}

    def purge_receipts(self, before: datetime) -> int:
        with self._database_lock:
            old = [k for k, r in self._receipts.items() if r.recorded_at < before]
            for k in old:
                del self._receipts[k]
        return len(old)


# While a routed command runs, the application's saves are collected here instead of written, so that the
# runtime writes them once, together with the command's receipt, in one transaction.
_collecting: ContextVar[list[Any] | None] = ContextVar("sendcase_collecting_saves", default=None)


def collected_saves() -> list[Any] | None:
    return _collecting.get()


@contextlib.contextmanager
def collecting_saves() -> Iterator[list[Any]]:
    collected: list[Any] = []
    token = _collecting.set(collected)
    try:
        yield collected
    finally:
        _collecting.reset(token)
