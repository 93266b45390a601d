"""What the register publishes: each parent duty names everyone with parental responsibility; nothing
internal (the roll, consent, concerns, the protected address) leaves the service."""

from datetime import date

from contracts.identifiers import NeedType
from services.register.application import Register
from services.register.translation import translate
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import OTHER_SCHOOL, caseworker, senco, upn
from tests.support.inmemory import as_actor
from tests.support.register_factories import PROTECTED, enrol_kwargs, parent


def published(app: Register):
    return [e for e in (translate(app.mapper.to_domain_event(n), n.id) for n in app.notifications_after(0, 1000)) if e]


def test_only_duty_facts_and_transfers_are_published_and_never_the_protected_address() -> None:
    app = Register(env=IN_MEMORY_ENV)

    def do(method, actor=None, **kw):
        return as_actor(actor or senco(), SCHOOL_DAY, getattr(app, method), **kw)

    u = upn(1)
    do("enrol_pupil", **enrol_kwargs())
    do(
        "record_people_with_parental_responsibility",
        upn=u,
        people=[parent(), parent("Lee Taylor", "father", "lee@example.org")],
    )
    do("record_looked_after", upn=u, looked_after=True, pep_reference="PEP-1", protected_address=PROTECTED)
    do("record_other_registers", upn=u, eal=True, medical_needs=False, healthcare_plan_reference=None)
    do("give_consent_to_share", upn=u, given_by="parent", given_by_name="Jo Taylor", given_on=date(2026, 9, 10))
    do("note_concern", upn=u, note="Finds reading hard", noted_on=date(2026, 9, 20))
    do(
        "add_to_sen_support",
        school_urn="123456",
        upn=u,
        given_name="Sam",
        family_name="Taylor1",
        date_of_birth=date(2017, 3, 14),
        primary_need=NeedType.SPLD,
        secondary_need=None,
        effective_date=date(2026, 10, 5),
        reason="APDR",
        evidence_reference=None,
    )
    do("record_sen_provision", upn=u, provision="Phonics catch-up", effective_date=date(2026, 10, 6))
    do(
        "change_needs",
        upn=u,
        primary_need=NeedType.MLD,
        secondary_need=None,
        effective_date=date(2026, 10, 7),
        reason="EP report",
        evidence_reference=None,
    )
    do(
        "remove_from_sen_register",
        upn=u,
        effective_date=date(2026, 11, 2),
        reason="Targets met",
        evidence_reference=None,
    )
    do("transfer_pupil", upn=u, to_school_urn=OTHER_SCHOOL, leaving_date=date(2026, 11, 13), reason="Moved")
    do("acknowledge_transfer", actor=senco(OTHER_SCHOOL), upn=u, received_on=date(2026, 11, 16))
    told, *facts = published(app)
    # the people to tell, so that a duty nobody could be told is met once they are known (hardening issue)
    assert told.type == "register.people_to_tell_recorded"
    assert [p["name"] for p in told.payload["people_to_tell"]] == ["Jo Taylor", "Lee Taylor"]
    assert [f.type for f in facts] == [
        "register.pupil_added_to_sen_support",
        "register.special_educational_provision_made",
        "register.pupil_removed_from_sen_register",
        "register.pupil_transferred",
    ]
    for fact in facts[:3]:
        assert [p["name"] for p in fact.payload["people_to_tell"]] == ["Jo Taylor", "Lee Taylor"]
        assert fact.subject.school_urn == "123456"
    assert facts[3].payload["to_school_urn"] == OTHER_SCHOOL and facts[3].subject.school_urn == OTHER_SCHOOL
    assert facts[2].occurred_at.date() == date(2026, 11, 2)
    everything = "".join(f.model_dump_json() for f in facts)
    everything += told.model_dump_json()
    assert "Hidden Lane" not in everything and "DH1 9ZZ" not in everything and "PEP-1" not in everything


def test_a_plan_ceasing_off_the_register_tells_the_parents_too() -> None:
    app = Register(env=IN_MEMORY_ENV)
    u = upn(1)
    as_actor(senco(), SCHOOL_DAY, app.enrol_pupil, **enrol_kwargs())
    as_actor(senco(), SCHOOL_DAY, app.record_people_with_parental_responsibility, upn=u, people=[parent()])

    def plan_then_cease():
        pupil = app.pupil(u)
        pupil.ehc_plan_finalised(
            case_id="c1", issued_on=date(2026, 10, 1), primary_need="ASD", secondary_need=None, school_urn="123456"
        )
        pupil.cease_ehc_plan(
            case_id="c1", ceased_on=date(2026, 11, 20), reason="No longer needs a plan", continues_on_sen_support=False
        )
        app.save(pupil)

    as_actor(caseworker(), SCHOOL_DAY, plan_then_cease)
    [_told, removed] = published(app)
    assert removed.type == "register.pupil_removed_from_sen_register"
    assert removed.payload["people_to_tell"][0]["name"] == "Jo Taylor" and removed.actor.role.value == "la_caseworker"
