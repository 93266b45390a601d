"""Sending commands and queries to sendcase over NATS and reading their typed replies.

For the CLI today and the gateway tomorrow: it depends only on contracts/, nats-py and the standard-library
helpers of services/runtime/nats_connection.py (import-linter keeps it so). Each reply is parsed as exactly
what the message declares: `Accepted[Command.Result]`, `Answered[Query.Result]`, or `Rejected`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import nats
import nats.errors
from pydantic import TypeAdapter

from contracts.envelope import (
    Accepted,
    Actor,
    Answered,
    Command,
    CommandEnvelope,
    ParkedEventsAction,
    ParkedEventsAnswer,
    Query,
    QueryEnvelope,
    Rejected,
    reply_type,
)
from contracts.subjects import OPERATOR_USER, command_subject, inbox_prefix, parked_events_subject, query_subject
from services.runtime.nats_connection import nats_servers

R = TypeVar("R")

# Who a client is when its URL names no user (a NATS that asks for no credentials): the operator. The services
# take commands only from the gateway's and the operator's inboxes (services/runtime/endpoints.py, RequestGuard).
CLIENT_USER = OPERATOR_USER


_parked_answers: TypeAdapter[Any] = TypeAdapter(ParkedEventsAnswer | Rejected)


@cache
def _replies(message: type[Command] | type[Query]) -> TypeAdapter[Any]:
    return TypeAdapter(reply_type(message))


class Client:
    """One connection to NATS, acting as one person (or naming another actor per call). A client made with no
    actor (the gateway's: it acts for whoever signed in) must be told the actor on every call."""

    def __init__(
        self,
        nats_url: str,
        prefix: str,
        actor: Actor | None,
        timeout: float = 10.0,
        retries: int = 2,
        *,
        tls: ssl.SSLContext | None = None,
        name: str = "sendcase-client",
        max_reconnect_attempts: int = 3,  # -1: for ever (a long-running gateway outlives a NATS restart)
    ) -> None:
        self.nats_url = nats_url
        self.prefix = prefix
        self.actor = actor
        self.timeout = timeout
        self.retries = retries  # a command whose reply did not come in time is sent again, with the same id
        self.tls = tls  # see services/runtime/tls.py
        self.name = name
        self.max_reconnect_attempts = max_reconnect_attempts
        # Its inboxes are named for its NATS user (the URL's), who may read only _INBOX.<user>.>.
        self.user = urlsplit(nats_url.split(",")[0]).username or CLIENT_USER
        self.nc: Any = None

    async def __aenter__(self) -> Client:
        options: dict[str, Any] = {"tls": self.tls} if self.tls is not None else {}
        self.nc = await nats.connect(
            nats_servers(self.nats_url),
            name=self.name,
            max_reconnect_attempts=self.max_reconnect_attempts,
            inbox_prefix=inbox_prefix(self.user),
            **options,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.nc.close()

    async def command(
        self, command: Command, actor: Actor | None = None, *, command_id: UUID | None = None
    ) -> Accepted[Any] | Rejected:
        """Send a command; `command_id` is its idempotency key (a fresh one when not given): sent again with the
        same id, it is not done again and the first reply comes back."""
        envelope_type: Any = CommandEnvelope[type(command)]  # type: ignore[misc]  # a class known at run time
        ids = {"command_id": command_id} if command_id is not None else {}
        envelope = envelope_type(command=command, actor=self._acting(actor), **ids)
        reply: Accepted[Any] | Rejected = await self._request(command_subject(self.prefix, command.SUBJECT), envelope)
        return reply

    async def query(self, query: Query, actor: Actor | None = None) -> Answered[Any] | Rejected:
        envelope_type: Any = QueryEnvelope[type(query)]  # type: ignore[misc]  # a class known at run time
        envelope = envelope_type(query=query, actor=self._acting(actor))
        reply: Answered[Any] | Rejected = await self._request(query_subject(self.prefix, query.SUBJECT), envelope)
        return reply

    def _acting(self, actor: Actor | None) -> Actor:
        acting = actor or self.actor
        if acting is None:
            raise ValueError("this client acts for no one of its own: name the actor of each command and query")
        return acting

    async def pages(self, query: Query, actor: Actor | None = None) -> AsyncIterator[Answered[Any] | Rejected]:
        """Every page of a paged query (contracts/paging.py), in order: each reply as it comes, the next asked
        with the previous one's `next_after`, until the last page (or a refusal, which is yielded and ends it).
        A page refused as too large for one message is asked again at half the size."""
        while True:
            reply = await self.query(query, actor)
            size: int = getattr(query, "page_size", 1)
            if isinstance(reply, Rejected) and reply.rule == "reply_too_large" and size > 1:
                query = query.model_copy(update={"page_size": size // 2})
                continue
            yield reply
            if isinstance(reply, Rejected) or reply.result.next_after is None:
                return
            query = query.model_copy(update={"after": reply.result.next_after})

    async def parked_events(self, service: str, request: ParkedEventsAction) -> ParkedEventsAnswer | Rejected:
        """An operator's request about the events a service's read models parked."""
        reply = await self.nc.request(
            parked_events_subject(self.prefix, service), request.model_dump_json().encode(), timeout=self.timeout
        )
        answer: ParkedEventsAnswer | Rejected = _parked_answers.validate_json(reply.data)
        return answer

    async def _request(self, subject: str, envelope: Any) -> Any:
        """Send one request; parse the reply as exactly what the message declares. When no reply comes in
        time, send the same envelope again (a command keeps its id, so it is done at most once), then give
        up with NoReply: the command may or may not have been done, and sending it again is safe."""
        message: Command | Query = envelope.command if hasattr(envelope, "command") else envelope.query
        body = envelope.model_dump_json().encode()
        for attempt in range(self.retries + 1):
            try:
                reply = await self.nc.request(subject, body, timeout=self.timeout)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as e:
                if attempt == self.retries:
                    nobody = isinstance(e, nats.errors.NoRespondersError)
                    raise NoReply(subject, self.retries + 1, getattr(envelope, "command_id", None), nobody) from e
                await asyncio.sleep(min(2.0, 0.25 * 2**attempt))
                continue
            return _replies(type(message)).validate_json(reply.data)
        raise AssertionError("unreachable")


class NoReply(Exception):
    """No reply came, however often the request was sent."""

    def __init__(self, subject: str, tries: int, command_id: Any, nobody_listening: bool = False) -> None:
        self.nobody_listening = nobody_listening  # no service subscribed at all (rather than a slow one)
        what = f"command {command_id}" if command_id else "query"
        super().__init__(
            f"No reply from sendcase to {subject} after {tries} tries: is the service running? The {what} may "
            "or may not have been done; sending it again with the same id is safe."
        )
