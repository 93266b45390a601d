"""The pure rules of who may read and change what (docs/security.md, "Inside the services"): auditors change nothing;
grants (whose, which child or case, until when); invitation codes (typable, read back case-blind, keyed); the
lockout after wrong codes; who may be invited and who may invite; what each query declares it reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from contracts.envelope import Actor, Query, Role, View
from contracts.register import GetPupil, LaCounts, SchoolRegister
from services.notifications.domain.notification import CODE_NOT_SHOWN, without_codes
from services.register.domain.invitation import (
    CODE_ALPHABET,
    LOCKED_FOR,
    WRONG_CODES_WITHIN,
    CodeAttempts,
    Invitation,
    code_for,
    invitation_id_for,
    normalised_code,
)
from services.register.domain.rules import check_may_accept, check_may_invite, invited_as
from services.runtime.access import Grant, check_granted
from services.runtime.authorisation import check_may_change
from services.runtime.context import CommandContext, acting, citizen_pseudonym
from services.runtime.errors import DomainError, NotAuthorised
from services.runtime.keyring import pupil_id_for
from services.runtime.read_log import NO_CHILD, Reads, check_declaration, child, children, row_content
from services.runtime.routes import RouteError, Routes
from services.runtime.subject_access import plain
from tests.support.factories import OTHER_SCHOOL, auditor, caseworker, senco, teacher, upn

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
PUPIL, OTHER, CASE = uuid4(), uuid4(), uuid4()
MUM = Actor(user_id="urn:fdc:gov.uk:2022:mum", role=Role.PARENT, organisation="citizen")
ADVISER = Actor(user_id="ep@nhs.example", role=Role.PROFESSIONAL, organisation="org:nhs-cdd-ft")


def grant(**changes: object) -> Grant:
    values: dict[str, object] = dict(
        grant_id=uuid4(),
        user_id=MUM.user_id,
        role=Role.PARENT,
        pupil_id=PUPIL,
        relationship="mother",
        granted_on=TODAY,
        person_id=uuid4(),
    )
    values.update(changes)
    return Grant(**values)  # type: ignore[arg-type]


# -- auditors change nothing ------------------------------------------------------------------------------------


def test_an_auditor_may_change_nothing_and_everyone_else_is_left_to_the_services_rules() -> None:
    with pytest.raises(NotAuthorised) as refused:
        check_may_change(auditor())
    assert refused.value.rule == "auditors_change_nothing" and "reads everything and changes nothing" in str(
        refused.value
    )
    for actor in (senco(), caseworker(), MUM, Actor.service("register")):
        check_may_change(actor)


# -- grants ------------------------------------------------------------------------------------------------------


def test_a_grant_covers_its_own_person_in_its_own_role_for_its_own_child_while_it_stands() -> None:
    g = grant()
    assert g.covers(MUM, PUPIL, TODAY)
    assert not g.covers(MUM, OTHER, TODAY)  # another child
    assert not g.covers(MUM.model_copy(update={"user_id": "urn:someone-else"}), PUPIL, TODAY)
    assert not g.covers(MUM.model_copy(update={"role": Role.YOUNG_PERSON}), PUPIL, TODAY)  # acts in its role only
    assert not g.covers(MUM.model_copy(update={"organisation": "school:123456"}), PUPIL, TODAY)  # not as staff
    assert g.covers(MUM, PUPIL, TODAY, case_id=CASE)  # a child's grant covers each of the child's cases
    lapsing = grant(until=TODAY)
    assert lapsing.covers(MUM, PUPIL, TODAY) and not lapsing.covers(MUM, PUPIL, TODAY + timedelta(days=1))
    assert Grant.from_dict(lapsing.to_dict()) == lapsing


def test_a_professionals_grant_for_one_case_covers_that_case_only_until_it_ends() -> None:
    advice = grant(
        user_id=ADVISER.user_id,
        role=Role.PROFESSIONAL,
        relationship="educational psychologist",
        case_id=CASE,
        until_event="ehcp.advice_submitted",
    )
    assert advice.covers(ADVISER, PUPIL, TODAY, case_id=CASE)
    assert not advice.covers(ADVISER, PUPIL, TODAY)  # the child's other records
    assert not advice.covers(ADVISER, PUPIL, TODAY, case_id=uuid4())
    assert not advice.covers(ADVISER.model_copy(update={"organisation": "citizen"}), PUPIL, TODAY, case_id=CASE)
    assert Grant.from_dict(advice.to_dict()) == advice


def test_without_a_grant_the_refusal_is_the_same_whether_the_child_exists_or_not() -> None:
    messages = set()
    for grants, pupil in (([], PUPIL), ([grant()], OTHER), ([grant()], None)):
        with pytest.raises(NotAuthorised) as refused:
            check_granted(MUM, grants, pupil, TODAY)
        messages.add(str(refused.value))
    assert messages == {
        "You can see only your own child's records, once you have accepted the invitation sent to you; this is not one "
        "of them (or your access has ended)."
    }
    with pytest.raises(NotAuthorised, match="your own records"):
        check_granted(MUM.model_copy(update={"role": Role.YOUNG_PERSON}), [], PUPIL, TODAY)
    with pytest.raises(NotAuthorised, match="the cases you were asked to advise on"):
        check_granted(ADVISER, [], PUPIL, TODAY, case_id=CASE)
    with pytest.raises(NotAuthorised, match="sign in as yourself"):
        check_granted(MUM.model_copy(update={"organisation": "la:840"}), [grant()], PUPIL, TODAY)
    assert check_granted(MUM, [grant(pupil_id=OTHER), g := grant()], PUPIL, TODAY) is g


# -- invitation codes --------------------------------------------------------------------------------------------


def test_a_code_is_twelve_typable_characters_made_with_the_deployments_key_and_read_back_forgivingly() -> None:
    nonce = "a" * 32
    code = code_for(nonce)
    assert code == code_for(nonce) and code != code_for("b" * 32)
    assert len(code) == 14 and code[4] == code[9] == "-"
    assert all(c in CODE_ALPHABET for c in code.replace("-", ""))
    assert not set("ILOU") & set(code)
    held = code.replace("-", "")
    assert normalised_code(code) == held
    assert normalised_code(f"  {code.lower().replace('-', ' ')} ") == held
    assert normalised_code("o0i1-l0o0-0000") == "0011" + "1000" + "0000"
    for wrong in ("", "K7QM-3XD9", "K7QM-3XD9-TWPA-0", "K7QM-3XD9-TWP!", "K7QM-3XD9-TWPU"):
        assert normalised_code(wrong) is None, wrong
    with acting(CommandContext(actor=senco(), now=NOW)):
        invitation_id = Invitation.create_id(nonce)
    assert invitation_id == invitation_id_for(held)  # the code a person types finds its invitation, and only it
    assert invitation_id != invitation_id_for(normalised_code("0000-0000-0000") or "")


def test_five_wrong_codes_within_a_quarter_of_an_hour_lock_code_entry_for_a_quarter_of_an_hour() -> None:
    with acting(CommandContext(actor=MUM, now=NOW)):
        attempts = CodeAttempts.of(MUM.user_id)
        for minute in range(4):
            attempts.wrong_code(at=NOW + timedelta(minutes=minute))
        assert attempts.locked_until(NOW + timedelta(minutes=4)) is None
        assert attempts.left_before_lockout(NOW + timedelta(minutes=4)) == 1
        attempts.wrong_code(at=NOW + timedelta(minutes=4))
        last = NOW + timedelta(minutes=4)
        assert attempts.locked_until(last) == last + LOCKED_FOR
        with pytest.raises(NotAuthorised) as locked:
            attempts.check_not_locked(last + timedelta(minutes=1))
        assert locked.value.rule == "too_many_wrong_codes" and "try again after 10:49" in str(locked.value)
        attempts.check_not_locked(last + LOCKED_FOR)  # open again

        spread = CodeAttempts.of("urn:someone")
        for n in range(6):  # a wrong code every five minutes: never five within fifteen
            spread.wrong_code(at=NOW + n * (WRONG_CODES_WITHIN / 3 + timedelta(seconds=1)))
        assert spread.locked_until(NOW + timedelta(minutes=30)) is None
    assert CodeAttempts.id_for(MUM.user_id) == attempts.id != spread.id


# -- invitations: who may be invited, who invites, who accepts --------------------------------------------------


def test_parents_with_parental_responsibility_and_young_people_from_16_are_invited_nobody_else() -> None:
    mum = {"name": "Ewa", "relationship": "mother", "has_parental_responsibility": True}
    gran = {"name": "Halina", "relationship": "grandmother", "has_parental_responsibility": False}
    young = {"name": "Zuza", "relationship": "Young person", "has_parental_responsibility": False}
    assert invited_as(mum, date(2017, 3, 1), TODAY) is Role.PARENT
    assert invited_as(young, date(2010, 11, 23), TODAY) is Role.YOUNG_PERSON  # 16 today
    with pytest.raises(DomainError, match="from 16; they are 15") as too_young:
        invited_as(young, date(2010, 11, 24), TODAY)
    assert too_young.value.rule == "young_person_too_young"
    with pytest.raises(DomainError, match="without parental responsibility") as refused:
        invited_as(gran, date(2017, 3, 1), TODAY)
    assert refused.value.rule == "not_invitable"


def test_the_schools_senco_or_an_la_caseworker_invites_and_only_a_family_member_signed_in_as_themself_accepts() -> None:
    check_may_invite(senco(), "123456")
    check_may_invite(caseworker(), "123456")
    for actor in (senco(OTHER_SCHOOL), teacher(), auditor(), MUM):
        with pytest.raises(NotAuthorised):
            check_may_invite(actor, "123456")
    check_may_accept(MUM)
    check_may_accept(MUM.model_copy(update={"role": Role.YOUNG_PERSON}))
    for actor in (senco(), ADVISER, MUM.model_copy(update={"organisation": "la:840"})):
        with pytest.raises(NotAuthorised) as refused:
            check_may_accept(actor)
        assert refused.value.rule == "accepted_by_family_only"


def test_a_family_member_is_named_in_stored_metadata_by_a_keyed_pseudonym_staff_by_their_user_id() -> None:
    pseudonym = citizen_pseudonym(MUM.user_id)
    assert pseudonym.startswith("citizen:") and MUM.user_id not in pseudonym
    assert pseudonym == citizen_pseudonym(MUM.user_id) != citizen_pseudonym("urn:fdc:gov.uk:2022:dad")
    assert CommandContext(actor=MUM, now=NOW).metadata()["actor"]["user_id"] == pseudonym
    assert CommandContext(actor=senco(), now=NOW).metadata()["actor"]["user_id"] == senco().user_id


# -- the one-time code is shown to nobody but the person it was sent to ----------------------------------------


def test_a_one_time_code_is_not_shown_in_views_or_in_a_subject_access_export() -> None:
    body = "Enter this code:\n\n    K7QM-3XD9-TWPA\n\nIt works once."
    assert without_codes(body) == f"Enter this code:\n\n    {CODE_NOT_SHOWN}\n\nIt works once."
    assert without_codes("Reference: 3f0c2a1e-8d4b-4f7a-9c61-5b2e7d9a0c31") == (
        "Reference: 3f0c2a1e-8d4b-4f7a-9c61-5b2e7d9a0c31"
    )
    shown = plain({"facts": {"code": "K7QM-3XD9-TWPA"}, "body": body}, {"code"}, None, ["K7QM-3XD9-TWPA"])
    assert "K7QM-3XD9-TWPA" not in str(shown) and shown["facts"]["code"] == "[withheld]"


# -- what each query declares it reads ---------------------------------------------------------------------------


class Listing(View):
    pupil_ids: list[UUID]


class NamesAChild(Query):
    SUBJECT = "testing.names_a_child"
    Result = Listing

    upn: str


def test_each_query_says_which_children_it_shows_and_a_wrong_declaration_is_named() -> None:
    assert check_declaration(GetPupil, child("upn")) is None
    assert check_declaration(LaCounts, NO_CHILD) is None
    assert "does not say which children it shows" in (check_declaration(GetPupil, None) or "")
    assert "names a child (upn) but is declared to show none" in (check_declaration(NamesAChild, NO_CHILD) or "")
    assert "a field it does not have" in (check_declaration(SchoolRegister, child("pupil_id")) or "")
    with pytest.raises(ValueError, match="'upn' or 'pupil_id'"):
        child("school_urn")
    with pytest.raises(RouteError, match="not routed"):
        Routes(queries={}, reads={GetPupil: child("upn")})

    query = GetPupil(upn=upn(7))
    assert child("upn").named(query) == [pupil_id_for(upn(7))]
    listed = children(lambda answer: answer.pupil_ids)
    assert listed.named(query) == [] and listed.shown(query, Listing(pupil_ids=[PUPIL, OTHER, PUPIL])) == [
        PUPIL,
        OTHER,
    ]
    assert Reads(field="upn", from_answer=lambda a: [PUPIL]).shown(query, None) == [pupil_id_for(upn(7)), PUPIL]


def test_a_read_logs_row_hash_changes_with_anything_recorded_about_the_read() -> None:
    values = (7, PUPIL, "register.pupil", NOW, "read", "senco@123456.sch.uk", None, "senco", "school:123456", CASE)
    first = row_content(*values)
    assert first == row_content(*values)
    for i, changed in enumerate(
        (
            8,
            OTHER,
            "register.pupil_history",
            NOW + timedelta(seconds=1),
            "refused",
            "x",
            "y",
            "auditor",
            "la:840",
            PUPIL,
        )
    ):
        altered = list(values)
        altered[i] = changed
        assert row_content(*altered) != first, i
