"""Integration events as the register would publish them, for tests of consumers."""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import uuid4

from contracts.envelope import EventEnvelope, SubjectIds
from contracts.identifiers import NeedType
from contracts.register import PupilAddedToSenSupport
from contracts.subjects import event_subject
from services.register.domain.pupil import Pupil
from services.runtime.translation import integration_event_id
from tests.support.factories import senco, upn


def pupil_added(sequence: int) -> EventEnvelope:
    pupil_upn = upn(sequence)
    pupil_id = Pupil.create_id(pupil_upn)
    fact = PupilAddedToSenSupport(
        pupil_id=pupil_id, upn=pupil_upn, school_urn="123456", given_name="Sam", family_name=f"Taylor{sequence}",
        date_of_birth=date(2017, 3, 14), primary_need=NeedType.ASD, secondary_need=None,
        effective_date=date(2026, 11, 20), reason="APDR review",
    )
    now = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    return EventEnvelope(
        event_id=integration_event_id("register", sequence), type=fact.TYPE, schema_version=1,
        producer="register", sequence=sequence, occurred_at=now, recorded_at=now, actor=senco(),
        subject=SubjectIds(pupil_id=pupil_id, school_urn="123456"), correlation_id=uuid4(),
        payload=fact.model_dump(mode="json"),
    )


async def publish(js, prefix: str, envelope: EventEnvelope) -> None:
    await js.publish(
        event_subject(prefix, envelope.type), envelope.model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"{envelope.producer}:{envelope.sequence}"},
    )
