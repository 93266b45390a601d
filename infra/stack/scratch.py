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

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from infra.stack.nats_users import ANY, OPERATOR, NatsCredentials, users
from infra.stack.operator import create_streams
from infra.stack.servers import EmbeddedNats, EmbeddedPostgres
from services.runtime.database import ensure_database
from services.runtime.keyring import MasterKeys, PostgresKeyring, use_keyring
from services.runtime.settings import ServiceSettings, load_settings

POSTGRES_URL_VARIABLE = "SENDCASE_TEST_POSTGRES_URL"
NATS_URL_VARIABLE = "SENDCASE_TEST_NATS_URL"


@dataclass
class Servers:
    postgres_url: str
    nats_url: str  # where NATS requires credentials, the operator's URL (with its password)
    credentials: NatsCredentials | None = None  # each NATS user's password, where the server requires them
    nats_server_url: str = ""  # the server's URL without any user

    def nats_url_for(self, user: str) -> str:
        """The URL a user of NATS connects with: a service as itself, the gateway as the gateway, anything else
        (a test, the CLI, a benchmark's driver) as the operator."""
        if self.credentials is None:
            return self.nats_url
        return self.credentials.url(user if user in users() else OPERATOR, self.nats_server_url)


class EmbeddedServers:
    """PostgreSQL and NATS from the wheels, with their data and logs under `root`."""

    def __init__(self, root: Path) -> None:
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.pg = EmbeddedPostgres(root / "postgres", root / "logs" / "postgres.log")
        # NATS requires credentials here too, under the same rules as production (infra/stack/nats_users.py),
        # written for any prefix and stream names so that every sandbox (its own prefix) shares this server.
        # bcrypt at its lowest cost: the server checks a password at every connection, and tests connect often.
        self.credentials = NatsCredentials.ensure(root / "keys")
        self.nats = EmbeddedNats(
            root / "nats", root / "logs" / "nats.log", users=lambda: self.credentials.server_config(ANY, cost=4)
        )

    def start(self) -> Servers:
        postgres_url, nats_url = self.pg.start(), self.nats.start()
        return Servers(postgres_url, self.credentials.url(OPERATOR, nats_url), self.credentials, nats_url)

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
    streams_made: bool = field(default=False, repr=False)

    def make_streams(self) -> None:
        """Where NATS requires credentials, the services may not create streams (as in production): the
        operator creates this sandbox's, once, before the first service is configured."""
        if self.streams_made or self.servers.credentials is None:
            return
        self.streams_made = True

        async def make() -> None:
            await create_streams(self.servers.nats_url, self.prefix)  # as `sendcase create-streams` does

        _run_now(make())

    def database_url(self, service: str) -> str:
        parts = urlsplit(self.servers.postgres_url)
        return urlunsplit(parts._replace(path=f"/{self.prefix}_{service}"))

    def settings(self, service: str, **overrides: Any) -> ServiceSettings:
        self.make_streams()
        values: dict[str, Any] = dict(
            postgres_url=self.servers.postgres_url,
            database_url=self.database_url(service),
            nats_url=self.servers.nats_url_for(service),
            manage_streams=self.servers.credentials is None,
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
        self.make_streams()
        env = dict(os.environ)
        key = f"SENDCASE_{service.upper()}_"
        env.update(
            {
                "SENDCASE_POSTGRES_URL": self.servers.postgres_url,
                f"{key}DATABASE_URL": self.database_url(service),
                "SENDCASE_NATS_URL": self.servers.nats_url_for(service),
                "SENDCASE_MANAGE_STREAMS": "false" if self.servers.credentials is not None else "true",
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


def _run_now(work: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to its end from synchronous code, in a thread of its own when an event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(work)
        return
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(work)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


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
