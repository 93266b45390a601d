"""Read model: every notification with its content and delivery status, by pupil, case and school.

asyncpg, kept from the service's own log with its own position, rebuildable. The delivery worker also
reads it to find what is due (and then decides on the aggregate, never on this view).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.notifications import UNDELIVERED, CountsView, NotificationView
from services.notifications.domain.notification import Notification

TABLE = "notifications_by_pupil"


class NotificationsByPupil:
    name = "notifications_by_pupil"

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {TABLE} (
                notification_id      uuid PRIMARY KEY,
                pupil_id             uuid NOT NULL,
                case_id              uuid,
                school_urn           text,
                duty                 text NOT NULL,
                person_id            uuid,
                recipient_name       text,
                relationship         text,
                status               text NOT NULL,
                channel              text,
                reason               text,
                unreachable_channels text[] NOT NULL DEFAULT '{{}}',
                attempts             int NOT NULL DEFAULT 0,
                subject              text,
                body                 text,
                sms                  text,
                content_hash         text,
                provider_reference   text,
                next_attempt_at      timestamptz,
                cause_event_id       uuid NOT NULL,
                cause_event_type     text NOT NULL,
                owed_since           date NOT NULL,
                recorded_at          timestamptz NOT NULL,
                updated_at           timestamptz NOT NULL,
                history              jsonb NOT NULL DEFAULT '[]',
                log_position         bigint NOT NULL
            );
            CREATE INDEX IF NOT EXISTS {TABLE}_pupil ON {TABLE} (pupil_id, log_position);
            CREATE INDEX IF NOT EXISTS {TABLE}_case ON {TABLE} (case_id, log_position);
            CREATE INDEX IF NOT EXISTS {TABLE}_school ON {TABLE} (school_urn, status);
            CREATE INDEX IF NOT EXISTS {TABLE}_due ON {TABLE} (status, next_attempt_at);
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"TRUNCATE {TABLE}")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        if isinstance(event, Notification.Owed):
            r = event.recipient or {}
            await conn.execute(
                f"""
                INSERT INTO {TABLE} (notification_id, pupil_id, case_id, school_urn, duty, person_id,
                    recipient_name, relationship, status, channel, cause_event_id, cause_event_type, owed_since,
                    recorded_at, updated_at, history, log_position)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'owed', $9, $10, $11, $12, $13, $13, $14, $15)
                ON CONFLICT (notification_id) DO NOTHING
                """,
                event.originator_id, event.pupil_id, event.case_id, event.school_urn, event.duty, event.person_id,
                r.get("name"), r.get("relationship"), r.get("preferred_channel"), event.cause_event_id,
                event.cause_event_type, event.owed_since, event.timestamp,
                json.dumps([_step(event, "owed", None, f"because of {event.cause_event_type}")]), notification_id,
            )
            return
        name = type(event).__name__
        changes: dict[str, Any] = {}
        channel = getattr(event, "channel", None)
        detail: str | None = None
        if name == "Rendered":
            changes = {"status": "rendered", "subject": event.subject, "body": event.body, "sms": event.sms,
                       "content_hash": event.content_hash}
            detail = f"content written from template {event.template}, sha256 {event.content_hash}"
        elif name == "CouldNotNotify":
            changes = {"status": "cannot_notify", "reason": event.reason}
            detail = event.reason
        elif name == "SendingStarted":
            changes = {"status": "sending", "channel": channel, "attempts": event.attempt, "next_attempt_at": None}
            detail = f"attempt {event.attempt}, key {event.key}"
        elif name == "Sent":
            changes = {"status": "sent", "provider_reference": event.provider_reference}
            detail = f"{event.how}; reference {event.provider_reference}"
        elif name == "Delivered":
            changes = {"status": "delivered"}
            detail = event.evidence
        elif name == "SendFailed":
            changes = {
                "status": "retry_due" if event.next_channel else "failed", "reason": event.reason,
                "channel": event.next_channel or channel, "next_attempt_at": event.retry_at,
            }
            detail = event.reason + (f"; next: {event.next_channel}" if event.next_channel else "; no channel left")
        elif name == "Cancelled":
            changes = {"status": "cancelled", "reason": event.reason}
            detail = event.reason
        else:
            return
        step = _step(event, changes["status"], channel, detail)
        sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=4))
        unreachable = ""
        if name == "SendFailed" and event.channel_unreachable:
            unreachable = f", unreachable_channels = array_append(unreachable_channels, ${len(changes) + 4})"
        args = [event.originator_id, event.timestamp, json.dumps([step]), *changes.values()]
        if unreachable:
            args.append(channel)
        await conn.execute(
            f"UPDATE {TABLE} SET {sets}{unreachable}, updated_at = $2, history = history || $3::jsonb "
            "WHERE notification_id = $1",
            *args,
        )


def _step(event: Any, what: str, channel: str | None, detail: str | None) -> dict[str, Any]:
    actor = (getattr(event, "meta", None) or {}).get("actor", {})
    return {"at": event.timestamp.isoformat(), "what": what, "channel": channel, "detail": detail,
            "by": actor.get("user_id")}


def _view(r: asyncpg.Record) -> NotificationView:
    return NotificationView(
        notification_id=r["notification_id"], duty=r["duty"], pupil_id=r["pupil_id"], case_id=r["case_id"],
        school_urn=r["school_urn"], person_id=r["person_id"], recipient_name=r["recipient_name"],
        relationship=r["relationship"],
        recipients=f"{r['recipient_name']} ({r['relationship']})" if r["recipient_name"] else "nobody recorded",
        status=r["status"], channel=r["channel"], reason=r["reason"],
        unreachable_channels=list(r["unreachable_channels"]), attempts=r["attempts"], subject=r["subject"],
        body=r["body"], content_hash=r["content_hash"], cause_event_id=r["cause_event_id"],
        cause_event_type=r["cause_event_type"], owed_since=r["owed_since"], recorded_at=r["recorded_at"],
        updated_at=r["updated_at"], history=json.loads(r["history"]),
    )


async def notifications_for_pupil(pool: asyncpg.Pool, pupil_id: UUID) -> list[NotificationView]:
    rows = await pool.fetch(f"SELECT * FROM {TABLE} WHERE pupil_id = $1 ORDER BY log_position", pupil_id)
    return [_view(r) for r in rows]


async def notifications_for_case(pool: asyncpg.Pool, case_id: UUID) -> list[NotificationView]:
    rows = await pool.fetch(f"SELECT * FROM {TABLE} WHERE case_id = $1 ORDER BY log_position", case_id)
    return [_view(r) for r in rows]


async def undelivered(pool: asyncpg.Pool, school_urn: str | None) -> list[NotificationView]:
    rows = await pool.fetch(
        f"SELECT * FROM {TABLE} WHERE status = ANY($1::text[]) AND ($2::text IS NULL OR school_urn = $2) "
        "ORDER BY log_position",
        [s.value for s in UNDELIVERED], school_urn,
    )
    return [_view(r) for r in rows]


async def failed_to_reach(pool: asyncpg.Pool, school_urn: str | None) -> list[NotificationView]:
    """Nobody could be reached, or some channel could not reach them (e.g. an invalid email address)."""
    rows = await pool.fetch(
        f"SELECT * FROM {TABLE} WHERE status <> 'cancelled' "
        "AND (status IN ('failed', 'cannot_notify') OR cardinality(unreachable_channels) > 0) "
        "AND ($1::text IS NULL OR school_urn = $1) ORDER BY log_position",
        school_urn,
    )
    return [_view(r) for r in rows]


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
        now, limit,
    )
    return [(r["notification_id"], r["channel"]) for r in rows]


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
        provider_channels, limit,
    )
    return [r["notification_id"] for r in rows]
