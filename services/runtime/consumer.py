"""The tracked consumer: a durable JetStream pull consumer whose effects happen exactly once.

- The effect and the consumer's position commit in one database transaction (the sink's job: see
  EventSourcedReaction), keyed by (producer, sequence) of the event. A redelivered or re-published
  event finds its position already recorded and has no second effect; it is simply acknowledged.
- Explicit acks. A handler that raises is nak'ed with a backoff delay and redelivered, up to
  `max_attempts` deliveries; then the message is copied to the dead-letter subject with the reason and
  acknowledged, so it stops blocking nothing and is kept for a person to look at. The server itself
  never gives up on a message (max_deliver unlimited): the bound is ours, so a failure to dead-letter
  leads to another attempt, never to a silent drop.
- A message that is not a sendcase event envelope at all goes to the dead-letter subject at once.
- A process that dies mid-message gets the message back after `ack_wait`.
- A message whose position is already recorded is acknowledged without running the reaction at all, so a
  consumer can be made to replay the whole stream (after a database restore: services/runtime/recovery.py)
  and re-apply only the effects its database lost.
- Messages are fetched and applied in batches (`batch_size`), one transaction per batch: one query finds
  which positions are recorded already; each other message's reaction runs in order, in its own context
  (actor = the service, correlation and causation from the event), seeing what the earlier ones of the
  batch decided (a unit of work: services/runtime/unit_of_work.py); then every effect and every position is
  saved at once, and the whole batch is acknowledged. A batch in which a reaction raises, or whose save
  clashes (an IntegrityError: another writer moved an aggregate on, or recorded a position meanwhile), is
  dropped whole and its messages applied again one at a time, exactly as above: only the one that fails is
  retried or dead-lettered, each other one takes effect once. A message delivered twice within one batch
  (the same fact re-published) has its effect once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import nats.errors
import nats.js.errors
import structlog
from eventsourcing.persistence import IntegrityError, Tracking
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from contracts.envelope import Actor, EventEnvelope
from contracts.subjects import dead_letter_subject, event_subject
from services.runtime.clock import Clock
from services.runtime.context import CommandContext, acting
from services.runtime.eventstore import AlreadyProcessed, EventStore
from services.runtime.logging import get_logger
from services.runtime.retry import Backoff
from services.runtime.sealing import opened
from services.runtime.unit_of_work import unit_of_work

log = get_logger(__name__)


class EffectSink(Protocol):
    async def apply(self, envelope: EventEnvelope) -> bool:
        """Apply the event's effect and record it as handled, atomically. False if handled before."""
        ...


class BatchEffectSink(EffectSink, Protocol):
    async def apply_batch(self, envelopes: Sequence[EventEnvelope]) -> list[bool]:
        """Apply every event's effect and record each as handled, all in one transaction, in order; for each,
        False if handled before. Raises (and records nothing) if any reaction fails or the save clashes."""
        ...


class EventSourcedReaction:
    """A reaction whose effect is new domain events in the service's own event store (a policy).

    `react(app, envelope)` decides, using the app to load aggregates, and returns the aggregates to
    save. It runs in the event store's thread, inside a context whose actor is the service itself and
    whose correlation and causation come from the event.
    """

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        react: Callable[[Any, EventEnvelope], Sequence[Any]],
        prefetch: Callable[[EventEnvelope], Iterable[Any]] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.react = react
        self.prefetch = prefetch  # ids a reaction will look up: read for a whole batch with one query
        self.actor = Actor.service(store.app.name)

    def context(self, envelope: EventEnvelope) -> CommandContext:
        return CommandContext(
            actor=self.actor,
            now=self.clock.now(),
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
        )

    async def apply(self, envelope: EventEnvelope) -> bool:
        ctx = self.context(envelope)
        app = self.store.app

        def work() -> None:
            tracking = Tracking(envelope.producer, envelope.sequence)
            # Handled before (a redelivery, or the replay after a restore: `sendcase recover`): skipped without
            # deciding again, so a fact that the state has since moved past cannot fail or act a second time.
            if app.is_tracked(tracking):
                raise AlreadyProcessed(tracking)
            [fact] = opened([envelope])  # personal values arrive sealed (services/runtime/sealing.py)
            aggregates = self.react(app, fact)
            app.save_tracked(tracking, *aggregates)

        try:
            await self.store.call(ctx, work)
        except AlreadyProcessed:
            return False
        return True

    async def apply_batch(self, envelopes: Sequence[EventEnvelope]) -> list[bool]:
        app = self.store.app
        contexts = [self.context(envelope) for envelope in envelopes]

        def work() -> list[bool]:
            facts = opened(envelopes)  # personal values arrive sealed (services/runtime/sealing.py)
            trackings = [Tracking(e.producer, e.sequence) for e in facts]
            # Handled before (a redelivery, the replay after a restore), or earlier in this same batch (the
            # same fact published twice): skipped without deciding again.
            handled = app.tracked_among(trackings)
            applied: list[bool] = []
            new: list[Tracking] = []
            wanted = self._wanted(e for e, t in zip(envelopes, trackings, strict=True) if _key(t) not in handled)
            loaded = app.get_many(wanted) if wanted else {}
            with unit_of_work(app, holding=list(loaded.values()), absent=set(wanted) - loaded.keys()) as unit:
                for envelope, tracking, ctx in zip(facts, trackings, contexts, strict=True):
                    position = _key(tracking)
                    if position in handled:
                        applied.append(False)
                        continue
                    handled.add(position)
                    with acting(ctx):
                        unit.stage(self.react(app, envelope))
                    new.append(tracking)
                    applied.append(True)
                if new:
                    app.save_together(unit.staged, trackings=new)
            return applied

        return await self.store.call(None, work)

    def _wanted(self, envelopes: Iterable[EventEnvelope]) -> list[Any]:
        """The ids the batch's reactions will look up, as far as `prefetch` can tell (a message it cannot
        read is simply not prefetched: its reaction loads what it needs, or fails, as ever)."""
        if self.prefetch is None:
            return []
        wanted: dict[Any, None] = {}
        for envelope in envelopes:
            try:
                wanted.update(dict.fromkeys(self.prefetch(envelope)))
            except Exception:
                continue
        return list(wanted)


def _key(tracking: Tracking) -> tuple[str, int]:
    return (tracking.application_name, tracking.notification_id)


class TrackedConsumer:
    def __init__(
        self,
        name: str,
        js: JetStreamContext,
        sink: EffectSink,
        *,
        stream: str,
        prefix: str,
        filter_subjects: list[str],
        max_attempts: int,
        backoff_seconds: Sequence[float],
        ack_wait_seconds: float,
        batch_size: int = 100,
        fetch_timeout: float = 1.0,
    ) -> None:
        self.name = name
        self.js = js
        self.sink = sink
        self.stream = stream
        self.prefix = prefix
        self.filter_subjects = filter_subjects
        self.max_attempts = max_attempts
        self.backoff = Backoff.of(backoff_seconds)
        self.ack_wait_seconds = ack_wait_seconds
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.subscription: Any = None

    def config(self) -> ConsumerConfig:
        # `name` as well as `durable_name`: nats-py then uses the CONSUMER.CREATE API, which keeps
        # filter_subjects (the legacy DURABLE.CREATE one silently drops them).
        single = len(self.filter_subjects) == 1
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            description=f"sendcase tracked consumer {self.name}",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_seconds,
            max_deliver=-1,
            filter_subject=self.filter_subjects[0] if single else None,
            filter_subjects=None if single else self.filter_subjects,
            max_ack_pending=1000,
        )

    async def setup(self) -> None:
        # The server creates the durable consumer, or updates it when its settings changed.
        await self.js.add_consumer(self.stream, self.config())

    async def close(self) -> None:
        """Let go of the pull subscription (before the connection is drained: a pull subscription left
        behind holds a drain until its timeout)."""
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def run(self) -> None:
        # A run after a crash lets go of the subscription the crashed one left (else it would hold the
        # connection's drain at stop until its timeout).
        await self.close()
        await self.setup()
        subscription = await self.js.pull_subscribe_bind(durable=self.name, stream=self.stream)
        self.subscription = subscription
        log.info("consumer.started", consumer=self.name, subjects=self.filter_subjects)
        while True:
            try:
                messages = await subscription.fetch(self.batch_size, timeout=self.fetch_timeout)
            except (TimeoutError, nats.errors.TimeoutError):
                # An empty fetch: nats-py raises its own TimeoutError or, at times, asyncio's (a different
                # class in Python 3.11). Either is "nothing yet", never a crash of the loop.
                continue
            except (
                nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError,
                # 503: the consumer has no leader for the moment (a NATS node of the cluster went; the others
                # elect a new leader within seconds). The same subscription fetches from the new one.
                nats.js.errors.ServiceUnavailableError,
                nats.errors.NoRespondersError,
            ) as e:
                log.warning("consumer.fetch_failed", consumer=self.name, error=repr(e))
                await asyncio.sleep(1.0)
                continue
            await self.handle_batch(messages)

    async def handle_batch(self, messages: Sequence[Msg]) -> None:
        """Apply the fetched messages in one transaction when the sink can; else, or if that fails, one at a
        time (`handle`)."""
        apply_batch = getattr(self.sink, "apply_batch", None)
        if len(messages) < 2 or apply_batch is None:
            for msg in messages:
                await self.handle(msg)
            return
        envelopes: list[EventEnvelope] = []
        batch: list[Msg] = []
        for msg in messages:
            try:
                envelope = EventEnvelope.model_validate_json(msg.data)
            except ValidationError:
                await self.handle(msg)  # not an envelope: dead-lettered at once, as alone
                continue
            if self.mismatch(msg, envelope):
                await self.handle(msg)  # dead-lettered at once, as alone
                continue
            envelopes.append(envelope)
            batch.append(msg)
        if not batch:
            return
        with structlog.contextvars.bound_contextvars(consumer=self.name, batch=len(batch)):
            try:
                applied = await apply_batch(envelopes)
            except Exception as e:
                # A reaction that raised, or a save that clashed (IntegrityError): nothing of the batch was
                # stored. Each message is applied again on its own, so only the one at fault is retried.
                log.warning(
                    "consumer.batch_failed",
                    error=type(e).__name__,
                    conflict=isinstance(e, IntegrityError),
                    first_stream_seq=batch[0].metadata.sequence.stream,
                    then="one message at a time",
                )
                for msg in batch:
                    await self.handle(msg)
                return
            duplicates = [e for e, done in zip(envelopes, applied, strict=True) if not done]
            self.applied += len(batch) - len(duplicates)
            self.duplicates += len(duplicates)
            for envelope in duplicates:
                log.info("consumer.duplicate_ignored", producer=envelope.producer, sequence=envelope.sequence)
            for msg in batch:
                await msg.ack()

    def mismatch(self, msg: Msg, envelope: EventEnvelope) -> str | None:
        """Why an event is not taken as what it says it is, if it is not: NATS lets each service publish only on its
        own subjects (`<prefix>.events.<service>.<event>`), so the subject vouches for who published it, and the
        envelope's type and producer must be the subject's. A service that published another's event type (a grant,
        say) on its own subject is not believed."""
        if msg.subject != event_subject(self.prefix, envelope.type) or envelope.producer != envelope.type.split(".")[0]:
            return (
                f"the event says it is {envelope.type} from {envelope.producer}, but was published on {msg.subject}: "
                "not taken"
            )
        return None

    async def handle(self, msg: Msg) -> None:
        meta = msg.metadata
        attempt = meta.num_delivered
        with structlog.contextvars.bound_contextvars(
            consumer=self.name, stream_seq=meta.sequence.stream, attempt=attempt
        ):
            try:
                envelope = EventEnvelope.model_validate_json(msg.data)
            except ValidationError as e:
                await self.dead_letter(msg, f"not a sendcase event envelope: {e.errors()[:3]}")
                return
            if problem := self.mismatch(msg, envelope):
                await self.dead_letter(msg, problem)
                return
            with structlog.contextvars.bound_contextvars(
                correlation_id=str(envelope.correlation_id), event_id=str(envelope.event_id), event=envelope.type
            ):
                try:
                    applied = await self.sink.apply(envelope)
                except Exception as e:
                    if attempt >= self.max_attempts:
                        await self.dead_letter(msg, f"{type(e).__name__}: {e}")
                    else:
                        delay = self.backoff.after(attempt)
                        log.warning(
                            "consumer.handler_failed",
                            error=type(e).__name__,
                            rule=getattr(e, "rule", None),
                            retry_in=delay,
                        )
                        await msg.nak(delay=delay)
                    return
                if applied:
                    self.applied += 1
                else:
                    self.duplicates += 1
                    log.info("consumer.duplicate_ignored", producer=envelope.producer, sequence=envelope.sequence)
                await msg.ack()

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        meta = msg.metadata
        reason = " ".join(reason.split())[:1000]
        try:
            await self.js.publish(
                dead_letter_subject(self.prefix, self.name),
                msg.data,
                headers={
                    "Nats-Msg-Id": f"{self.name}:{meta.sequence.stream}",
                    "Sendcase-Reason": reason,
                    "Sendcase-Consumer": self.name,
                    "Sendcase-Original-Subject": msg.subject,
                    "Sendcase-Stream-Sequence": str(meta.sequence.stream),
                    "Sendcase-Attempts": str(meta.num_delivered),
                },
            )
        except Exception as e:  # keep the message: it will come back and be dead-lettered then
            log.error("consumer.dead_letter_failed", error=repr(e), reason=reason)
            await msg.nak(delay=self.backoff.longest)
            return
        self.dead_lettered += 1
        log.error("consumer.dead_lettered", reason=reason, subject=msg.subject)
        await msg.ack()
