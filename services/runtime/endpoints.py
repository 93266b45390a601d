"""Command and query endpoints: NATS request/reply, one subject per command or query, on FastStream.

Each service gets one FastStream router, built here from its declared routes (services/runtime/routes.py).
Every handler's signature is its contract: it takes `CommandEnvelope[TheCommand]` (or
`QueryEnvelope[TheQuery]`) and answers `Accepted[TheCommand.Result]` (or `Answered[...]`) or `Rejected`,
so the AsyncAPI document FastStream generates (docs/asyncapi/) describes every message exactly.

Two rules hold here for every service alike (docs/security.md, "Inside the services"): a command from an auditor is
refused before any service's code runs (services/runtime/authorisation.py), and every read of a child's record by a
person is recorded in the service's read log before the answer goes (services/runtime/read_log.py): a read that
cannot be recorded is not answered.

Whatever happens, the caller gets a reply and the service keeps running:
- a body that is not JSON, or that does not match the contract: Rejected(invalid) with each field at
  fault (the `RequestGuard` middleware, before the handler runs); nothing is called, nothing stored;
- a broken rule or a refused actor: Rejected(rule_broken / not_authorised / not_found) with the rule's
  message; the application raised before saving, so nothing is stored;
- anything unexpected: Rejected(internal_error) naming the correlation id, logged with the traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from uuid import UUID

import structlog
from fast_depends.exceptions import ValidationError as ArgumentsInvalid
from faststream import BaseMiddleware
from faststream.nats import NatsRouter
from pydantic import ValidationError

from contracts.envelope import (
    Accepted,
    Actor,
    Answered,
    Command,
    CommandEnvelope,
    FieldError,
    Query,
    QueryEnvelope,
    Rejected,
    RejectionCode,
)
from contracts.subjects import (
    OPERATOR_USER,
    PEOPLES_USERS,
    command_subject,
    inbox_owner,
    parked_events_subject,
    ping_subject,
    query_subject,
)
from services.runtime.authorisation import check_may_change
from services.runtime.clock import Clock
from services.runtime.commands import Replayed
from services.runtime.context import CommandContext, citizen_pseudonym
from services.runtime.errors import Conflict, DomainError, NotAuthorised, NotFound
from services.runtime.logging import get_logger
from services.runtime.read_log import ReadLog
from services.runtime.routes import BoundRoute

log = get_logger(__name__)

MAX_FIELD_ERRORS = 20  # a reply lists at most this many field errors (and says how many more)
MAX_BODY_BYTES = 1024 * 1024  # NATS's own default payload limit
MAX_DEPTH = 32  # no contract nests deeper than a few levels
MAX_FIELDS = 5000  # keys and list items in one request, all levels together (a roll import is one string)
MAX_REPLY_BYTES = MAX_BODY_BYTES - 16 * 1024  # a reply must fit in one message, with room for its headers


class PayloadRefused(ValueError):
    """A request body refused before it is parsed against its contract."""


async def bounded_json(msg: Any) -> Any:
    """The request body as JSON, within bounds: decoded here, before FastStream (or pydantic) parses it, so
    a body too large, too deep or too wide is answered `invalid` instead of failing somewhere unanswered."""
    body: bytes = msg.body
    if len(body) > MAX_BODY_BYTES:
        raise PayloadRefused(f"the request is {len(body):,} bytes; the most is {MAX_BODY_BYTES:,}")
    try:
        data = json.loads(body)
    except RecursionError:
        raise PayloadRefused(f"the request nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise PayloadRefused(f"not JSON: {e}") from None
    _check_shape(data)
    return data


def _check_shape(data: Any) -> None:
    fields, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadRefused(f"the request nests deeper than {MAX_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            fields += 1
            if fields > MAX_FIELDS:
                raise PayloadRefused(f"the request has more than {MAX_FIELDS:,} fields")
            stack.append((child, depth + 1))


def field_errors(errors: list[Any]) -> list[FieldError]:
    """pydantic's errors as fields of the request ("command.pupil.upn"), not of our handler's argument."""
    found = []
    for e in errors:
        loc = list(e["loc"])
        if loc and loc[0] in ("envelope", "body"):
            loc = loc[1:]
        found.append(FieldError(field=".".join(str(p) for p in loc) or "(message)", problem=e["msg"]))
    return found


def invalid(errors: list[FieldError], correlation_id: UUID | None = None) -> Rejected:
    summary = "; ".join(f"{fe.field}: {fe.problem}" for fe in errors[:5])
    more = len(errors) - MAX_FIELD_ERRORS
    return Rejected(
        code=RejectionCode.INVALID,
        message=f"The request was not valid: {summary}" + (f" (and {more} more problems)" if more > 0 else ""),
        field_errors=errors[:MAX_FIELD_ERRORS],
        correlation_id=correlation_id,
    )


def rejection_for(error: DomainError, correlation_id: Any) -> Rejected:
    code = RejectionCode.RULE_BROKEN
    if isinstance(error, NotAuthorised):
        code = RejectionCode.NOT_AUTHORISED
    elif isinstance(error, NotFound):
        code = RejectionCode.NOT_FOUND
    elif isinstance(error, Conflict):
        code = RejectionCode.CONFLICT
    errors = [FieldError(field=error.field, problem=error.message)] if error.field else []
    return Rejected(
        code=code, rule=error.rule, message=error.message, field_errors=errors, correlation_id=correlation_id
    )


def bounded(reply: Any, correlation_id: UUID | None, is_command: bool) -> Any:
    """The reply, or, when it would not fit in one NATS message (which NATS would refuse, leaving the caller
    waiting for nothing), a Rejected saying so: a query should be asked a page at a time (contracts/paging.py)."""
    size = len(reply.model_dump_json().encode())
    if size <= MAX_REPLY_BYTES:
        return reply
    log.warning("request.reply_too_large", bytes=size, most=MAX_REPLY_BYTES)
    done = "It was carried out, but its" if is_command else "Its"
    return Rejected(
        code=RejectionCode.RULE_BROKEN,
        rule="reply_too_large",
        message=f"{done} answer ({size:,} bytes) is too large for one message (at most {MAX_REPLY_BYTES:,}). "
        "Ask for less: a smaller page_size, or one school instead of the whole LA.",
        correlation_id=correlation_id,
    )


def internal_error(correlation_id: UUID | None) -> Rejected:
    return Rejected(
        code=RejectionCode.INTERNAL_ERROR,
        message=(
            "Something went wrong on our side and nothing was changed. "
            f"Please try again; if it keeps happening, quote reference {correlation_id}."
        ),
        correlation_id=correlation_id,
    )


class RequestGuard(BaseMiddleware):
    """Answers every request, whatever its body: what fails before the handler runs (a body that is not
    JSON, or that does not match the contract) becomes Rejected(invalid) with the fields at fault.

    And first, who sent it: a command must come from the gateway or the operator, a query from them or from a
    service whose contract asks it, an operator's request from the operator. NATS lets only those users publish
    on those subjects, but it checks the subject a client publishes to, never the reply subject of a JetStream
    delivery: a service could store a forged request on its own event subject and pull it from its own consumer
    with a command's subject as the delivery subject. Such a delivery's reply is a JetStream acknowledgement, not
    the asker's inbox; each user may read only its own inboxes (_INBOX.<user>.>), so the reply subject names the
    asker, and a request whose reply is no allowed asker's inbox is refused, done nothing with."""

    # subject -> the NATS users who may ask it (None: anyone, e.g. a ping). A message whose subject is none of these
    # reached a subscriber by a JetStream delivery (which keeps the subject it was stored under): refused.
    askers: ClassVar[Mapping[str, frozenset[str] | None]] = {}

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        subject = getattr(getattr(msg, "raw_message", None), "subject", None) or ""
        reply_to = getattr(msg, "reply_to", "") or ""
        if self.askers and (
            subject not in self.askers
            or ((allowed := self.askers[subject]) is not None and inbox_owner(reply_to) not in allowed)
        ):
            log.warning("request.refused_sender", subject=subject, reply_to=reply_to)
            return Rejected(
                code=RejectionCode.NOT_AUTHORISED,
                rule="not_through_the_gateway",
                message="This request did not come through sendcase's gateway or its operator, and is refused.",
            )
        try:
            return await call_next(msg)
        except PayloadRefused as e:
            return invalid([FieldError(field="(message)", problem=str(e))])
        except json.JSONDecodeError as e:
            return invalid([FieldError(field="(message)", problem=f"not JSON: {e.msg}")])
        except (ValidationError, ArgumentsInvalid) as e:
            errors = e.errors() if hasattr(e, "errors") else []
            return invalid(field_errors(list(errors)) or [FieldError(field="(message)", problem=str(e))])
        except Exception:
            log.exception("request.failed_before_handler", subject=getattr(msg, "subject", None))
            return internal_error(None)


def logged_user(actor: Actor) -> str:
    """Who asked, as the logs name them: staff by their user id; a parent or young person by their pseudonym, as
    stored metadata names them (their id at their identity provider is what their grants are keyed on)."""
    return citizen_pseudonym(actor.user_id) if actor.organisation == "citizen" else actor.user_id


def _handler(bound: BoundRoute, clock: Clock, read_log: ReadLog | None = None) -> Callable[..., Any]:
    route = bound.route
    is_command = issubclass(route.message, Command)
    reads = route.reads if read_log is not None and not is_command else None
    envelope_type: Any = (CommandEnvelope if is_command else QueryEnvelope)[route.message]
    success: Any = (Accepted if is_command else Answered)[route.message.Result]
    subject_name = route.message.SUBJECT

    async def handle(envelope: Any) -> Any:
        ctx = CommandContext(
            actor=envelope.actor,
            now=clock.now(),
            correlation_id=envelope.correlation_id,
            causation_id=getattr(envelope, "causation_id", None),
            command_id=getattr(envelope, "command_id", None),
        )
        payload = envelope.command if is_command else envelope.query
        with structlog.contextvars.bound_contextvars(
            correlation_id=str(ctx.correlation_id), request=subject_name, user=logged_user(ctx.actor)
        ):
            try:
                if is_command:
                    check_may_change(ctx.actor)  # an auditor changes nothing, in any service
                reply = await bound.call(payload, ctx)
            except DomainError as e:
                log.info("request.rejected", rule=e.rule, field=e.field)  # the words name the child: not logged
                if reads is not None and read_log is not None and isinstance(e, NotAuthorised):
                    try:  # a refused look at a child is recorded too (best effort: the refusal stands either way)
                        await read_log.refused(reads, payload, ctx.actor, ctx.now, ctx.correlation_id)
                    except Exception:
                        log.exception("read_log.refusal_not_recorded")
                return rejection_for(e, ctx.correlation_id)
            except Exception:
                log.exception("request.failed")
                return internal_error(ctx.correlation_id)
            if reads is not None and read_log is not None:
                try:  # recorded before it is answered: a read that cannot be recorded is not answered
                    await read_log.shown(reads, payload, reply.result, ctx.actor, ctx.now, ctx.correlation_id)
                except Exception:
                    log.exception("read_log.not_recorded")
                    return internal_error(ctx.correlation_id)
            if isinstance(reply, Replayed):
                log.info("request.repeated", first_reply="returned again, nothing done")
                return bounded(success.model_validate_json(reply.reply), ctx.correlation_id, is_command)
            log.info("request.done")
            return bounded(reply, ctx.correlation_id, is_command)

    # The signature is the contract: FastStream validates the body against it and documents it.
    handle.__annotations__ = {"envelope": envelope_type, "return": success | Rejected}
    handle.__name__ = route.message.__name__
    handle.__qualname__ = route.message.__name__
    handle.__doc__ = route.message.__doc__ or f"{route.kind.title()} {subject_name}"
    return handle


def services_asking(query: type[Query]) -> frozenset[str]:
    """The services whose contracts ask this query of its service (contracts/catalogue.py)."""
    from contracts.catalogue import CATALOGUE

    return frozenset(name for name, contract in CATALOGUE.items() if query in contract.asks)


def router_for(
    service: str,
    prefix: str,
    routes: list[BoundRoute],
    clock: Clock,
    in_flight: int = 128,
    read_log: ReadLog | None = None,
) -> NatsRouter:
    """One router per service: a subscriber per command and query, in the service's queue group (so
    replicas share the load), every request guarded, up to `in_flight` requests per subject handled at
    once (commands then meet in the service's CommandBatcher and are saved together). Every read of a child's
    record is recorded in `read_log` (None only for a test's router of made-up queries)."""
    askers: dict[str, frozenset[str] | None] = {
        parked_events_subject(prefix, service): frozenset({OPERATOR_USER}),
        ping_subject(prefix, service): None,
    }
    for bound in routes:
        message = bound.route.message
        subject = (command_subject if issubclass(message, Command) else query_subject)(prefix, message.SUBJECT)
        askers[subject] = frozenset(PEOPLES_USERS) | (
            frozenset() if issubclass(message, Command) else services_asking(message)
        )
    guard: Any = type("RequestGuard", (RequestGuard,), {"askers": askers})
    router = NatsRouter(middlewares=[guard])
    for bound in routes:
        message = bound.route.message
        subject = (command_subject if issubclass(message, Command) else query_subject)(prefix, message.SUBJECT)
        router.subscriber(
            subject, queue=service, title=f"{message.SUBJECT}", decoder=bounded_json, max_workers=in_flight
        )(_handler(bound, clock, read_log))
    return router
