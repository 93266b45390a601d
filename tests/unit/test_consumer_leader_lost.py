"""A consumer whose leader went with a NATS node keeps running: the fetch's 503 (no leader yet) is waited out,
not a crash; and a run after a crash lets go of the pull subscription the crashed run left behind."""

import asyncio
import contextlib

import nats.errors
import nats.js.errors
import pytest

import services.runtime.consumer as consumer_module
from services.runtime.consumer import TrackedConsumer


class Subscription:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.fetches = 0
        self.unsubscribed = False

    async def fetch(self, batch: int, timeout: float) -> list:
        self.fetches += 1
        raise self.failures.pop(0) if self.failures else asyncio.CancelledError()

    async def unsubscribe(self) -> None:
        self.unsubscribed = True


class JetStream:
    def __init__(self, *failures: list[BaseException]) -> None:
        self.subscriptions = [Subscription(f) for f in failures]
        self.bound = 0

    async def pull_subscribe_bind(self, **_: object) -> Subscription:
        self.bound += 1
        return self.subscriptions[self.bound - 1]


def consumer(js: JetStream) -> TrackedConsumer:
    made = TrackedConsumer(
        "notifications-duties",
        js,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        stream="S",
        prefix="p",
        filter_subjects=["p.x"],
        max_attempts=3,
        backoff_seconds=[1.0],
        ack_wait_seconds=5,
    )

    async def no_setup() -> None:
        pass

    made.setup = no_setup  # type: ignore[method-assign]
    return made


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep
    monkeypatch.setattr(consumer_module.asyncio, "sleep", lambda _s: real_sleep(0))


async def test_a_consumer_without_a_leader_for_a_while_waits_and_fetches_again() -> None:
    leaderless: list[BaseException] = [nats.js.errors.ServiceUnavailableError(), nats.errors.NoRespondersError()] * 5
    js = JetStream(leaderless)
    with contextlib.suppress(asyncio.CancelledError):
        await consumer(js).run()
    assert js.bound == 1 and js.subscriptions[0].fetches == 11  # ten without a leader, and the loop ran on


async def test_a_run_after_a_crash_lets_go_of_the_crashed_runs_subscription() -> None:
    js = JetStream([RuntimeError("a bug")], [])
    tracked = consumer(js)
    with pytest.raises(RuntimeError):
        await tracked.run()
    first = js.subscriptions[0]
    assert not first.unsubscribed and tracked.subscription is first  # stop would let go of it
    with contextlib.suppress(asyncio.CancelledError):
        await tracked.run()  # the supervisor's restart
    assert first.unsubscribed and tracked.subscription is js.subscriptions[1]
    await tracked.close()
    assert js.subscriptions[1].unsubscribed
