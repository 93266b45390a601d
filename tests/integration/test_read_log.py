"""Who looked at a child's record, and an auditor who changes nothing, on real PostgreSQL and NATS (docs/security.md,
"Inside the services").

The runtime, the same for every service: a command from an auditor is refused in every service before any of its
code runs, and nothing is stored; every read of a child's record by a person (an auditor's, a SENCO's, a
caseworker's) is recorded in the service's read log before the answer goes, reads answered together are written
together, a service's own policy's reads are not recorded, a read that cannot be recorded is not answered; the log
answers "who looked at this child" only to the LA's auditors, managers and data officer; its chain and signed
checkpoints show a row altered or deleted afterwards.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats

from contracts.envelope import Actor, Role
from contracts.notifications import CancelNotification, NotificationsForPupil, NotificationsReads
from contracts.register import GetPupil, NoteConcern, RegisterReads, SchoolRegister
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.anchors import latest_checkpoint, load_public_keys
from services.runtime.audit import verify_read_log_of
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.read_log import TABLE
from tests.conftest import SCHOOL_DAY
from tests.integration.test_tamper_evident_history import new_signing_key
from tests.support.factories import SCHOOL, add_to_sen_support, auditor, caseworker, senco, upn
from tests.support.notifications import delivery_settings, notifications_service
from tests.support.stack import Sandbox, as_operator, eventually, running_service

MANAGER = Actor(user_id="manager@la.gov.uk", role=Role.LA_MANAGER, organisation="la:840")


async def test_an_auditor_is_refused_every_command_in_every_service_and_nothing_is_stored(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = sandbox.settings("register")
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register,
        notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path)) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
        Client(as_operator(settings.nats_url), settings.subject_prefix, auditor()) as them,
    ):
        assert (await school.command(add_to_sen_support(5101))).outcome == "accepted"
        assert register.pool is not None and notes.pool is not None
        before = await register.pool.fetchval("SELECT count(*) FROM register_events")
        commands: list[Any] = [
            NoteConcern(upn=upn(5101), note="an auditor's note", noted_on=SCHOOL_DAY.date()),
            add_to_sen_support(5102),
            CancelNotification(notification_id=uuid4(), reason="an auditor tried to cancel this"),
        ]
        for command in commands:
            refused = await them.command(command)
            assert refused.outcome == "rejected" and refused.code == "not_authorised", refused
            assert refused.rule == "auditors_change_nothing" and "changes nothing" in refused.message
        assert await register.pool.fetchval("SELECT count(*) FROM register_events") == before
        assert await notes.pool.fetchval("SELECT count(*) FROM notifications_events WHERE topic LIKE '%Cancelled'") == 0
        # and reads everything
        assert (await them.query(GetPupil(upn=upn(5101)))).outcome == "answered"


async def test_every_read_of_a_childs_record_by_a_person_is_recorded_before_it_is_answered(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    key = new_signing_key()
    settings = sandbox.settings("register", anchor_signing_key=key, anchor_seconds=0.2)
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register,
        notifications_service(
            sandbox.settings("notifications", anchor_signing_key=key), delivery_settings(tmp_path)
        ) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
        Client(as_operator(settings.nats_url), settings.subject_prefix, auditor()) as them,
    ):
        added = await school.command(add_to_sen_support(5201))
        other = await school.command(add_to_sen_support(5202))
        pupil_id, other_id = added.result.pupil_id, other.result.pupil_id
        assert (await them.query(GetPupil(upn=upn(5201)))).outcome == "answered"  # the auditor's view
        assert (await school.query(GetPupil(upn=upn(5201)))).outcome == "answered"  # the SENCO's
        page = await school.query(SchoolRegister(school_urn=SCHOOL))  # every pupil on it is read
        assert {pupil_id, other_id} <= {e.pupil_id for e in page.result.entries}
        assert (await school.query(NotificationsForPupil(pupil_id=pupil_id), caseworker())).outcome == "answered"
        # a service's own policy reading (role system) is not a person's read
        assert (await school.query(GetPupil(upn=upn(5201)), Actor.service("ehcp"))).outcome == "answered"

        # who looked at the child: the LA's auditor (or a manager, or the data officer) asks each service
        reads = await them.query(RegisterReads(pupil_id=pupil_id))
        assert reads.outcome == "answered", reads
        seen = [(r.user_id, r.role, r.organisation, r.query, r.outcome) for r in reads.result.reads]
        assert seen == [
            ("auditor@la.gov.uk", "auditor", "la:840", "register.pupil", "read"),
            (f"senco@{SCHOOL}.sch.uk", "senco", f"school:{SCHOOL}", "register.pupil", "read"),
            (f"senco@{SCHOOL}.sch.uk", "senco", f"school:{SCHOOL}", "register.school_register", "read"),
        ]
        first = reads.result.reads[0]
        assert first.read_at == SCHOOL_DAY and first.correlation_id is not None
        told = await them.query(NotificationsReads(pupil_id=pupil_id), MANAGER)
        assert [(r.user_id, r.query) for r in told.result.reads] == [
            ("caseworker@la.gov.uk", "notifications.for_pupil")
        ]
        # nobody else may ask; the refusal is itself a look at the child, recorded as refused
        for who in (senco(), caseworker()):
            refused = await school.query(RegisterReads(pupil_id=pupil_id), who)
            assert refused.outcome == "rejected" and refused.code == "not_authorised", refused
        again = await them.query(RegisterReads(pupil_id=pupil_id))
        assert [(r.query, r.outcome) for r in again.result.reads[-3:]] == [
            ("register.reads", "read"),
            ("register.reads", "refused"),
            ("register.reads", "refused"),
        ]
        paged = [p async for p in them.pages(RegisterReads(pupil_id=pupil_id, page_size=2))]
        assert [r.position for p in paged for r in p.result.reads][:4] == [r.position for r in again.result.reads][:4]

        # reads answered together are written together
        assert register.read_log is not None
        batches, recorded = register.read_log.batches, register.read_log.recorded
        replies = await asyncio.gather(*(them.query(GetPupil(upn=upn(5202))) for _ in range(40)))
        assert all(r.outcome == "answered" for r in replies)
        assert register.read_log.recorded - recorded == 40 and register.read_log.batches - batches < 40

        # tamper-evident: the chain and its signed checkpoints verify, and show a row altered or deleted
        assert register.pool is not None
        head = await register.pool.fetchval(f"SELECT max(position) FROM {TABLE}")
        operator = await nats.connect(as_operator(settings.nats_url))  # verifying is an operator's (sendcase audit)
        js = operator.jetstream()

        async def anchored() -> Any:
            latest = await latest_checkpoint(js, settings.audit_stream, settings.subject_prefix, "register", "reads")
            return latest if latest is not None and latest.position >= head else None

        await eventually(anchored, what="a checkpoint of the read log's head")
        keys = load_public_keys(key)
        clean = await verify_read_log_of(settings, js, keys)
        assert clean.clean and clean.events >= head and clean.anchored is not None, clean.lines()
        assert "verified" in clean.summary() and "reads" in clean.summary()
        await register.pool.execute(f"UPDATE {TABLE} SET user_id = 'someone.else@la.gov.uk' WHERE position = 1")
        await register.pool.execute(f"DELETE FROM {TABLE} WHERE position = 3")
        found = await verify_read_log_of(settings, js, keys)
        kinds = {(f.kind, f.position) for f in found.findings}
        assert ("altered", 1) in kinds and ("deleted", 3) in kinds, found.lines()

        # a read that cannot be recorded is not answered
        await register.pool.execute(f"ALTER TABLE {TABLE} RENAME TO read_log_away")
        try:
            failed = await them.query(GetPupil(upn=upn(5201)))
            assert failed.outcome == "rejected" and failed.code == "internal_error", failed
        finally:
            await register.pool.execute(f"ALTER TABLE read_log_away RENAME TO {TABLE}")
            await operator.close()
        assert notes is not None
