"""The supervisor's restart policy, for a service or a server alike: reaped at once, started again after a
growing delay, at most five times a minute, then left down (and said so)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from infra.stack.supervisor import Watched


def dies(code: int = 3) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    proc.wait()
    return proc


def test_a_process_that_keeps_dying_is_restarted_five_times_a_minute_then_left_down(tmp_path: Path) -> None:
    said: list[str] = []
    started: list[subprocess.Popen] = []

    def restart() -> subprocess.Popen:
        started.append(dies())
        return started[-1]

    watched = Watched("postgresql", tmp_path / "postgres.log", restart, dies())
    now, delays = 1000.0, []
    for _ in range(5):
        assert not watched.check(now, said.append)  # seen dead: a restart is due after a delay
        assert watched.due is not None
        delays.append(watched.due - now)
        assert not watched.check(watched.due - 0.01, said.append)  # not yet
        now = watched.due
        assert watched.check(now, said.append)  # started again
    assert delays == [0.5, 1, 2, 4, 8]
    assert len(started) == 5
    assert said[0] == "  postgresql exited with code 3; restarting it in 0.5s"
    assert not watched.check(now, said.append) and watched.left_down
    assert "stopped 6 times in a minute; leaving it down" in said[-1]
    assert not watched.check(now + 3600, said.append) and len(started) == 5  # and stays down


def test_restarts_more_than_a_minute_ago_do_not_count(tmp_path: Path) -> None:
    watched = Watched("register", tmp_path / "register.log", dies, dies())
    now = 1000.0
    for _ in range(20):  # one death every 61 s: never five within a minute
        watched.check(now, lambda _: None)
        assert watched.due == now + 0.5
        assert watched.check(watched.due, lambda _: None)
        now += 61
    assert not watched.left_down


def test_a_killed_process_is_reaped_and_said_to_be_killed(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    said: list[str] = []
    watched = Watched("nats", tmp_path / "nats.log", dies, proc)
    assert not watched.check(0, said.append) and said == []  # running: nothing to do
    proc.kill()
    for _ in range(100):  # until the kill has landed
        watched.check(0, said.append)
        if watched.due is not None:
            break
        time.sleep(0.05)
    assert proc.returncode == -9  # poll() reaped it: no zombie
    assert said == ["  nats was killed by SIGKILL; restarting it in 0.5s"]


def test_a_restart_that_fails_is_said_and_tried_again_later(tmp_path: Path) -> None:
    def cannot() -> subprocess.Popen:
        raise RuntimeError("PostgreSQL exited at start")

    said: list[str] = []
    watched = Watched("postgresql", tmp_path / "postgres.log", cannot, dies())
    watched.check(0, said.append)
    assert not watched.check(0.5, said.append)
    assert said[-1] == "  postgresql could not be restarted: PostgreSQL exited at start"
    watched.check(0.6, said.append)  # still dead: the next restart is due, counted against the limit
    assert watched.due == 0.6 + 1
