"""An auditor's check from the terminal: `sendcase audit verify` against a running register whose database is
then altered by SQL."""

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.anchors import latest_checkpoint
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.integration.test_register_bulk_import import routed_import
from tests.support.factories import SCHOOL
from tests.support.register_factories import roll_csv
from tests.support.stack import Sandbox, as_operator, eventually, running_service

SENDCASE = str(Path(sys.executable).parent / "sendcase")


async def audit(settings, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    env.update(
        SENDCASE_NATS_URL=as_operator(settings.nats_url),
        SENDCASE_SUBJECT_PREFIX=settings.subject_prefix,
        SENDCASE_REGISTER_DATABASE_URL=settings.database_url,
    )
    proc = await asyncio.create_subprocess_exec(
        SENDCASE, "audit", "verify", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_an_auditor_verifies_the_register_and_finds_what_was_altered(sandbox: Sandbox, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = tmp_path / "register.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    settings = sandbox.settings("register", anchor_signing_key=private.decode(), anchor_seconds=0.2)
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        app = runtime.service.store.app
        await asyncio.to_thread(routed_import, app, SCHOOL, roll_csv(range(1, 21)), "roll.csv")
        head = app.max_notification_id()

        async def anchored() -> bool:
            js = runtime.nc.jetstream()
            latest = await latest_checkpoint(js, settings.audit_stream, settings.subject_prefix, "register")
            return latest is not None and latest.position == head

        await eventually(anchored, what="the head's checkpoint")

    code, out, err = await audit(settings, "--service", "register", "--public-key", str(public))
    assert code == 0, out + err
    assert out.startswith(f"register: verified {head} events up to position {head}, anchored at ")

    conn = await asyncpg.connect(settings.database_url)
    try:
        altered = await conn.fetchval(
            # a fact in the clear (a pupil's name is sealed: docs/audit.md): the school a record is at
            "SELECT min(notification_id) FROM register_events WHERE convert_from(state, 'UTF8') LIKE '%123456%'"
        )
        await conn.execute(
            "UPDATE register_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '123456', '654321'), "
            "'UTF8') WHERE notification_id = $1",
            altered,
        )
        await conn.execute("DELETE FROM register_events WHERE notification_id = $1", head - 1)
    finally:
        await conn.close()
    code, out, err = await audit(settings, "--service", "register", "--public-key", str(public))
    assert code == 1, out + err
    lines = out.splitlines()
    assert lines[0].startswith("register: 2 problem(s) found")
    assert f"  position {altered}: the event was altered after it was stored" in out
    assert f"  position {head - 1}: the event stored here was deleted" in lines

    # Without the public key the checkpoints cannot be trusted: said, and not taken as a clean bill.
    code, out, _ = await audit(settings, "--service", "register", "--public-key", str(tmp_path / "missing.pem"))
    assert code == 2 and "cannot read the key file" in out + _
