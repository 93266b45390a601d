"""Routes, declared once: each contracts command or query bound to the function that answers it.

A service writes one line per command or query, e.g. in its entrypoints:

    ROUTES = Routes(
        commands={AddToSenSupport: Register.add_to_sen_support, ...},
        queries={GetPupil: Register.pupil_view, SchoolRegister: RegisterQueries.school_register, ...},
    )

and the runtime does the rest, the same way for every service:
- it unpacks the message into keyword arguments, one per field (a nested value object whose fields the
  function takes one by one is spread into them, e.g. AddToSenSupport.pupil -> upn, given_name, ...);
- it passes who is acting and when, explicitly, to a function that names them: `actor` (the Actor),
  `today` (the date in England) and `now` (the instant);
- it crosses the sync/async boundary: a plain method of the service's eventsourcing application runs in
  the event store's thread pool inside the command context; an `async def` of the read side is awaited;
- it turns what the function returns into the message's declared `Result` (a function may return just
  the id when the Result is a one-field reference such as PupilRef);
- it records every read of a child's record by a person in the service's read log, from what each query declares
  it shows (`reads={GetPupil: child("upn"), SchoolRegister: children(...), LaCounts: NO_CHILD}`;
  services/runtime/read_log.py): a service whose query does not say does not start.

Each declaration is checked when the service is built, so a route that cannot work fails at start with a
message naming the function and the field, not at the first request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, TypeAdapter

from contracts.envelope import Accepted, Answered, Command, Query
from services.runtime.clock import today_in_england
from services.runtime.commands import CommandBatcher, Replayed
from services.runtime.context import CommandContext, acting
from services.runtime.errors import Conflict, RefusedAndRecorded
from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger
from services.runtime.read_log import Reads
from services.runtime.receipts import CommandReceipt, collecting_saves

log = get_logger(__name__)
CONFLICT_ATTEMPTS = 5  # a command whose save clashes with another writer is tried this many times

# The names a route's function may take to be told who is acting and when (never read from a global).
CONTEXT_PARAMETERS = ("actor", "today", "now")


class RouteError(TypeError):
    """A route declared wrongly: found when the service is built, not at the first request."""


@dataclass(frozen=True)
class Route:
    message: type[Command] | type[Query]
    function: Callable[..., Any]
    reads: Reads | None = None  # a query: which children it shows (services/runtime/read_log.py)

    @property
    def kind(self) -> Literal["command", "query"]:
        return "command" if issubclass(self.message, Command) else "query"

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    @property
    def name(self) -> str:
        return self.function.__qualname__


def _unpacker(route: Route) -> Callable[[Any, CommandContext], dict[str, Any]]:
    """How to turn one message and its context into the function's keyword arguments (decided once)."""
    parameters = inspect.signature(route.function).parameters
    takes = {name for name in parameters if name != "self"}
    takes_the_rest = any(p.kind is p.VAR_KEYWORD for p in parameters.values())  # **rest: every other field
    plan: list[tuple[str, tuple[str, ...] | None]] = []  # (field, its sub-fields to spread, or None)
    for field, info in route.message.model_fields.items():
        if field in takes or (takes_the_rest and field not in CONTEXT_PARAMETERS):
            plan.append((field, None))
            continue
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel) and set(nested.model_fields) <= takes:
            plan.append((field, tuple(nested.model_fields)))
            continue
        raise RouteError(f"{route.name} does not take {route.message.__name__}.{field}")
    context = tuple(name for name in CONTEXT_PARAMETERS if name in takes)
    covered = {f for f, spread in plan if spread is None} | {s for _, spread in plan for s in spread or ()}
    missing = [
        name
        for name, p in parameters.items()
        if name not in covered
        and name not in context
        and name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if missing:
        raise RouteError(f"{route.name} needs {', '.join(missing)}, which {route.message.__name__} does not carry")

    def unpack(message: Any, ctx: CommandContext) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field, spread in plan:
            value = getattr(message, field)
            if spread is None:
                values[field] = value
            else:
                for sub in spread:
                    values[sub] = getattr(value, sub)
        for name in context:
            values[name] = ctx.actor if name == "actor" else today_in_england(ctx.now) if name == "today" else ctx.now
        return values

    return unpack


def _coercer(message: type[Command] | type[Query]) -> Callable[[Any], Any]:
    """What the function returned -> the message's declared Result (checked, so a wrong type is our bug)."""
    if not hasattr(message, "Result"):
        raise RouteError(f"{message.__name__} declares no Result")
    result = message.Result
    adapter: TypeAdapter[Any] = TypeAdapter(result)
    single = None
    if isinstance(result, type) and issubclass(result, BaseModel) and len(result.model_fields) == 1:
        single = next(iter(result.model_fields))

    def coerce(value: Any) -> Any:
        if single is not None and not isinstance(value, BaseModel):
            value = {single: value}
        return adapter.validate_python(value, from_attributes=True)

    return coerce


@dataclass(frozen=True)
class BoundRoute:
    """A route bound to the running object that answers it: call it with a message and its context."""

    route: Route
    call: Callable[[Any, CommandContext], Any]  # async


class Routes:
    """A service's commands and queries, each bound to the function that answers it."""

    def __init__(
        self,
        *,
        commands: Mapping[type[Command], Callable[..., Any]] | None = None,
        queries: Mapping[type[Query], Callable[..., Any]] | None = None,
        reads: Mapping[type[Query], Reads] | None = None,
    ) -> None:
        self.routes: list[Route] = []
        reads = dict(reads or {})
        if unrouted := [q.__name__ for q in reads if q not in (queries or {})]:
            raise RouteError(f"reads are declared for {', '.join(unrouted)}, which are not routed")
        self._plans: dict[Route, tuple[Callable[[Any, CommandContext], dict[str, Any]], Callable[[Any], Any]]] = {}
        for declared, kind in ((commands or {}, Command), (queries or {}, Query)):
            for message, function in declared.items():
                if not issubclass(message, kind):
                    raise RouteError(f"{message.__name__} is not a {kind.__name__}")
                route = Route(message, function, reads.get(message) if kind is Query else None)  # type: ignore[arg-type]
                # Checked now, once: a wrong declaration stops the service being built.
                if route.kind == "command" and route.is_async:
                    raise RouteError(f"{route.name}: a command is answered by the application (a plain method)")
                self._plans[route] = (_unpacker(route), _coercer(message))
                self.routes.append(route)

    def __iter__(self) -> Any:
        return iter(self.routes)

    def unbound(self) -> list[BoundRoute]:
        """The routes with nothing behind them: enough to describe the service (its AsyncAPI document)."""

        async def nothing(message: Any, ctx: CommandContext) -> Any:
            raise RuntimeError("an unbound route was called")

        return [BoundRoute(route, nothing) for route in self.routes]

    def bind(
        self, store: EventStore[Any], *read_sides: object, batcher: CommandBatcher | None = None
    ) -> list[BoundRoute]:
        """Bind each route to the service's application (commands: sync methods, batched through one
        CommandBatcher into the store's thread; services/runtime/commands.py) or to the read side object
        that defines it (async methods, awaited)."""
        batcher = batcher or CommandBatcher(store)
        bound = []
        for route in self.routes:
            owner = _owner(route, (store.app, *read_sides))
            unpack, coerce = self._plans[route]
            bound.append(BoundRoute(route, _caller(route, store, batcher, owner, unpack, coerce)))
        return bound


def _owner(route: Route, candidates: tuple[object, ...]) -> object:
    for candidate in candidates:
        for klass in type(candidate).__mro__:
            if vars(klass).get(route.function.__name__) is route.function:
                return candidate
    raise RouteError(f"{route.name} is defined on none of {', '.join(type(c).__name__ for c in candidates)}")


def _caller(
    route: Route,
    store: EventStore[Any],
    batcher: CommandBatcher,
    owner: object,
    unpack: Callable[[Any, CommandContext], dict[str, Any]],
    coerce: Callable[[Any], Any],
) -> Callable[[Any, CommandContext], Any]:
    """The route's call: message and context in, its reply out (Accepted / Answered, or Replayed)."""
    name = route.function.__name__
    result_type: Any = route.message.Result
    if route.kind == "query":
        answered: Any = Answered[result_type]
        if route.is_async:

            async def query_async(message: Any, ctx: CommandContext) -> Any:
                with acting(ctx):
                    result = coerce(await getattr(owner, name)(**unpack(message, ctx)))
                return answered(result=result, correlation_id=ctx.correlation_id)

            return query_async

        async def query_in_store(message: Any, ctx: CommandContext) -> Any:
            result = coerce(await store.call(ctx, getattr(owner, name), **unpack(message, ctx)))
            return answered(result=result, correlation_id=ctx.correlation_id)

        return query_in_store

    accepted: Any = Accepted[result_type]

    def run_command(message: Any, ctx: CommandContext) -> Any:
        """In the store's thread, alone: the command once, its events and receipt saved together (see
        receipts.py). A save that clashes with another writer is tried again from a fresh load, a bounded
        number of times. (A group whose save clashed comes here, one command at a time.)"""
        app = store.app
        if ctx.command_id is not None and (first := app.find_receipt(ctx.command_id)) is not None:
            return Replayed(first)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            refusal: RefusedAndRecorded | None = None
            with collecting_saves() as changed:
                try:
                    result = coerce(getattr(owner, name)(**unpack(message, ctx)))
                except RefusedAndRecorded as e:  # refused, and the refusal's own record kept (errors.py)
                    refusal = e
            if refusal is not None:
                try:
                    app.save(*refusal.record)
                except IntegrityError:
                    log.info("command.conflict", attempt=attempt, command=route.message.SUBJECT)
                    continue
                raise refusal
            reply = accepted(result=result, correlation_id=ctx.correlation_id)
            try:
                if ctx.command_id is None:
                    app.save(*changed)
                else:
                    app.save_command(CommandReceipt(ctx.command_id, reply.model_dump_json(), ctx.now), *changed)
            except IntegrityError:
                if ctx.command_id is not None and (first := app.find_receipt(ctx.command_id)) is not None:
                    return Replayed(first)  # the same command, sent twice at once: the other one did it
                log.info("command.conflict", attempt=attempt, command=route.message.SUBJECT)
                continue
            return reply
        raise Conflict(
            "Someone else changed this record at the same moment, several times over, so nothing was changed. "
            "Please try again."
        )

    async def command_batched(message: Any, ctx: CommandContext) -> Any:
        return await batcher.submit(
            message,
            ctx,
            execute=lambda: coerce(getattr(owner, name)(**unpack(message, ctx))),
            reply_for=lambda result: accepted(result=result, correlation_id=ctx.correlation_id),
            run_alone=lambda: run_command(message, ctx),
        )

    return command_batched
