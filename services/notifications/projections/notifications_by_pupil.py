"""`notifications_by_pupil`: every notification with its content and delivery status, by pupil, case and
school. Kept from the service's own log with its own position, rebuildable; read by services/notifications/
queries.py (and by the delivery worker to find what is due; it then decides on the aggregate, never here)."""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from contracts.notifications import Duty
from contracts.notifications.reference import short_reference
from contracts.people import needs_in_words
from services.notifications.domain.notification import ErasedPupil, Notification, channel_plan, without_codes
from services.runtime.dispatch import EventDispatch
from services.runtime.projection import as_columns
from services.runtime.sealing import ERASED

TABLE = "notifications_by_pupil"


class NotificationsByPupil:
    name = "notifications_by_pupil"
    version = 2  # 2: the reference, the recipient's needs, the letter, its sender and date, the notification completed

    # Columns added by version 2 to a table made by version 1 (which it then fills again from the log).
    ADDED = (
        ("reference", "text"),
        ("needs", "text"),
        ("letter", "text"),
        ("sender", "text"),
        ("dated_on", "date"),
        ("companion_of", "uuid"),
    )

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
            """
            + "".join(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {name} {kind};\n" for name, kind in self.ADDED)
            + f"""
            CREATE INDEX IF NOT EXISTS {TABLE}_pupil ON {TABLE} (pupil_id, log_position);
            CREATE INDEX IF NOT EXISTS {TABLE}_case ON {TABLE} (case_id, log_position);
            CREATE INDEX IF NOT EXISTS {TABLE}_school ON {TABLE} (school_urn, status);
            CREATE INDEX IF NOT EXISTS {TABLE}_due ON {TABLE} (status, next_attempt_at);
            CREATE INDEX IF NOT EXISTS {TABLE}_reference ON {TABLE} (reference);
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"TRUNCATE {TABLE}")

    async def apply(self, conn: asyncpg.Connection, event: Any, notification_id: int) -> None:
        await self.apply_batch(conn, [(event, notification_id)])

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[tuple[Any, int]]) -> None:
        """Fold the batch into the rows of the notifications it touches (read once), then write them back
        with one statement: each row as applying the events one at a time left it (Owed creates a row, and
        only when it is missing; every later step changes its columns and adds a line to its history)."""
        erased = [e.pupil_id for e, _ in events if isinstance(e, ErasedPupil.Recorded)]
        mine = [(e, position) for e, position in events if isinstance(e, Notification.Owed) or update.handles(e)]
        if not mine:
            if erased:
                await conn.execute(SCRUB, erased, ERASED)
            return
        touched = list({event.originator_id for event, _ in mine})
        rows: dict[UUID, dict[str, Any]] = {}
        for r in await conn.fetch(SELECT_ROWS, touched):
            found_row = dict(r)
            found_row["history"] = json.loads(found_row["history"])
            rows[found_row["notification_id"]] = found_row
        written: dict[UUID, dict[str, Any]] = {}
        for event, position in mine:
            nid = event.originator_id
            row = rows.get(nid)
            if isinstance(event, Notification.Owed):
                if row is None:
                    rows[nid] = written[nid] = owed_row(event, position)
                continue
            found = update(event)
            if found is None or row is None:
                continue
            changes, detail = found
            channel = getattr(event, "channel", None)
            step = _step(event, changes.get("status", "redated"), channel, detail)
            unreachable = isinstance(event, Notification.SendFailed) and event.channel_unreachable
            if unreachable:  # (the channel that failed, not the one to try next)
                row["unreachable_channels"] = [*row["unreachable_channels"], channel]
            if row["duty"] == Duty.ACCESS_INVITATION:  # its one-time code is for the person invited only
                changes = {
                    k: without_codes(v) if k in ("subject", "body", "sms", "letter") else v for k, v in changes.items()
                }
            row.update(changes)
            row["updated_at"] = event.timestamp
            row["history"] = [*row["history"], step]
            written[nid] = row
        if written:
            values = []
            for row in written.values():
                row["unreachable_channels"] = json.dumps(row["unreachable_channels"])
                row["history"] = json.dumps(row["history"])
                values.append(row_values(row))
            await conn.execute(UPSERT_ROWS, *as_columns(values, len(COLUMNS)))
        if erased:  # after the batch's own rows: every copy of what was said about the child, and to whom, goes
            await conn.execute(SCRUB, erased, ERASED)


def owed_row(event: Any, position: int) -> dict[str, Any]:
    r = event.recipient or {}
    sender = (event.facts or {}).get("sender") or {}
    return {
        "notification_id": event.originator_id,
        "pupil_id": event.pupil_id,
        "case_id": event.case_id,
        "school_urn": event.school_urn,
        "duty": event.duty,
        "person_id": event.person_id,
        "recipient_name": r.get("name"),
        "relationship": r.get("relationship"),
        "status": "owed",
        # the first channel it may go on (a complete letter sent besides a text goes by post only)
        "channel": next(
            iter(channel_plan(event.recipient, getattr(event, "channels", None))), r.get("preferred_channel")
        ),
        "reason": None,
        "unreachable_channels": [],
        "attempts": 0,
        "subject": None,
        "body": None,
        "sms": None,
        "content_hash": None,
        "provider_reference": None,
        "next_attempt_at": None,
        "cause_event_id": event.cause_event_id,
        "cause_event_type": event.cause_event_type,
        "owed_since": event.owed_since,
        "recorded_at": event.timestamp,
        "updated_at": event.timestamp,
        "history": [_step(event, "owed", None, f"because of {event.cause_event_type}")],
        "log_position": position,
        "reference": short_reference(event.originator_id),
        "needs": needs_in_words(r.get("needs")),
        "letter": None,
        "sender": sender.get("organisation"),
        "dated_on": None,
        "companion_of": getattr(event, "companion_of", None),
    }


COLUMNS = (
    ("notification_id", "uuid"),
    ("pupil_id", "uuid"),
    ("case_id", "uuid"),
    ("school_urn", "text"),
    ("duty", "text"),
    ("person_id", "uuid"),
    ("recipient_name", "text"),
    ("relationship", "text"),
    ("status", "text"),
    ("channel", "text"),
    ("reason", "text"),
    ("unreachable_channels", "text[]"),  # passed as a JSON list (unnest cannot take an array of arrays)
    ("attempts", "int"),
    ("subject", "text"),
    ("body", "text"),
    ("sms", "text"),
    ("content_hash", "text"),
    ("provider_reference", "text"),
    ("next_attempt_at", "timestamptz"),
    ("cause_event_id", "uuid"),
    ("cause_event_type", "text"),
    ("owed_since", "date"),
    ("recorded_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("history", "jsonb"),
    ("log_position", "bigint"),
    *NotificationsByPupil.ADDED,
)
JSON_COLUMNS = {"unreachable_channels", "history"}
row_values = operator.itemgetter(*(name for name, _ in COLUMNS))
SELECT_ROWS = f"SELECT {', '.join(name for name, _ in COLUMNS)} FROM {TABLE} WHERE notification_id = ANY($1::uuid[])"


def _upsert() -> str:
    names = [name for name, _ in COLUMNS]
    arrays = ", ".join(
        f"${i}::text[]" if name in JSON_COLUMNS else f"${i}::{kind}[]" for i, (name, kind) in enumerate(COLUMNS, 1)
    )
    selected = ", ".join(
        "ARRAY(SELECT jsonb_array_elements_text(u.unreachable_channels::jsonb))"
        if name == "unreachable_channels"
        else "u.history::jsonb"
        if name == "history"
        else f"u.{name}"
        for name in names
    )
    sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name != "notification_id")
    return (
        f"INSERT INTO {TABLE} ({', '.join(names)}) SELECT {selected} FROM unnest({arrays}) AS u({', '.join(names)}) "
        f"ON CONFLICT (notification_id) DO UPDATE SET {sets}"
    )


UPSERT_ROWS = _upsert()


# Each step after Owed: the columns it changes, and the words for the notification's history.
update = EventDispatch[tuple[dict[str, Any], str | None]]("notifications_by_pupil columns changed")


@update.on(Notification.Rendered)
def _(e: Any) -> tuple[dict[str, Any], str | None]:
    dated_on = getattr(e, "dated_on", None)  # None: written before messages were dated (December 2026)
    changes = {
        "status": "rendered",
        "subject": e.subject,
        "body": e.body,
        "sms": e.sms,
        "content_hash": e.content_hash,
        "letter": getattr(e, "letter", None),
        "dated_on": dated_on,
    }
    dated = f", dated {dated_on:%d %B %Y}" if dated_on else ""
    return changes, f"content written from template {e.template}{dated}, sha256 {e.content_hash}"


@update.on(Notification.Redated)
def _(e: Any) -> tuple[dict[str, Any], str | None]:
    # the status stays what it is (rendered, or retry_due): only the content and its date change
    changes = {
        "subject": e.subject,
        "body": e.body,
        "sms": e.sms,
        "letter": e.letter,
        "content_hash": e.content_hash,
        "dated_on": e.dated_on,
    }
    return changes, f"written again, dated {e.dated_on:%d %B %Y} (the day it is sent), sha256 {e.content_hash}"


update.on(Notification.CouldNotNotify)(lambda e: ({"status": "cannot_notify", "reason": e.reason}, e.reason))
update.on(Notification.SendingStarted)(
    lambda e: (
        {"status": "sending", "channel": e.channel, "attempts": e.attempt, "next_attempt_at": None},
        f"attempt {e.attempt}, key {e.key}",
    )
)


@update.on(Notification.Sent)
def _(e: Any) -> tuple[dict[str, Any], str | None]:
    detail = f"{e.how}; reference {e.provider_reference}"
    sent_sha256 = getattr(e, "sent_sha256", None)  # None: not recorded (stored before 2026-12)
    if sent_sha256 and sent_sha256 not in e.how:
        detail += f"; sent sha256 {sent_sha256}"
    return {"status": "sent", "provider_reference": e.provider_reference}, detail


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


# A child's personal data erased (services/notifications/domain/notification.py ErasedPupil): what each row
# quoted (whom it was to, what it said, the reasons and each step's detail) goes; statuses and dates stay.
SCRUB = f"""
    UPDATE {TABLE} SET
        recipient_name = CASE WHEN recipient_name IS NULL THEN NULL ELSE $2 END,
        reason = CASE WHEN reason IS NULL THEN NULL ELSE $2 END,
        subject = CASE WHEN subject IS NULL THEN NULL ELSE $2 END,
        body = CASE WHEN body IS NULL THEN NULL ELSE $2 END,
        sms = CASE WHEN sms IS NULL THEN NULL ELSE $2 END,
        letter = CASE WHEN letter IS NULL THEN NULL ELSE $2 END,
        needs = CASE WHEN needs IS NULL THEN NULL ELSE $2 END,
        history = (SELECT coalesce(jsonb_agg(CASE WHEN h->'detail' = 'null'::jsonb THEN h
                                                  ELSE jsonb_set(h, '{{detail}}', to_jsonb($2::text)) END
                                             ORDER BY n), '[]'::jsonb)
                   FROM jsonb_array_elements(history) WITH ORDINALITY AS x(h, n))
    WHERE pupil_id = ANY($1::uuid[])
"""
