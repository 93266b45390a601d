"""`sendcase keys`: a master key rotated from the terminal (docs/audit.md, "Rotation"): every data key wrapped
again by the new master key, the old one then removed from the keys file, and every key still there; no key shown."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from pathlib import Path

from services.runtime.database import ensure_database
from services.runtime.keyring import MasterKeys, PostgresKeyring
from tests.support.stack import Sandbox

SENDCASE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sendcase")


def run(sandbox: Sandbox, keys_file: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    env.update(
        SENDCASE_POSTGRES_URL=sandbox.servers.postgres_url,
        SENDCASE_KEYS_DATABASE_URL=sandbox.database_url("keys"),
        SENDCASE_KEYS_FILE=str(keys_file),
    )
    return subprocess.run([SENDCASE, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_a_master_key_is_rotated_and_every_data_key_survives(sandbox: Sandbox, tmp_path: Path) -> None:
    url = sandbox.database_url("keys")
    await ensure_database(url)
    old = MasterKeys.generate()
    ring = PostgresKeyring(url, old, max_age=0)
    people = [uuid.uuid4() for _ in range(5)]
    try:
        keys = ring.keys(people, create=True)
        ring.erase(people[:1])
    finally:
        ring.close()

    # the new master key added and made current; the old one still there to unwrap with
    rotated = MasterKeys(
        wrapping={**old.wrapping, "k-new": MasterKeys.generate().wrapping[old.current]},
        current="k-new",
        blind_index=old.blind_index,
    )
    keys_file = tmp_path / "sendcase-keys.json"
    keys_file.write_text(rotated.to_json())
    done = run(sandbox, keys_file, "keys", "rewrap")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 data key(s) wrapped again by master key k-new" in done.stdout
    status = run(sandbox, keys_file, "--json", "keys", "status")
    assert json.loads(status.stdout) == {"people": 5, "erased": 1, "wrapped_by": {"k-new": 4}, "current": "k-new"}
    for secret in (*keys.values(), *rotated.wrapping.values(), rotated.blind_index):
        if secret is not None:
            assert base64.b64encode(secret).decode() not in done.stdout + status.stdout
            assert secret.hex() not in done.stdout + status.stdout

    # the old master key removed from the file: every data key still opens, the erased one stays erased
    only_new = MasterKeys(wrapping={"k-new": rotated.wrapping["k-new"]}, current="k-new", blind_index=old.blind_index)
    ring = PostgresKeyring(url, only_new, max_age=0)
    try:
        assert ring.keys(people, create=False) == {people[0]: None, **{p: keys[p] for p in people[1:]}}
    finally:
        ring.close()

    missing = run(sandbox, tmp_path / "nowhere.json", "keys", "status")
    assert missing.returncode == 2 and "no keys file" in missing.stderr
