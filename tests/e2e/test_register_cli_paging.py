"""A whole LA's register too big for one NATS message, from the terminal: `sendcase register school-register`
asks page after page and prints every entry once, in order, as one answer."""

import asyncio
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from contracts.envelope import Actor, Answered, Role
from contracts.identifiers import NeedType
from contracts.register import ImportRoll, SchoolRegister
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.endpoints import MAX_BODY_BYTES
from tests.support.factories import senco, upn
from tests.support.register_factories import ROLL_DAY, roll_csv
from tests.support.stack import Sandbox, as_operator, eventually, running_service

SENDCASE = str(Path(sys.executable).parent / "sendcase")
AS_OFFICER = ["--json", "--as-user", "data@la.gov.uk", "--as-role", "data_officer", "--as-org", "la:840"]
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
SCHOOLS = {"700001": range(1, 2201), "700002": range(3001, 5201), "700003": range(6001, 8001)}  # 6,400 pupils


async def sendcase(settings, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    env.update(SENDCASE_NATS_URL=as_operator(settings.nats_url), SENDCASE_SUBJECT_PREFIX=settings.subject_prefix)
    env.update(SENDCASE_KEYS=settings.keys or "")
    proc = await asyncio.create_subprocess_exec(
        SENDCASE, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


def everyone_on_sen_support(app, urn: str, serials: range) -> None:
    pupils = app.get_many([Pupil.create_id(upn(s)) for s in serials])
    token = set_context(CommandContext(actor=senco(urn), now=NOW))
    try:
        for pupil in pupils.values():
            pupil.add_to_sen_support(
                actor=senco(urn),
                today=NOW.date(),
                primary_need=NeedType.SLCN,
                secondary_need=NeedType.SEMH,
                effective_date=date(2026, 9, 20),
                reason="APDR review",
                evidence_reference=None,
            )
        app.save(*pupils.values())
    finally:
        reset_context(token)


async def test_the_whole_las_register_pages_through_the_cli(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    officer = Actor(user_id="data@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")
    async with running_service(register_bootstrap, settings, FixedClock(NOW)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, officer) as client:
            app = runtime.service.store.app
            for urn, serials in SCHOOLS.items():
                command = ImportRoll(
                    school_urn=urn, file_name="r.csv", csv_text=roll_csv(serials), on_roll_from=ROLL_DAY
                )
                assert (await client.command(command, actor=senco(urn))).outcome == "accepted"
                await asyncio.to_thread(everyone_on_sen_support, app, urn, serials)
            last = app.max_notification_id()

            async def caught_up():
                return all(r.position >= last for r in runtime.projections)

            await eventually(caught_up, what="the read models", timeout=120)
            first = await client.query(SchoolRegister(as_at=date(2026, 10, 1), page_size=2000))
            assert isinstance(first, Answered) and first.result.next_after is not None

        code, out, err = await sendcase(settings, *AS_OFFICER, "register", "school-register", "--as-at", "2026-10-01")
        assert code == 0, out + err
        assert len(out.encode()) > MAX_BODY_BYTES  # too big for one message: it took several pages
        reply = json.loads(out)
        entries = reply["result"]["entries"]
        assert reply["outcome"] == "answered" and reply["result"]["roll"] == 6400 and len(entries) == 6400
        assert reply["result"]["next_after"] is None and reply["result"]["school_urn"] is None
        keys = [(e["family_name"], e["given_name"], e["upn"]) for e in entries]
        assert keys == sorted(keys) and len({e["pupil_id"] for e in entries}) == 6400
        assert entries[:2000] == first.model_dump(mode="json")["result"]["entries"]

        code, out, err = await sendcase(
            settings, *AS_OFFICER[1:], "register", "school-register", "--as-at", "2026-10-01"
        )
        assert code == 0 and out.count("SLCN") >= 6400, err  # as text for a person: every entry too
