"""Read model: every notification, findable by pupil and school (asyncpg, rebuildable from the log)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from contracts.notifications import Duty, NotificationView
from services.notifications.domain.notification import Notification


class NotificationsByPupil:
    name = "notifications_by_pupil"

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS notifications_by_pupil (
                notification_id   uuid PRIMARY KEY,
                pupil_id          uuid NOT NULL,
                school_urn        text NOT NULL,
                duty              text NOT NULL,
                recipients        text NOT NULL,
                status            text NOT NULL,
                cause_event_id    uuid NOT NULL,
                cause_event_type  text NOT NULL,
                owed_since        date NOT NULL,
                recorded_at       timestamptz NOT NULL,
                log_position      bigint NOT NULL
            );
            CREATE INDEX IF NOT EXISTS notifications_by_pupil_pupil ON notifications_by_pupil (pupil_id, log_position);
            CREATE INDEX IF NOT EXISTS notifications_by_pupil_school ON notifications_by_pupil (school_urn);
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE notifications_by_pupil")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        if isinstance(event, Notification.Owed):
            await conn.execute(
                """
                INSERT INTO notifications_by_pupil VALUES ($1, $2, $3, $4, $5, 'owed', $6, $7, $8, $9, $10)
                ON CONFLICT (notification_id) DO NOTHING
                """,
                event.originator_id, event.pupil_id, event.school_urn, event.duty, event.recipients,
                event.cause_event_id, event.cause_event_type, event.owed_since, event.timestamp,
                notification_id,
            )


async def notifications_for_pupil(pool: asyncpg.Pool, pupil_id: UUID) -> list[NotificationView]:
    rows = await pool.fetch(
        "SELECT * FROM notifications_by_pupil WHERE pupil_id = $1 ORDER BY log_position", pupil_id
    )
    return [
        NotificationView(
            notification_id=r["notification_id"], duty=Duty(r["duty"]), pupil_id=r["pupil_id"],
            school_urn=r["school_urn"], recipients=r["recipients"], status=r["status"],
            cause_event_id=r["cause_event_id"], cause_event_type=r["cause_event_type"],
            owed_since=r["owed_since"], recorded_at=r["recorded_at"],
        )
        for r in rows
    ]
