"""The register's rules, through its application, on the in-memory event store."""

from datetime import UTC, date, datetime

import pytest

from contracts.identifiers import NeedType, SenStatus
from services.register.application import Register
from services.runtime.aggregate import event_metadata
from services.runtime.clock import today_in_england
from services.runtime.context import NoCommandContext
from services.runtime.errors import DomainError, NotAuthorised, NotFound
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import (
    OTHER_SCHOOL,
    add_kwargs,
    add_to_sen_support,
    caseworker,
    senco,
    teacher,
    upn,
)
from tests.support.inmemory import as_actor, pupil_view


@pytest.fixture
def register() -> Register:
    return Register(env=IN_MEMORY_ENV)


def stored(app: Register) -> int:
    return app.max_notification_id()


def test_senco_adds_pupil_to_sen_support_and_the_record_says_who_when_and_why(register: Register) -> None:
    command = add_to_sen_support()
    pupil_id = as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(command))
    view = pupil_view(register, senco(), SCHOOL_DAY, command.pupil.upn)
    assert view.pupil_id == pupil_id
    assert view.status is SenStatus.SEN_SUPPORT
    assert (view.primary_need, view.secondary_need) == (NeedType.SLCN, NeedType.SEMH)
    [change] = view.history
    assert change.by_user == "senco@123456.sch.uk" and change.by_role == "senco"
    assert change.recorded_at == SCHOOL_DAY
    assert change.effective_date == date(2026, 11, 20)
    assert change.reason.startswith("Little progress")


def test_every_stored_event_carries_actor_and_correlation(register: Register) -> None:
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    events = [register.mapper.to_domain_event(n) for n in register.notifications_after(0, 10)]
    assert len(events) == 2  # registered, then added to SEN support
    for e in events:
        meta = event_metadata(e)
        assert meta["actor"]["organisation"] == "school:123456"
        assert meta["correlation_id"]


def test_events_cannot_be_stored_without_a_command_context(register: Register) -> None:
    with pytest.raises(NoCommandContext):
        register.add_to_sen_support(actor=senco(), today=SCHOOL_DAY.date(), **add_kwargs(add_to_sen_support()))
    assert stored(register) == 0


@pytest.mark.parametrize("actor", [teacher(), senco(OTHER_SCHOOL), caseworker()], ids=["teacher", "other-senco", "la"])
def test_only_the_schools_senco_may_add_to_sen_support(register: Register, actor) -> None:
    with pytest.raises(NotAuthorised, match="Only the SENCO of school 123456"):
        as_actor(actor, SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    assert stored(register) == 0


def test_a_pupil_already_on_sen_support_cannot_be_added_again(register: Register) -> None:
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    before = stored(register)
    with pytest.raises(DomainError) as e:
        as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    assert e.value.rule == "already_on_sen_support"
    assert stored(register) == before


def test_a_pupil_on_another_schools_roll_is_refused(register: Register) -> None:
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    with pytest.raises(DomainError) as e:
        as_actor(
            senco(OTHER_SCHOOL),
            SCHOOL_DAY,
            register.add_to_sen_support,
            **add_kwargs(add_to_sen_support(urn=OTHER_SCHOOL)),
        )
    assert e.value.rule == "pupil_at_another_school"


def test_start_date_in_the_future_is_refused(register: Register) -> None:
    with pytest.raises(DomainError, match="in the future") as e:
        as_actor(
            senco(),
            SCHOOL_DAY,
            register.add_to_sen_support,
            **add_kwargs(add_to_sen_support(effective_date=date(2026, 11, 24))),
        )
    assert e.value.field == "effective_date"
    assert stored(register) == 0


@pytest.mark.parametrize(
    ("born", "rule"),
    [(date(1996, 1, 1), "date_of_birth_implausible"), (date(2026, 12, 25), "date_of_birth_in_future")],
)
def test_implausible_dates_of_birth_are_refused(register: Register, born: date, rule: str) -> None:
    command = add_to_sen_support(pupil={"upn": upn(9), "given_name": "A", "family_name": "B", "date_of_birth": born})
    with pytest.raises(DomainError) as e:
        as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(command))
    assert e.value.rule == rule and e.value.field == "date_of_birth"
    assert stored(register) == 0


def test_today_is_the_date_in_england_not_utc(register: Register) -> None:
    # 23:30 UTC on 31 March 2026 is already 1 April in England (BST): a SENCO may record 1 April, not 2 April
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert today_in_england(late) == date(2026, 4, 1)
    command = add_to_sen_support(effective_date=date(2026, 4, 1))
    as_actor(senco(), late, register.add_to_sen_support, **add_kwargs(command))
    [change] = pupil_view(register, senco(), late, command.pupil.upn).history
    assert change.effective_date == date(2026, 4, 1)
    with pytest.raises(DomainError, match="in the future"):
        as_actor(
            senco(),
            late,
            register.change_needs,
            upn=command.pupil.upn,
            primary_need=NeedType.ASD,
            secondary_need=None,
            effective_date=date(2026, 4, 2),
            reason="review",
            evidence_reference=None,
        )
    # and late on a winter evening (GMT) the date in England is the UTC date
    assert today_in_england(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2026, 12, 31)


def test_register_record_is_visible_to_the_school_and_la_only(register: Register) -> None:
    as_actor(senco(), SCHOOL_DAY, register.add_to_sen_support, **add_kwargs(add_to_sen_support()))
    assert pupil_view(register, caseworker(), SCHOOL_DAY, upn(1)).status is SenStatus.SEN_SUPPORT
    with pytest.raises(NotAuthorised):
        pupil_view(register, senco(OTHER_SCHOOL), SCHOOL_DAY, upn(1))
    with pytest.raises(NotFound):
        pupil_view(register, caseworker(), SCHOOL_DAY, upn(2))
