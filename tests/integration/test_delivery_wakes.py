"""The delivery worker is woken by new work (PostgreSQL NOTIFY from its store), not by polling: with the
safety-net poll at 30 s, a notification owed while the worker waits is delivered within a couple of seconds,
and again for the next one; a batch of due notifications is delivered in batches, each exactly once."""

import asyncio
import json
import time

import nats

from tests.support.notifications import delivery_settings, notifications_service, outbox_files, rows, worker
from tests.support.register_events import mother, publish, pupil_added
from tests.support.stack import Sandbox, as_operator, eventually


async def test_a_new_notification_is_delivered_promptly_without_polling(sandbox: Sandbox, tmp_path) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    async with notifications_service(settings, delivery_settings(outbox, poll_seconds=30)) as runtime:
        nc = await nats.connect(as_operator(settings.nats_url))
        js = nc.jetstream()
        try:
            for serial in (1, 2):
                await asyncio.sleep(1.5)  # the worker has looked, found nothing, and waits (for up to 30 s)
                event = pupil_added(serial, [mother(serial)])
                start = time.monotonic()
                await publish(js, settings.subject_prefix, event)

                async def delivered(pupil_id=event.subject.pupil_id) -> bool:
                    return [r["status"] for r in await rows(runtime, pupil_id)] == ["delivered"]

                await eventually(delivered, timeout=10, interval=0.02, what=f"notification {serial} delivered")
                took = time.monotonic() - start
                assert took < 2.0, f"event -> delivered took {took:.2f}s: the worker waited for its poll"
        finally:
            await nc.close()
        assert worker(runtime).sends == 2 and len(outbox_files(outbox)) == 2


async def test_many_due_notifications_are_delivered_in_batches_each_once(sandbox: Sandbox, tmp_path) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    count = 60
    async with notifications_service(settings, delivery_settings(outbox, batch_size=25)) as runtime:
        nc = await nats.connect(as_operator(settings.nats_url))
        js = nc.jetstream()
        try:
            for serial in range(1, count + 1):
                await publish(js, settings.subject_prefix, pupil_added(serial, [mother(serial)]))
        finally:
            await nc.close()

        async def all_delivered() -> list:
            found = await rows(runtime)
            return found if len(found) == count and all(r["status"] == "delivered" for r in found) else []

        found = await eventually(all_delivered, timeout=60, what=f"{count} delivered")
        assert worker(runtime).sends == count
        assert len(outbox_files(outbox)) == count and not [f for f in outbox_files(outbox) if "partial" in f.name]
        for row in found:
            steps = [h["what"] for h in json.loads(row["history"])]
            assert steps.count("sending") == 1 and steps.count("sent") == 1 and steps.count("delivered") == 1
