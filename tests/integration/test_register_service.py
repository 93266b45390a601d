"""The register service on real PostgreSQL and NATS: a SENCO's day over request/reply, the facts it
publishes, the LA's plan decisions arriving as events, transfers, and the register as at past dates."""

import json
from datetime import UTC, date, datetime
from uuid import uuid4

import nats
import pytest

from contracts.ehcp import EhcPlanCeased, EhcPlanFinalised
from contracts.envelope import (
    Accepted,
    Actor,
    Answered,
    EventEnvelope,
    Rejected,
    RejectionCode,
    Role,
    SubjectIds,
)
from contracts.identifiers import NeedType
from contracts.register import (
    AcknowledgeTransfer,
    AddToSenSupport,
    CensusExtract,
    ChangeNeeds,
    GetPupil,
    GetRollImport,
    ImportRoll,
    LaCounts,
    NoteConcern,
    PupilHistory,
    PupilIdentity,
    RecordLookedAfter,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
    RemoveFromSenRegister,
    SchoolRegister,
    TransferPupil,
)
from contracts.subjects import OPERATOR_USER, command_subject, inbox_prefix
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.sealing import opened
from services.runtime.translation import integration_event_id
from tests.support.factories import (
    OTHER_SCHOOL,
    SCHOOL,
    caseworker,
    senco,
    teacher,
    upn,
)
from tests.support.register_events import publish
from tests.support.register_factories import PROTECTED, ROLL_DAY, parent, roll_csv
from tests.support.replies import json_result
from tests.support.stack import Sandbox, as_operator, eventually, running_service, stream_messages

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
DATA_OFFICER = Actor(user_id="data@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")


@pytest.fixture
async def register(sandbox: Sandbox):
    settings = sandbox.settings("register")
    clock = FixedClock(NOW)
    async with running_service(register_bootstrap, settings, clock) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            yield runtime, client, settings


def stored(runtime) -> int:
    return runtime.service.store.app.max_notification_id()


async def accepted(client: Client, command, actor=None) -> Accepted:
    reply = await client.command(command, actor=actor)
    assert isinstance(reply, Accepted), reply
    return reply


async def answer(client: Client, query, actor=None):
    reply = await client.query(query, actor=actor)
    assert isinstance(reply, Answered), reply
    return json_result(reply)


async def import_school(client: Client, urn: str, serials: range, **kw) -> Accepted:
    return await accepted(
        client,
        ImportRoll(school_urn=urn, file_name=f"{urn}.csv", csv_text=roll_csv(serials, **kw), on_roll_from=ROLL_DAY),
        actor=senco(urn),
    )


async def caught_up(runtime) -> None:
    target = stored(runtime)

    async def done():
        return all(r.position >= target for r in runtime.projections)

    await eventually(done, what="the read models to catch up")


def k(serial: int, on: date, urn: str = SCHOOL, need=NeedType.SPLD) -> AddToSenSupport:
    return AddToSenSupport(
        school_urn=urn,
        pupil=PupilIdentity(
            upn=upn(serial), given_name="Alex", family_name=f"Pupil{serial}", date_of_birth=date(2017, 3, 14)
        ),
        primary_need=need,
        effective_date=on,
        reason="APDR cycles show little progress",
        evidence_reference="APDR",
    )


def ehcp_event(payload, sequence: int) -> EventEnvelope:
    return EventEnvelope(
        event_id=integration_event_id("ehcp", sequence),
        type=payload.TYPE,
        schema_version=1,
        producer="ehcp",
        sequence=sequence,
        occurred_at=NOW,
        recorded_at=NOW,
        actor=caseworker(),
        subject=SubjectIds(pupil_id=payload.pupil_id),
        correlation_id=uuid4(),
        payload=payload.model_dump(mode="json"),
    )


async def test_a_sencos_day_publishes_each_parent_duty_naming_everyone_with_parental_responsibility(register) -> None:
    runtime, client, settings = register
    reply = await import_school(client, SCHOOL, range(1, 4))
    assert reply.result.enrolled == 3 and reply.result.rejected == []
    report = await answer(client, GetRollImport(import_id=reply.result.import_id))
    assert report["rows"] == 3
    u = upn(1)
    await accepted(
        client,
        RecordPeopleWithParentalResponsibility(
            upn=u, people=[parent(), parent("Lee Taylor", "father", "lee@example.org")]
        ),
    )
    await accepted(
        client, RecordLookedAfter(upn=u, looked_after=True, pep_reference="PEP-9", protected_address=PROTECTED)
    )
    await accepted(client, NoteConcern(upn=u, note="Finds phonics hard", noted_on=date(2026, 9, 15)))
    await accepted(client, k(1, date(2026, 10, 5)))
    await accepted(
        client,
        RecordSenProvision(upn=u, provision="Daily 20-minute phonics catch-up", effective_date=date(2026, 10, 6)),
    )
    await accepted(
        client,
        RemoveFromSenRegister(
            upn=u, effective_date=date(2026, 11, 20), reason="Reading now at age-related expectations"
        ),
    )

    prefix = settings.subject_prefix

    async def published():
        msgs = await stream_messages(
            as_operator(settings.nats_url), settings.events_stream, f"{prefix}.events.register."
        )
        duties = [m for m in msgs if not m.subject.endswith(".people_to_tell_recorded")]
        return (duties, msgs) if len(duties) == 3 else None

    messages, everything = await eventually(published, what="three register facts on the stream")
    # and who is to be told, each time it was recorded (the roll's contacts for 3 pupils, then the SENCO's)
    told = [m for m in everything if m.subject.endswith(".people_to_tell_recorded")]
    assert len(told) == 4 and all(b"Hidden Lane" not in m.data for m in told)
    # On the stream the names travel sealed under each person's key; opened with the keyring, they read back.
    for m in everything:
        assert b"Jo Taylor" not in m.data and b"jo.taylor@example.org" not in m.data and u.encode() not in m.data
    facts = opened([EventEnvelope.model_validate_json(m.data) for m in messages])
    assert [f.type for f in facts] == [
        "register.pupil_added_to_sen_support",
        "register.special_educational_provision_made",
        "register.pupil_removed_from_sen_register",
    ]
    for fact in facts:
        assert [p["name"] for p in fact.payload["people_to_tell"]] == ["Jo Taylor", "Lee Taylor"]
        assert fact.actor.role is Role.SENCO
    # The protected address never leaves the service: not on the stream, not in any read model.
    for m in messages:
        assert b"Hidden Lane" not in m.data and b"DH1 9ZZ" not in m.data
    await caught_up(runtime)
    for table in ("register_pupils", "register_timeline", "pupil_history"):
        rows = await runtime.pool.fetch(f"SELECT * FROM {table}")
        assert rows and "Hidden Lane" not in repr([dict(r) for r in rows]), table
    history = await answer(client, PupilHistory(upn=u))
    assert [h["what"] for h in history] == [
        "put on the roll",
        "people with parental responsibility recorded",  # the roll's contact, then the SENCO's
        "people with parental responsibility recorded",
        "child looked after",
        "concern noted (monitoring, not on the SEN register)",
        "added to SEN support (K)",
        "special educational provision made",
        "removed from the SEN register",
    ]
    assert (
        history[1]["detail"] == "Parent 1 (mother)"
        and history[2]["detail"] == "Jo Taylor (mother), Lee Taylor (father)"
    )
    assert "protected address held (never shown)" in history[3]["detail"]
    assert history[5]["by_user"] == "senco@123456.sch.uk" and history[5]["effective_date"] == "2026-10-05"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.update(primary_need="DYSLEXIA"), "command.primary_need"),
        (lambda c: c["pupil"].update(upn="A801200001001"), "command.pupil.upn"),
        (lambda c: c.update(effective_date="23/11/2026"), "command.effective_date"),
        (lambda c: c.update(school_urn="12345"), "command.school_urn"),
    ],
)
async def test_malformed_commands_are_rejected_naming_the_field_and_store_nothing(register, mutate, field) -> None:
    runtime, client, _ = register
    command = k(1, date(2026, 11, 20)).model_dump(mode="json")
    mutate(command)
    body = json.dumps({"command": command, "actor": senco().model_dump(mode="json")}).encode()
    msg = await client.nc.request(command_subject(client.prefix, AddToSenSupport.SUBJECT), body, timeout=5)
    reply = Rejected.model_validate_json(msg.data)
    assert reply.code is RejectionCode.INVALID and field in [e.field for e in reply.field_errors]
    assert stored(runtime) == 0


async def test_rule_breaking_and_unauthorised_commands_are_rejected_with_reasons_and_store_nothing(register) -> None:
    runtime, client, _ = register
    await import_school(client, SCHOOL, range(1, 3))
    await accepted(client, k(1, date(2026, 10, 5)))
    before = stored(runtime)
    cases = [
        (k(1, date(2026, 11, 20)), senco(), RejectionCode.RULE_BROKEN, "already_on_sen_support"),
        (k(1, date(2026, 11, 24)), senco(), RejectionCode.RULE_BROKEN, "already_on_sen_support"),
        (k(2, date(2026, 11, 24)), senco(), RejectionCode.RULE_BROKEN, "date_in_future"),
        (
            RemoveFromSenRegister(upn=upn(2), effective_date=date(2026, 11, 20), reason="x"),
            senco(),
            RejectionCode.RULE_BROKEN,
            "not_on_register",
        ),
        (
            ChangeNeeds(upn=upn(1), primary_need=NeedType.MLD, effective_date=date(2026, 11, 20), reason="x"),
            teacher(),
            RejectionCode.NOT_AUTHORISED,
            "not_authorised",
        ),
        (
            k(1, date(2026, 11, 20), urn=OTHER_SCHOOL),
            senco(OTHER_SCHOOL),
            RejectionCode.RULE_BROKEN,
            "pupil_at_another_school",
        ),
        (
            NoteConcern(upn=upn(40), note="x", noted_on=date(2026, 11, 20)),
            senco(),
            RejectionCode.NOT_FOUND,
            "not_found",
        ),
    ]
    for command, actor, code, rule in cases:
        reply = await client.command(command, actor=actor)
        assert isinstance(reply, Rejected) and (reply.code, reply.rule) == (code, rule), (command, reply)
        assert reply.message
    duplicate = await client.command(
        ImportRoll(school_urn=SCHOOL, file_name="again.csv", csv_text=roll_csv(range(1, 3)), on_roll_from=ROLL_DAY)
    )
    assert isinstance(duplicate, Rejected) and duplicate.rule == "duplicate_import"
    assert duplicate.field_errors[0].field == "csv_text"
    garbled = await client.command(
        ImportRoll(school_urn=SCHOOL, file_name="x.csv", csv_text="\x00\x01\x02", on_roll_from=ROLL_DAY)
    )
    assert isinstance(garbled, Rejected) and garbled.rule == "garbled_file", garbled.field_errors
    assert stored(runtime) == before


async def test_the_las_plan_decisions_set_e_and_take_it_away_exactly_once(register) -> None:
    runtime, client, settings = register
    await import_school(client, SCHOOL, range(1, 3))
    await accepted(client, k(1, date(2026, 10, 5)))
    u, pupil_id, case_id = upn(1), Pupil.create_id(upn(1)), uuid4()
    finalised = ehcp_event(
        EhcPlanFinalised(
            case_id=case_id,
            pupil_id=pupil_id,
            upn=u,
            school_urn=SCHOOL,
            issued_on=date(2026, 11, 2),
            primary_need=NeedType.ASD,
            secondary_need=NeedType.SLCN,
        ),
        1,
    )
    nc = await nats.connect(as_operator(settings.nats_url), inbox_prefix=inbox_prefix(OPERATOR_USER))
    js = nc.jetstream()
    await publish(js, settings.subject_prefix, finalised)

    async def status(expected):
        view = json_result(await client.query(GetPupil(upn=u), actor=caseworker()))
        return view if view["status"] == expected else None

    view = await eventually(lambda: status("E"), what="status E from the finalised plan")
    assert view["ehc_plans"] == [str(case_id)] and view["primary_need"] == "ASD"
    assert view["history"][-1]["by_role"] == "system"
    events_after_plan = stored(runtime)
    # The same fact again (a re-publication by the ehcp relay, past the dedupe window): no second effect.
    await js.publish(f"{settings.subject_prefix}.events.ehcp.plan_finalised", finalised.model_dump_json().encode())
    ceased = ehcp_event(
        EhcPlanCeased(
            case_id=case_id,
            pupil_id=pupil_id,
            upn=u,
            ceased_on=date(2026, 11, 20),
            reason="Needs met without a plan",
            continues_on_sen_support=True,
        ),
        2,
    )
    await publish(js, settings.subject_prefix, ceased)
    await eventually(lambda: status("K"), what="back to K when the plan ceased")
    assert stored(runtime) == events_after_plan + 1
    [consumer] = [c for c in runtime.consumers if c.name.endswith("ehc-plans")]  # (and erase-keys)
    assert consumer.duplicates == 1 and consumer.dead_lettered == 0
    await nc.close()


async def test_a_transfer_moves_the_record_and_both_registers_are_right_before_and_after(register) -> None:
    runtime, client, _ = register
    await import_school(client, SCHOOL, range(1, 4))
    await import_school(client, OTHER_SCHOOL, range(10, 12))
    await accepted(client, k(1, date(2026, 10, 5), need=NeedType.SEMH))
    await accepted(
        client,
        TransferPupil(
            upn=upn(1), to_school_urn=OTHER_SCHOOL, leaving_date=date(2026, 11, 13), reason="Family moved to the area"
        ),
    )
    refused = await client.command(NoteConcern(upn=upn(1), note="x", noted_on=date(2026, 11, 20)))
    assert isinstance(refused, Rejected) and refused.code is RejectionCode.NOT_AUTHORISED
    await accepted(client, AcknowledgeTransfer(upn=upn(1), received_on=date(2026, 11, 16)), actor=senco(OTHER_SCHOOL))
    await caught_up(runtime)

    async def register_of(urn, day):
        return await answer(client, SchoolRegister(school_urn=urn, as_at=day), actor=caseworker())

    before_a, before_b = (
        await register_of(SCHOOL, date(2026, 11, 12)),
        await register_of(OTHER_SCHOOL, date(2026, 11, 12)),
    )
    after_a, after_b = (
        await register_of(SCHOOL, date(2026, 11, 13)),
        await register_of(OTHER_SCHOOL, date(2026, 11, 13)),
    )
    assert [(e["upn"], e["status"], e["primary_need"]) for e in before_a["entries"]] == [(upn(1), "K", "SEMH")]
    assert (before_a["roll"], before_b["roll"], before_b["entries"]) == (3, 2, [])
    assert after_a["entries"] == [] and after_a["roll"] == 2
    assert [(e["upn"], e["status"]) for e in after_b["entries"]] == [(upn(1), "K")] and after_b["roll"] == 3
    history = await answer(client, PupilHistory(upn=upn(1)), actor=senco(OTHER_SCHOOL))
    assert [h["what"] for h in history][-2:] == ["moved school", "record received and acknowledged"]
    refused = await client.query(PupilHistory(upn=upn(1)), actor=senco(SCHOOL))
    assert isinstance(refused, Rejected) and refused.code is RejectionCode.NOT_AUTHORISED


async def test_the_census_as_at_a_past_day_is_unchanged_by_later_changes(register) -> None:
    runtime, client, _ = register
    await import_school(client, SCHOOL, range(1, 11))  # ten pupils, Year 5
    await accepted(client, k(1, date(2026, 9, 10)))
    await accepted(client, k(2, date(2026, 9, 20), need=NeedType.ASD))
    await accepted(client, k(3, date(2026, 9, 25), need=NeedType.SEMH))
    autumn = date(2026, 10, 1)
    await caught_up(runtime)
    extract_then = (await answer(client, CensusExtract(school_urn=SCHOOL, census_date=autumn), actor=DATA_OFFICER))[
        "csv"
    ]
    counts_then = await answer(client, LaCounts(school_urn=SCHOOL, as_at=autumn), actor=DATA_OFFICER)
    # later: one removed, one changed, one more added
    await accepted(client, RemoveFromSenRegister(upn=upn(1), effective_date=date(2026, 11, 2), reason="Targets met"))
    await accepted(
        client,
        ChangeNeeds(upn=upn(2), primary_need=NeedType.SLCN, effective_date=date(2026, 11, 3), reason="SALT report"),
    )
    await accepted(client, k(4, date(2026, 11, 4)))
    await caught_up(runtime)
    assert (await answer(client, CensusExtract(school_urn=SCHOOL, census_date=autumn), actor=DATA_OFFICER))[
        "csv"
    ] == extract_then
    assert await answer(client, LaCounts(school_urn=SCHOOL, as_at=autumn), actor=DATA_OFFICER) == counts_then
    assert (counts_then["roll"], counts_then["sen_support"], counts_then["sen_support_percent"]) == (10, 3, 30.0)
    assert counts_then["national_sen_support_percent"] == 14.2 and counts_then["national_ehc_plan_percent"] == 5.3
    assert [(line["key"], line["sen_support"]) for line in counts_then["by_year_group"]] == [("5", 3)]
    assert {line["key"]: line["sen_support"] for line in counts_then["by_primary_need"]} == {
        "SPLD": 1,
        "ASD": 1,
        "SEMH": 1,
    }

    lines = extract_then.splitlines()
    assert lines[0] == "URN,UPN,Surname,Forename,DOB,NCYearActual,SENprovision,SENtype1,SENtype2"
    assert f"{SCHOOL},{upn(1)},Pupil1,Alex,2017-03-14,5,K,," in lines  # October: status only, no need types
    # Spring census 2027: the removed pupil shows N once; by the summer census they are off the register.
    spring = (
        await answer(client, CensusExtract(school_urn=SCHOOL, census_date=date(2027, 1, 21)), actor=DATA_OFFICER)
    )["csv"]
    assert f"{SCHOOL},{upn(1)},Pupil1,Alex,2017-03-14,5,N,," in spring.splitlines()
    assert f"{SCHOOL},{upn(2)},Pupil2,Alex,2017-03-14,5,K,SLCN," in spring.splitlines()
    summer = await answer(client, SchoolRegister(school_urn=SCHOOL, as_at=date(2027, 5, 20)))
    assert sorted(e["upn"] for e in summer["entries"]) == sorted([upn(2), upn(3), upn(4)])
    now = await answer(client, SchoolRegister(school_urn=SCHOOL))
    assert [(e["upn"], e["status"]) for e in now["entries"] if e["upn"] == upn(1)] == [(upn(1), "N")]
    la_register = await answer(client, SchoolRegister(as_at=autumn), actor=DATA_OFFICER)
    assert la_register["school_urn"] is None and la_register["roll"] == 10 and len(la_register["entries"]) == 3
    refused = await client.query(SchoolRegister(as_at=autumn), actor=senco())
    assert isinstance(refused, Rejected) and refused.code is RejectionCode.NOT_AUTHORISED
    # The whole LA as the register knows it now (each pupil's latest row, register_latest) is what the full
    # timeline says (the path taken when asked as known at a moment), on any date: before, between and after
    # the changes above, including those recorded later but taking effect earlier.
    known_by_now = datetime(2026, 12, 31, tzinfo=UTC)
    for day in (date(2026, 9, 1), autumn, date(2026, 11, 2), date(2026, 11, 3), date(2027, 1, 21), date(2027, 5, 20)):
        fast = await answer(client, LaCounts(as_at=day), actor=DATA_OFFICER)
        full = await answer(client, LaCounts(as_at=day, as_known_at=known_by_now), actor=DATA_OFFICER)
        assert fast == full, day
        fast_register = await answer(client, SchoolRegister(as_at=day), actor=DATA_OFFICER)
        full_register = await answer(client, SchoolRegister(as_at=day, as_known_at=known_by_now), actor=DATA_OFFICER)
        assert fast_register["entries"] == full_register["entries"], day
    refused = await client.query(LaCounts(), actor=senco())
    assert isinstance(refused, Rejected) and refused.code is RejectionCode.NOT_AUTHORISED


async def test_the_read_models_rebuild_from_zero_with_identical_rows(register) -> None:
    runtime, client, _ = register
    await import_school(client, SCHOOL, range(1, 21))
    for serial in range(1, 8):
        await accepted(client, k(serial, date(2026, 10, 5)))
    await accepted(
        client, TransferPupil(upn=upn(2), to_school_urn=OTHER_SCHOOL, leaving_date=date(2026, 11, 13), reason="Moved")
    )
    await accepted(client, RemoveFromSenRegister(upn=upn(3), effective_date=date(2026, 11, 20), reason="Targets met"))
    await caught_up(runtime)
    tables = {
        "register_pupils": "pupil_id",
        "register_timeline": "pupil_id, log_position",
        "pupil_history": "pupil_id, log_position",
        "pupil_history_schools": "pupil_id",
    }

    async def snapshot():
        return {
            t: [dict(r) for r in await runtime.pool.fetch(f"SELECT * FROM {t} ORDER BY {key}")]
            for t, key in tables.items()
        }

    before = await snapshot()
    for runner in runtime.projections:
        await runner.rebuild()
    await caught_up(runtime)
    assert await snapshot() == before
    assert len(before["register_pupils"]) == 20 and len(before["pupil_history"]) > 20


async def test_a_plan_for_a_pupil_on_no_roll_is_dead_lettered_and_does_not_hold_up_the_next(register) -> None:
    runtime, client, settings = register
    await import_school(client, SCHOOL, range(1, 3))
    stranger, known = upn(77), upn(1)
    nc = await nats.connect(as_operator(settings.nats_url), inbox_prefix=inbox_prefix(OPERATOR_USER))
    js = nc.jetstream()
    for sequence, who in ((1, stranger), (2, known)):
        await publish(
            js,
            settings.subject_prefix,
            ehcp_event(
                EhcPlanFinalised(
                    case_id=uuid4(),
                    pupil_id=Pupil.create_id(who),
                    upn=who,
                    school_urn=SCHOOL,
                    issued_on=date(2026, 11, 2),
                    primary_need=NeedType.SLCN,
                ),
                sequence,
            ),
        )
    await nc.close()

    async def known_is_e():
        return (await client.query(GetPupil(upn=known), actor=caseworker())).result.status == "E"

    await eventually(known_is_e, what="the known pupil's plan applied")
    [consumer] = [c for c in runtime.consumers if c.name.endswith("ehc-plans")]  # (and erase-keys)
    await eventually(lambda: _true(consumer.dead_lettered == 1), what="the stranger's plan dead-lettered")
    dead = await stream_messages(as_operator(settings.nats_url), settings.dead_letter_stream)
    assert len(dead) == 1 and stranger in dead[0].data.decode()
    assert "on no school's roll" in dead[0].headers["Sendcase-Reason"]


async def _true(value: bool) -> bool:
    return value


async def test_an_auditor_sees_the_register_as_it_was_known_on_census_day_despite_later_backdating(register) -> None:
    runtime, client, _ = register
    clock = runtime.service.clock
    clock.set(datetime(2026, 9, 30, 15, 0, tzinfo=UTC))
    await import_school(client, SCHOOL, range(1, 6))
    await accepted(client, k(1, date(2026, 9, 21)))
    census_evening = datetime(2026, 10, 1, 18, 0, tzinfo=UTC)
    clock.set(datetime(2026, 10, 12, 9, 0, tzinfo=UTC))
    await accepted(client, k(2, date(2026, 9, 24)))  # recorded after the census, backdated before it
    await caught_up(runtime)
    autumn = date(2026, 10, 1)
    corrected = await answer(client, SchoolRegister(school_urn=SCHOOL, as_at=autumn), actor=DATA_OFFICER)
    as_known = await answer(
        client, SchoolRegister(school_urn=SCHOOL, as_at=autumn, as_known_at=census_evening), actor=DATA_OFFICER
    )
    assert sorted(e["upn"] for e in corrected["entries"]) == sorted([upn(1), upn(2)])
    assert [e["upn"] for e in as_known["entries"]] == [upn(1)] and as_known["roll"] == 5
    extract = await answer(
        client, CensusExtract(school_urn=SCHOOL, census_date=autumn, as_known_at=census_evening), actor=DATA_OFFICER
    )
    assert f"{SCHOOL},{upn(2)},Pupil2,Alex,2017-03-14,5,,," in extract["csv"].splitlines()
    before_import = await answer(
        client, LaCounts(as_at=autumn, as_known_at=datetime(2026, 9, 1, tzinfo=UTC)), actor=DATA_OFFICER
    )
    assert before_import["roll"] == 0
