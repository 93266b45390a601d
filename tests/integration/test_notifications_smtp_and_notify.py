"""Delivery through a real local SMTP server (aiosmtpd) and a local stand-in for the GOV.UK Notify API:
retries, the fallback channel, the failed-to-reach list, receipts, and no second message after a restart."""

import asyncio
import json
from uuid import UUID

import nats

from contracts.envelope import Actor, Rejected
from contracts.notifications import DeliveryReceipt, FailedToReach
from services.notifications.adapters.channels import GovUkNotify
from services.runtime.client import Client
from tests.conftest import SCHOOL_DAY
from tests.support.factories import caseworker
from tests.support.notifications import (
    delivery_settings,
    notifications_service,
    outbox_files,
    rows,
    settled,
    smtp_server,
    via_notify,
    worker,
)
from tests.support.notify_standin import start_standin
from tests.support.register_events import father, mother, publish, pupil_added
from tests.support.replies import json_result
from tests.support.stack import Sandbox, as_operator, eventually


async def send(settings, *events) -> None:
    nc = await nats.connect(as_operator(settings.nats_url))
    for e in events:
        await publish(nc.jetstream(), settings.subject_prefix, e)
    await nc.close()


def history(row) -> list[dict]:
    return json.loads(row["history"])


async def test_smtp_email_is_keyed_by_the_notification_and_a_refused_address_falls_back_to_a_letter(
    sandbox: Sandbox, tmp_path
) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    reachable = pupil_added(11, [mother(11)])
    refused_with_address = pupil_added(12, [mother(12)])  # email refused; has a postal address
    refused_only_email = pupil_added(13, [mother(13, mobile=None, postal_address=None)])
    with smtp_server() as (mailbox, port):
        mailbox.refuse |= {"alex.taylor12@example.org", "alex.taylor13@example.org"}
        delivery = delivery_settings(outbox, email_via="smtp", smtp_port=port, smtp_timeout_seconds=2)
        async with notifications_service(settings, delivery) as runtime:
            await send(settings, reachable, refused_with_address, refused_only_email)
            [ok] = await settled(runtime, reachable.subject.pupil_id, 1, statuses=("sent",))
            [fallback] = await settled(runtime, refused_with_address.subject.pupil_id, 1, statuses=("delivered",))
            [lost] = await settled(runtime, refused_only_email.subject.pupil_id, 1, statuses=("failed",))

            [mail] = mailbox.messages
            assert mail["Message-ID"] == f"<{ok['notification_id']}.email@sendcase.invalid>"
            assert mail["To"] == "Alex Taylor11 <alex.taylor11@example.org>"
            assert mail["X-Sendcase-Content-SHA256"].strip() == ok["content_hash"]
            assert "Dear Alex Taylor11," in mail.get_payload()

            assert fallback["channel"] == "letter" and fallback["unreachable_channels"] == ["email"]
            assert (
                "refused the address" in history(fallback)[3]["detail"]
                and "next: letter" in history(fallback)[3]["detail"]
            )
            [letter] = outbox_files(outbox)
            assert letter.name == f"{fallback['notification_id']}.letter.pdf"
            assert lost["reason"].startswith("the mail server refused the address")

            async with Client(as_operator(settings.nats_url), settings.subject_prefix, caseworker()) as client:
                failed = json_result(await client.query(FailedToReach(school_urn="123456")))["notifications"]
            assert [(n["recipient_name"], n["status"], n["unreachable_channels"]) for n in failed] == [
                ("Alex Taylor12", "delivered", ["email"]),
                ("Alex Taylor13", "failed", ["email"]),
            ]


async def test_an_smtp_server_that_hangs_is_a_transient_failure_retried_until_it_answers(
    sandbox: Sandbox, tmp_path
) -> None:
    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    event = pupil_added(14, [mother(14)])
    with smtp_server() as (mailbox, port):
        mailbox.hang_next = 1
        delivery = delivery_settings(outbox, email_via="smtp", smtp_port=port, smtp_timeout_seconds=0.5)
        async with notifications_service(settings, delivery) as runtime:
            await send(settings, event)
            [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("sent",))
    steps = [(h["what"], h["channel"]) for h in history(row)]
    assert steps == [
        ("owed", None),
        ("rendered", None),
        ("sending", "email"),
        ("retry_due", "email"),
        ("sending", "email"),
        ("sent", "email"),
    ]
    assert "could not reach the mail server" in history(row)[3]["detail"]
    assert len(mailbox.messages) == 1 and row["attempts"] == 2


async def test_notify_errors_are_retried_or_fall_back_and_receipts_mark_delivery(sandbox: Sandbox, tmp_path) -> None:
    settings = sandbox.settings("notifications")
    standin, runner = await start_standin()
    try:
        standin.invalid_addresses.add("alex.taylor22@example.org")
        # The first sends meet Notify's documented errors: rate limit, server error, a refused key.
        standin.fail_next(
            429, "RateLimitError", "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"
        )
        standin.fail_next(500, "Exception", "Internal server error")
        standin.fail_next(403, "AuthError", "Invalid token: API key not found")
        first = pupil_added(21, [mother(21)])
        invalid_email = pupil_added(22, [mother(22, mobile=None)])  # falls back to a letter
        delivery = via_notify(tmp_path, standin.url, max_attempts_per_channel=5)
        async with notifications_service(settings, delivery) as runtime:
            await send(settings, first)
            [row] = await settled(runtime, first.subject.pupil_id, 1, statuses=("sent",))
            reasons = [h["detail"] for h in history(row) if h["what"] == "retry_due"]
            assert [r.split(":")[0] for r in reasons] == [
                "GOV.UK Notify rate limit reached",
                "GOV.UK Notify failed (500)",
                "GOV.UK Notify refused our API key (check the configuration)",
            ]
            assert standin.attempts == 4 and len(standin.posts) == 1
            [post] = standin.posts
            assert post["reference"] == f"{row['notification_id']}.email"
            assert (
                post["personalisation"]["subject"] == row["subject"] and post["personalisation"]["body"] == row["body"]
            )

            standin.set_status(post["reference"], "delivered")  # Notify delivers; the worker polls the receipt
            await settled(runtime, first.subject.pupil_id, 1, statuses=("delivered",))

            await send(settings, invalid_email)
            [fallback] = await settled(runtime, invalid_email.subject.pupil_id, 1, statuses=("sent",))
            assert fallback["channel"] == "letter" and fallback["unreachable_channels"] == ["email"]
            assert "email_address Not a valid email address" in fallback["reason"]
            letter = standin.posts[-1]
            assert letter["kind"] == "letter" and letter["reference"] == f"{fallback['notification_id']}.letter"
    finally:
        await runner.cleanup()


async def test_a_notify_callback_updates_delivery_and_a_malformed_one_is_rejected(sandbox: Sandbox, tmp_path) -> None:
    settings = sandbox.settings("notifications")
    standin, runner = await start_standin()
    gateway = Actor.service("notify_callbacks")
    try:
        event = pupil_added(23, [mother(23, mobile=None)])
        delivery = via_notify(tmp_path, standin.url, receipt_poll_seconds=3600)  # callbacks only
        async with notifications_service(settings, delivery) as runtime:
            await send(settings, event)
            [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("sent",))
            reference = f"{row['notification_id']}.email"
            callback = dict(
                id=UUID(row["provider_reference"]),
                reference=reference,
                to="alex.taylor23@example.org",
                status="permanent-failure",
                created_at=SCHOOL_DAY,
                notification_type="email",
            )
            async with Client(as_operator(settings.nats_url), settings.subject_prefix, gateway) as client:
                malformed = await client.command(DeliveryReceipt.model_construct(**{**callback, "status": "exploded"}))
                assert isinstance(malformed, Rejected) and malformed.code == "invalid"
                assert malformed.field_errors[0].field == "command.status"
                not_ours = await client.command(DeliveryReceipt(**{**callback, "reference": "someone-else"}))
                assert isinstance(not_ours, Rejected) and not_ours.field_errors[0].field == "command.reference"
                stranger = await client.command(DeliveryReceipt(**callback), actor=caseworker())
                assert isinstance(stranger, Rejected) and stranger.code == "not_authorised"
                assert (await rows(runtime))[0]["status"] == "sent"  # nothing changed by bad input

                accepted = await client.command(DeliveryReceipt(**callback))
                assert accepted.outcome == "accepted" and accepted.result.status == "retry_due"

            async def sent_by_letter():
                [r] = await rows(runtime)
                return r if r["status"] == "sent" and r["channel"] == "letter" else None

            after = await eventually(sent_by_letter, what="the letter sent after the email failed")
            assert after["unreachable_channels"] == ["email"] and "permanent-failure" in after["reason"]
            assert [p["kind"] for p in standin.posts] == ["email", "letter"]
    finally:
        await runner.cleanup()


class PostsThenDies(GovUkNotify):
    async def send(self, message):
        await super().send(message)
        await asyncio.Event().wait()  # the process dies after Notify accepted, before we recorded it


async def test_a_restart_after_notify_accepted_finds_the_message_by_reference_and_sends_nothing_twice(
    sandbox: Sandbox, tmp_path
) -> None:
    settings = sandbox.settings("notifications")
    standin, runner = await start_standin()
    try:
        event = pupil_added(24, [mother(24), father(24)])
        delivery = via_notify(tmp_path, standin.url, concurrency=1)  # one send in flight when it dies

        def dies_after_posting(service):
            t = service.worker("delivery").transports["email"]
            dying = PostsThenDies.__new__(PostsThenDies)
            dying.__dict__.update(t.__dict__)
            service.worker("delivery").transports = {c: dying for c in ("email", "sms", "letter")}

        async with notifications_service(settings, delivery, dies_after_posting) as runtime:
            await send(settings, event)

            async def one_accepted_and_recorded_as_sending():
                return len(standin.posts) == 1 and any(r["status"] == "sending" for r in await rows(runtime))

            await eventually(one_accepted_and_recorded_as_sending, what="Notify to accept the first send")
        async with notifications_service(settings, delivery) as runtime:
            found = await settled(runtime, event.subject.pupil_id, 2, statuses=("sent",))
            assert worker(runtime).sends == 1  # only the one that never reached Notify
        assert len(standin.posts) == 2
        assert sorted(p["reference"] for p in standin.posts) == sorted(
            f"{r['notification_id']}.{r['channel']}" for r in found
        )
        recovered = [
            h for r in found for h in history(r) if "found already sent in GOV.UK Notify" in (h["detail"] or "")
        ]
        assert len(recovered) == 1
    finally:
        await runner.cleanup()


async def test_notify_posts_its_delivery_status_callback_and_bad_callbacks_are_refused(
    sandbox: Sandbox, tmp_path
) -> None:
    import aiohttp

    from tests.support.notifications import free_port

    settings = sandbox.settings("notifications")
    standin, runner = await start_standin()
    port = free_port()
    try:
        event = pupil_added(25, [mother(25)])
        delivery = via_notify(
            tmp_path,
            standin.url,
            receipt_poll_seconds=3600,
            notify_callback_port=port,
            notify_callback_token="callback-secret",
        )
        async with notifications_service(settings, delivery) as runtime:
            await send(settings, event)
            [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("sent",))
            url = f"http://127.0.0.1:{port}/notify/delivery-status"
            body = {
                "id": row["provider_reference"],
                "reference": f"{row['notification_id']}.email",
                "to": "alex.taylor25@example.org",
                "status": "delivered",
                "created_at": "2026-11-23T10:30:00.000000Z",
                "completed_at": "2026-11-23T10:30:05.000000Z",
                "sent_at": "2026-11-23T10:30:01.000000Z",
                "notification_type": "email",
            }
            good = {"Authorization": "Bearer callback-secret"}
            async with aiohttp.ClientSession() as http:
                async with http.post(url, json=body, headers={"Authorization": "Bearer guess"}) as r:
                    assert r.status == 401
                async with http.post(url, data=b"{not json", headers=good) as r:
                    assert r.status == 400
                async with http.post(url, json={**body, "status": "exploded", "to": None}, headers=good) as r:
                    assert r.status == 400
                    assert {e["field"] for e in (await r.json())["field_errors"]} == {"status", "to"}
                async with http.post(url, json={**body, "reference": "not-ours"}, headers=good) as r:
                    assert r.status == 400 and "is not one of ours" in (await r.json())["error"]
                assert (await rows(runtime))[0]["status"] == "sent"  # nothing changed by any of them
                async with http.post(url, json=body, headers=good) as r:
                    assert r.status == 200 and (await r.json())["status"] == "delivered"
            [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("delivered",))
            assert "GOV.UK Notify" in history(row)[-1]["detail"]
    finally:
        await runner.cleanup()


async def test_an_interrupted_smtp_send_is_sent_again_with_the_same_message_id(sandbox: Sandbox, tmp_path) -> None:
    # SMTP cannot be asked whether a message went: the one place where a restart can mean a second copy,
    # which mail programs show once because the Message-ID is the same (docs/notifications.md).
    from services.notifications.adapters.channels import SmtpEmail

    class SendsThenDies(SmtpEmail):
        async def send(self, message):
            await super().send(message)
            await asyncio.Event().wait()

    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    event = pupil_added(15, [mother(15)])
    with smtp_server() as (mailbox, port):
        delivery = delivery_settings(outbox, email_via="smtp", smtp_port=port)

        def dies(service):
            t = service.worker("delivery").transports["email"]
            dying = SendsThenDies.__new__(SendsThenDies)
            dying.__dict__.update(t.__dict__)
            service.worker("delivery").transports = {**service.worker("delivery").transports, "email": dying}

        async with notifications_service(settings, delivery, dies) as runtime:
            await send(settings, event)
            await settled(runtime, event.subject.pupil_id, 1, statuses=("sending",))

            async def mailed():
                return len(mailbox.messages) == 1

            await eventually(mailed, what="the first copy accepted by the mail server")
        async with notifications_service(settings, delivery) as runtime:
            [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("sent",))
    assert len(mailbox.messages) == 2
    assert {m["Message-ID"] for m in mailbox.messages} == {f"<{row['notification_id']}.email@sendcase.invalid>"}
    assert "after an interrupted attempt" in history(row)[-1]["detail"]


async def test_a_mail_server_that_is_down_is_retried_then_the_letter_goes_instead(sandbox: Sandbox, tmp_path) -> None:
    from tests.support.notifications import free_port

    settings, outbox = sandbox.settings("notifications"), tmp_path / "outbox"
    event = pupil_added(16, [mother(16)])
    delivery = delivery_settings(outbox, email_via="smtp", smtp_port=free_port(), max_attempts_per_channel=2)
    async with notifications_service(settings, delivery) as runtime:
        await send(settings, event)
        [row] = await settled(runtime, event.subject.pupil_id, 1, statuses=("delivered",))
    steps = [(h["what"], h["channel"]) for h in history(row)]
    assert steps == [
        ("owed", None),
        ("rendered", None),
        ("sending", "email"),
        ("retry_due", "email"),
        ("sending", "email"),
        ("retry_due", "email"),
        ("sending", "letter"),
        ("sent", "letter"),
        ("delivered", "letter"),
    ]
    assert all("could not reach the mail server" in h["detail"] for h in history(row) if h["what"] == "retry_due")
    assert row["unreachable_channels"] == ["email"]
    [letter] = outbox_files(outbox)
    assert letter.suffix == ".pdf"
