"""Talking to a running stack from the CLI: find it, send a command or query, read the reply."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nats
from pydantic import TypeAdapter

from contracts.envelope import Actor, CommandEnvelope, QueryEnvelope, Reply
from contracts.subjects import DEFAULT_PREFIX, command_subject, query_subject
from infra.stack import StackState, pid_alive, sendcase_home

_reply = TypeAdapter(Reply)


class StackNotRunning(RuntimeError):
    pass


def locate(home: Path | None = None) -> tuple[str, str]:
    """(nats_url, subject_prefix): from SENDCASE_NATS_URL if set, else the running `sendcase up`."""
    if os.environ.get("SENDCASE_NATS_URL"):
        return os.environ["SENDCASE_NATS_URL"], os.environ.get("SENDCASE_SUBJECT_PREFIX", DEFAULT_PREFIX)
    home = home or sendcase_home()
    state = StackState.load(home)
    if state is None or not pid_alive(state.supervisor_pid):
        raise StackNotRunning(f"no running sendcase found in {home}: start it with `sendcase up`")
    return state.nats_url, state.subject_prefix


class Client:
    def __init__(self, nats_url: str, prefix: str, actor: Actor, timeout: float = 10.0) -> None:
        self.nats_url = nats_url
        self.prefix = prefix
        self.actor = actor
        self.timeout = timeout
        self.nc: Any = None

    async def __aenter__(self) -> Client:
        self.nc = await nats.connect(self.nats_url, name="sendcase-cli")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.nc.close()

    async def command(self, command: Any, actor: Actor | None = None) -> Any:
        envelope = CommandEnvelope[type(command)](command=command, actor=actor or self.actor)
        msg = await self.nc.request(
            command_subject(self.prefix, command.SUBJECT), envelope.model_dump_json().encode(), timeout=self.timeout
        )
        return _reply.validate_json(msg.data)

    async def query(self, query: Any, actor: Actor | None = None) -> Any:
        envelope = QueryEnvelope[type(query)](query=query, actor=actor or self.actor)
        msg = await self.nc.request(
            query_subject(self.prefix, query.SUBJECT), envelope.model_dump_json().encode(), timeout=self.timeout
        )
        return _reply.validate_json(msg.data)
