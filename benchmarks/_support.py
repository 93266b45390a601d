"""What the benchmarks share: a fixed school day, a SENCO, pupils, parents and register events.

The benchmarks run on a plain install (`scripts/up.sh`, without the test extra), so they import only
product code (contracts, services, infra) and nothing from tests/ or pytest
(tests/unit/test_benchmarks_standalone.py checks it). These few builders mirror the test factories in
tests/support/factories.py and tests/support/register_events.py; the servers and sandboxes come from
infra.stack.scratch, as the tests' do.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from contracts.envelope import Actor, EventEnvelope, Role, SubjectIds, derived_id
from contracts.identifiers import NeedType, upn_check_letter
from contracts.people import Channel, PersonToTell, PostalAddress
from contracts.register import PupilAddedToSenSupport
from contracts.subjects import event_subject
from services.notifications.settings import NotificationsSettings
from services.register.application import Register
from services.register.domain.pupil import Pupil
from services.runtime.keyring import current_keyring
from services.runtime.outbox import message_id
from services.runtime.sealing import Sealer, seal_payloads
from services.runtime.settings import ServiceSettings
from services.runtime.translation import integration_event_id

SCHOOL = "123456"
SCHOOL_DAY = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def upn(serial: int) -> str:
    body = f"8012000{serial // 1000 % 100:02d}{serial % 1000:03d}"
    return upn_check_letter(body) + body


def senco(urn: str = SCHOOL) -> Actor:
    return Actor(user_id=f"senco@{urn}.sch.uk", role=Role.SENCO, organisation=f"school:{urn}")


def mother(serial: int = 1) -> PersonToTell:
    return PersonToTell(
        person_id=derived_id("person", "mother", serial),
        name=f"Alex Taylor{serial}",
        relationship="mother",
        has_parental_responsibility=True,
        email=f"alex.taylor{serial}@example.org",
        mobile="07700 900123",
        postal_address=PostalAddress(lines=["12 Front Street"], town="Durham", postcode="DH1 3AB"),
        preferred_channel=Channel.EMAIL,
    )


def pupil_added(sequence: int, people: list[PersonToTell] | None = None) -> EventEnvelope:
    """The register's integration event "pupil added to SEN support", as its relay would publish it."""
    pupil_upn = upn(sequence)
    pupil_id = Pupil.create_id(pupil_upn)
    fact = PupilAddedToSenSupport(
        pupil_id=pupil_id,
        upn=pupil_upn,
        school_urn=SCHOOL,
        given_name="Sam",
        family_name=f"Taylor{sequence}",
        date_of_birth=date(2017, 3, 14),
        primary_need=NeedType.ASD,
        secondary_need=None,
        effective_date=date(2026, 11, 20),
        reason="APDR review",
        people_to_tell=people or [],
    )
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    return EventEnvelope(
        event_id=integration_event_id("register", sequence),
        type=fact.TYPE,
        schema_version=1,
        producer="register",
        sequence=sequence,
        occurred_at=now,
        recorded_at=now,
        actor=senco(),
        subject=SubjectIds(pupil_id=pupil_id, school_urn=SCHOOL),
        correlation_id=uuid4(),
        payload=fact.model_dump(mode="json"),
    )


def sealed(envelope: EventEnvelope) -> EventEnvelope:
    """The event as the register's relay publishes it: personal values sealed under each person's key, in the
    process's keyring (services/runtime/sealing.py)."""
    sealer = Sealer(Register.personal_fields, lambda subjects, create: current_keyring().keys(subjects, create=create))
    [payload] = seal_payloads(sealer, [(envelope.payload, envelope.subject.pupil_id)])
    return envelope.model_copy(update={"payload": payload})


async def publish(js: Any, prefix: str, envelope: EventEnvelope) -> None:
    """Publish an integration event to JetStream with its producer's deduplication id, sealed as the register's
    relay would (in a thread: the keyring may be asked)."""
    envelope = await asyncio.to_thread(sealed, envelope)
    await js.publish(
        event_subject(prefix, envelope.type),
        envelope.model_dump_json().encode(),
        headers={"Nats-Msg-Id": message_id(envelope.producer, envelope.sequence)},
    )


def delivery_settings(settings: ServiceSettings, outbox: Path, **changes: Any) -> NotificationsSettings:
    """Every channel through the file outbox in `outbox`, with quick polling and no waiting between tries."""
    values: dict[str, Any] = dict(
        outbox_dir=outbox,
        delivery_poll_seconds=0.1,
        delivery_backoff_seconds=[0.0],
        receipt_poll_seconds=0.2,
        max_attempts_per_channel=3,
        interrupted_after_seconds=600,
    )
    values.update(changes)
    return NotificationsSettings.of(settings, **values)
