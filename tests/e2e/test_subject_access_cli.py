"""A subject access request answered from the terminal: the register and notifications as processes, a SENCO's
entries through `sendcase register ...`, the family's emails in the file outbox, and the data officer's
`sendcase audit subject-access` export (HTML and JSON) holding every one of them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from tests.e2e.test_services_in_processes import answers_ping
from tests.support.factories import SCHOOL, upn
from tests.support.stack import Sandbox, eventually

SENDCASE = str(Path(sys.executable).parent / "sendcase")
AS_SENCO = ["--as-user", "r.patel@123456.sch.uk", "--as-role", "senco", "--as-org", f"school:{SCHOOL}"]
AS_OFFICER = ["--as-user", "ig.officer@la.gov.uk", "--as-role", "data_officer", "--as-org", "la:840"]
PROVISION = "Small-group phonics, four mornings a week"


def serve(service: str, sandbox: Sandbox, logs: Path, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", service],
        env=sandbox.env(service, SENDCASE_HOME=str(home)),
        stdout=open(logs / f"{service}.log", "ab"),
        stderr=subprocess.STDOUT,
    )


def sendcase(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    environment.update(
        SENDCASE_NATS_URL=sandbox.servers.nats_url,
        SENDCASE_SUBJECT_PREFIX=sandbox.prefix,
        SENDCASE_KEYS=sandbox.keys,  # the CLI names a pupil by UPN with the deployment's blind index
        **env,
    )
    return subprocess.run([SENDCASE, *args], env=environment, capture_output=True, text=True, timeout=90)


async def test_a_data_officer_answers_a_subject_access_request_from_the_terminal(
    sandbox: Sandbox, processes, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    for service in ("register", "notifications"):
        processes[service] = serve(service, sandbox, tmp_path, home)
    for service in ("register", "notifications"):
        await answers_ping(sandbox.servers.nats_url, sandbox.prefix, service)

    child = upn(41)
    steps = [
        ["register", "add-to-sen-support", "--school", SCHOOL, "--upn", child, "--given-name", "Noor",
         "--family-name", "Haddad", "--date-of-birth", "2017-06-02", "--primary-need", "SPLD", "--reason",
         "Reading age two years behind", "--effective-date", "2026-09-14"],
        ["register", "parents", child, "--person", "Rania Haddad|mother|rania.h@example.org||email"],
        ["register", "record-provision", child, "--provision", PROVISION, "--effective-date", "2026-10-05"],
    ]  # fmt: skip
    for step in steps:
        done = sendcase(sandbox, *AS_SENCO, *step)
        assert done.returncode == 0, done.stderr

    outbox = home / "outbox"

    async def written() -> bool:
        return len(list(outbox.glob("*/*.email.txt"))) >= 2

    await eventually(written, timeout=60, what="two emails written")

    # a SENCO may not ask for everything held
    refused = sendcase(sandbox, *AS_SENCO, "audit", "subject-access", "--upn", child, "--reference", "SAR-41",
                       "--requester", "parent")  # fmt: skip
    assert refused.returncode == 1 and "data officer" in refused.stderr

    html_file, json_file = tmp_path / "sar.html", tmp_path / "sar.json"
    made = sendcase(sandbox, *AS_OFFICER, "audit", "subject-access", "--upn", child, "--reference", "SAR-41",
                    "--requester", "parent", "--received-on", "2026-11-02", "-o", str(html_file))  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "SAR-41" in made.stderr and "2 December 2026" in made.stderr  # answer by: a month after receipt
    page = html_file.read_text()
    for entered in ("Noor", "Haddad", "2 June 2017", "Reading age two years behind", PROVISION, "Rania Haddad"):
        assert entered in page, entered
    assert "Article 15" in page and "[redacted: staff name]" in page
    assert "r.patel@123456.sch.uk" not in page and "ig.officer@la.gov.uk" not in page

    made = sendcase(sandbox, *AS_OFFICER, "audit", "subject-access", "--upn", child, "--reference", "SAR-41",
                    "--requester", "parent", "--received-on", "2026-11-02", "--format", "json",
                    "-o", str(json_file))  # fmt: skip
    assert made.returncode == 0, made.stderr
    export = json.loads(json_file.read_text())
    assert export["request"]["exports_made"] == 2 and export["request"]["respond_by"] == "2026-12-02"
    messages = {m["record_id"]: m for s in export["services"] for m in s["messages"]}
    # every email the family was sent, word for word, delivered
    for sent in outbox.glob("*/*.email.txt"):
        header, _, body = sent.read_text().partition("\n\n")
        fields = dict(line.split(": ", 1) for line in header.splitlines())
        message = messages[fields["Notification"]]
        assert (message["subject"], message["body"], message["channel"]) == (fields["Subject"], body, "email")
        assert message["outcome"] == "delivered" and message["to"] == "Rania Haddad"
    register = next(s for s in export["services"] if s["service"] == "register")
    what = [h["what"] for h in register["history"]]
    for fact in ("Registered", "AddedToSenSupport", "PeopleWithParentalResponsibilityRecorded",
                 "SpecialEducationalProvisionMade", "Received", "ExportMade"):  # fmt: skip
        assert fact in what, fact
    assert all(h["by"]["user"] in ("[redacted: staff name]", None) for h in register["history"])

    # the LA's policy names staff
    shown = sendcase(sandbox, *AS_OFFICER, "audit", "subject-access", "--upn", child, "--reference", "SAR-41",
                     "--requester", "parent", "--received-on", "2026-11-02",
                     SENDCASE_SUBJECT_ACCESS_STAFF_NAMES="show")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "r.patel@123456.sch.uk" in shown.stdout and "[redacted: staff name]" not in shown.stdout

    # the request is in the register's log, with nothing personal in it
    conn = await asyncpg.connect(sandbox.database_url("register"))
    try:
        rows = await conn.fetch("SELECT originator_id, state FROM register_events ORDER BY notification_id")
    finally:
        await conn.close()
    [request_id] = {r["originator_id"] for r in rows if b"SAR-41" in bytes(r["state"])}
    request = [bytes(r["state"]) for r in rows if r["originator_id"] == request_id]
    assert len(request) == 1 + 3  # received, and each of the three exports made
    assert not [s for s in request if b"Noor" in s or b"Rania" in s or b"_sealed" in s]
