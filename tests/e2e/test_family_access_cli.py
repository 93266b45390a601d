"""A family invited, and who looked, from the terminal: the register and notifications as processes; the SENCO
invites a mother (`sendcase register invite`), her code arrives in the file outbox, she accepts it once
(`sendcase register accept-invitation`) and reads her child's record and nobody else's; an auditor reads but changes
nothing; `sendcase audit reads` tells the LA's auditor who looked at the child, in every service; the subject access
export shows the same; the SENCO ends her access (`sendcase register revoke-access`)."""

import json
import re
from pathlib import Path

from tests.e2e.test_services_in_processes import answers_ping
from tests.e2e.test_subject_access_cli import AS_OFFICER, AS_SENCO, sendcase, serve
from tests.support.factories import SCHOOL, upn
from tests.support.stack import Sandbox, eventually

MUM = "urn:fdc:gov.uk:2022:rania-haddad"
AS_MUM = ["--as-user", MUM, "--as-role", "parent", "--as-org", "citizen"]
AS_AUDITOR = ["--as-user", "auditor@la.gov.uk", "--as-role", "auditor", "--as-org", "la:840"]
CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")


async def test_a_family_invited_and_who_looked_from_the_terminal(sandbox: Sandbox, processes, tmp_path: Path) -> None:
    home = tmp_path / "home"
    for service in ("register", "notifications"):
        processes[service] = serve(service, sandbox, tmp_path, home)
    for service in ("register", "notifications"):
        await answers_ping(sandbox.servers.nats_url, sandbox.prefix, service)

    child, other = upn(51), upn(52)
    steps = [
        ["register", "add-to-sen-support", "--school", SCHOOL, "--upn", child, "--given-name", "Noor",
         "--family-name", "Haddad", "--date-of-birth", "2017-06-02", "--primary-need", "SPLD", "--reason",
         "Reading age two years behind", "--effective-date", "2026-09-14"],
        ["register", "parents", child, "--person", "Rania Haddad|mother|rania.h@example.org||email"],
        ["register", "add-to-sen-support", "--school", SCHOOL, "--upn", other, "--given-name", "Ola",
         "--family-name", "Nowak", "--date-of-birth", "2016-01-12", "--primary-need", "SLCN", "--reason",
         "Speech unclear to adults", "--effective-date", "2026-09-14"],
        ["register", "invite", child, "--person", "rania haddad", "--invited-by", "Mr R Patel, SENCO"],
    ]  # fmt: skip
    for step in steps:
        done = sendcase(sandbox, *AS_SENCO, *step)
        assert done.returncode == 0, (step, done.stderr)
    nobody = sendcase(sandbox, *AS_SENCO, "register", "invite", child, "--person", "Someone", "--invited-by", "X")
    assert (
        nobody.returncode == 2
        and "Nobody called 'Someone'" in nobody.stderr
        and "Rania Haddad (mother)" in nobody.stderr
    )

    outbox = home / "outbox"

    async def the_code() -> str | None:
        for message in outbox.glob("*/*.email.txt"):
            text = message.read_text()
            if "invitation" in text.lower() and (found := CODE.search(text)):
                return found.group()
        return None

    code = await eventually(the_code, timeout=60, what="the invitation's code in the outbox")

    # before accepting she sees nothing; she accepts once; the second time is refused
    refused = sendcase(sandbox, *AS_MUM, "register", "pupil", child)
    assert refused.returncode == 1 and "your own child's records" in refused.stderr
    accepted = sendcase(sandbox, *AS_MUM, "register", "accept-invitation", code.lower())
    assert accepted.returncode == 0, accepted.stderr
    again = sendcase(sandbox, *AS_MUM, "register", "accept-invitation", code)
    assert again.returncode == 1 and "already used" in again.stderr
    mine = sendcase(sandbox, *AS_MUM, "register", "my-children")
    assert mine.returncode == 0 and child in mine.stdout and other not in mine.stdout
    seen = sendcase(sandbox, *AS_MUM, "--json", "register", "pupil", child)
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout)["result"]["given_name"] == "Noor"
    not_hers = sendcase(sandbox, *AS_MUM, "register", "pupil", other)
    assert not_hers.returncode == 1 and "your own child's records" in not_hers.stderr

    # an auditor reads, and changes nothing
    looked = sendcase(sandbox, *AS_AUDITOR, "register", "pupil", child)
    assert looked.returncode == 0, looked.stderr
    change = sendcase(sandbox, *AS_AUDITOR, "register", "note-concern", child, "--note", "Auditor's note")
    assert change.returncode == 1 and "changes nothing" in change.stderr

    # who looked at the child, in every service
    reads = sendcase(sandbox, *AS_AUDITOR, "--json", "audit", "reads", "--upn", child)
    assert reads.returncode == 0, reads.stderr
    found = json.loads(reads.stdout)
    who = [(r["service"], r["role"], r["query"], r["outcome"]) for r in found]
    assert ("register", "senco", "register.pupil", "read") in who  # the SENCO's invite looked the person up
    assert ("register", "parent", "register.pupil", "refused") in who
    assert ("register", "parent", "register.pupil", "read") in who
    assert ("register", "auditor", "register.pupil", "read") in who
    assert [r["user_id"] for r in found if r["role"] == "parent"] == [MUM] * 3  # refused, read, my-children's
    assert sorted(r["read_at"] for r in found) == [r["read_at"] for r in found]
    text = sendcase(sandbox, *AS_AUDITOR, "audit", "reads", "--upn", child)
    assert text.returncode == 0 and "Who looked at the records of child" in text.stdout and "REFUSED" in text.stdout
    not_staff = sendcase(sandbox, *AS_SENCO, "audit", "reads", "--upn", child)
    assert not_staff.returncode == 1 and "auditors, managers and data officer" in not_staff.stderr

    # the subject access export shows who looked (a family member by role only)
    export = tmp_path / "sar.json"
    made = sendcase(sandbox, *AS_OFFICER, "audit", "subject-access", "--upn", child, "--reference", "SAR-51",
                    "--requester", "parent", "--format", "json", "-o", str(export))  # fmt: skip
    assert made.returncode == 0, made.stderr
    register_part = next(s for s in json.loads(export.read_text())["services"] if s["service"] == "register")
    by_her = [r for r in register_part["reads"] if r["by"]["role"] == "parent"]
    assert by_her and all(r["by"]["user"] is None for r in by_her)
    assert MUM not in export.read_text() and code not in export.read_text()

    # the SENCO ends her access
    ended = sendcase(sandbox, *AS_SENCO, "register", "revoke-access", child, "--person", "Rania Haddad",
                     "--reason", "A court order restricts her access")  # fmt: skip
    assert ended.returncode == 0, ended.stderr
    after = sendcase(sandbox, *AS_MUM, "register", "pupil", child)
    assert after.returncode == 1
