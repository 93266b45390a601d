"""What `sendcase audit notification` checks and says, from the audit the service answers (pure: no servers;
the integration and e2e tests check the same against real files, SMTP and Notify)."""

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

from contracts.notifications import AuditAttempt, AuditReceipt, NotificationAudit, SentAs
from infra.cli.audit_notification import as_text, checks_of

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NID = UUID("7ef80fe2-57e0-5628-92ed-55003e561e4a")
PUPIL = UUID("8ce2d365-bda3-59b8-b688-cf654f685039")


def audit(*attempts: AuditAttempt, **changes) -> NotificationAudit:
    values = dict(
        notification_id=NID,
        pupil_id=PUPIL,
        school_urn="123456",
        case_id=None,
        duty="sen_provision_started",
        recipient_name="Alex Taylor",
        relationship="mother",
        recipients="Alex Taylor (mother)",
        preferred_channel="email",
        cause_event_id=UUID(int=5),
        cause_event_type="register.pupil_added_to_sen_support",
        owed_since=date(2026, 11, 20),
        status="sent",
        reason=None,
        template="sen_provision_started",
        content_hash="a" * 64,
        content_hash_recomputed="a" * 64,
        attempts=list(attempts),
        steps=[],
    )
    values.update(changes)
    return NotificationAudit(**values)


def sent(channel: str = "email", **changes) -> AuditAttempt:
    values = dict(
        channel=channel,
        attempt=1,
        key=f"{NID}.{channel}",
        started_at=AT,
        sent_at=AT,
        how="accepted",
        provider_reference="ref",
        sent_sha256="b" * 64,
        sent_size=100,
        sent_as=SentAs.MIME_MESSAGE,
    )
    values.update(changes)
    return AuditAttempt(**values)


def test_stored_content_that_no_longer_hashes_to_its_stored_hash_does_not_match() -> None:
    [content, _] = checks_of(audit(sent(), content_hash_recomputed="c" * 64))
    assert content.ok is False and content.line().startswith("content: DOES NOT MATCH: the stored content hashes to")


def test_an_outbox_file_is_hashed_again_where_it_was_recorded_or_in_a_given_folder(tmp_path: Path) -> None:
    data = b"To: Alex Taylor\n\nDear Alex Taylor,"
    path = tmp_path / "outbox" / str(PUPIL) / f"{NID}.email.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    attempt = sent(
        sent_as=SentAs.OUTBOX_FILE, provider_reference=str(path), sent_sha256=hashlib.sha256(data).hexdigest()
    )
    assert [c.ok for c in checks_of(audit(attempt))] == [True, True]
    assert [c.ok for c in checks_of(audit(attempt), tmp_path / "outbox")] == [True, True]
    assert checks_of(audit(attempt), tmp_path / "elsewhere")[1].says.endswith("is missing")
    # sent before the bytes were hashed (2026-12): the file is found and hashed, nothing to compare it with
    old = attempt.model_copy(
        update={"sent_sha256": None, "sent_size": None, "sent_as": None, "how": "written to the outbox as x"}
    )
    [_, unknown] = checks_of(audit(old))
    assert unknown.ok is None and "no hash was recorded with the send" in unknown.says
    assert "bytes sent:    not recorded (sent before December 2026)" in as_text(audit(old), checks_of(audit(old)))


def test_a_notify_receipt_must_be_for_the_message_and_reference_recorded_as_sent() -> None:
    receipt = AuditReceipt(
        provider="GOV.UK Notify",
        status="delivered",
        provider_reference="ref",
        reference=f"{NID}.email",
        at="2026-11-23T10:30:05.000000Z",
        via="poll",
        recorded_at=AT,
    )
    attempt = sent(sent_as=SentAs.NOTIFY_REQUEST_BODY, receipt=receipt)
    assert checks_of(audit(attempt))[1].ok is True
    other_message = attempt.model_copy(update={"receipt": receipt.model_copy(update={"provider_reference": "other"})})
    assert checks_of(audit(other_message))[1].ok is False
    other_reference = attempt.model_copy(update={"receipt": receipt.model_copy(update={"reference": "x.email"})})
    [_, wrong] = checks_of(audit(other_reference))
    assert wrong.ok is False and f"but it was sent with {NID}.email" in wrong.says
    text = as_text(audit(attempt), checks_of(audit(attempt)))
    assert "receipt:       GOV.UK Notify says delivered at 23 Nov 2026 10:30 GMT (poll" in text


def test_smtp_has_nothing_to_check_against_and_a_failed_attempt_is_not_a_mismatch() -> None:
    failed = sent(attempt=1, sent_at=None, how=None, provider_reference=None, sent_sha256=None, failure="refused")
    found = checks_of(audit(failed, sent(attempt=2)))
    assert [(c.what, c.ok) for c in found] == [
        ("content", True),
        ("email, attempt 1", None),
        ("email, attempt 2", None),
    ]
    assert found[1].says == "not sent: refused" and "a mail server gives no receipt" in found[2].says


def test_a_letter_printed_again_must_be_the_pdf_sent_unless_the_renderer_changed() -> None:
    renderer = "WeasyPrint 70.0, pydyf 0.13.0, Pango 1.50.12, HarfBuzz 6.0.0, fonts 714efadc272f"
    letter = sent(
        "letter",
        sent_as=SentAs.LETTER_PDF,
        made_with=renderer,
        made_again_sha256="b" * 64,
        made_again_with=renderer,
    )
    [_, _, again] = checks_of(audit(letter))
    assert (again.what, again.ok) == ("letter, attempt 1, printed again", True)
    assert "byte for byte the PDF sent (sha256 bbbb" in again.says
    # the same renderer made other bytes from the stored content: the PDF sent was not this content's
    [_, _, forged] = checks_of(audit(letter.model_copy(update={"made_again_sha256": "c" * 64})))
    assert forged.ok is False and "by the renderer that printed it" in forged.says
    # another renderer (a WeasyPrint upgrade, other fonts) prints other bytes: said so, not a mismatch
    upgraded = letter.model_copy(update={"made_again_sha256": "c" * 64, "made_again_with": "WeasyPrint 71.0, ..."})
    [_, _, other] = checks_of(audit(upgraded))
    assert other.ok is None and "other bytes are expected" in other.says
    # content that no longer hashes as stored is not printed again
    [_, _, none] = checks_of(audit(letter.model_copy(update={"made_again_sha256": None, "made_again_with": None})))
    assert none.ok is None and none.says.startswith("not printed again")
