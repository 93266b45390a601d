"""A SENCO's and a data officer's day from the terminal: `sendcase register ...` against a running register."""

import asyncio
import json
import os
import sys
from pathlib import Path

from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.factories import SCHOOL, upn
from tests.support.register_factories import roll_csv
from tests.support.stack import Sandbox, as_operator, eventually, running_service

SENDCASE = str(Path(sys.executable).parent / "sendcase")
# who is acting goes before the command; --json makes the reply JSON for these assertions
AS_SENCO = ["--json", "--as-user", "senco@123456.sch.uk", "--as-role", "senco", "--as-org", f"school:{SCHOOL}"]
AS_OFFICER = ["--json", "--as-user", "data@la.gov.uk", "--as-role", "data_officer", "--as-org", "la:840"]


async def sendcase(settings, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    env.update(SENDCASE_NATS_URL=as_operator(settings.nats_url), SENDCASE_SUBJECT_PREFIX=settings.subject_prefix)
    env.update(SENDCASE_KEYS=settings.keys or "")  # the deployment's keys (ids from the keyed blind index)
    proc = await asyncio.create_subprocess_exec(
        SENDCASE, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_a_sencos_day_and_the_census_extract_from_the_terminal(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = sandbox.settings("register")
    roll = tmp_path / "roll.csv"
    roll.write_text(roll_csv(range(1, 6), extra_rows=[f"{upn(6)},Old,Too,01/01/1990,5,,,"]))
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        code, out, _ = await sendcase(
            settings,
            *AS_SENCO,
            "register",
            "import-roll",
            "--school",
            SCHOOL,
            str(roll),
            "--on-roll-from",
            "2026-09-03",
        )
        report = json.loads(out)["result"]
        assert code == 0 and report["enrolled"] == 5
        assert report["rejected"] == [
            {"row": 7, "field": "date_of_birth", "problem": "01 January 1990 makes the pupil 36 years old"}
        ]

        code, out, _ = await sendcase(settings, *AS_SENCO, "register", "import-roll", "--school", SCHOOL, str(roll))
        assert code == 1 and json.loads(out)["rule"] == "duplicate_import"

        code, out, _ = await sendcase(
            settings,
            *AS_SENCO,
            "register",
            "note-concern",
            upn(1),
            "--note",
            "Slow to settle",
            "--noted-on",
            "2026-09-15",
        )
        assert code == 0, out
        code, out, _ = await sendcase(
            settings,
            *AS_SENCO,
            "register",
            "add-to-sen-support",
            "--school",
            SCHOOL,
            "--upn",
            upn(1),
            "--given-name",
            "Alex",
            "--family-name",
            "Pupil1",
            "--date-of-birth",
            "2017-03-14",
            "--primary-need",
            "SEMH",
            "--reason",
            "Two APDR cycles",
            "--effective-date",
            "2026-09-25",
            "--evidence",
            "APDR 25 Sep",
        )
        assert code == 0, out
        code, out, err = await sendcase(
            settings, *AS_SENCO, "register", "change-needs", upn(1), "--primary-need", "DYSLEXIA", "--reason", "x"
        )
        assert code == 2 and "DYSLEXIA" in err  # an unknown need code never leaves the terminal
        code, out, _ = await sendcase(
            settings,
            *AS_SENCO,
            "register",
            "remove",
            upn(1),
            "--reason",
            "Targets met",
            "--effective-date",
            "2026-12-01",
        )
        assert code == 1 and json.loads(out)["rule"] == "date_in_future"
        code, out, _ = await sendcase(
            settings,
            *AS_SENCO,
            "register",
            "remove",
            upn(1),
            "--reason",
            "Targets met",
            "--effective-date",
            "2026-11-20",
        )
        assert code == 0, out

        async def caught_up():
            last = runtime.service.store.app.max_notification_id()
            return all(r.position >= last for r in runtime.projections)

        await eventually(caught_up, what="read models")
        extract = tmp_path / "autumn.csv"
        code, out, _ = await sendcase(
            settings, *AS_OFFICER, "register", "census-extract", "2026-10-01", "--school", SCHOOL, "-o", str(extract)
        )
        assert code == 0, out
        lines = extract.read_text().splitlines()
        assert len(lines) == 6 and f"{SCHOOL},{upn(1)},Pupil1,Alex,2017-03-14,5,K,," in lines
        code, out, _ = await sendcase(settings, *AS_SENCO, "register", "history", upn(1))
        assert [h["what"] for h in json.loads(out)["result"]][-3:] == [
            "concern noted (monitoring, not on the SEN register)",
            "added to SEN support (K)",
            "removed from the SEN register",
        ]
        code, out, _ = await sendcase(settings, *AS_SENCO, "register", "counts", "--as-at", "2026-10-01")
        assert code == 1 and json.loads(out)["code"] == "not_authorised"  # a SENCO sees their school, not the LA

        # Without --json, as a person reads it: text, refusals in words on stderr.
        as_person = AS_SENCO[1:]
        code, out, err = await sendcase(settings, *as_person, "register", "history", upn(1))
        assert code == 0 and "added to SEN support (K)" in out and not out.lstrip().startswith(("{", "[")), out + err
        code, out, err = await sendcase(settings, *as_person, "register", "counts", "--as-at", "2026-10-01")
        assert code == 1 and out == "" and "You cannot see" in err, out + err
        code, out, _ = await sendcase(
            settings, *AS_OFFICER[1:], "register", "census-extract", "2026-10-01", "--school", SCHOOL
        )
        assert code == 0 and out == extract.read_text()  # printed as the CSV itself, ready to redirect

        # A roll whose every row is rejected: the report, and exit code 1 (nothing was imported).
        bad = tmp_path / "bad-roll.csv"
        bad.write_text(roll_csv(range(0), extra_rows=[f"{upn(7)},Old,Too,01/01/1990,5,,,"]))
        code, out, err = await sendcase(
            settings,
            *as_person,
            "register",
            "import-roll",
            "--school",
            SCHOOL,
            str(bad),
            "--on-roll-from",
            "2026-09-03",
        )
        assert code == 1 and "Rejected rows" in out and "36 years old" in out, out + err
        assert "Every row of bad-roll.csv was rejected" in err
