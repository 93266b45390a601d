"""Who the register says must be told (Pupil.people_to_tell): a child's parents; a young person over compulsory school
age themself (the last Friday in June of the school year in which they turn 16, Education Act 1996 s.8), and their
parents only as the young person and the LA's policy allow, or when the young person lacks capacity; a person's
language and format needs recorded with them and published to notifications; a protected address never."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from contracts.people import CommunicationNeeds, Format, PersonToTell, YoungPersonsWish
from contracts.register import PeopleToTellRecorded, PupilAddedToSenSupport, RecordPeopleWithParentalResponsibility
from services.notifications.application import Notifications
from services.notifications.letters_config import load_letters_config
from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
from services.register.application import Register
from services.register.domain.rules import (
    NEVER,
    UNLESS_OBJECTION,
    WITH_AGREEMENT,
    compulsory_school_age_ends,
    is_over_compulsory_school_age,
)
from services.register.translation import translate
from services.runtime.errors import DomainError
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.every_letter import DURHAM, MOTHER, PROTECTED_ADDRESS, PROTECTED_WORDS, YOUNG_PERSON
from tests.support.factories import add_kwargs, add_to_sen_support, caseworker, senco, upn
from tests.support.inmemory import as_actor

TODAY = SCHOOL_DAY.date()  # Monday 23 November 2026
SIXTEEN_LAST_SPRING = date(2010, 3, 14)  # school leaving date Friday 26 June 2026: a young person now
FIFTEEN = date(2011, 3, 14)  # turns 16 in March 2027: a child until 25 June 2027


@pytest.mark.parametrize(
    ("born", "leaves"),
    [
        (date(2010, 9, 1), date(2027, 6, 25)),  # 16 on 1 September 2026: the school year 2026-27
        (date(2010, 8, 31), date(2026, 6, 26)),  # 16 on 31 August 2026: the school year 2025-26
        (date(2010, 7, 15), date(2026, 6, 26)),  # 16 in the summer holiday: leaves on the last Friday in June before
        (date(2008, 2, 29), date(2024, 6, 28)),
    ],
)
def test_compulsory_school_age_ends_on_the_last_friday_in_june_of_the_school_year_they_turn_16(
    born: date, leaves: date
) -> None:
    assert compulsory_school_age_ends(born) == leaves and leaves.weekday() == 4
    assert not is_over_compulsory_school_age(born, leaves)  # of compulsory school age to the end of that day
    assert is_over_compulsory_school_age(born, leaves + timedelta(days=1))


def enrolled(register: Register, serial: int, born: date, people: list[PersonToTell], **wish: object) -> None:
    """A pupil born on `born` on the roll of school 123456, with these people recorded (the command checked first)."""
    recorded = RecordPeopleWithParentalResponsibility(upn=upn(serial), people=people, **wish)  # type: ignore[arg-type]
    as_actor(
        senco(),
        SCHOOL_DAY,
        register.enrol_pupil,
        school_urn="123456",
        upn=upn(serial),
        given_name="Łukasz",
        family_name="Nowak",
        date_of_birth=born,
        year_group=None,
        on_roll_from=date(2022, 9, 1),
    )
    as_actor(
        senco(),
        SCHOOL_DAY,
        register.record_people_with_parental_responsibility,
        upn=recorded.upn,
        people=recorded.people,
        young_persons_wish=recorded.young_persons_wish,
    )


def told(register: Register, serial: int, on: date = TODAY, policy: str = WITH_AGREEMENT) -> list[str]:
    pupil = register.pupil(upn(serial))
    return [p["relationship"] for p in pupil.people_to_tell(on, policy)]


def test_a_childs_parents_are_told_and_the_young_person_entry_waits_until_they_are_over_age() -> None:
    register = Register(env=IN_MEMORY_ENV)
    enrolled(register, 1, FIFTEEN, [MOTHER, YOUNG_PERSON])
    assert told(register, 1) == ["mother"]
    assert told(register, 1, on=date(2027, 6, 26)) == ["young person"]  # the day after the school leaving date


@pytest.mark.parametrize(
    ("policy", "wish", "expected"),
    [
        (WITH_AGREEMENT, None, ["young person"]),
        (WITH_AGREEMENT, YoungPersonsWish.PARENTS_TOLD, ["young person", "mother"]),
        (WITH_AGREEMENT, YoungPersonsWish.PARENTS_NOT_TOLD, ["young person"]),
        (UNLESS_OBJECTION, None, ["young person", "mother"]),
        (UNLESS_OBJECTION, YoungPersonsWish.PARENTS_NOT_TOLD, ["young person"]),
        (NEVER, YoungPersonsWish.PARENTS_TOLD, ["young person"]),
        (NEVER, YoungPersonsWish.LACKS_CAPACITY, ["young person", "mother"]),  # their parent acts for them (Regs 64)
    ],
)
def test_a_young_persons_parents_are_told_only_as_the_young_person_and_the_la_allow(
    policy: str, wish: YoungPersonsWish | None, expected: list[str]
) -> None:
    register = Register(env=IN_MEMORY_ENV)
    enrolled(register, 2, SIXTEEN_LAST_SPRING, [MOTHER, YOUNG_PERSON], young_persons_wish=wish)
    assert told(register, 2, policy=policy) == expected


def test_a_young_person_not_recorded_is_not_told_through_their_parents_the_duty_waits() -> None:
    register = Register(env=IN_MEMORY_ENV)
    enrolled(register, 3, SIXTEEN_LAST_SPRING, [MOTHER])
    assert told(register, 3) == []  # notifications records "cannot notify" until the young person is recorded


def test_adding_a_young_person_to_sen_support_publishes_them_as_the_person_to_tell() -> None:
    register = Register(env=IN_MEMORY_ENV)
    register.parents_of_young_people = UNLESS_OBJECTION
    enrolled(register, 4, SIXTEEN_LAST_SPRING, [MOTHER, YOUNG_PERSON])
    command = add_to_sen_support(4)
    kwargs = add_kwargs(command) | {
        "date_of_birth": SIXTEEN_LAST_SPRING,
        "given_name": "Łukasz",
        "family_name": "Nowak",
    }
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **kwargs)
    published = [translate(e, i) for i, e in enumerate(register.events.get(register.pupil(upn(4)).id), 1)]
    [added] = [e for e in published if e is not None and e.type == PupilAddedToSenSupport.TYPE]
    assert [p["relationship"] for p in added.payload["people_to_tell"]] == ["young person", "mother"]
    [recorded] = [e for e in published if e is not None and e.type == PeopleToTellRecorded.TYPE]
    assert [p["relationship"] for p in recorded.payload["people_to_tell"]] == ["young person", "mother"]


def test_the_young_person_is_recorded_once_without_parental_responsibility_and_a_wish_needs_them() -> None:
    register = Register(env=IN_MEMORY_ENV)
    enrolled(register, 5, SIXTEEN_LAST_SPRING, [MOTHER])

    def record(people: list[PersonToTell], wish: YoungPersonsWish | None = None) -> None:
        as_actor(
            senco(),
            SCHOOL_DAY,
            register.record_people_with_parental_responsibility,
            upn=upn(5),
            people=people,
            young_persons_wish=wish,
        )

    with pytest.raises(DomainError, match="young person does not have parental responsibility"):
        record([MOTHER, YOUNG_PERSON.model_copy(update={"has_parental_responsibility": True})])
    with pytest.raises(DomainError, match="Record the young person once"):
        record([YOUNG_PERSON, YOUNG_PERSON.model_copy(update={"name": "Łukasz N"})])
    with pytest.raises(DomainError, match="A young person's wish about their parents being told is theirs"):
        record([MOTHER], YoungPersonsWish.PARENTS_TOLD)
    record([YOUNG_PERSON])  # over compulsory school age: the young person may be named alone
    assert told(register, 5) == ["young person"]


def test_a_young_person_under_age_alone_is_not_enough() -> None:
    register = Register(env=IN_MEMORY_ENV)
    enrolled(register, 6, FIFTEEN, [MOTHER])
    with pytest.raises(DomainError, match="Name at least one person with parental responsibility"):
        as_actor(
            senco(), SCHOOL_DAY, register.record_people_with_parental_responsibility, upn=upn(6), people=[YOUNG_PERSON]
        )


def test_the_record_shows_from_when_the_pupil_is_a_young_person_and_what_they_said() -> None:
    register = Register(env=IN_MEMORY_ENV)
    enrolled(register, 7, SIXTEEN_LAST_SPRING, [MOTHER, YOUNG_PERSON], young_persons_wish=YoungPersonsWish.PARENTS_TOLD)
    view = as_actor(senco(), SCHOOL_DAY, register.pupil_record, upn=upn(7))
    assert view.young_person_from == date(2026, 6, 27)
    assert view.young_persons_wish == YoungPersonsWish.PARENTS_TOLD
    [mother] = [p for p in view.people_with_parental_responsibility if p.relationship == "mother"]
    assert mother.needs is not None and mother.needs.in_words == "Urdu (ur), with an interpreter; large print"


# -- language and format needs --------------------------------------------------------------------------------


def test_needs_are_validated_with_words_a_senco_can_act_on() -> None:
    assert CommunicationNeeds(language="PL").language == "pl"
    assert CommunicationNeeds(language="bfi", interpreter=True).in_words == (
        "British Sign Language (bfi), with an interpreter"
    )
    assert CommunicationNeeds(formats=[Format.EASY_READ, Format.BRAILLE]).in_words == "Easy Read; Braille"
    for bad, problem in [
        ({"language": "urdu"}, "not a language code sendcase knows"),
        ({"language": "xx"}, "not a language code sendcase knows"),
        ({"formats": ["large_print", "large_print"]}, "each format is given once"),
        ({"formats": ["comic sans"]}, "Input should be"),
        ({}, "name at least one need"),
        ({"language": "en"}, "is not another language"),
    ]:
        with pytest.raises(ValidationError, match=problem):
            CommunicationNeeds.model_validate(bad)


def test_needs_travel_with_the_person_to_the_notification_and_are_shown_to_whoever_sends() -> None:
    app = Notifications(env=IN_MEMORY_ENV)
    app.letters_config = load_letters_config(DURHAM)
    register = Register(env=IN_MEMORY_ENV)
    enrolled(register, 8, FIFTEEN, [MOTHER])
    pupil = register.pupil(upn(8))
    kwargs = add_kwargs(add_to_sen_support(8)) | {"date_of_birth": FIFTEEN}
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **kwargs)
    [added] = [
        e for e in (translate(x, i) for i, x in enumerate(register.events.get(pupil.id), 1)) if e and "added" in e.type
    ]
    [n] = as_actor(caseworker(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, added)
    assert n.recipient["needs"] == {"language": "ur", "interpreter": True, "formats": ["large_print"], "notes": None}
    assert n.facts["sender"]["organisation"] == "Durham County Council"  # school 123456 is not in Durham's file


# -- a protected address, from the register to every message ------------------------------------------------------


def test_a_protected_address_recorded_by_the_register_is_on_no_message() -> None:
    register = Register(env=IN_MEMORY_ENV)
    social_worker = MOTHER.model_copy(
        update={"name": "Priya Shah", "relationship": "social worker", "needs": None, "email": None}
    )
    enrolled(register, 9, FIFTEEN, [social_worker])
    as_actor(
        senco(),
        SCHOOL_DAY,
        register.record_looked_after,
        upn=upn(9),
        looked_after=True,
        pep_reference="PEP-2026-09",
        protected_address=PROTECTED_ADDRESS,
    )
    kwargs = add_kwargs(add_to_sen_support(9)) | {"date_of_birth": FIFTEEN}
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **kwargs)
    app = Notifications(env=IN_MEMORY_ENV)
    app.letters_config = load_letters_config(DURHAM)
    pupil = register.pupil(upn(9))
    published = [e for e in (translate(x, i) for i, x in enumerate(register.events.get(pupil.id), 1)) if e]
    assert not any(w in e.model_dump_json() for e in published for w in PROTECTED_WORDS)
    [added] = [e for e in published if e.type == PupilAddedToSenSupport.TYPE]
    [n] = as_actor(caseworker(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, added)
    content = n.content or {}
    for part in ("subject", "body", "sms", "letter", "letter_html"):
        assert not any(w in content[part] for w in PROTECTED_WORDS), part
    assert "Priya Shah" in content["letter"] and MOTHER.postal_address.postcode in content["letter"]  # type: ignore[union-attr]
