"""Command and query endpoints: NATS request/reply, one subject per command or query (FastStream).

The endpoint validates the payload with the contracts model, sets the command context (actor,
correlation id, the clock's now) and calls one application function. Whatever happens, the caller gets
a reply and the service keeps running:
- a malformed payload: Rejected(invalid) with the fields at fault; nothing is called, nothing stored;
- a broken rule or a refused actor: Rejected(rule_broken / not_authorised / not_found) with the rule's
  message; the application raised before saving, so nothing is stored;
- anything unexpected: Rejected(internal_error) naming the correlation id, logged with the traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from faststream.nats import NatsBroker, NatsMessage
from pydantic import BaseModel, ValidationError

from contracts.envelope import (
    Accepted,
    Answered,
    Command,
    CommandEnvelope,
    FieldError,
    Query,
    QueryEnvelope,
    Rejected,
    RejectionCode,
)
from contracts.subjects import command_subject, query_subject
from services.runtime.clock import Clock
from services.runtime.context import CommandContext
from services.runtime.errors import DomainError, NotAuthorised, NotFound
from services.runtime.logging import get_logger

log = get_logger(__name__)

CommandHandler = Callable[[Any, CommandContext], Awaitable[dict[str, str]]]
QueryHandler = Callable[[Any, CommandContext], Awaitable[Any]]


@dataclass(frozen=True)
class CommandRoute:
    model: type[Command]
    handle: CommandHandler


@dataclass(frozen=True)
class QueryRoute:
    model: type[Query]
    handle: QueryHandler


def field_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=".".join(str(p) for p in e["loc"]) or "(message)", problem=e["msg"])
        for e in error.errors()
    ]


def rejection_for(error: DomainError, correlation_id: Any) -> Rejected:
    code = RejectionCode.RULE_BROKEN
    if isinstance(error, NotAuthorised):
        code = RejectionCode.NOT_AUTHORISED
    elif isinstance(error, NotFound):
        code = RejectionCode.NOT_FOUND
    errors = [FieldError(field=error.field, problem=error.message)] if error.field else []
    return Rejected(code=code, rule=error.rule, message=error.message, field_errors=errors, correlation_id=correlation_id)


async def dispatch(
    body: bytes,
    envelope_model: type[BaseModel],
    run: Callable[[Any, CommandContext], Awaitable[BaseModel]],
    clock: Clock,
    name: str,
    message_id: str | None = None,
) -> BaseModel:
    """Validate, set the context, run, and turn every outcome into a reply."""
    try:
        envelope = envelope_model.model_validate_json(body)
    except ValidationError as e:
        errors = field_errors(e)
        summary = "; ".join(f"{fe.field}: {fe.problem}" for fe in errors[:5])
        return Rejected(code=RejectionCode.INVALID, message=f"The request was not valid: {summary}", field_errors=errors)
    payload = getattr(envelope, "command", None) or getattr(envelope, "query")
    ctx = CommandContext(
        actor=envelope.actor,  # type: ignore[attr-defined]
        now=clock.now(),
        correlation_id=envelope.correlation_id,  # type: ignore[attr-defined]
        causation_id=getattr(envelope, "causation_id", None),
    )
    with structlog.contextvars.bound_contextvars(
        correlation_id=str(ctx.correlation_id), message_id=message_id, request=name, user=ctx.actor.user_id
    ):
        try:
            reply = await run(payload, ctx)
        except DomainError as e:
            log.info("request.rejected", rule=e.rule, reason=e.message)
            return rejection_for(e, ctx.correlation_id)
        except Exception:
            log.exception("request.failed")
            return Rejected(
                code=RejectionCode.INTERNAL_ERROR,
                message=(
                    "Something went wrong on our side and nothing was changed. "
                    f"Please try again; if it keeps happening, quote reference {ctx.correlation_id}."
                ),
                correlation_id=ctx.correlation_id,
            )
        log.info("request.done", outcome=reply.outcome)  # type: ignore[attr-defined]
        return reply


def register_command(broker: NatsBroker, prefix: str, queue: str, route: CommandRoute, clock: Clock) -> None:
    envelope_model = CommandEnvelope[route.model]  # type: ignore[name-defined]

    async def run(command: Any, ctx: CommandContext) -> BaseModel:
        ids = await route.handle(command, ctx)
        return Accepted(ids=ids, correlation_id=ctx.correlation_id)

    @broker.subscriber(command_subject(prefix, route.model.SUBJECT), queue=queue)
    async def endpoint(msg: NatsMessage) -> bytes:
        reply = await dispatch(msg.body, envelope_model, run, clock, route.model.SUBJECT, msg.message_id)
        return reply.model_dump_json().encode()


def register_query(broker: NatsBroker, prefix: str, queue: str, route: QueryRoute, clock: Clock) -> None:
    envelope_model = QueryEnvelope[route.model]  # type: ignore[name-defined]

    async def run(query: Any, ctx: CommandContext) -> BaseModel:
        result = await route.handle(query, ctx)
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        elif isinstance(result, list):
            result = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
        return Answered(result=result, correlation_id=ctx.correlation_id)

    @broker.subscriber(query_subject(prefix, route.model.SUBJECT), queue=queue)
    async def endpoint(msg: NatsMessage) -> bytes:
        reply = await dispatch(msg.body, envelope_model, run, clock, route.model.SUBJECT, msg.message_id)
        return reply.model_dump_json().encode()
