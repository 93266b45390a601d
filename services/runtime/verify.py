"""Verifying a service's log against its hash chain and its signed checkpoints (docs/audit.md).

`verify_log` walks the whole log (`sendcase audit verify`), `verify_tail` its last events and the latest
checkpoint (a service at start). Both read the log in pages of `page` positions, so a log of millions of events
is never held in memory; only what is found wrong is kept (up to MAX_FINDINGS).

What each finding means, by position (the event's notification id, its place in the log):
- altered: the event stored there no longer matches the hash recorded for it when it was stored;
- deleted: the chain records an event there, and the log no longer has it;
- inserted: the log has an event there the chain never recorded;
- reordered: the event there is one the chain records at another position (two swapped, or one moved);
- missing: the chain's link there does not follow from the one before it: events between were removed
  together with their chain records (or a chain record was changed);
- rewritten: the chain no longer matches a checkpoint signed outside the database: the log and its chain
  were rewritten together after the last checkpoint it still matches;
- truncated: a checkpoint vouches for events up to a position beyond the end of the log;
- checkpoint: a checkpoint that cannot be trusted (a bad signature, an unknown key, not a checkpoint at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.runtime.anchors import Checkpoint, checkpoint_time
from services.runtime.chain import GENESIS, chain_table_name, content_hash, link

MAX_FINDINGS = 10_000  # beyond this, a log is plainly not to be trusted: the rest are counted, not listed


@dataclass(frozen=True)
class Finding:
    kind: str  # altered | deleted | inserted | reordered | missing | rewritten | truncated | checkpoint | miscounted
    position: int | None
    says: str  # in words an auditor understands


@dataclass
class Verification:
    service: str
    events: int = 0  # events read
    first_position: int | None = None
    last_position: int = 0  # the end of the log (events or chain, whichever is further)
    checkpoints: int = 0  # checkpoints with a good signature
    anchored: Checkpoint | None = None  # the latest good checkpoint the log matches
    findings: list[Finding] = field(default_factory=list)
    not_listed: int = 0  # findings beyond MAX_FINDINGS
    tail_only: bool = False
    counted: str = "events"  # what the log holds: events, or reads (a read log: services/runtime/read_log.py)

    @property
    def clean(self) -> bool:
        return not self.findings and not self.not_listed

    def add(self, kind: str, position: int | None, says: str) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(kind, position, says))
        else:
            self.not_listed += 1

    def summary(self) -> str:
        what = f"the last {self.events} {self.counted}" if self.tail_only else f"{self.events} {self.counted}"
        if self.clean:
            anchored = (
                f"anchored at {checkpoint_time(self.anchored)} (position {self.anchored.position}, key "
                f"{self.anchored.key_id})"
                if self.anchored is not None
                else "not yet anchored (no signed checkpoint)"
            )
            return f"{self.service}: verified {what} up to position {self.last_position}, {anchored}"
        count = len(self.findings) + self.not_listed
        return (
            f"{self.service}: {count} problem(s) found in {what} up to position {self.last_position}: "
            "the history has been altered since it was stored"
        )

    def lines(self) -> list[str]:
        out = [self.summary()]
        out += [f"  {f.says}" for f in sorted(self.findings, key=_order)]
        if self.not_listed:
            out.append(f"  ... and {self.not_listed} more not listed")
        return out


def _order(finding: Finding) -> tuple[int, int]:
    return (finding.position if finding.position is not None else -1, 0)


@dataclass
class _Walk:
    """What the page-by-page walk keeps: the last link, and only what is wrong."""

    previous_link: bytes
    previous_position: int
    chain_count: int | None  # chain records up to here (None: not known, in a tail check)
    altered: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # position -> (found, recorded)
    inserted: dict[int, bytes] = field(default_factory=dict)  # position -> found
    deleted: dict[int, bytes] = field(default_factory=dict)  # position -> recorded
    chain_at: dict[int, tuple[bytes, int | None]] = field(default_factory=dict)  # anchored positions seen


async def _walk(
    conn: asyncpg.Connection,
    events: str,
    chain: str,
    after: int,
    walk: _Walk,
    result: Verification,
    anchored_positions: set[int],
    page: int,
) -> None:
    end = await conn.fetchval(
        f'SELECT GREATEST((SELECT max(notification_id) FROM "{events}"), (SELECT max(notification_id) FROM "{chain}"))'
    )
    result.last_position = end or 0
    low = after
    while end is not None and low < end:
        high = low + page
        rows = await conn.fetch(
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{events}" '
            "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id",
            low,
            high,
        )
        links = await conn.fetch(
            f'SELECT notification_id, content_hash, chain_hash FROM "{chain}" '
            "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id",
            low,
            high,
        )
        if not rows and not links:  # a gap in the ids (a recovery moves them on): jump to what comes next
            low = await conn.fetchval(
                f'SELECT LEAST((SELECT min(notification_id) FROM "{events}" WHERE notification_id > $1), '
                f'(SELECT min(notification_id) FROM "{chain}" WHERE notification_id > $1)) - 1',
                high,
            )
            if low is None:
                break
            continue
        _check_page(rows, links, walk, result, anchored_positions)
        low = high


def _check_page(
    rows: Sequence[Any], links: Sequence[Any], walk: _Walk, result: Verification, anchored: set[int]
) -> None:
    stored = {r[0]: r for r in rows}
    recorded = {r[0]: (bytes(r[1]), bytes(r[2])) for r in links}
    for position in sorted(stored.keys() | recorded.keys()):
        event, record = stored.get(position), recorded.get(position)
        if record is not None:
            content, chained = record
            if link(walk.previous_link, position, content) != chained:
                result.add(
                    "missing",
                    position,
                    f"position {position}: the chain does not follow on from position {walk.previous_position}: "
                    f"events between positions {walk.previous_position} and {position} were removed together with "
                    "their chain records, or the chain's record here was changed",
                )
            walk.previous_link, walk.previous_position = chained, position
            if walk.chain_count is not None:
                walk.chain_count += 1
            if position in anchored:
                walk.chain_at[position] = (chained, walk.chain_count)
        if event is not None:
            result.events += 1
            if result.first_position is None:
                result.first_position = position
            found_hash = _content(event)
            if record is None:
                walk.inserted[position] = found_hash
            elif found_hash != record[0]:
                walk.altered[position] = (found_hash, record[0])
        elif record is not None:
            walk.deleted[position] = record[0]


def _content(row: Any) -> bytes:
    return content_hash(row[1], row[2], row[3], bytes(row[4]))


def _explain_events(walk: _Walk, result: Verification) -> None:
    """Altered, inserted and deleted positions, and which of them are events moved from elsewhere."""
    recorded_at: dict[bytes, int] = {}
    for position, (_, recorded) in walk.altered.items():
        recorded_at.setdefault(recorded, position)
    for position, recorded in walk.deleted.items():
        recorded_at.setdefault(recorded, position)
    found_at = {p: found for p, (found, _) in walk.altered.items()} | walk.inserted
    moved: dict[int, int] = {}  # position -> where the chain records the event now found there
    for position, found in found_at.items():
        origin = recorded_at.get(found)
        if origin is not None and origin != position:
            moved[position] = origin
    explained: set[int] = set()
    for position in sorted(moved):
        origin = moved[position]
        if position in explained:
            continue
        if moved.get(origin) == position:
            result.add(
                "reordered",
                min(position, origin),
                f"positions {min(position, origin)} and {max(position, origin)}: the two events were swapped "
                "(each is now where the other was stored)",
            )
            explained |= {position, origin}
        else:
            result.add(
                "reordered",
                position,
                f"position {position}: holds the event stored at position {origin}, moved here after it was stored",
            )
            explained |= {position, origin}
    for position in sorted(walk.altered.keys() - explained):
        result.add(
            "altered",
            position,
            f"position {position}: the event was altered after it was stored (its content, who did it, or when, "
            "no longer matches what was recorded)",
        )
    for position in sorted(walk.inserted.keys() - explained):
        result.add(
            "inserted",
            position,
            f"position {position}: an event was inserted that was never recorded in the chain",
        )
    for position in sorted(walk.deleted.keys() - explained):
        result.add("deleted", position, f"position {position}: the event stored here was deleted")


def _check_checkpoints(
    checkpoints: Sequence[Checkpoint],
    keys: dict[str, Ed25519PublicKey],
    walk: _Walk,
    result: Verification,
    service: str,
) -> None:
    trusted = []
    for checkpoint in checkpoints:
        problem = checkpoint.problem(keys) if checkpoint.service == service else f"it names {checkpoint.service!r}"
        if problem is not None:
            result.add(
                "checkpoint",
                checkpoint.position,
                f"the checkpoint of position {checkpoint.position} made {checkpoint_time(checkpoint)} (stream "
                f"sequence {checkpoint.stream_sequence}) cannot be trusted: {problem}",
            )
            continue
        trusted.append(checkpoint)
    result.checkpoints = len(trusted)
    good: Checkpoint | None = None
    rewritten: list[Checkpoint] = []
    for checkpoint in sorted(trusted, key=lambda c: (c.position, c.stream_sequence)):
        seen = walk.chain_at.get(checkpoint.position)
        if seen is None:
            if checkpoint.position > result.last_position:
                result.add(
                    "truncated",
                    checkpoint.position,
                    f"the log ends at position {result.last_position}, but a checkpoint signed "
                    f"{checkpoint_time(checkpoint)} vouches for {checkpoint.events} events up to position "
                    f"{checkpoint.position}: the events after position {result.last_position} were removed",
                )
            else:
                result.add(
                    "deleted",
                    checkpoint.position,
                    f"position {checkpoint.position}: a checkpoint signed {checkpoint_time(checkpoint)} vouches for "
                    "an event here, and neither it nor its chain record is in the log",
                )
            continue
        chained, count = seen
        if chained.hex() != checkpoint.chain_hash:
            rewritten.append(checkpoint)
            continue
        if count is not None and count != checkpoint.events:
            result.add(
                "miscounted",
                checkpoint.position,
                f"position {checkpoint.position}: the checkpoint signed {checkpoint_time(checkpoint)} counted "
                f"{checkpoint.events} events up to here; the log's chain has {count}",
            )
            continue
        good = checkpoint
    if rewritten:
        first = rewritten[0]
        before = [c for c in trusted if c.position < first.position and c not in rewritten]
        since = max((c.position for c in before), default=0)
        later = f" (and {len(rewritten) - 1} later checkpoint(s))" if len(rewritten) > 1 else ""
        result.add(
            "rewritten",
            first.position,
            f"positions {since + 1} to {first.position}: the log and its chain were rewritten together: at position "
            f"{first.position} they no longer match the checkpoint signed {checkpoint_time(first)}{later}; "
            + (
                f"they still match the checkpoint at position {since}"
                if since
                else "no earlier checkpoint to narrow it"
            ),
        )
    result.anchored = good


async def verify_log(
    conn: asyncpg.Connection,
    service: str,
    checkpoints: Sequence[Checkpoint],
    keys: dict[str, Ed25519PublicKey],
    *,
    events_table: str | None = None,
    page: int = 5_000,
) -> Verification:
    """The whole log of a service against its chain and every one of its checkpoints."""
    events = events_table or f"{service}_events"
    result = Verification(service)
    walk = _Walk(previous_link=GENESIS, previous_position=0, chain_count=0)
    # one snapshot for the whole walk: events stored meanwhile (with their chain records) are not half seen
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await _walk(conn, events, chain_table_name(events), 0, walk, result, {c.position for c in checkpoints}, page)
    _explain_events(walk, result)
    _check_checkpoints(checkpoints, keys, walk, result, service)
    return result


async def verify_tail(
    conn: asyncpg.Connection,
    service: str,
    latest: Checkpoint | None,
    keys: dict[str, Ed25519PublicKey],
    *,
    last: int = 1000,
    events_table: str | None = None,
    page: int = 5_000,
) -> Verification:
    """The last `last` events of a service's log against its chain, and its latest checkpoint (at start)."""
    events = events_table or f"{service}_events"
    chain = chain_table_name(events)
    result = Verification(service, tail_only=True)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _verify_tail(conn, result, chain, events, latest, keys, last, page)


async def _verify_tail(
    conn: asyncpg.Connection,
    result: Verification,
    chain: str,
    events: str,
    latest: Checkpoint | None,
    keys: dict[str, Ed25519PublicKey],
    last: int,
    page: int,
) -> Verification:
    start = await conn.fetchrow(
        f'SELECT notification_id, chain_hash FROM "{chain}" WHERE notification_id < ('
        f'SELECT min(notification_id) FROM (SELECT notification_id FROM "{chain}" ORDER BY notification_id DESC '
        "LIMIT $1) AS tail) ORDER BY notification_id DESC LIMIT 1",
        last,
    )
    after, previous = (start[0], bytes(start[1])) if start is not None else (0, GENESIS)
    walk = _Walk(previous_link=previous, previous_position=after, chain_count=None)
    anchored = {latest.position} if latest is not None else set()
    await _walk(conn, events, chain, after, walk, result, anchored, page)
    _explain_events(walk, result)
    if latest is not None:
        if latest.position <= after:  # before the tail: compare its chain record directly
            row = await conn.fetchrow(f'SELECT chain_hash FROM "{chain}" WHERE notification_id = $1', latest.position)
            if row is not None:
                walk.chain_at[latest.position] = (bytes(row[0]), None)
        _check_checkpoints([latest], keys, walk, result, result.service)
    return result
