"""Tamper-evident history on real PostgreSQL and NATS (docs/audit.md): the register's database altered directly
by SQL, as an attacker with database access would, and every alteration found and reported at its position;
a log that was not touched verifies; the chain survives group commit and the bulk roll import; a service
refuses to start on a tampered tail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.envelope import Accepted, CommandEnvelope
from contracts.register import AddToSenSupport
from services.register.application import Register
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.anchors import Anchoring, latest_checkpoint, load_public_keys, load_signing_key
from services.runtime.audit import ChainTampered, verify_service
from services.runtime.chain import GENESIS, content_hash, links
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.database import create_pool, ensure_database
from services.runtime.eventstore import open_store
from services.runtime.nats_connection import nats_servers
from services.runtime.settings import ServiceSettings
from services.runtime.streams import ensure_streams
from services.runtime.verify import Verification
from tests.conftest import SCHOOL_DAY
from tests.integration.test_commands_once import send_raw
from tests.integration.test_register_bulk_import import routed_import
from tests.support.factories import SCHOOL, add_to_sen_support, senco, upn
from tests.support.register_factories import roll_csv
from tests.support.stack import Sandbox, as_operator, eventually, running_service

EVENTS = "register_events"
CHAIN = "register_events_chain"


def new_signing_key() -> str:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


@dataclass
class Log:
    """A register's log on its own database, and what publishes and checks its checkpoints."""

    settings: ServiceSettings
    app: Register
    js: Any
    anchoring: Anchoring
    keys: dict

    def add_pupils(self, serials: range, file_name: str) -> None:
        report = routed_import(self.app, SCHOOL, roll_csv(serials), file_name)
        assert report.enrolled == len(serials), report

    async def verify(self) -> Verification:
        return await verify_service(self.settings, self.js, self.keys, page=7)  # small pages: pages are crossed

    async def sql(self, statement: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            if ";" in statement:  # several statements at once (no parameters, no rows)
                return await conn.execute(statement)
            return await conn.fetch(statement, *args)
        finally:
            await conn.close()

    async def position_of_pupil(self, serial: int) -> int:
        """The first event of a pupil's record (their name is sealed: found by their id, not by text)."""
        rows = await self.sql(
            f"SELECT min(notification_id) FROM {EVENTS} WHERE originator_id = $1", Pupil.create_id(upn(serial))
        )
        assert rows and rows[0][0] is not None, f"no event of pupil {serial}"
        return rows[0][0]

    async def alter(self, position: int) -> None:
        """An UPDATE a DBA could make: a fact in the clear (the school a record is at) changed."""
        await self.sql(
            f"UPDATE {EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'), '{SCHOOL}', '999999'), "
            "'UTF8') WHERE notification_id = $1",
            position,
        )

    async def position_holding(self, text: str, after: int = 0) -> int:
        rows = await self.sql(
            f"SELECT notification_id FROM {EVENTS} WHERE convert_from(state, 'UTF8') LIKE $1 AND notification_id > $2 "
            "ORDER BY notification_id LIMIT 1",
            f"%{text}%",
            after,
        )
        assert rows, f"no event holds {text!r}"
        return rows[0][0]


@contextlib.asynccontextmanager
async def register_log(sandbox: Sandbox, name: str = "register", pupils: int = 12) -> AsyncIterator[Log]:
    key = new_signing_key()
    settings = sandbox.settings("register", database_url=sandbox.database_url(name), anchor_signing_key=key)
    await ensure_database(settings.database_url)
    store = open_store(Register, settings.database_url, 2)
    nc = await nats.connect(nats_servers(as_operator(settings.nats_url)))
    js = nc.jetstream()
    await ensure_streams(
        js,
        settings.subject_prefix,
        settings.events_stream,
        settings.dead_letter_stream,
        duplicate_window_seconds=settings.duplicate_window_seconds,
    )
    pool = await create_pool(settings.database_url)
    signing = load_signing_key(key)
    anchoring = Anchoring(
        "register",
        EVENTS,
        signing,
        js,
        pool,
        FixedClock(SCHOOL_DAY),
        prefix=settings.subject_prefix,
        stream=settings.audit_stream,
        every_seconds=60,
        database_url=settings.database_url,
    )
    log = Log(settings, store.app, js, anchoring, load_public_keys(key))
    try:
        log.add_pupils(range(1, pupils + 1), "first.csv")
        yield log
    finally:
        await pool.close()
        await nc.close()
        store.close()


def only(found: Verification) -> tuple[str, int | None, str]:
    assert len(found.findings) == 1, found.lines()
    finding = found.findings[0]
    return finding.kind, finding.position, finding.says


async def test_a_log_nobody_touched_verifies_up_to_its_checkpoint(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        checkpoint = await log.anchoring.anchor_if_moved()
        assert checkpoint is not None
        head = log.app.max_notification_id()
        assert checkpoint.position == head and checkpoint.events == head
        assert await log.anchoring.anchor_if_moved() is None  # the head did not move: nothing published
        found = await log.verify()
        assert found.clean, found.lines()
        assert found.events == head and found.anchored == checkpoint
        assert found.summary().startswith(f"register: verified {head} events up to position {head}, anchored at ")


async def test_a_payload_updated_by_sql_is_found_at_its_position(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.anchoring.anchor_if_moved()
        position = await log.position_of_pupil(5)
        await log.alter(position)
        kind, at, says = only(await log.verify())
        assert (kind, at) == ("altered", position)
        assert says.startswith(f"position {position}: the event was altered after it was stored")


async def test_who_made_a_change_rewritten_by_sql_is_found_at_its_position(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.anchoring.anchor_if_moved()
        position = await log.position_holding(senco().user_id, after=3)
        await log.sql(
            f"UPDATE {EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'), $2, 'someone@else.org'), "
            "'UTF8') WHERE notification_id = $1",
            position,
            senco().user_id,
        )
        assert only(await log.verify())[:2] == ("altered", position)


async def test_a_deleted_event_is_found_at_its_position(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.anchoring.anchor_if_moved()
        await log.sql(f"DELETE FROM {EVENTS} WHERE notification_id = 7")
        kind, at, says = only(await log.verify())
        assert (kind, at, says) == ("deleted", 7, "position 7: the event stored here was deleted")


async def test_a_deleted_event_taken_with_its_chain_record_is_found_where_the_chain_breaks(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.anchoring.anchor_if_moved()
        await log.sql(f"DELETE FROM {EVENTS} WHERE notification_id = 7; DELETE FROM {CHAIN} WHERE notification_id = 7")
        found = await log.verify()
        kinds = {(f.kind, f.position) for f in found.findings}
        assert ("missing", 8) in kinds, found.lines()  # the link at 8 points to an event that is gone
        assert any("between positions 6 and 8" in f.says for f in found.findings)


async def test_an_inserted_event_is_found_at_its_position(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.anchoring.anchor_if_moved()
        rows = await log.sql(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state) "
            f"SELECT gen_random_uuid(), 1, topic, state FROM {EVENTS} WHERE notification_id = 3 "
            "RETURNING notification_id"
        )
        position = rows[0][0]
        kind, at, says = only(await log.verify())
        assert (kind, at) == ("inserted", position)
        assert "was never recorded in the chain" in says


async def test_two_swapped_events_are_found_at_both_positions(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.anchoring.anchor_if_moved()
        await log.sql(
            f"UPDATE {EVENTS} SET notification_id = -1 WHERE notification_id = 4; "
            f"UPDATE {EVENTS} SET notification_id = 4 WHERE notification_id = 9; "
            f"UPDATE {EVENTS} SET notification_id = 9 WHERE notification_id = -1"
        )
        kind, at, says = only(await log.verify())
        assert (kind, at) == ("reordered", 4)
        assert says.startswith("positions 4 and 9: the two events were swapped")


async def test_a_rewrite_with_a_recomputed_chain_is_caught_by_the_checkpoint(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        first = await log.anchoring.anchor_if_moved()
        log.add_pupils(range(100, 110), "second.csv")
        second = await log.anchoring.anchor_if_moved()
        assert first is not None and second is not None and first.position < second.position
        position = await log.position_of_pupil(105)
        # An attacker who knows the algorithm (it is public) alters the event and recomputes the chain after it.
        await log.alter(position)
        rows = await log.sql(
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
            "WHERE notification_id >= $1 ORDER BY notification_id",
            position,
        )
        previous = await log.sql(f"SELECT chain_hash FROM {CHAIN} WHERE notification_id = $1", position - 1)
        contents = [content_hash(r[1], r[2], r[3], bytes(r[4])) for r in rows]
        chain = links(bytes(previous[0][0]) if previous else GENESIS, [r[0] for r in rows], contents)
        conn = await asyncpg.connect(log.settings.database_url)
        try:
            await conn.executemany(
                f"UPDATE {CHAIN} SET content_hash = $2, chain_hash = $3 WHERE notification_id = $1",
                list(zip([r[0] for r in rows], contents, chain, strict=True)),
            )
        finally:
            await conn.close()
        kind, at, says = only(await log.verify())
        assert (kind, at) == ("rewritten", second.position)
        assert says.startswith(
            f"positions {first.position + 1} to {second.position}: the log and its chain were rewritten"
        )
        assert first.position < position <= second.position


async def test_a_log_cut_short_below_its_checkpoint_is_found(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        checkpoint = await log.anchoring.anchor_if_moved()
        assert checkpoint is not None
        cut = checkpoint.position - 3
        await log.sql(f"DELETE FROM {EVENTS} WHERE notification_id > $1", cut)
        await log.sql(f"DELETE FROM {CHAIN} WHERE notification_id > $1", cut)
        kind, at, says = only(await log.verify())
        assert (kind, at) == ("truncated", checkpoint.position)
        assert f"the log ends at position {cut}" in says


async def test_a_forged_checkpoint_is_reported(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        checkpoint = await log.anchoring.anchor_if_moved()
        assert checkpoint is not None
        forged = checkpoint.__class__(**{**checkpoint.__dict__, "events": checkpoint.events + 1, "stream_sequence": 0})
        await log.js.publish(
            f"{log.settings.subject_prefix}.audit.register.anchor", forged.to_json(), stream=log.settings.audit_stream
        )
        kind, at, says = only(await log.verify())
        assert (kind, at) == ("checkpoint", checkpoint.position)
        assert "is not a valid signature" in says


async def test_a_log_from_before_the_chain_gets_its_chain_begun_at_start(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.sql(f"DROP TABLE {CHAIN}")  # as a database from before this change
        store = open_store(Register, log.settings.database_url, 1)  # as the service starting on it
        store.close()
        rows = await log.sql(f"SELECT count(*) FROM {CHAIN}")
        assert rows[0][0] == log.app.max_notification_id()
        found = await log.verify()
        assert found.clean and found.anchored is None, found.lines()


async def test_the_chain_survives_group_commit_and_the_bulk_roll_import(sandbox: Sandbox) -> None:
    key = new_signing_key()
    settings = sandbox.settings("register", anchor_signing_key=key, anchor_seconds=0.2)
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            adds = [CommandEnvelope[AddToSenSupport](command=add_to_sen_support(n), actor=senco()) for n in range(60)]
            replies = await asyncio.gather(*(send_raw(client, e) for e in adds))
            assert all(isinstance(r, Accepted) for r in replies)
        assert runtime.commands.batches < 60  # saved together
        app = runtime.service.store.app
        report = await asyncio.to_thread(routed_import, app, SCHOOL, roll_csv(range(1000, 2500)), "big.csv")
        assert report.enrolled == 1500
        head = app.max_notification_id()

        async def anchored() -> Any:
            latest = await latest_checkpoint(
                runtime.nc.jetstream(), settings.audit_stream, settings.subject_prefix, "register"
            )
            return latest if latest is not None and latest.position == head else None

        await eventually(anchored, what="a checkpoint of the head")
        operator = await nats.connect(as_operator(settings.nats_url))  # verifying is an operator's (sendcase audit)
        try:
            found = await verify_service(settings, operator.jetstream(), load_public_keys(key))
        finally:
            await operator.close()
        assert found.clean, found.lines()
        assert found.events == head and found.anchored is not None and found.anchored.position == head


async def test_a_service_refuses_to_start_on_a_tampered_tail_unless_told_to_warn(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        await log.anchoring.anchor_if_moved()
        position = await log.position_of_pupil(3)
        await log.alter(position)
        with pytest.raises(ChainTampered) as refused:
            async with running_service(register_bootstrap, log.settings, FixedClock(SCHOOL_DAY)):
                pass
        assert f"position {position}: the event was altered" in str(refused.value)
        assert "sendcase audit verify --service register" in str(refused.value)
        warn = log.settings.model_copy(update={"chain_tampering_at_start": "warn"})
        async with running_service(register_bootstrap, warn, FixedClock(SCHOOL_DAY)) as runtime:
            assert runtime.started_at is not None


async def test_a_service_refuses_to_start_on_a_log_cut_short_below_its_checkpoint(sandbox: Sandbox) -> None:
    async with register_log(sandbox) as log:
        checkpoint = await log.anchoring.anchor_if_moved()
        assert checkpoint is not None
        await log.sql(f"DELETE FROM {EVENTS} WHERE notification_id > $1", checkpoint.position - 2)
        await log.sql(f"DELETE FROM {CHAIN} WHERE notification_id > $1", checkpoint.position - 2)
        with pytest.raises(ChainTampered) as refused:
            async with running_service(register_bootstrap, log.settings, FixedClock(SCHOOL_DAY)):
                pass
        assert f"the log ends at position {checkpoint.position - 2}" in str(refused.value)
