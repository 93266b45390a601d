"""Commands handled concurrently, applied in order, written with group commit.

Many commands arrive at once (a school's whole class moved on the first day of term, a caseworker team
at work). Each endpoint hands its command to the service's one CommandBatcher and awaits its own reply.
The batcher takes every command waiting (up to `max_batch`) and, in one call to the event store's
thread:

1. looks up the receipts of all their command ids in one query: a command already done gets its first
   reply again and is not run (receipts.py);
2. runs the commands one after another, in the order they arrived, each in its own command context (its
   events are stamped with its own actor, correlation and causation as they are collected). An aggregate
   one command changed is handed, as it now is, to a later command in the batch that loads it (a unit of
   work: services/runtime/unit_of_work.py), so two commands on one pupil apply in order and see each other.
   The aggregates the batch will load are read first, in one query (the application names them:
   `loaded_by`; `get_many`);
3. saves every command's events and receipts in one transaction (group commit: one table lock, one
   fsync for the batch), then answers each command for itself.

What can go wrong stays one command's business:
- a command that is refused (a broken rule) or fails gets its own rejection; what the batch did before it
  is saved first and a fresh unit of work begun (the refused command may have half-changed an aggregate
  it was handed), so the commands after it start from what is stored;
- when the group's save clashes (another replica wrote one of the aggregates meanwhile, or a duplicate
  command id), nothing of the group is stored and each of its commands is run again on its own, from a
  fresh load, with the single-command path's conflict retry (routes.py);
- the same command id twice in one batch: the second waits for the first's save and gets its reply.

Across replicas, optimistic concurrency (a version clash is an IntegrityError) and that retry keep
commands right; within a process, the batcher keeps them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import IntegrityError

from services.runtime.context import CommandContext, acting
from services.runtime.errors import RefusedAndRecorded, ServiceStopping
from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger
from services.runtime.receipts import CommandReceipt, collecting_saves
from services.runtime.unit_of_work import staged_events, unit_of_work

log = get_logger(__name__)

MAX_BATCH = 256


@dataclass(frozen=True)
class Replayed:
    """A command sent again with the id of one already done: its first reply, as sent."""

    reply: str


@dataclass
class PendingCommand:
    """One command waiting for its batch: how to run it, and where its reply goes."""

    message: Any  # the command
    execute: Callable[[], Any]  # runs the command's function with its arguments; returns the coerced result
    reply_for: Callable[[Any], Any]  # result -> the Accepted reply
    run_alone: Callable[[], Any]  # the single-command path (fresh load, own transaction, conflict retry)
    ctx: CommandContext
    future: asyncio.Future[Any] = field(repr=False)
    outcome: Any = None  # the reply (or Replayed), or the exception to raise
    failed: bool = False


@dataclass
class _Done:
    command: PendingCommand
    events: list[Any]
    receipt: CommandReceipt | None
    reply: Any


class CommandBatcher:
    """The service's commands, taken in batches by one task and applied in the event store's thread."""

    def __init__(self, store: EventStore[Any], max_batch: int = MAX_BATCH, gather_seconds: float = 0.0) -> None:
        self.store = store
        self.max_batch = max_batch
        # Before a batch, wait this long for more commands to join it (PostgreSQL's commit_delay, ours): one
        # transaction, lock and fsync then serve several commands even at a modest rate.
        self.gather_seconds = gather_seconds
        self._waiting: list[PendingCommand] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # counted for the benchmark and the tests
        self.commands = 0
        self.clashes = 0  # groups whose save clashed and were done again one command at a time

    async def submit(
        self,
        message: Any,
        ctx: CommandContext,
        execute: Callable[[], Any],
        reply_for: Callable[[Any], Any],
        run_alone: Callable[[], Any],
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(PendingCommand(message, execute, reply_for, run_alone, ctx, future))
        if self._task is None or self._task.done():
            # In a context of its own: not the first request's (its log fields would name every later batch).
            self._task = asyncio.create_task(
                self._drain(), name=f"{self.store.app.name}-commands", context=contextvars.Context()
            )
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                if self.gather_seconds and len(self._waiting) < self.max_batch:
                    await asyncio.sleep(self.gather_seconds)
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                applying = asyncio.ensure_future(self.store.call(None, self._apply, batch))
                try:
                    await asyncio.shield(applying)
                except asyncio.CancelledError:
                    # Stopping: the batch runs on in its thread and may be stored, so its answers are waited
                    # for (true ones); the commands still waiting are told, in words, that nothing was done.
                    with contextlib.suppress(BaseException):
                        await applying
                    self._fail(batch, applying.exception() if applying.done() and not applying.cancelled() else None)
                    raise
                except Exception as e:  # the store itself failed: each command not yet answered is told
                    self._fail(batch, e)
                _answer(batch)
                self.batches += 1
                self.commands += len(batch)
        except asyncio.CancelledError:
            self._fail(self._waiting, None)
            self._waiting = []
            raise

    @staticmethod
    def _fail(batch: list[PendingCommand], error: BaseException | None) -> None:
        """Answer, with `error` (or "the service stopped"), every command of `batch` not answered yet."""
        for command in batch:
            if command.outcome is None:
                command.outcome = error or ServiceStopping(
                    "The service stopped before this was done, so nothing was changed. Please try again."
                )
                command.failed = True
        _answer(batch)

    def _apply(self, batch: list[PendingCommand]) -> None:
        """In the store's thread: the batch, in order, saved together (see the module's docstring)."""
        app = self.store.app
        ids = [c.ctx.command_id for c in batch if c.ctx.command_id is not None]
        done_before = app.find_receipts(ids) if ids else {}
        try:  # what the batch will load, in one query
            wanted = app.loaded_by([c.message for c in batch]) if len(batch) > 1 else []
            loaded = app.get_many(wanted) if wanted else {}
        except Exception:  # (e.g. one pupil's history cannot be read): each command then loads its own, alone
            log.warning("commands.preload_failed", commands=len(batch), exc_info=True)
            wanted, loaded = [], {}
        unit = contextlib.ExitStack()
        unit.enter_context(unit_of_work(app, holding=list(loaded.values()), absent=set(wanted) - loaded.keys()))
        group: list[_Done] = []
        in_group: set[UUID] = set()  # ids of the commands in `group`, not saved yet
        done_here: set[UUID] = set()  # ids of every command this batch has done (saved or in `group`)

        def save_group_and_start_afresh() -> bool:
            """Save the group (True: as one; False: it clashed and each was done alone); the next commands
            start from what is stored, in a fresh unit of work."""
            nonlocal unit
            unit.close()  # the fallback, if the save clashes, runs outside it
            together = self._save(group)
            in_group.clear()
            unit = contextlib.ExitStack()
            unit.enter_context(unit_of_work(app))
            return together

        try:
            for command in batch:
                command_id = command.ctx.command_id
                if command_id is not None and command_id in done_here:  # the same command twice at once
                    if command_id in in_group:
                        save_group_and_start_afresh()  # the first is saved first
                    done_before.update(app.find_receipts([command_id]))
                if command_id is not None and command_id in done_before:
                    command.outcome = Replayed(done_before[command_id])
                    continue
                try:
                    done = self._run(command)
                except BaseException as e:
                    # It was judged on what the group before it changed: that stands if the group is stored as
                    # it was; if the group clashed (and was done again alone), it is judged again, alone too.
                    # Either way it may have half-changed an aggregate it was handed: the commands after it
                    # start afresh from what is stored.
                    if save_group_and_start_afresh():
                        command.outcome, command.failed = e, True
                    else:
                        self._alone(command)
                    continue
                group.append(done)
                if command_id is not None:
                    in_group.add(command_id)
                    done_here.add(command_id)
        finally:
            unit.close()
        self._save(group)

    def _run(self, command: PendingCommand) -> _Done:
        """One command, in its own context, inside the batch's unit of work: its events (and those of what
        the application keeps in step with them) stamped and taken for the group's save."""
        with acting(command.ctx), _logged_as(command.ctx):
            with collecting_saves() as changed:
                try:
                    result = command.execute()
                except RefusedAndRecorded as refusal:  # refused, and the refusal's own record kept (errors.py)
                    return _Done(command, staged_events(refusal.record), None, refusal)
            events = staged_events(changed)
            reply = command.reply_for(result)
        receipt = None
        if command.ctx.command_id is not None:
            receipt = CommandReceipt(command.ctx.command_id, reply.model_dump_json(), command.ctx.now)
        return _Done(command, events, receipt, reply)

    def _save(self, group: list[_Done]) -> bool:
        """One transaction for the group (True); on a clash, each of its commands again on its own, outside
        any unit of work, from a fresh load (False)."""
        if not group:
            return True
        app = self.store.app
        try:
            app.put_events(
                [e for done in group for e in done.events],
                receipts=[done.receipt for done in group if done.receipt is not None],
            )
        except IntegrityError:
            log.info("commands.group_conflict", commands=len(group), then="each alone")
            self.clashes += 1
            for done in group:
                self._alone(done.command)
            group.clear()
            return False
        for done in group:
            done.command.outcome = done.reply
            done.command.failed = isinstance(done.reply, BaseException)  # a refusal whose record was kept
        group.clear()
        return True

    @staticmethod
    def _alone(command: PendingCommand) -> None:
        try:
            command.outcome = _in_context(command.ctx, command.run_alone)
        except BaseException as e:
            command.outcome, command.failed = e, True


def _in_context(ctx: CommandContext, fn: Callable[[], Any]) -> Any:
    with acting(ctx), _logged_as(ctx):
        return fn()


def _logged_as(ctx: CommandContext) -> contextlib.AbstractContextManager[Any]:
    """What is logged while a command runs names that command's request and person."""
    return structlog.contextvars.bound_contextvars(correlation_id=str(ctx.correlation_id), user=ctx.actor.user_id)


def _answer(batch: list[PendingCommand]) -> None:
    for command in batch:
        if command.future.done():
            continue
        if command.failed:
            command.future.set_exception(command.outcome)
        else:
            command.future.set_result(command.outcome)
