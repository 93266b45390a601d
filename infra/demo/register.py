"""The register part of `sendcase demo`: a small LA grows from its schools' CSV rolls.

Three schools import a roll each (about a hundred pupils apiece, from CSV as their information systems
export it); their SENCOs put some pupils on SEN support before the last census day; then the demo prints
one school's register and the LA's counts exactly as they stood on that census day. Running it again
changes nothing: the same files are refused as duplicates and the same pupils are already on the register.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import date, timedelta

from contracts.envelope import Accepted, Actor, Answered, Role
from contracts.identifiers import NeedType, upn_check_letter
from contracts.register import AddToSenSupport, ImportRoll, LaCounts, PupilIdentity, SchoolRegister
from infra.cli.locate import Client
from services.register.domain.census import academic_year_starting, last_census_day_before

DEMO_LA = "000"
SCHOOLS = {"900101": "Brook Lane Primary", "900102": "St Aidan's CE Primary", "900103": "Hillside Academy"}
PUPILS_PER_SCHOOL = 100
FORENAMES = [
    "Amira",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Finn",
    "Grace",
    "Hassan",
    "Isla",
    "Jack",
    "Kai",
    "Lily",
    "Mo",
    "Nia",
    "Oscar",
    "Priya",
    "Quinn",
    "Ruby",
    "Sami",
    "Tom",
    "Uma",
    "Vic",
    "Will",
    "Zara",
]
SURNAMES = [
    "Ahmed",
    "Brown",
    "Clarke",
    "Davies",
    "Evans",
    "Fraser",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Murphy",
    "Nowak",
    "Owen",
    "Patel",
    "Reid",
    "Smith",
    "Taylor",
    "Walker",
]
NEEDS = [NeedType.SPLD, NeedType.SLCN, NeedType.ASD, NeedType.SEMH, NeedType.MLD, NeedType.PD, NeedType.HI]


def school_upn(school_index: int, serial: int) -> str:
    body = f"{DEMO_LA}{9100 + school_index:04d}26{serial:03d}"
    return upn_check_letter(body) + body


def school_roll(urn: str, school_index: int, today: date) -> tuple[str, list[tuple[str, str, str, date]]]:
    """A CSV roll as a school's MIS exports it, and its pupils (upn, forename, surname, dob)."""
    rng = random.Random(urn)
    pupils = []
    start = academic_year_starting(today)
    for serial in range(PUPILS_PER_SCHOOL):
        year = serial % 7  # Reception to Year 6
        born = date(start - 5 - year, 9, 1) + timedelta(days=rng.randrange(365))
        pupils.append((school_upn(school_index, serial), rng.choice(FORENAMES), rng.choice(SURNAMES), born))
    lines = ["UPN,Legal Surname,Legal Forename,DOB,Contact 1 Name,Contact 1 Relationship,Contact 1 Email"]
    for upn, forename, surname, born in pupils:
        lines.append(
            f"{upn},{surname},{forename},{born:%d/%m/%Y},Parent of {forename},parent,"
            f"{forename.lower()}.{surname.lower()}.family@example.org"
        )
    return "\n".join(lines) + "\n", pupils


async def run_register_demo(client_for: Callable[[Actor], Client], echo: Callable[[str], None], today: date) -> int:
    census_day = last_census_day_before(today)
    on_roll_from = date(academic_year_starting(census_day), 9, 1)
    echo(f"Register: three schools import their rolls (on roll from {on_roll_from}); census day {census_day}.")
    expected_on_register = 0
    for index, (urn, name) in enumerate(SCHOOLS.items()):
        senco = Actor(user_id=f"senco@{urn}.sch.uk", role=Role.SENCO, organisation=f"school:{urn}")
        csv_text, pupils = school_roll(urn, index, today)
        async with client_for(senco) as client:
            reply = await client.command(
                ImportRoll(school_urn=urn, file_name=f"{urn}-roll.csv", csv_text=csv_text, on_roll_from=on_roll_from)
            )
            if isinstance(reply, Accepted):
                report = reply.result
                echo(
                    f"  {name} ({urn}): imported {report.rows} rows: {report.enrolled} enrolled, "
                    f"{len(report.rejected)} rejected"
                )
            else:
                echo(f"  {name} ({urn}): {reply.message}")
            rng = random.Random(f"needs-{urn}")
            added = 0
            for upn, forename, surname, born in [p for p in pupils if rng.random() < 0.15]:  # about one in seven
                need = rng.choice(NEEDS)
                command = AddToSenSupport(
                    school_urn=urn,
                    pupil=PupilIdentity(upn=upn, given_name=forename, family_name=surname, date_of_birth=born),
                    primary_need=need,
                    effective_date=min(census_day, on_roll_from + timedelta(days=rng.randrange(20))),
                    reason="Little progress after a full APDR cycle of targeted support.",
                    evidence_reference="APDR review",
                )
                result = await client.command(command)
                added += result.outcome == "accepted"
                expected_on_register += 1
            echo(f"  {name}: the SENCO added {added} pupils to SEN support (others were already on it)")

    officer = Actor(user_id="data.officer@la.gov.uk", role=Role.DATA_OFFICER, organisation=f"la:{DEMO_LA}")
    async with client_for(officer) as client:
        deadline = time.monotonic() + 30
        while True:
            answer = await client.query(LaCounts(school_urn=None, as_at=census_day))
            if not isinstance(answer, Answered):
                echo(f"  the register refused the LA's counts: {answer.message}")
                return 1
            counts = answer.result
            if counts.sen_support + counts.ehc_plan >= expected_on_register or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        first = next(iter(SCHOOLS))
        answer = await client.query(SchoolRegister(school_urn=first, as_at=census_day))
        if not isinstance(answer, Answered):
            echo(f"  the register refused {SCHOOLS[first]}'s register: {answer.message}")
            return 1
        register = answer.result
        echo(f"{SCHOOLS[first]} SEN register as at census day {census_day} (roll {register.roll}):")
        echo(f"   {'UPN':<14} {'name':<22} {'year':>4}  status  need  broad area")
        for e in register.entries:
            echo(
                f"   {e.upn:<14} {e.given_name + ' ' + e.family_name:<22} {e.year_group:>4}  "
                f"{e.status:^6}  {e.primary_need or '':<5} {e.primary_area or ''}"
            )
        echo(
            f"LA counts as at {census_day}: roll {counts.roll}, SEN support {counts.sen_support} "
            f"({counts.sen_support_percent}%), EHC plan {counts.ehc_plan} ({counts.ehc_plan_percent}%); "
            f"{counts.national_label}: {counts.national_sen_support_percent}% and {counts.national_ehc_plan_percent}%"
        )
        for line in counts.by_year_group:
            echo(f"   year {line.key:>2}: {line.sen_support:>3} K of {line.roll:>3} ({line.sen_support_percent}%)")
        echo(
            "   by primary need: " + ", ".join(f"{n.key} {n.sen_support + n.ehc_plan}" for n in counts.by_primary_need)
        )
    return 0
