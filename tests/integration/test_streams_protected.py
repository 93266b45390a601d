"""The events stream and its dead letters cannot lose a message: no delete, no purge (issue items 7 and 8).

Against the real server the tests run on (the embedded one unless SENDCASE_TEST_NATS_URL is set). What
NATS does, found by running it: deny_delete and deny_purge can be added to a stream by an update, and an
update can never take them away again ("stream configuration update can not cancel deny ...").

These tests look at the streams' own flags and at what a service does about the streams, so they run on a
NATS server of their own that lets anyone do anything: on the servers the other tests use, and in every
deployment, NATS's permissions refuse a purge or a delete before JetStream sees it (infra/stack/nats_users.py,
tested in test_production_nats_config.py). Each layer holds on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from infra.stack.servers import EmbeddedNats
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.streams import StreamsNotReady, check_streams, ensure_streams, stream_configs
from tests.support.stack import Sandbox, Servers, new_prefix, running_service

# JetStream's error codes (nats-server's errors.json), as the server answered when these tests were written.
PURGE_NOT_PERMITTED = 10110  # "stream purge not permitted"
DELETE_NOT_PERMITTED = 10057  # "message delete not permitted"
CANNOT_CANCEL_DENY = 10052  # "stream configuration update can not cancel deny ..."


@pytest.fixture(scope="module")
def bare_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("bare-nats")
    server = EmbeddedNats(root / "nats", root / "nats.log")  # no users: no permissions to stop anything
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def sandbox(servers: Servers, bare_nats: str) -> Sandbox:
    return Sandbox(Servers(servers.postgres_url, bare_nats), new_prefix())


@pytest.fixture
async def js(sandbox: Sandbox) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(sandbox.servers.nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


def names(sandbox: Sandbox) -> tuple[str, str]:
    settings = sandbox.settings("register")
    return settings.events_stream, settings.dead_letter_stream


async def ensure(js: JetStreamContext, sandbox: Sandbox) -> None:
    """What every service does at start (manage_streams on, the default)."""
    settings = sandbox.settings("register")
    await ensure_streams(
        js,
        sandbox.prefix,
        settings.events_stream,
        settings.dead_letter_stream,
        duplicate_window_seconds=settings.duplicate_window_seconds,
    )


async def one_message_in_each(js: JetStreamContext, sandbox: Sandbox) -> None:
    await js.publish(f"{sandbox.prefix}.events.register.pupil_added_to_sen_support", b"{}")
    await js.publish(f"{sandbox.prefix}.deadletter.register-ehc-plans", b"{}")


async def messages(js: JetStreamContext, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def test_neither_stream_can_be_purged_nor_a_message_deleted(js, sandbox: Sandbox) -> None:
    await ensure(js, sandbox)
    await one_message_in_each(js, sandbox)
    for stream in names(sandbox):
        config = (await js.stream_info(stream)).config
        assert config.deny_delete and config.deny_purge
        with pytest.raises(APIError) as purge:
            await js.purge_stream(stream)
        assert purge.value.err_code == PURGE_NOT_PERMITTED, purge.value
        with pytest.raises(APIError) as delete:
            await js.delete_msg(stream, 1)
        assert delete.value.err_code == DELETE_NOT_PERMITTED, delete.value
        assert await messages(js, stream) == 1


async def test_a_stream_created_without_the_deny_flags_gets_them_when_a_service_starts(js, sandbox: Sandbox) -> None:
    # As sendcase created them before: no deny flags, and a message already in each.
    for config in stream_configs(sandbox.prefix, *names(sandbox), duplicate_window_seconds=120):
        await js.add_stream(config.evolve(deny_delete=False, deny_purge=False))
    await one_message_in_each(js, sandbox)
    for stream in names(sandbox):
        config = (await js.stream_info(stream)).config
        assert not config.deny_delete and not config.deny_purge

    await ensure(js, sandbox)

    for stream in names(sandbox):
        config = (await js.stream_info(stream)).config
        assert config.deny_delete and config.deny_purge
        assert await messages(js, stream) == 1  # the update kept what was there
        with pytest.raises(APIError) as purge:
            await js.purge_stream(stream)
        assert purge.value.err_code == PURGE_NOT_PERMITTED


async def test_nobody_can_take_the_deny_flags_away_again(js, sandbox: Sandbox) -> None:
    await ensure(js, sandbox)
    for stream in names(sandbox):
        config: StreamConfig = (await js.stream_info(stream)).config
        for flag in ("deny_delete", "deny_purge"):
            with pytest.raises(APIError) as refused:
                await js.update_stream(config.evolve(**{flag: False}))
            assert refused.value.err_code == CANNOT_CANCEL_DENY
            assert "can not cancel deny" in (refused.value.description or "")
        config = (await js.stream_info(stream)).config
        assert config.deny_delete and config.deny_purge


async def test_a_service_that_does_not_manage_streams_only_checks_them(js, sandbox: Sandbox) -> None:
    events, dead_letters = names(sandbox)
    with pytest.raises(StreamsNotReady) as missing:
        await check_streams(js, sandbox.prefix, events, dead_letters)
    assert f"the stream {events} does not exist" in str(missing.value)
    assert f"the stream {dead_letters} does not exist" in str(missing.value)
    assert "SENDCASE_MANAGE_STREAMS" in str(missing.value) and "docs/operations.md" in str(missing.value)

    # Created by hand, without the flags and with a wrong subject: each problem is named, nothing is changed.
    await js.add_stream(name=events, subjects=[f"{sandbox.prefix}.events.>"])
    await js.add_stream(name=dead_letters, subjects=[f"{sandbox.prefix}.other.>"], deny_delete=True, deny_purge=True)
    with pytest.raises(StreamsNotReady) as wrong:
        await check_streams(js, sandbox.prefix, events, dead_letters)
    message = str(wrong.value)
    assert f"the stream {events} allows message deletes (deny_delete is off)" in message
    assert f"the stream {events} can be purged (deny_purge is off)" in message
    assert f"the stream {dead_letters} takes subjects ['{sandbox.prefix}.other.>']" in message
    assert not (await js.stream_info(events)).config.deny_delete

    await js.delete_stream(events)
    await js.delete_stream(dead_letters)
    await ensure(js, sandbox)
    await check_streams(js, sandbox.prefix, events, dead_letters)  # right: no complaint


async def test_a_service_with_manage_streams_off_refuses_to_start_without_the_streams(js, sandbox: Sandbox) -> None:
    settings = sandbox.settings("register", manage_streams=False)
    with pytest.raises(StreamsNotReady, match="does not exist"):
        async with running_service(register_bootstrap, settings):
            pass
    for stream in names(sandbox):  # it created nothing
        with pytest.raises(APIError):
            await js.stream_info(stream)

    await ensure(js, sandbox)  # the operator creates them
    async with running_service(register_bootstrap, settings) as runtime:
        assert runtime.relay is not None
