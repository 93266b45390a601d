from datetime import date

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.envelope import (
    Accepted,
    Actor,
    CommandEnvelope,
    PupilRef,
    Rejected,
    Reply,
    derived_id,
    reply_type,
)
from contracts.identifiers import BroadArea, NeedType, upn_check_letter, validate_upn
from contracts.register import AddToSenSupport
from tests.support.factories import add_to_sen_support, senco, upn


def test_upn_check_letter_matches_the_dfe_algorithm() -> None:
    # weights 2..13 over the 12 characters after the letter, modulo 23, alphabet without I, O, S
    assert upn_check_letter("801200001001") == "H"
    assert validate_upn("h801200001001") == "H801200001001"


def test_mistyped_upn_is_rejected_naming_the_right_letter() -> None:
    with pytest.raises(ValueError, match="should be 'H'"):
        validate_upn("A801200001001")


@pytest.mark.parametrize("bad", ["", "H80120000100", "H8012000010011", "1801200001001", "H80120000100I"])
def test_malformed_upns_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        validate_upn(bad)


def test_temporary_upn_ending_in_a_letter_is_accepted() -> None:
    body = "80120000100A"
    assert validate_upn(upn_check_letter(body) + body)


def test_need_types_know_their_broad_area() -> None:
    assert NeedType.ASD.broad_area is BroadArea.COMMUNICATION_AND_INTERACTION
    assert NeedType.DS.broad_area is BroadArea.COGNITION_AND_LEARNING
    assert {n.broad_area for n in NeedType} == set(BroadArea)


def test_command_rejects_unknown_need_code_and_names_the_field() -> None:
    data = add_to_sen_support().model_dump(mode="json")
    data["primary_need"] = "DYSLEXIA"
    with pytest.raises(ValidationError) as e:
        AddToSenSupport.model_validate(data)
    assert e.value.errors()[0]["loc"] == ("primary_need",)


def test_secondary_need_must_differ_from_primary() -> None:
    with pytest.raises(ValidationError, match="secondary need must differ"):
        add_to_sen_support(secondary_need=NeedType.SLCN)


def test_actor_organisation_must_be_a_school_or_la() -> None:
    with pytest.raises(ValidationError, match="organisation"):
        Actor(user_id="x", role="senco", organisation="St Mary's")
    assert senco("123456").school_urn == "123456"


def test_command_envelope_round_trips_and_rejects_unknown_fields() -> None:
    envelope = CommandEnvelope[AddToSenSupport](command=add_to_sen_support(), actor=senco())
    again = CommandEnvelope[AddToSenSupport].model_validate_json(envelope.model_dump_json())
    assert again == envelope
    data = envelope.model_dump(mode="json")
    data["command"]["colour"] = "blue"
    with pytest.raises(ValidationError):
        CommandEnvelope[AddToSenSupport].model_validate(data)


def test_replies_are_told_apart_by_outcome() -> None:
    adapter = TypeAdapter(Reply)
    accepted = Accepted[PupilRef](result=PupilRef(pupil_id=derived_id("p")), correlation_id=derived_id("c"))
    rejected = Rejected(code="rule_broken", message="no")
    assert isinstance(adapter.validate_json(accepted.model_dump_json()), Accepted)
    assert isinstance(adapter.validate_json(rejected.model_dump_json()), Rejected)


def test_each_reply_is_parsed_as_the_result_its_message_declares() -> None:
    replies = TypeAdapter(reply_type(AddToSenSupport))
    pupil_id = derived_id("p")
    accepted = Accepted[PupilRef](result=PupilRef(pupil_id=pupil_id), correlation_id=derived_id("c"))
    parsed = replies.validate_json(accepted.model_dump_json())
    assert isinstance(parsed.result, PupilRef) and parsed.result.pupil_id == pupil_id
    with pytest.raises(ValidationError):  # an answer that is not a PupilRef is not taken for one
        replies.validate_json(Accepted[dict](result={"x": 1}, correlation_id=derived_id("c")).model_dump_json())


def test_derived_ids_are_stable() -> None:
    assert derived_id("pupil", upn(1)) == derived_id("pupil", upn(1))
    assert derived_id("pupil", upn(1)) != derived_id("pupil", upn(2))


def test_future_date_of_birth_is_left_to_the_domain_rule() -> None:
    # contracts cannot know today's date (no wall clock); the register's rule rejects it
    assert add_to_sen_support(
        pupil={"upn": upn(3), "given_name": "A", "family_name": "B", "date_of_birth": date(2099, 1, 1)}
    )


def test_pupil_id_for_a_upn_is_the_registers_key_for_that_pupil() -> None:
    from services.register.domain.pupil import Pupil
    from services.runtime.keyring import pupil_id_for

    assert pupil_id_for(upn(1)) == Pupil.create_id(upn(1))
    assert pupil_id_for(f" {upn(1).lower()} ") == Pupil.create_id(upn(1))  # as the Upn type reads it
    mistyped = upn(1)[:-1] + str((int(upn(1)[-1]) + 1) % 10)
    with pytest.raises(ValueError, match="the UPN is mistyped"):
        pupil_id_for(mistyped)
