"""The command batcher's own logic (services/runtime/commands.py), on the in-memory store: a refusal judged on a
group that was never stored, the same command id twice around a refusal, a stopping service, and whose
request a batch's log lines name."""

import asyncio
import threading
from datetime import UTC, date, datetime
from uuid import uuid4

import structlog

from contracts.envelope import Accepted
from contracts.identifiers import NeedType
from contracts.register import ChangeNeeds, RemoveFromSenRegister
from services.register.application import Register
from services.register.domain.pupil import Pupil
from services.runtime.commands import CommandBatcher, Replayed
from services.runtime.context import CommandContext
from services.runtime.errors import DomainError
from services.runtime.eventstore import IN_MEMORY_ENV, open_store
from services.runtime.routes import Routes
from tests.support.factories import add_kwargs, add_to_sen_support, senco, upn
from tests.support.inmemory import as_actor

SCHOOL_DAY = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def setup():
    store = open_store(Register, None, threads=2, env=IN_MEMORY_ENV)
    as_actor(senco(), SCHOOL_DAY, store.app.add_to_sen_support, **add_kwargs(add_to_sen_support(1)))
    declared = Routes(
        commands={ChangeNeeds: Register.change_needs, RemoveFromSenRegister: Register.remove_from_sen_register}
    )
    return store, declared


def ctx():
    return CommandContext(actor=senco(), now=SCHOOL_DAY, command_id=uuid4())


def test_a_refusal_judged_on_a_group_that_was_never_stored_is_not_kept():
    """A removes pupil 1 from the register, F changes its needs: F is refused 'not_on_register' on A's
    unsaved state; A's group save then fails (a lost connection), nothing is stored, but F's refusal stands."""
    store, declared = setup()
    app = store.app
    real_put, calls = app.put_events, []

    def put_events(events, **kw):
        calls.append(len(events))
        if len(calls) == 1:
            raise ConnectionError("server closed the connection unexpectedly")
        return real_put(events, **kw)

    app.put_events = put_events
    batcher = CommandBatcher(store)
    routes = {b.route.message: b for b in declared.bind(store, batcher=batcher)}
    remove = RemoveFromSenRegister(upn=upn(1), effective_date=date(2026, 11, 23), reason="Met targets.")
    change = ChangeNeeds(
        upn=upn(1),
        primary_need=NeedType.ASD,
        secondary_need=None,
        effective_date=date(2026, 11, 23),
        reason="Reviewed.",
    )

    async def main():
        return await asyncio.gather(
            routes[RemoveFromSenRegister].call(remove, ctx()),
            routes[ChangeNeeds].call(change, ctx()),
            return_exceptions=True,
        )

    a, f = asyncio.run(main())
    try:
        assert isinstance(a, ConnectionError)  # A: internal error, "nothing was changed"
        stored = list(app.events.get(Pupil.create_id(upn(1))))
        assert len(stored) == 2  # nothing of A stored: the pupil is still on SEN support
        # ...yet F was told the pupil is not on the register:
        assert not (isinstance(f, DomainError) and f.rule == "not_on_register"), f"F refused: {f.rule}: {f}"
    finally:
        store.close()


def test_each_commands_log_lines_name_its_own_request():
    store, declared = setup()
    batcher = CommandBatcher(store)
    seen = {}
    gate = threading.Event()
    real = store.app.change_needs

    def change_needs(**kw):
        seen[kw["reason"]] = structlog.contextvars.get_contextvars().get("correlation_id")
        if kw["reason"] == "first":
            gate.wait(2)
        return real(**kw)

    store.app.change_needs = change_needs
    routes = {b.route.message: b for b in declared.bind(store, batcher=batcher)}

    contexts = {"first": ctx(), "second": ctx()}

    async def handler(need, reason, corr):
        with structlog.contextvars.bound_contextvars(correlation_id=corr):  # as the endpoint binds it
            c = ChangeNeeds(
                upn=upn(1), primary_need=need, secondary_need=None, effective_date=date(2026, 11, 23), reason=reason
            )
            return await routes[ChangeNeeds].call(c, contexts[reason])

    async def main():
        t1 = asyncio.create_task(handler(NeedType.ASD, "first", "corr-1"))
        await asyncio.sleep(0.05)  # first batch running in the store thread
        t2 = asyncio.create_task(handler(NeedType.MLD, "second", "corr-2"))
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(t1, t2)

    try:
        r = asyncio.run(main())
        assert all(isinstance(x, Accepted) for x in r)
        assert seen == {k: str(c.correlation_id) for k, c in contexts.items()}, seen
    finally:
        store.close()


def test_a_stopping_service_answers_every_waiting_command():
    store, declared = setup()
    batcher = CommandBatcher(store, gather_seconds=0.2)
    routes = {b.route.message: b for b in declared.bind(store, batcher=batcher)}
    change = ChangeNeeds(
        upn=upn(1),
        primary_need=NeedType.ASD,
        secondary_need=None,
        effective_date=date(2026, 11, 23),
        reason="Reviewed.",
    )

    async def main():
        t = asyncio.create_task(routes[ChangeNeeds].call(change, ctx()))
        await asyncio.sleep(0.05)
        batcher._task.cancel()
        done, _ = await asyncio.wait({t}, timeout=1.0)
        return done

    try:
        assert asyncio.run(main()), "the command's future was never resolved after the drain task was cancelled"
    finally:
        store.close()


def test_the_same_command_id_twice_around_a_refused_command_gets_the_first_reply():
    from contracts.register import AddToSenSupport
    from tests.support.factories import teacher

    store = open_store(Register, None, threads=2, env=IN_MEMORY_ENV)
    declared = Routes(commands={AddToSenSupport: Register.add_to_sen_support})
    batcher = CommandBatcher(store)
    route = {b.route.message: b for b in declared.bind(store, batcher=batcher)}[AddToSenSupport]
    first = ctx()  # the client's command id, sent twice (a double click)

    async def main():
        return await asyncio.gather(
            route.call(add_to_sen_support(2), first),
            route.call(add_to_sen_support(3), CommandContext(actor=teacher(), now=SCHOOL_DAY, command_id=uuid4())),
            route.call(add_to_sen_support(2), first),
            return_exceptions=True,
        )

    try:
        x, refused, again = asyncio.run(main())
        assert isinstance(x, Accepted) and isinstance(refused, DomainError)
        assert len(list(store.app.events.get(Pupil.create_id(upn(2))))) == 2
        assert isinstance(again, Replayed), f"the same command id got: {again!r}"
        assert again.reply == x.model_dump_json()  # the first reply, word for word
    finally:
        store.close()


def test_a_batch_whose_preload_fails_is_still_done_command_by_command():
    store, declared = setup()
    batcher = CommandBatcher(store)
    routes = {b.route.message: b for b in declared.bind(store, batcher=batcher)}

    def unreadable(ids):
        raise ValueError("one pupil's stored history cannot be decoded")

    store.app.get_many = unreadable
    changes = [
        ChangeNeeds(upn=upn(1), primary_need=need, secondary_need=None, effective_date=date(2026, 11, 23), reason="R")
        for need in (NeedType.ASD, NeedType.MLD)
    ]

    async def main():
        return await asyncio.gather(*(routes[ChangeNeeds].call(c, ctx()) for c in changes))

    try:
        assert all(isinstance(r, Accepted) for r in asyncio.run(main()))
        assert [type(e).__name__ for e in store.app.events.get(Pupil.create_id(upn(1)))][-2:] == [
            "NeedsChanged",
            "NeedsChanged",
        ]
    finally:
        store.close()


def test_a_refusal_that_is_itself_a_fact_keeps_only_its_record_in_a_batch_and_alone():
    """Wrong invitation codes entered together in one batch: each is refused, and each is counted (the count is
    what the lockout reads), while a command beside them is saved as usual; the same on the single-command path."""
    from contracts.envelope import Actor, Role
    from contracts.register import AcceptInvitation
    from services.register.domain.invitation import CodeAttempts
    from services.runtime.errors import RefusedAndRecorded

    store, _ = setup()
    app = store.app
    declared = Routes(commands={AcceptInvitation: Register.accept_invitation, ChangeNeeds: Register.change_needs})
    batcher = CommandBatcher(store)
    routes = {b.route.message: b for b in declared.bind(store, batcher=batcher)}
    mum = Actor(user_id="urn:fdc:gov.uk:2022:batch-mum", role=Role.PARENT, organisation="citizen")
    change = ChangeNeeds(
        upn=upn(1), primary_need=NeedType.ASD, secondary_need=None, effective_date=date(2026, 11, 23), reason="R."
    )

    def wrong():
        return CommandContext(actor=mum, now=SCHOOL_DAY, command_id=uuid4())

    async def main():
        return await asyncio.gather(
            routes[AcceptInvitation].call(AcceptInvitation(code="ABCD-EFGH-JKMN"), wrong()),
            routes[ChangeNeeds].call(change, ctx()),
            routes[AcceptInvitation].call(AcceptInvitation(code="ZZZZ-ZZZZ-ZZZZ"), wrong()),
            return_exceptions=True,
        )

    try:
        first, changed, second = asyncio.run(main())
        assert isinstance(first, RefusedAndRecorded) and isinstance(second, RefusedAndRecorded)
        assert isinstance(changed, Accepted)
        counted: CodeAttempts = app.repository.get(CodeAttempts.id_for(mum.user_id))
        assert len(counted.wrong) == 2  # both kept, although both commands were refused
        # a group whose save clashes is done again one command at a time (routes.py): the refusal's record is kept
        # on that path too
        from eventsourcing.persistence import IntegrityError

        real_put, calls = app.put_events, []

        def clash_once(events, **kw):
            calls.append(len(events))
            if len(calls) == 1:
                raise IntegrityError("another replica wrote one of these meanwhile")
            return real_put(events, **kw)

        app.put_events = clash_once
        first, changed, second = asyncio.run(main())
        assert isinstance(first, RefusedAndRecorded) and isinstance(second, RefusedAndRecorded), (first, second)
        assert batcher.clashes == 1
        counted = app.repository.get(CodeAttempts.id_for(mum.user_id))
        assert len(counted.wrong) == 4
    finally:
        store.close()
