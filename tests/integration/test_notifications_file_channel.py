"""Notifications through the local file outbox, against real PostgreSQL and NATS: one message per person
per duty, no second message under redelivery or a restart mid-send, and the queries a SENCO, caseworker
and auditor use."""

import asyncio
import hashlib
import json

import nats
import pytest

from contracts.ehcp import DraftEhcPlanIssued
from contracts.envelope import Accepted, Answered, Rejected, derived_id
from contracts.notifications import (
    CancelNotification,
    FailedToReach,
    NotificationCounts,
    NotificationsForCase,
    NotificationsForPupil,
    RequestProfessionalNotice,
    UndeliveredNotifications,
)
from contracts.people import Channel, ContactPoint, PersonToTell
from contracts.subjects import event_subject
from services.notifications.adapters.channels import FileOutbox
from services.runtime.client import Client
from services.runtime.documents import pdf_text_lines
from tests.conftest import SCHOOL_DAY
from tests.support.factories import caseworker, senco, teacher
from tests.support.notifications import (
    delivery_settings,
    notifications_service,
    outbox_files,
    rows,
    settled,
    worker,
)
from tests.support.register_events import father, mother, publish, pupil_added, wrap
from tests.support.replies import json_result
from tests.support.stack import Sandbox, as_operator, eventually


async def publish_again(js, prefix, envelope) -> None:
    """The same event re-published outside the stream's duplicate window (a new Nats-Msg-Id)."""
    await js.publish(
        event_subject(prefix, envelope.type),
        envelope.model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"{envelope.producer}:{envelope.sequence}:again"},
    )


async def test_each_person_with_parental_responsibility_gets_one_message_even_when_the_event_comes_twice(
    sandbox: Sandbox, tmp_path
) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    event = pupil_added(1, [mother(1), father(1)])
    async with notifications_service(settings, delivery_settings(outbox)) as runtime:
        nc = await nats.connect(as_operator(settings.nats_url))
        js = nc.jetstream()
        await publish(js, settings.subject_prefix, event)
        await publish_again(js, settings.subject_prefix, event)
        await nc.close()
        found = await settled(runtime, event.subject.pupil_id, 2)
        await asyncio.sleep(1.0)  # time for any second effect to show
        assert len(await rows(runtime)) == 2 and worker(runtime).sends == 2

        [email] = [f for f in outbox_files(outbox) if f.name.endswith(".email.txt")]
        [letter] = [f for f in outbox_files(outbox) if f.name.endswith(".letter.pdf")]
        assert len(outbox_files(outbox)) == 2 and email.parent.name == str(event.subject.pupil_id)
        assert [r["status"] for r in found] == ["delivered", "delivered"]
        text = email.read_text()
        by_name = {r["recipient_name"]: r for r in found}
        mum = by_name["Alex Taylor1"]
        assert email.name == f"{mum['notification_id']}.email.txt"
        assert "To: Alex Taylor1 <alex.taylor1@example.org>" in text and "Dear Alex Taylor1," in text
        assert f"Content-SHA256: {mum['content_hash']}" in text
        written = runtime.service.store.app.notification(mum["notification_id"]).content  # as stored
        parts = ("subject", "body", "sms", "letter", "letter_html")
        canonical = json.dumps({k: written[k] for k in parts}, sort_keys=True, ensure_ascii=False)
        assert hashlib.sha256(canonical.encode()).hexdigest() == mum["content_hash"]  # an auditor can check it
        assert written["body"] == mum["body"] and written["letter"] == mum["letter"]
        pdf = letter.read_bytes()
        printed = pdf_text_lines(pdf)
        # the complete letter as stored (letter_html): the letterhead, then the address in the window, then the date
        # and the reference in the contact block
        assert pdf.startswith(b"%PDF") and printed[:4] == [
            "Elm Tree Primary School",
            "Jordan Reed1",
            "4 Elvet Bridge",
            "Flat 2",
        ]
        jordan = runtime.service.store.app.notification(by_name["Jordan Reed1"]["notification_id"]).content
        assert f"Our reference: {jordan['reference']}" in printed and "Dear Jordan Reed1," in printed
        assert f"Date: {jordan['dated_on']:%-d %B %Y}" in printed
        assert letter.name == f"{by_name['Jordan Reed1']['notification_id']}.letter.pdf"
        # the exact bytes of the letter are recorded with the send: an auditor can check the file
        [sent] = [h for h in json.loads(by_name["Jordan Reed1"]["history"]) if h["what"] == "sent"]
        assert f"file sha256 {hashlib.sha256(pdf).hexdigest()}" in sent["detail"]


class StopsMidSend(FileOutbox):
    """The process dies during the send: before anything is written, or after the file is written but
    before the send is recorded."""

    def __init__(self, folder, write_first: bool) -> None:
        super().__init__(folder)
        self.write_first = write_first

    async def send(self, message):
        if self.write_first:
            await super().send(message)
        await asyncio.Event().wait()  # never returns: the service is stopped here


@pytest.mark.parametrize("written_before_the_crash", [True, False], ids=["file-written", "nothing-written"])
async def test_a_restart_mid_send_reconciles_instead_of_sending_twice(
    sandbox: Sandbox, tmp_path, written_before_the_crash: bool
) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    delivery = delivery_settings(outbox)
    event = pupil_added(2, [mother(2)])

    def crashing(service):
        service.worker("delivery").transports = {
            c: StopsMidSend(outbox, written_before_the_crash) for c in ("email", "sms", "letter")
        }

    async with notifications_service(settings, delivery, crashing) as runtime:
        nc = await nats.connect(as_operator(settings.nats_url))
        await publish(nc.jetstream(), settings.subject_prefix, event)
        await nc.close()
        await settled(runtime, event.subject.pupil_id, 1, statuses=("sending",))
    assert len(outbox_files(outbox)) == (1 if written_before_the_crash else 0)
    written = outbox_files(outbox)[0].stat().st_mtime_ns if written_before_the_crash else None

    async with notifications_service(settings, delivery) as runtime:
        [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("delivered",))
        [file] = outbox_files(outbox)
        last = row["history"] and json.loads(row["history"])[-2]
        if written_before_the_crash:
            assert worker(runtime).sends == 0  # found, not resent
            assert file.stat().st_mtime_ns == written
            assert "found already in the outbox after a restart" in last["detail"]
        else:
            assert worker(runtime).sends == 1
            assert "after an interrupted attempt" in last["detail"]
        assert [h["what"] for h in json.loads(row["history"])].count("sending") == 1


async def test_queries_show_what_was_sent_what_did_not_arrive_and_counts(sandbox: Sandbox, tmp_path) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    nobody = pupil_added(3)  # the register named nobody: a visible fact, not a silent drop
    no_details = pupil_added(4, [mother(4, email=None, mobile=None, postal_address=None)])
    reached = pupil_added(5, [mother(5)])
    case_id = derived_id("case", 1)
    draft = wrap(
        DraftEhcPlanIssued(
            case_id=case_id,
            pupil_id=reached.subject.pupil_id,
            upn=reached.payload["upn"],
            school_urn="123456",
            child_name="Sam Taylor5",
            people_to_tell=[mother(5)],
            issued_on=SCHOOL_DAY.date(),
            respond_by=SCHOOL_DAY.date().replace(day=8, month=12),
            final_plan_due_by=SCHOOL_DAY.date().replace(year=2027, month=1, day=20),
            contact=ContactPoint(name="SEND Casework Team", phone="03000 267 267"),
        ),
        "ehcp",
        1,
        reached.subject.pupil_id,
        "123456",
        case_id,
    )
    other_school = pupil_added(6, [mother(6)]).model_copy(
        update={"payload": {**pupil_added(6, [mother(6)]).payload, "school_urn": "654321"}}
    )
    async with notifications_service(settings, delivery_settings(outbox)) as runtime:
        nc = await nats.connect(as_operator(settings.nats_url))
        js = nc.jetstream()
        for e in (nobody, no_details, reached, draft, other_school):
            await publish(js, settings.subject_prefix, e)
        await nc.close()

        async def all_settled():
            found = await rows(runtime)
            return (
                found if len(found) == 5 and all(r["status"] in ("delivered", "cannot_notify") for r in found) else None
            )

        await eventually(all_settled, what="five notifications settled")

        async with Client(as_operator(settings.nats_url), settings.subject_prefix, caseworker()) as client:
            answer = await client.query(NotificationsForPupil(pupil_id=reached.subject.pupil_id))
            assert isinstance(answer, Answered)
            assert [(n["duty"], n["status"]) for n in json_result(answer)] == [
                ("sen_provision_started", "delivered"),
                ("ehc_draft_plan", "delivered"),
            ]
            assert "reply by Tuesday 8 December 2026" in json_result(answer)[1]["subject"]
            assert [h["what"] for h in json_result(answer)[1]["history"]] == [
                "owed",
                "rendered",
                "sending",
                "sent",
                "delivered",
            ]

            [for_case] = json_result(await client.query(NotificationsForCase(case_id=case_id)))
            assert "You have until Tuesday 8 December 2026 (15 days)" in for_case["body"]

            failed = json_result(await client.query(FailedToReach()))["notifications"]
            assert sorted(n["reason"].split(":")[0] for n in failed) == [
                "Cannot notify",
                "No usable contact detail for Alex Taylor4 (mother)",
            ]
            undelivered = json_result(await client.query(UndeliveredNotifications(school_urn="123456")))[
                "notifications"
            ]
            assert {n["pupil_id"] for n in undelivered} == {
                str(nobody.subject.pupil_id),
                str(no_details.subject.pupil_id),
            }

            la = json_result(await client.query(NotificationCounts()))
            assert la["total"] == 5 and la["by_status"] == {"delivered": 3, "cannot_notify": 2}
            school = json_result(await client.query(NotificationCounts(school_urn="654321")))
            assert school["total"] == 1 and school["by_duty"] == {"sen_provision_started": {"delivered": 1}}

            # School staff see their own school only, and a teacher is refused.
            own = json_result(await client.query(NotificationCounts(), actor=senco("654321")))
            assert own["school_urn"] == "654321" and own["total"] == 1
            refused = await client.query(FailedToReach(school_urn="123456"), actor=senco("654321"))
            assert isinstance(refused, Rejected) and refused.code == "not_authorised"
            assert (await client.query(UndeliveredNotifications(), actor=teacher())).code == "not_authorised"
            bad = await client.query(NotificationCounts.model_construct(school_urn="12"))
            assert (
                isinstance(bad, Rejected) and bad.code == "invalid" and bad.field_errors[0].field == "query.school_urn"
            )

            # The SENCO hands the letter to the mother with no contact details and records why it was not sent.
            [no_contact] = [n for n in failed if n["recipient_name"] == "Alex Taylor4"]
            other_senco = await client.command(
                CancelNotification(notification_id=no_contact["notification_id"], reason="Handed over"),
                actor=senco("654321"),
            )
            assert other_senco.code == "not_authorised"
            done = await client.command(
                CancelNotification(
                    notification_id=no_contact["notification_id"], reason="Handed to Ms Taylor at the review meeting"
                ),
                actor=senco(),
            )
            assert isinstance(done, Accepted)
            sent_one = json_result(await client.query(NotificationsForPupil(pupil_id=reached.subject.pupil_id)))[0]
            too_late = await client.command(
                CancelNotification(notification_id=sent_one["notification_id"], reason="Sent in error"),
                actor=senco(),  # the school owes this duty: only its SENCO may cancel it
            )
            assert isinstance(too_late, Rejected) and too_late.rule == "already_sent"

            async def off_the_list():
                left = json_result(await client.query(FailedToReach()))["notifications"]
                return left if len(left) == 1 else None

            [left] = await eventually(off_the_list, what="the cancelled notification off the failed-to-reach list")
            assert left["recipients"] == "nobody recorded"


async def test_a_professional_notice_asked_for_twice_is_sent_once_to_each_professional(
    sandbox: Sandbox, tmp_path
) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    pupil_id = derived_id("pupil", 77)
    psychologist = PersonToTell(
        person_id=derived_id("person", "ep"),
        name="Dr Morgan Lee",
        relationship="educational psychologist",
        has_parental_responsibility=False,
        email="m.lee@durham.gov.uk",
        preferred_channel=Channel.EMAIL,
    )
    notice = RequestProfessionalNotice(
        notice_id=derived_id("annual-review-notice", 77),
        pupil_id=pupil_id,
        school_urn="123456",
        child_name="Sam Taylor",
        about="Annual review of Sam Taylor's EHC plan",
        details="Please send your advice about Sam's progress.",
        event_on=SCHOOL_DAY.date().replace(year=2027, month=1, day=5),
        respond_by=SCHOOL_DAY.date().replace(day=22, month=12),
        people_to_tell=[psychologist],
        contact=ContactPoint(name="SEND Casework Team"),
    )
    async with notifications_service(settings, delivery_settings(outbox)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, caseworker()) as client:
            first, second = await client.command(notice), await client.command(notice)
            assert isinstance(first, Accepted) and first.result == second.result
            refused = await client.command(notice, actor=senco())
            assert isinstance(refused, Rejected) and refused.code == "not_authorised"
            empty = await client.command(notice.model_construct(**{**dict(notice), "people_to_tell": []}))
            assert isinstance(empty, Rejected) and empty.field_errors[0].field == "command.people_to_tell"
        [row] = await settled(runtime, pupil_id, 1, statuses=("delivered",))
        assert row["subject"] == "Annual review of Sam Taylor's EHC plan: please respond by Tuesday 22 December 2026"
        assert len(outbox_files(outbox)) == 1
