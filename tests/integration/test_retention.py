"""Retention with legal holds, on real PostgreSQL and NATS (docs/audit.md, "Retention and legal holds").

A generated LA (three schools, pupils born across 23 years, some on the SEN register, some under legal holds, parents
named on two children's records) is recorded in 2026; years later the register runs with Durham's schedule. The dry
run lists exactly the children past retention, with their rule and their holds, and changes nothing; the job,
switched on, catches up at start and erases exactly those not held (their keys, and the keys of the parents no kept
record names), each erasure recorded as done by the register under its rule; run again it erases nothing. A census
file for a past census day regenerated after an erasure is the same file but for the erased pupil's personal columns,
and says so.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from contracts.envelope import Accepted, Actor, Answered, Rejected, Role
from contracts.identifiers import NeedType
from contracts.register import (
    AddToSenSupport,
    CensusExtract,
    ErasePupil,
    ImportRoll,
    LegalHoldKind,
    LiftLegalHold,
    PlaceLegalHold,
    PupilIdentity,
    RecordPeopleWithParentalResponsibility,
    ReviewRetention,
    SchoolRegister,
)
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.register.settings import RegisterSettings
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.keyring import InMemoryKeyring, person_id_for
from services.runtime.sealing import ERASED
from tests.support.factories import caseworker, senco, upn
from tests.support.register_events import father, mother
from tests.support.stack import Sandbox, as_operator, eventually, running_service

LAS = Path(__file__).resolve().parents[2] / "infra" / "local_authorities"
THEN = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
LATER = datetime(2040, 1, 15, 10, 30, tzinfo=UTC)  # the day the retention job runs
LATER_DAY = date(2040, 1, 15)
SCHOOLS = ("100001", "100002", "100003")
DATA_OFFICER = Actor(user_id="data.officer@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")
SEN_RULE, PUPIL_RULE = "sen-records: date of birth + 31 years", "pupil-records: date of birth + 25 years"
# Serials of their own (and a keyring of their own, `own_keyring`): nothing here touches another test's pupils.
SERIALS = range(7001, 7061)


def school_of(serial: int) -> str:
    return SCHOOLS[serial % 3]


def born(serial: int) -> date:
    return date(2001 + (serial * 5) % 23, 1 + serial % 12, 1 + (serial * 7) % 28)


def on_sen_register(serial: int) -> bool:
    return serial % 4 == 0


def kept_until(serial: int) -> date:
    years = 31 if on_sen_register(serial) else 25
    return born(serial).replace(year=born(serial).year + years)


def due(serial: int) -> bool:  # the test's own reading of Durham's schedule
    return kept_until(serial) < LATER_DAY


def pid(serial: int) -> UUID:
    return Pupil.create_id(upn(serial))


def roll_parent(serial: int) -> UUID:
    return person_id_for(upn(serial), 1, f"Parent {serial}")


def roll(urn: str) -> str:
    lines = ["UPN,Legal Surname,Legal Forename,DOB,NC Year,Contact 1 Name,Contact 1 Relationship,Contact 1 Email"]
    for s in SERIALS:
        if school_of(s) == urn:
            lines.append(f"{upn(s)},Pupil{s},Alex,{born(s):%d/%m/%Y},,Parent {s},mother,parent{s}@example.org")
    return "\n".join(lines) + "\n"


def sen_support(serial: int) -> AddToSenSupport:
    return AddToSenSupport(
        school_urn=school_of(serial),
        pupil=PupilIdentity(
            upn=upn(serial), given_name="Alex", family_name=f"Pupil{serial}", date_of_birth=born(serial)
        ),
        primary_need=NeedType.SLCN,
        effective_date=date(2026, 11, 20),
        reason="Little progress after two APDR cycles",
        evidence_reference="APDR",
    )


async def ok(client: Client, command: Any, actor: Actor | None = None) -> Accepted:
    reply = await client.command(command, actor=actor)
    assert isinstance(reply, Accepted), reply
    return reply


async def review(client: Client, page_size: int = 7) -> list[Any]:
    """Every candidate, page by page (small pages: the paging is tested too)."""
    found = []
    async for reply in client.pages(ReviewRetention(page_size=page_size), actor=DATA_OFFICER):
        assert isinstance(reply, Answered), reply
        found.extend(reply.result.candidates)
    return found


async def test_the_retention_job_erases_exactly_those_past_retention_and_not_held(
    sandbox: Sandbox, own_keyring: InMemoryKeyring
) -> None:
    keyring = own_keyring  # the keys it destroys are destroyed for this test alone
    due_sen = [s for s in SERIALS if due(s) and on_sen_register(s)]
    due_other = [s for s in SERIALS if due(s) and not on_sen_register(s)]
    kept = [s for s in SERIALS if not due(s)]
    kept_sen = [s for s in kept if on_sen_register(s)]
    assert len(due_sen) >= 3 and len(due_other) >= 6 and len(kept) >= 3 and kept_sen  # the LA is varied enough
    held_sen, held_other, held_not_due, lifted = due_sen[0], due_other[0], kept[0], due_other[1]
    holds = {
        held_sen: ("EH840/26/00123", LegalHoldKind.APPEAL),
        held_other: ("LGSCO 26 001 234", LegalHoldKind.OMBUDSMAN),
    }
    # parents named on two children's records
    a, b = due_other[2], kept[1]  # one due, one kept: their shared parent is kept
    shared_c, d = due_other[3], due_other[4]  # both due: their shared parent goes with the second
    e = due_sen[1]  # due, sharing a parent with a held child: kept
    shared = {
        "a+b": (mother(7901, name="Ann Shared"), [a, b]),
        "c+d": (father(7902, name="Dev Shared"), [shared_c, d]),
        "e+held": (mother(7903, name="Eve Shared"), [e, held_sen]),
    }
    expected = {s for s in SERIALS if due(s)} - {held_sen, held_other}

    # 2026: the LA's schools import their rolls, SENCOs add pupils to SEN support, the LA places holds
    settings = RegisterSettings.of(sandbox.settings("register"), retention_schedule=LAS / "840" / "retention.toml")
    async with running_service(register_bootstrap, settings, FixedClock(THEN)):
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, caseworker()) as client:
            for urn in SCHOOLS:
                imported = ImportRoll(
                    school_urn=urn, file_name="roll.csv", csv_text=roll(urn), on_roll_from=date(2026, 9, 3)
                )
                report = (await ok(client, imported, senco(urn))).result
                assert report.rejected == [], report.rejected
            for s in SERIALS:
                if on_sen_register(s):
                    await ok(client, sen_support(s), senco(school_of(s)))
            for person, children in shared.values():
                for s in children:
                    people = RecordPeopleWithParentalResponsibility(upn=upn(s), people=[person])
                    await ok(client, people, senco(school_of(s)))
            for s, (ref, kind) in holds.items():
                await ok(client, PlaceLegalHold(pupil_id=pid(s), kind=kind, reference=ref, placed_on=THEN.date()))
            for s in (held_not_due, lifted):
                await ok(
                    client,
                    PlaceLegalHold(
                        pupil_id=pid(s), kind=LegalHoldKind.LITIGATION, reference=f"CLAIM-{s}", placed_on=THEN.date()
                    ),
                )
            await ok(client, LiftLegalHold(pupil_id=pid(lifted), reference=f"CLAIM-{lifted}", lifted_on=THEN.date()))

    # 2040, the job still off: the dry run lists who would be erased and who is held, and changes nothing
    async with running_service(register_bootstrap, settings, FixedClock(LATER)) as register:
        stored_before = register.service.store.app.max_notification_id()
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, DATA_OFFICER) as client:
            refused = await client.query(ReviewRetention(), actor=caseworker())
            assert isinstance(refused, Rejected) and refused.rule == "not_authorised"
            found = await review(client)
        assert {c.pupil_id for c in found} == {pid(s) for s in SERIALS if due(s)}
        by_id = {c.pupil_id: c for c in found}
        for s in SERIALS:
            if due(s):
                c = by_id[pid(s)]
                assert (c.school_urn, c.year_of_birth, c.kept_until) == (school_of(s), born(s).year, kept_until(s))
                assert c.rule == (SEN_RULE if on_sen_register(s) else PUPIL_RULE)
                assert [(h.reference, h.kind) for h in c.holds] == ([holds[s]] if s in holds else [])
        assert "Pupil" not in repr(found) and "Alex" not in repr(found)  # no names: ids, schools, years, rules
        await asyncio.sleep(0.5)
        assert register.service.store.app.max_notification_id() == stored_before  # the dry run stored nothing
        assert all(keyring.keys([pid(s)], create=False)[pid(s)] is not None for s in SERIALS)
        assert await register.pool.fetchval("SELECT to_regclass('register_retention_runs')") is None  # job off

    # the job switched on (it runs at 02:00; the service starts at 10:30 that day: it catches up at once)
    on = RegisterSettings.of(settings, retention_job=True)
    async with running_service(register_bootstrap, on, FixedClock(LATER)) as register:
        run = await _the_run(register)
        assert (run["run_on"], run["erased"], run["held"], run["failed"]) == (LATER_DAY, len(expected), 2, 0)
        for s in SERIALS:
            key = keyring.keys([pid(s)], create=False)[pid(s)]
            assert (key is None) == (s in expected), s
            parent_key = keyring.keys([roll_parent(s)], create=False)[roll_parent(s)]
            assert (parent_key is None) == (s in expected), f"the roll parent of {s}"
        for name, (person, _) in shared.items():
            gone = keyring.keys([person.person_id], create=False)[person.person_id] is None
            assert gone == (name == "c+d"), name

        # each erasure is a recorded fact: by the register service, under its rule
        await register.read_side.read_models.caught_up("pupil_history")
        await register.read_side.read_models.caught_up("register_views")
        history = await register.pool.fetch(
            "SELECT pupil_id, detail, by_user, by_role FROM pupil_history WHERE what = 'personal data erased'"
        )
        assert {r["pupil_id"] for r in history} == {pid(s) for s in expected}
        for r in history:
            assert (r["by_user"], r["by_role"]) == ("service:register", "system")
            serial = next(s for s in expected if pid(s) == r["pupil_id"])
            assert (SEN_RULE if on_sen_register(serial) else PUPIL_RULE) in r["detail"]
        row = await register.pool.fetchrow("SELECT * FROM register_pupils WHERE pupil_id = $1", pid(shared_c))
        assert (row["upn"], row["given_name"], row["date_of_birth"]) == (ERASED, ERASED, None)
        report = run["report"]
        assert {h["pupil_id"]: [x["reference"] for x in h["holds"]] for h in _json(report)["held"]} == {
            str(pid(s)): [holds[s][0]] for s in holds
        }

        # the register as at a day when they were on it: the erased (every one "[erased]") each once, page by page
        async with Client(as_operator(on.nats_url), on.subject_prefix, DATA_OFFICER) as client:
            then = SchoolRegister(as_at=THEN.date(), page_size=2)
            paged = [e async for r in client.pages(then) for e in r.result.entries]
            whole = await client.query(then.model_copy(update={"page_size": 1000}))
        assert [e.pupil_id for e in paged] == [e.pupil_id for e in whole.result.entries]
        assert {e.pupil_id for e in paged} == {pid(s) for s in SERIALS if on_sen_register(s)}
        assert sum(e.family_name == ERASED for e in paged) == len([s for s in expected if on_sen_register(s)]) >= 2

        # run again (the same day or the next): nothing more to erase, the held still held
        job = register.service.worker("retention")
        again = await job.run_once(register.read_side, LATER_DAY)
        assert (again.erased, len(again.held), again.failed) == ([], 2, [])
        async with Client(as_operator(on.nats_url), on.subject_prefix, DATA_OFFICER) as client:
            left = await review(client, page_size=1000)
        assert {c.pupil_id for c in left} == {pid(held_sen), pid(held_other)}

        # the hold lifted, the next run erases the child
        async with Client(as_operator(on.nats_url), on.subject_prefix, caseworker()) as client:
            ref = holds[held_other][0]
            await ok(client, LiftLegalHold(pupil_id=pid(held_other), reference=ref, lifted_on=LATER_DAY))
        third = await job.run_once(register.read_side, LATER_DAY)
        assert [e["pupil_id"] for e in third.erased] == [str(pid(held_other))] and len(third.held) == 1


async def _the_run(register: Any) -> Any:
    async def ran() -> Any:
        exists = await register.pool.fetchval("SELECT to_regclass('register_retention_runs') IS NOT NULL")
        return exists and await register.pool.fetchrow("SELECT * FROM register_retention_runs")

    return await eventually(ran, timeout=60, what="the retention job's run at start")


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


async def test_a_past_census_regenerated_after_an_erasure_is_the_same_file_but_for_the_erased(
    sandbox: Sandbox, own_keyring: InMemoryKeyring
) -> None:
    settings = sandbox.settings("register")
    census_day = date(2026, 10, 1)
    async with running_service(register_bootstrap, settings, FixedClock(THEN)):
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, DATA_OFFICER) as client:
            urn = SCHOOLS[0]
            lines = ["UPN,Legal Surname,Legal Forename,DOB,NC Year"]
            lines += [f"{upn(s)},Census{s},Kim,{born(s):%d/%m/%Y}," for s in range(7101, 7109)]
            imported = ImportRoll(
                school_urn=urn, file_name="r.csv", csv_text="\n".join(lines) + "\n", on_roll_from=date(2026, 9, 3)
            )
            await ok(client, imported, senco(urn))
            for s in (7102, 7105):
                await ok(
                    client,
                    sen_support(s).model_copy(update={"school_urn": urn, "effective_date": date(2026, 9, 10)}),
                    senco(urn),
                )

            async def census(page_size: int = 3) -> tuple[str, list[Any]]:
                pages = []
                async for reply in client.pages(CensusExtract(census_date=census_day, page_size=page_size)):
                    assert isinstance(reply, Answered), reply
                    pages.append(reply.result)
                return "".join(p.csv for p in pages), pages

            before, first_pages = await census()
            assert first_pages[0].erased == 0 and "NOTE" not in before and "[erased]" not in before
            assert before == (await census(page_size=1000))[0]  # the same file whatever the page size

            erased = await client.command(ErasePupil(pupil_id=pid(7105), rule=SEN_RULE))
            assert isinstance(erased, Accepted), erased
            after, pages = await census()
            assert after == (await census(page_size=1000))[0]
            assert pages[0].erased == 1 and "1 pupil" in (pages[0].notice or "")

    old, new = before.splitlines(), after.splitlines()
    assert new[-1].startswith("# NOTE: 1 pupil in this file had their personal data erased")
    assert len(new) == len(old) + 1 and new[0] == old[0]
    changed = [(o, n) for o, n in zip(old, new[:-1], strict=True) if o != n]
    assert len(changed) == 1  # one line, the erased pupil's, in its place
    (o, n) = changed[0]
    o_cols, n_cols = o.split(","), n.split(",")
    assert o_cols[1] == upn(7105) and n_cols[1:5] == [ERASED, ERASED, ERASED, ""]  # UPN, surname, forename, DOB
    assert o_cols[0] == n_cols[0] and o_cols[5:] == n_cols[5:]  # school, year group, SEN provision: as recorded
    assert "Census7105" not in after and upn(7105) not in after
