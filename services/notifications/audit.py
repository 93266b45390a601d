"""One notification's audit, read from its stored events (not from a read model): "the letter the record says
was sent is the letter that was sent".

The record holds, as stored facts: the content hash (Rendered: sha256 of the subject, body and SMS text
written, and since December 2026 the complete letter's text and HTML; Redated: the same, written again for the day
it was sent), for each send the hash of the exact bytes sent with the channel's reference (Sent: `sent_sha256`,
`sent_size`, `sent_as`, `provider_reference`), and the provider's delivery receipt (Delivered / SendFailed:
`receipt`). Events stored before those facts were recorded (2026-12) have none of them: shown as not
recorded. The hash chain over the service's log (services/runtime) covers these events like any other; the
content hash is computed again here from the stored content, and the CLI (`sendcase audit notification`)
checks the outbox file or the provider's reference against the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.notifications import AuditAttempt, AuditReceipt, AuditStep, NotificationAudit
from contracts.people import needs_in_words
from services.notifications.adapters.letters import letter_pdf
from services.notifications.content import content_hash
from services.notifications.domain.notification import Notification
from services.runtime.documents import renderer_version


def audit_of(n: Notification, events: Sequence[Any]) -> NotificationAudit:
    """The audit of notification `n` from its stored events, oldest first."""
    steps: list[AuditStep] = []
    attempts: list[dict[str, Any]] = []
    recomputed: str | None = None
    template: str | None = None

    def attempt_on(channel: str) -> dict[str, Any] | None:
        return next((a for a in reversed(attempts) if a["channel"] == channel), None)

    for e in events:
        what, channel = _what(e), getattr(e, "channel", None)
        detail = ""
        if isinstance(e, Notification.Owed):
            detail = f"owed to {n.recipients} because of {e.cause_event_type} (event {e.cause_event_id})"
        elif isinstance(e, Notification.Rendered):
            template = e.template
            recomputed = content_hash(
                e.subject, e.body, e.sms, getattr(e, "letter", None), getattr(e, "letter_html", None)
            )
            dated_on = getattr(e, "dated_on", None)
            dated = f", dated {dated_on:%d %B %Y}" if dated_on else ""
            detail = f"content written from template {e.template}{dated}, sha256 {e.content_hash}"
        elif isinstance(e, Notification.Redated):
            recomputed = content_hash(e.subject, e.body, e.sms, e.letter, e.letter_html)
            detail = f"written again, dated {e.dated_on:%d %B %Y} (the day it was sent), sha256 {e.content_hash}"
        elif isinstance(e, Notification.SendingStarted):
            attempts.append({"channel": e.channel, "attempt": e.attempt, "key": e.key, "started_at": e.timestamp})
            detail = f"attempt {e.attempt} on {e.channel}, key {e.key}"
        elif isinstance(e, Notification.Sent):
            sent_sha256 = getattr(e, "sent_sha256", None)
            found = attempt_on(e.channel)
            if found is not None:
                found.update(
                    sent_at=e.timestamp,
                    how=e.how,
                    provider_reference=e.provider_reference,
                    sent_sha256=sent_sha256,
                    sent_size=getattr(e, "sent_size", None),
                    sent_as=getattr(e, "sent_as", None),
                    made_with=getattr(e, "made_with", None),
                )
            detail = f"{e.how}; reference {e.provider_reference}"
            if sent_sha256 is None:
                detail += "; the hash of the bytes sent was not recorded"
            elif sent_sha256 not in e.how:
                detail += f"; sha256 of the bytes sent {sent_sha256}"
        elif isinstance(e, Notification.Delivered):
            receipt = _receipt(getattr(e, "receipt", None), e.timestamp)
            found = attempt_on(e.channel)
            if found is not None:
                found.update(delivered_at=e.timestamp, delivery_evidence=e.evidence, receipt=receipt)
            detail = e.evidence
        elif isinstance(e, Notification.SendFailed):
            receipt = _receipt(getattr(e, "receipt", None), e.timestamp)
            found = attempt_on(e.channel)
            if found is not None:
                found.update(failure=e.reason, receipt=receipt or found.get("receipt"))
            detail = e.reason + (f"; next: {e.next_channel}" if e.next_channel else "; no channel left")
        elif isinstance(e, Notification.CouldNotNotify | Notification.Cancelled):
            detail = e.reason
        elif isinstance(e, Notification.ToldLater):
            detail = f"{e.because}: {len(e.owed_to)} notification(s)"
        steps.append(_step(e, what, channel, detail))

    letters = [a for a in attempts if a["channel"] == "letter" and a.get("sent_sha256")]
    if letters and recomputed is not None and recomputed == n.content_hash and n.content:
        made_again, made_by = _made_again(n)
        for a in letters:
            a.update(made_again_sha256=made_again, made_again_with=made_by)

    recipient = n.recipient or {}
    return NotificationAudit(
        notification_id=n.id,
        pupil_id=n.pupil_id,
        school_urn=n.school_urn,
        case_id=n.case_id,
        duty=n.duty,
        recipient_name=recipient.get("name"),
        relationship=recipient.get("relationship"),
        recipients=n.recipients,
        preferred_channel=recipient.get("preferred_channel"),
        needs=needs_in_words(recipient.get("needs")),
        reference=n.reference,
        sender=((n.facts or {}).get("sender") or {}).get("organisation"),
        dated_on=n.dated_on,
        cause_event_id=n.cause_event_id,
        cause_event_type=n.cause_event_type,
        owed_since=n.owed_since,
        status=n.status,
        reason=n.reason,
        template=template,
        content_hash=n.content_hash,
        content_hash_recomputed=recomputed,
        attempts=[AuditAttempt(**a) for a in attempts],
        steps=steps,
    )


def _made_again(n: Notification) -> tuple[str, str]:
    """The letter printed again now from the stored content (the same words, to the same person) and its sha256,
    with the renderer that printed it: what was sent, if the renderer is the one that printed it then."""
    content = n.content or {}
    pdf = letter_pdf(n.recipient or {}, content["subject"], content["body"], content.get("letter_html"))
    return hashlib.sha256(pdf).hexdigest(), renderer_version()


_WHAT = {
    "Owed": "owed",
    "Rendered": "rendered",
    "Redated": "redated",
    "CouldNotNotify": "could_not_notify",
    "SendingStarted": "sending",
    "Sent": "sent",
    "Delivered": "delivered",
    "SendFailed": "send_failed",
    "Cancelled": "cancelled",
    "ToldLater": "told_later",
}


def _what(e: Any) -> str:
    name = type(e).__name__
    return _WHAT.get(name, name)


def _step(e: Any, what: str, channel: str | None, detail: str) -> AuditStep:
    meta = vars(e).get("meta") or {}
    actor = meta.get("actor") or {}
    correlation = meta.get("correlation_id")
    return AuditStep(
        position=e.originator_version,
        at=e.timestamp,
        what=what,
        detail=detail,
        channel=channel,
        by_user=actor.get("user_id"),
        by_role=actor.get("role"),
        by_organisation=actor.get("organisation"),
        correlation_id=UUID(str(correlation)) if correlation else None,
    )


def _receipt(fact: dict[str, Any] | None, recorded_at: datetime) -> AuditReceipt | None:
    if not fact:
        return None
    return AuditReceipt(
        provider=fact.get("provider") or "GOV.UK Notify",
        status=fact.get("status") or "",
        provider_reference=fact.get("provider_reference"),
        reference=fact.get("reference"),
        at=fact.get("at"),
        via=fact.get("via") or "",
        recorded_at=recorded_at,
    )
