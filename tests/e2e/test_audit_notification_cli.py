"""`sendcase audit notification ID` against the notifications service in its own process (real PostgreSQL and
NATS): an untouched outbox file matches, an altered or deleted one DOES NOT MATCH (exit code 1), a notification
never sent says so; what an auditor reads names the recipient by name and relationship only."""

import json
import os
import subprocess
from pathlib import Path

import asyncpg
import nats

from tests.e2e.test_notifications_cli import SENDCASE, start
from tests.e2e.test_services_in_processes import answers_ping
from tests.support.register_events import father, mother, publish, pupil_added
from tests.support.stack import Sandbox, eventually


def audit(sandbox: Sandbox, home: Path, *args: str, as_json: bool = False) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        SENDCASE_NATS_URL=sandbox.servers.nats_url,
        SENDCASE_SUBJECT_PREFIX=sandbox.prefix,
        SENDCASE_KEYS=sandbox.keys,
        SENDCASE_HOME=str(home),
        SENDCASE_USER="auditor@la.gov.uk",
        SENDCASE_ROLE="auditor",
        SENDCASE_ORGANISATION="la:840",
    )
    return subprocess.run(
        [SENDCASE, *(["--json"] if as_json else []), "audit", "notification", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_audit_of_a_notification_matches_its_outbox_file_until_the_file_is_altered_or_deleted(
    sandbox: Sandbox, processes, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    url, prefix = sandbox.servers.nats_url, sandbox.prefix
    processes["notifications"] = start(sandbox, tmp_path, home)
    await answers_ping(url, prefix, "notifications")
    family = pupil_added(71, [mother(71), father(71)])
    nobody = pupil_added(72)
    nc = await nats.connect(url)
    for e in (family, nobody):
        await publish(nc.jetstream(), prefix, e)
    await nc.close()
    conn = await asyncpg.connect(sandbox.database_url("notifications"))
    try:

        async def settled():
            rows = await conn.fetch("SELECT notification_id, channel, status FROM notifications_by_pupil")
            done = len(rows) == 3 and all(r["status"] in ("delivered", "cannot_notify") for r in rows)
            return rows if done else None

        rows = await eventually(settled, timeout=60, what="three notifications settled")
    finally:
        await conn.close()
    email = next(str(r["notification_id"]) for r in rows if r["channel"] == "email")
    letter = next(str(r["notification_id"]) for r in rows if r["channel"] == "letter")
    never = next(str(r["notification_id"]) for r in rows if r["status"] == "cannot_notify")
    email_file = next((home / "outbox").rglob(f"{email}.email.txt"))
    letter_file = next((home / "outbox").rglob(f"{letter}.letter.pdf"))

    untouched = audit(sandbox, home, letter)
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr
    text = untouched.stdout
    print(text)  # shown when the test fails: what an auditor reads
    assert "to:            Jordan Reed71 (father), prefers letter" in text
    assert "why:           register.pupil_added_to_sen_support" in text
    assert "owed, by the notifications service (automatically)" in text
    assert f"bytes sent:    the outbox file, {letter_file.stat().st_size} bytes, sha256 " in text
    assert f"letter, attempt 1: matches: the outbox file {letter_file} hashes to " in text
    assert "content: matches" in text and "Everything checked matches the record." in text
    assert "4 Elvet Bridge" not in text and "DH1 3AF" not in text  # no address: the name and relationship only

    as_json = audit(sandbox, home, email, as_json=True)
    assert as_json.returncode == 0, as_json.stderr
    found = json.loads(as_json.stdout)
    assert found["matches"] is True and [c["ok"] for c in found["checks"]] == [True, True]
    [attempt] = found["result"]["attempts"]
    assert attempt["sent_as"] == "outbox_file" and attempt["provider_reference"] == str(email_file)

    letter_file.write_bytes(letter_file.read_bytes() + b"\n% added afterwards\n")
    altered = audit(sandbox, home, letter)
    assert altered.returncode == 1, altered.stdout + altered.stderr
    assert f"letter, attempt 1: DOES NOT MATCH: the outbox file {letter_file} hashes to " in altered.stdout
    assert "1 check(s) DO NOT MATCH." in altered.stdout

    email_file.unlink()
    deleted = audit(sandbox, home, email)
    assert deleted.returncode == 1, deleted.stdout + deleted.stderr
    assert f"email, attempt 1: DOES NOT MATCH: the outbox file {email_file} is missing" in deleted.stdout

    unsent = audit(sandbox, home, never)
    assert unsent.returncode == 0, unsent.stdout + unsent.stderr
    assert "to:            nobody recorded" in unsent.stdout
    assert "Sends\n  never sent" in unsent.stdout
    assert "sent: not checked: never sent: it is cannot notify (" in unsent.stdout

    unknown = audit(sandbox, home, "00000000-0000-0000-0000-000000000001")
    assert unknown.returncode == 1 and "There is no notification" in unknown.stderr
    bad = audit(sandbox, home, "not-an-id")
    assert bad.returncode == 2 and "should be a valid UUID" in bad.stderr
