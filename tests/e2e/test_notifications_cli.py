"""The notifications service as a process configured by its environment, and what a SENCO, caseworker and
newcomer see through the CLI: the letters and emails in the outbox, the failed-to-reach list, the counts;
no second message after the process is killed and the event comes again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import nats

from contracts.subjects import event_subject
from tests.e2e.test_services_in_processes import answers_ping
from tests.support.factories import upn
from tests.support.register_events import father, mother, publish, pupil_added
from tests.support.stack import Sandbox, eventually

SENDCASE = str(Path(sys.executable).parent / "sendcase")


def start(sandbox: Sandbox, logs: Path, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", "notifications"],
        env=sandbox.env("notifications", SENDCASE_HOME=str(home)),
        stdout=open(logs / "notifications.log", "ab"),
        stderr=subprocess.STDOUT,
    )


def cli(sandbox: Sandbox, home: Path, *args: str, as_json: bool = False) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        SENDCASE_NATS_URL=sandbox.servers.nats_url,
        SENDCASE_SUBJECT_PREFIX=sandbox.prefix,
        SENDCASE_KEYS=sandbox.keys,  # the deployment's keys: a pupil named by UPN (the keyed blind index)
        SENDCASE_HOME=str(home),
        SENDCASE_USER="caseworker@la.gov.uk",
        SENDCASE_ROLE="la_caseworker",
        SENDCASE_ORGANISATION="la:840",
    )
    return subprocess.run(
        [SENDCASE, *(["--json"] if as_json else []), "notifications", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_cli_shows_the_outbox_the_failed_to_reach_list_and_counts_after_a_kill(
    sandbox: Sandbox,
    processes,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    url, prefix = sandbox.servers.nats_url, sandbox.prefix
    processes["notifications"] = start(sandbox, tmp_path, home)
    await answers_ping(url, prefix, "notifications")
    family = pupil_added(1, [mother(1), father(1)])
    nobody = pupil_added(2)
    nc = await nats.connect(url)
    for e in (family, nobody):
        await publish(nc.jetstream(), prefix, e)

    conn = await asyncpg.connect(sandbox.database_url("notifications"))
    try:

        async def settled():
            rows = await conn.fetch("SELECT status FROM notifications_by_pupil")
            return rows if len(rows) == 3 and all(r["status"] in ("delivered", "cannot_notify") for r in rows) else None

        await eventually(settled, timeout=60, what="three notifications settled")

        processes["notifications"].kill()  # SIGKILL, then the same event again, past JetStream's dedupe
        processes["notifications"].wait(10)
        await nc.jetstream().publish(
            event_subject(prefix, family.type),
            family.model_dump_json().encode(),
            headers={"Nats-Msg-Id": "register:1:again"},
        )
        processes["notifications"] = start(sandbox, tmp_path, home)
        await answers_ping(url, prefix, "notifications")

        async def redelivery_handled():
            return (
                await conn.fetchval("SELECT count(*) FROM notifications_tracking WHERE application_name = 'register'")
                == 2
                or None
            )

        await eventually(redelivery_handled, timeout=30, what="the re-published event handled")
        sends = await conn.fetchval("SELECT count(*) FROM notifications_events WHERE topic LIKE '%SendingStarted'")
    finally:
        await conn.close()
        await nc.close()
    assert sends == 2  # one per parent, whatever happened since

    outbox = cli(sandbox, home, "outbox", "--upn", upn(1))  # the pupil's UPN, as everyone knows them
    assert outbox.returncode == 0, outbox.stdout + outbox.stderr
    assert "| Dear Alex Taylor1," in outbox.stdout  # the mother's email
    assert "| Jordan Reed1" in outbox.stdout and "| 4 Elvet Bridge" in outbox.stdout  # the father's letter
    assert outbox.stdout.count("--- ") == 2
    assert len(list((home / "outbox").rglob("*.*"))) == 2

    failed = cli(sandbox, home, "failed-to-reach", "--school", "123456", as_json=True)
    assert failed.returncode == 0, failed.stderr
    [entry] = json.loads(failed.stdout)["result"]
    assert entry["recipients"] == "nobody recorded" and "nobody to tell is recorded" in entry["reason"]

    counts = json.loads(cli(sandbox, home, "counts", as_json=True).stdout)["result"]
    assert counts["by_status"] == {"delivered": 2, "cannot_notify": 1}

    history = json.loads(cli(sandbox, home, "for-pupil", "--upn", upn(1), as_json=True).stdout)["result"]
    assert [(n["recipients"], n["status"]) for n in history] == [
        ("Alex Taylor1 (mother)", "delivered"),
        ("Jordan Reed1 (father)", "delivered"),
    ]
    by_id = cli(sandbox, home, "for-pupil", "--pupil-id", str(family.subject.pupil_id), as_json=True)
    assert json.loads(by_id.stdout)["result"] == history  # the internal id still names the pupil
    table = cli(sandbox, home, "failed-to-reach", "--school", "123456")  # for a person: a table, not JSON
    assert table.returncode == 0 and "nobody recorded" in table.stdout and "cannot notify" in table.stdout, table.stdout
    assert not table.stdout.lstrip().startswith("{")
    refused = cli(sandbox, home, "counts", "--school", "12")
    assert refused.returncode == 2 and "school_urn: Value error, a school URN is 6 digits" in refused.stderr

    # a parent reads the reference on her email out on the phone: the caseworker finds the message by it
    mum = history[0]
    spoken = mum["reference"].lower().replace("-", " ")
    found = cli(sandbox, home, "find", spoken)
    assert found.returncode == 0, found.stderr
    assert f"Reference {mum['reference']}" in found.stdout and "To:        Alex Taylor1 (mother)" in found.stdout
    assert "From:      Elm Tree Primary School" in found.stdout and "Dated:     " in found.stdout
    assert "Dear Alex Taylor1," in found.stdout and "What you can do next" in found.stdout  # the complete letter
    unknown = cli(sandbox, home, "find", "ZZZZZ-ZZZZZ")
    assert unknown.returncode == 1 and "No message has the reference ZZZZZ-ZZZZZ" in unknown.stderr
    mistyped = cli(sandbox, home, "find", "not-a-reference")
    assert mistyped.returncode == 2 and "ten letters and digits as printed on it" in mistyped.stderr
