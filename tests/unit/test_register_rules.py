"""Every register transition and rejection, through the application, on the in-memory event store."""

from datetime import date

import pytest

from contracts.identifiers import NeedType, SenStatus
from services.register.application import Register
from services.register.domain import census
from services.runtime.errors import DomainError, NotAuthorised, NotFound
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import OTHER_SCHOOL, caseworker, senco, teacher, upn
from tests.support.inmemory import as_actor, pupil_view
from tests.support.register_factories import PROTECTED, enrol_kwargs, parent

UPN = upn(1)


@pytest.fixture
def app() -> Register:
    register = Register(env=IN_MEMORY_ENV)
    as_actor(senco(), SCHOOL_DAY, register.enrol_pupil, **enrol_kwargs())
    return register


def do(app: Register, method: str, actor=None, **kwargs):
    return as_actor(actor or senco(), SCHOOL_DAY, getattr(app, method), **kwargs)


def refused(app: Register, method: str, actor=None, **kwargs) -> DomainError:
    before = app.max_notification_id()
    with pytest.raises(DomainError) as e:
        do(app, method, actor, **kwargs)
    assert app.max_notification_id() == before, "a refused command stored something"
    return e.value


def view(app: Register):
    return pupil_view(app, caseworker(), SCHOOL_DAY, UPN)


def add_k(app: Register, on=date(2026, 10, 5), primary=NeedType.SPLD, secondary=None, **kw):
    return do(
        app,
        "add_to_sen_support",
        school_urn="123456",
        upn=UPN,
        given_name="Sam",
        family_name="Taylor1",
        date_of_birth=date(2017, 3, 14),
        primary_need=primary,
        secondary_need=secondary,
        effective_date=on,
        reason="Two APDR cycles, little progress in reading.",
        evidence_reference="APDR 5 Oct",
        **kw,
    )


def finalise_plan(app: Register, case_id: str = "case-1", on=date(2026, 11, 2)):
    def react():
        pupil = app.pupil(UPN)
        pupil.ehc_plan_finalised(
            case_id=case_id, issued_on=on, primary_need="ASD", secondary_need="SLCN", school_urn="123456"
        )
        app.save(pupil)

    as_actor(caseworker(), SCHOOL_DAY, react)


# ----- the roll


def test_enrolling_a_pupil_twice_is_refused_and_another_schools_pupil_names_that_school(app: Register) -> None:
    assert refused(app, "enrol_pupil", **enrol_kwargs()).rule == "already_on_roll"
    e = refused(app, "enrol_pupil", actor=senco(OTHER_SCHOOL), **enrol_kwargs(urn=OTHER_SCHOOL))
    assert e.rule == "pupil_at_another_school" and "123456" in e.message and e.field == "pupil.upn"


def test_a_date_of_birth_that_makes_a_pupil_thirty_is_refused() -> None:
    app = Register(env=IN_MEMORY_ENV)
    e = refused(app, "enrol_pupil", **enrol_kwargs(date_of_birth=date(1996, 5, 1)))
    assert e.rule == "date_of_birth_implausible" and "30 years old" in e.message


def test_the_record_holds_parents_other_registers_and_consent_but_shows_no_protected_address(app: Register) -> None:
    do(app, "record_people_with_parental_responsibility", upn=UPN, people=[parent(), parent("Lee Taylor", "father")])
    do(app, "record_looked_after", upn=UPN, looked_after=True, pep_reference="PEP-77", protected_address=PROTECTED)
    do(app, "record_other_registers", upn=UPN, eal=True, medical_needs=True, healthcare_plan_reference="IHP-3")
    do(app, "give_consent_to_share", upn=UPN, given_by="parent", given_by_name="Jo Taylor", given_on=date(2026, 9, 10))
    v = view(app)
    assert [p.name for p in v.people_with_parental_responsibility] == ["Jo Taylor", "Lee Taylor"]
    assert v.looked_after and v.pep_reference == "PEP-77" and v.protected_address_held
    assert "Hidden Lane" not in v.model_dump_json() and "DH1 9ZZ" not in v.model_dump_json()
    assert v.eal and v.medical_needs and v.status is SenStatus.NO_SEN  # EAL alone is not SEN
    assert v.consent_to_share == {
        "given_by": "parent",
        "given_by_name": "Jo Taylor",
        "given_on": "2026-09-10",
        "withdrawn_on": None,
    }
    do(app, "withdraw_consent_to_share", upn=UPN, withdrawn_on=date(2026, 11, 1))
    assert view(app).consent_to_share["withdrawn_on"] == "2026-11-01"


def test_consent_rules_follow_the_young_persons_age(app: Register) -> None:
    e = refused(
        app, "give_consent_to_share", upn=UPN, given_by="young_person", given_by_name="Sam", given_on=date(2026, 9, 10)
    )
    assert e.rule == "young_person_too_young_to_consent" and e.field == "given_by"
    assert (
        refused(app, "withdraw_consent_to_share", upn=UPN, withdrawn_on=date(2026, 11, 1)).rule
        == "no_consent_to_withdraw"
    )


def test_a_looked_after_child_needs_a_pep_and_a_healthcare_plan_needs_medical_needs(app: Register) -> None:
    assert (
        refused(
            app, "record_looked_after", upn=UPN, looked_after=True, pep_reference=None, protected_address=None
        ).field
        == "pep_reference"
    )
    assert (
        refused(
            app, "record_other_registers", upn=UPN, eal=False, medical_needs=False, healthcare_plan_reference="IHP-1"
        ).rule
        == "healthcare_plan_without_medical_needs"
    )


# ----- status transitions


def test_a_concern_puts_the_pupil_on_monitoring_not_on_the_register(app: Register) -> None:
    do(app, "note_concern", upn=UPN, note="Struggles to follow spoken instructions.", noted_on=date(2026, 9, 20))
    v = view(app)
    assert v.on_monitoring_list and v.status is SenStatus.NO_SEN
    add_k(app)
    assert view(app).on_monitoring_list is False and view(app).status is SenStatus.SEN_SUPPORT
    assert refused(app, "note_concern", upn=UPN, note="x", noted_on=date(2026, 11, 1)).rule == "already_on_register"


def test_monitoring_to_k_to_needs_change_to_removed(app: Register) -> None:
    add_k(app, secondary=NeedType.SLCN)
    do(
        app,
        "change_needs",
        upn=UPN,
        primary_need=NeedType.SLCN,
        secondary_need=NeedType.SPLD,
        effective_date=date(2026, 11, 2),
        reason="Speech and language therapist's report",
        evidence_reference="SALT 2 Nov",
    )
    v = view(app)
    assert (v.primary_need, v.secondary_need) == (NeedType.SLCN, NeedType.SPLD)
    assert v.primary_need.broad_area.value == "communication and interaction"
    do(
        app,
        "remove_from_sen_register",
        upn=UPN,
        effective_date=date(2026, 11, 20),
        reason="Outcomes met; no longer needs provision additional to or different from peers.",
        evidence_reference=None,
    )
    v = view(app)
    assert v.status is SenStatus.NO_SEN and v.primary_need is None
    assert [h.status for h in v.history] == [SenStatus.SEN_SUPPORT, SenStatus.SEN_SUPPORT, SenStatus.NO_SEN]
    assert [h.effective_date for h in v.history] == [date(2026, 10, 5), date(2026, 11, 2), date(2026, 11, 20)]


def test_senseless_transitions_are_refused_with_reasons(app: Register) -> None:
    e = refused(
        app, "remove_from_sen_register", upn=UPN, effective_date=date(2026, 11, 20), reason="x", evidence_reference=None
    )
    assert e.rule == "not_on_register"
    assert (
        refused(
            app,
            "change_needs",
            upn=UPN,
            primary_need=NeedType.MLD,
            secondary_need=None,
            effective_date=date(2026, 11, 20),
            reason="x",
            evidence_reference=None,
        ).rule
        == "not_on_register"
    )
    assert (
        refused(app, "record_sen_provision", upn=UPN, provision="x", effective_date=date(2026, 11, 20)).rule
        == "not_on_register"
    )
    e = refused(
        app,
        "add_to_sen_support",
        school_urn="123456",
        upn=UPN,
        given_name="Sam",
        family_name="T",
        date_of_birth=date(2017, 3, 14),
        primary_need=None,
        secondary_need=None,
        effective_date=date(2026, 11, 20),
        reason="x",
        evidence_reference=None,
    )
    assert (e.rule, e.field) == ("primary_need_required", "primary_need")
    add_k(app)
    assert (
        refused(
            app,
            "change_needs",
            upn=UPN,
            primary_need=NeedType.SPLD,
            secondary_need=None,
            effective_date=date(2026, 11, 20),
            reason="x",
            evidence_reference=None,
        ).rule
        == "needs_unchanged"
    )
    e = refused(
        app,
        "change_needs",
        upn=UPN,
        primary_need=NeedType.MLD,
        secondary_need=NeedType.MLD,
        effective_date=date(2026, 11, 20),
        reason="x",
        evidence_reference=None,
    )
    assert (e.rule, e.field) == ("needs_not_ranked", "secondary_need")
    e = refused(
        app, "remove_from_sen_register", upn=UPN, effective_date=date(2026, 10, 1), reason="x", evidence_reference=None
    )
    assert e.rule == "date_before_last_change" and "5 October 2026" in e.message
    e = refused(
        app, "remove_from_sen_register", upn=UPN, effective_date=date(2026, 12, 1), reason="x", evidence_reference=None
    )
    assert (e.rule, e.field) == ("date_in_future", "effective_date")


def test_e_comes_only_from_a_finalised_plan_and_a_senco_cannot_add_or_remove_around_it(app: Register) -> None:
    add_k(app)
    finalise_plan(app)
    v = view(app)
    assert v.status is SenStatus.EHC_PLAN and v.ehc_plans == ["case-1"] and v.primary_need is NeedType.ASD
    assert (
        refused(
            app,
            "add_to_sen_support",
            school_urn="123456",
            upn=UPN,
            given_name="Sam",
            family_name="T",
            date_of_birth=date(2017, 3, 14),
            primary_need=NeedType.ASD,
            secondary_need=None,
            effective_date=date(2026, 11, 20),
            reason="x",
            evidence_reference=None,
        ).rule
        == "has_ehc_plan"
    )
    e = refused(
        app, "remove_from_sen_register", upn=UPN, effective_date=date(2026, 11, 20), reason="x", evidence_reference=None
    )
    assert e.rule == "has_ehc_plan" and "s.45" in e.message


@pytest.mark.parametrize(("continues", "status"), [(True, SenStatus.SEN_SUPPORT), (False, SenStatus.NO_SEN)])
def test_a_ceased_plan_returns_the_pupil_to_k_or_takes_them_off(app: Register, continues, status) -> None:
    add_k(app)
    finalise_plan(app)

    def cease():
        pupil = app.pupil(UPN)
        pupil.cease_ehc_plan(
            case_id="case-1",
            ceased_on=date(2026, 11, 20),
            reason="Outcomes achieved",
            continues_on_sen_support=continues,
        )
        app.save(pupil)
        return pupil

    as_actor(caseworker(), SCHOOL_DAY, cease)
    assert view(app).status is status
    assert not as_actor(caseworker(), SCHOOL_DAY, cease).pending_events  # a second cease changes nothing


# ----- authority


@pytest.mark.parametrize("actor", [teacher(), senco(OTHER_SCHOOL), caseworker()], ids=["teacher", "other-senco", "la"])
@pytest.mark.parametrize(
    "method,kwargs",
    [
        ("note_concern", dict(noted_on=date(2026, 11, 1), note="x")),
        (
            "change_needs",
            dict(
                primary_need=NeedType.MLD,
                secondary_need=None,
                effective_date=date(2026, 11, 20),
                reason="x",
                evidence_reference=None,
            ),
        ),
        ("remove_from_sen_register", dict(effective_date=date(2026, 11, 20), reason="x", evidence_reference=None)),
        ("record_sen_provision", dict(provision="x", effective_date=date(2026, 11, 20))),
        ("transfer_pupil", dict(to_school_urn="654321", leaving_date=date(2026, 11, 20), reason="x")),
        ("record_looked_after", dict(looked_after=False, pep_reference=None, protected_address=None)),
    ],
)
def test_only_the_schools_senco_may_change_the_record(app: Register, actor, method, kwargs) -> None:
    add_k(app)
    e = refused(app, method, actor=actor, upn=UPN, **kwargs)
    assert isinstance(e, NotAuthorised) and "Only the SENCO of school 123456" in e.message


def test_an_unknown_pupil_is_not_found(app: Register) -> None:
    with pytest.raises(NotFound):
        do(app, "note_concern", upn=upn(99), note="x", noted_on=date(2026, 11, 1))


# ----- transfer


def test_a_transfer_moves_the_whole_record_and_only_the_new_school_may_change_it_after_acknowledging(
    app: Register,
) -> None:
    add_k(app, secondary=NeedType.SLCN)
    do(app, "record_sen_provision", upn=UPN, provision="Daily precision teaching", effective_date=date(2026, 10, 6))
    do(
        app,
        "transfer_pupil",
        upn=UPN,
        to_school_urn=OTHER_SCHOOL,
        leaving_date=date(2026, 11, 13),
        reason="Family moved",
    )
    v = view(app)
    assert v.school_urn == OTHER_SCHOOL and v.awaiting_acknowledgement_from == "123456"
    assert (v.status, v.primary_need, v.secondary_need) == (SenStatus.SEN_SUPPORT, NeedType.SPLD, NeedType.SLCN)
    assert isinstance(refused(app, "note_concern", upn=UPN, note="x", noted_on=date(2026, 11, 20)), NotAuthorised)
    e = refused(
        app,
        "change_needs",
        actor=senco(OTHER_SCHOOL),
        upn=UPN,
        primary_need=NeedType.MLD,
        secondary_need=None,
        effective_date=date(2026, 11, 20),
        reason="x",
        evidence_reference=None,
    )
    assert e.rule == "transfer_not_acknowledged"
    do(app, "acknowledge_transfer", actor=senco(OTHER_SCHOOL), upn=UPN, received_on=date(2026, 11, 16))
    assert (
        refused(app, "acknowledge_transfer", actor=senco(OTHER_SCHOOL), upn=UPN, received_on=date(2026, 11, 16)).rule
        == "no_transfer_to_acknowledge"
    )
    do(
        app,
        "change_needs",
        actor=senco(OTHER_SCHOOL),
        upn=UPN,
        primary_need=NeedType.MLD,
        secondary_need=None,
        effective_date=date(2026, 11, 20),
        reason="New school's assessment",
        evidence_reference=None,
    )
    assert view(app).awaiting_acknowledgement_from is None


def test_a_pupil_cannot_be_transferred_to_their_own_school(app: Register) -> None:
    assert (
        refused(
            app, "transfer_pupil", upn=UPN, to_school_urn="123456", leaving_date=date(2026, 11, 20), reason="x"
        ).field
        == "to_school_urn"
    )


# ----- census rules (pure)


def test_census_days_are_the_dfe_thursdays() -> None:
    assert census.census_days(2026) == {
        "spring": date(2026, 1, 15),
        "summer": date(2026, 5, 21),
        "autumn": date(2026, 10, 1),
    }
    assert census.census_days(2027)["spring"] == date(2027, 1, 21)


def test_a_removed_pupil_shows_as_n_at_the_first_census_only() -> None:
    removed = date(2026, 11, 20)
    assert census.removed_pupil_shows_as_n(removed, date(2027, 1, 21))  # spring census 2027
    assert not census.removed_pupil_shows_as_n(removed, date(2027, 5, 20))  # summer: off the register
    assert not census.removed_pupil_shows_as_n(removed, date(2026, 11, 19))


def test_year_groups_follow_the_31_august_rule_or_the_schools_placement() -> None:
    assert census.year_group_from_birth(date(2017, 8, 31), date(2026, 11, 23)) == 5
    assert census.year_group_from_birth(date(2017, 9, 1), date(2026, 11, 23)) == 4
    assert census.year_group_from_birth(date(2021, 9, 1), date(2026, 11, 23)) == 0  # Reception
    assert census.year_group_on(date(2017, 3, 14), date(2027, 10, 1), recorded=4, recorded_on=date(2026, 9, 3)) == 5
