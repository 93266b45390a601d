"""Commands handled concurrently and written with group commit (services/runtime/commands.py), on real
PostgreSQL and NATS: many commands at once share transactions, yet each is answered for itself, keeps its own
actor and correlation, and a refused or clashing one is its own business."""

import asyncio
import threading
from datetime import date
from uuid import uuid4

import asyncpg

from contracts.envelope import Accepted, CommandEnvelope, Rejected, RejectionCode
from contracts.identifiers import NeedType
from contracts.register import AddToSenSupport, ChangeNeeds
from services.register.application import Register
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.commands import CommandBatcher
from services.runtime.context import CommandContext
from services.runtime.database import ensure_database
from services.runtime.eventstore import open_store, postgres_env
from services.runtime.routes import Routes
from tests.conftest import SCHOOL_DAY
from tests.integration.test_commands_once import send_raw
from tests.support.factories import add_kwargs, add_to_sen_support, senco, teacher, upn
from tests.support.inmemory import as_actor
from tests.support.stack import Sandbox, as_operator, running_service


def change_needs(serial: int, need: NeedType, reason: str = "Reviewed at the APDR meeting.") -> ChangeNeeds:
    return ChangeNeeds(
        upn=upn(serial), primary_need=need, secondary_need=None, effective_date=date(2026, 11, 23), reason=reason
    )


async def transactions_holding(database_url: str, table: str) -> tuple[int, int]:
    """(events stored, distinct transactions that stored them): PostgreSQL's own xmin, so group commit is seen
    in the database, not taken on trust from a counter."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(f"SELECT count(*) AS events, count(DISTINCT xmin::text) AS txns FROM {table}")
    finally:
        await conn.close()
    return row["events"], row["txns"]


async def test_many_commands_at_once_share_transactions_and_each_is_answered_and_stamped_for_itself(
    sandbox: Sandbox,
) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            adds = [CommandEnvelope[AddToSenSupport](command=add_to_sen_support(n), actor=senco()) for n in range(80)]
            replies = await asyncio.gather(*(send_raw(client, e) for e in adds))
            assert all(isinstance(r, Accepted) for r in replies), [r for r in replies if isinstance(r, Rejected)]
            assert [r.result.pupil_id for r in replies] == [Pupil.create_id(upn(n)) for n in range(80)]
            assert [r.correlation_id for r in replies] == [e.correlation_id for e in adds]

            app = runtime.service.store.app
            events, transactions = await transactions_holding(settings.database_url, app.recorder.events_table_name)
            assert events == 160  # each pupil enrolled and added, once
            assert transactions < 80, "80 commands at once were not saved in fewer transactions"
            assert runtime.commands.batches < runtime.commands.commands == 80

            # Each stored event carries the correlation id of the command that made it, not its batch-mate's.
            for envelope in adds:
                pupil_id = Pupil.create_id(envelope.command.pupil.upn)
                stamped = {e.meta["correlation_id"] for e in app.events.get(pupil_id)}
                assert stamped == {str(envelope.correlation_id)}


async def test_commands_on_one_pupil_sent_together_all_apply_one_after_another(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            assert isinstance(await client.command(add_to_sen_support(1)), Accepted)
            needs = [NeedType.ASD, NeedType.MLD, NeedType.SEMH, NeedType.SPLD, NeedType.VI, NeedType.HI] * 3
            changes = [CommandEnvelope[ChangeNeeds](command=change_needs(1, need), actor=senco()) for need in needs]
            replies = await asyncio.gather(*(send_raw(client, e) for e in changes))
            assert all(isinstance(r, Accepted) for r in replies), replies
            assert runtime.commands.clashes == 0  # each saw the one before it (the batch cache), none clashed

            stored = list(runtime.service.store.app.events.get(Pupil.create_id(upn(1))))
            assert [e.originator_version for e in stored] == list(range(1, 3 + len(needs)))
            applied = [e.meta["correlation_id"] for e in stored[2:]]
            assert sorted(applied) == sorted(str(e.correlation_id) for e in changes)  # each once


async def test_a_refused_command_among_many_is_refused_alone_and_the_rest_are_done(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            envelopes = [
                CommandEnvelope[AddToSenSupport](command=add_to_sen_support(n), actor=senco()) for n in range(30)
            ]
            envelopes.insert(10, CommandEnvelope[AddToSenSupport](command=add_to_sen_support(99), actor=teacher()))
            envelopes.insert(20, CommandEnvelope[AddToSenSupport](command=add_to_sen_support(5), actor=senco()))
            replies = await asyncio.gather(*(send_raw(client, e) for e in envelopes))

            refused = [r for r in replies if isinstance(r, Rejected)]
            assert sorted(r.code for r in refused) == [RejectionCode.NOT_AUTHORISED, RejectionCode.RULE_BROKEN]
            assert sum(isinstance(r, Accepted) for r in replies) == 30
            app = runtime.service.store.app
            for n in range(30):
                assert len(list(app.events.get(Pupil.create_id(upn(n))))) == 2, n  # pupil 5: added once
            assert list(app.events.get(Pupil.create_id(upn(99)))) == []


async def test_a_group_whose_save_clashes_with_another_replica_is_done_again_one_at_a_time(
    sandbox: Sandbox, monkeypatch
) -> None:
    url = sandbox.database_url("together")
    await ensure_database(url)
    store = open_store(Register, url, threads=2)
    other_replica = Register(env=postgres_env(url))
    try:
        app = store.app
        as_actor(senco(), SCHOOL_DAY, app.add_to_sen_support, **add_kwargs(add_to_sen_support(1)))
        real_change_needs, calls = app.change_needs, []

        def change_needs_while_another_replica_does(**kwargs):
            calls.append(kwargs["primary_need"])
            result = real_change_needs(**kwargs)  # pupil 1 loaded at version 2, its change pending as 3
            if len(calls) == 1:  # ...and meanwhile another replica stores its own version 3 (its own thread)
                other = threading.Thread(
                    target=as_actor,
                    args=(senco(), SCHOOL_DAY, other_replica.change_needs),
                    kwargs=dict(
                        upn=upn(1),
                        primary_need=NeedType.MLD,
                        secondary_need=None,
                        effective_date=date(2026, 11, 22),
                        reason="Changed at the other replica.",
                        evidence_reference=None,
                    ),
                )
                other.start()
                other.join()
            return result

        monkeypatch.setattr(app, "change_needs", change_needs_while_another_replica_does)
        declared = Routes(commands={ChangeNeeds: Register.change_needs, AddToSenSupport: Register.add_to_sen_support})
        batcher = CommandBatcher(store)
        routes = {bound.route.message: bound for bound in declared.bind(store, batcher=batcher)}

        def ctx() -> CommandContext:
            return CommandContext(actor=senco(), now=SCHOOL_DAY, command_id=uuid4())

        change, add = await asyncio.gather(
            routes[ChangeNeeds].call(change_needs(1, NeedType.ASD), ctx()),
            routes[AddToSenSupport].call(add_to_sen_support(2), ctx()),
        )
        assert isinstance(change, Accepted) and isinstance(add, Accepted)
        assert batcher.clashes == 1 and batcher.batches == 1
        assert calls == [NeedType.ASD, NeedType.ASD]  # the clash made the group's commands run again, alone
        pupil_1 = list(app.events.get(Pupil.create_id(upn(1))))
        assert [type(e).__name__ for e in pupil_1[2:]] == ["NeedsChanged", "NeedsChanged"]
        assert pupil_1[-1].primary_need == NeedType.ASD  # ours, on top of the other replica's
        assert len(list(app.events.get(Pupil.create_id(upn(2))))) == 2
    finally:
        other_replica.close()
        store.close()


async def test_a_batch_loads_its_pupils_in_one_query_as_they_are_stored(sandbox: Sandbox) -> None:
    url = sandbox.database_url("many")
    await ensure_database(url)
    app = Register(env=postgres_env(url))
    try:
        for serial in (1, 2):
            as_actor(senco(), SCHOOL_DAY, app.add_to_sen_support, **add_kwargs(add_to_sen_support(serial)))
        as_actor(senco(), SCHOOL_DAY, app.change_needs, **change_needs(2, NeedType.ASD).model_dump())
        commands = [change_needs(1, NeedType.MLD), add_to_sen_support(2), add_to_sen_support(3)]
        wanted = app.loaded_by(commands)
        assert wanted == [Pupil.create_id(upn(n)) for n in (1, 2, 3)]
        found = app.get_many(wanted)
        assert set(found) == {Pupil.create_id(upn(1)), Pupil.create_id(upn(2))}  # pupil 3 is not stored yet
        for pupil_id, pupil in found.items():
            one_by_one = app.repository.get(pupil_id)
            assert (pupil.version, vars(pupil)) == (one_by_one.version, vars(one_by_one))
        assert found[Pupil.create_id(upn(2))].primary_need == NeedType.ASD
    finally:
        app.close()
