"""The notifications read model is rebuilt from zero with identical rows."""

import asyncio

import nats

from contracts.envelope import Answered
from contracts.notifications import NotificationsForPupil
from services.runtime.client import Client
from tests.support.factories import caseworker, senco, teacher
from tests.support.notifications import (
    delivery_settings,
    notifications_service,
    outbox_files,
    worker,
)
from tests.support.register_events import mother, publish, pupil_added
from tests.support.replies import json_result
from tests.support.stack import Sandbox, as_operator, eventually


async def test_notifications_view_rebuilds_identically_and_answers_queries(sandbox: Sandbox, tmp_path) -> None:
    settings = sandbox.settings("notifications")
    async with notifications_service(settings, delivery_settings(tmp_path / "outbox")) as runtime:
        nc = await nats.connect(as_operator(settings.nats_url))
        js = nc.jetstream()
        for seq in range(1, 31):
            await publish(js, settings.subject_prefix, pupil_added(seq, [mother(seq)]))
        await nc.close()
        pool = runtime.pool

        async def rows():
            found = await pool.fetch("SELECT * FROM notifications_by_pupil ORDER BY notification_id")
            return found if len(found) == 30 and all(r["status"] == "delivered" for r in found) else None

        before = [dict(r) for r in await eventually(rows, what="30 notifications delivered in the view")]
        sends = worker(runtime).sends
        [runner] = runtime.projections
        await runner.rebuild()  # the view replays from "owed": the worker must not take that as "send again"
        after = [dict(r) for r in await eventually(rows, what="the rebuilt view")]
        assert after == before
        await asyncio.sleep(1.0)
        assert worker(runtime).sends == sends == 30 and len(outbox_files(tmp_path / "outbox")) == 30

        async with Client(as_operator(settings.nats_url), settings.subject_prefix, caseworker()) as client:
            pupil_id = pupil_added(7).subject.pupil_id
            answer = await client.query(NotificationsForPupil(pupil_id=pupil_id))
            assert isinstance(answer, Answered)
            [notification] = json_result(answer)
            assert notification["recipients"] == "Alex Taylor7 (mother)" and notification["status"] == "delivered"
            assert (await client.query(NotificationsForPupil(pupil_id=pupil_id), actor=senco("999999"))).result == []
            refused = await client.query(NotificationsForPupil(pupil_id=pupil_id), actor=teacher())
            assert refused.outcome == "rejected" and refused.code == "not_authorised"
