"""The outbox relay against real PostgreSQL and JetStream: nothing lost, nothing duplicated."""

import asyncio
import json

import nats
import nats.js.errors
import pytest

from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext
from services.runtime.database import PositionStore, create_pool, ensure_database
from services.runtime.logfollower import LogFollower
from services.runtime.outbox import RECOVERED, RELAY, OutboxRelay, StreamAheadOfEventStore
from services.runtime.streams import ensure_streams
from tests.conftest import SCHOOL_DAY, TODAY
from tests.support.factories import add_kwargs, add_to_sen_support, senco
from tests.support.stack import Sandbox, as_operator, eventually, stream_messages


class Crash(Exception):
    pass


@pytest.fixture
async def parts(sandbox: Sandbox):
    settings = sandbox.settings("register")
    await ensure_database(settings.database_url)
    service = register_bootstrap(settings, FixedClock(SCHOOL_DAY))
    pool = await create_pool(settings.database_url)
    positions = PositionStore(pool)
    await positions.setup()
    nc = await nats.connect(as_operator(settings.nats_url))
    js = nc.jetstream()
    await ensure_streams(
        js,
        settings.subject_prefix,
        settings.events_stream,
        settings.dead_letter_stream,
        duplicate_window_seconds=settings.duplicate_window_seconds,
    )
    followers = []

    def new_relay() -> OutboxRelay:
        follower = LogFollower(service.store, settings.database_url, poll_seconds=0.2, batch_size=500)
        followers.append(follower)
        return OutboxRelay(
            "register",
            follower,
            service.translate,
            js,
            positions,
            prefix=settings.subject_prefix,
            stream=settings.events_stream,
        )

    async def add_pupils(first: int, count: int) -> None:
        ctx = CommandContext(actor=senco(), now=SCHOOL_DAY)
        for serial in range(first, first + count):
            await service.store.call(
                ctx,
                service.store.app.add_to_sen_support,
                actor=ctx.actor,
                today=TODAY,
                **add_kwargs(add_to_sen_support(serial)),
            )

    yield settings, positions, new_relay, add_pupils
    for f in followers:
        await f.close()
    await nc.close()
    await pool.close()
    service.store.close()


async def published_sequences(settings) -> list[int]:
    messages = await stream_messages(
        as_operator(settings.nats_url), settings.events_stream, f"{settings.subject_prefix}.events.register."
    )
    return [json.loads(m.data)["sequence"] for m in messages]


async def run_until(relay: OutboxRelay, position: int) -> None:
    task = asyncio.create_task(relay.run())
    try:

        async def caught_up() -> bool:
            return relay.position >= position

        await eventually(caught_up, what=f"relay at {position}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_crash_between_publish_and_position_update_neither_duplicates_nor_loses(parts) -> None:
    settings, positions, new_relay, add_pupils = parts
    await add_pupils(1, 5)  # 10 stored events: 5 registrations (internal) + 5 published facts

    crashing = new_relay()
    real_set = positions.set

    async def crash(*args, **kwargs):
        raise Crash("killed after the publish was acknowledged, before the position was written")

    positions.set = crash
    batch = await crashing.follower.next_batch(0)
    with pytest.raises(Crash):
        await crashing.relay(batch)
    positions.set = real_set
    assert await positions.get(RELAY) == 0
    assert await published_sequences(settings) == [2, 4, 6, 8, 10]

    # The restarted relay starts from the recorded position (0) and publishes everything again:
    # JetStream drops every second copy by Nats-Msg-Id. (The stream shortcut is turned off here to prove it.)
    restarted = new_relay()

    async def nothing_in_stream() -> int:
        return 0

    restarted.last_published_in_stream = nothing_in_stream
    await add_pupils(6, 1)  # and one more arrives while it was down
    await run_until(restarted, 12)
    assert await positions.get(RELAY) == 12
    assert await published_sequences(settings) == [2, 4, 6, 8, 10, 12]
    assert restarted.published == 1  # only the new one was new to the stream


async def test_relay_whose_position_was_lost_resumes_from_the_stream(parts) -> None:
    # A relay down for longer than the duplicate window must not rely on dedupe alone.
    settings, positions, new_relay, add_pupils = parts
    await add_pupils(1, 3)
    await run_until(new_relay(), 6)
    await positions.set(RELAY, 0)  # the recorded position is lost (e.g. restored from an old backup)
    resumed = new_relay()
    assert await resumed.resume_position() == 6
    await add_pupils(4, 1)
    await run_until(resumed, 8)
    assert await published_sequences(settings) == [2, 4, 6, 8]
    assert resumed.published == 1


async def test_relay_wakes_on_notify_and_publishes_in_log_order(parts) -> None:
    settings, _positions, new_relay, add_pupils = parts
    relay = new_relay()
    relay.follower.poll_seconds = 30  # only NOTIFY can wake it in time
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)
        await add_pupils(1, 20)

        async def caught_up() -> bool:
            return relay.position >= 40

        await eventually(caught_up, timeout=10, what="relay woken by NOTIFY")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await published_sequences(settings) == list(range(2, 41, 2))
    messages = await stream_messages(as_operator(settings.nats_url), settings.events_stream)
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [f"register:{n}" for n in range(2, 41, 2)]


async def test_relay_refuses_to_skip_events_when_the_stream_is_ahead_of_its_database(parts, sandbox) -> None:
    # e.g. the register's database was reset but the stream kept the old register:1..6
    _settings, _positions, new_relay, add_pupils = parts
    await add_pupils(1, 3)
    await run_until(new_relay(), 6)
    relay = new_relay()
    real_max = relay.follower.store.app.max_notification_id
    relay.follower.store.app.max_notification_id = lambda: 2  # a younger event store than the stream
    try:
        with pytest.raises(StreamAheadOfEventStore, match="was its database reset"):
            await relay.resume_position()
    finally:
        relay.follower.store.app.max_notification_id = real_max


async def test_a_recorded_recovery_lets_the_relay_resume_after_the_known_gap_and_no_further(parts) -> None:
    # the register's database restored from a backup taken at id 2, the stream holding register:2..6;
    # `sendcase recover` recorded the stream's head (6) as a known gap
    _settings, positions, new_relay, add_pupils = parts
    await add_pupils(1, 3)
    await run_until(new_relay(), 6)
    relay = new_relay()
    real_max = relay.follower.store.app.max_notification_id
    relay.follower.store.app.max_notification_id = lambda: 2
    try:
        await positions.set(RECOVERED, 4)  # a recovery that knew of less than the stream holds: refused
        with pytest.raises(StreamAheadOfEventStore, match="the recovery recorded register:4"):
            await relay.resume_position()
        await positions.set(RECOVERED, 6)
        await positions.set(RELAY, 2)
        assert await relay.resume_position() == 6
        assert await positions.get(RELAY) == 6
    finally:
        relay.follower.store.app.max_notification_id = real_max


async def test_relay_keeps_going_when_its_listen_connection_dies(parts) -> None:
    settings, _positions, new_relay, add_pupils = parts
    relay = new_relay()
    relay.follower.poll_seconds = 0.5
    task = asyncio.create_task(relay.run())
    try:

        async def listening() -> bool:
            return relay.follower.wakeup._listener is not None

        await eventually(listening, what="the relay to LISTEN")
        first_listener = relay.follower.wakeup._listener
        import asyncpg

        admin = await asyncpg.connect(settings.database_url)
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
        )
        await admin.close()
        assert killed == 1
        await add_pupils(1, 2)

        async def caught_up() -> bool:
            return relay.position >= 4

        await eventually(caught_up, timeout=10, what="the relay to publish without its LISTEN connection")
        assert relay.follower.wakeup._listener is not first_listener  # it listens again on a new connection
        assert not relay.follower.wakeup._listener.is_closed()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await published_sequences(settings) == [2, 4]


class HeldAcks:
    """JetStream whose acknowledgements of the register's ids above `above` are held back until `gate` opens
    (the messages themselves are stored by the server at once)."""

    def __init__(self, js, above: int) -> None:
        self.js = js
        self.above = above
        self.gate = asyncio.Event()
        self.releases: list[asyncio.Task] = []

    def __getattr__(self, name: str):
        return getattr(self.js, name)

    async def publish_async(self, subject, payload, **kwargs):
        ack = await self.js.publish_async(subject, payload, **kwargs)
        if int(kwargs["headers"]["Nats-Msg-Id"].partition(":")[2]) <= self.above:
            return ack
        held = asyncio.get_running_loop().create_future()

        async def release() -> None:
            await self.gate.wait()
            result = await ack
            if not held.done():
                held.set_result(result)

        self.releases.append(asyncio.create_task(release()))
        return held


async def test_the_relay_records_a_position_only_when_every_publish_up_to_it_is_acknowledged(parts) -> None:
    settings, positions, new_relay, add_pupils = parts
    await add_pupils(1, 30)  # 60 stored events, the even ones published
    relay = new_relay()
    relay.follower.batch_size = 8  # pages end at 8, 16, 24...
    relay.in_flight = 4
    relay.publish_timeout = 60
    relay.js = held = HeldAcks(relay.js, above=20)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _in_stream(settings, 14), what="publishes in flight")
        await asyncio.sleep(0.5)
        assert await published_sequences(settings) == list(range(2, 29, 2))  # 22..28 in flight: the window
        assert relay.position == await positions.get(RELAY) == 16  # the last page end with everything acked
        held.gate.set()
        await eventually(lambda: _at(relay, 60), what="the relay past the held acks")
    finally:
        task.cancel()
        held.gate.set()
        await asyncio.gather(task, *held.releases, return_exceptions=True)
    assert await positions.get(RELAY) == 60
    assert await published_sequences(settings) == list(range(2, 61, 2))


async def _in_stream(settings, count: int) -> bool:
    try:
        return len(await published_sequences(settings)) >= count
    except nats.js.errors.BadRequestError:  # an empty stream
        return False


async def _at(relay: OutboxRelay, position: int) -> bool:
    return relay.position >= position


async def test_a_relay_killed_with_publishes_in_flight_loses_nothing_and_duplicates_nothing(parts) -> None:
    settings, positions, new_relay, add_pupils = parts
    await add_pupils(1, 30)
    killed = new_relay()
    killed.follower.batch_size = 8
    killed.in_flight = 4
    killed.js = held = HeldAcks(killed.js, above=20)
    task = asyncio.create_task(killed.run())

    await eventually(lambda: _in_stream(settings, 14), what="publishes in flight")
    task.cancel()  # killed: the acks of 22..28 never seen
    await asyncio.gather(task, return_exceptions=True)
    held.gate.set()
    await asyncio.gather(*held.releases, return_exceptions=True)
    assert await positions.get(RELAY) == 16

    restarted = new_relay()
    restarted.follower.batch_size = 7
    restarted.in_flight = 3

    async def nothing_in_stream() -> int:  # rely on the recorded position and the message ids alone
        return 0

    restarted.last_published_in_stream = nothing_in_stream
    await add_pupils(31, 5)
    await run_until(restarted, 70)
    sequences = await published_sequences(settings)
    assert sequences == list(range(2, 71, 2))  # each once, in log order on the subject
    assert restarted.published == len(sequences) - 14  # what was in the stream already was deduplicated
    assert await positions.get(RELAY) == 70
