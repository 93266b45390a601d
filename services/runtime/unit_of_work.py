"""A unit of work: many decisions, each in its own command context, saved together in one transaction.

A batch of consumed messages (services/runtime/consumer.py) or of due sends (the notifications delivery
worker) is decided one item after another and written once. A later item must see what the earlier ones
decided although nothing is committed yet, so while a unit of work is open (in this thread's context):

- the application's repository returns the unit's own copy of an aggregate it holds (loaded, created or
  changed by an earlier item), and keeps each aggregate it loads, so every item works on the same object;
- `stage(aggregates)` takes what one item decided: it stamps the item's pending events with the current
  command context (actor, correlation, causation: stored beside each event, as a save at once would) and
  adds the aggregates the application keeps in step with them (`saved_with`, e.g. an index per pupil), so
  the next item finds that index already changed.

`staged` is then saved in one transaction (`SendcaseApplication.save_together`). Nothing here touches the
database: a unit that is dropped (an item failed, the save clashed) leaves no trace, and the caller decides
again one item at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Repository

from services.runtime.context import current_context


class UnitOfWork:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.aggregates: dict[Any, Any] = {}  # id -> the one object every item of the unit works on
        self.absent: set[Any] = set()  # ids known not to exist (looked up for the whole unit at once)
        # what to save, by object (not by id: two objects of one aggregate would both be saved, and clash,
        # rather than one's events be dropped), in the order first staged
        self._staged: dict[int, Any] = {}

    def stage(self, aggregates: Sequence[Any]) -> None:
        """One item's decision: its aggregates (and those kept in step with them) are to be saved, and are
        what later items of the unit see. Called inside the item's command context."""
        changed = [a for a in aggregates if a is not None]
        changed += self.app.saved_with(changed)
        meta = current_context().metadata()
        for aggregate in changed:
            for event in aggregate.pending_events:
                if "meta" not in vars(event):  # the same metadata the StampingMapper would give it now
                    object.__setattr__(event, "meta", meta)
            self.aggregates[aggregate.id] = aggregate
            self._staged.setdefault(id(aggregate), aggregate)

    @property
    def staged(self) -> list[Any]:
        return [a for a in self._staged.values() if a.pending_events]


_open: ContextVar[UnitOfWork | None] = ContextVar("sendcase_unit_of_work", default=None)


def staged_events(aggregates: Sequence[Any]) -> list[Any]:
    """Stage one item's decision in the open unit of work and take its events at once (stamped, with those of
    what is kept in step with them), for a caller that saves events item by item's: the batch of commands
    (services/runtime/commands.py), where a later command's failure must not take an earlier one's events
    with it. The aggregates stay in the unit, as they now are, for later items."""
    unit = _open.get()
    if unit is None:
        raise RuntimeError("staged_events needs an open unit of work")
    unit.stage(aggregates)
    return [event for aggregate in unit.staged for event in aggregate.collect_events()]


@contextlib.contextmanager
def unit_of_work(app: Any, holding: Sequence[Any] = (), absent: Iterable[Any] = ()) -> Iterator[UnitOfWork]:
    """Open a unit of work on `app` for the duration of the block (in the calling thread's context).
    `holding`: aggregates the caller has already (saved, up to date as far as it knows), handed out instead
    of loading them again; if one moved on meanwhile, the save clashes (IntegrityError) and nothing is saved.
    `absent`: ids the caller found not to exist (asking for one raises AggregateNotFoundError at once, until
    an item of the unit creates it); if one was created meanwhile, the save clashes likewise."""
    unit = UnitOfWork(app)
    unit.aggregates.update((a.id, a) for a in holding)
    unit.absent.update(absent)
    token = _open.set(unit)
    try:
        yield unit
    finally:
        _open.reset(token)


class UnitOfWorkRepository(Repository):
    """The library's repository, which hands out the open unit of work's aggregates (the latest version
    of each, changes not yet saved) and keeps in the unit what it loads."""

    def get(self, aggregate_id: Any, *, version: int | None = None, **kwargs: Any) -> Any:
        unit = _open.get()
        if unit is None or version is not None:
            return super().get(aggregate_id, version=version, **kwargs)
        found = unit.aggregates.get(aggregate_id)
        if found is None:
            if aggregate_id in unit.absent:
                raise AggregateNotFoundError(aggregate_id)
            found = super().get(aggregate_id, **kwargs)
            unit.aggregates[aggregate_id] = found
        return found

    @classmethod
    def like(cls, repository: Repository) -> UnitOfWorkRepository:
        """This repository with the settings of the one the library built."""
        made = cls(
            repository.event_store,
            snapshot_store=repository.snapshot_store,
            fastforward=repository.fastforward,
            fastforward_skipping=repository.fastforward_skipping,
            deepcopy_from_cache=repository.deepcopy_from_cache,
        )
        made.cache = repository.cache
        return made
