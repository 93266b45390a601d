"""The NATS every test runs on requires credentials, under the same generated rules as production
(infra/stack/nats_users.py): nobody connects without a password, a service cannot act as another or send a
command, and only the gateway's (or the operator's) credentials send a command and read its reply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig

from contracts.envelope import Accepted, CommandEnvelope
from contracts.register import AddToSenSupport, GetPupil
from contracts.subjects import inbox_prefix
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.stack import Sandbox, running_service

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def needs_credentials(sandbox: Sandbox) -> None:
    if sandbox.servers.credentials is None:
        pytest.skip("the NATS named by SENDCASE_TEST_NATS_URL is not one whose users the tests made")


@contextlib.asynccontextmanager
async def connected(sandbox: Sandbox, user: str) -> AsyncIterator[tuple[NatsClient, list[str]]]:
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e).lower())

    nc = await nats.connect(
        sandbox.servers.nats_url_for(user),
        inbox_prefix=inbox_prefix(user),
        error_cb=on_error,
        allow_reconnect=False,
    )
    try:
        yield nc, errors
    finally:
        await nc.close()


async def refused(errors: list[str], subject: str) -> bool:
    for _ in range(40):
        if any("permissions violation" in e and subject.lower() in e for e in errors):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_nobody_connects_without_a_password_or_with_a_wrong_one(sandbox: Sandbox) -> None:
    bare = sandbox.servers.nats_server_url
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(bare, allow_reconnect=False, max_reconnect_attempts=0)
    wrong = bare.replace("://", "://gateway:not-the-password@")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(wrong, allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_service_cannot_publish_another_services_events_nor_send_a_command(sandbox: Sandbox) -> None:
    p = sandbox.prefix
    async with connected(sandbox, "register") as (nc, errors):
        for subject in (
            f"{p}.events.notifications.notification_delivered",
            f"{p}.commands.register.add_to_sen_support",
            f"{p}.commands.notifications.cancel",
        ):
            await nc.publish(subject, b"{}")
            assert await refused(errors, subject), subject
        await nc.subscribe("_INBOX.gateway.>")
        assert await refused(errors, "_INBOX.gateway.>")


async def test_only_the_gateways_credentials_send_a_command_and_read_its_reply(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)):
        gateway_url = sandbox.servers.nats_url_for("gateway")
        async with Client(gateway_url, sandbox.prefix, senco()) as gateway:
            assert gateway.user == "gateway"
            assert isinstance(await gateway.command(add_to_sen_support(1)), Accepted)
        # the notifications service's credentials (any but the gateway's and the operator's) send nothing
        async with connected(sandbox, "notifications") as (nc, errors):
            subject = f"{sandbox.prefix}.commands.register.add_to_sen_support"
            with pytest.raises(nats.errors.Error):
                await nc.request(subject, b"{}", timeout=1)
            assert await refused(errors, subject)


async def test_a_service_cannot_slip_a_forged_command_in_through_a_jetstream_delivery(sandbox: Sandbox) -> None:
    """NATS checks the subject a client publishes to, never the subject JetStream delivers a pulled message to. So a
    service can store a forged command on its own event subject and pull it from its own consumer with the
    register's command subject as the delivery subject. The register takes only requests whose reply is the
    gateway's or the operator's inbox: the delivery's reply is a JetStream acknowledgement, and it is refused."""
    settings = sandbox.settings("register")
    p = sandbox.prefix
    forged = CommandEnvelope[AddToSenSupport](command=add_to_sen_support(7), actor=senco())
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)):
        async with connected(sandbox, "notifications") as (nc, _):
            js = nc.jetstream()
            consumer = "notifications-owe-notifications"
            await js.add_consumer(
                settings.events_stream,
                ConsumerConfig(
                    name=consumer,
                    durable_name=consumer,
                    filter_subject=f"{p}.events.notifications.access_granted",
                    ack_policy=AckPolicy.EXPLICIT,
                ),
            )
            await js.publish(f"{p}.events.notifications.access_granted", forged.model_dump_json().encode())
            # pull it, delivered to the register's command subject
            await nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{settings.events_stream}.{consumer}",
                b'{"batch": 1}',
                reply=f"{p}.commands.register.add_to_sen_support",
            )
            await nc.flush()
            await asyncio.sleep(1.0)  # the register had its chance to take it
        async with Client(sandbox.servers.nats_url, p, senco()) as operator:
            reply = await operator.query(GetPupil(upn=upn(7)))
            assert reply.outcome == "rejected" and reply.code == "not_found", reply
            # and the same command through a door people may use is done
            assert isinstance(await operator.command(add_to_sen_support(7)), Accepted)
