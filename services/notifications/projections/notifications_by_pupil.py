"""`notifications_by_pupil`: every notification with its content and delivery status, by pupil, case and
school. Kept from the service's own log with its own position, rebuildable; read by services/notifications/
queries.py (and by the delivery worker to find what is due; it then decides on the aggregate, never here)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.notifications.domain.notification import Notification
from services.runtime.dispatch import EventDispatch

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
                event.originator_id,
                event.pupil_id,
                event.case_id,
                event.school_urn,
                event.duty,
                event.person_id,
                r.get("name"),
                r.get("relationship"),
                r.get("preferred_channel"),
                event.cause_event_id,
                event.cause_event_type,
                event.owed_since,
                event.timestamp,
                json.dumps([_step(event, "owed", None, f"because of {event.cause_event_type}")]),
                notification_id,
            )
            return
        found = update(event)
        if found is None:
            return
        changes, detail = found
        channel = getattr(event, "channel", None)
        step = _step(event, changes["status"], channel, detail)
        sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=4))
        unreachable = ""
        if isinstance(event, Notification.SendFailed) and event.channel_unreachable:
            unreachable = f", unreachable_channels = array_append(unreachable_channels, ${len(changes) + 4})"
        args = [event.originator_id, event.timestamp, json.dumps([step]), *changes.values()]
        if unreachable:
            args.append(channel)
        await conn.execute(
            f"UPDATE {TABLE} SET {sets}{unreachable}, updated_at = $2, history = history || $3::jsonb "
            "WHERE notification_id = $1",
            *args,
        )


# Each step after Owed: the columns it changes, and the words for the notification's history.
update = EventDispatch[tuple[dict[str, Any], str | None]]("notifications_by_pupil columns changed")


@update.on(Notification.Rendered)
def _(e: Any) -> tuple[dict[str, Any], str | None]:
    return (
        {"status": "rendered", "subject": e.subject, "body": e.body, "sms": e.sms, "content_hash": e.content_hash},
        f"content written from template {e.template}, sha256 {e.content_hash}",
    )


update.on(Notification.CouldNotNotify)(lambda e: ({"status": "cannot_notify", "reason": e.reason}, e.reason))
update.on(Notification.SendingStarted)(
    lambda e: (
        {"status": "sending", "channel": e.channel, "attempts": e.attempt, "next_attempt_at": None},
        f"attempt {e.attempt}, key {e.key}",
    )
)
update.on(Notification.Sent)(
    lambda e: (
        {"status": "sent", "provider_reference": e.provider_reference},
        f"{e.how}; reference {e.provider_reference}",
    )
)
update.on(Notification.Delivered)(lambda e: ({"status": "delivered"}, e.evidence))


@update.on(Notification.SendFailed)
def _(e: Any) -> tuple[dict[str, Any], str | None]:
    changes = {
        "status": "retry_due" if e.next_channel else "failed",
        "reason": e.reason,
        "channel": e.next_channel or e.channel,
        "next_attempt_at": e.retry_at,
    }
    return changes, e.reason + (f"; next: {e.next_channel}" if e.next_channel else "; no channel left")


update.on(Notification.Cancelled)(lambda e: ({"status": "cancelled", "reason": e.reason}, e.reason))
update.on(Notification.ToldLater)(
    lambda e: ({"status": "told_later", "reason": e.because}, f"{e.because}: {len(e.owed_to)} notification(s)")
)


def _step(event: Any, what: str, channel: str | None, detail: str | None) -> dict[str, Any]:
    actor = (getattr(event, "meta", None) or {}).get("actor", {})
    return {
        "at": event.timestamp.isoformat(),
        "what": what,
        "channel": channel,
        "detail": detail,
        "by": actor.get("user_id"),
    }
