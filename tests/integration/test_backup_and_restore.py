"""Backup and restore, end to end: the register and notifications are backed up (pg_dump), write more, are
restored from the backups, recovered (`sendcase recover`), and write more again.

Then: every fact the register stored after the restore is on the stream exactly once (none dropped as a
duplicate of a lost fact's id); the facts lost with the restore are the ones recover reported, exactly; and
notifications owes every duty of every register fact on the stream exactly once (what its restore lost is
applied again by the replay, nothing twice)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg
import nats
import pytest

from contracts.envelope import Accepted
from contracts.notifications import CouldNotNotify, NotificationDelivered, NotificationOwed
from contracts.register import PeopleToTellRecorded, PupilAddedToSenSupport, RecordPeopleWithParentalResponsibility
from infra.stack.scratch import external_servers
from infra.stack.servers import postgres_bin
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.database import PositionStore, create_pool
from services.runtime.errors import NotFound
from services.runtime.logfollower import LogFollower
from services.runtime.outbox import OutboxRelay, StreamAheadOfEventStore
from services.runtime.recovery import Recovery, recover_service
from services.runtime.service import Bootstrap, ServiceRuntime
from services.runtime.settings import ServiceSettings
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.notifications import delivery_settings, notifications_service, outbox_files, rows
from tests.support.register_events import father, mother
from tests.support.stack import Sandbox, as_operator, eventually, running_service, stream_messages

ADDED, PEOPLE = PupilAddedToSenSupport.TYPE, PeopleToTellRecorded.TYPE
OWED = NotificationOwed.TYPE
CONSUMER = "notifications-owe-notifications"


def postgres_tool(name: str) -> str:
    """pg_dump / pg_restore of the same version as the server: the embedded stack's own, or (against external
    servers) the first on PATH, when there is one."""
    if external_servers() is None:
        return str(postgres_bin() / name)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"SENDCASE_TEST_POSTGRES_URL names an external server and there is no {name} on PATH")
    return found


def backup(database_url: str, file: Path) -> None:
    subprocess.run(
        [postgres_tool("pg_dump"), "--format=custom", f"--file={file}", f"--dbname={database_url}"],
        check=True,
        capture_output=True,
    )


async def restore(database_url: str, file: Path) -> None:
    """As an operator restores a lost database: drop it, create it empty, pg_restore the backup into it."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(
        subprocess.run,
        [postgres_tool("pg_restore"), "--exit-on-error", f"--dbname={database_url}", str(file)],
        check=True,
        capture_output=True,
    )


async def write(client: Client, serials: range) -> None:
    """Each pupil added to SEN support, then its parents recorded: two register facts on the stream, and in
    notifications a duty that could not be met, then met (an email to the mother, a letter to the father)."""
    for n in serials:
        assert isinstance(await client.command(add_to_sen_support(n)), Accepted)
        people = RecordPeopleWithParentalResponsibility(upn=upn(n), people=[mother(n), father(n)])
        assert isinstance(await client.command(people), Accepted)


async def owed_settled(notes: ServiceRuntime, pupils: int) -> list[dict]:
    async def done():
        found = await rows(notes)
        settled = len(found) == 3 * pupils and all(r["status"] in ("delivered", "told_later") for r in found)
        return found if settled else None

    return await eventually(done, timeout=30, what=f"{pupils} pupils' notifications owed and delivered")


async def relayed(*runtimes: ServiceRuntime) -> None:
    for runtime in runtimes:
        store = runtime.service.store

        async def caught_up(runtime=runtime, store=store) -> bool:
            assert runtime.relay is not None
            return runtime.relay.position >= await store.call(None, store.app.max_notification_id)

        await eventually(caught_up, what=f"{runtime.service.name}'s relay caught up")


async def published(settings: ServiceSettings, service: str) -> dict[int, str]:
    """This service's messages on the stream: notification id -> type (and no id twice)."""
    found: list[tuple[int, str]] = []
    for msg in await stream_messages(as_operator(settings.nats_url), settings.events_stream):
        producer, _, number = msg.headers["Nats-Msg-Id"].partition(":")
        if producer == service:
            found.append((int(number), msg.headers["Sendcase-Type"]))
    assert len({n for n, _ in found}) == len(found), "an id published twice"
    return dict(found)


async def pupils_on_stream(settings: ServiceSettings) -> Counter:
    """(type, pupil id) of each register fact on the stream, counted."""
    counted: Counter = Counter()
    for msg in await stream_messages(as_operator(settings.nats_url), settings.events_stream):
        if msg.headers["Nats-Msg-Id"].startswith("register:"):
            counted[(msg.headers["Sendcase-Type"], json.loads(msg.data)["subject"]["pupil_id"])] += 1
    return counted


async def relay_start(bootstrap: Bootstrap, settings: ServiceSettings) -> int | Exception:
    """Where the service's relay would resume, or why it refuses to."""
    service = bootstrap(settings, FixedClock(SCHOOL_DAY))
    pool = await create_pool(settings.database_url or "")
    nc = await nats.connect(as_operator(settings.nats_url))
    follower = LogFollower(service.store, settings.database_url or "", poll_seconds=1, batch_size=10)
    relay = OutboxRelay(
        service.name,
        follower,
        service.translate,
        nc.jetstream(),
        PositionStore(pool),
        prefix=settings.subject_prefix,
        stream=settings.events_stream,
    )
    try:
        return await relay.resume_position()
    except StreamAheadOfEventStore as e:
        return e
    finally:
        await follower.close()
        await nc.close()
        await pool.close()
        service.store.close()


async def max_id(settings: ServiceSettings, service: str) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {service}_events")
    finally:
        await conn.close()


async def recover(bootstrap: Bootstrap, settings: ServiceSettings, reports: Path, dry_run: bool = False) -> Recovery:
    # as `sendcase recover` does it: the service's settings, NATS as the operator (it resets the consumers)
    settings = settings.model_copy(update={"nats_url": as_operator(settings.nats_url)})
    return await recover_service(bootstrap, settings, FixedClock(SCHOOL_DAY), report_dir=reports, dry_run=dry_run)


async def test_back_up_write_more_restore_recover_write_more_and_count(sandbox: Sandbox, tmp_path: Path) -> None:
    reg, notes_settings = sandbox.settings("register"), sandbox.settings("notifications")
    delivery = delivery_settings(tmp_path / "outbox")
    dumps, reports = tmp_path / "backups", tmp_path / "reports"
    dumps.mkdir()
    clock = FixedClock(SCHOOL_DAY)

    # 1. Pupils 1-3, then the nightly backup of both databases (taken live), then pupils 4-6.
    async with running_service(register_bootstrap, reg, clock) as register:
        async with notifications_service(notes_settings, delivery) as notes:
            async with Client(as_operator(reg.nats_url), reg.subject_prefix, senco()) as client:
                await write(client, range(1, 4))
                await owed_settled(notes, 3)
                await relayed(register, notes)
                backup(reg.database_url or "", dumps / "register.dump")
                backup(notes_settings.database_url or "", dumps / "notifications.dump")
                backed_up = {
                    "register": await max_id(reg, "register"),
                    "notifications": await max_id(notes_settings, "notifications"),
                }
                await write(client, range(4, 7))
                await owed_settled(notes, 6)
                await relayed(register, notes)
    register_before = await published(reg, "register")
    notifications_before = await published(reg, "notifications")
    register_head, notifications_head = max(register_before), max(notifications_before)

    # 2. Both databases lost; restored from the backups.
    await restore(reg.database_url or "", dumps / "register.dump")
    await restore(notes_settings.database_url or "", dumps / "notifications.dump")
    assert await max_id(reg, "register") == backed_up["register"] < register_head
    refused = await relay_start(register_bootstrap, reg)
    assert isinstance(refused, StreamAheadOfEventStore) and "sendcase recover register" in str(refused)

    # 3. The recovery. A dry run says what it would do and changes nothing.
    dry = await recover(register_bootstrap, reg, reports, dry_run=True)
    assert len(dry.lost) == 6 and dry.report_file is None and not reports.exists()
    assert isinstance(await relay_start(register_bootstrap, reg), StreamAheadOfEventStore)
    recovered = {
        "register": await recover(register_bootstrap, reg, reports),
        "notifications": await recover(notifications_bootstrap, notes_settings, reports),
    }
    for service, before in (("register", register_before), ("notifications", notifications_before)):
        found = recovered[service]
        lost = {n: t for n, t in before.items() if n > backed_up[service]}
        assert {f.notification_id: f.type for f in found.lost} == lost  # the lost facts, exactly
        assert found.database_max == backed_up[service] and found.stream_head == max(before)
        assert found.next_id_after == max(before) + 1 and found.relay_after == max(before)
        assert found.report_file is not None and stat.S_IMODE(os.stat(found.report_file).st_mode) == 0o600
        listed = json.loads(found.report_file.read_text())
        assert [f["notification_id"] for f in listed["lost"]] == sorted(lost)
    register_lost = recovered["register"]
    assert register_lost.lost_types == {ADDED: 3, PEOPLE: 3}
    listed = json.loads(register_lost.report_file.read_text())  # type: ignore[union-attr]
    assert {f["event"]["subject"]["pupil_id"] for f in listed["lost"]} == {pupil(4), pupil(5), pupil(6)}
    # the report is for a person to reconcile: what was sealed on the stream is opened in it (and only in it)
    added = [f["event"]["payload"] for f in listed["lost"] if f["type"] == ADDED]
    assert sorted(p["upn"] for p in added) == sorted(upn(n) for n in (4, 5, 6)) and "_sealed" not in str(added)
    assert all("_sealed" in json.dumps(f.event) for f in register_lost.lost if f.type == ADDED)
    # notifications' own facts of pupils 4-6: for each, a duty not met, then owed to and delivered to two parents
    assert recovered["notifications"].lost_types == {CouldNotNotify.TYPE: 3, NotificationDelivered.TYPE: 6, OWED: 9}
    assert recovered["register"].consumers_reset == {"register-ehc-plans": 0, "register-erase-keys": 0}
    assert recovered["notifications"].consumers_reset == {CONSUMER: 12}  # every register fact, from the start
    assert await relay_start(register_bootstrap, reg) == register_head

    # Run again: harmless, and it says the same.
    again = await recover(register_bootstrap, reg, reports)
    assert again.lost == register_lost.lost and again.next_id_before == again.next_id_after == register_head + 1
    assert again.relay_before == again.relay_after == register_head

    # 4. Started again: the consumers replay, pupils 7-9 are written.
    async with running_service(register_bootstrap, reg, clock) as register:
        async with notifications_service(notes_settings, delivery) as notes:
            async with Client(as_operator(reg.nats_url), reg.subject_prefix, senco()) as client:
                await write(client, range(7, 10))
                found = await owed_settled(notes, 9)
                await relayed(register, notes)
                consumer = notes.consumers[0]
                await eventually(lambda: _handled(consumer, 6 + 12), what="the replay and the new facts handled")
                replay = {"applied": consumer.applied, "skipped": consumer.duplicates}
                assert register.relay is not None and register.relay.published == 6
                sends = notes.service.worker("delivery").sends
                with pytest.raises(NotFound):
                    register.service.store.app.pupil(upn(4))  # lost with the restore: not in the register

    # The register: everything after the restore stored and published once, under new ids past the old head.
    register_after = await published(reg, "register")
    new = {n: t for n, t in register_after.items() if n not in register_before}
    assert len(new) == 6 and min(new) > register_head and Counter(new.values()) == {ADDED: 3, PEOPLE: 3}
    on_stream = await pupils_on_stream(reg)
    for n in range(1, 10):
        assert on_stream[(ADDED, pupil(n))] == 1 and on_stream[(PEOPLE, pupil(n))] == 1, n

    # Notifications: every duty of every register fact on the stream owed once, and met once.
    assert replay == {"applied": 12, "skipped": 6}  # pupils 4-6 re-applied, 7-9 new; 1-3 kept, skipped
    per_pupil = Counter(r["pupil_id"] for r in found)
    assert sorted(per_pupil.values()) == [3] * 9
    assert {UUID(pupil(n)) for n in range(1, 10)} == set(per_pupil)
    keys = [(r["pupil_id"], r["duty"], r["recipient_name"], r["status"]) for r in found]
    assert len(set(keys)) == len(keys) == 27
    assert Counter(r["status"] for r in found) == {"delivered": 18, "told_later": 9}
    conn = await asyncpg.connect(notes_settings.database_url)
    try:
        tracked = await conn.fetch(
            "SELECT notification_id FROM notifications_tracking WHERE application_name = 'register'"
        )
    finally:
        await conn.close()
    assert sorted(r["notification_id"] for r in tracked) == sorted(register_after)  # each register fact, once
    # The messages delivered after the backup are not sent again (the stream says they were): only pupils 7-9's.
    assert sends == 6 and len(outbox_files(tmp_path / "outbox")) == 18
    outbox = str(tmp_path / "outbox")
    evidence = Counter(
        (r["pupil_id"], "stream" if r["provider_reference"].startswith("notifications:") else "outbox")
        for r in found
        if r["status"] == "delivered" and (r["provider_reference"] or "").startswith(("notifications:", outbox))
    )
    assert evidence == {  # the stream's message id as evidence for pupils 4-6, the outbox file for the others
        **{(UUID(pupil(n)), "stream"): 2 for n in (4, 5, 6)},
        **{(UUID(pupil(n)), "outbox"): 2 for n in (1, 2, 3, 7, 8, 9)},
    }
    print("\n" + "\n".join(register_lost.lines() + recovered["notifications"].lines()))
    print(  # the figures, for the record (pytest -s)
        f"\nregister: backed up at id {backed_up['register']}, stream head {register_head}, lost "
        f"{len(register_lost.lost)} {register_lost.lost_types}; after the restore {len(new)} new facts published, "
        f"ids {min(new)}-{max(new)}"
        f"\nnotifications: backed up at id {backed_up['notifications']}, stream head {notifications_head}, lost "
        f"{len(recovered['notifications'].lost)} {recovered['notifications'].lost_types}; replay {replay}; "
        f"{len(found)} notifications for 9 pupils; {sends} sends after the restore"
    )


def pupil(serial: int) -> str:
    return str(Pupil.create_id(upn(serial)))


async def _handled(consumer, count: int) -> bool:
    return consumer.applied + consumer.duplicates >= count


def sendcase(sandbox: Sandbox, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=sandbox.env(
            "register",
            PYTHONPATH=str(Path(__file__).resolve().parents[2]),  # this checkout's code
            SENDCASE_OPERATOR_NATS_URL=sandbox.servers.nats_url,
        ),
        cwd=cwd,  # where a report would be written
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_recover_command_refuses_while_the_service_runs_and_says_what_it_did(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            assert isinstance(await client.command(add_to_sen_support(1)), Accepted)
        await relayed(register)
        running = await asyncio.to_thread(sendcase, sandbox, "recover", "register", cwd=tmp_path)
    assert running.returncode == 1 and "the register service is running" in running.stderr, running
    assert "Traceback" not in running.stderr

    dry = await asyncio.to_thread(sendcase, sandbox, "recover", "register", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "Nothing lost" in dry.stdout and "Dry run: nothing was changed." in dry.stdout
    assert "Consumer register-ehc-plans would replay" in dry.stdout

    done = await asyncio.to_thread(sendcase, sandbox, "--json", "recover", "register", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["lost_count"] == 0 and summary["stream_head"] == 2 and summary["database_max"] == 2
    assert summary["next_id_after"] == 3 and summary["consumers_reset"] == {
        "register-ehc-plans": 0,
        "register-erase-keys": 0,
    }
    assert list(tmp_path.glob("recovery-*.json")) == []  # nothing lost, no list to write
    unknown = await asyncio.to_thread(sendcase, sandbox, "recover", "nosuch", cwd=tmp_path)
    assert unknown.returncode == 2 and "no service called 'nosuch'" in unknown.stderr
