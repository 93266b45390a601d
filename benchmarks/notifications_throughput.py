"""How many notifications per second go through the file channel.

Run on demand (not a test):  .venv/bin/python benchmarks/notifications_throughput.py [--notifications 2000]
Uses the embedded PostgreSQL and NATS (or SENDCASE_TEST_POSTGRES_URL / SENDCASE_TEST_NATS_URL).

Three figures:
1. owe + render + store: N "added to SEN support" duties, one parent each, owed and written (Jinja2,
   sha256) and saved in batches of 500 (one transaction each);
2. delivery only: the worker sending those N already-written notifications to the file outbox, each with
   its four recorded steps (load, "sending" saved, file written and fsync'ed, "sent" and "delivered" saved);
3. end to end: N register events published to JetStream -> consumed -> owed and written -> projected ->
   delivered as files, timed from the first publish to the last file recorded as delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats

from benchmarks._support import SCHOOL_DAY, delivery_settings, mother, publish, pupil_added, senco
from contracts.notifications import Duty
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.notifications.bootstrap import bootstrap
from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import ensure_database
from services.runtime.service import ServiceRuntime, cancel_until_done

assert Duty  # the duty table is what is measured


def owe_all(app, count: int, offset: int) -> None:
    token = set_context(CommandContext(actor=senco(), now=SCHOOL_DAY))
    try:
        for start in range(offset, offset + count, 500):
            batch = []
            for serial in range(start, min(offset + count, start + 500)):
                batch.extend(when_duty_to_tell_arises_owe_notifications(app, pupil_added(serial, [mother(serial)])))
            app.save(*batch)
    finally:
        reset_context(token)


async def delivered(runtime: ServiceRuntime) -> int:
    return await runtime.pool.fetchval("SELECT count(*) FROM notifications_by_pupil WHERE status = 'delivered'")


async def until(runtime: ServiceRuntime, n: int) -> None:
    while await delivered(runtime) < n:
        await asyncio.sleep(0.05)


async def main(count: int) -> None:
    with scratch_servers() as (servers, root):
        sandbox = Sandbox(servers, new_prefix())
        settings = sandbox.settings("notifications")
        await ensure_database(settings.database_url)
        delivered_by = delivery_settings(settings, root / "outbox", delivery_poll_seconds=0.05, delivery_batch_size=200)
        service = bootstrap(delivered_by, FixedClock(SCHOOL_DAY))
        worker = service.worker("delivery")
        service.workers = []  # the worker is started by hand, to time delivery alone
        runtime = ServiceRuntime(service)
        await runtime.start()
        try:
            t0 = time.perf_counter()
            await asyncio.to_thread(owe_all, service.store.app, count, 1)
            owed = time.perf_counter() - t0
            while (
                await runtime.pool.fetchval("SELECT count(*) FROM notifications_by_pupil WHERE status = 'rendered'")
                < count
            ):
                await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            task = asyncio.create_task(worker.deliver_forever(runtime.pool))
            await until(runtime, count)
            delivering = time.perf_counter() - t0
            files = sum(1 for p in (root / "outbox").rglob("*.txt"))

            nc = await nats.connect(settings.nats_url)
            js = nc.jetstream()
            t0 = time.perf_counter()
            for serial in range(count + 1, 2 * count + 1):
                await publish(js, settings.subject_prefix, pupil_added(serial, [mother(serial)]))
            await until(runtime, 2 * count)
            end_to_end = time.perf_counter() - t0
            await nc.close()
            await cancel_until_done([task])
        finally:
            await runtime.stop()
        print(f"owe + render + store: {count} notifications in {owed:.2f}s = {count / owed:,.0f}/s (batches of 500)")
        print(
            f"delivery only (file channel): {count} notifications in {delivering:.2f}s = {count / delivering:,.0f}/s "
            f"({files} files written, fsync'ed)"
        )
        print(
            f"end to end (JetStream event -> file delivered): {count} in {end_to_end:.2f}s "
            f"= {count / end_to_end:,.0f}/s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notifications", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.notifications))
