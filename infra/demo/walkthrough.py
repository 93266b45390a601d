"""`sendcase demo`: one SENCO action flowing through the system, shown from each service's side."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from contracts.envelope import Accepted, Actor, Answered, Role, derived_id
from contracts.identifiers import NeedType, upn_check_letter
from contracts.notifications import NotificationsForPupil
from contracts.people import Channel, PersonToTell, PostalAddress
from contracts.register import (
    AddToSenSupport,
    EnrolPupil,
    GetPupil,
    PupilIdentity,
    RecordPeopleWithParentalResponsibility,
)
from infra.cli.locate import Client, StackNotRunning, locate
from infra.demo.outbox import show_outbox
from services.runtime.clock import SystemClock, today_in_england

# statuses after which nothing more happens without a person: sent, delivered, or could not be sent
SETTLED = {"sent", "delivered", "failed", "cannot_notify", "cancelled"}

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
    today = today_in_england(SystemClock())
    upn = demo_upn(int(time.time()) % 100_000)
    command = AddToSenSupport(
        school_urn=DEMO_SCHOOL,
        pupil=PupilIdentity(upn=upn, given_name="Sam", family_name="Taylor", date_of_birth=date(today.year - 9, 3, 14)),
        primary_need=NeedType.SLCN,
        secondary_need=NeedType.SEMH,
        effective_date=today,
        reason="Two APDR cycles of targeted speech and language work; progress below expected.",
        evidence_reference="APDR review, autumn term",
    )
    parents = [
        PersonToTell(
            person_id=derived_id("demo-person", upn, "mother"),
            name="Jo Taylor",
            relationship="mother",
            has_parental_responsibility=True,
            email="jo.taylor@example.org",
            preferred_channel=Channel.EMAIL,
        ),
        PersonToTell(
            person_id=derived_id("demo-person", upn, "father"),
            name="Chris Taylor",
            relationship="father",
            has_parental_responsibility=True,
            preferred_channel=Channel.LETTER,
            postal_address=PostalAddress(lines=["12 Mill Lane"], town="Durham", postcode="DH1 3AB"),
        ),
    ]
    async with Client(nats_url, prefix, senco) as client:
        echo(
            f"1. The SENCO ({senco.user_id}) enrols {command.pupil.given_name} {command.pupil.family_name} "
            f"(UPN {upn}) at school {DEMO_SCHOOL} and records who has parental responsibility:"
        )
        for reply in (
            await client.command(
                EnrolPupil(school_urn=DEMO_SCHOOL, pupil=command.pupil, on_roll_from=date(today.year - 5, 9, 1))
            ),
            await client.command(RecordPeopleWithParentalResponsibility(upn=upn, people=parents)),
        ):
            if reply.outcome != "accepted":
                echo(f"   register refused: {reply.message}")
                return 1
        for person in parents:
            echo(f"   {person.name} ({person.relationship}), prefers {person.preferred_channel.value}")
        echo("2. ...then adds the pupil to SEN support.")
        reply = await client.command(command)
        echo(f"   register replied: {reply.outcome} {reply.model_dump(mode='json', exclude={'outcome'})}")
        if not isinstance(reply, Accepted):
            return 1
        pupil_id = reply.result.pupil_id

        answer = await client.query(GetPupil(upn=upn))
        if not isinstance(answer, Answered):
            echo(f"   register refused to show the record: {answer.message}")
            return 1
        view = answer.result
        echo("3. The register's record (rebuilt from its stored events):")
        echo(
            f"   {view.given_name} {view.family_name}  status {view.status}  "
            f"needs {view.primary_need} (primary), {view.secondary_need} (secondary)"
        )
        for change in view.history:
            echo(
                f"   {change.recorded_at.isoformat()}  -> {change.status} by {change.by_user} ({change.by_role}, "
                f"{change.by_organisation}): {change.reason}"
            )

        echo("4. The notifications service owes each parent a message (CFA 2014 s.68) and sends it...")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            owed = await client.query(NotificationsForPupil(pupil_id=pupil_id))
            done = (
                isinstance(owed, Answered)
                and len(owed.result) == len(parents)
                and all(n.status in SETTLED for n in owed.result)
            )
            if done and isinstance(owed, Answered):
                for n in owed.result:
                    echo(f"   {n.recipients}: {n.status} by {n.channel}" + (f" ({n.reason})" if n.reason else ""))
                    echo(
                        f"     duty {n.duty}, caused by event {n.cause_event_id} ({n.cause_event_type}),"
                        f" content sha256 {(n.content_hash or '')[:16]}..."
                    )
                echo("The fact went register -> JetStream -> notifications -> the file outbox:")
                show_outbox([pupil_id], home, echo)
                from infra.demo.register import run_register_demo

                return await run_register_demo(lambda actor: Client(nats_url, prefix, actor), echo, today)
            await asyncio.sleep(0.2)
    echo("   the notifications were not all sent within 30 s: see `sendcase status` and the service logs.")
    return 1
