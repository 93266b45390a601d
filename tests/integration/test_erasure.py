"""Erasure by crypto-shredding, end to end on real PostgreSQL and NATS (docs/audit.md).

A child and their parents are recorded, added to SEN support (the family is told), and the child's records
erased: the child's key and the key of the parent named only on their record are destroyed; a parent also
named on a sibling's record is kept. Afterwards: no read model, rebuilt or not, the event stores, nor the
JetStream stream holds anything readable of them; the register's counts for a past day are unchanged; a legal
hold stops an erasure until lifted; a record erased takes no more personal data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.envelope import Actor, Answered, Role
from contracts.people import PostalAddress
from contracts.register import (
    ErasePupil,
    LaCounts,
    LegalHoldKind,
    LiftLegalHold,
    NoteConcern,
    PlaceLegalHold,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
)
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.keyring import MasterKeys, PostgresKeyring
from services.runtime.sealing import ERASED
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.notifications import delivery_settings, notifications_service, rows
from tests.support.register_events import father, mother
from tests.support.stack import Sandbox, as_operator, eventually, running_service, stream_messages

DATA_OFFICER = Actor(user_id="data.officer@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")
CASEWORKER = Actor(user_id="caseworker@la.gov.uk", role=Role.LA_CASEWORKER, organisation="la:840")

# What was entered about the child erased and their family: none of it may be readable anywhere afterwards.
DOB = date(2016, 5, 17)
TODAY = SCHOOL_DAY.date()
SOLE_PARENT = mother(7, name="Marta Wiśniewska", email="marta.w@example.org", mobile="07700 900777")
SHARED_PARENT = father(
    7,
    name="Tomasz Wiśniewski",
    email="tomasz.w@example.org",
    postal_address=PostalAddress(lines=["3 Quarry Lane"], town="Durham", postcode="DH7 6QQ"),
)
SECRETS = [
    b"Zofia",
    "Wiśniewska".encode(),
    b"2016-05-17",
    upn(7).encode(),
    "Marta Wiśniewska".encode(),
    b"marta.w@example.org",
    b"07700 900777",
    b"Finds reading aloud distressing",
]
SIBLING_NAME = b"Kacper"


async def _rows_of(pool: Any, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(f"SELECT * FROM {table}")]


def _readable(blob: bytes, what: list[bytes]) -> list[bytes]:
    return [s for s in what if s in blob]


async def test_an_erased_child_leaves_nothing_readable_and_the_facts_stay(
    sandbox: Sandbox, tmp_path, own_keyring
) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register:
        async with notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path)) as notes:
            async with (
                Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
                Client(as_operator(settings.nats_url), settings.subject_prefix, DATA_OFFICER) as la,
                Client(as_operator(settings.nats_url), settings.subject_prefix, CASEWORKER) as caseworker,
            ):
                child = add_to_sen_support(
                    7,
                    pupil={
                        "upn": upn(7),
                        "given_name": "Zofia",
                        "family_name": "Wiśniewska",
                        "date_of_birth": DOB,
                    },
                    effective_date=date(2026, 9, 10),
                )
                sibling = add_to_sen_support(
                    8,
                    pupil={
                        "upn": upn(8),
                        "given_name": "Kacper",
                        "family_name": "Wiśniewski",
                        "date_of_birth": date(2014, 1, 9),
                    },
                    effective_date=date(2026, 9, 10),
                )
                pupil_id = (await school.command(child)).result.pupil_id
                await school.command(sibling)
                for serial, people in ((7, [SOLE_PARENT, SHARED_PARENT]), (8, [SHARED_PARENT])):
                    recorded = RecordPeopleWithParentalResponsibility(upn=upn(serial), people=people)
                    assert (await school.command(recorded)).outcome == "accepted"
                note = RecordSenProvision(
                    upn=upn(7),
                    provision="Finds reading aloud distressing: paired reading",
                    effective_date=date(2026, 10, 1),
                )
                reply = await school.command(note)
                assert reply.outcome == "accepted", reply
                await eventually(lambda: _told(notes, pupil_id, 4), what="both parents told, twice")

                # nothing personal was ever in the clear in the event store or on the stream
                events = await register.pool.fetch("SELECT state FROM register_events")
                assert not _readable(b"".join(bytes(r["state"]) for r in events), SECRETS)
                stream = await stream_messages(as_operator(settings.nats_url), settings.events_stream)
                assert not _readable(b"".join(m.data for m in stream), [*SECRETS, SIBLING_NAME])

                before = await caseworker.query(LaCounts(as_at=date(2026, 10, 1)))
                assert isinstance(before, Answered)

                # a legal hold stops the erasure until it is lifted
                hold = PlaceLegalHold(
                    pupil_id=pupil_id, kind=LegalHoldKind.APPEAL, reference="EH840/26/00123", placed_on=TODAY
                )
                assert (await caseworker.command(hold)).outcome == "accepted"
                refused = await la.command(ErasePupil(pupil_id=pupil_id, rule="sen-records: date of birth + 31 years"))
                assert refused.outcome == "rejected" and refused.rule == "legal_hold"
                assert "EH840/26/00123" in refused.message
                lifted = LiftLegalHold(pupil_id=pupil_id, reference="EH840/26/00123", lifted_on=TODAY)
                assert (await caseworker.command(lifted)).outcome == "accepted"
                # only the LA's data officer or a manager (or the retention job) may erase
                assert (await school.command(ErasePupil(pupil_id=pupil_id, rule="x"))).outcome == "rejected"

                erased = await la.command(ErasePupil(pupil_id=pupil_id, rule="sen-records: date of birth + 31 years"))
                assert erased.outcome == "accepted", erased
                assert erased.result.people_erased == [SOLE_PARENT.person_id]
                assert erased.result.people_kept == [SHARED_PARENT.person_id]  # still named on the sibling's record
                again = await la.command(ErasePupil(pupil_id=pupil_id, rule="sen-records: date of birth + 31 years"))
                assert again.outcome == "rejected" and again.rule == "record_erased"
                more = NoteConcern(upn=upn(7), note="Zofia again", noted_on=TODAY)
                assert (await school.command(more)).outcome in ("rejected",)

                await eventually(lambda: _scrubbed(notes, pupil_id), what="the notifications' copies dropped")
                await eventually(lambda: _erased_in_views(register, pupil_id), what="the register's views scrubbed")
                after = await caseworker.query(LaCounts(as_at=date(2026, 10, 1)))
                assert isinstance(after, Answered) and after.result == before.result  # the facts stay

                # every read model rebuilt from the logs: still nothing readable, the same counts
                for runtime in (register, notes):
                    for runner in runtime.projections:
                        await runner.rebuild()
                await eventually(lambda: _erased_in_views(register, pupil_id), what="register views rebuilt")
                await eventually(lambda: _scrubbed(notes, pupil_id, rebuilt=True), what="notifications rebuilt")
                rebuilt = await caseworker.query(LaCounts(as_at=date(2026, 10, 1)))
                assert isinstance(rebuilt, Answered) and rebuilt.result == before.result
                for runtime in (register, notes):
                    dump = await _dump_read_models(runtime)
                    assert not _readable(dump, SECRETS), runtime.service.name
                assert SIBLING_NAME in await _dump_read_models(register)  # the sibling's record is untouched

                # the stream: the erased person's sealed values no longer open for anyone
                from services.runtime.sealing import opened

                stream = await stream_messages(as_operator(settings.nats_url), settings.events_stream)
                from contracts.envelope import EventEnvelope

                envelopes = opened([EventEnvelope.model_validate_json(m.data) for m in stream])
                text = "".join(e.model_dump_json() for e in envelopes).encode()
                assert not _readable(text, SECRETS)
                assert b"Tomasz" in text  # the kept parent still reads, for the sibling


async def _told(runtime: Any, pupil_id: Any, count: int) -> bool:
    found = await rows(runtime, pupil_id)
    return sum(r["status"] in ("delivered", "sent") for r in found) >= count


async def _scrubbed(runtime: Any, pupil_id: Any, rebuilt: bool = False) -> bool:
    found = await rows(runtime, pupil_id)
    if not found:
        return False
    return all(r["recipient_name"] in (ERASED, None) and (r["body"] in (ERASED, None)) for r in found)


async def _erased_in_views(runtime: Any, pupil_id: Any) -> bool:
    row = await runtime.pool.fetchrow("SELECT * FROM register_pupils WHERE pupil_id = $1", pupil_id)
    return row is not None and row["given_name"] == ERASED and row["date_of_birth"] is None


async def _dump_read_models(runtime: Any) -> bytes:
    """Every row of every table of the service's database except its event store's own (sealed) tables."""
    tables = await runtime.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%_events'"
    )
    out = []
    for t in tables:
        for r in await runtime.pool.fetch(f'SELECT * FROM "{t["tablename"]}"'):
            out.append(repr(dict(r)))
    return "\n".join(out).encode()


async def test_the_keyring_keeps_keys_wrapped_and_forgets_them_for_good(sandbox: Sandbox) -> None:
    import uuid

    from services.runtime.database import ensure_database

    url = sandbox.database_url("keys")
    await ensure_database(url)
    master = MasterKeys.generate()
    ring = PostgresKeyring(url, master, max_age=0)
    other_process = PostgresKeyring(url, master, max_age=60)
    try:
        a, b = uuid.uuid4(), uuid.uuid4()
        keys = ring.keys([a, b], create=True)
        assert other_process.keys([a, b], create=False) == keys  # one keyring for every service
        with ring._pool.connection() as conn:
            stored = b"".join(bytes(r[0]) for r in conn.execute("SELECT wrapped FROM subject_keys").fetchall())
        assert keys[a] not in stored and keys[b] not in stored  # wrapped, never in the clear
        assert ring.erase([a]) == [a]
        assert ring.keys([a], create=True) == {a: None}  # never made again
        assert ring.erased([a, b]) == {a}
        other_process.forget([a])  # told of the erasure (register.pupil_erased)
        assert other_process.keys([a], create=False) == {a: None}
        assert other_process.keys([b], create=False) == {b: keys[b]}

        # rotation: a new master key wraps every key again; the data keys themselves do not change
        rotated = MasterKeys(
            wrapping={**master.wrapping, "k-next": MasterKeys.generate().blind_index},
            current="k-next",
            blind_index=master.blind_index,
        )
        after = PostgresKeyring(url, rotated, max_age=0)
        try:
            assert after.rewrap() == 1  # b (a is erased: nothing to wrap)
            only_new = MasterKeys(
                wrapping={"k-next": rotated.wrapping["k-next"]}, current="k-next", blind_index=master.blind_index
            )
            fresh = PostgresKeyring(url, only_new, max_age=0)
            try:
                assert fresh.keys([b], create=False) == {b: keys[b]}
            finally:
                fresh.close()
        finally:
            after.close()
    finally:
        ring.close()
        other_process.close()
