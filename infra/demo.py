"""`sendcase demo`: one SENCO action flowing through the system, shown from each service's side."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from contracts.envelope import Actor, Role
from contracts.identifiers import NeedType, upn_check_letter
from contracts.notifications import NotificationsForPupil
from contracts.register import AddToSenSupport, GetPupil, PupilIdentity
from infra.client import Client, StackNotRunning, locate

DEMO_SCHOOL = "900001"
DEMO_LA = "000"


def demo_upn(serial: int) -> str:
    body = f"{DEMO_LA}9001{(serial // 1000) % 100:02d}{serial % 1000:03d}"
    return upn_check_letter(body) + body


async def run_demo(home: Path | None, echo: Callable[[str], None]) -> int:
    try:
        nats_url, prefix = locate(home)
    except StackNotRunning as e:
        echo(str(e))
        return 2
    senco = Actor(user_id="a.khan@demo-primary.sch.uk", role=Role.SENCO, organisation=f"school:{DEMO_SCHOOL}")
    today = datetime.now(timezone.utc).date()
    upn = demo_upn(int(time.time()) % 100_000)
    command = AddToSenSupport(
        school_urn=DEMO_SCHOOL,
        pupil=PupilIdentity(
            upn=upn, given_name="Sam", family_name="Taylor", date_of_birth=date(today.year - 9, 3, 14)
        ),
        primary_need=NeedType.SLCN,
        secondary_need=NeedType.SEMH,
        effective_date=today,
        reason="Two APDR cycles of targeted speech and language work; progress below expected.",
        evidence_reference="APDR review, autumn term",
    )
    async with Client(nats_url, prefix, senco) as client:
        echo(f"1. The SENCO ({senco.user_id}) adds pupil {upn} to SEN support at school {DEMO_SCHOOL}.")
        reply = await client.command(command)
        echo(f"   register replied: {reply.outcome} {reply.model_dump(mode='json', exclude={'outcome'})}")
        if reply.outcome != "accepted":
            return 1
        pupil_id = reply.ids["pupil_id"]

        view = (await client.query(GetPupil(upn=upn))).result
        echo("2. The register's record (rebuilt from its stored events):")
        echo(f"   {view['given_name']} {view['family_name']}  status {view['status']}  "
             f"needs {view['primary_need']} (primary), {view['secondary_need']} (secondary)")
        for change in view["history"]:
            echo(f"   {change['recorded_at']}  -> {change['status']} by {change['by_user']} ({change['by_role']}, "
                 f"{change['by_organisation']}): {change['reason']}")

        echo("3. Waiting for the notifications service to record the duty to tell the parents...")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = await client.query(NotificationsForPupil(pupil_id=pupil_id))
            if answer.outcome == "answered" and answer.result:
                for n in answer.result:
                    echo(f"   notification {n['notification_id']}: {n['status']} to {n['recipients']}")
                    echo(f"   duty {n['duty']} (CFA 2014 s.68), owed since {n['owed_since']}, "
                         f"caused by event {n['cause_event_id']} ({n['cause_event_type']})")
                echo("The fact went register -> JetStream -> notifications.")
                from infra.register_demo import run_register_demo

                return await run_register_demo(lambda actor: Client(nats_url, prefix, actor), echo, today)
            await asyncio.sleep(0.2)
    echo("   the notification did not arrive within 30 s: see `sendcase status` and the service logs.")
    return 1
