"""The read log: every read of a child's record by a person, itself recorded (docs/security.md, "The read log").

Built once, here, so that every service has it by declaring, for each of its queries, which children it shows
(`Routes(reads=...)`, services/runtime/routes.py):

- `child("upn")` / `child("pupil_id")`: the query names one child by a field (a UPN becomes the child's id through
  the keyed blind index, `pupil_id_for`, as every service knows a pupil);
- `children(lambda result: ...)`: the children the answer shows (a school's register: each pupil on the page);
- `NO_CHILD`: the query shows no child's record (counts, a roll import's report).

A service that routes a query without declaring it does not start (`check_declared`). For each query answered to a
person (never a service's own policy, role system), the endpoint records one row per child: who (user, role,
organisation), which child (the pupil id: a keyed blind index, nothing personal), which query, when (the service's
clock), the correlation id, and whether it was shown (`read`) or refused (`refused`: not authorised; only for a query
that names its child, since a refused list shows nobody). The rows are written durably before the reply is sent: a
read that cannot be recorded is not answered (`internal_error`), so no read goes unrecorded.

Fast: reads answered at the same moment are written together, in one transaction (one insert of arrays, one commit
for all of them), as commands are (group commit), while the next batch gathers.

Tamper-evident, with the event log's machinery (services/runtime/chain.py): each row carries the sha256 of its
content and a chain hash linking it to the row before (`link(previous, position, content)`), written under a table
lock so the chain has one head across replicas; the head is published, signed, on the audit stream like the event
log's (subject `<prefix>.audit.<service>.reads`, services/runtime/anchors.py), and `verify_read_log` walks it
(`sendcase audit verify`).

Personal data: a member of staff's user id is staff data and stays readable (as on every stored event). A parent's
or young person's user id (their id at their identity provider) is the family's: it is kept sealed under the child's
key (services/runtime/sealing.py), so the child's erasure makes it unreadable, with nothing stored changed (the chain
still verifies). The child's id is a keyed blind index and stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts.envelope import Actor, Query, Role
from contracts.read_log import ChildReads, ReadRecord, ReadsPage
from services.runtime.access import FAMILY_ROLES
from services.runtime.anchors import Checkpoint
from services.runtime.chain import GENESIS, content_hash, link
from services.runtime.errors import NotAuthorised
from services.runtime.keyring import pupil_id_for
from services.runtime.logging import get_logger
from services.runtime.paging import decode_cursor, encode_cursor, invalid_cursor
from services.runtime.sealing import SEALED, Sealer, keyring_keys

log = get_logger(__name__)

TABLE = "runtime_read_log"
KIND = "reads"  # its checkpoints' subject: <prefix>.audit.<service>.reads
MAX_BATCH = 5000  # rows written in one transaction at most

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    position        bigint PRIMARY KEY,  -- 1, 2, 3...: the order reads were recorded, with no gaps
    read_at         timestamptz NOT NULL,
    pupil_id        uuid NOT NULL,       -- the child (a keyed blind index: nothing personal)
    query           text NOT NULL,       -- what was asked, e.g. register.pupil
    outcome         text NOT NULL,       -- read (shown) or refused (not authorised)
    user_id         text,                -- a member of staff's user id
    user_sealed     text,                -- a parent's or young person's user id, sealed under the child's key
    role            text NOT NULL,
    organisation    text NOT NULL,
    correlation_id  uuid NOT NULL,
    content_hash    bytea NOT NULL,      -- sha256 of the row's content (services/runtime/chain.py)
    chain_hash      bytea NOT NULL,      -- links it to the row before: sha256(previous || position || content)
    CHECK ((user_id IS NULL) <> (user_sealed IS NULL))
);
CREATE INDEX IF NOT EXISTS {TABLE}_pupil ON {TABLE} (pupil_id, position);
"""

# Who may ask who looked at a child: the LA's auditors, managers and data officer (who answers subject access).
ASKERS = frozenset({Role.AUDITOR, Role.LA_MANAGER, Role.DATA_OFFICER})


# ---------------------------------------------------------------------------------------------------------------
# What each query reads: declared once per query, in the service's ROUTES


@dataclass(frozen=True)
class Reads:
    """Which children a query shows: named by one of its fields, or found in its answer (or none)."""

    field: str | None = None  # "upn" or "pupil_id"
    from_answer: Callable[[Any], Iterable[UUID]] | None = None
    shows_no_child: bool = False

    def named(self, query: Any) -> list[UUID]:
        """The child the query names (asked about, whether it is then shown or refused)."""
        if self.field is None:
            return []
        value = getattr(query, self.field)
        if value is None:
            return []
        return [pupil_id_for(value) if self.field == "upn" else UUID(str(value))]

    def shown(self, query: Any, answer: Any) -> list[UUID]:
        """Every child the answer shows (each once, in the order found)."""
        found = self.named(query)
        if self.from_answer is not None:
            found += list(self.from_answer(answer))
        return list(dict.fromkeys(found))


def child(field: str) -> Reads:
    """The query names the child it reads by this field: a pupil id, or a UPN."""
    if field not in ("upn", "pupil_id"):
        raise ValueError(f"a child is named by 'upn' or 'pupil_id', not {field!r}")
    return Reads(field=field)


def children(from_answer: Callable[[Any], Iterable[UUID]]) -> Reads:
    """The children the query's answer shows (e.g. each pupil on a page of a register)."""
    return Reads(from_answer=from_answer)


NO_CHILD = Reads(shows_no_child=True)  # the query shows no child's record

CHILD_FIELDS = ("upn", "pupil_id")


def check_declaration(query: type[Query], reads: Reads | None) -> str | None:
    """What is wrong with how a query's reads are declared (None: nothing)."""
    if reads is None:
        return (
            f"{query.__name__} does not say which children it shows: add it to its service's ROUTES `reads` "
            "(child('upn'), child('pupil_id'), children(lambda answer: ...) or NO_CHILD; services/runtime/read_log.py)"
        )
    if reads.field is not None and reads.field not in query.model_fields:
        return f"{query.__name__} is declared to read the child named by {reads.field!r}, a field it does not have"
    named_by = [f for f in CHILD_FIELDS if f in query.model_fields]
    if reads.shows_no_child and named_by:
        return f"{query.__name__} names a child ({named_by[0]}) but is declared to show none (NO_CHILD)"
    return None


# ---------------------------------------------------------------------------------------------------------------
# Recording


@dataclass(frozen=True)
class ReadEntry:
    read_at: datetime
    pupil_id: UUID
    query: str
    outcome: str  # "read" | "refused"
    actor: Actor
    correlation_id: UUID


def is_recorded(actor: Actor) -> bool:
    """A person's reads are recorded; a service's own policy's (role system) are not."""
    return actor.role is not Role.SYSTEM


def row_content(
    position: int,
    pupil_id: UUID,
    query: str,
    read_at: datetime,
    outcome: str,
    user_id: str | None,
    user_sealed: str | None,
    role: str,
    organisation: str,
    correlation_id: UUID,
) -> bytes:
    """The sha256 of a row's content (its link in the chain is made from this): the event chain's content hash, the
    child as the originator, the position as the version, the query as the topic, the rest as canonical JSON."""
    state = json.dumps(
        {
            "read_at": read_at.astimezone(UTC).isoformat(),
            "outcome": outcome,
            "user_id": user_id,
            "user_sealed": user_sealed,
            "role": role,
            "organisation": organisation,
            "correlation_id": str(correlation_id),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return content_hash(pupil_id, position, query, state)


_SEALER = Sealer(frozenset({"user_id"}), keyring_keys)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def seal_user_ids(entries: Sequence[ReadEntry]) -> list[str | None]:
    """Each family member's user id sealed under the child's key (None for staff): in a thread, the keyring may be
    asked. One lookup for them all."""
    families = [(i, e) for i, e in enumerate(entries) if e.actor.role in FAMILY_ROLES]
    sealed: list[str | None] = [None] * len(entries)
    if not families:
        return sealed
    wanted = {e.pupil_id for _, e in families}
    keys = keyring_keys(wanted, True)
    for i, e in families:
        state = _SEALER.seal({"user_id": e.actor.user_id}, e.pupil_id, keys, _json)
        sealed[i] = json.dumps(state[SEALED], separators=(",", ":"))
    return sealed


def open_user_ids(sealed: Sequence[str]) -> list[str]:
    """Sealed user ids opened ("[erased]" where the child's key is gone): in a thread, the keyring may be asked."""
    states = [{SEALED: json.loads(s)} for s in sealed]
    _SEALER.open_many(states, json.loads)
    return [str(s["user_id"]) for s in states]


@dataclass
class _Waiting:
    entries: list[ReadEntry]
    future: asyncio.Future[None] = field(repr=False)


class ReadLog:
    """One service's read log: its table, its batched writer, and its query (who looked at a child)."""

    def __init__(self, service: str, pool: asyncpg.Pool, *, max_batch: int = MAX_BATCH) -> None:
        self.service = service
        self.pool = pool
        self.max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # counted for the tests
        self.recorded = 0

    async def setup(self) -> None:
        async with self.pool.acquire() as conn:
            with contextlib.suppress(asyncpg.UniqueViolationError):  # replicas starting at once
                await conn.execute(DDL)

    # -- recording ---------------------------------------------------------------------------------------------

    async def shown(self, reads: Reads, query: Any, answer: Any, actor: Actor, at: datetime, correlation: UUID) -> None:
        await self.record(self._entries(reads.shown(query, answer), query, "read", actor, at, correlation))

    async def refused(self, reads: Reads, query: Any, actor: Actor, at: datetime, correlation: UUID) -> None:
        await self.record(self._entries(reads.named(query), query, "refused", actor, at, correlation))

    @staticmethod
    def _entries(
        pupils: list[UUID], query: Any, outcome: str, actor: Actor, at: datetime, correlation: UUID
    ) -> list[ReadEntry]:
        if not is_recorded(actor):
            return []
        return [ReadEntry(at, p, query.SUBJECT, outcome, actor, correlation) for p in pupils]

    async def record(self, entries: list[ReadEntry]) -> None:
        """Record these reads durably: returns once they are committed (with whatever else was waiting); raises if
        they could not be, and then the read must not be answered."""
        if not entries:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(entries, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._drain(), name=f"{self.service}-read-log", context=contextvars.Context()
            )
        await future

    async def _drain(self) -> None:
        while self._waiting:
            batch: list[_Waiting] = []
            rows = 0
            while self._waiting and (not batch or rows + len(self._waiting[0].entries) <= self.max_batch):
                waiting = self._waiting.pop(0)
                batch.append(waiting)
                rows += len(waiting.entries)
            try:
                await self._write([e for w in batch for e in w.entries])
            except BaseException as e:
                for w in batch:
                    if not w.future.done():
                        w.future.set_exception(e if isinstance(e, Exception) else RuntimeError("stopped"))
                if not isinstance(e, Exception):
                    raise
                continue
            self.batches += 1
            self.recorded += rows
            for w in batch:
                if not w.future.done():
                    w.future.set_result(None)

    async def _write(self, entries: list[ReadEntry]) -> None:
        sealed = await asyncio.to_thread(seal_user_ids, entries)
        async with self.pool.acquire() as conn, conn.transaction():
            # One head for the chain, across replicas: writers take turns (readers of the table are not held up).
            await conn.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
            head = await conn.fetchrow(f"SELECT position, chain_hash FROM {TABLE} ORDER BY position DESC LIMIT 1")
            position, previous = (head[0], bytes(head[1])) if head is not None else (0, GENESIS)
            columns: list[list[Any]] = [[] for _ in range(12)]
            for entry, user_sealed in zip(entries, sealed, strict=True):
                position += 1
                user_id = None if user_sealed is not None else entry.actor.user_id
                values = (
                    position,
                    entry.pupil_id,
                    entry.query,
                    entry.read_at,
                    entry.outcome,
                    user_id,
                    user_sealed,
                    entry.actor.role.value,
                    entry.actor.organisation,
                    entry.correlation_id,
                )
                content = row_content(*values)
                previous = link(previous, position, content)
                for column, value in zip(columns, (*values, content, previous), strict=True):
                    column.append(value)
            await conn.execute(
                f"""INSERT INTO {TABLE} (position, pupil_id, query, read_at, outcome, user_id, user_sealed, role,
                        organisation, correlation_id, content_hash, chain_hash)
                    SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[],
                        $6::text[], $7::text[], $8::text[], $9::text[], $10::uuid[], $11::bytea[], $12::bytea[])""",
                *columns,
            )

    # -- who looked at a child (the route every service binds its ChildReads query to) -----------------------

    async def reads(self, *, pupil_id: UUID, page_size: int, after: str | None, actor: Actor) -> ReadsPage:
        """Who looked at this child's records in this service, in the order recorded: one page."""
        check_may_ask(actor)
        found = decode_cursor(after, keys=("position",))
        start = 0
        if found is not None:
            if not isinstance(found["position"], int) or found["position"] < 0:
                raise invalid_cursor()
            start = found["position"]
        rows = await self.pool.fetch(
            f"SELECT * FROM {TABLE} WHERE pupil_id = $1 AND position > $2 ORDER BY position LIMIT $3",
            pupil_id,
            start,
            page_size,
        )
        sealed = [r["user_sealed"] for r in rows if r["user_sealed"] is not None]
        opened = iter(await asyncio.to_thread(open_user_ids, sealed) if sealed else [])
        reads = [
            ReadRecord(
                position=r["position"],
                read_at=r["read_at"],
                query=r["query"],
                outcome=r["outcome"],
                user_id=r["user_id"] if r["user_id"] is not None else next(opened),
                role=r["role"],
                organisation=r["organisation"],
                correlation_id=r["correlation_id"],
            )
            for r in rows
        ]
        more = len(rows) == page_size
        return ReadsPage(
            service=self.service,
            pupil_id=pupil_id,
            reads=reads,
            next_after=encode_cursor(position=rows[-1]["position"]) if more else None,
        )


def check_may_ask(actor: Actor) -> None:
    if actor.role not in ASKERS or not actor.organisation.startswith("la:"):
        raise NotAuthorised(
            "Only the local authority's auditors, managers and data officer can see who looked at a child's records; "
            f"you are signed in as {actor.role.value} for {actor.organisation}."
        )


def check_declared(routes: Iterable[Any], app: Any) -> None:
    """Every query a service routes says which children it shows; a service holding personal data answers who looked
    at a child (checked at start, so a new service cannot forget either)."""
    from services.runtime.routes import RouteError

    problems = [
        problem
        for route in routes
        if route.kind == "query" and (problem := check_declaration(route.message, route.reads)) is not None
    ]
    if problems:
        raise RouteError("; ".join(problems))
    if getattr(app, "personal_fields", None) and not any(
        issubclass(r.message, ChildReads) and r.function is ReadLog.reads for r in routes
    ):
        raise RouteError(
            f"{type(app).__name__} holds personal data but answers no read log query: declare "
            f"`class {type(app).__name__}Reads(ChildReads)` in its contracts' queries.py and bind it in its "
            "entrypoints' ROUTES to ReadLog.reads (services/runtime/read_log.py)"
        )


# ---------------------------------------------------------------------------------------------------------------
# Verifying (sendcase audit verify)


async def verify_read_log(
    conn: asyncpg.Connection,
    service: str,
    checkpoints: Sequence[Checkpoint],
    keys: dict[str, Ed25519PublicKey],
    *,
    page: int = 5_000,
) -> Any:
    """The whole read log against its chain and its signed checkpoints: each row altered (its content no longer
    matches its hash), deleted (a position missing), or the chain broken or rewritten, by position."""
    from services.runtime.verify import Verification, _check_checkpoints, _Walk

    result = Verification(f"{service} read log", counted="reads")
    walk = _Walk(previous_link=GENESIS, previous_position=0, chain_count=0)
    anchored = {c.position for c in checkpoints}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        low = 0
        while True:
            rows = await conn.fetch(
                f"SELECT * FROM {TABLE} WHERE position > $1 ORDER BY position LIMIT $2",
                low,
                page,
            )
            if not rows:
                break
            for r in rows:
                position = r["position"]
                if position != walk.previous_position + 1:
                    result.add(
                        "deleted",
                        walk.previous_position + 1,
                        f"positions {walk.previous_position + 1} to {position - 1}: the reads recorded here were "
                        "deleted",
                    )
                content = row_content(
                    position,
                    r["pupil_id"],
                    r["query"],
                    r["read_at"],
                    r["outcome"],
                    r["user_id"],
                    r["user_sealed"],
                    r["role"],
                    r["organisation"],
                    r["correlation_id"],
                )
                if content != bytes(r["content_hash"]):
                    result.add(
                        "altered",
                        position,
                        f"position {position}: the read was altered after it was recorded (who, which child, what or "
                        "when no longer matches what was recorded)",
                    )
                chained = bytes(r["chain_hash"])
                if link(walk.previous_link, position, bytes(r["content_hash"])) != chained:
                    result.add(
                        "missing",
                        position,
                        f"position {position}: the chain does not follow on from position {walk.previous_position}: "
                        "reads were removed or the chain was changed here",
                    )
                walk.previous_link, walk.previous_position = chained, position
                walk.chain_count = (walk.chain_count or 0) + 1
                result.events += 1
                if result.first_position is None:
                    result.first_position = position
                if position in anchored:
                    walk.chain_at[position] = (chained, walk.chain_count)
            low = rows[-1]["position"]
    result.last_position = walk.previous_position
    _check_checkpoints(checkpoints, keys, walk, result, read_log_name(service))
    return result


def read_log_name(service: str) -> str:
    """What a read log's checkpoints name: `register.reads` (the event log's name `register`)."""
    return f"{service}.{KIND}"
