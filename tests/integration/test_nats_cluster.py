"""The services ride through losing a NATS node. Three nats-server processes cluster on loopback with the events
stream at three replicas; the register and notifications run against the cluster (and the session's
PostgreSQL) while a SENCO's tool adds pupils to SEN support at a steady rate. The node leading the stream (made
to lead both services' consumers too, and the one the register is connected to) is killed (SIGKILL) mid-flow.
Once the cluster settles, every command that was accepted has exactly one fact on the
stream and one owed notification; a command that got no reply was done once or not at all, never twice. The
node comes back, catches up, and the same holds for the commands sent after it.

Each AddToSenSupport is for a new pupil recorded without parents: it stores one fact the register publishes
(PupilAddedToSenSupport) and the notifications service owes exactly one notification for it (`cannot_notify`,
nobody to tell yet), so "once" can be counted per pupil.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import pytest
import structlog

from contracts.envelope import Accepted
from contracts.subjects import OPERATOR_USER, inbox_prefix
from infra.stack.cluster import NatsCluster
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client, NoReply
from services.runtime.clock import FixedClock
from services.runtime.service import ServiceRuntime
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.notifications import delivery_settings, notifications_service, rows
from tests.support.stack import Sandbox, Servers, eventually, new_prefix, running_service, stream_messages

pytestmark = pytest.mark.timeout(240)

RATE = 8.0  # commands a second
FLOW_SECONDS = 16.0  # how long commands are sent for
KILL_AFTER = 5.0  # seconds into the flow
AFTER_RETURN = 10  # commands sent once the killed node is back and current


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    root = Path(tempfile.mkdtemp(prefix="sendcase-nats-cluster-"))
    nodes = NatsCluster(root, max_memory_store="32MB", max_file_store="256MB")
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Sent:
    serial: int
    sent_at: float
    outcome: str = "pending"  # accepted, rejected:<rule>, unanswered:<why>
    answered_at: float | None = None
    answered_wall: float | None = None  # time.time(), to set beside the stream's timestamps

    @property
    def pupil_id(self) -> UUID:
        return Pupil.create_id(upn(self.serial))


@dataclass
class Flow:
    """A SENCO's tool sending AddToSenSupport, one new pupil each, at a steady rate (each command on its own, so
    a slow reply holds up nothing else)."""

    client: Client
    sent: list[Sent] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def send(self, serial: int) -> None:
        record = Sent(serial, time.monotonic())
        self.sent.append(record)
        try:
            reply = await self.client.command(add_to_sen_support(serial))
        except NoReply:
            record.outcome = "unanswered:no reply"
        except Exception as e:  # a connection error while the client's server is gone, say
            record.outcome = f"unanswered:{type(e).__name__}"
        else:
            record.outcome = "accepted" if isinstance(reply, Accepted) else f"rejected:{reply.rule}"
        record.answered_at, record.answered_wall = time.monotonic(), time.time()

    async def run(self, first: int, seconds: float) -> int:
        serial, start = first, time.monotonic()
        while time.monotonic() - start < seconds:
            self.tasks.append(asyncio.create_task(self.send(serial)))
            serial += 1
            await asyncio.sleep(1 / RATE)
        return serial

    async def finished(self) -> None:
        await asyncio.gather(*self.tasks)

    def outcomes(self) -> Counter[str]:
        return Counter(s.outcome.split(":")[0] for s in self.sent)

    def figures(self, killed_at: float) -> dict[str, Any]:
        accepted = sorted(s.answered_at for s in self.sent if s.outcome == "accepted" and s.answered_at)
        after_kill = [s.answered_at for s in self.sent if s.sent_at >= killed_at and s.answered_at]
        return {
            "sent": len(self.sent),
            "outcomes": dict(Counter(s.outcome for s in self.sent)),
            "first_reply_to_a_command_sent_after_the_kill_s": round(min(after_kill) - killed_at, 2),
            "longest_gap_between_accepted_replies_s": round(max(b - a for a, b in itertools.pairwise(accepted)), 2),
        }


async def leader_of(js: Any, stream: str) -> str | None:
    try:
        info = await js.stream_info(stream)
    except Exception:
        return None
    return info.cluster.leader if info.cluster else None


async def lead_from(nc: Any, stream: str, node: str) -> list[str]:
    """Have `node` lead the stream and every consumer of it: a leader asked to step down hands over to the node
    preferred. (So that killing the node takes the leaders of the stream, the register's and the notifications'
    consumers, and the register's own connection, all at once.)"""
    js = nc.jetstream()
    names = [i.name for i in await js.consumers_info(stream)]
    body = json.dumps({"placement": {"preferred": node}}).encode()
    api = {stream: f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}"}
    api |= {name: f"$JS.API.CONSUMER.LEADER.STEPDOWN.{stream}.{name}" for name in names}

    async def leaders() -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        with contextlib.suppress(Exception):  # no leader for a moment
            found[stream] = (await js.stream_info(stream)).cluster.leader
            for name in names:
                info = await js.consumer_info(stream, name)
                found[name] = info.cluster.leader if info.cluster else None
        return found

    async def led() -> bool:
        elsewhere = [what for what, leader in (await leaders()).items() if leader not in (None, node)]
        for what in elsewhere:  # the stream first: a consumer's leader follows its stream's
            await nc.request(api[what], body, timeout=5)
            break
        return not elsewhere and len(await leaders()) == len(api)

    await eventually(led, timeout=30, interval=1.0, what=f"{node} leading {stream} and its consumers")
    return sorted(api)


async def all_current(js: Any, stream: str) -> bool:
    """The stream has a leader and every replica is current (caught up with it)."""
    try:
        info = await js.stream_info(stream)
    except Exception:
        return False
    cluster = info.cluster
    return bool(
        cluster and cluster.leader and len(cluster.replicas or []) == 2 and all(r.current for r in cluster.replicas)
    )


async def facts_per_pupil(settings: Any) -> Counter[UUID]:
    """PupilAddedToSenSupport events on the stream, counted per pupil."""
    prefix = f"{settings.subject_prefix}.events.register."
    found = await stream_messages(settings.nats_url, settings.events_stream, prefix)
    return Counter(UUID(json.loads(m.data)["subject"]["pupil_id"]) for m in found)


async def relay_delays(settings: Any, sent: list[Sent]) -> list[float]:
    """For each accepted command: seconds from its reply to its fact's arrival in the stream."""
    prefix = f"{settings.subject_prefix}.events.register."
    found = await stream_messages(settings.nats_url, settings.events_stream, prefix)
    arrived = {UUID(json.loads(m.data)["subject"]["pupil_id"]): m.time.timestamp() for m in found}
    return [arrived[s.pupil_id] - s.answered_wall for s in sent if s.outcome == "accepted" and s.answered_wall]


async def owed_per_pupil(notes: ServiceRuntime) -> Counter[UUID]:
    return Counter(r["pupil_id"] for r in await rows(notes))


async def stored_in_register(register: ServiceRuntime, sent: list[Sent]) -> set[UUID]:
    """The pupils the register stored (enrolled and added), from its event store."""
    store = register.service.store

    def stored() -> set[UUID]:
        return {s.pupil_id for s in sent if list(store.app.events.get(s.pupil_id, limit=1))}

    return await store.call(None, stored)


async def check_once(settings: Any, register: ServiceRuntime, notes: ServiceRuntime, sent: list[Sent]) -> dict:
    """Once the cluster has settled: every accepted command has exactly one fact and one owed notification; an
    unanswered one has both once or neither; nothing has two; nothing unsent is there."""
    stored = await stored_in_register(register, sent)

    async def settled() -> tuple[Counter[UUID], Counter[UUID]] | None:
        facts, owed = await facts_per_pupil(settings), await owed_per_pupil(notes)
        return (facts, owed) if set(facts) == stored and set(owed) == stored else None

    facts, owed = await eventually(settled, timeout=60, interval=0.5, what="every stored command relayed and owed")
    assert set(facts) == set(owed) == stored
    assert all(n == 1 for n in facts.values()), {p: n for p, n in facts.items() if n != 1}
    assert all(n == 1 for n in owed.values()), {p: n for p, n in owed.items() if n != 1}
    for s in sent:
        if s.outcome == "accepted":
            assert facts[s.pupil_id] == 1 and owed[s.pupil_id] == 1, s
        elif s.outcome.startswith("rejected"):
            assert s.pupil_id not in stored, s
        else:  # unanswered: done once or not at all
            assert facts[s.pupil_id] == owed[s.pupil_id] in (0, 1), s
    assert {s.pupil_id for s in sent} >= stored
    unanswered = [s for s in sent if s.outcome.startswith("unanswered")]
    return {
        "facts": sum(facts.values()),
        "owed": sum(owed.values()),
        "unanswered_done": sum(1 for s in unanswered if s.pupil_id in stored),
    }


class LibraryLog(logging.Handler):
    """Warnings and errors that nats-py and FastStream log through the standard library."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen[f"{record.name}: {record.getMessage()[:80]}"] += 1


@contextlib.contextmanager
def library_log() -> Iterator[LibraryLog]:
    handler, root = LibraryLog(), logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def test_the_services_ride_through_losing_the_node_leading_the_stream(
    servers: Servers, cluster: NatsCluster, tmp_path, record_property
) -> None:
    sandbox = Sandbox(Servers(servers.postgres_url, cluster.url), new_prefix())
    register_settings = sandbox.settings("register", stream_replicas=3)
    notes_settings = sandbox.settings("notifications", stream_replicas=3)
    stream = register_settings.events_stream
    figures: dict[str, Any] = {}

    with structlog.testing.capture_logs([structlog.processors.format_exc_info]) as ours, library_log() as theirs:
        async with running_service(register_bootstrap, register_settings, FixedClock(SCHOOL_DAY)) as register:
            async with notifications_service(notes_settings, delivery_settings(tmp_path)) as notes:
                async with Client(cluster.url, sandbox.prefix, senco(), timeout=5.0, retries=2) as client:
                    watch = await nats.connect(
                        cluster.urls, name="test-watch", inbox_prefix=inbox_prefix(OPERATOR_USER)
                    )
                    assert (await watch.jetstream().stream_info(stream)).config.num_replicas == 3
                    figures["connected"] = {
                        "register": _node(cluster, register.nc.connected_url),
                        "notifications": _node(cluster, notes.nc.connected_url),
                        "client": _node(cluster, client.nc.connected_url),
                    }
                    # The node the register is connected to leads the stream and its consumers: killing it takes
                    # the register's connection and every leader at once.
                    doomed = figures["killed"] = figures["connected"]["register"]
                    figures["led_by_killed"] = await lead_from(watch, stream, doomed)
                    await eventually(lambda: all_current(watch.jetstream(), stream), what="the stream current")
                    # the test watches from the nodes that stay, so its own reconnect is not what is timed
                    await watch.close()
                    watch = await nats.connect(
                        [n.url for n in cluster.nodes if n.name != doomed],
                        name="test-watch",
                        inbox_prefix=inbox_prefix(OPERATOR_USER),
                    )
                    js = watch.jetstream(timeout=1.0)
                    try:
                        # -- commands flow; the node leading the stream is killed a few seconds in --
                        flow = Flow(client)
                        sending = asyncio.create_task(flow.run(1, FLOW_SECONDS))
                        await asyncio.sleep(KILL_AFTER)
                        killed_at = cluster.kill(doomed)
                        while (new_leader := await leader_of(js, stream)) in (None, doomed):
                            await asyncio.sleep(0.1)
                        figures["new_leader"] = new_leader
                        figures["leader_elected_after_s"] = round(time.monotonic() - killed_at, 1)
                        next_serial = await sending
                        await flow.finished()
                        figures |= flow.figures(killed_at)
                        assert flow.outcomes()["accepted"] >= len(flow.sent) // 2, flow.outcomes()

                        figures["checked_while_down"] = await check_once(register_settings, register, notes, flow.sent)
                        delays = await relay_delays(register_settings, flow.sent)
                        figures["longest_reply_to_fact_in_stream_s"] = round(max(delays), 1)

                        # -- the node comes back with its data and catches up; commands are done once still --
                        returned_at = time.monotonic()
                        cluster.restart(doomed)
                        await eventually(lambda: all_current(js, stream), timeout=60, what="three current replicas")
                        figures["back_and_current_after_s"] = round(time.monotonic() - returned_at, 1)
                        more = Flow(client)
                        await more.run(next_serial, AFTER_RETURN / RATE)
                        await more.finished()
                        assert more.outcomes() == Counter(accepted=len(more.sent)), more.sent
                        everything = flow.sent + more.sent
                        figures["checked_after_return"] = await check_once(
                            register_settings, register, notes, everything
                        )
                        figures["returned_node_holds"] = await _node_copy_matches(cluster, doomed, js, stream)
                    finally:
                        await watch.close()
                    stopping = time.monotonic()
    figures["services_stopped_in_s"] = round(time.monotonic() - stopping, 1)
    figures["service_log"] = dict(Counter(f"{e['log_level']} {e['event']}" for e in ours if e["log_level"] != "debug"))
    figures["service_errors"] = dict(
        Counter(f"{e['event']} {e.get('error', '')}" for e in ours if e["log_level"] in ("error", "warning"))
    )
    figures["library_log"] = dict(theirs.seen.most_common(8))
    print("\nNATS cluster failover:", json.dumps(figures, indent=2, default=str))
    record_property("nats_cluster_failover", json.dumps(figures, default=str))

    # The services recovered by themselves: no loop crashed (a consumer without a leader waits), nothing was
    # dead-lettered, and nothing a crashed loop left behind held the services' stop.
    crashed = [e for e in ours if e["event"] in ("service.loop_crashed", "consumer.dead_lettered")]
    assert not crashed, crashed
    assert figures["services_stopped_in_s"] < 10


def _node(cluster: NatsCluster, url: Any) -> str:
    port = getattr(url, "port", None)
    return next((n.name for n in cluster.nodes if n.port == port), str(url))


async def _node_copy_matches(cluster: NatsCluster, name: str, js: Any, stream: str) -> int:
    """The returned node's own copy of the stream (its /jsz) holds what the leader holds."""
    info = await js.stream_info(stream)

    async def same() -> int | None:
        found = cluster.node(name).monitor("jsz?streams=true")
        for account in found.get("account_details", []):
            for detail in account.get("stream_detail", []):
                if detail["name"] == stream and detail["state"]["last_seq"] >= info.state.last_seq:
                    return int(detail["state"]["messages"])
        return None

    copy = await eventually(same, timeout=30, what=f"{name}'s copy of {stream}")
    assert copy == info.state.messages
    return copy
