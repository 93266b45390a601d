"""`sendcase up`: start the embedded servers and every service as its own process, keep them running,
and stop everything in order on Ctrl-C (services first, then NATS, then PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nats

from contracts.subjects import DEFAULT_PREFIX
from infra.stack.catalogue import SERVICES
from infra.stack.servers import EmbeddedNats, EmbeddedPostgres, StackState, pid_alive, stop_pid, stop_process
from services.runtime.database import ensure_database
from services.runtime.settings import load_settings
from services.runtime.streams import ensure_streams


def service_env(name: str, postgres_url: str, nats_url: str, prefix: str, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SENDCASE_HOME=str(home),  # e.g. the notifications file outbox is <home>/outbox
        SENDCASE_POSTGRES_URL=postgres_url,
        SENDCASE_NATS_URL=nats_url,
        SENDCASE_SUBJECT_PREFIX=prefix,
    )
    env.pop(f"SENDCASE_{name.upper()}_DATABASE_URL", None)
    return env


def spawn_service(name: str, env: dict[str, str], logs: Path) -> subprocess.Popen:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115  # handed to the service process, which keeps it
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", name],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def prepare(postgres_url: str, nats_url: str, prefix: str) -> None:
    """One database per service and the streams, before any service starts."""
    for name in SERVICES:
        settings = load_settings(name, postgres_url=postgres_url, nats_url=nats_url, subject_prefix=prefix)
        await ensure_database(settings.database_url or "")
    settings = load_settings("stack", nats_url=nats_url, subject_prefix=prefix)
    nc = await nats.connect(nats_url)
    try:
        await ensure_streams(
            nc.jetstream(),
            prefix,
            settings.events_stream,
            settings.dead_letter_stream,
            duplicate_window_seconds=settings.duplicate_window_seconds,
        )
    finally:
        await nc.close()


def up(home: Path, prefix: str = DEFAULT_PREFIX, echo=print) -> int:
    previous = StackState.load(home)
    if previous and pid_alive(previous.supervisor_pid) and previous.supervisor_pid != os.getpid():
        echo(f"sendcase is already running from {home} (pid {previous.supervisor_pid}); `sendcase status` shows it.")
        return 1
    if previous:  # a previous `up` that was killed may have left servers behind
        for pid in previous.services.values():
            stop_pid(pid, expect="infra.cli serve")
        stop_pid(previous.nats_pid, expect="nats-server")
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
    js = EmbeddedNats(
        home / "nats",
        logs / "nats.log",
        port=StackState.port_of(previous.nats_url) if previous else None,
        monitor_port=previous.nats_monitor_port if previous else None,
    )
    processes: dict[str, subprocess.Popen] = {}
    try:
        echo(f"sendcase home: {home}")
        postgres_url = pg.start()
        echo(f"  PostgreSQL  {postgres_url}   (log {logs / 'postgres.log'})")
        nats_url = js.start()
        echo(f"  NATS        {nats_url}   JetStream in {home / 'nats'} (monitor http://127.0.0.1:{js.monitor_port})")
        asyncio.run(prepare(postgres_url, nats_url, prefix))
        for name in SERVICES:
            processes[name] = spawn_service(name, service_env(name, postgres_url, nats_url, prefix, home), logs)
            echo(f"  {name:<14}pid {processes[name].pid}   (log {logs / (name + '.log')})")
        state = StackState(
            supervisor_pid=os.getpid(),
            postgres_url=postgres_url,
            postgres_pid=pg.proc.pid if pg.proc else 0,
            nats_url=nats_url,
            nats_pid=js.proc.pid if js.proc else 0,
            nats_monitor_port=js.monitor_port,
            subject_prefix=prefix,
            services={n: p.pid for n, p in processes.items()},
            started_at=datetime.now(UTC).isoformat(),
        )
        state.save(home)
        echo("sendcase is up. `sendcase status` checks it, `sendcase demo` shows a fact flowing. Ctrl-C stops it.")
        restarts: dict[str, list[float]] = {n: [] for n in processes}
        while not stopping:
            time.sleep(0.5)
            for name, proc in list(processes.items()):
                if proc.poll() is None or stopping:
                    continue
                # A service died: restart it, unless it keeps dying (then leave it down and say so).
                recent = [t for t in restarts[name] if time.monotonic() - t < 60]
                if len(recent) >= 5:
                    continue
                if len(recent) == 4:
                    echo(f"  {name} has crashed 5 times in a minute; leaving it down. See {logs / (name + '.log')}")
                restarts[name] = [*recent, time.monotonic()]
                echo(f"  {name} exited with code {proc.returncode}; restarting it")
                processes[name] = spawn_service(name, service_env(name, postgres_url, nats_url, prefix, home), logs)
                state.services[name] = processes[name].pid
                state.save(home)
        echo("stopping sendcase...")
        return 0
    except Exception as e:
        echo(f"sendcase could not start: {e}")
        return 1
    finally:
        for proc in processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in processes.values():
            stop_process(proc, signal.SIGTERM, timeout=20)
        js.stop()
        pg.stop()
        stopped = StackState.load(home)
        if stopped is not None and stopped.supervisor_pid == os.getpid():
            stopped.supervisor_pid = 0  # stopped; the ports are kept to be used again next time
            stopped.save(home)
        echo("sendcase stopped; data kept in " + str(home))
