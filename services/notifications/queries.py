"""The notifications service's read side: what was owed, sent, delivered or not, to whom.

`NotificationsQueries` holds the routes' query methods: each applies who may see what (the rules in
domain/rules.py), waits (bounded) until the view has caught up, then reads. The functions below are the
reads themselves; the delivery worker uses the last three to find candidates.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.envelope import Actor
from contracts.notifications import (
    UNDELIVERED,
    CountsView,
    NotificationDelivered,
    NotificationsPage,
    NotificationView,
)
from services.notifications.domain.rules import addressed_to, check_may_read, own_school_only, school_scope
from services.notifications.projections import TABLE
from services.runtime.access import check_granted, reads_by_grant
from services.runtime.eventstore import EventStore
from services.runtime.paging import decode_cursor, encode_cursor, invalid_cursor
from services.runtime.projection import ReadModels


class NotificationsQueries:
    def __init__(self, read_models: ReadModels, store: EventStore[Any] | None = None) -> None:
        self.read_models = read_models
        self.pool = read_models.pool
        self.store = store  # for the grants families and professionals read by (domain/grants.py)

    async def _grants(self, pupil_id: UUID) -> list[Any]:
        if self.store is None:
            return []
        return await self.store.call(None, self.store.app.reader_grants, pupil_id)

    async def for_pupil(self, *, pupil_id: UUID, actor: Actor, today: date) -> list[NotificationView]:
        if reads_by_grant(actor):  # a parent, young person or professional: the messages to them, by their grant
            grant = check_granted(actor, await self._grants(pupil_id), pupil_id, today)
            await self.read_models.caught_up()
            return addressed_to(grant, await notifications_for_pupil(self.pool, pupil_id))
        check_may_read(actor)
        await self.read_models.caught_up()
        return own_school_only(actor, await notifications_for_pupil(self.pool, pupil_id))

    async def for_case(self, *, case_id: UUID, actor: Actor, today: date) -> list[NotificationView]:
        if reads_by_grant(actor):
            await self.read_models.caught_up()
            found = await notifications_for_case(self.pool, case_id)
            pupil_id = found[0].pupil_id if found else None  # none found: refused alike, nothing learnt
            grants = await self._grants(pupil_id) if pupil_id is not None else []
            grant = check_granted(actor, grants, pupil_id, today, case_id=case_id)
            return addressed_to(grant, found)
        check_may_read(actor)
        await self.read_models.caught_up()
        return own_school_only(actor, await notifications_for_case(self.pool, case_id))

    async def by_reference(self, *, reference: str, actor: Actor, today: date) -> list[NotificationView]:
        """The message a person quotes by its reference (or its id). A parent, young person or professional finds
        only a message sent to them, by their grant; anyone else's, or none, is refused in the same words."""
        if reads_by_grant(actor):
            await self.read_models.caught_up()
            found = await notifications_by_reference(self.pool, reference)
            pupil_id = found[0].pupil_id if found else None
            grants = await self._grants(pupil_id) if pupil_id is not None else []
            grant = check_granted(actor, grants, pupil_id, today)
            return addressed_to(grant, found)
        check_may_read(actor)
        await self.read_models.caught_up()
        return own_school_only(actor, await notifications_by_reference(self.pool, reference))

    async def undelivered(
        self, *, school_urn: str | None, page_size: int, after: str | None, actor: Actor
    ) -> NotificationsPage:
        check_may_read(actor)
        position = _position_after(after)
        await self.read_models.caught_up()
        return await undelivered(self.pool, school_scope(actor, school_urn), page_size=page_size, after=position)

    async def failed_to_reach(
        self, *, school_urn: str | None, page_size: int, after: str | None, actor: Actor
    ) -> NotificationsPage:
        check_may_read(actor)
        position = _position_after(after)
        await self.read_models.caught_up()
        return await failed_to_reach(self.pool, school_scope(actor, school_urn), page_size=page_size, after=position)

    async def counts(self, *, school_urn: str | None, actor: Actor) -> CountsView:
        check_may_read(actor)
        await self.read_models.caught_up()
        return await counts(self.pool, school_scope(actor, school_urn))


def _view(r: asyncpg.Record) -> NotificationView:
    return NotificationView(
        notification_id=r["notification_id"],
        duty=r["duty"],
        pupil_id=r["pupil_id"],
        case_id=r["case_id"],
        school_urn=r["school_urn"],
        person_id=r["person_id"],
        recipient_name=r["recipient_name"],
        relationship=r["relationship"],
        recipients=f"{r['recipient_name']} ({r['relationship']})" if r["recipient_name"] else "nobody recorded",
        status=r["status"],
        channel=r["channel"],
        reason=r["reason"],
        unreachable_channels=list(r["unreachable_channels"]),
        attempts=r["attempts"],
        subject=r["subject"],
        body=r["body"],
        content_hash=r["content_hash"],
        cause_event_id=r["cause_event_id"],
        cause_event_type=r["cause_event_type"],
        owed_since=r["owed_since"],
        recorded_at=r["recorded_at"],
        updated_at=r["updated_at"],
        history=json.loads(r["history"]),
        reference=r["reference"],
        needs=r["needs"],
        letter=r["letter"],
        sender=r["sender"],
        dated_on=r["dated_on"],
        companion_of=r["companion_of"],
    )


async def notifications_for_pupil(pool: asyncpg.Pool, pupil_id: UUID) -> list[NotificationView]:
    rows = await pool.fetch(f"SELECT * FROM {TABLE} WHERE pupil_id = $1 ORDER BY log_position", pupil_id)
    return [_view(r) for r in rows]


async def notifications_by_reference(pool: asyncpg.Pool, reference: str) -> list[NotificationView]:
    """By the short reference printed on a message, or by its notification id (as the query normalised it)."""
    try:
        rows = await pool.fetch(
            f"SELECT * FROM {TABLE} WHERE notification_id = $1 ORDER BY log_position", UUID(reference)
        )
    except ValueError:
        rows = await pool.fetch(f"SELECT * FROM {TABLE} WHERE reference = $1 ORDER BY log_position", reference)
    return [_view(r) for r in rows]


async def notifications_for_case(pool: asyncpg.Pool, case_id: UUID) -> list[NotificationView]:
    rows = await pool.fetch(f"SELECT * FROM {TABLE} WHERE case_id = $1 ORDER BY log_position", case_id)
    return [_view(r) for r in rows]


def _position_after(after: str | None) -> int:
    """The log position a page of notifications starts after (0: the first page)."""
    found = decode_cursor(after, keys=("position",))
    if found is None:
        return 0
    if not isinstance(found["position"], int) or found["position"] < 0:
        raise invalid_cursor()
    return found["position"]


def _page(rows: list[asyncpg.Record], page_size: int | None) -> NotificationsPage:
    """Notifications in the order they were first owed (log_position: the position of the Owed event, never
    changed after), so the next page starts after the last one's."""
    more = page_size is not None and len(rows) == page_size
    return NotificationsPage(
        notifications=[_view(r) for r in rows],
        next_after=encode_cursor(position=rows[-1]["log_position"]) if more else None,
    )


async def undelivered(
    pool: asyncpg.Pool, school_urn: str | None, *, page_size: int | None = None, after: int = 0
) -> NotificationsPage:
    rows = await pool.fetch(
        f"SELECT * FROM {TABLE} WHERE status = ANY($1::text[]) AND ($2::text IS NULL OR school_urn = $2) "
        "AND log_position > $3 ORDER BY log_position LIMIT $4",
        [s.value for s in UNDELIVERED],
        school_urn,
        after,
        page_size,
    )
    return _page(rows, page_size)


async def failed_to_reach(
    pool: asyncpg.Pool, school_urn: str | None, *, page_size: int | None = None, after: int = 0
) -> NotificationsPage:
    """Nobody could be reached, or some channel could not reach them (e.g. an invalid email address)."""
    rows = await pool.fetch(
        f"SELECT * FROM {TABLE} WHERE status <> 'cancelled' "
        "AND (status IN ('failed', 'cannot_notify') OR cardinality(unreachable_channels) > 0) "
        "AND ($1::text IS NULL OR school_urn = $1) AND log_position > $2 ORDER BY log_position LIMIT $3",
        school_urn,
        after,
        page_size,
    )
    return _page(rows, page_size)


async def counts(pool: asyncpg.Pool, school_urn: str | None) -> CountsView:
    rows = await pool.fetch(
        f"SELECT duty, status, count(*) AS n FROM {TABLE} WHERE ($1::text IS NULL OR school_urn = $1) "
        "GROUP BY duty, status",
        school_urn,
    )
    by_status: dict[str, int] = {}
    by_duty: dict[str, dict[str, int]] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        by_duty.setdefault(r["duty"], {})[r["status"]] = r["n"]
    return CountsView(school_urn=school_urn, total=sum(by_status.values()), by_status=by_status, by_duty=by_duty)


async def due_for_delivery(pool: asyncpg.Pool, now: datetime, limit: int) -> list[tuple[UUID, str | None]]:
    rows = await pool.fetch(
        f"SELECT notification_id, channel FROM {TABLE} WHERE status = 'rendered' "
        "OR (status = 'retry_due' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)) "
        "ORDER BY log_position LIMIT $2",
        now,
        limit,
    )
    return [(r["notification_id"], r["channel"]) for r in rows]


async def next_retry_at(pool: asyncpg.Pool, now: datetime) -> datetime | None:
    """When the next send waiting to be tried again (later than now) falls due, if any."""
    return await pool.fetchval(
        f"SELECT min(next_attempt_at) FROM {TABLE} WHERE status = 'retry_due' AND next_attempt_at > $1", now
    )


async def interrupted_sends(pool: asyncpg.Pool, started_before: datetime | None) -> list[UUID]:
    """Sends recorded as started and not finished: all of them (at start), or those older than a time."""
    rows = await pool.fetch(
        f"SELECT notification_id FROM {TABLE} WHERE status = 'sending' "
        "AND ($1::timestamptz IS NULL OR updated_at < $1) ORDER BY log_position",
        started_before,
    )
    return [r["notification_id"] for r in rows]


async def awaiting_receipt(pool: asyncpg.Pool, provider_channels: list[str], limit: int) -> list[UUID]:
    rows = await pool.fetch(
        f"SELECT notification_id FROM {TABLE} WHERE status = 'sent' AND channel = ANY($1::text[]) "
        "ORDER BY updated_at LIMIT $2",
        provider_channels,
        limit,
    )
    return [r["notification_id"] for r in rows]


async def delivered_before_restore(pool: asyncpg.Pool) -> dict[tuple[UUID, str], str]:
    """(notification id, channel) -> the stream's message id, for each delivery the stream recorded but the
    database lost with a restore (services/runtime/recovery.py keeps them in runtime_lost_facts)."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT to_regclass('runtime_lost_facts') IS NOT NULL"):
            return {}
        found = await conn.fetch(
            """SELECT message_id, event->'payload'->>'notification_id' AS notification_id,
                      event->'payload'->>'channel' AS channel
               FROM runtime_lost_facts WHERE type = $1""",
            NotificationDelivered.TYPE,
        )
    return {(UUID(r["notification_id"]), r["channel"]): r["message_id"] for r in found}
