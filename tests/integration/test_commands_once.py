"""A command is done once, however often it is sent: the same command id gets the first reply and stores
nothing again (so the parents get one email, not three); two replicas changing one pupil at the same moment
are retried, never an internal error."""

import asyncio
from datetime import date
from uuid import uuid4

from contracts.envelope import Accepted, CommandEnvelope, Rejected, RejectionCode
from contracts.identifiers import NeedType
from contracts.register import AddToSenSupport, ChangeNeeds
from contracts.subjects import command_subject
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.notifications import delivery_settings, notifications_service, outbox_files, rows
from tests.support.stack import Sandbox, as_operator, eventually, running_service


async def send_raw(client: Client, envelope: CommandEnvelope) -> Accepted | Rejected:
    subject = command_subject(client.prefix, envelope.command.SUBJECT)
    msg = await client.nc.request(subject, envelope.model_dump_json().encode(), timeout=10)
    return client_reply(envelope.command, msg.data)


def client_reply(command, data: bytes):
    from pydantic import TypeAdapter

    from contracts.envelope import reply_type

    return TypeAdapter(reply_type(type(command))).validate_json(data)


async def test_the_same_command_sent_three_times_is_done_once_and_the_parents_told_once(
    sandbox: Sandbox, tmp_path
) -> None:
    register_settings = sandbox.settings("register")
    async with running_service(register_bootstrap, register_settings, FixedClock(SCHOOL_DAY)) as register:
        async with notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path)) as notes:
            async with Client(
                as_operator(register_settings.nats_url), register_settings.subject_prefix, senco()
            ) as client:
                add = CommandEnvelope[AddToSenSupport](command=add_to_sen_support(1), actor=senco())
                replies = [await send_raw(client, add) for _ in range(3)]
                assert all(isinstance(r, Accepted) for r in replies), replies
                assert len({r.model_dump_json() for r in replies}) == 1  # the first reply, word for word
                app = register.service.store.app
                assert len(list(app.events.get(Pupil.create_id(upn(1))))) == 2  # enrolled and added: once
                # the same command at the same moment, three times over: still once
                again = CommandEnvelope[AddToSenSupport](command=add_to_sen_support(2), actor=senco())
                together = await asyncio.gather(*(send_raw(client, again) for _ in range(3)))
                assert all(isinstance(r, Accepted) for r in together), together
                assert len(list(app.events.get(Pupil.create_id(upn(2))))) == 2  # (the log's ids may have gaps)
                # a new id is a new command: refused now, because the pupil is already at K
                other = CommandEnvelope[AddToSenSupport](
                    command=add_to_sen_support(1), actor=senco(), command_id=uuid4()
                )
                refused = await send_raw(client, other)
                assert isinstance(refused, Rejected) and refused.rule == "already_on_sen_support"

                async def two_duties():
                    found = await rows(notes)
                    return found if len(found) == 2 and all(r["status"] == "cannot_notify" for r in found) else None

                owed = await eventually(two_duties, what="one duty per pupil in notifications")
                assert sorted(r["pupil_id"] for r in owed) == sorted(
                    {r.result.pupil_id for r in replies} | {together[0].result.pupil_id}
                )
                await asyncio.sleep(0.5)
                assert len(await rows(notes)) == 2 and outbox_files(tmp_path) == []


async def test_a_retried_command_after_a_lost_reply_gets_the_first_reply(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            add = CommandEnvelope[AddToSenSupport](command=add_to_sen_support(3), actor=senco())
            subject = command_subject(client.prefix, AddToSenSupport.SUBJECT)
            # sent from the client's inbox; the reply is lost (nobody listens on that inbox any more)
            await client.nc.publish(subject, add.model_dump_json().encode(), reply="_INBOX.operator.lost.1")
            await eventually(lambda: _stored(register, 2), what="the first send done")
            reply = await send_raw(client, add)  # the client's retry, same command id
            assert isinstance(reply, Accepted) and reply.correlation_id == add.correlation_id
            assert register.service.store.app.max_notification_id() == 2


async def _stored(runtime, count: int) -> bool:
    return runtime.service.store.app.max_notification_id() == count


async def test_two_replicas_changing_one_pupil_at_once_never_give_an_internal_error(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as first:
        async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as second:
            async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
                assert isinstance(await client.command(add_to_sen_support(4)), Accepted)
                needs = [NeedType.ASD, NeedType.SLCN, NeedType.SEMH, NeedType.MLD] * 5
                changes = [
                    ChangeNeeds(upn=upn(4), primary_need=n, effective_date=date(2026, 11, 20), reason=f"review {i}")
                    for i, n in enumerate(needs)
                ]
                replies = await asyncio.gather(*(client.command(c) for c in changes))
                codes = [r.rule if isinstance(r, Rejected) else "accepted" for r in replies]
                assert "internal_error" not in codes and None not in codes, replies
                # a change retried after another replica's lands may find the needs already as asked
                assert set(codes) <= {"accepted", "conflict", "needs_unchanged"}, codes
                accepted = codes.count("accepted")
                assert accepted >= 1
                # every accepted change is one stored event; nothing else was stored (the log's ids have gaps
                # where a clashing insert rolled back, so the pupil's events are counted)
                pupil_id = replies[0].result.pupil_id if isinstance(replies[0], Accepted) else None
                stored = list(first.service.store.app.events.get(Pupil.create_id(upn(4))))
                assert len(stored) == 2 + accepted and pupil_id in (None, Pupil.create_id(upn(4)))
                assert len(list(second.service.store.app.events.get(Pupil.create_id(upn(4))))) == len(stored)
                conflicts = [r for r in replies if isinstance(r, Rejected) and r.code is RejectionCode.CONFLICT]
                assert all("try again" in r.message for r in conflicts)
