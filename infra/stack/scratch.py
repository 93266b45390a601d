"""Scratch servers: real PostgreSQL and NATS JetStream for a test session or a benchmark run.

The embedded servers (as `sendcase up` runs them, from infra.stack.servers) in a throw-away folder, or external
ones you already have: set SENDCASE_TEST_POSTGRES_URL (a server URL, e.g.
postgresql://postgres:postgres@127.0.0.1:5432/postgres) and SENDCASE_TEST_NATS_URL (nats-server 2.10 or
newer, JetStream enabled). Only these dedicated names are read, never the production SENDCASE_POSTGRES_URL
or SENDCASE_NATS_URL: each sandbox creates databases and streams of its own on the servers and leaves them
there.

Each user of the servers works in a Sandbox: its own subject prefix, streams and databases, so many can
share one pair of servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from infra.stack.servers import EmbeddedNats, EmbeddedPostgres
from services.runtime.database import ensure_database
from services.runtime.keyring import MasterKeys, PostgresKeyring, use_keyring
from services.runtime.settings import ServiceSettings, load_settings

POSTGRES_URL_VARIABLE = "SENDCASE_TEST_POSTGRES_URL"
NATS_URL_VARIABLE = "SENDCASE_TEST_NATS_URL"


@dataclass
class Servers:
    postgres_url: str
    nats_url: str


class EmbeddedServers:
    """PostgreSQL and NATS from the wheels, with their data and logs under `root`."""

    def __init__(self, root: Path) -> None:
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.pg = EmbeddedPostgres(root / "postgres", root / "logs" / "postgres.log")
        self.nats = EmbeddedNats(root / "nats", root / "logs" / "nats.log")

    def start(self) -> Servers:
        return Servers(self.pg.start(), self.nats.start())

    def stop(self) -> None:
        self.nats.stop()
        self.pg.stop()


def external_servers() -> Servers | None:
    """The servers named by SENDCASE_TEST_POSTGRES_URL and SENDCASE_TEST_NATS_URL, if both are set."""
    pg, nats_url = os.environ.get(POSTGRES_URL_VARIABLE), os.environ.get(NATS_URL_VARIABLE)
    if pg and nats_url:
        return Servers(pg, nats_url)
    return None


def new_prefix() -> str:
    """A fresh subject prefix (and database name prefix) for one sandbox."""
    return "t" + uuid.uuid4().hex[:10]


@dataclass
class Sandbox:
    """One user's own corner of the servers: its own subject prefix, streams and databases."""

    servers: Servers
    prefix: str
    keys: str = field(default_factory=lambda: MasterKeys.generate().to_json(), repr=False)  # its own keys file

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
            keys=self.keys,
            keys_database_url=self.database_url("keys"),
        )
        values.update(overrides)
        return load_settings(service, **values)

    async def open_keyring(self) -> PostgresKeyring:
        """This sandbox's keyring, made the process's (as `sendcase serve` does at start), for services run in
        this process (benchmarks; the tests use one in-memory keyring for the whole test process)."""
        await ensure_database(self.database_url("keys"))
        ring = PostgresKeyring(self.database_url("keys"), MasterKeys.from_json(self.keys))
        use_keyring(ring)
        return ring

    def env(self, service: str, **extra: str) -> dict[str, str]:
        """The environment for a service process in this sandbox (the production configuration path)."""
        env = dict(os.environ)
        key = f"SENDCASE_{service.upper()}_"
        env.update(
            {
                "SENDCASE_POSTGRES_URL": self.servers.postgres_url,
                f"{key}DATABASE_URL": self.database_url(service),
                "SENDCASE_NATS_URL": self.servers.nats_url,
                "SENDCASE_SUBJECT_PREFIX": self.prefix,
                "SENDCASE_POLL_SECONDS": "0.2",
                "SENDCASE_CONSUMER_ACK_WAIT_SECONDS": "2",
                "SENDCASE_CONSUMER_BACKOFF_SECONDS": "[0.2, 0.5]",
                "SENDCASE_LOG_FORMAT": "json",
                "SENDCASE_KEYS": self.keys,
                "SENDCASE_KEYS_DATABASE_URL": self.database_url("keys"),
            }
        )
        env.update(extra)
        return env


@contextlib.contextmanager
def scratch_servers(label: str = "scratch") -> Iterator[tuple[Servers, Path]]:
    """The servers named by the environment, else embedded ones; and a scratch folder.
    Everything it started or wrote is gone afterwards (a sandbox's databases on external servers stay)."""
    root = Path(tempfile.mkdtemp(prefix=f"sendcase-{label}-"))
    external = external_servers()
    embedded = None if external is not None else EmbeddedServers(root / "servers")
    try:
        servers = external if external is not None else embedded.start() if embedded is not None else None
        assert servers is not None
        yield servers, root
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(root, ignore_errors=True)
