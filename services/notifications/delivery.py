"""The delivery worker: sends what is due, exactly once, and follows it until it arrives.

Exactly once, step by step:
1. "SendingStarted" is saved BEFORE anything leaves (optimistic concurrency: two workers cannot both
   start the same send; the loser's save conflicts and it moves on).
2. The channel is called with the send key ("<notification id>.<channel>": outbox file name, SMTP
   Message-ID, Notify reference).
3. "Sent" (and, for the file outbox, "Delivered") is saved AFTER.
A crash between 1 and 3 leaves the notification "sending". On start, and for any send left "sending"
longer than `interrupted_after_seconds`, the worker reconciles: it asks the channel whether the key is
already there (the file exists; Notify has a message with that reference) and records what it finds; only
if the channel has no such message is it sent, with the same key. SMTP cannot be asked, so an interrupted
SMTP send is sent again with the same Message-ID (docs/notifications.md says so plainly).
After a restore of the database (`sendcase recover notifications`), a notification owed again by the replay
whose delivery the stream recorded (runtime_lost_facts) is recorded as delivered, not sent again.

Failures: a transient one is retried on the same channel with backoff; a permanent one (or attempts used
up) marks the channel unreachable and moves to the recipient's next channel; when none is left the
notification has failed to reach them and appears in the failed-to-reach list.

The worker reads the read model only to find candidates; every decision is taken on the aggregate.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import RecordConflictError

from contracts.envelope import Actor
from services.notifications import queries
from services.notifications.adapters.channels import Message, Outcome, PermanentFailure, TransientFailure, Transport
from services.notifications.application import Notifications
from services.notifications.domain.notification import Notification
from services.notifications.settings import NotificationsSettings
from services.runtime.clock import Clock
from services.runtime.context import CommandContext
from services.runtime.errors import DomainError
from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger
from services.runtime.retry import Backoff
from services.runtime.singleton import run_in_one_replica

log = get_logger(__name__)


def message_for(n: Notification, channel: str) -> Message:
    assert n.content is not None and n.recipient is not None and n.content_hash is not None
    return Message(
        notification_id=n.id,
        pupil_id=n.pupil_id,
        key=n.send_key(channel),
        channel=channel,
        recipient=n.recipient,
        subject=n.content["subject"],
        body=n.content["body"],
        sms=n.content["sms"],
        content_hash=n.content_hash,
    )


class DeliveryWorker:
    def __init__(
        self,
        store: EventStore[Notifications],
        transports: dict[str, Transport],
        clock: Clock,
        settings: NotificationsSettings,
    ) -> None:
        self.store = store
        self.app = store.app
        self.transports = transports  # channel ("email", "sms", "letter") -> transport
        self.clock = clock
        self.settings = settings
        self.backoff = Backoff.of(settings.delivery_backoff_seconds)
        self.actor = Actor.service("notifications")
        self.sends = 0  # calls to a channel's send, for tests and the benchmark
        # Deliveries the stream recorded and the database lost with a restore (read on start): such a message,
        # owed again by the consumers' replay, is recorded as delivered, never sent twice.
        self.delivered_before_restore: dict[tuple[UUID, str], str] = {}

    def _ctx(self, notification_id: UUID) -> CommandContext:
        return CommandContext(actor=self.actor, now=self.clock.now(), correlation_id=notification_id)

    async def _call(self, notification_id: UUID, fn: Any, *args: Any) -> Any:
        return await self.store.call(self._ctx(notification_id), fn, *args)

    # -- the loop -----------------------------------------------------------------------------------------

    name = "delivery"

    async def run(self, runtime: Any) -> None:
        """The service's delivery worker: one per deployment, whatever the number of replicas (on start it
        reconciles sends left half-done, which must not be another replica's sends in flight)."""
        pool = runtime.pool
        await run_in_one_replica(
            self.settings.database_url or "", "notifications-delivery", lambda: self.deliver_forever(pool)
        )

    async def deliver_forever(self, pool: asyncpg.Pool) -> None:
        self.delivered_before_restore = await queries.delivered_before_restore(pool)
        await self.reconcile_interrupted(pool, at_start=True)
        receipts_due = 0.0
        loop = asyncio.get_running_loop()
        while True:
            done = await self.deliver_due(pool)
            await self.reconcile_interrupted(pool)
            if loop.time() >= receipts_due:
                await self.poll_receipts(pool)
                receipts_due = loop.time() + self.settings.receipt_poll_seconds
            if not done:
                await asyncio.sleep(self.settings.delivery_poll_seconds)

    async def deliver_due(self, pool: asyncpg.Pool) -> int:
        due = await queries.due_for_delivery(pool, self.clock.now(), self.settings.delivery_batch_size)
        limit = asyncio.Semaphore(self.settings.delivery_concurrency)  # several sends in flight; each one in order

        async def one(notification_id: UUID, channel: str | None) -> bool:
            async with limit:
                return await self.deliver(notification_id, channel)

        return sum(await asyncio.gather(*(one(n, c) for n, c in due)))

    # -- one send -----------------------------------------------------------------------------------------

    async def deliver(self, notification_id: UUID, channel: str | None = None) -> bool:
        if channel is None:
            n: Notification = await self._call(notification_id, self.app.notification, notification_id)
            if n.channel is None:
                return False
            channel = n.channel
        try:
            n = await self._call(notification_id, self.app.start_sending, notification_id, channel)
        except (RecordConflictError, DomainError):
            return False  # not due (yet, or any more), or another worker started it first
        known = self.delivered_before_restore.get((n.id, channel))
        if known is not None:
            how = f"delivered before the database was restored from a backup ({known} on the stream): not sent again"
            await self._record(n.id, channel, Outcome(reference=known, delivered=True, how=how), how)
            return True
        await self._send(n, channel, message_for(n, channel), after_interruption=False)
        return True

    async def _send(self, n: Notification, channel: str, message: Message, after_interruption: bool) -> None:
        transport = self.transports[channel]
        self.sends += 1
        try:
            outcome = await transport.send(message)
        except PermanentFailure as e:
            await self._failed(n, channel, str(e), permanent=True)
            return
        except TransientFailure as e:
            await self._failed(n, channel, str(e), permanent=False)
            return
        except Exception as e:  # anything unforeseen is recorded and retried, never lost
            log.exception("delivery.unexpected_failure", notification_id=str(n.id), channel=channel)
            await self._failed(n, channel, f"unexpected error: {e!r}", permanent=False)
            return
        how = outcome.how + (" (after an interrupted attempt)" if after_interruption else "")
        await self._record(n.id, channel, outcome, how)

    async def _record(self, notification_id: UUID, channel: str, outcome: Outcome, how: str) -> None:
        try:
            await self._call(
                notification_id,
                self.app.record_sent,
                notification_id,
                channel,
                outcome.reference,
                how,
                outcome.delivered,
            )
        except DomainError as e:  # a Notify callback got there first (delivered, or failed): it stands
            log.info("delivery.outcome_already_known", notification_id=str(notification_id), reason=e.message)
            return
        log.info("delivery.sent", notification_id=str(notification_id), channel=channel, how=how)

    async def _failed(self, n: Notification, channel: str, reason: str, permanent: bool) -> None:
        attempt = n.attempts.get(channel, 1)
        backoff = self.backoff.after(attempt)
        after = await self._call(
            n.id,
            self.app.record_failure,
            n.id,
            channel,
            reason,
            permanent,
            timedelta(seconds=backoff),
            self.settings.max_attempts_per_channel,
        )
        log.warning(
            "delivery.failed",
            notification_id=str(n.id),
            channel=channel,
            reason=reason,
            permanent=permanent,
            now=after.status,
            next_channel=after.channel,
        )

    # -- after a crash --------------------------------------------------------------------------------------

    async def reconcile_interrupted(self, pool: asyncpg.Pool, at_start: bool = False) -> int:
        before = None if at_start else self.clock.now() - timedelta(seconds=self.settings.interrupted_after_seconds)
        found = await queries.interrupted_sends(pool, before)
        for notification_id in found:
            await self.reconcile(notification_id)
        return len(found)

    async def reconcile(self, notification_id: UUID) -> None:
        n: Notification = await self._call(notification_id, self.app.notification, notification_id)
        if n.status != "sending" or n.channel is None:
            return
        channel, transport = n.channel, self.transports[n.channel]
        message = message_for(n, channel)
        if transport.can_find:
            try:
                already = await transport.find(message)
            except (TransientFailure, PermanentFailure) as e:
                log.warning("delivery.reconcile_postponed", notification_id=str(n.id), reason=str(e))
                return  # we cannot tell yet: ask again later rather than risk a second message
            if already is not None:
                await self._record(n.id, channel, already, already.how)
                return
        await self._send(n, channel, message, after_interruption=True)

    # -- receipts -----------------------------------------------------------------------------------------

    async def poll_receipts(self, pool: asyncpg.Pool) -> int:
        channels = [c for c, t in self.transports.items() if t.has_receipts]
        if not channels:
            return 0
        changed = 0
        for notification_id in await queries.awaiting_receipt(pool, channels, 10 * self.settings.delivery_batch_size):
            n: Notification = await self._call(notification_id, self.app.notification, notification_id)
            if n.status != "sent" or n.provider_reference is None or n.channel is None:
                continue
            try:
                status = await self.transports[n.channel].receipt(n.provider_reference)
            except (TransientFailure, PermanentFailure) as e:
                log.warning("delivery.receipt_unavailable", notification_id=str(n.id), reason=str(e))
                continue
            if status:
                result = await self._call(
                    notification_id, self.app.record_receipt, notification_id, n.channel, status, n.provider_reference
                )
                changed += result != "no change"
        return changed
