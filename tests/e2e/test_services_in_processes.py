"""The walking skeleton with each service in its own process, as in production (`sendcase serve`)."""

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import nats

from contracts.envelope import Accepted, ServiceHealth
from contracts.subjects import OPERATOR_USER, inbox_prefix, ping_subject
from services.runtime.client import Client
from tests.support.factories import add_to_sen_support, senco
from tests.support.stack import Sandbox, eventually, stream_messages

PUPILS = 40
KILL_AFTER = 15


def start(service: str, sandbox: Sandbox, logs: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", service],
        env=sandbox.env(service, SENDCASE_HOME=str(logs / "home")),
        stdout=open(logs / f"{service}.log", "ab"),
        stderr=subprocess.STDOUT,
    )


async def answers_ping(nats_url: str, prefix: str, service: str) -> ServiceHealth:
    nc = await nats.connect(nats_url, inbox_prefix=inbox_prefix(OPERATOR_USER))
    try:

        async def ping():
            try:
                msg = await nc.request(ping_subject(prefix, service), b"", timeout=1)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                return None
            return ServiceHealth.model_validate_json(msg.data)

        return await eventually(ping, timeout=60, what=f"{service} to answer ping")
    finally:
        await nc.close()


async def test_every_fact_arrives_once_when_notifications_is_killed_mid_stream(
    sandbox: Sandbox, processes, tmp_path: Path
) -> None:
    url, prefix = sandbox.servers.nats_url, sandbox.prefix
    for service in ("register", "notifications"):
        processes[service] = start(service, sandbox, tmp_path)
    await answers_ping(url, prefix, "register")
    first = await answers_ping(url, prefix, "notifications")

    async with Client(url, prefix, senco()) as client:
        for serial in range(1, PUPILS + 1):
            if serial == KILL_AFTER:
                processes["notifications"].kill()  # SIGKILL: no goodbye, messages in flight
            reply = await client.command(add_to_sen_support(serial))
            assert isinstance(reply, Accepted), reply
    processes["notifications"].wait(10)
    processes["notifications"] = start("notifications", sandbox, tmp_path)
    second = await answers_ping(url, prefix, "notifications")
    assert second.pid != first.pid

    # The register does not yet name the people to tell: each duty is a visible "cannot notify" fact.
    conn = await asyncpg.connect(sandbox.database_url("notifications"))
    try:

        async def all_owed():
            n = await conn.fetchval("SELECT count(*) FROM notifications_by_pupil")
            return n if n >= PUPILS else None

        await eventually(all_owed, timeout=60, what=f"{PUPILS} notifications owed")
        await asyncio.sleep(3)  # longer than ack_wait: any redelivery would have landed by now
        owed_events = await conn.fetchval(
            "SELECT count(*) FROM notifications_events WHERE topic LIKE '%Notification.Owed'"
        )
        # (each pupil's UnmetDuties is an aggregate of the same log: only notifications are counted here)
        distinct = await conn.fetchval(
            "SELECT count(DISTINCT originator_id) FROM notifications_events WHERE topic LIKE '%:Notification.%'"
        )
        tracked = await conn.fetch(
            "SELECT notification_id FROM notifications_tracking WHERE application_name = 'register'"
        )
        pupils = await conn.fetchval("SELECT count(DISTINCT pupil_id) FROM notifications_by_pupil")
        statuses = await conn.fetch("SELECT DISTINCT status, reason FROM notifications_by_pupil")
    finally:
        await conn.close()
    assert owed_events == distinct == pupils == PUPILS
    [(status, reason)] = [tuple(r) for r in statuses]
    assert status == "cannot_notify" and "nobody to tell is recorded" in reason
    assert sorted(r["notification_id"] for r in tracked) == list(range(2, 2 * PUPILS + 1, 2))

    async def relayed():
        found = await stream_messages(
            url, f"{prefix.upper()}_EVENTS", f"{prefix}.events.notifications.notification_owed"
        )
        return found if len(found) >= PUPILS else None

    notification_facts = await eventually(relayed, timeout=30, what="notifications' own facts on the stream")
    register_facts = await stream_messages(url, f"{prefix.upper()}_EVENTS", f"{prefix}.events.register.")
    assert len(register_facts) == len(notification_facts) == PUPILS
    assert len({m.headers["Nats-Msg-Id"] for m in notification_facts}) == PUPILS
    # ... and for each, the fact that nobody could be told, for the school and LA to act on
    not_reached = await stream_messages(
        url, f"{prefix.upper()}_EVENTS", f"{prefix}.events.notifications.could_not_notify"
    )
    assert len(not_reached) == PUPILS
