"""An LA officer's retention work from the terminal, through the real `sendcase` command against a running register:
a legal hold placed and lifted, one child erased by hand, the retention dry run and `--erase` (docs/audit.md)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from contracts.envelope import Accepted
from contracts.register import ImportRoll
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.register.settings import RegisterSettings
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import TEST_KEYRING
from tests.support.factories import senco, upn
from tests.support.stack import Sandbox, as_operator, running_service

SENDCASE = str(Path(sys.executable).parent / "sendcase")
LAS = Path(__file__).resolve().parents[2] / "infra" / "local_authorities"
SCHOOL = "100009"
AS_OFFICER = ["--json", "--as-user", "data@la.gov.uk", "--as-role", "data_officer", "--as-org", "la:840"]
AS_CASEWORKER = ["--json", "--as-user", "cw@la.gov.uk", "--as-role", "la_caseworker", "--as-org", "la:840"]
# serials of their own (and a keyring of its own: `own_keyring`): born 2005, 2006, 2020, 2007
BORN = {7201: "01/02/2005", 7202: "03/04/2006", 7203: "05/06/2020", 7204: "07/08/2007"}
LATER = datetime(2040, 1, 15, 10, 30, tzinfo=UTC)


async def sendcase(settings, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    environment.update(
        SENDCASE_NATS_URL=as_operator(settings.nats_url),
        SENDCASE_SUBJECT_PREFIX=settings.subject_prefix,
        SENDCASE_KEYS=TEST_KEYRING.master.to_json(),  # the deployment's keys: a pupil named by UPN
        **(env or {}),
    )
    proc = await asyncio.create_subprocess_exec(
        SENDCASE, *args, env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def pid(serial: int) -> str:
    return str(Pupil.create_id(upn(serial)))


async def test_holds_erasure_and_the_retention_dry_run_from_the_terminal(sandbox: Sandbox, own_keyring) -> None:
    settings = RegisterSettings.of(sandbox.settings("register"), retention_schedule=LAS / "840" / "retention.toml")
    clock = FixedClock(datetime(2026, 11, 23, 10, 30, tzinfo=UTC))
    async with running_service(register_bootstrap, settings, clock) as register:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco(SCHOOL)) as school:
            csv = "UPN,Legal Surname,Legal Forename,DOB,NC Year\n" + "".join(
                f"{upn(s)},Retained{s},Robin,{dob},\n" for s, dob in BORN.items()
            )
            imported = ImportRoll(school_urn=SCHOOL, file_name="r.csv", csv_text=csv, on_roll_from=date(2026, 9, 3))
            reply = await school.command(imported)
            assert isinstance(reply, Accepted) and reply.result.enrolled == 4, reply
        clock.set(LATER)  # years later: three of them are past "pupil-records: date of birth + 25 years"

        code, out, err = await sendcase(
            settings, *AS_CASEWORKER, "register", "hold", "--kind", "appeal", "--reference", "EH/1"
        )
        assert code == 2 and "--upn" in err  # no pupil named
        code, out, err = await sendcase(
            settings, *AS_CASEWORKER, "register", "hold", "--upn", upn(7202), "--kind", "appeal", "--reference", "EH/1"
        )
        assert code == 0, err
        assert json.loads(out)["result"]["pupil_id"] == pid(7202)

        # the dry run: who would be erased, who is held; nothing changed; the LA's data officer only
        stored = register.service.store.app.max_notification_id()
        code, out, err = await sendcase(settings, *AS_OFFICER, "audit", "retention", "--dry-run")
        assert code == 0, err
        review = json.loads(out)
        assert review["local_authority"] == "840" and review["as_at"] == "2040-01-15"
        assert {c["pupil_id"] for c in review["would_erase"]} == {pid(7201), pid(7204)}
        assert [(c["pupil_id"], c["holds"]) for c in review["held"]] == [(pid(7202), ["EH/1 (appeal)"])]
        assert {c["rule"] for c in review["would_erase"]} == {"pupil-records: date of birth + 25 years"}
        assert "Retained" not in out and "Robin" not in out and upn(7201) not in out  # never a name or a UPN
        assert register.service.store.app.max_notification_id() == stored
        code, out, err = await sendcase(settings, *AS_CASEWORKER, "audit", "retention")
        assert code == 1 and "data officer" in json.loads(out)["message"]
        code, _, err = await sendcase(settings, *AS_OFFICER, "audit", "retention", "--dry-run", "--erase")
        assert code == 2 and "not both" in err
        code, out, err = await sendcase(settings, *AS_OFFICER[1:], "audit", "retention")  # as text
        assert code == 0 and "Would be erased: 2:" in out and "EH/1 (appeal)" in out and "Nothing was changed" in out

        # one child erased by hand; a held one refused
        code, out, err = await sendcase(
            settings, *AS_OFFICER, "register", "erase", "--upn", upn(7204), "--rule", "decision DPO/40/7", "--yes"
        )
        assert code == 0, err
        assert json.loads(out)["result"]["rule"] == "decision DPO/40/7"
        code, out, err = await sendcase(
            settings, *AS_OFFICER, "register", "erase", "--pupil-id", pid(7202), "--rule", "x", "--yes"
        )
        assert code == 1 and json.loads(out)["rule"] == "legal_hold"

        # --erase: the one left due is erased, the held one kept and said so
        code, out, err = await sendcase(settings, *AS_OFFICER, "audit", "retention", "--erase", "--yes")
        assert code == 0, err
        done = json.loads(out)
        assert [e["pupil_id"] for e in done["erased"]] == [pid(7201)]
        assert [h["pupil_id"] for h in done["held"]] == [pid(7202)] and done["failed"] == []

        # the hold lifted: the next --erase erases the child
        code, out, err = await sendcase(
            settings, *AS_CASEWORKER, "register", "lift-hold", "--pupil-id", pid(7202), "--reference", "EH/1"
        )
        assert code == 0, err
        code, out, err = await sendcase(settings, *AS_OFFICER[1:], "audit", "retention", "--erase", "--yes")
        assert code == 0 and "Erased: 1:" in out and pid(7202) in out, out + err
        code, out, err = await sendcase(settings, *AS_OFFICER, "audit", "retention", "--dry-run")
        assert json.loads(out)["would_erase"] == [] and json.loads(out)["held"] == []


async def test_the_register_refuses_to_start_on_a_malformed_schedule_naming_the_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = sandbox.settings("register")
    bad = tmp_path / "retention.toml"
    bad.write_text(
        'local_authority = "840"\n\n[rules.sen-records]\napplies_to = "sen"\nfrom = "date_of_birth"\nyears = "31"\n'
    )
    code, out, err = await sendcase(
        settings,
        "serve",
        "register",
        env={
            "SENDCASE_POSTGRES_URL": sandbox.servers.postgres_url,
            "SENDCASE_REGISTER_DATABASE_URL": settings.database_url or "",
            "SENDCASE_REGISTER_RETENTION_SCHEDULE": str(bad),
        },
    )
    assert code == 2, out + err
    assert f"retention schedule {bad}: line 6, rules.sen-records.years: a whole number of years" in err
    assert "Traceback" not in err
