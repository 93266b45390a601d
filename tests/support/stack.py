"""Real servers for the tests: the embedded ones (as `sendcase up` runs them) or external ones.

Set SENDCASE_TEST_POSTGRES_URL (a server URL, e.g. postgresql://postgres:postgres@127.0.0.1:5432/postgres)
and SENDCASE_TEST_NATS_URL to run against servers you already have. The servers and sandboxes themselves
live in infra.stack.scratch (the benchmarks use them too); this module adds what only the tests need.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import nats

from infra.stack.nats_users import OPERATOR
from infra.stack.scratch import (  # noqa: F401  (re-exported for the tests)
    EmbeddedServers,
    Sandbox,
    Servers,
    external_servers,
    new_prefix,
    scratch_servers,
)
from services.runtime.clock import Clock, SystemClock
from services.runtime.database import ensure_database
from services.runtime.nats_connection import nats_servers
from services.runtime.service import Bootstrap, ServiceRuntime
from services.runtime.settings import ServiceSettings

_servers: list[Servers] = []


def use_servers(servers: Servers) -> None:
    """The test session's servers (the `servers` fixture says which), for as_operator."""
    _servers[:] = [servers]


def as_operator(url: str) -> str:
    """The same NATS server, as the operator: what a test reads or sends itself (a stream's messages, a
    command as a person) it does as the operator, while each service runs as its own NATS user."""
    servers = _servers[0] if _servers else None
    if servers is None or servers.credentials is None:
        return url
    return servers.credentials.url(OPERATOR, url)


@contextlib.asynccontextmanager
async def running_service(
    bootstrap: Bootstrap, settings: ServiceSettings, clock: Clock | None = None
) -> AsyncIterator[ServiceRuntime]:
    await ensure_database(settings.database_url or "")
    runtime = ServiceRuntime(bootstrap(settings, clock or SystemClock()))
    try:
        await runtime.start()
    except BaseException:  # a service that refused to start closes what it had opened
        await runtime.stop()
        raise
    try:
        yield runtime
    finally:
        await runtime.stop()


async def stream_messages(nats_url: str, stream: str, subject_prefix: str | None = None) -> list[Any]:
    """Every message in a stream, in order (for small test streams)."""
    nc = await nats.connect(nats_servers(as_operator(nats_url)))
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError:
                continue
            if subject_prefix is None or msg.subject.startswith(subject_prefix):
                found.append(msg)
        return found
    finally:
        await nc.close()


async def eventually(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
