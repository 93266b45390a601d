"""`sendcase up`: start the embedded servers and every service as its own process, keep them all running
(PostgreSQL and NATS included), and stop everything in order on Ctrl-C or `sendcase down` (services first,
then NATS, then PostgreSQL).

Whatever exits or is killed is reaped at once (no zombie is left holding its pid) and started again: a
server on the same port and data folder, so the services, which reconnect by themselves, find it where
they left it. Each restarts after a short, growing delay, at most RESTARTS_PER_MINUTE times a minute; one
that keeps dying is left down and `sendcase status` says so. stack.json always names the processes running
now, for `sendcase status` and `sendcase down`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from contracts.subjects import DEFAULT_PREFIX
from infra.stack.catalogue import GATEWAY, SERVICES
from infra.stack.nats_users import OPERATOR, NatsCredentials
from infra.stack.operator import create_streams
from infra.stack.servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    StackState,
    all_pids,
    arguments,
    free_port,
    pid_alive,
    stop_pid,
    stop_process,
)
from services.runtime.anchors import ensure_signing_key
from services.runtime.database import ensure_database
from services.runtime.keyring import MasterKeys
from services.runtime.retry import Backoff
from services.runtime.settings import load_settings

# <code>/retention.toml, access.toml, letters.toml (with its logo)
LOCAL_AUTHORITIES = Path(__file__).resolve().parent.parent / "local_authorities"
DEMO_PEOPLE = Path(__file__).resolve().parent.parent / "demo" / "people.toml"  # the development sign-in's people
GATEWAY_PORT = 8080  # the gateway's port when free (else another, kept for the next `up`)
RESTARTS_PER_MINUTE = 5
RESTART_DELAYS = Backoff.doubling(0.5, 8.0)  # before the 1st, 2nd, ... restart within a minute


def service_env(
    name: str, postgres_url: str, nats_url: str, prefix: str, home: Path, credentials: NatsCredentials
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SENDCASE_HOME=str(home),  # e.g. the notifications file outbox is <home>/outbox
        # every person's data key is wrapped by the master keys in this file, made on first start (docs/audit.md)
        SENDCASE_KEYS_FILE=str(MasterKeys.ensure(home / "keys")),
        SENDCASE_POSTGRES_URL=postgres_url,
        # each service connects to NATS as its own user, which may not create streams (the stack made them)
        SENDCASE_NATS_URL=credentials.url(name, nats_url),
        SENDCASE_MANAGE_STREAMS="false",
        SENDCASE_SUBJECT_PREFIX=prefix,
    )
    env.pop(f"SENDCASE_{name.upper()}_DATABASE_URL", None)
    # the key that signs each service's checkpoints of its hash chain, kept apart from the database (docs/audit.md)
    env.setdefault("SENDCASE_ANCHOR_SIGNING_KEY", str(ensure_signing_key(home / "keys")))
    if name == "register" and "SENDCASE_REGISTER_RETENTION_SCHEDULE" not in env:
        # the LA's own retention schedule, when this build has one for SENDCASE_LOCAL_AUTHORITY_CODE (docs/audit.md)
        schedule = LOCAL_AUTHORITIES / env.get("SENDCASE_LOCAL_AUTHORITY_CODE", "000") / "retention.toml"
        if schedule.is_file():
            env["SENDCASE_REGISTER_RETENTION_SCHEDULE"] = str(schedule)
    if name == "notifications" and "SENDCASE_NOTIFICATIONS_LETTERS_CONFIG" not in env:
        # who the LA's messages are from, where families get help (docs/notifications.md, "Who a message is from")
        letters = LOCAL_AUTHORITIES / env.get("SENDCASE_LOCAL_AUTHORITY_CODE", "000") / "letters.toml"
        if letters.is_file():
            env["SENDCASE_NOTIFICATIONS_LETTERS_CONFIG"] = str(letters)
    return env


def gateway_env(postgres_url: str, nats_url: str, prefix: str, home: Path, port: int) -> dict[str, str]:
    """The gateway of the embedded stack: development mode on this machine, with the development sign-in (pick a
    demo person) unless the environment says otherwise (docs/security.md)."""
    env = dict(os.environ)
    env.update(
        SENDCASE_HOME=str(home),
        SENDCASE_POSTGRES_URL=postgres_url,
        SENDCASE_NATS_URL=nats_url,
        SENDCASE_SUBJECT_PREFIX=prefix,
        SENDCASE_GATEWAY_HOST="127.0.0.1",
        SENDCASE_GATEWAY_PORT=str(port),
    )
    env.pop("SENDCASE_GATEWAY_DATABASE_URL", None)
    env.setdefault("SENDCASE_GATEWAY_PUBLIC_URL", f"http://127.0.0.1:{port}")
    env.setdefault("SENDCASE_GATEWAY_MODE", "development")
    if env["SENDCASE_GATEWAY_MODE"] == "development":
        env.setdefault("SENDCASE_GATEWAY_DEVELOPMENT_SIGN_IN", "true")
        env.setdefault("SENDCASE_GATEWAY_DEMO_PEOPLE", str(DEMO_PEOPLE))
    if "SENDCASE_GATEWAY_ACCESS_MAPPING" not in env:
        # the LA's own access mapping, when this build has one for SENDCASE_LOCAL_AUTHORITY_CODE (docs/security.md)
        mapping = LOCAL_AUTHORITIES / env.get("SENDCASE_LOCAL_AUTHORITY_CODE", "000") / "access.toml"
        if mapping.is_file():
            env["SENDCASE_GATEWAY_ACCESS_MAPPING"] = str(mapping)
    return env


def spawn_service(name: str, env: dict[str, str], logs: Path) -> subprocess.Popen:
    with open(logs / f"{name}.log", "ab") as log:  # the service process has its own copy
        return subprocess.Popen(
            # --home names the stack on the command line, so its processes can be told apart in `ps`
            [sys.executable, "-m", "infra.cli", "--home", env["SENDCASE_HOME"], "serve", name],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def is_service_of(pid: int, home: Path) -> bool:
    """Whether a process is a service of the stack in this home (its command line names the home; one
    started before it did is taken on its pid in stack.json)."""
    args = arguments(pid)
    if "infra.cli" not in args or "serve" not in args or not pid_alive(pid):
        return False
    return "--home" not in args or ("--home", str(home)) in pairwise(args)


def service_processes(home: Path) -> list[int]:
    """The service processes of the stack in this home."""
    return [pid for pid in all_pids() if ("--home", str(home)) in pairwise(arguments(pid)) and is_service_of(pid, home)]


def stop_leftovers(home: Path, state: StackState) -> list[str]:
    """Stop whatever of this home's stack still runs without its supervisor (killed, say): the services,
    then NATS, then PostgreSQL, each found by its pid in stack.json or by its home in /proc. What it stopped."""
    stopped = []
    services = {pid for pid in state.services.values() if is_service_of(pid, home)}
    for pid in sorted(services | set(service_processes(home))):
        if pid_alive(pid):
            stop_pid(pid, signal.SIGTERM, timeout=20)
            stopped.append(f"service pid {pid}")
    for pid in EmbeddedNats(home / "nats", home / "logs" / "nats.log").processes():
        stop_pid(pid, signal.SIGTERM, timeout=20)
        stopped.append(f"nats-server pid {pid}")
    pg = EmbeddedPostgres(home / "postgres", home / "logs" / "postgres.log")
    if running := pg.processes():
        pg.free_data_dir()  # stops a postmaster left running (cleanly), and any children it left
        stopped.append(f"PostgreSQL pids {', '.join(map(str, running))}")
    return stopped


def how_it_ended(proc: subprocess.Popen) -> str:
    code = proc.returncode
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class Watched:
    """One process `up` keeps running: how to start it again, and its recent restarts."""

    name: str
    log: Path
    restart: Callable[[], subprocess.Popen]  # starts it again and gives its new process
    proc: subprocess.Popen
    restarts: list[float] = field(default_factory=list)  # monotonic times of its restarts
    due: float | None = None  # when it is to be started again, once it has died
    left_down: bool = False

    def check(self, now: float, echo: Callable[[str], None]) -> bool:
        """Look at it (poll() reaps it if it died) and start it again when its time has come; True when it
        was started again."""
        if self.left_down or self.proc.poll() is None:
            return False
        if self.due is None:
            recent = [t for t in self.restarts if now - t < 60]
            self.restarts = recent
            if len(recent) >= RESTARTS_PER_MINUTE:
                self.left_down = True
                echo(
                    f"  {self.name} {how_it_ended(self.proc)}: it stopped {len(recent) + 1} times in a minute; "
                    f"leaving it down. See {self.log}"
                )
                return False
            delay = RESTART_DELAYS.after(len(recent) + 1)
            self.due = now + delay
            echo(f"  {self.name} {how_it_ended(self.proc)}; restarting it in {delay:g}s")
            return False
        if now < self.due:
            return False
        self.due = None
        self.restarts.append(now)
        try:
            self.proc = self.restart()
        except Exception as e:  # it is tried again (within the limit) when its process is seen dead
            echo(f"  {self.name} could not be restarted: {e}")
            return False
        echo(f"  {self.name} restarted, pid {self.proc.pid}")
        return True


async def prepare(postgres_url: str, nats_url: str, prefix: str) -> None:
    """One database per service and the streams (as the operator: `nats_url` is theirs), before any service
    starts."""
    for name in SERVICES:
        settings = load_settings(name, postgres_url=postgres_url, nats_url=nats_url, subject_prefix=prefix)
        await ensure_database(settings.database_url or "")
    await create_streams(nats_url, prefix)  # as `sendcase create-streams` does


def up(home: Path, prefix: str = DEFAULT_PREFIX, echo=print) -> int:
    previous = StackState.load(home)
    if previous and pid_alive(previous.supervisor_pid) and previous.supervisor_pid != os.getpid():
        echo(f"sendcase is already running from {home} (pid {previous.supervisor_pid}); `sendcase status` shows it.")
        return 1
    if previous:  # a previous `up` that was killed may have left servers behind
        for what in stop_leftovers(home, previous):
            echo(f"stopped {what}, left running by a previous `sendcase up`")
    logs = home / "logs"
    logs.mkdir(exist_ok=True)

    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    pg = EmbeddedPostgres(
        home / "postgres",
        logs / "postgres.log",
        port=StackState.port_of(previous.postgres_url) if previous else None,
    )
    # NATS requires credentials: each user's password is made at the first start and kept in home/keys; the
    # server's configuration (written at each start) holds only their bcrypt hashes (docs/security.md)
    credentials = NatsCredentials.ensure(home / "keys")
    js = EmbeddedNats(
        home / "nats",
        logs / "nats.log",
        port=StackState.port_of(previous.nats_url) if previous else None,
        monitor_port=previous.nats_monitor_port if previous else None,
        users=lambda: credentials.server_config(prefix),
    )
    services: dict[str, Watched] = {}
    servers: list[Watched] = []

    def restart_server(name: str, server: EmbeddedPostgres | EmbeddedNats) -> Callable[[], subprocess.Popen]:
        def restart() -> subprocess.Popen:
            try:
                server.start(same_port=True)  # on its port and data folder, where the services look for it
            except Exception as e:
                if server.proc is None or server.proc.poll() is not None:
                    raise
                echo(f"  {name} is slow to start, watched as it runs: {e}")
            assert server.proc is not None
            return server.proc

        return restart

    try:
        echo(f"sendcase home: {home}")
        postgres_url = pg.start()
        echo(f"  PostgreSQL  {postgres_url}   (log {logs / 'postgres.log'})")
        nats_url = js.start()
        echo(f"  NATS        {nats_url}   JetStream in {home / 'nats'} (monitor http://127.0.0.1:{js.monitor_port})")
        assert pg.proc is not None and js.proc is not None
        servers = [
            Watched("postgresql", logs / "postgres.log", restart_server("postgresql", pg), pg.proc),
            Watched("nats", logs / "nats.log", restart_server("nats", js), js.proc),
        ]
        asyncio.run(prepare(postgres_url, credentials.url(OPERATOR, nats_url), prefix))
        for name in SERVICES:
            env = service_env(name, postgres_url, nats_url, prefix, home, credentials)
            proc = spawn_service(name, env, logs)
            services[name] = Watched(
                name, logs / f"{name}.log", functools.partial(spawn_service, name, env, logs), proc
            )
            echo(f"  {name:<14}pid {proc.pid}   (log {logs / (name + '.log')})")
        previous_gateway = StackState.port_of(previous.gateway_url) if previous and previous.gateway_url else None
        port = free_port(previous_gateway or GATEWAY_PORT)
        env = gateway_env(postgres_url, credentials.url(GATEWAY, nats_url), prefix, home, port)  # as its own NATS user
        gateway_url = env["SENDCASE_GATEWAY_PUBLIC_URL"].rstrip("/")
        proc = spawn_service(GATEWAY, env, logs)
        services[GATEWAY] = Watched(
            GATEWAY, logs / f"{GATEWAY}.log", functools.partial(spawn_service, GATEWAY, env, logs), proc
        )
        echo(f"  {GATEWAY:<14}pid {proc.pid}   {gateway_url}   (log {logs / (GATEWAY + '.log')})")
        state = StackState(
            supervisor_pid=os.getpid(),
            postgres_url=postgres_url,
            postgres_pid=pg.proc.pid,
            nats_url=nats_url,
            nats_pid=js.proc.pid,
            nats_monitor_port=js.monitor_port,
            subject_prefix=prefix,
            services={n: w.proc.pid for n, w in services.items()},
            started_at=datetime.now(UTC).isoformat(),
            gateway_url=gateway_url,
        )
        state.save(home)
        echo("sendcase is up. `sendcase status` checks it, `sendcase demo` shows a fact flowing. Ctrl-C stops it.")
        how = (
            "development sign-in: pick a demo person"
            if env.get("SENDCASE_GATEWAY_DEVELOPMENT_SIGN_IN", "").lower() in ("1", "true", "yes", "on")
            else "with the identity providers set in SENDCASE_GATEWAY_*"
        )
        echo(f"Sign in at {gateway_url}/sign-in ({how}).")
        echo(f"The API: {gateway_url}/api/v1/<service>/commands|queries/<name> ({gateway_url}/api/v1/openapi.json)")
        while not stopping:
            time.sleep(0.5)
            # the servers first; poll() in check() reaps whatever died, so no zombie keeps its pid
            for watched in [*servers, *services.values()]:
                if stopping:
                    break
                if watched.check(time.monotonic(), echo):
                    state.postgres_pid, state.nats_pid = servers[0].proc.pid, servers[1].proc.pid
                    state.services = {n: w.proc.pid for n, w in services.items()}
                    state.save(home)
        echo("stopping sendcase...")
        return 0
    except Exception as e:
        echo(f"sendcase could not start: {e}")
        return 1
    finally:
        procs = [w.proc for w in services.values()]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            stop_process(proc, signal.SIGTERM, timeout=20)
        js.stop()  # its current process: a restarted one is in js.proc as well
        pg.stop()
        stopped = StackState.load(home)
        if stopped is not None and stopped.supervisor_pid == os.getpid():
            stopped.supervisor_pid = 0  # stopped; the ports are kept to be used again next time
            stopped.save(home)
        echo("sendcase stopped; data kept in " + str(home))
