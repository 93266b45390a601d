"""Letters provably sent, against real PostgreSQL and NATS (issue 11, part 2): a notification's stored events
carry the content hash, the hash of the exact bytes sent on each channel with the channel's reference, and the
provider's delivery receipt; the `notifications.audit` query shows them from the event store, and the CLI's
checks (infra/cli/audit.py) find an outbox file altered or deleted afterwards.

Each channel's bytes are compared with what the other side actually received: the outbox file on disk, the
message the SMTP server was given (aiosmtpd), the request body the GOV.UK Notify stand-in was posted.
"""

import base64
import hashlib
import json
from pathlib import Path
from uuid import UUID

import nats

from contracts.envelope import Actor, Rejected, Role
from contracts.notifications import AuditNotification, DeliveryReceipt, NotificationAudit, SentAs
from infra.cli.audit_notification import checks_of
from services.runtime.client import Client
from services.runtime.documents import pdf_text_lines
from tests.conftest import SCHOOL_DAY
from tests.support.factories import auditor, senco, teacher
from tests.support.notifications import (
    delivery_settings,
    notifications_service,
    outbox_files,
    rows,
    settled,
    smtp_server,
    via_notify,
)
from tests.support.notify_standin import start_standin
from tests.support.register_events import father, mother, publish, pupil_added
from tests.support.stack import Sandbox, as_operator


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def send(settings, *events) -> None:
    nc = await nats.connect(as_operator(settings.nats_url))
    for e in events:
        await publish(nc.jetstream(), settings.subject_prefix, e)
    await nc.close()


async def audit_of(settings, notification_id, actor: Actor | None = None) -> NotificationAudit:
    async with Client(as_operator(settings.nats_url), settings.subject_prefix, actor or auditor()) as client:
        reply = await client.query(AuditNotification(notification_id=notification_id))
    assert reply.outcome == "answered", reply
    return reply.result


def says(checks) -> list[tuple[str, bool | None]]:
    return [(c.what, c.ok) for c in checks]


async def test_the_outbox_files_hashes_are_recorded_and_a_file_altered_or_deleted_afterwards_does_not_match(
    sandbox: Sandbox, tmp_path
) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    family = pupil_added(61, [mother(61), father(61)])  # an email and a letter, both to the file outbox
    nobody = pupil_added(62)  # nobody recorded: never sent
    async with notifications_service(settings, delivery_settings(outbox)) as runtime:
        await send(settings, family, nobody)
        email, letter = await settled(runtime, family.subject.pupil_id, 2, statuses=("delivered",))
        [unsent] = await settled(runtime, nobody.subject.pupil_id, 1, statuses=("cannot_notify",))
        by_mail = await audit_of(settings, email["notification_id"])
        by_post = await audit_of(settings, letter["notification_id"])
        never = await audit_of(settings, unsent["notification_id"])

    files = {p.name: p for p in outbox_files(outbox)}
    for audit, channel, suffix in ((by_mail, "email", "txt"), (by_post, "letter", "pdf")):
        assert audit.recipients in ("Alex Taylor61 (mother)", "Jordan Reed61 (father)")
        assert audit.cause_event_type == "register.pupil_added_to_sen_support"
        assert audit.cause_event_id == family.event_id
        assert audit.content_hash is not None and audit.content_hash_recomputed == audit.content_hash
        [attempt] = audit.attempts
        path = files[f"{audit.notification_id}.{channel}.{suffix}"]
        on_disk = path.read_bytes()
        assert (attempt.channel, attempt.attempt, attempt.key) == (channel, 1, f"{audit.notification_id}.{channel}")
        assert attempt.sent_as == SentAs.OUTBOX_FILE
        assert (attempt.sent_sha256, attempt.sent_size) == (sha256(on_disk), len(on_disk))
        assert attempt.provider_reference == str(path)
        assert attempt.delivered_at is not None and attempt.receipt is None  # the file is the delivery
        # every step, with its time and who did it (the service, acting on the register's event)
        assert [s.what for s in audit.steps] == ["owed", "rendered", "sending", "sent", "delivered"]
        assert all(s.at == SCHOOL_DAY and s.by_user == "service:notifications" for s in audit.steps)
        assert {s.by_role for s in audit.steps} == {Role.SYSTEM.value}
    assert on_disk.startswith(b"%PDF")  # the letter: the PDF's own bytes were hashed

    assert says(checks_of(by_mail)) == [("content", True), ("email, attempt 1", True)]
    printed_again = ("letter, attempt 1, printed again", True)  # by the service, from the stored content
    assert says(checks_of(by_post)) == [("content", True), ("letter, attempt 1", True), printed_again]
    [letter_sent] = by_post.attempts
    assert letter_sent.made_with == letter_sent.made_again_with and letter_sent.made_with.startswith("WeasyPrint ")
    # what was sent, and printed again to the same bytes, is the complete letter as stored (letter_html): dated, with
    # its reference in the contact block
    sent_text = pdf_text_lines(files[f"{by_post.notification_id}.letter.pdf"].read_bytes())
    assert by_post.reference and f"Our reference: {by_post.reference}" in sent_text
    assert by_post.dated_on and f"Date: {by_post.dated_on:%-d %B %Y}" in sent_text
    # looked for in a copy of the outbox: the same file name under the pupil's folder
    copy = tmp_path / "copy"
    (copy / str(by_post.pupil_id)).mkdir(parents=True)
    letter_file = files[f"{by_post.notification_id}.letter.pdf"]
    (copy / str(by_post.pupil_id) / letter_file.name).write_bytes(letter_file.read_bytes())
    assert says(checks_of(by_post, copy)) == [("content", True), ("letter, attempt 1", True), printed_again]

    # altered afterwards (one byte of the letter), then deleted (the email)
    printed = bytearray(letter_file.read_bytes())
    printed[len(printed) // 2] ^= 0x01  # one bit, in the middle of the (compressed) letter
    letter_file.write_bytes(bytes(printed))
    [_, altered, _] = checks_of(by_post)
    assert altered.ok is False and "hashes to" in altered.says and "was recorded as sent" in altered.says
    assert altered.line().startswith("letter, attempt 1: DOES NOT MATCH: the outbox file ")
    files[f"{by_mail.notification_id}.email.txt"].unlink()
    [_, missing] = checks_of(by_mail)
    assert missing.ok is False and missing.says.endswith("is missing")

    # never sent: said so, nothing to compare, nothing failing
    assert never.attempts == [] and never.status == "cannot_notify"
    assert says(checks_of(never)) == [("content", True), ("sent", None)]
    assert checks_of(never)[1].says.startswith("never sent: it is cannot notify (")


async def test_the_mime_messages_hash_is_of_the_bytes_the_mail_server_received(sandbox: Sandbox, tmp_path) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    # a name that is not ASCII: the header is encoded, and the hash is still of what the server was given
    event = pupil_added(63, [mother(63, name="Siân Ó Briain63")])
    with smtp_server() as (mailbox, port):
        delivery = delivery_settings(outbox, email_via="smtp", smtp_port=port)
        async with notifications_service(settings, delivery) as runtime:
            await send(settings, event)
            [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("sent",))
            audit = await audit_of(settings, row["notification_id"])
    [received] = mailbox.received
    [attempt] = audit.attempts
    assert attempt.sent_as == SentAs.MIME_MESSAGE
    assert (attempt.sent_sha256, attempt.sent_size) == (sha256(received), len(received))
    assert attempt.provider_reference == f"<{audit.notification_id}.email@sendcase.invalid>"
    assert mailbox.messages[0]["Message-ID"] == attempt.provider_reference
    assert says(checks_of(audit)) == [("content", True), ("email, attempt 1", None)]  # SMTP gives no receipt
    assert "a mail server gives no receipt" in checks_of(audit)[1].says


async def test_notify_request_bodies_and_letter_pdfs_are_hashed_and_receipts_recorded_with_their_reference(
    sandbox: Sandbox, tmp_path
) -> None:
    settings = sandbox.settings("notifications")
    standin, runner = await start_standin()
    try:
        by_email = pupil_added(64, [mother(64)])
        by_letter = pupil_added(65, [father(65)])
        delivery = via_notify(tmp_path, standin.url)
        async with notifications_service(settings, delivery) as runtime:
            await send(settings, by_email, by_letter)
            [email] = await settled(runtime, by_email.subject.pupil_id, 1, statuses=("sent",))
            [letter] = await settled(runtime, by_letter.subject.pupil_id, 1, statuses=("sent",))
            waiting = await audit_of(settings, email["notification_id"])
            assert says(checks_of(waiting)) == [("content", True), ("email, attempt 1", None)]
            assert "no receipt yet" in checks_of(waiting)[1].says

            # Notify delivers the email (the worker polls) and Royal Mail receives the letter (Notify calls back)
            standin.set_status(f"{email['notification_id']}.email", "delivered", "2026-11-23T10:30:05.000000Z")
            await settled(runtime, by_email.subject.pupil_id, 1, statuses=("delivered",))
            gateway = Actor.service("notify_callbacks")
            async with Client(as_operator(settings.nats_url), settings.subject_prefix, gateway) as client:
                callback = dict(
                    id=UUID(letter["provider_reference"]),
                    reference=f"{letter['notification_id']}.letter",
                    to="Jordan Reed65",
                    status="received",
                    created_at=SCHOOL_DAY,
                    completed_at="2026-11-24T09:00:00Z",
                    notification_type="letter",
                )
                # a receipt about another message than the one recorded as sent is refused, and changes nothing
                other = await client.command(DeliveryReceipt(**{**callback, "id": UUID(int=7)}))
                assert isinstance(other, Rejected) and other.rule == "receipt_for_another_message"
                assert (await rows(runtime, by_letter.subject.pupil_id))[0]["status"] == "sent"
                accepted = await client.command(DeliveryReceipt(**callback))
                assert accepted.outcome == "accepted" and accepted.result.status == "delivered"
            polled = await audit_of(settings, email["notification_id"])
            called_back = await audit_of(settings, letter["notification_id"])
    finally:
        await runner.cleanup()

    posted = {json.loads(body)["reference"]: body for body in standin.bodies}
    [attempt] = polled.attempts
    body = posted[attempt.key]
    assert attempt.sent_as == SentAs.NOTIFY_REQUEST_BODY
    assert (attempt.sent_sha256, attempt.sent_size) == (sha256(body), len(body))  # the body Notify was posted
    assert attempt.provider_reference == email["provider_reference"]
    receipt = attempt.receipt
    assert receipt is not None
    assert (receipt.provider, receipt.status, receipt.via) == ("GOV.UK Notify", "delivered", "poll")
    assert (receipt.provider_reference, receipt.reference) == (attempt.provider_reference, attempt.key)
    assert receipt.at == "2026-11-23T10:30:05.000000Z" and receipt.recorded_at == SCHOOL_DAY
    assert polled.steps[-1].what == "delivered" and polled.steps[-1].by_user == "service:notifications"

    [attempt] = called_back.attempts
    pdf = base64.b64decode(json.loads(posted[attempt.key])["content"])
    # the letter passed the checks Notify makes of a precompiled letter before it prints it (tests/support/letters.py)
    [letter_at_notify] = [m for m in standin.messages.values() if m["type"] == "letter"]
    assert letter_at_notify["validation_problems"] == []
    assert attempt.sent_as == SentAs.LETTER_PDF
    assert (attempt.sent_sha256, attempt.sent_size) == (sha256(pdf), len(pdf))  # the PDF Notify was given
    receipt = attempt.receipt
    assert receipt is not None and (receipt.status, receipt.via) == ("received", "callback")
    assert (receipt.provider_reference, receipt.reference) == (attempt.provider_reference, attempt.key)
    assert receipt.at is not None and receipt.at.startswith("2026-11-24T09:00:00")
    assert called_back.steps[-1].by_user == "service:notify_callbacks"  # who recorded it: the callback gateway

    assert says(checks_of(polled)) == [("content", True), ("email, attempt 1", True)]
    assert says(checks_of(called_back)) == [
        ("content", True),
        ("letter, attempt 1", True),
        ("letter, attempt 1, printed again", True),  # the PDF Notify was given, made again from the record
    ]
    # the stored reference and the receipt's disagree (what a rewritten record would show): DOES NOT MATCH
    forged = called_back.model_copy(
        update={"attempts": [attempt.model_copy(update={"provider_reference": str(UUID(int=9))})]}
    )
    [_, mismatch, _] = checks_of(forged)
    assert mismatch.ok is False and "was recorded as sent" in mismatch.says


async def test_who_may_audit_a_notification(sandbox: Sandbox, tmp_path: Path) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    event = pupil_added(66, [mother(66)])
    async with notifications_service(settings, delivery_settings(outbox)) as runtime:
        await send(settings, event)
        [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("delivered",))
        notification_id = row["notification_id"]
        stored = await runtime.pool.fetchval("SELECT count(*) FROM notifications_events")
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, auditor()) as client:
            own = await client.query(AuditNotification(notification_id=notification_id), actor=senco("123456"))
            assert own.outcome == "answered" and own.result.notification_id == notification_id
            other_school = await client.query(AuditNotification(notification_id=notification_id), actor=senco("654321"))
            assert isinstance(other_school, Rejected) and other_school.code == "not_authorised"
            a_teacher = await client.query(AuditNotification(notification_id=notification_id), actor=teacher())
            assert isinstance(a_teacher, Rejected) and a_teacher.code == "not_authorised"
            unknown = await client.query(AuditNotification(notification_id=UUID(int=1)))
            assert isinstance(unknown, Rejected) and unknown.code == "not_found"
            assert "There is no notification" in unknown.message
        # reading stores nothing
        assert await runtime.pool.fetchval("SELECT count(*) FROM notifications_events") == stored
