"""Real servers for the tests: the embedded ones (as `sendcase up` runs them) or external ones.

Set SENDCASE_TEST_POSTGRES_URL (a server URL, e.g. postgresql://postgres:postgres@127.0.0.1:5432/postgres)
and SENDCASE_TEST_NATS_URL to run against servers you already have.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats

from services.runtime.clock import Clock, SystemClock
from services.runtime.database import ensure_database
from services.runtime.service import Bootstrap, ServiceRuntime
from services.runtime.settings import ServiceSettings, load_settings


@dataclass
class Servers:
    postgres_url: str
    nats_url: str


class EmbeddedServers:
    def __init__(self, root: Path) -> None:
        from infra.stack import EmbeddedNats, EmbeddedPostgres

        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.pg = EmbeddedPostgres(root / "postgres", root / "logs" / "postgres.log")
        self.nats = EmbeddedNats(root / "nats", root / "logs" / "nats.log")

    def start(self) -> Servers:
        return Servers(self.pg.start(), self.nats.start())

    def stop(self) -> None:
        self.nats.stop()
        self.pg.stop()


def external_servers() -> Servers | None:
    pg, nats_url = os.environ.get("SENDCASE_TEST_POSTGRES_URL"), os.environ.get("SENDCASE_TEST_NATS_URL")
    if pg and nats_url:
        return Servers(pg, nats_url)
    return None


@dataclass
class Sandbox:
    """One test's own corner of the servers: its own subject prefix, streams and databases."""

    servers: Servers
    prefix: str

    def database_url(self, service: str) -> str:
        parts = urlsplit(self.servers.postgres_url)
        return urlunsplit(parts._replace(path=f"/{self.prefix}_{service}"))

    def settings(self, service: str, **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = dict(
            postgres_url=self.servers.postgres_url,
            database_url=self.database_url(service),
            nats_url=self.servers.nats_url,
            subject_prefix=self.prefix,
            poll_seconds=0.2,
            consumer_backoff_seconds=[0.2, 0.4],
            consumer_ack_wait_seconds=3.0,
            consumer_max_attempts=3,
        )
        values.update(overrides)
        return load_settings(service, **values)

    def env(self, service: str, **extra: str) -> dict[str, str]:
        """The environment for a service process in this sandbox (the production configuration path)."""
        env = dict(os.environ)
        key = f"SENDCASE_{service.upper()}_"
        env.update({
            "SENDCASE_POSTGRES_URL": self.servers.postgres_url,
            f"{key}DATABASE_URL": self.database_url(service),
            "SENDCASE_NATS_URL": self.servers.nats_url,
            "SENDCASE_SUBJECT_PREFIX": self.prefix,
            "SENDCASE_POLL_SECONDS": "0.2",
            "SENDCASE_CONSUMER_ACK_WAIT_SECONDS": "2",
            "SENDCASE_CONSUMER_BACKOFF_SECONDS": "[0.2, 0.5]",
            "SENDCASE_LOG_FORMAT": "json",
        })
        env.update(extra)
        return env


@contextlib.contextmanager
def scratch_servers() -> Iterator[tuple[Servers, Path]]:
    """For a benchmark: the servers named by the environment, else embedded ones; and a scratch folder.
    Everything it started or wrote is gone afterwards."""
    root = Path(tempfile.mkdtemp(prefix="sendcase-bench-"))
    external = external_servers()
    embedded = None if external is not None else EmbeddedServers(root / "servers")
    try:
        yield (external if external is not None else embedded.start()), root
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(root, ignore_errors=True)


def new_prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


@contextlib.asynccontextmanager
async def running_service(
    bootstrap: Bootstrap, settings: ServiceSettings, clock: Clock | None = None
) -> AsyncIterator[ServiceRuntime]:
    await ensure_database(settings.database_url or "")
    runtime = ServiceRuntime(bootstrap(settings, clock or SystemClock()))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def stream_messages(nats_url: str, stream: str, subject_prefix: str | None = None) -> list[Any]:
    """Every message in a stream, in order (for small test streams)."""
    nc = await nats.connect(nats_url)
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
