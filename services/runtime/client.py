"""Sending commands and queries to sendcase over NATS and reading their typed replies.

For the CLI today and the gateway tomorrow: it depends only on contracts/ and nats-py (import-linter
keeps it so). Each reply is parsed as exactly what the message declares: `Accepted[Command.Result]`,
`Answered[Query.Result]`, or `Rejected`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

import nats
from pydantic import TypeAdapter

from contracts.envelope import (
    Accepted,
    Actor,
    Answered,
    Command,
    CommandEnvelope,
    Query,
    QueryEnvelope,
    Rejected,
    reply_type,
)
from contracts.subjects import command_subject, query_subject

R = TypeVar("R")


@cache
def _replies(message: type[Command] | type[Query]) -> TypeAdapter[Any]:
    return TypeAdapter(reply_type(message))


class Client:
    """One connection to NATS, acting as one person (or naming another actor per call)."""

    def __init__(self, nats_url: str, prefix: str, actor: Actor, timeout: float = 10.0) -> None:
        self.nats_url = nats_url
        self.prefix = prefix
        self.actor = actor
        self.timeout = timeout
        self.nc: Any = None

    async def __aenter__(self) -> Client:
        self.nc = await nats.connect(self.nats_url, name="sendcase-client", max_reconnect_attempts=3)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.nc.close()

    async def command(self, command: Command, actor: Actor | None = None) -> Accepted[Any] | Rejected:
        envelope_type: Any = CommandEnvelope[type(command)]  # type: ignore[misc]  # a class known at run time
        envelope = envelope_type(command=command, actor=actor or self.actor)
        reply: Accepted[Any] | Rejected = await self._request(command_subject(self.prefix, command.SUBJECT), envelope)
        return reply

    async def query(self, query: Query, actor: Actor | None = None) -> Answered[Any] | Rejected:
        envelope_type: Any = QueryEnvelope[type(query)]  # type: ignore[misc]  # a class known at run time
        envelope = envelope_type(query=query, actor=actor or self.actor)
        reply: Answered[Any] | Rejected = await self._request(query_subject(self.prefix, query.SUBJECT), envelope)
        return reply

    async def _request(self, subject: str, envelope: Any) -> Any:
        """Send one request; parse the reply as exactly what the message declares."""
        message: Command | Query = envelope.command if hasattr(envelope, "command") else envelope.query
        reply = await self.nc.request(subject, envelope.model_dump_json().encode(), timeout=self.timeout)
        return _replies(type(message)).validate_json(reply.data)
