"""The bulk roll import on real PostgreSQL: every pupil a file names loaded with one query and the whole file
saved in one transaction with the command's receipt gives exactly what loading the pupils one by one gave;
an import sent again, by the same command or as the same file, is done once."""

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

from pydantic import TypeAdapter

from contracts.envelope import Accepted, CommandEnvelope, Rejected, reply_type
from contracts.register import ImportRoll
from contracts.subjects import command_subject
from services.register.application import Register
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import ensure_database
from services.runtime.eventstore import IN_MEMORY_ENV, postgres_env
from services.runtime.receipts import CommandReceipt, collecting_saves
from tests.support.factories import OTHER_SCHOOL, SCHOOL, senco, upn
from tests.support.register_factories import ROLL_DAY, roll_csv
from tests.support.stack import Sandbox, as_operator, running_service

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


async def send_raw(client: Client, envelope: CommandEnvelope):
    """A command envelope sent as it is (its command id kept), its reply read as the command declares."""
    subject = command_subject(client.prefix, envelope.command.SUBJECT)
    msg = await client.nc.request(subject, envelope.model_dump_json().encode(), timeout=30)
    return TypeAdapter(reply_type(type(envelope.command))).validate_json(msg.data)


def routed_import(app: Register, urn: str, csv_text: str, file_name: str = "roll.csv"):
    """ImportRoll as the runtime's routes run it: saves collected, then written once with the receipt."""
    ctx = CommandContext(actor=senco(urn), now=NOW, command_id=uuid4())
    token = set_context(ctx)
    try:
        with collecting_saves() as changed:
            report = app.import_roll(
                actor=senco(urn),
                today=NOW.date(),
                school_urn=urn,
                file_name=file_name,
                csv_text=csv_text,
                on_roll_from=ROLL_DAY,
            )
        app.save_command(CommandReceipt(ctx.command_id, report.model_dump_json(), NOW), *changed)
    finally:
        reset_context(token)
    return report


def second_export() -> str:
    """The school's next export: 2,000 pupils as before, 500 renamed, 500 new, 40 on the other school's roll,
    one pupil twice, a bad UPN and a date of birth in the future."""
    renamed = [f"{upn(s)},Renamed{s},Alex,14/03/2017,5,Parent {s},mother,parent{s}@example.org" for s in range(1, 501)]
    return roll_csv(
        range(501, 3001),
        extra_rows=[
            *renamed,
            *(f"{upn(s)},Moved{s},Kim,14/03/2016,6,,," for s in range(5001, 5041)),
            f"{upn(600)},Again,Alex,14/03/2017,5,,,",
            "A123,Bad,Upn,14/03/2017,5,,,",
            f"{upn(9999)},Future,Born,14/03/2099,5,,,",
        ],
    )


def state(app: Register, serial: int) -> tuple:
    p = app.repository.get(Pupil.create_id(upn(serial)))
    return (p.version, p.school_urn, p.given_name, p.family_name, p.date_of_birth, p.year_group, p.people)


async def test_a_big_import_gives_what_loading_each_pupil_on_its_own_gave(sandbox: Sandbox) -> None:
    url = sandbox.database_url("bulk_import")
    await ensure_database(url)
    on_postgres = Register(env=postgres_env(url))
    in_memory = Register(env=dict(IN_MEMORY_ENV))  # get_many there loads each pupil with Repository.get
    try:
        reports = []
        for app in (on_postgres, in_memory):
            first = routed_import(app, SCHOOL, roll_csv(range(1, 2501)))
            other = routed_import(app, OTHER_SCHOOL, roll_csv(range(5001, 5041)))
            again = routed_import(app, SCHOOL, second_export(), "second.csv")
            reports.append((first, other, again))
        assert reports[0] == reports[1]
        first, other, again = reports[0]
        assert (first.rows, first.enrolled, first.rejected) == (2500, 2500, [])
        assert (again.rows, again.enrolled, again.updated, again.unchanged) == (3043, 500, 500, 2000)
        assert any(r.field == "upn" and f"UPN {upn(600)} is also on line" in r.problem for r in again.rejected)
        assert len(again.rejected) == 43 and sorted(r.row for r in again.rejected) == [r.row for r in again.rejected]
        assert sum("on the roll of school" in r.problem for r in again.rejected) == 40
        for serial in (1, 250, 500, 501, 2500, 2501, 3000, 5001, 5040):
            assert state(on_postgres, serial) == state(in_memory, serial), serial
        assert state(on_postgres, 1)[3] == "Renamed1" and state(on_postgres, 5001)[1] == OTHER_SCHOOL
        assert on_postgres.max_notification_id() == in_memory.max_notification_id()
        # get_many itself: every pupil as Repository.get rebuilds it; ids with no events left out
        ids = [Pupil.create_id(upn(s)) for s in (*range(1, 3001), 5001, 99_999)]
        many = on_postgres.get_many(ids)
        assert len(many) == 3001 and Pupil.create_id(upn(99_999)) not in many
        for pupil_id in ids[:50] + ids[2990:3001]:
            one = on_postgres.repository.get(pupil_id)
            assert (many[pupil_id].version, vars(many[pupil_id])) == (one.version, vars(one))
    finally:
        on_postgres.close()
        in_memory.close()


async def test_an_import_sent_again_is_done_once(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(NOW)) as runtime:
        app = runtime.service.store.app
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            command = ImportRoll(
                school_urn=SCHOOL, file_name="roll.csv", csv_text=roll_csv(range(1, 1501)), on_roll_from=ROLL_DAY
            )
            envelope = CommandEnvelope[ImportRoll](command=command, actor=senco())
            first = await send_raw(client, envelope)
            assert isinstance(first, Accepted) and first.result.enrolled == 1500
            stored = app.max_notification_id()
            # the client's retry (same command id): the first reply, word for word, nothing stored again
            again = await send_raw(client, envelope)
            assert again.model_dump_json() == first.model_dump_json() and app.max_notification_id() == stored
            # the same file as a new command: refused, nothing stored
            refused = await client.command(command)
            assert isinstance(refused, Rejected) and refused.rule == "duplicate_import"
            assert app.max_notification_id() == stored
            # a new file sent three times at once with three command ids: imported once
            second = command.model_copy(update={"csv_text": roll_csv(range(1501, 2501)), "file_name": "more.csv"})
            together = await asyncio.gather(*(client.command(second) for _ in range(3)))
            done = [r for r in together if isinstance(r, Accepted)]
            assert len(done) == 1 and done[0].result.enrolled == 1000, together
            assert all(r.rule in ("duplicate_import", "conflict") for r in together if isinstance(r, Rejected))
            for serial in (1, 1500, 1501, 2500):
                assert len(list(app.events.get(Pupil.create_id(upn(serial))))) == 2  # put on roll, parents: once
            assert len(app.notifications_after(stored, 10_000)) == 1000 * 2 + 1  # (ids may have gaps)
