"""The register process killed (SIGKILL) while 200 commands a second are flowing: every command the client
had accepted, or got accepted by sending it again with the same id, is one fact in the register and one
notification owed to the family, never none and never two."""

import asyncio

import asyncpg
import nats

from contracts.envelope import Accepted, CommandEnvelope
from contracts.register import AddToSenSupport
from contracts.subjects import OPERATOR_USER, command_subject, inbox_prefix
from services.register.domain.pupil import Pupil
from tests.e2e.test_services_in_processes import answers_ping, start
from tests.integration.test_commands_once import client_reply
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.stack import Sandbox, eventually

RATE = 200  # commands a second, offered on schedule whatever the replies (open loop)
SECONDS = 6
KILL_AT = 2.0  # seconds into the load


async def test_killing_the_register_at_200_commands_a_second_loses_and_duplicates_nothing(
    sandbox: Sandbox, processes, tmp_path
) -> None:
    url, prefix = sandbox.servers.nats_url, sandbox.prefix
    for service in ("register", "notifications"):
        processes[service] = start(service, sandbox, tmp_path)
    await answers_ping(url, prefix, "register")
    await answers_ping(url, prefix, "notifications")

    nc = await nats.connect(url, inbox_prefix=inbox_prefix(OPERATOR_USER))
    subject = command_subject(prefix, AddToSenSupport.SUBJECT)
    first_try_accepted, sent_again = set(), 0

    async def until_answered(serial: int) -> None:
        """Send the command; without a reply (the process died with it, or none is running yet), send it
        again with the same command id, as the client does."""
        nonlocal sent_again
        envelope = CommandEnvelope[AddToSenSupport](command=add_to_sen_support(serial), actor=senco())
        body = envelope.model_dump_json().encode()
        for attempt in range(60):
            try:
                msg = await nc.request(subject, body, timeout=2)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                sent_again += 1
                await asyncio.sleep(0.5)
                continue
            reply = client_reply(envelope.command, msg.data)
            assert isinstance(reply, Accepted), reply
            if attempt == 0:
                first_try_accepted.add(serial)
            return
        raise AssertionError(f"command {serial} was never answered")

    async def kill_and_restart() -> None:
        await asyncio.sleep(KILL_AT)
        processes["register"].kill()  # no goodbye: batches in flight, replies unsent
        processes["register"].wait(10)
        processes["register"] = start("register", sandbox, tmp_path)

    try:
        loop = asyncio.get_running_loop()
        started, tasks = loop.time(), []
        killer = asyncio.create_task(kill_and_restart())
        count = RATE * SECONDS
        for serial in range(count):
            await asyncio.sleep(max(0.0, started + serial / RATE - loop.time()))
            tasks.append(asyncio.create_task(until_answered(serial)))
        await asyncio.gather(*tasks, killer)
    finally:
        await nc.close()
    assert sent_again > 0, "the kill interrupted nothing: the test proves nothing"
    assert len(first_try_accepted) < count

    register = await asyncpg.connect(sandbox.database_url("register"))
    notifications = await asyncpg.connect(sandbox.database_url("notifications"))
    try:
        rows = await register.fetch("SELECT originator_id, count(*) AS n FROM register_events GROUP BY originator_id")
        per_pupil = {r["originator_id"]: r["n"] for r in rows}
        for serial in range(count):
            assert per_pupil.get(Pupil.create_id(upn(serial))) == 2, serial  # enrolled and added: once

        async def all_owed():
            n = await notifications.fetchval(
                "SELECT count(*) FROM notifications_events WHERE topic LIKE '%Notification.Owed'"
            )
            return n if n >= count else None

        await eventually(all_owed, timeout=90, what=f"{count} notifications owed")
        await asyncio.sleep(3)  # longer than the consumers' ack wait: a redelivery would have landed
        owed = await notifications.fetch(
            "SELECT originator_id FROM notifications_events WHERE topic LIKE '%Notification.Owed'"
        )
        pupils = await notifications.fetchval("SELECT count(DISTINCT pupil_id) FROM notifications_by_pupil")
    finally:
        await register.close()
        await notifications.close()
    assert len(owed) == len({r["originator_id"] for r in owed}) == count == pupils
