"""An empty fetch is never a crash: nats-py raises its own TimeoutError or, at times, asyncio's (a different
class from nats.errors.TimeoutError): the consumer's loop takes either as "nothing yet" and fetches again."""

import asyncio
import contextlib

import nats.errors

from services.runtime.consumer import TrackedConsumer


class Subscription:
    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self, batch: int, timeout: float) -> list:
        self.fetches += 1
        if self.fetches == 50:
            raise asyncio.CancelledError  # the test's way to stop the loop
        raise (TimeoutError() if self.fetches % 2 else nats.errors.TimeoutError())

    async def unsubscribe(self) -> None:
        pass


class JetStream:
    def __init__(self) -> None:
        self.subscription = Subscription()

    async def pull_subscribe_bind(self, **_: object) -> Subscription:
        return self.subscription


async def test_both_kinds_of_empty_fetch_keep_the_loop_running() -> None:
    js = JetStream()
    consumer = TrackedConsumer(
        "register-ehc-plans",
        js,
        None,
        stream="S",
        prefix="p",
        filter_subjects=["p.x"],  # type: ignore[arg-type]
        max_attempts=3,
        backoff_seconds=[1.0],
        ack_wait_seconds=5,
    )

    async def no_setup() -> None:
        pass

    consumer.setup = no_setup  # type: ignore[method-assign]
    with contextlib.suppress(asyncio.CancelledError):
        await consumer.run()
    assert js.subscription.fetches == 50  # 49 empty fetches of both kinds, and the loop never crashed
