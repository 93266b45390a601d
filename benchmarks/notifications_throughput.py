"""How many notifications per second go end to end through the file channel (email and text).

Run on demand (not a test):  .venv/bin/python benchmarks/notifications_throughput.py [--quick]
Uses the embedded PostgreSQL and NATS (or SENDCASE_TEST_POSTGRES_URL / SENDCASE_TEST_NATS_URL).

`measure(quick)` reports:
1. end to end: N register "added to SEN support" events, one parent each (half prefer email, half text),
   published to JetStream by a separate process while the notifications service runs here -> consumed in
   batches -> owed and written -> projected -> sent to the file outbox (written, fsync'ed) and recorded as
   delivered; timed from the first publish to the last notification shown delivered;
   beside the limit measured in the same run: the same notifications owed and written, started, and recorded
   sent and delivered straight on the same event store, in batches of the consumer's size, one after another
   in one thread (no NATS, no read model, no files, no outbox relay): the decisions and writes alone;
2. the CPU the notifications process spent per notification end to end (time.process_time here: the
   service's consumer, projection, relay and delivery worker; the publisher is another process);
3. the consumer batch size used.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import Figure, Goal, table
from benchmarks._support import SCHOOL_DAY, delivery_settings, mother, pupil_added
from contracts.envelope import Actor
from contracts.people import Channel
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.notifications.bootstrap import bootstrap
from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from services.runtime.database import ensure_database
from services.runtime.logging import configure_logging
from services.runtime.receipts import collecting_saves
from services.runtime.service import ServiceRuntime
from services.runtime.unit_of_work import unit_of_work

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100  # the consumer's batch size (the default, consumer_batch_size)


def parent(serial: int) -> Any:
    """One parent per pupil: odd serials prefer email, even ones a text. A text cannot carry the whole message, so a
    parent with an address (or an email) is sent the complete letter beside it (docs/notifications.md): the text
    parents here have only a mobile, so that this measures email and text alone (letters are measured on their own)."""
    if serial % 2:
        return mother(serial)
    return mother(serial).model_copy(update={"preferred_channel": Channel.SMS, "postal_address": None, "email": None})


# The publisher: another process, so that this one's CPU time is the service's alone. It connects, says
# "ready", waits for "go" on stdin, publishes its events (a window of them awaiting JetStream's ack at once,
# as the register's relay pipelines its publishes) and says "done".
PUBLISHER = """
import asyncio, sys
sys.path.insert(0, {root!r})
import nats
from benchmarks._support import publish, pupil_added
from benchmarks.notifications_throughput import parent
from services.runtime.keyring import MasterKeys, PostgresKeyring, use_keyring

# the deployment's keyring, as the register's relay has it: the events go out sealed
use_keyring(PostgresKeyring({keys_url!r}, MasterKeys.from_json({keys!r})))

async def main(url, prefix, first, count):
    nc = await nats.connect(url)
    js = nc.jetstream()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    serials = list(range(first, first + count))
    for start in range(0, count, 100):
        await asyncio.gather(*(publish(js, prefix, pupil_added(s, [parent(s)])) for s in serials[start:start + 100]))
    await nc.close()
    print("done", flush=True)

asyncio.run(main({url!r}, {prefix!r}, {first}, {count}))
"""


async def publish_from_another_process(sandbox: Sandbox, url: str, prefix: str, first: int, count: int) -> Any:
    """Start the publisher (with the sandbox's keyring); returns (process, go): awaiting go() starts the publishing."""
    code = PUBLISHER.format(
        root=str(ROOT),
        url=url,
        prefix=prefix,
        first=first,
        count=count,
        keys_url=sandbox.database_url("keys"),
        keys=sandbox.keys,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    assert process.stdout is not None and process.stdin is not None
    ready = await process.stdout.readline()
    if ready.strip() != b"ready":
        raise RuntimeError(f"the publisher did not start: {ready!r}")

    async def go() -> None:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()

    return process, go


def store_alone(app: Any, count: int, first: int) -> float:
    """The limit: the same work straight on the event store, in batches of BATCH. Returns notifications/s."""
    t0 = time.perf_counter()
    for start in range(first, first + count, BATCH):
        serials = range(start, min(first + count, start + BATCH))
        owed: list[Any] = []
        with unit_of_work(app) as unit:
            for serial in serials:
                envelope = pupil_added(serial, [parent(serial)])
                token = set_context(
                    CommandContext(actor=Actor.service("notifications"), now=SCHOOL_DAY, causation_id=envelope.event_id)
                )
                try:
                    made = when_duty_to_tell_arises_owe_notifications(app, envelope)
                    unit.stage(made)
                    owed += made
                finally:
                    reset_context(token)
            app.save_together(unit.staged)
        for step in ("start", "record"):
            with unit_of_work(app, holding=owed) as unit:
                token = set_context(CommandContext(actor=Actor.service("notifications"), now=SCHOOL_DAY))
                try:
                    for n in owed:
                        with collecting_saves() as saved:
                            if step == "start":
                                app.start_sending(n.id, n.channel)
                            else:
                                app.record_sent(n.id, n.channel, "file", "written", True)
                        unit.stage(saved)
                finally:
                    reset_context(token)
                app.save_together(unit.staged)
    return count / (time.perf_counter() - t0)


async def delivered(runtime: ServiceRuntime) -> int:
    assert runtime.pool is not None
    return await runtime.pool.fetchval("SELECT count(*) FROM notifications_by_pupil WHERE status = 'delivered'")


async def measure(quick: bool) -> list[Figure]:
    count = 600 if quick else 3000
    with scratch_servers("bench-notifications") as (servers, root):
        # the limit, on a database of its own on the same server
        alone_sandbox = Sandbox(servers, new_prefix())
        await alone_sandbox.open_keyring()
        alone = alone_sandbox.settings("notifications")
        await ensure_database(alone.database_url)
        limit_service = bootstrap(delivery_settings(alone, root / "outbox-alone"), FixedClock(SCHOOL_DAY))
        limit = await asyncio.to_thread(store_alone, limit_service.store.app, count, 1)
        limit_service.store.close()

        sandbox = Sandbox(servers, new_prefix())

        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        settings = sandbox.settings("notifications", consumer_batch_size=BATCH)
        await ensure_database(settings.database_url)
        # the delivery worker as deployed: woken by NOTIFY, its safety-net poll at the default (5 s)
        delivering = delivery_settings(settings, root / "outbox", delivery_poll_seconds=5.0, delivery_batch_size=200)
        runtime = ServiceRuntime(bootstrap(delivering, FixedClock(SCHOOL_DAY)))
        await runtime.start()
        try:
            process, go = await publish_from_another_process(
                sandbox, sandbox.servers.nats_url, settings.subject_prefix, 1, count
            )
            cpu0, t0 = time.process_time(), time.perf_counter()
            await go()
            while await delivered(runtime) < count:
                await asyncio.sleep(0.02)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            await process.wait()
            files = sum(1 for _ in (root / "outbox").rglob("*.txt"))
            assert files == count, f"{files} files for {count} notifications"
        finally:
            await runtime.stop()
    rate = count / elapsed
    return [
        Figure(
            "notifications end to end, file channel (email and text)",
            rate,
            "notifications/s",
            Goal.at_least(500),
            limit=limit,
            limit_what="the event store alone, same work",
            note=(
                f"{count} register events published to JetStream by another process -> consumed, owed, written, "
                "projected, sent as files (fsync'ed) and recorded delivered; from the first publish to the last "
                "shown delivered. Limit: the same notifications owed and written, started and recorded sent and "
                f"delivered straight on the same PostgreSQL in batches of {BATCH}, one thread, nothing else (no "
                "NATS, read model, relay nor files): the event store's own rate for these writes and decisions"
            ),
        ),
        Figure(
            "CPU of the notifications process per notification",
            1000 * cpu / count,
            "ms",
            note="time.process_time of this process (consumer, projection, relay, delivery) over the end-to-end run",
        ),
        Figure("consumer batch size", BATCH, "messages", note="consumer_batch_size; delivery_batch_size 200"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer notifications (600 instead of 3000)")
    args = parser.parse_args()
    configure_logging("benchmark", "console", "WARNING")
    print(table(asyncio.run(measure(args.quick))))
