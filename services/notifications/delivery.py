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

In batches: the due notifications found (up to `delivery_batch_size`) are started in ONE transaction (each
"SendingStarted" decided on its aggregate, in its own context, saved together), then sent (the file outbox
writes the batch's files and makes them durable together; other channels send up to
`delivery_concurrency` at once), then their "Sent"/"Delivered" saved in ONE transaction. A batch whose save
clashes (another writer moved a notification on: a cancel, a Notify callback) is done one notification at a
time, as above. Step 1 is still saved before anything leaves and step 3 after, so a crash anywhere is
reconciled exactly as for one.

Woken, not polling: the worker LISTENs on its store's NOTIFY channel (services/runtime/wakeup.py), so a
notification owed and written is sent as soon as the read model shows it; it looks again without a
NOTIFY only every `delivery_poll_seconds` (the safety net, a few seconds) or when a retry falls due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import IntegrityError, RecordConflictError

from contracts.envelope import Actor
from services.notifications import queries
from services.notifications.adapters.channels import Message, Outcome, PermanentFailure, TransientFailure, Transport
from services.notifications.application import Notifications, receipt_fact
from services.notifications.domain.notification import Notification
from services.notifications.projections import NotificationsByPupil
from services.notifications.settings import NotificationsSettings
from services.runtime.clock import Clock
from services.runtime.context import CommandContext, acting
from services.runtime.errors import DomainError
from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger
from services.runtime.receipts import collecting_saves
from services.runtime.retry import Backoff
from services.runtime.singleton import run_in_one_replica
from services.runtime.unit_of_work import unit_of_work
from services.runtime.wakeup import Wakeup

log = get_logger(__name__)
VIEW_WAIT_SECONDS = 2.0  # at most this long for the read model to show what was stored, before looking anyway


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
        letter=n.content.get("letter"),
        letter_html=n.content.get("letter_html"),
    )


def restored_delivery(message_id: str) -> Outcome:
    how = f"delivered before the database was restored from a backup ({message_id} on the stream): not sent again"
    return Outcome(reference=message_id, delivered=True, how=how)


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
        self.written_up_to = 0  # the last position in the store's log this worker's batches wrote
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
        store = self.store
        view = next((r for r in runtime.projections if r.projection.name == NotificationsByPupil.name), None)

        async def projected(position: int | None) -> None:
            if view is None:
                return
            if position is None:
                position = await store.call(None, store.app.max_notification_id)
            if not await view.wait_for(position, VIEW_WAIT_SECONDS):
                log.warning("delivery.view_behind", position=view.position, waited_for=position)

        await run_in_one_replica(
            self.settings.database_url or "", "notifications-delivery", lambda: self.deliver_forever(pool, projected)
        )

    async def deliver_forever(
        self, pool: asyncpg.Pool, projected: Callable[[int | None], Awaitable[None]] | None = None
    ) -> None:
        """Deliver what is due, then wait for a NOTIFY from the store (or the safety-net poll, or the next
        retry falling due). The view that lists what is due follows the store: `projected(position)` waits
        (bounded) until it shows the log up to a position (None: everything stored so far). While there is
        work, the worker waits only for its own last writes to show (so it never takes a notification it
        has just sent for one still due); before it goes idle it waits for everything, so that what was
        stored before its last look (and whose NOTIFY it has had) is not left for the safety net."""
        self.delivered_before_restore = await queries.delivered_before_restore(pool)
        await self.reconcile_interrupted(pool, at_start=True)
        wakeup = Wakeup(
            self.settings.database_url or "",
            self.app.notify_channel,
            safety_net_seconds=self.settings.delivery_poll_seconds,
        )
        receipts_due = 0.0
        loop = asyncio.get_running_loop()
        everything = True  # wait for the view to show everything stored (else only our own last writes)
        try:
            while True:
                await wakeup.listen()
                if projected is not None:
                    await projected(None if everything else self.written_up_to)
                done = await self.deliver_due(pool)
                await self.reconcile_interrupted(pool)
                if loop.time() >= receipts_due:
                    await self.poll_receipts(pool)
                    receipts_due = loop.time() + self.settings.receipt_poll_seconds
                if done:
                    everything = False
                elif not everything:
                    everything = True  # look once more, the view showing all, before waiting
                else:
                    await wakeup.wait(await self._until_next_retry(pool))
        finally:
            await wakeup.close()

    async def _until_next_retry(self, pool: asyncpg.Pool) -> float | None:
        """Seconds until the next send waiting for a retry falls due (None: none is waiting)."""
        now = self.clock.now()
        at = await queries.next_retry_at(pool, now)
        return None if at is None else (at - now).total_seconds()

    async def deliver_due(self, pool: asyncpg.Pool) -> int:
        """Send a batch of what is due. Returns how many were started."""
        due = await queries.due_for_delivery(pool, self.clock.now(), self.settings.delivery_batch_size)
        if not due:
            return 0
        if len(due) == 1:
            return int(await self.deliver(*due[0]))
        try:
            started = await self.store.call(None, self._start_batch, due)
        except IntegrityError as e:  # another writer moved one of them on: each on its own, as ever
            log.info("delivery.batch_clashed", error=type(e).__name__, count=len(due), then="one at a time")
            return await self._deliver_each(due)
        await self._send_batch(started)
        return len(started)

    async def _deliver_each(self, due: Sequence[tuple[UUID, str | None]]) -> int:
        limit = asyncio.Semaphore(self.settings.delivery_concurrency)  # several sends in flight; each one in order

        async def one(notification_id: UUID, channel: str | None) -> bool:
            async with limit:
                return await self.deliver(notification_id, channel)

        return sum(await asyncio.gather(*(one(n, c) for n, c in due)))

    def _start_batch(self, due: Sequence[tuple[UUID, str | None]]) -> list[tuple[Notification, str]]:
        """In the store's thread: "SendingStarted" for each one still due, decided on its aggregate in its own
        context, all saved in one transaction (IntegrityError, and nothing saved, if any clashes)."""
        started: list[tuple[Notification, str]] = []
        loaded = self.app.get_many([notification_id for notification_id, _ in due])  # one query for the batch
        with unit_of_work(self.app, holding=list(loaded.values())) as unit:
            for notification_id, channel in due:
                with acting(self._ctx(notification_id)):
                    try:
                        with collecting_saves() as saved:
                            n = self.app.notification(notification_id)
                            on = channel or n.channel
                            if on is None:
                                continue
                            n = self.app.start_sending(notification_id, on)
                        unit.stage(saved)
                        if n.status == "sending":  # not cancelled instead (its child's data erased)
                            started.append((n, on))
                    except DomainError:
                        continue  # not due (yet, or any more)
            if started:
                self._wrote(self.app.save_together(unit.staged))
        return started

    def _wrote(self, recordings: Sequence[Any]) -> None:
        if recordings:
            self.written_up_to = max(self.written_up_to, *(r.notification.id for r in recordings))

    async def _send_batch(self, started: list[tuple[Notification, str]]) -> None:
        results: list[tuple[Notification, str, Outcome, str]] = []
        sending: list[tuple[Notification, str, Message]] = []
        for n, channel in started:
            known = self.delivered_before_restore.get((n.id, channel))
            if known is not None:
                outcome = restored_delivery(known)
                results.append((n, channel, outcome, outcome.how))
            else:
                sending.append((n, channel, message_for(n, channel)))
        by_transport: dict[int, list[tuple[Notification, str, Message]]] = {}
        for item in sending:
            by_transport.setdefault(id(self.transports[item[1]]), []).append(item)
        for items in by_transport.values():
            transport = self.transports[items[0][1]]
            outcomes = await self._send_all(transport, [m for _, _, m in items])
            for (n, channel, _), sent in zip(items, outcomes, strict=True):
                if isinstance(sent, Outcome):
                    results.append((n, channel, sent, sent.how))
                else:
                    await self._failed_with(n, channel, sent)
        if results:
            await self._record_batch(results)

    async def _send_all(self, transport: Transport, messages: list[Message]) -> list[Outcome | BaseException]:
        """Send each message: together, where the transport can (the file outbox), else up to
        `delivery_concurrency` at once. A failure is returned in its message's place."""
        self.sends += len(messages)
        send_many = getattr(transport, "send_many", None)
        if send_many is not None:
            return list(await send_many(messages))
        limit = asyncio.Semaphore(self.settings.delivery_concurrency)

        async def one(message: Message) -> Outcome:
            async with limit:
                return await transport.send(message)

        return list(await asyncio.gather(*(one(m) for m in messages), return_exceptions=True))

    async def _record_batch(self, results: list[tuple[Notification, str, Outcome, str]]) -> None:
        """ "Sent" (and "Delivered") for each, in one transaction; on a clash, each on its own."""

        def record() -> list[UUID]:
            recorded: list[UUID] = []
            # the aggregates as started: no second load (a clash with a change meanwhile is found at the save)
            with unit_of_work(self.app, holding=[n for n, *_ in results]) as unit:
                for n, channel, outcome, how in results:
                    with acting(self._ctx(n.id)):
                        try:
                            with collecting_saves() as saved:
                                self.app.record_sent(
                                    n.id, channel, outcome.reference, how, outcome.delivered, outcome.sent
                                )
                            unit.stage(saved)
                            recorded.append(n.id)
                        except DomainError as e:  # a Notify callback got there first (delivered, or failed)
                            log.info("delivery.outcome_already_known", notification_id=str(n.id), reason=e.message)
                self._wrote(self.app.save_together(unit.staged))
            return recorded

        try:
            recorded = await self.store.call(None, record)
        except IntegrityError as e:
            log.info("delivery.batch_clashed", error=type(e).__name__, count=len(results), then="one at a time")
            for n, channel, outcome, how in results:
                await self._record(n.id, channel, outcome, how)
            return
        log.info("delivery.sent", count=len(recorded), channels=sorted({c for _, c, _, _ in results}))

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
            outcome = restored_delivery(known)
            await self._record(n.id, channel, outcome, outcome.how)
            return True
        await self._send(n, channel, message_for(n, channel), after_interruption=False)
        return True

    async def _send(self, n: Notification, channel: str, message: Message, after_interruption: bool) -> None:
        transport = self.transports[channel]
        self.sends += 1
        try:
            outcome = await transport.send(message)
        except Exception as e:
            await self._failed_with(n, channel, e)
            return
        how = outcome.how + (" (after an interrupted attempt)" if after_interruption else "")
        await self._record(n.id, channel, outcome, how)

    async def _failed_with(self, n: Notification, channel: str, e: BaseException) -> None:
        if isinstance(e, PermanentFailure):
            await self._failed(n, channel, str(e), permanent=True)
        elif isinstance(e, TransientFailure):
            await self._failed(n, channel, str(e), permanent=False)
        elif isinstance(e, Exception):  # anything unforeseen is recorded and retried, never lost
            log.error("delivery.unexpected_failure", notification_id=str(n.id), channel=channel, exc_info=e)
            await self._failed(n, channel, f"unexpected error: {e!r}", permanent=False)
        else:
            raise e  # a cancellation: not a failure of the send

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
                outcome.sent,
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
                found = await self.transports[n.channel].receipt(n.provider_reference)
            except (TransientFailure, PermanentFailure) as e:
                log.warning("delivery.receipt_unavailable", notification_id=str(n.id), reason=str(e))
                continue
            if found is not None:
                times = {"created_at": found.created_at, "sent_at": found.sent_at, "completed_at": found.completed_at}
                fact = receipt_fact(found.status, n.provider_reference, found.reference, "poll", **times)
                result = await self._call(
                    notification_id,
                    self.app.record_receipt,
                    notification_id,
                    n.channel,
                    found.status,
                    n.provider_reference,
                    fact,
                )
                changed += result != "no change"
        return changed
