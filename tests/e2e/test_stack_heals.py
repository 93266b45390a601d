"""`sendcase up` heals: a SIGKILLed PostgreSQL or nats-server is reaped and started again where it was, the
services carry on (they reconnect), commands work again, and `sendcase down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.stack.servers import StackState, all_pids, pid_alive
from tests.conftest import server_dir
from tests.e2e.test_newcomer_cli import sendcase, start_up, wait_until_up
from tests.support.factories import upn

HEAL_WITHIN = 60.0


@pytest.fixture
def home() -> Iterator[Path]:
    home = server_dir("heals") / "sendcase-home"
    home.mkdir()
    yield home
    sendcase(home, "down")  # whatever a failed test left: the supervisor, or what it left running
    log = home.parent / "up.log"
    print(log.read_text() if log.exists() else "")
    shutil.rmtree(home.parent, ignore_errors=True)


def processes_of(home: Path) -> list[str]:
    """Every live process that belongs to this home: its command line, working folder or environment names
    it (a PostgreSQL child reads `postgres: checkpointer`, but works in <home>/postgres)."""
    found = []
    for pid in all_pids():
        if pid == os.getpid() or not pid_alive(pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        if str(home) in cmdline or cwd.startswith(str(home)) or f"SENDCASE_HOME={home}" in environ:
            found.append(f"{pid}: {cmdline}")
    return found


def wait_all_up(home: Path, up: subprocess.Popen, after: str) -> float:
    started = time.monotonic()
    status = None
    while time.monotonic() - started < HEAL_WITHIN:
        assert up.poll() is None, (home.parent / "up.log").read_text()
        status = sendcase(home, "status", timeout=30)
        if status.returncode == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(f"not all up {HEAL_WITHIN:.0f}s after {after}:\n{status and status.stdout}")


def register(home: Path, serial: int) -> dict:
    added = sendcase(
        home,
        "--json",
        "--as-user",
        "senco@heal",
        "--as-role",
        "senco",
        "register",
        "add-to-sen-support",
        "--school",
        "900001",
        "--upn",
        upn(serial),
        "--given-name",
        "Sam",
        "--family-name",
        f"Heal{serial}",
        "--date-of-birth",
        "2017-03-14",
        "--primary-need",
        "SLCN",
        "--reason",
        "after a server was killed",
        timeout=60,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    return json.loads(added.stdout)


def test_killed_servers_are_restarted_and_down_leaves_nothing(home: Path) -> None:
    up = start_up(home)
    wait_until_up(home, up)
    before = StackState.load(home)
    assert before is not None
    assert register(home, 1)["outcome"] == "accepted"

    for server, pid_of in (("postgresql", "postgres_pid"), ("nats", "nats_pid")):
        killed = getattr(StackState.load(home), pid_of)
        os.kill(killed, signal.SIGKILL)
        took = wait_all_up(home, up, f"{server} (pid {killed}) was killed")
        now = StackState.load(home)
        assert now is not None
        restarted = getattr(now, pid_of)
        assert restarted != killed and pid_alive(restarted), f"stack.json names the new {server}"
        assert not pid_alive(killed), f"the killed {server} was reaped"  # a zombie does not count as alive
        assert (now.postgres_url, now.nats_url) == (before.postgres_url, before.nats_url), "same ports"
        assert now.services == before.services, "the services carried on through it"
        status = sendcase(home, "status").stdout
        assert re.search(rf"{server}\s+up .*pid {restarted}\)", status), status
        assert register(home, 2 if server == "postgresql" else 3)["outcome"] == "accepted"
        print(f"{server} healed in {took:.1f}s")
    demo = sendcase(home, "demo")  # a fact goes from the register to the parents' outbox, after both
    assert demo.returncode == 0 and "Jo Taylor (mother): delivered by email" in demo.stdout, demo.stdout + demo.stderr
    log = (home.parent / "up.log").read_text()
    assert "postgresql was killed by SIGKILL; restarting it" in log and "nats was killed by SIGKILL" in log
    assert "removed a stale postmaster.pid" in (home / "logs" / "postgres.log").read_text()

    down = sendcase(home, "down", timeout=120)
    assert down.returncode == 0 and "sendcase stopped." in down.stdout, down.stdout + down.stderr
    assert "left running" not in down.stdout, "the supervisor itself stopped everything"
    assert up.wait(30) == 0
    assert_nothing_left(home)


def test_down_stops_what_a_killed_up_left_running(home: Path) -> None:
    up = start_up(home)
    wait_until_up(home, up)
    up.send_signal(signal.SIGKILL)  # the supervisor dies; its servers and services run on
    up.wait(10)
    assert len(processes_of(home)) > 4
    down = sendcase(home, "down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped what was left running without `sendcase up`" in down.stdout, down.stdout
    assert_nothing_left(home)
    assert sendcase(home, "down").stdout.strip() == "sendcase is not running."


def assert_nothing_left(home: Path) -> None:
    deadline = time.monotonic() + 10  # the last PostgreSQL children may take a moment to go
    while (left := processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], "left running after `sendcase down`:\n" + "\n".join(left)
    assert not (home / "postgres" / "postmaster.pid").exists()
