"""A stale postmaster.pid is removed only when no live PostgreSQL of that data directory holds it.

Stand-ins play the processes: a Python that sleeps, started with a PostgreSQL command line (argv[0] `postgres` for a
postmaster, `postgres: checkpointer` for a child) and, where it matters, in the data directory, which is
how the stack tells a PostgreSQL process of its own data directory from anything else.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.stack.servers import EmbeddedNats, EmbeddedPostgres, pid_alive

SLEEP = "import time; time.sleep(60)"


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def stand_in(running: list[subprocess.Popen], argv0: str, *args: str, cwd: Path | None = None) -> int:
    proc = subprocess.Popen([argv0, "-c", SLEEP, *args], executable=sys.executable, cwd=cwd)
    running.append(proc)
    return proc.pid


@pytest.fixture
def pg(tmp_path: Path) -> EmbeddedPostgres:
    data = tmp_path / "postgres"
    data.mkdir()
    server = EmbeddedPostgres(data, tmp_path / "postgres.log")
    server.ORPHANS_GRACE_SECONDS = 0.5
    return server


def lock(pg: EmbeddedPostgres, pid: int) -> Path:
    pid_file = pg.data_dir / "postmaster.pid"
    pid_file.write_text(f"{pid}\n{pg.data_dir}\n1700000000\n5432\n\n127.0.0.1\n  1234  5678\nready\n")
    return pid_file


def gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_lock_of_a_postmaster_that_is_gone_is_removed(pg: EmbeddedPostgres) -> None:
    pid_file = lock(pg, gone_pid())
    pg.free_data_dir()
    assert not pid_file.exists()
    assert "removed a stale postmaster.pid" in pg.log_file.read_text()


def test_the_lock_is_removed_when_its_pid_is_now_another_program(pg: EmbeddedPostgres, running) -> None:
    stranger = stand_in(running, "python-worker", cwd=pg.data_dir)
    pid_file = lock(pg, stranger)
    pg.free_data_dir()
    assert not pid_file.exists()
    assert pid_alive(stranger), "a stranger is never signalled"


def test_the_lock_is_removed_when_its_pid_is_a_postgres_of_another_data_dir(
    pg: EmbeddedPostgres, running, tmp_path: Path
) -> None:
    other = tmp_path / "other-cluster"
    other.mkdir()
    theirs = stand_in(running, "postgres: checkpointer ", cwd=other)
    pid_file = lock(pg, theirs)
    pg.free_data_dir()
    assert not pid_file.exists()
    assert pid_alive(theirs), "another cluster's process is never signalled"


def test_the_lock_of_a_zombie_postmaster_is_removed(pg: EmbeddedPostgres, running) -> None:
    zombie = subprocess.Popen(
        ["/x/bin/postgres", "-c", SLEEP, "-D", str(pg.data_dir)], executable=sys.executable, cwd=pg.data_dir
    )
    zombie.kill()
    time.sleep(0.3)  # dead, not reaped: its pid still exists
    pid_file = lock(pg, zombie.pid)
    try:
        pg.free_data_dir()
        assert not pid_file.exists()
    finally:
        zombie.wait()


def test_a_live_postgres_child_of_this_data_dir_keeps_its_lock(pg: EmbeddedPostgres, running) -> None:
    child = stand_in(running, "postgres: checkpointer ", cwd=pg.data_dir)
    pid_file = lock(pg, child)
    pg.free_data_dir()
    assert pid_file.exists()
    assert pid_alive(child)


def test_a_postmaster_left_running_on_this_data_dir_is_stopped_not_robbed(pg: EmbeddedPostgres, running) -> None:
    leftover = stand_in(running, "/somewhere/bin/postgres", "-D", str(pg.data_dir), cwd=pg.data_dir)
    pid_file = lock(pg, leftover)
    pg.free_data_dir()
    assert not pid_alive(leftover)  # stopped with SIGINT, as `sendcase up` did before
    assert not pid_file.exists()
    assert f"stopping PostgreSQL pid {leftover}" in pg.log_file.read_text()


def test_a_killed_postmasters_children_are_waited_for_then_killed_before_the_lock_goes(
    pg: EmbeddedPostgres, running, tmp_path: Path
) -> None:
    orphans = [stand_in(running, f"postgres: {what} ", cwd=pg.data_dir) for what in ("walwriter", "postgres db")]
    bystander = stand_in(running, "postgres: checkpointer ", cwd=tmp_path)  # another cluster's
    pid_file = lock(pg, gone_pid())
    assert sorted(pg.processes()) == sorted(orphans)
    pg.free_data_dir()
    assert not pid_file.exists()
    assert not any(pid_alive(pid) for pid in orphans)
    assert pid_alive(bystander)


def test_nats_finds_only_servers_on_its_own_store(tmp_path: Path, running) -> None:
    js = EmbeddedNats(tmp_path / "nats", tmp_path / "nats.log")
    ours = stand_in(running, "/x/nats-server", "-js", "-sd", str(tmp_path / "nats"))
    stand_in(running, "/x/nats-server", "-js", "-sd", str(tmp_path / "nats2"))
    stand_in(running, "/x/other", "-sd", str(tmp_path / "nats"))
    assert js.processes() == [ours]


def test_processes_left_on_the_data_dir_without_a_lock_are_cleared_too(pg: EmbeddedPostgres, running) -> None:
    leftover = stand_in(running, "/somewhere/bin/postgres", "-D", str(pg.data_dir), cwd=pg.data_dir)
    orphan = stand_in(running, "postgres: background writer ", cwd=pg.data_dir)
    pg.free_data_dir()
    assert not pid_alive(leftover) and not pid_alive(orphan)
    assert pg.processes() == []
