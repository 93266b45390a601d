"""A killed embedded server starts again on the same port and data, as `sendcase up` restarts it."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from infra.stack.servers import EmbeddedNats, EmbeddedPostgres, pid_alive
from tests.conftest import server_dir


@pytest.fixture
def root() -> Iterator[Path]:
    root = server_dir("restart")
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_a_sigkilled_postgres_starts_again_on_its_port_with_its_data(root: Path) -> None:
    pg = EmbeddedPostgres(root / "postgres", root / "postgres.log")
    try:
        url = pg.start()
        assert pg.proc is not None
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        [backend] = [pid for pid in pg.processes() if pid == await conn.fetchval("SELECT pg_backend_pid()")]
        killed = pg.proc.pid

        pg.proc.send_signal(signal.SIGKILL)  # no goodbye: postmaster.pid stays, its children linger a moment
        time.sleep(0.2)
        assert (pg.data_dir / "postmaster.pid").exists()
        started = time.monotonic()
        assert pg.start(same_port=True) == url  # reaps the dead postmaster, waits out its children
        assert time.monotonic() - started < 30
        assert pg.proc.pid != killed and pid_alive(pg.proc.pid)
        assert not pid_alive(killed) and not pid_alive(backend)
        assert "removed a stale postmaster.pid" in pg.log_file.read_text()

        with pytest.raises((asyncpg.PostgresError, OSError)):
            await conn.fetchval("SELECT 1")  # the old connection is gone with its server
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT n FROM kept") == 42
        await conn.close()
        with pytest.raises(RuntimeError, match="running already"):
            pg.start(same_port=True)
    finally:
        pg.stop()
    assert pg.processes() == []


async def test_a_sigkilled_nats_starts_again_on_its_ports_with_its_streams(root: Path) -> None:
    js = EmbeddedNats(root / "nats", root / "nats.log")
    try:
        url = js.start()
        nc = await nats.connect(url)
        await nc.jetstream().add_stream(name="KEPT", subjects=["kept.>"])
        await nc.jetstream().publish("kept.one", b"1")
        await nc.close()
        assert js.proc is not None
        killed, monitor = js.proc.pid, js.monitor_port

        js.proc.send_signal(signal.SIGKILL)
        time.sleep(0.2)
        assert js.start(same_port=True) == url
        assert js.monitor_port == monitor and js.proc.pid != killed and not pid_alive(killed)
        assert js.processes() == [js.proc.pid]

        nc = await nats.connect(url)
        info = await nc.jetstream().stream_info("KEPT")
        assert info.state.messages == 1
        await nc.close()
    finally:
        js.stop()
    assert js.processes() == []
