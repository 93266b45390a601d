"""A child erased with the services in their own processes (as in production): afterwards nothing of the child or
their mother is readable in the services' log files, nor in the JetStream store's files on disk (docs/audit.md).

(The read models and the event stores are searched, live and rebuilt, in tests/integration/test_erasure.py.)
"""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import date
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from contracts.envelope import Actor, Role
from contracts.register import ErasePupil, RecordPeopleWithParentalResponsibility
from infra.stack.servers import all_pids, arguments
from services.runtime.client import Client
from services.runtime.keyring import MasterKeys, PostgresKeyring
from tests.e2e.test_services_in_processes import answers_ping
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.register_events import mother
from tests.support.stack import Sandbox, eventually, external_servers

DATA_OFFICER = Actor(user_id="data.officer@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")
BORN = date(2015, 2, 11)
MOTHER = mother(9, name="Halina Kowalczyk", email="halina.k@example.org", mobile="07700 900919")
SECRETS = [b"Bronislawa", b"Kowalczyk", b"2015-02-11", upn(919).encode(), b"halina.k@example.org", b"07700 900919"]


def start(service: str, sandbox: Sandbox, home: Path, logs: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", service],
        env=sandbox.env(service, SENDCASE_HOME=str(home), SENDCASE_LOG_LEVEL="DEBUG"),
        stdout=open(logs / f"{service}.log", "ab"),
        stderr=subprocess.STDOUT,
    )


def jetstream_store(nats_url: str) -> Path | None:
    """The store folder of the embedded nats-server serving this URL (None for a server of the environment's)."""
    port = str(urlsplit(nats_url.split(",")[0]).port)
    for pid in all_pids():
        args = arguments(pid) or []
        if args and Path(args[0]).name == "nats-server" and ("-p", port) in pairwise(args):
            store = dict(pairwise(args)).get("-sd")
            return Path(store) if store else None
    return None


def keys_held(sandbox: Sandbox) -> list[bytes]:
    """Every person's data key in the sandbox's keyring, unwrapped (as a service would)."""
    ring = PostgresKeyring(sandbox.database_url("keys"), MasterKeys.from_json(sandbox.keys), max_age=0)
    try:
        with ring._pool.connection() as conn:
            people = [r[0] for r in conn.execute("SELECT subject_id FROM subject_keys").fetchall()]
        return [k for k in ring.keys(people, create=False).values() if k is not None]
    finally:
        ring.close()


def readable_in(folder: Path, pattern: str = "*") -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for path in folder.rglob(pattern):
        if path.is_file():
            data = path.read_bytes()
            hits = [s for s in SECRETS if s in data]
            if hits:
                found[str(path)] = hits
    return found


async def test_an_erased_child_is_in_no_log_file_and_nowhere_on_the_stream_s_disk(
    sandbox: Sandbox, processes, tmp_path: Path
) -> None:
    url, prefix = sandbox.servers.nats_url, sandbox.prefix
    home, logs = tmp_path / "home", tmp_path  # the services' logs: tmp_path/<service>.log
    for service in ("register", "notifications"):
        processes[service] = start(service, sandbox, home, logs)
    await answers_ping(url, prefix, "register")
    await answers_ping(url, prefix, "notifications")

    async with Client(url, prefix, senco()) as school, Client(url, prefix, DATA_OFFICER) as la:
        child = add_to_sen_support(
            919,
            pupil={
                "upn": upn(919),
                "given_name": "Bronislawa",
                "family_name": "Kowalczyk",
                "date_of_birth": date(2015, 2, 11),
            },
        )
        pupil_id = (await school.command(child)).result.pupil_id
        people = RecordPeopleWithParentalResponsibility(upn=upn(919), people=[MOTHER])
        assert (await school.command(people)).outcome == "accepted"

        conn = await asyncpg.connect(sandbox.database_url("notifications"))
        try:

            async def told() -> bool:
                rows = await conn.fetch(
                    "SELECT status FROM notifications_by_pupil WHERE pupil_id = $1 AND status IN ('delivered', 'sent')",
                    pupil_id,
                )
                return len(rows) >= 1

            await eventually(told, timeout=60, what="the mother told")
            data_keys = keys_held(sandbox)
            erased = await la.command(ErasePupil(pupil_id=pupil_id, rule="sen-records: date of birth + 31 years"))
            assert erased.outcome == "accepted", erased

            async def dropped() -> bool:
                names = await conn.fetch(
                    "SELECT recipient_name FROM notifications_by_pupil WHERE pupil_id = $1", pupil_id
                )
                found = [r["recipient_name"] for r in names]  # None: the duty owed before anyone was recorded
                return "[erased]" in found and set(found) <= {"[erased]", None}

            await eventually(dropped, timeout=60, what="notifications drops its copies")
        finally:
            await conn.close()

    for proc in processes.values():  # their logs flushed and closed
        proc.terminate()
        proc.wait(20)
    assert readable_in(logs, "*.log") == {}
    # nor any key: the master keys, the blind-index key, or any person's data key (read before the erasure)
    master = MasterKeys.from_json(sandbox.keys)
    assert data_keys, "the services made no keys: the test proves nothing"
    log_bytes = b"".join(p.read_bytes() for p in logs.glob("*.log"))
    for key in (*master.wrapping.values(), master.blind_index, *data_keys):
        assert base64.b64encode(key) not in log_bytes and key.hex().encode() not in log_bytes and key not in log_bytes
    store = jetstream_store(url)
    assert store is not None or external_servers() is not None, "the embedded nats-server's store was not found"
    if store is not None:  # embedded servers: the stream's own files on disk
        assert any(store.rglob("*.blk")), f"no JetStream message blocks under {store}"
        assert readable_in(store) == {}
