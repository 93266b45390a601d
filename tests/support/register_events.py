"""Integration events as the register (and ehcp, plans) would publish them, for tests of consumers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import EventEnvelope, EventPayload, SubjectIds, derived_id
from contracts.identifiers import NeedType
from contracts.people import Channel, PersonToTell, PostalAddress
from contracts.register import PupilAddedToSenSupport
from contracts.subjects import event_subject
from services.register.domain.pupil import Pupil
from services.runtime.translation import integration_event_id
from tests.support.factories import senco, upn


def mother(serial: int = 1, **changes: Any) -> PersonToTell:
    values: dict[str, Any] = dict(
        person_id=derived_id("person", "mother", serial),
        name=f"Alex Taylor{serial}",
        relationship="mother",
        has_parental_responsibility=True,
        email=f"alex.taylor{serial}@example.org",
        mobile="07700 900123",
        postal_address=PostalAddress(lines=["12 Front Street"], town="Durham", postcode="DH1 3AB"),
        preferred_channel=Channel.EMAIL,
    )
    values.update(changes)
    return PersonToTell(**values)


def father(serial: int = 1, **changes: Any) -> PersonToTell:
    values: dict[str, Any] = dict(
        person_id=derived_id("person", "father", serial),
        name=f"Jordan Reed{serial}",
        relationship="father",
        has_parental_responsibility=True,
        email=None,
        mobile=None,
        postal_address=PostalAddress(lines=["4 Elvet Bridge", "Flat 2"], town="Durham", postcode="DH1 3AF"),
        preferred_channel=Channel.LETTER,
    )
    values.update(changes)
    return PersonToTell(**values)


def pupil_added(sequence: int, people: list[PersonToTell] | None = None) -> EventEnvelope:
    pupil_upn = upn(sequence)
    pupil_id = Pupil.create_id(pupil_upn)
    fact = PupilAddedToSenSupport(
        pupil_id=pupil_id,
        upn=pupil_upn,
        school_urn="123456",
        given_name="Sam",
        family_name=f"Taylor{sequence}",
        date_of_birth=date(2017, 3, 14),
        primary_need=NeedType.ASD,
        secondary_need=None,
        effective_date=date(2026, 11, 20),
        reason="APDR review",
        people_to_tell=people or [],
    )
    return wrap(fact, "register", sequence, pupil_id, "123456")


def wrap(
    fact: EventPayload,
    producer: str,
    sequence: int,
    pupil_id: UUID,
    school_urn: str | None = None,
    case_id: UUID | None = None,
) -> EventEnvelope:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    return EventEnvelope(
        event_id=integration_event_id(producer, sequence),
        type=fact.TYPE,
        schema_version=1,
        producer=producer,
        sequence=sequence,
        occurred_at=now,
        recorded_at=now,
        actor=senco(),
        subject=SubjectIds(pupil_id=pupil_id, school_urn=school_urn, case_id=case_id),
        correlation_id=uuid4(),
        payload=fact.model_dump(mode="json"),
    )


async def publish(js, prefix: str, envelope: EventEnvelope) -> None:
    await js.publish(
        event_subject(prefix, envelope.type),
        envelope.model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"{envelope.producer}:{envelope.sequence}"},
    )
